// HOTP (RFC 4226) and TOTP (RFC 6238) code generation with OpenSSL 3 EVP_MAC.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "twostep/result.hpp"
#include "twostep/secret.hpp"

namespace twostep {

enum class HashAlgorithm { sha1, sha256, sha512 };

const char* to_string(HashAlgorithm algorithm) noexcept;          // "SHA1" ...
std::optional<HashAlgorithm> parse_hash_algorithm(std::string_view name);  // case-insensitive

inline constexpr unsigned kMinDigits = 6;
inline constexpr unsigned kMaxDigits = 8;
inline constexpr std::uint32_t kMinPeriod = 1;
inline constexpr std::uint32_t kMaxPeriod = 3600;

// HMAC(key, counter) truncated to `digits` decimal digits (6..8).
Result<std::uint32_t> hotp(std::span<const std::uint8_t> key, std::uint64_t counter,
                           unsigned digits, HashAlgorithm algorithm);

// The TOTP time step for a Unix time: floor((unix_time - t0) / period).
// Times before t0 give step 0... callers never pass those in practice; the
// function is total and 64-bit throughout (year 2038 and far beyond).
std::uint64_t totp_step(std::int64_t unix_time, std::uint32_t period, std::int64_t t0 = 0);

// Zero-padded decimal rendering of a code, e.g. 7081804 -> "07081804".
// The returned buffer wipes itself.
SecretBytes format_code(std::uint32_t code, unsigned digits);

// Parses what a user typed: ASCII digits only after whitespace is removed;
// at most kMaxTypedCode characters are looked at. Returns nullopt for anything
// else. Leading zeros are kept significant via `digits_out`.
inline constexpr std::size_t kMaxTypedCode = 64;
struct TypedCode {
  std::uint64_t value = 0;
  unsigned digits = 0;
};
std::optional<TypedCode> parse_typed_code(std::string_view typed);

}  // namespace twostep
