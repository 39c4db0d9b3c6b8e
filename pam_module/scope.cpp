#include "scope.hpp"

#include <algorithm>
#include <vector>

namespace twostep::pam {

namespace {

// The first of `names` that `groups` holds; empty when none. Errors: an NSS
// lookup failed.
Result<std::string> first_member_group(const std::vector<std::string>& names,
                                       const std::vector<gid_t>& groups) {
  for (const std::string& name : names) {
    auto gid = lookup_group(name);
    if (!gid) return gid.error();
    if (*gid && std::find(groups.begin(), groups.end(), **gid) != groups.end()) return name;
  }
  return std::string();
}

std::string joined(const std::vector<std::string>& names) {
  std::string text;
  for (const std::string& name : names) text += (text.empty() ? "" : ",") + name;
  return text;
}

}  // namespace

bool has_scope(const Config& config) noexcept {
  return !config.scope_groups.empty() || !config.skip_groups.empty();
}

Result<ScopeDecision> decide_scope(const Config& config, const Account& user) {
  if (!has_scope(config)) return ScopeDecision{true, "no groups= or skip_groups="};
  auto groups = groups_of(user.name, user.gid);
  if (!groups) return groups.error();
  auto skipped = first_member_group(config.skip_groups, *groups);
  if (!skipped) return skipped.error();
  if (!skipped->empty()) return ScopeDecision{false, "member of " + *skipped + " (skip_groups=)"};
  if (config.scope_groups.empty()) {
    return ScopeDecision{true, "in none of skip_groups=" + joined(config.skip_groups)};
  }
  auto member = first_member_group(config.scope_groups, *groups);
  if (!member) return member.error();
  if (member->empty()) {
    return ScopeDecision{false, "in none of groups=" + joined(config.scope_groups)};
  }
  return ScopeDecision{true, "member of " + *member + " (groups=)"};
}

}  // namespace twostep::pam
