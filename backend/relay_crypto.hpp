// The relay's only window onto cryptography: encodings, hashes, request
// signatures and the early assertion check. A thin seam over the pure
// functions of twostep::push (core/push/include/twostep/push_protocol.hpp), in the
// relay's own terms (std::string bytes), so that the daemon's code does not
// depend on how they are implemented.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace twostep::relay::crypto {

// base64url without padding (protocol section 2); decode is strict: no
// padding, whitespace or characters outside the alphabet, no stray bits.
std::string b64u_encode(std::string_view bytes);
std::optional<std::string> b64u_decode(std::string_view text);

std::string sha256(std::string_view bytes);  // 32 raw bytes
std::string random_bytes(std::size_t count);  // aborts if the CSPRNG fails
std::string random_id();                      // b64u of 16 random bytes, never '-' first

enum class Verdict { valid, malformed, bad_signature, error };

struct SignedParts {
  std::string_view method, path, query, body, timestamp, nonce, key_id;
};
// Section 3: HMAC-SHA256 with the host's 32-byte secret, constant time.
Verdict verify_host_request(std::string_view secret, const SignedParts& request,
                            std::string_view signature_b64u);
// Section 8.1: ECDSA P-256, P1363 signature, with the key's SPKI.
Verdict verify_device_request(std::string_view api_spki_der, const SignedParts& request,
                              std::string_view signature_b64u);

// Section 7 step 4: the API key's signature over its own registration
// (proof of possession), checked with the registered API SPKI.
struct RegistrationParts {
  std::string_view pairing_id, name, credential_id, credential_spki, api_spki;
};
Verdict verify_registration(const RegistrationParts& registration,
                            std::string_view signature_b64u);

// True if `spki_der` is the one accepted SPKI form of a P-256 key (section 2).
bool is_p256_spki(std::string_view spki_der);
// Section 8.1: b64u of the first 16 bytes of SHA-256(API SPKI DER).
std::string api_key_id(std::string_view api_spki_der);
// True if `origin` is a valid approver origin (section 6).
bool is_approver_origin(std::string_view origin);

// Section 8.3: what the relay can check of an assertion without the number.
// nullopt: accepted; otherwise the reason.
std::optional<std::string> check_assertion_early(std::string_view credential_spki,
                                                 std::string_view authenticator_data,
                                                 std::string_view client_data_json,
                                                 std::string_view signature_der,
                                                 std::string_view expected_origin);

}  // namespace twostep::relay::crypto
