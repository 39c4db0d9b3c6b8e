// What a user types at the code prompt, as parse_typed_code reads it
// (core/otp/src/otp.cpp).
//
// Invariants: accepted only when the input is at most kMaxTypedCode bytes of
// ASCII digits and whitespace with kMinDigits..kMaxDigits (6..8) digits; the value is those digits in
// order (leading zeros counted in `digits`); the digits alone, written back
// with a zero-padded width, parse to the same code.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_check.hpp"
#include "twostep/otp.hpp"

using namespace twostep;

namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view typed(reinterpret_cast<const char*>(data), size);
  const auto parsed = parse_typed_code(typed);
  std::string digits;
  bool only_digits_and_space = true;
  for (const char c : typed) {
    if (c >= '0' && c <= '9') digits += c;
    else if (!is_space(c)) only_digits_and_space = false;
  }
  const bool acceptable = size <= kMaxTypedCode && only_digits_and_space && digits.size() >= kMinDigits &&
                          digits.size() <= kMaxDigits;
  FUZZ_CHECK(parsed.has_value() == acceptable);
  if (!parsed) return 0;
  FUZZ_CHECK(parsed->digits == digits.size());
  std::uint64_t value = 0;
  for (const char c : digits) value = value * 10 + static_cast<std::uint64_t>(c - '0');
  FUZZ_CHECK(parsed->value == value);
  const auto again = parse_typed_code(digits);
  FUZZ_CHECK(again.has_value() && again->value == parsed->value && again->digits == parsed->digits);
  return 0;
}
