// Secret file path templates (pam_twostep's secret= argument, twostep-enroll's
// --secret-file): ~, ${HOME}, ${USER}, %u, %h, %%. Both tools expand them
// here, so the same template names the same file in both.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "twostep/result.hpp"

namespace twostep {

inline constexpr std::size_t kMaxSecretPathLength = 4096;

struct PathContext {
  std::string_view user;  // the account whose secret file this is
  std::string_view home;  // its home directory (absolute)
};

// Checks the template's syntax without expanding it (used when arguments are
// parsed): `~` only as the whole first component, only the listed expansions,
// and the result will be absolute.
Status validate_secret_path_template(std::string_view path_template);

// Expands the template. Refuses user names that could walk out of a directory
// ("", ".", "..", anything with '/'), relative homes, and overlong results.
Result<std::string> expand_secret_path(std::string_view path_template,
                                       const PathContext& context);

}  // namespace twostep
