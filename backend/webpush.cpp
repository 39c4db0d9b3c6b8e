// RFC 8291 / RFC 8188 / RFC 8292 with OpenSSL 3 EVP (see webpush.hpp).
#include "webpush.hpp"

#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/param_build.h>
#include <openssl/rand.h>

#include <memory>
#include <nlohmann/json.hpp>

#include "twostep/push_protocol.hpp"

namespace twostep::relay::webpush {
namespace {

struct PkeyFree { void operator()(EVP_PKEY* p) const noexcept { EVP_PKEY_free(p); } };
struct PkeyCtxFree { void operator()(EVP_PKEY_CTX* p) const noexcept { EVP_PKEY_CTX_free(p); } };
struct MdCtxFree { void operator()(EVP_MD_CTX* p) const noexcept { EVP_MD_CTX_free(p); } };
struct CipherCtxFree {
  void operator()(EVP_CIPHER_CTX* p) const noexcept { EVP_CIPHER_CTX_free(p); }
};
struct KdfFree { void operator()(EVP_KDF* p) const noexcept { EVP_KDF_free(p); } };
struct KdfCtxFree { void operator()(EVP_KDF_CTX* p) const noexcept { EVP_KDF_CTX_free(p); } };
struct ParamBldFree { void operator()(OSSL_PARAM_BLD* p) const noexcept { OSSL_PARAM_BLD_free(p); } };
struct ParamFree { void operator()(OSSL_PARAM* p) const noexcept { OSSL_PARAM_free(p); } };
struct BnFree { void operator()(BIGNUM* p) const noexcept { BN_clear_free(p); } };
struct SigFree { void operator()(ECDSA_SIG* p) const noexcept { ECDSA_SIG_free(p); } };

using Pkey = std::unique_ptr<EVP_PKEY, PkeyFree>;

Error crypto_error(std::string what) { return make_error(ErrorCode::crypto, std::move(what)); }

const unsigned char* u8(std::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

std::string b64u(std::string_view bytes) { return push::b64u_encode(push::as_bytes(bytes)); }

// A P-256 key from its parts: the public point, and the private scalar if
// given. OpenSSL checks that the point is on the curve.
Pkey p256_key(std::string_view point, std::span<const std::uint8_t> scalar) {
  std::unique_ptr<OSSL_PARAM_BLD, ParamBldFree> bld(OSSL_PARAM_BLD_new());
  if (!bld) return nullptr;
  std::unique_ptr<BIGNUM, BnFree> priv;
  if (OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) != 1 ||
      OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(),
                                       point.size()) != 1) {
    return nullptr;
  }
  if (!scalar.empty()) {
    priv.reset(BN_secure_new());
    if (!priv || !BN_bin2bn(scalar.data(), static_cast<int>(scalar.size()), priv.get()) ||
        OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_PRIV_KEY, priv.get()) != 1) {
      return nullptr;
    }
  }
  std::unique_ptr<OSSL_PARAM, ParamFree> params(OSSL_PARAM_BLD_to_param(bld.get()));
  std::unique_ptr<EVP_PKEY_CTX, PkeyCtxFree> ctx(EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr));
  if (!params || !ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1) return nullptr;
  EVP_PKEY* raw = nullptr;
  const int selection = scalar.empty() ? EVP_PKEY_PUBLIC_KEY : EVP_PKEY_KEYPAIR;
  if (EVP_PKEY_fromdata(ctx.get(), &raw, selection, params.get()) != 1) return nullptr;
  Pkey key(raw);
  // fromdata does not prove that the point is on the curve or belongs to
  // the scalar: check it.
  std::unique_ptr<EVP_PKEY_CTX, PkeyCtxFree> check(EVP_PKEY_CTX_new_from_pkey(nullptr, key.get(), nullptr));
  if (!check) return nullptr;
  const int ok = scalar.empty() ? EVP_PKEY_public_check(check.get()) : EVP_PKEY_pairwise_check(check.get());
  return ok == 1 ? std::move(key) : nullptr;
}

Result<std::string> public_point(EVP_PKEY* key) {
  unsigned char out[kP256PointBytes + 1];
  std::size_t len = 0;
  if (EVP_PKEY_get_octet_string_param(key, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, out, sizeof out,
                                      &len) != 1 ||
      len != kP256PointBytes || out[0] != 0x04) {
    return crypto_error("cannot export a P-256 public point");
  }
  return std::string(reinterpret_cast<const char*>(out), len);
}

