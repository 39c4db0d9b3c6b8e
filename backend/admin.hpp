// The admin subcommands of twostepd: they open the store, do one thing and
// print the result. Each returns the process exit status.
#pragma once

#include <cstdint>
#include <string>

#include "config.hpp"
#include "store.hpp"

namespace twostep::relay {

int host_add(Store& store, const RelayConfig& config, const std::string& name);
int host_list(Store& store);
int host_remove(Store& store, const std::string& id_or_name);
int device_list(Store& store, const std::string& host, const std::string& user);
int device_revoke(Store& store, const std::string& device_id);
int audit_show(Store& store, const std::string& user, bool json, int limit);
// Every settled event after seq `since`, oldest first, streamed in pages
// (Store::audit_after); at most `limit` (-1: all).
int audit_export(Store& store, const std::string& user, bool json, std::int64_t since,
                 std::int64_t limit);
int unblock(Store& store, const std::string& host, const std::string& user);
int vapid_show(Store& store);  // prints the VAPID public key (b64u), making keys if none

}  // namespace twostep::relay
