// Interim implementation of the seam over OpenSSL 3, until the pure push
// functions of twostep::core land (branch push-crypto); then each function
// here becomes a call into the core.
#include "relay_crypto.hpp"

#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include <cstdlib>
#include <memory>
#include <nlohmann/json.hpp>

namespace twostep::relay::crypto {
namespace {

constexpr char kAlphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

int b64u_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '-') return 62;
  if (c == '_') return 63;
  return -1;
}

const unsigned char* bytes(std::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

struct PkeyFree { void operator()(EVP_PKEY* p) const noexcept { EVP_PKEY_free(p); } };
struct MdCtxFree { void operator()(EVP_MD_CTX* p) const noexcept { EVP_MD_CTX_free(p); } };
struct SigFree { void operator()(ECDSA_SIG* p) const noexcept { ECDSA_SIG_free(p); } };
struct BnFree { void operator()(BIGNUM* p) const noexcept { BN_free(p); } };

std::unique_ptr<EVP_PKEY, PkeyFree> parse_p256(std::string_view spki) {
  const unsigned char* p = bytes(spki);
  std::unique_ptr<EVP_PKEY, PkeyFree> key(d2i_PUBKEY(nullptr, &p, static_cast<long>(spki.size())));
  if (!key || p != bytes(spki) + spki.size()) return nullptr;
  if (EVP_PKEY_get_base_id(key.get()) != EVP_PKEY_EC) return nullptr;
  char group[64] = {};
  size_t len = 0;
  if (EVP_PKEY_get_utf8_string_param(key.get(), "group", group, sizeof group, &len) != 1) {
    return nullptr;
  }
  if (std::string_view(group, len) != "prime256v1") return nullptr;
  return key;
}

}  // namespace

std::string b64u_encode(std::string_view in) {
  std::string out;
  out.reserve((in.size() * 4 + 2) / 3);
  std::size_t i = 0;
  for (; i + 3 <= in.size(); i += 3) {
    const unsigned v = static_cast<unsigned>(static_cast<unsigned char>(in[i])) << 16 |
                       static_cast<unsigned>(static_cast<unsigned char>(in[i + 1])) << 8 |
                       static_cast<unsigned char>(in[i + 2]);
    out += kAlphabet[v >> 18 & 63];
    out += kAlphabet[v >> 12 & 63];
    out += kAlphabet[v >> 6 & 63];
    out += kAlphabet[v & 63];
  }
  const std::size_t rest = in.size() - i;
  if (rest == 1) {
    const unsigned v = static_cast<unsigned>(static_cast<unsigned char>(in[i])) << 16;
    out += kAlphabet[v >> 18 & 63];
    out += kAlphabet[v >> 12 & 63];
  } else if (rest == 2) {
    const unsigned v = static_cast<unsigned>(static_cast<unsigned char>(in[i])) << 16 |
                       static_cast<unsigned>(static_cast<unsigned char>(in[i + 1])) << 8;
    out += kAlphabet[v >> 18 & 63];
    out += kAlphabet[v >> 12 & 63];
    out += kAlphabet[v >> 6 & 63];
  }
  return out;
}

std::optional<std::string> b64u_decode(std::string_view in) {
  if (in.size() % 4 == 1) return std::nullopt;
  std::string out;
  out.reserve(in.size() * 3 / 4);
  unsigned acc = 0;
  int bits = 0;
  for (char c : in) {
    const int v = b64u_value(c);
    if (v < 0) return std::nullopt;
    acc = (acc << 6) | static_cast<unsigned>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xff);
    }
  }
  // The leftover bits must be zero (one encoding per byte string).
  if (bits > 0 && (acc & ((1u << bits) - 1)) != 0) return std::nullopt;
  return out;
}

std::string sha256(std::string_view in) {
  unsigned char md[32];
  unsigned int len = 0;
  EVP_Digest(in.data(), in.size(), md, &len, EVP_sha256(), nullptr);
  return std::string(reinterpret_cast<char*>(md), 32);
}

std::string hex_lower(std::string_view in) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  out.reserve(in.size() * 2);
  for (char ch : in) {
    const auto c = static_cast<unsigned char>(ch);
    out += digits[c >> 4];
    out += digits[c & 15];
  }
  return out;
}

std::string random_bytes(std::size_t count) {
  std::string out(count, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(count)) != 1) {
    std::abort();  // no randomness, no identifiers: nothing safe to do
  }
  return out;
}

std::string random_id() { return b64u_encode(random_bytes(16)); }

std::string canonical_request(std::string_view scheme, std::string_view method,
                              std::string_view path, std::string_view query,
                              std::string_view body, std::string_view timestamp,
                              std::string_view nonce, std::string_view principal) {
  std::string out;
  for (std::string_view part : {scheme, method, path, query}) {
    out.append(part);
    out += '\n';
  }
  out += hex_lower(sha256(body));
  for (std::string_view part : {timestamp, nonce, principal}) {
    out += '\n';
    out.append(part);
  }
  return out;
}

