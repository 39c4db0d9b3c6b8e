// Push protocol v1: P-256 public keys (SPKI DER) and ES256 signatures, in the
// P1363 form WebCrypto gives (device requests, section 8.1) and the DER form
// WebAuthn gives (assertions, section 6).
#include "twostep/push_protocol.hpp"

#include "openssl_handles.hpp"

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/params.h>
#include <openssl/x509.h>

#include <algorithm>
#include <array>
#include <cstring>

namespace twostep::push {
namespace {

constexpr std::size_t kP1363Bytes = 64;
constexpr std::size_t kMinDerSignature = 8;  // SEQUENCE { INTEGER 1 byte, INTEGER 1 byte }

Error malformed(std::string message) { return make_error(ErrorCode::malformed, std::move(message)); }

constexpr std::size_t kPointBytes = 65;

// Parses a P-256 SPKI, accepting only the one canonical 91-byte encoding.
// The fixed prefix is compared byte for byte and the point imported directly:
// the same strictness as a DER parse plus re-encoding, without OpenSSL 3's
// generic decoder (d2i_PUBKEY costs ~0.35 ms per key, this ~0.02 ms).
Result<ossl::Ptr<EVP_PKEY>> parse_p256_spki(std::span<const std::uint8_t> spki) {
  if (!has_p256_spki_shape(spki)) {
    return malformed("public key: not a 91-byte P-256 SPKI of an uncompressed point");
  }
  const auto point = spki.subspan(kP256SpkiBytes - kPointBytes);
  ossl::Ptr<EVP_PKEY_CTX> ctx(EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr));
  if (!ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1) {
    ERR_clear_error();
    return make_error(ErrorCode::crypto, "EVP_PKEY_fromdata_init(EC) failed");
  }
  // OSSL_PARAM wants non-const pointers; OpenSSL only reads them.
  char group[] = "prime256v1";
  std::array<std::uint8_t, kPointBytes> encoded{};
  std::copy(point.begin(), point.end(), encoded.begin());
  std::array<OSSL_PARAM, 3> params = {
      OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, group, 0),
      OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, encoded.data(), encoded.size()),
      OSSL_PARAM_construct_end()};
  EVP_PKEY* raw = nullptr;
  // Import decodes the point and refuses one that is not on the curve.
  if (EVP_PKEY_fromdata(ctx.get(), &raw, EVP_PKEY_PUBLIC_KEY, params.data()) != 1 || raw == nullptr) {
    ERR_clear_error();
    return malformed("public key: point not on P-256");
  }
  return ossl::Ptr<EVP_PKEY>(raw);
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

namespace {
Result<SignatureVerdict> verify_p1363_with_key(EVP_PKEY* key, std::span<const std::uint8_t> message,
                                               std::span<const std::uint8_t> signature) {
  if (signature.size() != kP1363Bytes) return SignatureVerdict::malformed;
  auto der = p1363_to_der(signature);
  if (!der) return der.error();
  return verify_der_with_key(key, message, *der);
}
}  // namespace

Result<SignatureVerdict> verify_es256_p1363(std::span<const std::uint8_t> spki_der,
                                            std::span<const std::uint8_t> message,
                                            std::span<const std::uint8_t> signature) {
  auto key = parse_p256_spki(spki_der);
  if (!key) return key.error();
  return verify_p1363_with_key(key->get(), message, signature);
}

Result<P256PublicKey> P256PublicKey::parse(std::span<const std::uint8_t> spki_der) {
  auto key = parse_p256_spki(spki_der);
  if (!key) return key.error();
  auto id = device_key_id(spki_der);
  if (!id) return id.error();
  P256PublicKey out;
  out.key_ = std::shared_ptr<EVP_PKEY>(key->release(), EVP_PKEY_free);
  out.key_id_ = std::move(*id);
  return out;
}

Result<SignatureVerdict> verify_es256_der(const P256PublicKey& key,
                                          std::span<const std::uint8_t> message,
                                          std::span<const std::uint8_t> signature) {
  if (key.get() == nullptr) return make_error(ErrorCode::invalid_argument, "no public key");
  if (!is_strict_der_signature(signature)) return SignatureVerdict::malformed;
  return verify_der_with_key(key.get(), message, signature);
}

Result<SignatureVerdict> verify_device_request(const P256PublicKey& api_key,
                                               const SignedRequest& request,
                                               std::string_view signature_b64u) {
  if (api_key.get() == nullptr) return make_error(ErrorCode::invalid_argument, "no public key");
  if (api_key.key_id() != request.key_id) {
    return make_error(ErrorCode::invalid_argument, "device request: key id is not this key's id");
  }
  auto canonical = canonical_request(RequestScheme::device_ecdsa, request);
  if (!canonical) return canonical.error();
  if (signature_b64u.size() != kDeviceSignatureChars) return SignatureVerdict::malformed;
  auto signature = b64u_decode(signature_b64u, kP1363Bytes);
  if (!signature || signature->size() != kP1363Bytes) return SignatureVerdict::malformed;
  return verify_p1363_with_key(api_key.get(), as_bytes(*canonical), *signature);
}

Result<SignatureVerdict> verify_device_request(std::span<const std::uint8_t> api_spki_der,
                                               const SignedRequest& request,
                                               std::string_view signature_b64u) {
  auto key = P256PublicKey::parse(api_spki_der);
  if (!key) return key.error();
  return verify_device_request(*key, request, signature_b64u);
}

}  // namespace twostep::push
