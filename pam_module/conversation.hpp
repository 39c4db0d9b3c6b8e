// What the authentication flow needs from its host (libpam in production, a
// fake in tests): talking to the user, the PAM_AUTHTOK item, and logging.
#pragma once

#include <optional>
#include <string_view>

#include "twostep/secret.hpp"

namespace twostep::pam {

inline constexpr std::string_view kRateLimitedMessage =
    "Too many failed attempts; try again later.";

class Conversation {
 public:
  virtual ~Conversation() = default;
  // Asks the user; nullopt when the conversation failed or was aborted.
  virtual std::optional<SecretBytes> prompt(std::string_view text, bool echo) = 0;
  virtual void show_error(std::string_view text) = 0;
  // Information the user needs now, shown even under PAM_SILENT: the push
  // number (sudo passes PAM_SILENT and still prints info messages).
  virtual void show_info(std::string_view text) = 0;
  // How a push ended, or why none was sent: an error the user who pressed
  // Enter is waiting for, so shown even under PAM_SILENT, as the number is
  // (sudo passes PAM_SILENT by default and would otherwise end a push with
  // no reason). Conversations that never drop errors show it as one.
  virtual void show_push_outcome(std::string_view text) { show_error(text); }
  // PAM_AUTHTOK as left by an earlier module; nullopt when unset.
  virtual std::optional<SecretBytes> authtok() = 0;
  virtual bool set_authtok(const SecretBytes& value) = 0;
};

class ModuleLog {
 public:
  virtual ~ModuleLog() = default;
  virtual void notice(std::string_view line) = 0;  // audit lines
  virtual void error(std::string_view line) = 0;   // configuration/file trouble
  virtual void debug(std::string_view line) = 0;   // only with `debug`
};

}  // namespace twostep::pam
