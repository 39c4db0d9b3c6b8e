// A PAM service's auth stack as libpam would run it: /etc/pam.d/SERVICE with
// @include, include and substack followed, comments and continuations
// handled, bracketed controls and arguments kept whole.
#pragma once

#include <string>
#include <vector>

#include "twostep/result.hpp"

namespace twostep::check {

inline constexpr std::size_t kMaxIncludeDepth = 8;
inline constexpr std::size_t kMaxStackLines = 512;
inline constexpr std::size_t kMaxServiceFileBytes = 256 * 1024;

struct PamLine {
  std::string origin;              // "/etc/pam.d/sshd:5" (through includes: innermost file)
  std::string control;             // required, [success=1 default=ignore], ...
  std::string module;              // as written: pam_unix.so or /path/pam_x.so
  std::vector<std::string> args;   // brackets removed as libpam removes them
  bool optional_module = false;    // "-auth": skipped if the module is missing
  std::size_t substack_depth = 0;  // > 0 inside a substack
};

// The auth lines of `service` in `pam_dir` (a `service` with a '/' is read
// from that path; includes still resolve in `pam_dir`). Errors: the service file is
// missing or unreadable, an include loops or is missing.
Result<std::vector<PamLine>> read_auth_stack(const std::string& pam_dir,
                                             const std::string& service);

// "pam_twostep.so" for "/lib/x86_64-linux-gnu/security/pam_twostep.so".
std::string module_basename(const std::string& module);

// The action libpam takes for `code` ("auth_err", "success", "ignore") under
// `control` ("required" etc. expanded to their bracket meaning).
std::string control_action(const std::string& control, const std::string& code);

}  // namespace twostep::check