Result<VapidKeys> keys_of(EVP_PKEY* key) {
  BIGNUM* raw = nullptr;
  if (EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_PRIV_KEY, &raw) != 1) {
    return crypto_error("cannot export a P-256 private key");
  }
  std::unique_ptr<BIGNUM, BnFree> priv(raw);
  VapidKeys keys{SecretBytes(kP256ScalarBytes), {}};
  if (BN_bn2binpad(priv.get(), keys.private_scalar.data(), kP256ScalarBytes) !=
      static_cast<int>(kP256ScalarBytes)) {
    return crypto_error("cannot export a P-256 private key");
  }
  auto point = public_point(key);
  if (!point) return point.error();
  keys.public_point = std::move(point.value());
  return keys;
}

Result<SecretBytes> ecdh(EVP_PKEY* ours, EVP_PKEY* theirs) {
  std::unique_ptr<EVP_PKEY_CTX, PkeyCtxFree> ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, ours, nullptr));
  std::size_t len = 0;
  if (!ctx || EVP_PKEY_derive_init(ctx.get()) != 1 ||
      EVP_PKEY_derive_set_peer(ctx.get(), theirs) != 1 ||
      EVP_PKEY_derive(ctx.get(), nullptr, &len) != 1 || len != 32) {
    return crypto_error("ECDH failed");
  }
  SecretBytes secret(len);
  if (EVP_PKEY_derive(ctx.get(), secret.data(), &len) != 1 || len != 32) {
    return crypto_error("ECDH failed");
  }
  return secret;
}

// HKDF-SHA256, extract then expand (RFC 5869).
Result<SecretBytes> hkdf(std::span<const std::uint8_t> salt, std::span<const std::uint8_t> ikm,
                         std::string_view info, std::size_t length) {
  std::unique_ptr<EVP_KDF, KdfFree> kdf(EVP_KDF_fetch(nullptr, "HKDF", nullptr));
  if (!kdf) return crypto_error("HKDF unavailable");
  std::unique_ptr<EVP_KDF_CTX, KdfCtxFree> ctx(EVP_KDF_CTX_new(kdf.get()));
  if (!ctx) return crypto_error("HKDF unavailable");
  char digest[] = "SHA256";
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest, 0),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, const_cast<std::uint8_t*>(salt.data()),
                                        salt.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, const_cast<std::uint8_t*>(ikm.data()),
                                        ikm.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, const_cast<char*>(info.data()),
                                        info.size()),
      OSSL_PARAM_construct_end(),
  };
  SecretBytes out(length);
  if (EVP_KDF_derive(ctx.get(), out.data(), out.size(), params) != 1) {
    return crypto_error("HKDF failed");
  }
  return out;
}

std::span<const std::uint8_t> span_of(std::string_view s) { return push::as_bytes(s); }

std::string with_nul(std::string_view label) {
  std::string s(label);
  s.push_back('\0');
  return s;
}

Result<std::string> aes128gcm_seal(const SecretBytes& key, const SecretBytes& nonce,
                                   std::string_view plaintext) {
  std::unique_ptr<EVP_CIPHER_CTX, CipherCtxFree> ctx(EVP_CIPHER_CTX_new());
  if (!ctx || EVP_EncryptInit_ex2(ctx.get(), EVP_aes_128_gcm(), key.data(), nonce.data(), nullptr) != 1) {
    return crypto_error("AES-GCM init failed");
  }
  std::string out(plaintext.size() + 16, '\0');
  int len = 0;
  auto* o = reinterpret_cast<unsigned char*>(out.data());
  if (EVP_EncryptUpdate(ctx.get(), o, &len, u8(plaintext), static_cast<int>(plaintext.size())) != 1) {
    return crypto_error("AES-GCM failed");
  }
  int tail = 0;
  if (EVP_EncryptFinal_ex(ctx.get(), o + len, &tail) != 1 ||
      static_cast<std::size_t>(len + tail) != plaintext.size() ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, 16, o + plaintext.size()) != 1) {
    return crypto_error("AES-GCM failed");
  }
  return out;
}

