// Looking up local accounts (getpwnam_r / getpwuid_r) without the
// static-buffer getpwnam / getpwuid.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <string_view>

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

}  // namespace twostep
