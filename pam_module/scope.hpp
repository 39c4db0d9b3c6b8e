// Which users the module asks at all: groups= and skip_groups= (as Duo
// Unix's groups=). A user out of scope gets PAM_IGNORE, never PAM_SUCCESS,
// so the stack's next module decides, as pam-u2f's nouserok does.
#pragma once

#include <string>

#include "module_config.hpp"
#include "twostep/account.hpp"
#include "twostep/result.hpp"

namespace twostep::pam {

struct ScopeDecision {
  bool in_scope = true;
  std::string why;  // for debug lines and twostep-check: which rule decided
};

// True when groups= or skip_groups= is given.
bool has_scope(const Config& config) noexcept;

// In scope: a member of some group of groups= (when given; primary group
// included) and of none of skip_groups=. The user's groups are looked up
// once (NSS, as initgroups would set them); a group name that does not
// exist matches nobody. Error: an NSS lookup failed (the caller fails
// closed).
Result<ScopeDecision> decide_scope(const Config& config, const Account& user);

}  // namespace twostep::pam
