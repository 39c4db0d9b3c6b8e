// Test-side signer for the push protocol tests: a fresh P-256 key made with
// OpenSSL, signatures in DER (WebAuthn) and P1363 (WebCrypto) form, and
// standard WebAuthn assertions with every field under the test's control.
#pragma once

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>

#include "twostep/push_protocol.hpp"

namespace twostep::push::test {

struct PkeyFree {
  void operator()(EVP_PKEY* p) const noexcept { EVP_PKEY_free(p); }
};
struct MdCtxFree {
  void operator()(EVP_MD_CTX* p) const noexcept { EVP_MD_CTX_free(p); }
};
struct SigFree {
  void operator()(ECDSA_SIG* p) const noexcept { ECDSA_SIG_free(p); }
};
struct BufFree {
  void operator()(unsigned char* p) const noexcept { OPENSSL_free(p); }
};

// Aborts the test program on an OpenSSL failure in the test's own setup.
inline void require(bool ok) {
  if (!ok) std::abort();
}

inline Bytes to_bytes(std::string_view text) { return Bytes(text.begin(), text.end()); }

inline Digest digest_of(Result<Digest> result) {
  require(result.ok());
  return *result;
}

class TestKey {
 public:
  TestKey() : key_(EVP_EC_gen("P-256")) {
    require(key_ != nullptr);
    unsigned char* raw = nullptr;
    const int len = i2d_PUBKEY(key_.get(), &raw);
    std::unique_ptr<unsigned char, BufFree> der(raw);
    require(len > 0);
    spki_.assign(der.get(), der.get() + len);
  }

  const Bytes& spki() const { return spki_; }

  Bytes sign_der(std::span<const std::uint8_t> message) const {
    std::unique_ptr<EVP_MD_CTX, MdCtxFree> ctx(EVP_MD_CTX_new());
    require(ctx && EVP_DigestSignInit_ex(ctx.get(), nullptr, "SHA256", nullptr, nullptr, key_.get(),
                                         nullptr) == 1);
    std::size_t len = 0;
    require(EVP_DigestSign(ctx.get(), nullptr, &len, message.data(), message.size()) == 1);
    Bytes sig(len);
    require(EVP_DigestSign(ctx.get(), sig.data(), &len, message.data(), message.size()) == 1);
    sig.resize(len);
    return sig;
  }

  Bytes sign_p1363(std::span<const std::uint8_t> message) const {
    const Bytes der = sign_der(message);
    const unsigned char* cursor = der.data();
    std::unique_ptr<ECDSA_SIG, SigFree> sig(d2i_ECDSA_SIG(nullptr, &cursor, static_cast<long>(der.size())));
    require(sig != nullptr);
    Bytes out(64);
    require(BN_bn2binpad(ECDSA_SIG_get0_r(sig.get()), out.data(), 32) == 32);
    require(BN_bn2binpad(ECDSA_SIG_get0_s(sig.get()), out.data() + 32, 32) == 32);
    return out;
  }

 private:
  std::unique_ptr<EVP_PKEY, PkeyFree> key_;
  Bytes spki_;
};

// Everything a software authenticator puts into an assertion; the defaults
// make a valid one for `origin` over `challenge`.
struct AssertionSpec {
  std::string type = "webauthn.get";
  std::string challenge_b64u;
  std::string origin = "https://approve.example.com";
  std::string rp_id = "approve.example.com";
  std::string extra_json;  // appended inside the object, e.g. ,"crossOrigin":true
  bool cross_origin_member = true;
  std::uint8_t flags = kFlagUserPresent | kFlagUserVerified;
  std::uint32_t counter = 1;
};

struct BuiltAssertion {
  Bytes authenticator_data;
  Bytes client_data_json;
  Bytes signature;
  AssertionParts parts() const { return {authenticator_data, client_data_json, signature}; }
};

inline std::string client_data_json(const AssertionSpec& spec) {
  std::string json = R"({"type":")" + spec.type + R"(","challenge":")" + spec.challenge_b64u +
                     R"(","origin":")" + spec.origin + '"';
  if (spec.cross_origin_member) json += R"(,"crossOrigin":false)";
  json += spec.extra_json + "}";
  return json;
}

inline Bytes authenticator_data(const AssertionSpec& spec) {
  const Digest rp_hash = digest_of(sha256(as_bytes(spec.rp_id)));
  Bytes data(rp_hash.begin(), rp_hash.end());
  data.push_back(spec.flags);
  for (int shift = 24; shift >= 0; shift -= 8) data.push_back(static_cast<std::uint8_t>(spec.counter >> shift));
  return data;
}

// Signs authenticatorData || SHA-256(clientDataJSON) as an authenticator does.
inline Bytes sign_assertion(const TestKey& key, const Bytes& auth_data, const Bytes& client_json) {
  const Digest client_hash = digest_of(sha256(client_json));
  Bytes signed_data = auth_data;
  signed_data.insert(signed_data.end(), client_hash.begin(), client_hash.end());
  return key.sign_der(signed_data);
}

inline BuiltAssertion make_assertion(const TestKey& key, const AssertionSpec& spec) {
  BuiltAssertion out;
  out.authenticator_data = authenticator_data(spec);
  out.client_data_json = to_bytes(client_data_json(spec));
  out.signature = sign_assertion(key, out.authenticator_data, out.client_data_json);
  return out;
}

}  // namespace twostep::push::test
