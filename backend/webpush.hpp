// Web Push from twostepd, the cryptography only (no network): RFC 8291
// message encryption (aes128gcm, RFC 8188) and RFC 8292 VAPID (an ES256 JWT
// that names us to the push service). OpenSSL 3 EVP throughout.
//
// What is pushed is never a secret: "a request is waiting" and a challenge id
// (the app fetches the details with its own signed request). The encryption
// is still done properly because push services require it.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "twostep/result.hpp"
#include "twostep/secret.hpp"

namespace twostep::relay::webpush {

inline constexpr std::size_t kP256PointBytes = 65;  // uncompressed: 0x04 || X || Y
inline constexpr std::size_t kP256ScalarBytes = 32;
inline constexpr std::size_t kAuthSecretBytes = 16;  // the subscription's "auth"
inline constexpr std::size_t kRecordSize = 4096;     // rs of the single record we send
// The largest payload that fits in one record: rs - 16 (tag) - 1 (delimiter).
inline constexpr std::size_t kMaxPayloadBytes = kRecordSize - 16 - 1;

// The relay's VAPID key pair (P-256). `private_scalar` is secret.
struct VapidKeys {
  SecretBytes private_scalar;  // 32 bytes, big-endian
  std::string public_point;    // 65 bytes, uncompressed
};

Result<VapidKeys> make_vapid_keys();
// The stored form: 32-byte scalar || 65-byte point, and back. from_stored
// checks that the point belongs to the scalar.
SecretBytes to_stored(const VapidKeys& keys);
Result<VapidKeys> from_stored(std::span<const std::uint8_t> stored);

// What a browser's PushSubscription gives us (getKey("p256dh"), getKey("auth")).
struct SubscriptionKeys {
  std::string p256dh;  // 65 bytes, uncompressed P-256 point
  std::string auth;    // 16 bytes
};

// Checks the sizes and that p256dh is a point on P-256.
Status check_subscription_keys(const SubscriptionKeys& keys);

// RFC 8291 section 3 + RFC 8188: the whole request body (header, one record
// with the 0x02 delimiter, no padding). `salt` (16 bytes) and the ephemeral
// key are fresh per message; the _for_test overload takes them so that a test
// can compare with the RFC's example.
Result<std::string> encrypt(std::string_view plaintext, const SubscriptionKeys& to);
Result<std::string> encrypt_for_test(std::string_view plaintext, const SubscriptionKeys& to,
                                     std::span<const std::uint8_t> ephemeral_scalar,
                                     std::string_view salt);

// "https://push.example.net" for "https://push.example.net/x/y?z": the JWT's
// audience. Empty if `endpoint` is not an absolute http(s) URL.
std::string endpoint_origin(std::string_view endpoint);

// RFC 8292: the JWT (ES256, header {"typ":"JWT","alg":"ES256"}) with
// aud = `audience`, exp = `expires` (at most 24 h ahead, the push services'
// limit) and sub = `subject` (mailto: or https: URL).
Result<std::string> vapid_jwt(const VapidKeys& keys, std::string_view audience,
                              std::int64_t expires, std::string_view subject);
// The Authorization header's value: "vapid t=<jwt>, k=<b64u(public point)>".
Result<std::string> vapid_authorization(const VapidKeys& keys, std::string_view audience,
                                        std::int64_t expires, std::string_view subject);

}  // namespace twostep::relay::webpush
