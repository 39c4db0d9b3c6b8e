// Verification policy: window, replay floor, rate limit, backup codes.
// Pure functions over an Enrollment; the caller persists the changed state
// with lock_and_update_secret_file().
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "twostep/enrollment.hpp"
#include "twostep/result.hpp"

namespace twostep {

enum class VerifyResult {
  accepted,
  rejected,        // wrong code (recorded as a failure)
  replayed,        // right code, but at/before the replay floor (recorded)
  rate_limited,    // refused without checking; not recorded (cannot extend lockout)
  malformed,       // not a code at all (non-digits, wrong length); recorded
};
const char* to_string(VerifyResult result) noexcept;

enum class VerifyMethod { none, totp, hotp, backup, push };
const char* to_string(VerifyMethod method) noexcept;

struct VerifyOutcome {
  VerifyResult result = VerifyResult::rejected;
  VerifyMethod method = VerifyMethod::none;
  std::size_t token_index = 0;        // which token matched (totp/hotp)
  // Set when the code matched a TOTP step far outside the window (up to
  // kClockSkewSearchSteps away): the device clock looks off by about this many
  // seconds (positive: the device is ahead). Never accepted.
  std::optional<std::int64_t> clock_skew_seconds;
  bool state_changed = false;         // the caller must write the file back
};

inline constexpr std::uint32_t kClockSkewSearchSteps = 40;  // 20 minutes at 30 s

struct VerifyOptions {
  std::optional<std::uint32_t> window_override;  // module argument window=N
  bool allow_backup_codes = true;
  // Per-source rate limiting (native files): the tag of the client address
  // (rate_limit_source). nullopt: one count for everyone, the meaning of
  // google-authenticator's RATE_LIMIT.
  std::optional<std::string> failure_source;
};

// With a failure source (native files), the rate limit has two kinds of
// budget. A source that has logged this user in (RateLimit::known_sources)
// has its own: at most max_failures of its own failures within interval_s.
// Every other source is a stranger, and strangers together share one count
// of max_failures (google-authenticator's meaning of RATE_LIMIT), which the
// known sources' failures do not consume. So a stranger cannot lock the
// owner out of an address they have used, and guessing stays bounded: at
// most max_failures per interval from all strangers, plus max_failures from
// each of at most kMaxKnownSources known sources.
// Failures and known sources share the file's kMaxRateLimitAttempts
// rate-failures entries: at most (kMaxKnownSources + 1) x max_failures
// failures are kept, at most 92 (all 100 when max_failures is above that),
// oldest dropped first; and as many known sources as the rest leaves room
// for, at most kMaxKnownSources.
std::uint32_t stored_failure_ceiling(const RateLimit& limit) noexcept;
std::size_t max_known_sources(const RateLimit& limit) noexcept;

// The tag stored for a client address: 12 hex digits of HMAC-SHA256(key,
// rhost) with the host's key (pam_twostep(8), "fail-time key"), or of
// SHA-256(rhost) without one, so the file never holds attacker-chosen text
// and, keyed, cannot be reversed by trying every IPv4 address. "" (local
// logins) has a tag too.
std::string rate_limit_source(std::string_view rhost, std::span<const std::uint8_t> key = {});

// One attempt at a typed code, whichever method it is for: the rate limit,
// then the parse, then each checker in order; the first that accepts wins,
// a replay or no match at all records one failure. The PAM module's methods
// (code, backup code) each contribute their checker.
inline constexpr unsigned kBackupCodeDigits = 8;

struct TypedCodeText {
  SecretBytes text;     // the digits, normalised (whitespace removed)
  unsigned digits = 0;
};
enum class CodeCheck { accepted, replayed, no_match };
// A checker sets outcome.method (and token_index, state_changed) when it
// accepts; it may set outcome.clock_skew_seconds as a hint when it does not.
using CodeChecker = CodeCheck (*)(Enrollment& enrollment, const TypedCodeText& code,
                                  std::int64_t now, const VerifyOptions& options,
                                  VerifyOutcome& outcome);
VerifyOutcome verify_typed_code(Enrollment& enrollment, std::string_view typed, std::int64_t now,
                                const VerifyOptions& options,
                                std::span<const CodeChecker> checkers);

// TOTP and HOTP: every token, within the window; updates replay floors and
// HOTP counters. Constant work per token and step (otp_generator).
CodeCheck check_token_code(Enrollment& enrollment, const TypedCodeText& code, std::int64_t now,
                           const VerifyOptions& options, VerifyOutcome& outcome);
// Backup codes (8 digits): every stored code is compared; a match is removed.
CodeCheck check_backup_code(Enrollment& enrollment, const TypedCodeText& code, std::int64_t now,
                            const VerifyOptions& options, VerifyOutcome& outcome);

// Verifies `typed` (whitespace ignored) against every token and then the
// backup codes, at Unix time `now` (verify_typed_code with both checkers).
// Updates replay floors, HOTP counters, rate-limit failures and removes a
// used backup code in `enrollment`.
VerifyOutcome verify_code(Enrollment& enrollment, std::string_view typed,
                          std::int64_t now, const VerifyOptions& options = {});

// Rate limit check alone (used by verify_code, exposed for tests and status).
bool is_rate_limited(const RateLimit& limit, std::int64_t now);
void record_failure(RateLimit& limit, std::int64_t now);
// Per-source variants (see VerifyOptions::failure_source).
bool is_rate_limited(const RateLimit& limit, std::int64_t now, std::string_view source);
void record_failure(RateLimit& limit, std::int64_t now, std::string_view source);

// Grace period (module argument grace_period=, as pam_google_authenticator):
// true when `rhost` had a successful login at a time t with
// t <= now < t + grace_seconds. A time in the future never counts.
bool within_grace_period(const Enrollment& enrollment, std::string_view rhost, std::int64_t now,
                         std::uint32_t grace_seconds);
// Records a successful login from `rhost` at `now`: updates its entry, or adds
// one, replacing the oldest when kMaxRecentLogins are kept. Returns false (and
// changes nothing) for an rhost that is not is_recordable_rhost().
bool record_recent_login(Enrollment& enrollment, std::string_view rhost, std::int64_t now);

// Backup codes: `count` fresh 8-digit codes (CSPRNG). Returns the plain
// codes to show once; `enrollment.backup_codes` gets them hashed (native) or
// plain (google_authenticator_style).
Result<std::vector<SecretBytes>> generate_backup_codes(Enrollment& enrollment,
                                                       std::size_t count,
                                                       bool store_plain);
std::string hash_backup_code(std::string_view code);  // fresh random salt
bool backup_code_matches(const BackupCode& stored, std::string_view code);

}  // namespace twostep
