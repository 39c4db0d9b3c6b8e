// Push protocol v1 (docs/protocol.md): the pure crypto and parsing shared by
// twostepd (the relay), libtwostep-push / pam_twostep (the module) and
// twostep-enroll. No I/O, no PAM, no network. Failures are values: Result<T>,
// SignatureVerdict, AssertionFailure. The JSON parser never throws; the
// assertion entry points are noexcept; the rest can throw only std::bad_alloc,
// like the rest of the core. All functions are reentrant (no shared state).
//
// Section numbers below refer to docs/protocol.md.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "twostep/base64url.hpp"
#include "twostep/enrollment.hpp"
#include "twostep/result.hpp"
#include "twostep/secret.hpp"
#include "twostep/web_origin.hpp"

struct evp_pkey_st;  // OpenSSL's EVP_PKEY

namespace twostep::push {

using twostep::Bytes;
using Digest = std::array<std::uint8_t, 32>;  // SHA-256 / HMAC-SHA256 output

inline std::span<const std::uint8_t> as_bytes(std::string_view text) noexcept {
  return {reinterpret_cast<const std::uint8_t*>(text.data()), text.size()};
}

// ---------------------------------------------------------------------------
// Section 2: b64u and lp()

// base64url (twostep/base64url.hpp), named here as the protocol uses it.
using twostep::b64u_decode;
using twostep::b64u_decode_secret;
using twostep::b64u_encode;
using twostep::b64u_encode_secret;
using twostep::is_b64u_of_size;

// Appends lp(field): 4-byte big-endian length, then the bytes. Fields of
// 2^32 bytes or more cannot be encoded: invalid_argument.
Status append_lp(Bytes& out, std::span<const std::uint8_t> field);
inline Status append_lp(Bytes& out, std::string_view field) { return append_lp(out, as_bytes(field)); }

Result<Digest> sha256(std::span<const std::uint8_t> bytes);
Result<Digest> hmac_sha256(std::span<const std::uint8_t> key, std::span<const std::uint8_t> message);

// b64u of `bytes` fresh random bytes (1..1024) from the OS CSPRNG: relay ids
// (kIdBytes), request nonces (kNonceBytes), the module's challenge nonce (32).
Result<std::string> random_b64u(std::size_t bytes);

// X-Twostep-Timestamp: 1..19 decimal digits, no sign, no spaces, fits int64.
std::optional<std::int64_t> parse_timestamp(std::string_view text) noexcept;

// ---------------------------------------------------------------------------
// Section 3 (hosts, HMAC-SHA256) and 8.1 (devices, ECDSA P-256)

enum class RequestScheme {
  host_hmac,     // first line TWOSTEP-HMAC-SHA256, last line the host_id
  device_ecdsa,  // first line TWOSTEP-ECDSA-P256-SHA256, last line the key id
};

// What a request signature covers. Views: the caller keeps the data alive.
struct SignedRequest {
  std::string_view method;     // upper case, e.g. "POST"
  std::string_view path;       // exactly as sent, without the query
  std::string_view query;      // exactly as sent, without '?', or empty
  std::string_view body;       // raw bytes; empty for no body
  std::string_view timestamp;  // decimal, as in X-Twostep-Timestamp
  std::string_view nonce;      // as in X-Twostep-Nonce
  std::string_view key_id;     // host_id (3) or device key id (8.1)
};

// The canonical string, lines joined by '\n', no trailing newline. Refuses
// (invalid_argument) a field with CR/LF or NUL, a method that is not [A-Z]+,
// a path not starting with '/', a query with '?' or '#' at its start,
// a non-decimal timestamp, an empty nonce or key id.
Result<std::string> canonical_request(RequestScheme scheme, const SignedRequest& request);

// Whether a signature checked out. Infrastructure failures (OpenSSL) are the
// Result's error instead, so "bad signature" is never confused with "broken".
enum class SignatureVerdict {
  valid,
  malformed,      // the signature text is not b64u of the right length
  bad_signature,  // well-formed, does not verify
};
const char* to_string(SignatureVerdict verdict) noexcept;

inline constexpr std::size_t kHostSecretBytes = 32;
inline constexpr std::size_t kHostSignatureChars = 43;    // b64u of 32 bytes
inline constexpr std::size_t kDeviceSignatureChars = 86;  // b64u of 64 bytes (P1363)
inline constexpr std::size_t kNonceBytes = 16;            // X-Twostep-Nonce: 22 chars
inline constexpr std::size_t kIdBytes = 16;               // relay ids: 22 chars

// X-Twostep-Signature for a host request: b64u(HMAC-SHA256(secret, canonical)).
// The secret must be kHostSecretBytes long.
Result<std::string> sign_host_request(const SecretBytes& host_secret, const SignedRequest& request);
// Recomputes the MAC and compares in constant time.
Result<SignatureVerdict> verify_host_request(const SecretBytes& host_secret,
                                             const SignedRequest& request,
                                             std::string_view signature_b64u);

// ---------------------------------------------------------------------------
// P-256 public keys (SPKI DER), device API keys and WebAuthn credentials

inline constexpr std::size_t kP256SpkiBytes = kDeviceKeyBytes;  // uncompressed point, named curve

// b64u of the first 16 bytes of SHA-256(SPKI DER) (8.1): X-Twostep-Device.
// Only hashes: validate a new key with check_p256_spki when it is registered.
Result<std::string> device_key_id(std::span<const std::uint8_t> spki_der);

// Accepts exactly one encoding: a 91-byte DER SubjectPublicKeyInfo of an
// uncompressed P-256 point (what WebCrypto exportKey("spki") and WebAuthn
// getPublicKey() give). Anything else is malformed.
Status check_p256_spki(std::span<const std::uint8_t> spki_der);

// ECDSA P-256 with SHA-256 over `message`. Signature in IEEE P1363 form
// (r || s, 64 bytes, WebCrypto) or DER (WebAuthn), each with strict length
// limits. bad_signature for a well-formed signature that does not verify;
// malformed for a wrong size or broken DER. A bad key is an error (malformed).
Result<SignatureVerdict> verify_es256_p1363(std::span<const std::uint8_t> spki_der,
                                            std::span<const std::uint8_t> message,
                                            std::span<const std::uint8_t> signature);
Result<SignatureVerdict> verify_es256_der(std::span<const std::uint8_t> spki_der,
                                          std::span<const std::uint8_t> message,
                                          std::span<const std::uint8_t> signature);

// A P-256 public key parsed once, by the rules of check_p256_spki, for a
// caller that verifies many signatures by one key (the relay keeps one per
// device key). Copies share the key; verifying with it from several threads
// at once is safe.
class P256PublicKey {
 public:
  static Result<P256PublicKey> parse(std::span<const std::uint8_t> spki_der);
  // device_key_id of its SPKI (8.1).
  const std::string& key_id() const noexcept { return key_id_; }
  evp_pkey_st* get() const noexcept { return key_.get(); }