Result<std::string> encrypt_with(std::string_view plaintext, const SubscriptionKeys& to,
                                 EVP_PKEY* ephemeral, std::string_view salt) {
  if (plaintext.size() > kMaxPayloadBytes) {
    return make_error(ErrorCode::too_large, "push payload over one record");
  }
  if (auto ok = check_subscription_keys(to); !ok) return ok.error();
  if (salt.size() != 16) return make_error(ErrorCode::invalid_argument, "salt must be 16 bytes");
  Pkey ua = p256_key(to.p256dh, {});
  if (!ua) return make_error(ErrorCode::malformed, "p256dh is not a P-256 point");
  auto as_public = public_point(ephemeral);
  if (!as_public) return as_public.error();
  auto shared = ecdh(ephemeral, ua.get());
  if (!shared) return shared.error();

  // RFC 8291 section 3.4.
  const std::string key_info = with_nul("WebPush: info") + to.p256dh + as_public.value();
  auto ikm = hkdf(span_of(to.auth), shared->span(), key_info, 32);
  if (!ikm) return ikm.error();
  auto cek = hkdf(span_of(salt), ikm->span(), with_nul("Content-Encoding: aes128gcm"), 16);
  if (!cek) return cek.error();
  auto nonce = hkdf(span_of(salt), ikm->span(), with_nul("Content-Encoding: nonce"), 12);
  if (!nonce) return nonce.error();

  // RFC 8188: one record, the last, so its delimiter is 0x02; no padding.
  std::string record(plaintext);
  record.push_back('\x02');
  auto sealed = aes128gcm_seal(cek.value(), nonce.value(), record);
  if (!sealed) return sealed.error();

  std::string body(salt);
  for (int shift = 24; shift >= 0; shift -= 8) {
    body.push_back(static_cast<char>((kRecordSize >> shift) & 0xff));
  }
  body.push_back(static_cast<char>(kP256PointBytes));
  body += as_public.value();
  body += sealed.value();
  return body;
}

// ECDSA's DER signature as JWS wants it: r || s, 32 bytes each.
Result<std::string> der_to_jose(std::span<const std::uint8_t> der) {
  const unsigned char* p = der.data();
  std::unique_ptr<ECDSA_SIG, SigFree> sig(d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der.size())));
  if (!sig) return crypto_error("cannot parse our own ECDSA signature");
  std::string out(64, '\0');
  auto* o = reinterpret_cast<unsigned char*>(out.data());
  if (BN_bn2binpad(ECDSA_SIG_get0_r(sig.get()), o, 32) != 32 ||
      BN_bn2binpad(ECDSA_SIG_get0_s(sig.get()), o + 32, 32) != 32) {
    return crypto_error("ECDSA signature out of range");
  }
  return out;
}

}  // namespace

Result<VapidKeys> make_vapid_keys() {
  Pkey key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
  if (!key) return crypto_error("cannot make a P-256 key");
  return keys_of(key.get());
}

SecretBytes to_stored(const VapidKeys& keys) {
  SecretBytes out(kP256ScalarBytes + kP256PointBytes);
  std::copy(keys.private_scalar.data(), keys.private_scalar.data() + kP256ScalarBytes, out.data());
  std::copy(keys.public_point.begin(), keys.public_point.end(), out.data() + kP256ScalarBytes);
  return out;
}

Result<VapidKeys> from_stored(std::span<const std::uint8_t> stored) {
  if (stored.size() != kP256ScalarBytes + kP256PointBytes) {
    return make_error(ErrorCode::malformed, "stored VAPID key has the wrong size");
  }
  const std::string point(reinterpret_cast<const char*>(stored.data()) + kP256ScalarBytes,
                          kP256PointBytes);
  if (!p256_key(point, stored.first(kP256ScalarBytes))) {
    return make_error(ErrorCode::malformed, "stored VAPID key does not check out");
  }
  return VapidKeys{SecretBytes(stored.data(), kP256ScalarBytes), point};
}

Status check_subscription_keys(const SubscriptionKeys& keys) {
  if (keys.auth.size() != kAuthSecretBytes) {
    return make_error(ErrorCode::malformed, "auth must be 16 bytes");
  }
  if (keys.p256dh.size() != kP256PointBytes || keys.p256dh[0] != '\x04' ||
      !p256_key(keys.p256dh, {})) {
    return make_error(ErrorCode::malformed, "p256dh must be an uncompressed P-256 point");
  }
  return {};
}

