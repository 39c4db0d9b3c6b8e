// The in-memory model of one user's secret file, whatever its on-disk format.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "twostep/otp.hpp"
#include "twostep/secret.hpp"

namespace twostep {

enum class TokenKind { totp, hotp };

// Explicit limits for everything that comes from a file.
inline constexpr std::size_t kMaxTokens = 8;
inline constexpr std::size_t kMaxBackupCodes = 32;
inline constexpr std::size_t kMaxTokenNameLength = 64;
inline constexpr std::uint32_t kMaxWindow = 10;          // steps each side
inline constexpr std::uint32_t kMaxRateLimitAttempts = 100;
inline constexpr std::uint32_t kMaxRateLimitInterval = 86400;
// Keys shorter than 80 bits are refused when a file is read or written: one
// observed code recovers such a key by brute force. 80 bits is what the
// google-authenticator CLI makes; twostep-enroll makes 160.
inline constexpr std::size_t kMinSecretBytes = 10;

inline constexpr std::size_t kMaxIssuerLength = 128;  // bytes, UTF-8 (Token::issuer)
inline constexpr std::size_t kMaxLabelLength = 128;   // Token::label

struct Token {
  std::string name = "phone";     // [A-Za-z0-9._-]{1,64}; not secret
  TokenKind kind = TokenKind::totp;
  SecretBytes key;                // raw key bytes
  HashAlgorithm algorithm = HashAlgorithm::sha1;
  unsigned digits = 6;
  std::uint32_t period = 30;      // TOTP only
  // TOTP replay floor: the last accepted step; a code for this step or any
  // earlier one is refused (RFC 6238 5.2). nullopt: nothing accepted yet.
  std::optional<std::uint64_t> last_step;
  std::int64_t time_skew_steps = 0;  // google-authenticator TIME_SKEW
  std::uint64_t counter = 0;          // HOTP: next counter expected
  // What the authenticator app was given (otpauth issuer and account label),
  // so --show and a redrawn QR match it. Empty: not recorded (older files).
  std::string issuer;
  std::string label;

  Token clone() const;
};

// A backup (scratch) code. Native files hold only `hash`
// ("sha256:<salt hex>:<digest hex>"); google-authenticator files hold the
// plain 8-digit code, since that format has nowhere to put a hash.
struct BackupCode {
  std::string hash;      // native
  SecretBytes plain;     // google-authenticator
};

// A failure's source: a short tag derived from the client address (PAM_RHOST)
// by rate_limit_source(), never the address itself.
inline constexpr std::size_t kMaxFailureSourceLength = 16;

struct RateLimit {
  std::uint32_t max_failures = 0;   // 0 = off
  std::uint32_t interval_s = 0;
  // Unix times of recent failures, oldest first; at most max_failures kept
  // (per-source counting: at most stored_failure_ceiling()).
  std::vector<std::int64_t> failures;
  // Native files only: either empty (no sources recorded: google-authenticator
  // files, older native files) or parallel to `failures`, each entry the
  // failure's source tag ("" for one recorded without a source).
  std::vector<std::string> failure_sources;
  // Native files only: the tags of sources that have logged this user in,
  // least recently used first, at most kMaxKnownSources, unique, kept as
  // `0@TAG` entries of rate-failures. Each keeps its own failure budget
  // (twostep/policy.hpp).
  std::vector<std::string> known_sources;
};

inline constexpr std::size_t kMaxKnownSources = 8;

inline constexpr std::size_t kMaxRecentLogins = 10;  // as pam_google_authenticator
inline constexpr std::size_t kMaxRhostLength = 253;  // a DNS name; IPv6 text is shorter

// A successful login from a remote host, kept for the module argument
// grace_period= (no code asked again from the same host for a while).
struct RecentLogin {
  std::string rhost;     // see is_recordable_rhost()
  std::int64_t time = 0; // Unix time of the login
};

// Remote host names that may be stored: 1..kMaxRhostLength of
// [A-Za-z0-9.:_-] (host names, IPv4, IPv6 without zone). Anything else is
// never recorded, so it can neither break a file line nor a GA reader.
bool is_recordable_rhost(std::string_view rhost) noexcept;

// A pinned push device (docs/secret-file.md, "device"; docs/protocol.md
// section 6): the WebAuthn credential whose assertions may approve a login.
// Public data: the credential id and key are not secret, but they are pins,
// so only twostep-enroll --push (after the user confirmed the comparison code)
// adds one.
inline constexpr std::size_t kMaxDevices = 16;             // protocol 4.1: 1..16 per challenge
inline constexpr std::size_t kMaxDeviceNameLength = 64;    // bytes, UTF-8 (protocol 8.2)
inline constexpr std::size_t kMaxCredentialIdBytes = 1023; // WebAuthn's own cap
inline constexpr std::size_t kMaxDeviceOriginLength = 255;

// The shape of a pinned key: the 91-byte SPKI DER of an uncompressed P-256
// point, its fixed prefix compared byte for byte. Whether the point lies on
// the curve is checked where the key is used (push, P256PublicKey), which
// fails closed, so reading a file needs no elliptic-curve code.
inline constexpr std::size_t kDeviceKeyBytes = 91;
bool has_p256_spki_shape(std::span<const std::uint8_t> spki) noexcept;

struct Device {
  std::string name;                       // 1..64 bytes UTF-8, unique in the file
  std::vector<std::uint8_t> credential_id;  // 1..1023 bytes, unique in the file
  std::vector<std::uint8_t> public_key;   // SPKI DER of the P-256 key (91 bytes)
  std::string origin;                     // the approver origin (RP ID = its host)
  std::uint32_t sign_counter = 0;         // floor for the next assertion
  std::int64_t added = 0;                 // Unix time of pairing
};

struct Enrollment {
  std::vector<Token> tokens;            // at least one
  std::uint32_t window = 1;             // accepted steps each side of now (TOTP),
                                        // look-ahead is 2*window+1 counters (HOTP)
  bool replay_protection = true;
  RateLimit rate_limit;
  std::vector<BackupCode> backup_codes;
  std::vector<RecentLogin> recent_logins;  // at most kMaxRecentLogins, unique rhost
  std::vector<Device> devices;             // native format only; at most kMaxDevices
};

}  // namespace twostep
