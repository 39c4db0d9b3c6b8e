#include "twostep/otp.hpp"

#include "twostep/otp_generator.hpp"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include <array>
#include <memory>

namespace twostep {
namespace {

// Wipes a stack buffer holding a MAC when it goes out of scope.
template <std::size_t N>
struct WipedArray {
  std::array<std::uint8_t, N> bytes{};
  WipedArray() = default;
  WipedArray(const WipedArray&) = delete;
  WipedArray& operator=(const WipedArray&) = delete;
  ~WipedArray() { wipe(bytes.data(), bytes.size()); }
};

constexpr std::uint32_t kPowersOfTen[] = {1,      10,      100,      1000,      10000,
                                          100000, 1000000, 10000000, 100000000, 1000000000};

char ascii_upper(char c) { return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c; }

bool equals_ignore_case(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (ascii_upper(a[i]) != ascii_upper(b[i])) return false;
  }
  return true;
}

bool is_ascii_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

// RFC 4226 5.3 dynamic truncation.
std::uint32_t truncate_mac(std::span<const std::uint8_t> mac) {
  const std::size_t offset = mac[mac.size() - 1] & 0x0fu;
  return (static_cast<std::uint32_t>(mac[offset] & 0x7fu) << 24) |
         (static_cast<std::uint32_t>(mac[offset + 1]) << 16) |
         (static_cast<std::uint32_t>(mac[offset + 2]) << 8) |
         static_cast<std::uint32_t>(mac[offset + 3]);
}

}  // namespace

const char* to_string(HashAlgorithm algorithm) noexcept {
  switch (algorithm) {
    case HashAlgorithm::sha1: return "SHA1";
    case HashAlgorithm::sha256: return "SHA256";
    case HashAlgorithm::sha512: return "SHA512";
  }
  return "SHA1";
}

std::optional<HashAlgorithm> parse_hash_algorithm(std::string_view name) {
  for (const auto algorithm : {HashAlgorithm::sha1, HashAlgorithm::sha256, HashAlgorithm::sha512}) {
    if (equals_ignore_case(name, to_string(algorithm))) return algorithm;
  }
  return std::nullopt;
}

Result<std::uint32_t> hotp(std::span<const std::uint8_t> key, std::uint64_t counter,
                           unsigned digits, HashAlgorithm algorithm) {
  auto generator = detail::OtpGenerator::create(key, digits, algorithm);
  if (!generator) return generator.error();
  return generator->code(counter);
}

namespace detail {

Result<OtpGenerator> OtpGenerator::create(std::span<const std::uint8_t> key, unsigned digits,
                                          HashAlgorithm algorithm) {
  if (digits < kMinDigits || digits > kMaxDigits) {
    return make_error(ErrorCode::invalid_argument, "digits must be 6..8");
  }
  if (key.empty()) return make_error(ErrorCode::invalid_argument, "empty key");

  EvpMacPtr mac(EVP_MAC_fetch(nullptr, "HMAC", nullptr));
  if (!mac) return make_error(ErrorCode::crypto, "EVP_MAC_fetch(HMAC) failed");
  EvpMacCtxPtr ctx(EVP_MAC_CTX_new(mac.get()));  // holds its own reference to mac
  if (!ctx) return make_error(ErrorCode::crypto, "EVP_MAC_CTX_new failed");

  // OSSL_PARAM wants a non-const char*; OpenSSL only reads it.
  std::array<char, 8> digest_name{};
  const std::string_view name = to_string(algorithm);
  name.copy(digest_name.data(), digest_name.size() - 1);
  const std::array<OSSL_PARAM, 2> params = {
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest_name.data(), 0),
      OSSL_PARAM_construct_end()};
  if (EVP_MAC_init(ctx.get(), key.data(), key.size(), params.data()) != 1) {
    return make_error(ErrorCode::crypto, "EVP_MAC_init failed");
  }
  return OtpGenerator(std::move(ctx), digits);
}

Result<std::uint32_t> OtpGenerator::code(std::uint64_t counter) {
  // A null key re-initialises the context with the key it already holds.
  if (EVP_MAC_init(ctx_.get(), nullptr, 0, nullptr) != 1) {
    return make_error(ErrorCode::crypto, "EVP_MAC_init failed");
  }
  std::array<std::uint8_t, 8> message{};
  for (std::size_t i = 0; i < message.size(); ++i) {
    message[message.size() - 1 - i] = static_cast<std::uint8_t>(counter >> (8 * i));
  }
  if (EVP_MAC_update(ctx_.get(), message.data(), message.size()) != 1) {
    return make_error(ErrorCode::crypto, "EVP_MAC_update failed");
  }
  WipedArray<EVP_MAX_MD_SIZE> out;
  std::size_t out_len = 0;
  if (EVP_MAC_final(ctx_.get(), out.bytes.data(), &out_len, out.bytes.size()) != 1 ||
      out_len < 20 || out_len > out.bytes.size()) {
    return make_error(ErrorCode::crypto, "EVP_MAC_final failed");
  }
  return truncate_mac({out.bytes.data(), out_len}) % kPowersOfTen[digits_];
}

}  // namespace detail

std::uint64_t totp_step(std::int64_t unix_time, std::uint32_t period, std::int64_t t0) {
  if (period == 0 || unix_time <= t0) return 0;
  // Two's-complement subtraction in unsigned space is exact when unix_time > t0,
  // even where the signed difference would overflow.
  const std::uint64_t elapsed = static_cast<std::uint64_t>(unix_time) - static_cast<std::uint64_t>(t0);
  return elapsed / period;
}

SecretBytes format_code(std::uint32_t code, unsigned digits) {
  SecretBytes out(digits);
  for (std::size_t i = digits; i > 0; --i) {
    out.data()[i - 1] = static_cast<std::uint8_t>('0' + code % 10);
    code /= 10;
  }
  return out;
}

std::optional<TypedCode> parse_typed_code(std::string_view typed) {
  if (typed.size() > kMaxTypedCode) return std::nullopt;
  TypedCode parsed;
  for (const char c : typed) {
    if (is_ascii_space(c)) continue;
    if (c < '0' || c > '9') return std::nullopt;
    if (parsed.digits == kMaxDigits) return std::nullopt;
    parsed.value = parsed.value * 10 + static_cast<std::uint64_t>(c - '0');
    ++parsed.digits;
  }
  if (parsed.digits < kMinDigits) return std::nullopt;
  return parsed;
}

}  // namespace twostep
