// Push protocol v1: P-256 public keys (SPKI DER) and ES256 signatures, in the
// P1363 form WebCrypto gives (device requests, section 8.1) and the DER form
// WebAuthn gives (assertions, section 6).
#include "twostep/push_protocol.hpp"

#include "openssl_handles.hpp"

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/x509.h>

#include <algorithm>
#include <cstring>

namespace twostep::push {
namespace {

constexpr std::size_t kP1363Bytes = 64;
constexpr std::size_t kMinDerSignature = 8;  // SEQUENCE { INTEGER 1 byte, INTEGER 1 byte }

Error malformed(std::string message) { return make_error(ErrorCode::malformed, std::move(message)); }

// Parses a P-256 SPKI, accepting only the one canonical 91-byte encoding.
Result<ossl::Ptr<EVP_PKEY>> parse_p256_spki(std::span<const std::uint8_t> spki) {
  if (spki.size() != kP256SpkiBytes) return malformed("public key: not a 91-byte P-256 SPKI");
  const unsigned char* cursor = spki.data();
  ossl::Ptr<EVP_PKEY> key(d2i_PUBKEY(nullptr, &cursor, static_cast<long>(spki.size())));
  if (!key || cursor != spki.data() + spki.size()) {
    ERR_clear_error();
    return malformed("public key: not a DER SubjectPublicKeyInfo");
  }
  if (EVP_PKEY_is_a(key.get(), "EC") != 1) return malformed("public key: not an EC key");
  std::array<char, 32> group{};
  std::size_t group_len = 0;
  if (EVP_PKEY_get_utf8_string_param(key.get(), OSSL_PKEY_PARAM_GROUP_NAME, group.data(), group.size(),
                                     &group_len) != 1 ||
      std::string_view(group.data(), group_len) != "prime256v1") {
    ERR_clear_error();
    return malformed("public key: not on P-256");
  }
  // The re-encoding must be the input: no explicit curve parameters, no
  // compressed point, nothing a second encoder could spell differently.
  unsigned char* encoded_raw = nullptr;
  const int encoded_len = i2d_PUBKEY(key.get(), &encoded_raw);
  ossl::Buffer encoded(encoded_raw);
  if (encoded_len != static_cast<int>(spki.size()) ||
      std::memcmp(encoded.get(), spki.data(), spki.size()) != 0) {
    ERR_clear_error();
    return malformed("public key: not in canonical form");
  }
  return key;
}

// DER must be exactly what OpenSSL re-encodes from it (no BER, no trailing
// bytes); a size outside [8, 72] is refused before parsing.
bool is_strict_der_signature(std::span<const std::uint8_t> der) {
  if (der.size() < kMinDerSignature || der.size() > kMaxDerSignature) return false;
  const unsigned char* cursor = der.data();
  ossl::Ptr<ECDSA_SIG> sig(d2i_ECDSA_SIG(nullptr, &cursor, static_cast<long>(der.size())));
  if (!sig || cursor != der.data() + der.size()) {
    ERR_clear_error();
    return false;
  }
  unsigned char* again_raw = nullptr;
  const int again_len = i2d_ECDSA_SIG(sig.get(), &again_raw);
  ossl::Buffer again(again_raw);
  return again_len == static_cast<int>(der.size()) && std::memcmp(again.get(), der.data(), der.size()) == 0;
}

// r || s (32 bytes each) to DER.
Result<Bytes> p1363_to_der(std::span<const std::uint8_t> p1363) {
  if (p1363.size() != kP1363Bytes) return malformed("signature: not 64 bytes");
  ossl::Ptr<BIGNUM> r(BN_bin2bn(p1363.data(), 32, nullptr));
  ossl::Ptr<BIGNUM> s(BN_bin2bn(p1363.data() + 32, 32, nullptr));
  ossl::Ptr<ECDSA_SIG> sig(ECDSA_SIG_new());
  if (!r || !s || !sig || ECDSA_SIG_set0(sig.get(), r.get(), s.get()) != 1) {
    ERR_clear_error();
    return make_error(ErrorCode::crypto, "ECDSA_SIG from P1363 failed");
  }
  (void)r.release();  // owned by sig now
  (void)s.release();
  unsigned char* der_raw = nullptr;
  const int der_len = i2d_ECDSA_SIG(sig.get(), &der_raw);
  ossl::Buffer der(der_raw);
  if (der_len <= 0) {
    ERR_clear_error();
    return make_error(ErrorCode::crypto, "i2d_ECDSA_SIG failed");
  }
  return Bytes(der.get(), der.get() + der_len);
}

// SHA-256 + ECDSA verification of a DER signature already checked for form.
Result<SignatureVerdict> verify_der_with_key(EVP_PKEY* key, std::span<const std::uint8_t> message,
                                             std::span<const std::uint8_t> der) {
  ossl::Ptr<EVP_MD_CTX> ctx(EVP_MD_CTX_new());
  if (!ctx || EVP_DigestVerifyInit_ex(ctx.get(), nullptr, "SHA256", nullptr, nullptr, key, nullptr) != 1) {
    ERR_clear_error();
    return make_error(ErrorCode::crypto, "EVP_DigestVerifyInit_ex failed");
  }
  const int rc = EVP_DigestVerify(ctx.get(), der.data(), der.size(), message.data(), message.size());
  if (rc != 1) {
    // 0: does not verify; < 0: OpenSSL refused the (well-formed) values, e.g.
    // r or s out of range. Neither is a valid signature: fail closed.
    ERR_clear_error();
    return SignatureVerdict::bad_signature;
  }
  return SignatureVerdict::valid;
}

}  // namespace

Result<std::string> device_key_id(std::span<const std::uint8_t> spki_der) {
  auto digest = sha256(spki_der);
  if (!digest) return digest.error();
  return b64u_encode(std::span<const std::uint8_t>(digest->data(), 16));
}

Status check_p256_spki(std::span<const std::uint8_t> spki_der) {
  auto key = parse_p256_spki(spki_der);
  if (!key) return key.error();
  return {};
}

Result<SignatureVerdict> verify_es256_der(std::span<const std::uint8_t> spki_der,
                                          std::span<const std::uint8_t> message,
                                          std::span<const std::uint8_t> signature) {
  auto key = parse_p256_spki(spki_der);
  if (!key) return key.error();
  if (!is_strict_der_signature(signature)) return SignatureVerdict::malformed;
  return verify_der_with_key(key->get(), message, signature);
}

Result<SignatureVerdict> verify_es256_p1363(std::span<const std::uint8_t> spki_der,
                                            std::span<const std::uint8_t> message,
                                            std::span<const std::uint8_t> signature) {
  auto key = parse_p256_spki(spki_der);
  if (!key) return key.error();
  if (signature.size() != kP1363Bytes) return SignatureVerdict::malformed;
  auto der = p1363_to_der(signature);
  if (!der) return der.error();
  return verify_der_with_key(key->get(), message, *der);
}

Result<SignatureVerdict> verify_device_request(std::span<const std::uint8_t> api_spki_der,
                                               const SignedRequest& request,
                                               std::string_view signature_b64u) {
  auto key_id = device_key_id(api_spki_der);
  if (!key_id) return key_id.error();
  if (*key_id != request.key_id) {
    return make_error(ErrorCode::invalid_argument, "device request: key id is not this key's id");
  }
  auto canonical = canonical_request(RequestScheme::device_ecdsa, request);
  if (!canonical) return canonical.error();
  if (signature_b64u.size() != kDeviceSignatureChars) return SignatureVerdict::malformed;
  auto signature = b64u_decode(signature_b64u, kP1363Bytes);
  if (!signature || signature->size() != kP1363Bytes) return SignatureVerdict::malformed;
  return verify_es256_p1363(api_spki_der, as_bytes(*canonical), *signature);
}

}  // namespace twostep::push
