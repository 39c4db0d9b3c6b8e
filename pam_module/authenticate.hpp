// The entry point of pam_twostep's login, free of PAM types (login.hpp has
// the flow): user lookup, secret path, the file read once with the owner's
// identity, one prompt, the chosen method, verification under the file lock,
// write-back, one audit line.
#pragma once

#include <cstdint>
#include <span>
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

class PushConnector;  // push_transport.hpp
class RelayTimer;     // relay_client.hpp

// Where the login meets the world besides the user and the log: the clock
// and the way to the relay. Tests inject a fixed clock and a scripted relay.
struct LoginSeams {
  Clock clock = &system_clock_now;
  PushConnector* push = nullptr;  // nullptr: push.conf, host secret, libtwostep-push
  RelayTimer* relay_timer = nullptr;  // nullptr: the steady clock, real sleeps
  // The module key (failure_pacing.hpp) that keys client-address tags in
  // secret files; empty: unkeyed tags.
  std::span<const std::uint8_t> module_key;
};

AuthStatus authenticate(const Config& config, const AuthRequest& request,
                        Conversation& conversation, ModuleLog& log, LoginSeams seams);
inline AuthStatus authenticate(const Config& config, const AuthRequest& request,
                               Conversation& conversation, ModuleLog& log,
                               Clock clock = &system_clock_now) {
  return authenticate(config, request, conversation, log, LoginSeams{clock, nullptr, nullptr, {}});
}

}  // namespace twostep::pam
