// Module arguments (the words after the module path in a PAM service file),
// parsed strictly into a Config. Unknown or malformed arguments are errors:
// the module then fails closed instead of guessing what the admin meant.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "twostep/result.hpp"

namespace twostep::pam {

// Where the code comes from.
enum class CodeSource {
  prompt,          // ask with the conversation function
  try_first_pass,  // PAM_AUTHTOK if it looks like a code, else ask
  use_first_pass,  // PAM_AUTHTOK only; never ask
  forward_pass,    // one prompt for password+code; password goes on as PAM_AUTHTOK
};

inline constexpr std::string_view kDefaultSecretPath = "~/.twostep";
inline constexpr std::string_view kGoogleAuthenticatorPath = "~/.google_authenticator";
inline constexpr std::string_view kDefaultPrompt = "Verification code: ";
inline constexpr std::string_view kForwardPassPrompt = "Password & verification code: ";
// Shown in the prompt after a refused code (any refusal, so it says nothing
// about the code): wrong phone clocks are the commonest reason codes fail.
inline constexpr std::string_view kDefaultClockHint =
    "Codes keep failing? Check that your phone sets its time automatically.";

inline constexpr std::size_t kMaxArguments = 32;
inline constexpr std::size_t kMaxArgumentLength = 1024;
inline constexpr std::size_t kMaxPromptLength = 200;
inline constexpr std::size_t kMaxUserNameLength = 256;
inline constexpr std::size_t kMaxScopeGroups = 32;  // per groups= / skip_groups=

// failmode=: what a push does when the relay is unreachable, slow or answers
// garbage (never when it refuses: a 4xx is an answer).
enum class PushFailmode { secure, safe, totp };
const char* to_string(PushFailmode mode) noexcept;
inline constexpr std::string_view kDefaultPushConfigPath = "/etc/twostep/push.conf";
inline constexpr std::uint32_t kDefaultPushTimeout = 60;
inline constexpr std::uint32_t kMinPushTimeout = 5;
inline constexpr std::uint32_t kMaxPushTimeout = 300;  // protocol 4.1: expires <= 300 s
inline constexpr std::string_view kPushPrompt = "Verification code, or Enter for a push: ";

// fail_time=MS: every failure takes at least this long, each user's own
// time lying in [MS, 2 MS) (failure_pacing.hpp).
inline constexpr std::uint32_t kDefaultFailTimeMs = 100;
inline constexpr std::uint32_t kMinFailTimeMs = 10;
inline constexpr std::uint32_t kMaxFailTimeMs = 5000;

// log_copy=: where each log line also goes, for an admin setting up a host
// (for example one without /dev/log). syslog always gets it.
enum class LogCopy { none, stderr_stream, conversation };

struct Config {
  std::string secret_path{kDefaultSecretPath};  // template; see twostep/secret_path.hpp
  bool secret_path_is_default = true;           // enables the GA fallback
  std::optional<std::string> file_user;         // user=NAME
  // Scope (pam_module/scope.hpp): groups=A,B asks only members of A or B;
  // skip_groups=C,D never asks members of C or D. Out of scope: PAM_IGNORE.
  std::vector<std::string> scope_groups;
  std::vector<std::string> skip_groups;
  bool nullok = false;
  std::optional<std::uint32_t> window;          // window=N overrides the file
  std::optional<std::string> prompt;            // prompt=TEXT
  CodeSource code_source = CodeSource::prompt;
  bool echo_code = false;                       // echo_verification_code
  bool debug = false;
  bool audit_json = false;  // audit_json: the audit line as a JSON object
  // Strict modes for the secret file's directories (twostep::FileExpectations).
  // no_strict_modes turns them off, for sites whose layout needs it.
  bool strict_modes = true;
  // nodelay (as pam_unix): do not ask libpam for the failure delay.
  bool fail_delay = true;
  // fail_time=MS: the base of each user's minimum failure time; applies with
  // and without nodelay.
  std::uint32_t fail_time_ms = kDefaultFailTimeMs;
  std::optional<std::string> clock_hint;        // clock_hint=TEXT, "off" = none
  LogCopy log_copy = LogCopy::none;             // log_copy=stderr|conversation

  // The clock hint to show; empty when clock_hint=off.
  std::string_view clock_hint_text() const noexcept;
  // The text shown when asking: prompt= if given, else the default for the
  // code source.
  std::string_view prompt_text() const noexcept;

  // ---- pam_google_authenticator arguments (docs/admin-guide.md, "Migrating
  // from pam_google_authenticator"; parsed in module_config.cpp's GA block).
  std::uint32_t grace_period = 0;  // grace_period=SECONDS: no code again from the same rhost
  bool allow_readonly = false;     // allow_readonly: accepted code may pass unrecorded (logged)
  // ---- push approval (docs/admin-guide.md "Push approval"; parsed in
  // module_config.cpp's push block).
  bool push = false;                                // push: offer "Enter for a push"
  std::string push_config{kDefaultPushConfigPath};  // push_config=FILE
  std::uint32_t push_timeout = kDefaultPushTimeout; // push_timeout=SECONDS
  PushFailmode failmode = PushFailmode::secure;     // failmode=secure|safe|totp

  // Accepted arguments whose meaning twostep does not (or need not) apply;
  // the module logs each once per call, so the admin learns why.
  std::vector<std::string> notices;
};

inline constexpr std::uint32_t kMaxGracePeriod = 30 * 86400;  // grace_period= is capped here

// Parses argv as libpam passes it (brackets of `[prompt=a b]` already
// removed). The error message names the offending argument's key only for
// known keys, never echoes more than a bounded, sanitized part of it.
Result<Config> parse_module_arguments(std::span<const char* const> args);

}  // namespace twostep::pam
