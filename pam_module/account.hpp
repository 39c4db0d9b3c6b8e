// Looking up local accounts (getpwnam_r) without the static-buffer getpwnam.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <string_view>

#include "twostep/result.hpp"

namespace twostep::pam {

struct Account {
  std::string name;
  uid_t uid = 0;
  gid_t gid = 0;
  std::string home;
};

// nullopt: no such account. Error: the lookup itself failed (NSS trouble).
Result<std::optional<Account>> lookup_account(std::string_view name);

}  // namespace twostep::pam
