// Every failed login takes the same time for a given user, whatever the
// cause (unknown user, no secret file, wrong code, rate limited, a broken
// file), so the time does not tell an attacker which accounts have a second
// factor (docs/threat-model.md, "Unknown-user probing"). As openssh's
// auth2.c does for its failures: a per-user minimum derived with HMAC from a
// host secret (the module key) and the user name, and every failure padded
// to it before the module returns. Time spent waiting for the user (the
// conversation) is not the module's work and is not counted; work that took
// longer than the minimum is padded to the next multiple of it.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "conversation.hpp"
#include "twostep/result.hpp"
#include "twostep/secret.hpp"

namespace twostep::pam {

// The module key: 32 random bytes, b64u on one line, root's, mode 0600.
// It keys the per-user failure time and the client-address tags stored in
// secret files (twostep::rate_limit_source).
inline constexpr std::string_view kModuleKeyPath = "/etc/twostep/module.key";
inline constexpr std::size_t kModuleKeyBytes = 32;

// Reads the module key (never makes one: a login does not write to /etc;
// the admin or the package does, pam_twostep(8)). not_found: no key; the
// caller goes on without one.
Result<SecretBytes> load_module_key(const std::string& path = std::string(kModuleKeyPath));

// This user's minimum failure time (fail_time=, module_config.hpp): base +
// HMAC-SHA256(key, user) mapped onto [0, base). Without a key (none
// readable) a fixed public one is used: still constant per user, but then
// anyone can compute it.
std::chrono::microseconds user_fail_time(std::span<const std::uint8_t> key,
                                         std::string_view user, std::uint32_t base_ms);

// How long to sleep after `work`: up to `floor`, or up to the next multiple
// of it when the work took longer.
std::chrono::nanoseconds padding_after(std::chrono::nanoseconds work,
                                       std::chrono::nanoseconds floor);

// The clock of one login: started when the module is entered.
class FailurePacing {
 public:
  using Clock = std::chrono::steady_clock;
  FailurePacing() : start_(Clock::now()) {}
  void set_floor(std::chrono::microseconds floor) { floor_ = floor; }
  // Time spent waiting for the user: not the module's work.
  void exclude(Clock::duration waited) { waited_ += waited; }
  // Sleeps until this login's work reaches the floor (or its next multiple).
  void pad_failure() const noexcept;

 private:
  Clock::time_point start_;
  Clock::duration waited_{};
  std::optional<std::chrono::microseconds> floor_;
};

// The conversation, with the time spent in it excluded from the module's
// work.
class PacedConversation final : public Conversation {
 public:
  PacedConversation(Conversation& inner, FailurePacing& pacing)
      : inner_(inner), pacing_(pacing) {}
  std::optional<SecretBytes> prompt(std::string_view text, bool echo) override;
  void show_error(std::string_view text) override;
  void show_info(std::string_view text) override;
  // Forwarded as such: the inner conversation shows it under PAM_SILENT too.
  void show_push_outcome(std::string_view text) override;
  std::optional<SecretBytes> authtok() override { return inner_.authtok(); }
  bool set_authtok(const SecretBytes& value) override { return inner_.set_authtok(value); }

 private:
  Conversation& inner_;
  FailurePacing& pacing_;
};

}  // namespace twostep::pam
