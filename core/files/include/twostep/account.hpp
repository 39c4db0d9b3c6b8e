// Looking up local accounts (getpwnam_r / getpwuid_r) without the
// static-buffer getpwnam / getpwuid.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "twostep/result.hpp"

namespace twostep {

struct Account {
  std::string name;
  uid_t uid = 0;
  gid_t gid = 0;
  std::string home;
};

// nullopt: no such account. Error: the lookup itself failed (NSS trouble).
Result<std::optional<Account>> lookup_account(std::string_view name);

// The same by uid.
Result<std::optional<Account>> lookup_account_by_uid(uid_t uid);

// The groups of `user_name` (primary `gid` included) as initgroups() would
// set them (getgrouplist: every `group:` source of nsswitch.conf). Just
// `gid` when no name is given.
Result<std::vector<gid_t>> groups_of(std::string_view user_name, gid_t gid);

// A group's id by name (getgrnam_r). nullopt: no such group.
Result<std::optional<gid_t>> lookup_group(std::string_view name);

}  // namespace twostep