 private:
  std::shared_ptr<evp_pkey_st> key_;
  std::string key_id_;
};

Result<SignatureVerdict> verify_es256_der(const P256PublicKey& key,
                                          std::span<const std::uint8_t> message,
                                          std::span<const std::uint8_t> signature);

// Verifies X-Twostep-Signature (b64u of 64 bytes) of a device request over
// canonical_request(device_ecdsa, request) with the key's SPKI. The caller has
// looked the key up by request.key_id; this also checks that key_id is the
// SPKI's id, so a store mix-up cannot verify under the wrong name.
Result<SignatureVerdict> verify_device_request(std::span<const std::uint8_t> api_spki_der,
                                               const SignedRequest& request,
                                               std::string_view signature_b64u);
// The same with the key parsed beforehand.
Result<SignatureVerdict> verify_device_request(const P256PublicKey& api_key,
                                               const SignedRequest& request,
                                               std::string_view signature_b64u);

// ---------------------------------------------------------------------------
// Section 6: the approval digest

// What the phone shows besides the PAM items (protocol version 3, section
// 6): the command sudo is about to run, the user su switches to, and where
// the client address is. Each is text by the display rule, empty when the
// login has none.
struct SignedContext {
  std::string command;      // sudo's command line, cut in the middle past kMaxCommandBytes
  std::string target_user;  // su: the account switched to
  std::string location;     // "city, country", "this network", "this computer", or ""
};
inline constexpr std::size_t kMaxCommandBytes = 200;
inline constexpr std::size_t kMaxTargetUserBytes = 64;
inline constexpr std::size_t kMaxLocationBytes = 128;

struct ApprovalContext {
  std::string challenge_id;
  std::string module_nonce;  // the b64u text, as sent in the challenge
  std::string host;          // the module's configured host name
  std::string user;
  std::string service;
  std::string rhost;
  std::string tty;
  unsigned number = 0;       // 0..99, shown in the terminal, typed on the phone
  std::int64_t expires = 0;  // >= 0
  // Set: the version 2 digest, which the module always asks for. Unset: the
  // version 1 digest of a challenge made by an older module (the relay and
  // the phone still sign those; the module never accepts one).
  std::optional<SignedContext> context;
};

// SHA-256("twostep-approval-v1" || lp(id) || lp(nonce) || lp(host) || lp(user)
// || lp(service) || lp(rhost) || lp(tty) || lp(number as 2 digits) ||
// lp(expires decimal)); with a context, the label "twostep-approval-v2" and
// lp(command) || lp(target user) || lp(location) after lp(tty).
// invalid_argument for number > 99 or expires < 0.
Result<Digest> approval_digest(const ApprovalContext& context);

// "07" for 7: how the number is shown and how it enters the digest.
std::string format_approval_number(unsigned number);

// A uniformly random number 0..99 from the OS CSPRNG, for the terminal.
Result<unsigned> random_approval_number();

// ---------------------------------------------------------------------------
// Section 7: pairing

struct PairingProofInput {
  std::string pairing_id;
  std::string name;           // the device's name, UTF-8
  Bytes credential_id;        // decoded bytes
  Bytes credential_spki;      // SPKI DER of the WebAuthn credential
  Bytes api_spki;             // SPKI DER of the API key
};

inline constexpr std::size_t kPairingSecretBytes = 32;  // S and K

// HMAC-SHA256(S, "twostep-pair-v1" || lp(pairing id) || lp(name) ||
// lp(credential id) || lp(credential SPKI) || lp(api SPKI)).
Result<Digest> pairing_proof(const SecretBytes& pairing_secret, const PairingProofInput& reg);
// Recomputes the proof and compares in constant time.
Result<SignatureVerdict> verify_pairing_proof(const SecretBytes& pairing_secret,
                                              const PairingProofInput& reg,
                                              std::string_view proof_b64u);

// Proof of possession of the API key (7.4): ECDSA P-256 with SHA-256, P1363
// (64 bytes, b64u), by the registered API key over "twostep-pair-key-v1" ||
// lp(pairing id) || lp(name) || lp(credential id) || lp(credential SPKI) ||
// lp(api SPKI). The pairing id binds it to one pairing, so a registration
// cannot name a key that its sender does not hold.
Result<Bytes> registration_key_message(const PairingProofInput& reg);
Result<SignatureVerdict> verify_registration_signature(const PairingProofInput& reg,
                                                       std::string_view signature_b64u);

// Six digits: first 4 bytes of HMAC-SHA256(S, "twostep-compare-v1" ||
// lp(credential SPKI) || lp(api SPKI)), big-endian, mod 1,000,000.
Result<std::string> comparison_code(const SecretBytes& pairing_secret,
                                    std::span<const std::uint8_t> credential_spki,
                                    std::span<const std::uint8_t> api_spki);

// ---------------------------------------------------------------------------
// Section 6 steps 2-5 (the module) and 8.3 (the relay's early check)

inline constexpr std::size_t kMaxClientDataJson = 4096;
inline constexpr std::size_t kMinAuthenticatorData = 37;
inline constexpr std::size_t kMaxAuthenticatorData = 1024;
inline constexpr std::size_t kMaxDerSignature = 72;
inline constexpr std::size_t kMaxOrigin = kMaxWebOrigin;
inline constexpr std::uint8_t kFlagUserPresent = 0x01;
inline constexpr std::uint8_t kFlagUserVerified = 0x04;

// The RP ID of an approver origin: its host (twostep/web_origin.hpp).
inline Result<std::string> rp_id_from_origin(std::string_view origin) {
  return host_of_web_origin(origin);
}

enum class AssertionFailure {
  none,                  // accepted
  malformed,             // sizes, encodings, DER, authenticatorData too short
  bad_client_data,       // clientDataJSON is not a strict JSON object of the right shape
  wrong_type,            // type != "webauthn.get"
  wrong_challenge,       // challenge is not the expected digest (or not 32 bytes)
  wrong_origin,          // origin != the pinned origin, or crossOrigin true
  wrong_rp,              // rpIdHash != SHA-256(host of the pinned origin)
  no_user_presence,      // UP flag clear
  no_user_verification,  // UV flag clear
  bad_signature,         // ES256 over authData || SHA-256(clientDataJSON) fails
  counter_regressed,     // sign counter not above the pinned one (section 6.5)
  bad_pin,               // the caller's expectations are unusable (origin, SPKI)
  internal,              // OpenSSL or memory failure: fail closed
};
const char* to_string(AssertionFailure failure) noexcept;

struct AssertionExpectations {
  // The module's digest (section 6). nullopt: any 32 bytes (relay, 8.3).
  std::optional<Digest> challenge;
  std::string origin;                         // the pinned approver origin
  // The pinned credential key, SPKI DER (a view: the caller keeps it alive).
  std::span<const std::uint8_t> public_key_spki;
  // Or that key parsed beforehand (then public_key_spki is not read).
  const P256PublicKey* public_key = nullptr;
  // The pinned sign counter. nullopt: not checked (relay, 8.3).
  std::optional<std::uint32_t> pinned_counter;
};

// The three assertion fields, decoded.
struct AssertionParts {
  std::span<const std::uint8_t> authenticator_data;
  std::span<const std::uint8_t> client_data_json;
  std::span<const std::uint8_t> signature;  // DER, as WebAuthn returns it
};

struct AssertionResult {
  AssertionFailure failure = AssertionFailure::internal;
  // When accepted: the authenticator's sign counter, which is the value to pin
  // next (0 stays 0 for authenticators without a counter).
  std::uint32_t sign_counter = 0;
  bool ok() const noexcept { return failure == AssertionFailure::none; }
};

// Checks in the order of section 6 (2 clientDataJSON, 3 authenticatorData,
// 4 signature, 5 counter); the first failure is returned.
AssertionResult verify_assertion(const AssertionExpectations& expect,
                                 const AssertionParts& parts) noexcept;

// The same on the wire form (b64u fields of section 4.2); a field that is not
// strict b64u within its limit is malformed.
AssertionResult verify_assertion_b64u(const AssertionExpectations& expect,
                                      std::string_view authenticator_data_b64u,
                                      std::string_view client_data_json_b64u,
                                      std::string_view signature_b64u) noexcept;

// The parsed clientDataJSON, for the fuzzer and for diagnostics. Strict: one
// JSON object, no duplicate keys at its top level, "type", "challenge",
// "origin" strings, "crossOrigin" a boolean if present; other members are
// ignored (browsers add some), whatever their type.
struct ClientData {
  std::string type;
  std::string challenge;
  std::string origin;
  bool cross_origin = false;
};
std::optional<ClientData> parse_client_data(std::span<const std::uint8_t> json) noexcept;

}  // namespace twostep::push
