// HOTP/TOTP known answers (RFC 4226 Appendix D, RFC 6238 Appendix B) and the
// small helpers around them.
#include <cstdarg>
#include <cstddef>
#include <csetjmp>
#include <cstdint>
// cmocka 1.1 has no extern "C" guards of its own.
extern "C" {
#include <cmocka.h>
}

#include <string>

#include "twostep/otp.hpp"

using namespace twostep;

namespace {

const SecretBytes& sha1_key() {
  static const SecretBytes key = SecretBytes::from_string("12345678901234567890");
  return key;
}
const SecretBytes& sha256_key() {
  static const SecretBytes key = SecretBytes::from_string("12345678901234567890123456789012");
  return key;
}
const SecretBytes& sha512_key() {
  static const SecretBytes key = SecretBytes::from_string(
      "1234567890123456789012345678901234567890123456789012345678901234");
  return key;
}

std::string code_string(std::uint32_t code, unsigned digits) {
  return std::string(format_code(code, digits).view());
}

void test_rfc4226_hotp_vectors(void**) {
  const std::uint32_t expected[] = {755224, 287082, 359152, 969429, 338314,
                                    254676, 287922, 162583, 399871, 520489};
  assert_int_equal(sha1_key().size(), 20);
  for (std::uint64_t counter = 0; counter < 10; ++counter) {
    auto code = hotp(sha1_key().span(), counter, 6, HashAlgorithm::sha1);
    assert_true(code.ok());
    assert_int_equal(*code, expected[counter]);
  }
}

struct TotpRow {
  std::int64_t time;
  const char* sha1;
  const char* sha256;
  const char* sha512;
};

constexpr TotpRow kRfc6238[] = {
    {59, "94287082", "46119246", "90693936"},
    {1111111109, "07081804", "68084774", "25091201"},
    {1111111111, "14050471", "67062674", "99943326"},
    {1234567890, "89005924", "91819424", "93441116"},
    {2000000000, "69279037", "90698825", "38618901"},
    {20000000000, "65353130", "77737706", "47863826"},
};

std::string totp_at(const SecretBytes& key, HashAlgorithm algorithm, std::int64_t time) {
  auto code = hotp(key.span(), totp_step(time, 30), 8, algorithm);
  assert_true(code.ok());
  return code_string(*code, 8);
}

void test_rfc6238_totp_sha1(void**) {
  for (const auto& row : kRfc6238) {
    assert_string_equal(totp_at(sha1_key(), HashAlgorithm::sha1, row.time).c_str(), row.sha1);
  }
}

void test_rfc6238_totp_sha256(void**) {
  assert_int_equal(sha256_key().size(), 32);
  for (const auto& row : kRfc6238) {
    assert_string_equal(totp_at(sha256_key(), HashAlgorithm::sha256, row.time).c_str(),
                        row.sha256);
  }
}

void test_rfc6238_totp_sha512(void**) {
  assert_int_equal(sha512_key().size(), 64);
  for (const auto& row : kRfc6238) {
    assert_string_equal(totp_at(sha512_key(), HashAlgorithm::sha512, row.time).c_str(),
                        row.sha512);
  }
}

void test_hotp_rejects_bad_arguments(void**) {
  auto five = hotp(sha1_key().span(), 0, 5, HashAlgorithm::sha1);
  assert_false(five.ok());
  assert_int_equal(five.error().code, ErrorCode::invalid_argument);
  auto nine = hotp(sha1_key().span(), 0, 9, HashAlgorithm::sha1);
  assert_false(nine.ok());
  assert_int_equal(nine.error().code, ErrorCode::invalid_argument);
  auto empty = hotp({}, 0, 6, HashAlgorithm::sha1);
  assert_false(empty.ok());
  assert_int_equal(empty.error().code, ErrorCode::invalid_argument);
  // 7 and 8 digits are the same truncation modulo a different power of ten.
  auto seven = hotp(sha1_key().span(), 0, 7, HashAlgorithm::sha1);
  assert_true(seven.ok());
  assert_int_equal(*seven % 1000000, 755224);
}

void test_totp_step(void**) {
  assert_int_equal(totp_step(0, 30), 0);
  assert_int_equal(totp_step(29, 30), 0);
  assert_int_equal(totp_step(30, 30), 1);
  assert_int_equal(totp_step(59, 30), 1);
  assert_int_equal(totp_step(1111111109, 30), 37037036);
  // Beyond 2038 and beyond 32-bit step counts.
  assert_int_equal(totp_step(20000000000, 30), 666666666);
  assert_true(totp_step(INT64_MAX, 1) == static_cast<std::uint64_t>(INT64_MAX));
  // Before t0 and zero period: total, step 0.
  assert_int_equal(totp_step(-100, 30), 0);
  assert_int_equal(totp_step(100, 30, 200), 0);
  assert_int_equal(totp_step(100, 0), 0);
  assert_int_equal(totp_step(260, 30, 200), 2);
  assert_true(totp_step(INT64_MAX, 1, INT64_MIN) == UINT64_MAX);
}

void test_format_code_pads_with_zeros(void**) {
  assert_string_equal(code_string(7081804, 8).c_str(), "07081804");
  assert_string_equal(code_string(42, 6).c_str(), "000042");
  assert_string_equal(code_string(0, 6).c_str(), "000000");
  assert_string_equal(code_string(1234567, 7).c_str(), "1234567");
}

void test_parse_typed_code(void**) {
  auto plain = parse_typed_code("123456");
  assert_true(plain.has_value());
  assert_int_equal(plain->value, 123456);
  assert_int_equal(plain->digits, 6);

  auto spaced = parse_typed_code(" 012 345\t\n");
  assert_true(spaced.has_value());
  assert_int_equal(spaced->value, 12345);
  assert_int_equal(spaced->digits, 6);  // the leading zero is significant

  auto eight = parse_typed_code("0708 1804");
  assert_true(eight.has_value());
  assert_int_equal(eight->value, 7081804);
  assert_int_equal(eight->digits, 8);

  assert_false(parse_typed_code("").has_value());
  assert_false(parse_typed_code("     ").has_value());
  assert_false(parse_typed_code("12345").has_value());
  assert_false(parse_typed_code("123456789").has_value());
  assert_false(parse_typed_code("12345a").has_value());
  assert_false(parse_typed_code("12-34-56").has_value());
  assert_false(parse_typed_code("+123456").has_value());
  assert_false(parse_typed_code("１２３４５６").has_value());  // full-width digits
  assert_false(parse_typed_code(std::string("123\0" "456", 7)).has_value());

  // At most kMaxTypedCode characters are looked at, even if only spaces.
  const std::string padded = std::string(kMaxTypedCode - 6, ' ') + "123456";
  assert_true(parse_typed_code(padded).has_value());
  assert_false(parse_typed_code(" " + padded).has_value());
}

void test_hash_algorithm_names(void**) {
  assert_string_equal(to_string(HashAlgorithm::sha1), "SHA1");
  assert_string_equal(to_string(HashAlgorithm::sha256), "SHA256");
  assert_string_equal(to_string(HashAlgorithm::sha512), "SHA512");
  assert_true(parse_hash_algorithm("sha256") == HashAlgorithm::sha256);
  assert_true(parse_hash_algorithm("Sha512") == HashAlgorithm::sha512);
  assert_true(parse_hash_algorithm("SHA1") == HashAlgorithm::sha1);
  assert_false(parse_hash_algorithm("MD5").has_value());
  assert_false(parse_hash_algorithm("SHA-1").has_value());
  assert_false(parse_hash_algorithm("").has_value());
}

}  // namespace

int main() {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_rfc4226_hotp_vectors),
      cmocka_unit_test(test_rfc6238_totp_sha1),
      cmocka_unit_test(test_rfc6238_totp_sha256),
      cmocka_unit_test(test_rfc6238_totp_sha512),
      cmocka_unit_test(test_hotp_rejects_bad_arguments),
      cmocka_unit_test(test_totp_step),
      cmocka_unit_test(test_format_code_pads_with_zeros),
      cmocka_unit_test(test_parse_typed_code),
      cmocka_unit_test(test_hash_algorithm_names),
  };
  return cmocka_run_group_tests(tests, nullptr, nullptr);
}
