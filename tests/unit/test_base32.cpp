// RFC 4648 base32 as typed by people and written by authenticator tools.
#include <cstdarg>
#include <cstddef>
#include <csetjmp>
#include <cstdint>
// cmocka 1.1 has no extern "C" guards of its own.
extern "C" {
#include <cmocka.h>
}

#include <cstring>
#include <string>

#include "twostep/base32.hpp"

using namespace twostep;

namespace {

std::string decoded(std::string_view text) {
  auto result = base32_decode(text);
  assert_true(result.ok());
  return std::string(result->view());
}

std::string encoded(std::string_view bytes) {
  const auto* data = reinterpret_cast<const std::uint8_t*>(bytes.data());
  return std::string(base32_encode({data, bytes.size()}).view());
}

void expect_error(std::string_view text, ErrorCode code) {
  auto result = base32_decode(text);
  assert_false(result.ok());
  assert_int_equal(result.error().code, code);
}

void test_rfc4648_vectors(void**) {
  assert_string_equal(encoded("f").c_str(), "MY");
  assert_string_equal(encoded("fo").c_str(), "MZXQ");
  assert_string_equal(encoded("foo").c_str(), "MZXW6");
  assert_string_equal(encoded("foob").c_str(), "MZXW6YQ");
  assert_string_equal(encoded("fooba").c_str(), "MZXW6YTB");
  assert_string_equal(encoded("foobar").c_str(), "MZXW6YTBOI");
  assert_string_equal(encoded("").c_str(), "");
  assert_string_equal(decoded("MZXW6YTBOI").c_str(), "foobar");
  assert_string_equal(decoded("MY======").c_str(), "f");
  assert_string_equal(decoded("MZXW6YQ=").c_str(), "foob");
  assert_string_equal(encoded("12345678901234567890").c_str(),
                      "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
}

void test_lowercase_spaces_dashes(void**) {
  assert_string_equal(decoded("mzxw6ytboi").c_str(), "foobar");
  assert_string_equal(decoded("MzXw 6yTb-oI").c_str(), "foobar");
  assert_string_equal(decoded(" gezd gnbv gy3t qojq gezd gnbv gy3t qojq ").c_str(),
                      "12345678901234567890");
  assert_string_equal(decoded("MZXW-6YTB-OI==  ==").c_str(), "foobar");
}

void test_padding(void**) {
  assert_string_equal(decoded("MZXW6YTBOI======").c_str(), "foobar");
  assert_string_equal(decoded("MZXW6YTBOI=").c_str(), "foobar");  // count not enforced
  auto middle = base32_decode("MZXW=6YTBOI");
  assert_false(middle.ok());
  assert_int_equal(middle.error().code, ErrorCode::malformed);
  assert_string_equal(middle.error().message.c_str(), "base32: data after padding at position 6");
  expect_error("MY==MY==", ErrorCode::malformed);
  expect_error("========", ErrorCode::malformed);  // padding only: empty
}

void test_bad_characters_name_the_position(void**) {
  auto result = base32_decode("MZXW6Y1BOI");  // '1' is not base32
  assert_false(result.ok());
  assert_int_equal(result.error().code, ErrorCode::malformed);
  assert_string_equal(result.error().message.c_str(), "base32: invalid character at position 7");
  // The message never echoes the (secret) input.
  assert_null(strstr(result.error().message.c_str(), "MZXW"));

  expect_error("MZXW6YTBO!", ErrorCode::malformed);
  expect_error("MZXW6YTB0I", ErrorCode::malformed);   // zero
  expect_error("MZXW6YTB8I", ErrorCode::malformed);
  expect_error("MZXW\t6YTBOI", ErrorCode::malformed);  // only space and dash are separators
  expect_error("MZXW6YTB\xc3\x89I", ErrorCode::malformed);
  expect_error(std::string("MZXW\0YTBOI", 10), ErrorCode::malformed);
}

void test_empty_and_impossible_lengths(void**) {
  expect_error("", ErrorCode::malformed);
  expect_error("  - -", ErrorCode::malformed);
  expect_error("M", ErrorCode::malformed);         // 1 mod 8
  expect_error("MZX", ErrorCode::malformed);       // 3 mod 8
  expect_error("MZXW6Y", ErrorCode::malformed);    // 6 mod 8
  expect_error("MZXW6YTBO", ErrorCode::malformed); // 9 = 1 mod 8
  assert_int_equal(decoded("MZ").size(), 1);
  assert_int_equal(decoded("MZXW").size(), 2);
  assert_int_equal(decoded("MZXW6").size(), 3);
  assert_int_equal(decoded("MZXW6YT").size(), 4);
}

void test_size_limit(void**) {
  // kMaxSecretBytes exactly is fine, one more byte is too large.
  const std::string max_bytes(kMaxSecretBytes, 'x');
  const std::string at_limit = encoded(max_bytes);
  assert_int_equal(decoded(at_limit).size(), kMaxSecretBytes);
  const std::string over = encoded(max_bytes + "x");
  expect_error(over, ErrorCode::too_large);
  expect_error(std::string(100000, 'A'), ErrorCode::too_large);
  // Separators do not count towards the limit.
  std::string spaced;
  for (const char c : at_limit) {
    spaced.push_back(c);
    spaced.push_back(' ');
  }
  assert_int_equal(decoded(spaced).size(), kMaxSecretBytes);
}

void test_round_trip_random_lengths(void**) {
  for (std::size_t length = 1; length <= 64; ++length) {
    auto bytes = random_secret(length);
    assert_true(bytes.ok());
    const SecretBytes text = base32_encode(bytes->span());
    assert_int_equal(text.size(), (length * 8 + 4) / 5);
    auto back = base32_decode(text.view());
    assert_true(back.ok());
    assert_int_equal(back->size(), length);
    assert_true(constant_time_equal(back->span(), bytes->span()));
    // Grouped and lower-cased it still decodes to the same bytes.
    std::string grouped(base32_group(text.view()).view());
    for (auto& c : grouped) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
    auto again = base32_decode(grouped);
    assert_true(again.ok());
    assert_true(constant_time_equal(again->span(), bytes->span()));
  }
}

void test_group(void**) {
  assert_string_equal(std::string(base32_group("ABCDEFGHIJ").view()).c_str(), "ABCD EFGH IJ");
  assert_string_equal(std::string(base32_group("ABCDEFGH").view()).c_str(), "ABCD EFGH");
  assert_string_equal(std::string(base32_group("ABCDEF", 3).view()).c_str(), "ABC DEF");
  assert_string_equal(std::string(base32_group("ABCDEF", 0).view()).c_str(), "ABCDEF");
  assert_true(base32_group("").empty());
}

}  // namespace

int main() {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_rfc4648_vectors),
      cmocka_unit_test(test_lowercase_spaces_dashes),
      cmocka_unit_test(test_padding),
      cmocka_unit_test(test_bad_characters_name_the_position),
      cmocka_unit_test(test_empty_and_impossible_lengths),
      cmocka_unit_test(test_size_limit),
      cmocka_unit_test(test_round_trip_random_lengths),
      cmocka_unit_test(test_group),
  };
  return cmocka_run_group_tests(tests, nullptr, nullptr);
}
