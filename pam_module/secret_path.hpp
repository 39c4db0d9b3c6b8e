// The secret= argument: a path template with ~, ${HOME}, ${USER}, %u, %h, %%.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "twostep/result.hpp"

namespace twostep::pam {

inline constexpr std::size_t kMaxSecretPathLength = 4096;

struct PathContext {
  std::string_view user;  // the account being authenticated
  std::string_view home;  // its home directory (absolute)
};

// Checks the template's syntax without expanding it (used at argument parse
// time): `~` only as the whole first component, only the listed expansions,
// and the result will be absolute.
Status validate_secret_path_template(std::string_view path_template);

// Expands the template. Refuses user names that could walk out of a directory
// ("", ".", "..", anything with '/'), relative homes, and overlong results.
Result<std::string> expand_secret_path(std::string_view path_template,
                                       const PathContext& context);

}  // namespace twostep::pam
