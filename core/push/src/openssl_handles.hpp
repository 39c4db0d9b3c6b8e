// Internal: one owning smart pointer per OpenSSL handle type used by the push
// protocol code, so no path frees by hand. Not part of the public API.
#pragma once

#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/evp.h>

#include <memory>

namespace twostep::push::ossl {

template <typename T>
struct Deleter;

template <>
struct Deleter<EVP_MAC> {
  void operator()(EVP_MAC* p) const noexcept { EVP_MAC_free(p); }
};
template <>
struct Deleter<EVP_MAC_CTX> {
  void operator()(EVP_MAC_CTX* p) const noexcept { EVP_MAC_CTX_free(p); }
};
template <>
struct Deleter<EVP_MD_CTX> {
  void operator()(EVP_MD_CTX* p) const noexcept { EVP_MD_CTX_free(p); }
};
template <>
struct Deleter<EVP_PKEY> {
  void operator()(EVP_PKEY* p) const noexcept { EVP_PKEY_free(p); }
};
template <>
struct Deleter<EVP_PKEY_CTX> {
  void operator()(EVP_PKEY_CTX* p) const noexcept { EVP_PKEY_CTX_free(p); }
};
template <>
struct Deleter<ECDSA_SIG> {
  void operator()(ECDSA_SIG* p) const noexcept { ECDSA_SIG_free(p); }
};
template <>
struct Deleter<BIGNUM> {
  void operator()(BIGNUM* p) const noexcept { BN_free(p); }
};
// Buffers that OpenSSL allocated for us (i2d_* output).
struct OpensslFree {
  void operator()(unsigned char* p) const noexcept { OPENSSL_free(p); }
};

template <typename T>
using Ptr = std::unique_ptr<T, Deleter<T>>;
using Buffer = std::unique_ptr<unsigned char, OpensslFree>;

}  // namespace twostep::push::ossl
