// The authentication flow of pam_twostep, free of PAM types: user lookup,
// secret path, privilege drop, asking for the code, verification under the
// file lock, write-back, one audit line.
#pragma once

#include <cstdint>
#include <string>

#include "conversation.hpp"
#include "module_config.hpp"

namespace twostep::pam {

// The module's one internal result; pam_twostep.cpp maps it to PAM codes in
// a single function.
enum class AuthStatus {
  success,        // code accepted and the new state written
  auth_failed,    // anything that must not let the user in
  ignore,         // nullok and no secret file: this module has no opinion
  service_error,  // misconfiguration or an internal failure
};

struct AuthRequest {
  std::string user;
  std::string service;
  std::string rhost;
  std::string tty;
};

using Clock = std::int64_t (*)() noexcept;
std::int64_t system_clock_now() noexcept;

AuthStatus authenticate(const Config& config, const AuthRequest& request,
                        Conversation& conversation, ModuleLog& log,
                        Clock clock = &system_clock_now);

}  // namespace twostep::pam
