// The relay's only window onto cryptography: encodings, hashes, request
// signatures and the early assertion check. A thin seam over the pure
// functions of twostep::core (push protocol), so that the daemon's code does
// not depend on how they are implemented.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace twostep::relay::crypto {

// base64url without padding (protocol section 2); decode is strict: no
// padding, whitespace or characters outside the alphabet, no stray bits.
std::string b64u_encode(std::string_view bytes);
std::optional<std::string> b64u_decode(std::string_view text);

std::string sha256(std::string_view bytes);      // 32 raw bytes
std::string hex_lower(std::string_view bytes);
std::string random_bytes(std::size_t count);     // aborts if the CSPRNG fails
std::string random_id();                         // b64u of 16 random bytes

// The canonical string of section 3 (first line `scheme`).
std::string canonical_request(std::string_view scheme, std::string_view method,
                              std::string_view path, std::string_view query,
                              std::string_view body, std::string_view timestamp,
                              std::string_view nonce, std::string_view principal);

inline constexpr std::string_view kHostScheme = "TWOSTEP-HMAC-SHA256";
inline constexpr std::string_view kDeviceScheme = "TWOSTEP-ECDSA-P256-SHA256";

// Constant-time check of b64u(HMAC-SHA256(secret, canonical)) against the
// raw signature bytes.
bool verify_host_signature(std::string_view secret, std::string_view canonical,
                           std::string_view signature);
std::string hmac_sha256(std::string_view key, std::string_view message);

// ECDSA P-256 over SHA-256: IEEE P1363 (r || s, 64 bytes) and DER forms.
bool verify_p256_p1363(std::string_view spki_der, std::string_view message,
                       std::string_view signature);
bool verify_p256_der(std::string_view spki_der, std::string_view message,
                     std::string_view signature);
// True if `spki_der` is a well-formed SubjectPublicKeyInfo of a P-256 key.
bool is_p256_spki(std::string_view spki_der);

// Section 8.1: b64u of the first 16 bytes of SHA-256(API SPKI DER).
std::string api_key_id(std::string_view api_spki_der);

// Section 8.3: what the relay can check of an assertion without the number.
enum class AssertionCheck { ok, client_data, origin, challenge, rp_id_hash, flags, signature };
const char* to_string(AssertionCheck check) noexcept;
AssertionCheck check_assertion_early(std::string_view credential_spki,
                                     std::string_view authenticator_data,
                                     std::string_view client_data_json,
                                     std::string_view signature_der,
                                     std::string_view expected_origin);

}  // namespace twostep::relay::crypto