std::string hmac_sha256(std::string_view key, std::string_view message) {
  unsigned char md[32];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), bytes(message), message.size(),
       md, &len);
  std::string out(reinterpret_cast<char*>(md), 32);
  OPENSSL_cleanse(md, sizeof md);
  return out;
}

bool verify_host_signature(std::string_view secret, std::string_view canonical,
                           std::string_view signature) {
  const std::string expected = hmac_sha256(secret, canonical);
  return signature.size() == expected.size() &&
         CRYPTO_memcmp(expected.data(), signature.data(), expected.size()) == 0;
}

bool verify_p256_der(std::string_view spki, std::string_view message,
                     std::string_view signature) {
  auto key = parse_p256(spki);
  if (!key) return false;
  std::unique_ptr<EVP_MD_CTX, MdCtxFree> ctx(EVP_MD_CTX_new());
  if (!ctx || EVP_DigestVerifyInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key.get()) != 1) {
    return false;
  }
  return EVP_DigestVerify(ctx.get(), bytes(signature), signature.size(), bytes(message),
                          message.size()) == 1;
}

bool verify_p256_p1363(std::string_view spki, std::string_view message,
                       std::string_view signature) {
  if (signature.size() != 64) return false;
  std::unique_ptr<ECDSA_SIG, SigFree> sig(ECDSA_SIG_new());
  std::unique_ptr<BIGNUM, BnFree> r(BN_bin2bn(bytes(signature), 32, nullptr));
  std::unique_ptr<BIGNUM, BnFree> s(BN_bin2bn(bytes(signature) + 32, 32, nullptr));
  if (!sig || !r || !s || ECDSA_SIG_set0(sig.get(), r.get(), s.get()) != 1) return false;
  r.release();  // owned by sig now
  s.release();
  unsigned char* der = nullptr;
  const int len = i2d_ECDSA_SIG(sig.get(), &der);
  if (len <= 0) return false;
  const bool ok = verify_p256_der(
      spki, message, std::string_view(reinterpret_cast<char*>(der), static_cast<std::size_t>(len)));
  OPENSSL_free(der);
  return ok;
}

bool is_p256_spki(std::string_view spki) { return parse_p256(spki) != nullptr; }

std::string api_key_id(std::string_view api_spki) {
  return b64u_encode(sha256(api_spki).substr(0, 16));
}

const char* to_string(AssertionCheck check) noexcept {
  switch (check) {
    case AssertionCheck::ok: return "ok";
    case AssertionCheck::client_data: return "clientDataJSON is not a webauthn.get object";
    case AssertionCheck::origin: return "clientDataJSON origin is not the approver's";
    case AssertionCheck::challenge: return "clientDataJSON challenge is not 32 bytes";
    case AssertionCheck::rp_id_hash: return "authenticatorData rpIdHash does not match";
    case AssertionCheck::flags: return "authenticatorData lacks UP or UV";
    case AssertionCheck::signature: return "signature does not verify";
  }
  return "?";
}

AssertionCheck check_assertion_early(std::string_view credential_spki,
                                     std::string_view authenticator_data,
                                     std::string_view client_data_json,
                                     std::string_view signature_der,
                                     std::string_view expected_origin) {
  const auto client = nlohmann::json::parse(client_data_json, nullptr, false);
  if (client.is_discarded() || !client.is_object()) return AssertionCheck::client_data;
  const auto type = client.find("type");
  if (type == client.end() || !type->is_string() || *type != "webauthn.get") {
    return AssertionCheck::client_data;
  }
  const auto origin = client.find("origin");
  if (origin == client.end() || !origin->is_string() ||
      origin->get_ref<const std::string&>() != expected_origin) {
    return AssertionCheck::origin;
  }
  const auto challenge = client.find("challenge");
  if (challenge == client.end() || !challenge->is_string()) return AssertionCheck::challenge;
  const auto raw = b64u_decode(challenge->get_ref<const std::string&>());
  if (!raw || raw->size() != 32) return AssertionCheck::challenge;

  // RP ID: the host part of the origin (scheme://host[:port]).
  std::string_view host = expected_origin;
  if (const auto p = host.find("://"); p != std::string_view::npos) host.remove_prefix(p + 3);
  if (const auto p = host.rfind(':'); p != std::string_view::npos) host = host.substr(0, p);
  if (authenticator_data.size() < 37) return AssertionCheck::rp_id_hash;
  if (authenticator_data.substr(0, 32) != sha256(host)) return AssertionCheck::rp_id_hash;
  const auto flags = static_cast<unsigned char>(authenticator_data[32]);
  if ((flags & 0x01) == 0 || (flags & 0x04) == 0) return AssertionCheck::flags;

  std::string signed_data(authenticator_data);
  signed_data += sha256(client_data_json);
  if (!verify_p256_der(credential_spki, signed_data, signature_der)) {
    return AssertionCheck::signature;
  }
  return AssertionCheck::ok;
}

}  // namespace twostep::relay::crypto
