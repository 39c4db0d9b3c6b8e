// The host side of push login (issue 13): the push settings file, the relay's
// JSON messages as the module and twostep-enroll see them, and the one call
// that verifies an approval against a user's pinned devices and records the
// new sign counter. Pure: no network, no PAM (the file readers only read).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "twostep/enrollment.hpp"
#include "twostep/push_protocol.hpp"
#include "twostep/result.hpp"
#include "twostep/secret.hpp"

namespace twostep::push {

// ---------------------------------------------------------------------------
// /etc/twostep/push.conf (docs/man/twostep-push.conf.5): public settings,
// readable by users (twostep-enroll --push runs as the user). The host
// secret lives in its own root-only file.

inline constexpr std::string_view kDefaultPushConfig = "/etc/twostep/push.conf";
inline constexpr std::string_view kDefaultHostSecretFile = "/etc/twostep/push.secret";
inline constexpr std::size_t kMaxPushConfigBytes = 16 * 1024;

struct HostSettings {
  std::string relay_url;        // https://HOST[:PORT] (http:// to loopback only)
  std::string host_id;          // b64u of 16 bytes, from `twostepd host add`
  std::string host_name;        // the name given to `twostepd host add`; in the digest
  std::string approver_origin;  // where phones approve; pairing QR URLs point there
  std::optional<std::string> ca_file;
  std::optional<std::string> pinned_key;  // "sha256//BASE64"
  std::optional<std::string> proxy;
  std::string host_secret_file{kDefaultHostSecretFile};
  std::uint32_t connect_timeout_s = 5;
  // A MaxMind-format database (GeoIP2/GeoLite2, DB-IP, ip-location-db) that
  // names where a client address is, for the phone; unset: addresses on
  // the internet get no location.
  std::optional<std::string> location_database;
};

// Strict: unknown keys, duplicates, missing required keys and bad values are
// errors "line N: ..." (ErrorCode::malformed).
Result<HostSettings> parse_push_config(std::string_view text);
// Reads and parses `path`: a regular file not writable by group or others.
Result<HostSettings> read_push_config(const std::string& path);
// The host secret file: one line, b64u of 32 bytes; a regular file owned by
// root (or by `owner`), with no group or other permission bits at all.
Result<SecretBytes> read_host_secret(const std::string& path, uid_t owner = 0);
// Its text: the first line, the bare value or `host_secret = VALUE` as
// `twostepd host add` prints it; `path` only names the file in the error.
Result<SecretBytes> parse_host_secret(std::string_view text, const std::string& path);

// ---------------------------------------------------------------------------
// Relay messages (docs/protocol.md sections 2, 4, 7)

// The "error" code of an error body, or nullopt when the body is not one.
std::optional<std::string> parse_error_code(std::string_view body);

struct ChallengeRequest {
  std::string user, service, rhost, tty;
  std::vector<std::string> devices;  // credential ids, b64u
  std::string nonce;                 // the module nonce, b64u of 32 bytes
  std::int64_t expires = 0;
  SignedContext context;             // sent as "context" (section 4.1)
};
std::string challenge_request_json(const ChallengeRequest& request);

// A PAM item as the relay takes it: safe_display_text (twostep/display_text.hpp),
// each control, C1 or bidirectional formatting character and each invalid
// UTF-8 byte becomes '?'. The module sends this, shows it on the phone
// through the relay, and puts the same value into the approval digest; an
// odd PAM_RHOST or PAM_TTY no longer gets the push refused.
std::string relay_text(std::string_view value);

struct IssuedChallenge {
  std::string id;
  std::int64_t expires = 0;
};
Result<IssuedChallenge> parse_challenge_created(std::string_view body);

// GET /v1/host (section 4.5): the name the relay registered for this host
// (what the phone shows and signs over). malformed unless the body names
// `expected_host_id` and a name of 1..64 bytes.
Result<std::string> parse_host_view(std::string_view body, std::string_view expected_host_id);

enum class RelayStatus { pending, approved, denied, reported, expired, cancelled };

struct WireAssertion {
  std::string credential_id;        // b64u, as all four
  std::string authenticator_data;
  std::string client_data_json;
  std::string signature;
};

struct ChallengeState {
  RelayStatus status = RelayStatus::pending;
  std::string device_name;          // "" until a device decided
  std::optional<WireAssertion> assertion;  // with approved only
};
// malformed for anything that is not a well-formed 4.2 answer (an approved
// status without an assertion included).
Result<ChallengeState> parse_challenge_state(std::string_view body);

struct CreatedPairing {
  std::string id;
  std::int64_t expires = 0;
};
Result<CreatedPairing> parse_pairing_created(std::string_view body);
// The pairing wait (7.5): nullopt while nobody registered yet.
Result<std::optional<PairingProofInput>> parse_pairing_registration(std::string_view body,
                                                                      std::string* proof_b64u);

// ---------------------------------------------------------------------------
// Verifying an approval (section 6), and recording it

enum class PushVerdict {
  approved,
  unpinned_device,   // the credential is not pinned in this user's file
  wrong_number,      // signed for this challenge, with another number
  wrong_challenge,   // signed over some other digest (another challenge/user/host)
  bad_signature,     // ES256 does not verify with the pinned key
  replayed,          // sign counter not above the pinned one
  bad_assertion,     // type, origin, rpIdHash, UP/UV, sizes or encodings
  internal,
};
const char* to_string(PushVerdict verdict) noexcept;

struct PushCheck {
  PushVerdict verdict = PushVerdict::internal;
  std::string device_name;   // the pinned device's name, when found
  bool state_changed = false;
};

// Finds the pinned device by credential id, checks the assertion against the
// module's own digest of `context` (with the number it showed) and the pin
// (origin, key, counter), and on success raises the device's pinned counter
// in `enrollment`. Call it inside lock_and_update_secret_file and write when
// state_changed, so the counter check and its update are one locked step.
PushCheck verify_push_approval(Enrollment& enrollment, const ApprovalContext& context,
                               const WireAssertion& assertion);

// Whether `assertion`, refused as wrong_challenge, was made by one of `pins`
// over this very login's digest with `host_name` in place of the context's
// (with any number): the phone showed and signed the relay's name for the
// host, and push.conf's host_name differs from it. A diagnosis only: the
// login stays refused. Changes nothing.
bool signed_for_host_name(std::vector<Device> pins, ApprovalContext context,
                          std::string host_name, const WireAssertion& assertion);

}  // namespace twostep::push