Result<std::string> encrypt(std::string_view plaintext, const SubscriptionKeys& to) {
  Pkey ephemeral(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
  if (!ephemeral) return crypto_error("cannot make a P-256 key");
  std::string salt(16, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(salt.data()), 16) != 1) {
    return crypto_error("CSPRNG failed");
  }
  return encrypt_with(plaintext, to, ephemeral.get(), salt);
}

Result<std::string> encrypt_for_test(std::string_view plaintext, const SubscriptionKeys& to,
                                     std::span<const std::uint8_t> ephemeral_scalar,
                                     std::string_view salt) {
  // Derive the public point from the scalar (G * d), then build the pair.
  std::unique_ptr<EC_GROUP, decltype(&EC_GROUP_free)> group(
      EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1), EC_GROUP_free);
  std::unique_ptr<BIGNUM, BnFree> d(BN_bin2bn(ephemeral_scalar.data(),
                                              static_cast<int>(ephemeral_scalar.size()), nullptr));
  if (!group || !d) return crypto_error("EC setup failed");
  std::unique_ptr<EC_POINT, decltype(&EC_POINT_free)> q(EC_POINT_new(group.get()), EC_POINT_free);
  unsigned char point[kP256PointBytes];
  if (!q || EC_POINT_mul(group.get(), q.get(), d.get(), nullptr, nullptr, nullptr) != 1 ||
      EC_POINT_point2oct(group.get(), q.get(), POINT_CONVERSION_UNCOMPRESSED, point, sizeof point,
                         nullptr) != kP256PointBytes) {
    return crypto_error("EC point derivation failed");
  }
  Pkey key = p256_key(std::string_view(reinterpret_cast<const char*>(point), sizeof point),
                      ephemeral_scalar);
  if (!key) return crypto_error("bad test key");
  return encrypt_with(plaintext, to, key.get(), salt);
}

std::string endpoint_origin(std::string_view endpoint) {
  std::size_t scheme_end = 0;
  if (endpoint.starts_with("https://")) scheme_end = 8;
  else if (endpoint.starts_with("http://")) scheme_end = 7;
  else return {};
  const std::size_t end = endpoint.find_first_of("/?#", scheme_end);
  const std::string_view authority =
      endpoint.substr(scheme_end, end == std::string_view::npos ? std::string_view::npos : end - scheme_end);
  if (authority.empty() || authority.find('@') != std::string_view::npos) return {};
  return std::string(endpoint.substr(0, scheme_end)) + std::string(authority);
}

Result<std::string> vapid_jwt(const VapidKeys& keys, std::string_view audience,
                              std::int64_t expires, std::string_view subject) {
  const std::string header = b64u(R"({"typ":"JWT","alg":"ES256"})");
  const nlohmann::json claims = {{"aud", std::string(audience)},
                                 {"exp", expires},
                                 {"sub", std::string(subject)}};
  const std::string signing_input = header + "." + b64u(claims.dump());
  Pkey key = p256_key(keys.public_point, keys.private_scalar.span());
  if (!key) return crypto_error("VAPID key does not check out");
  std::unique_ptr<EVP_MD_CTX, MdCtxFree> md(EVP_MD_CTX_new());
  std::size_t len = 0;
  if (!md || EVP_DigestSignInit_ex(md.get(), nullptr, "SHA256", nullptr, nullptr, key.get(), nullptr) != 1 ||
      EVP_DigestSign(md.get(), nullptr, &len, u8(signing_input), signing_input.size()) != 1) {
    return crypto_error("ES256 signing failed");
  }
  std::vector<std::uint8_t> der(len);
  if (EVP_DigestSign(md.get(), der.data(), &len, u8(signing_input), signing_input.size()) != 1) {
    return crypto_error("ES256 signing failed");
  }
  der.resize(len);
  auto jose = der_to_jose(der);
  if (!jose) return jose.error();
  return signing_input + "." + b64u(jose.value());
}

Result<std::string> vapid_authorization(const VapidKeys& keys, std::string_view audience,
                                        std::int64_t expires, std::string_view subject) {
  auto jwt = vapid_jwt(keys, audience, expires, subject);
  if (!jwt) return jwt.error();
  return "vapid t=" + jwt.value() + ", k=" + b64u(keys.public_point);
}

}  // namespace twostep::relay::webpush
