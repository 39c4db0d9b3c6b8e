// otpauth:// URIs as authenticator apps read them.
#include <cstdarg>
#include <cstddef>
#include <csetjmp>
#include <cstdint>
// cmocka 1.1 has no extern "C" guards of its own.
extern "C" {
#include <cmocka.h>
}

#include <string>

#include "twostep/otpauth_uri.hpp"

using namespace twostep;

namespace {

Token rfc_token() {
  Token token;
  token.key = SecretBytes::from_string("12345678901234567890");
  return token;
}

std::string uri_for(const Token& token, UriLabel label) {
  auto uri = build_otpauth_uri(token, label);
  assert_true(uri.ok());
  return std::string(uri->view());
}

void expect_invalid(const Token& token, UriLabel label) {
  auto uri = build_otpauth_uri(token, label);
  assert_false(uri.ok());
  assert_int_equal(uri.error().code, ErrorCode::invalid_argument);
}

void test_percent_encode(void**) {
  assert_string_equal(percent_encode("Zoë Café").c_str(), "Zo%C3%AB%20Caf%C3%A9");
  assert_string_equal(percent_encode("alice@host").c_str(), "alice%40host");
  assert_string_equal(percent_encode("a:b").c_str(), "a%3Ab");
  assert_string_equal(percent_encode("Az09-._~").c_str(), "Az09-._~");
  assert_string_equal(percent_encode("a+b/c?d&e=f%#").c_str(), "a%2Bb%2Fc%3Fd%26e%3Df%25%23");
  assert_string_equal(percent_encode("").c_str(), "");
}

void test_defaults_omitted(void**) {
  assert_string_equal(
      uri_for(rfc_token(), {"ACME Corp", "alice@host"}).c_str(),
      "otpauth://totp/ACME%20Corp:alice%40host?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
      "&issuer=ACME%20Corp");
}

void test_no_issuer(void**) {
  assert_string_equal(uri_for(rfc_token(), {"", "bob"}).c_str(),
                      "otpauth://totp/bob?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
}

void test_non_defaults_present(void**) {
  Token token = rfc_token();
  token.algorithm = HashAlgorithm::sha256;
  token.digits = 8;
  token.period = 60;
  assert_string_equal(uri_for(token, {"Zoë Café", "zoë:admin"}).c_str(),
                      "otpauth://totp/Zo%C3%AB%20Caf%C3%A9:zo%C3%AB%3Aadmin"
                      "?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Zo%C3%AB%20Caf%C3%A9"
                      "&algorithm=SHA256&digits=8&period=60");
  token.algorithm = HashAlgorithm::sha512;
  token.digits = 7;
  token.period = 30;
  assert_string_equal(uri_for(token, {"", "x"}).c_str(),
                      "otpauth://totp/x?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
                      "&algorithm=SHA512&digits=7");
}

void test_hotp(void**) {
  Token token = rfc_token();
  token.kind = TokenKind::hotp;
  token.counter = 42;
  token.period = 60;  // meaningless for HOTP, never written
  assert_string_equal(uri_for(token, {"Host", "carol"}).c_str(),
                      "otpauth://hotp/Host:carol?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
                      "&issuer=Host&counter=42");
  token.counter = 0;
  assert_string_equal(uri_for(token, {"", "carol"}).c_str(),
                      "otpauth://hotp/carol?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&counter=0");
}

void test_rejects_bad_input(void**) {
  expect_invalid(rfc_token(), {"Issuer", ""});
  expect_invalid(rfc_token(), {"Issuer", "ali\nce"});
  expect_invalid(rfc_token(), {"Iss\x01uer", "alice"});
  expect_invalid(rfc_token(), {"Issuer", "alice\x7f"});
  expect_invalid(Token{}, {"Issuer", "alice"});  // no key
  Token bad_digits = rfc_token();
  bad_digits.digits = 9;
  expect_invalid(bad_digits, {"", "alice"});
  Token bad_period = rfc_token();
  bad_period.period = 0;
  expect_invalid(bad_period, {"", "alice"});
}

}  // namespace

int main() {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_percent_encode),
      cmocka_unit_test(test_defaults_omitted),
      cmocka_unit_test(test_no_issuer),
      cmocka_unit_test(test_non_defaults_present),
      cmocka_unit_test(test_hotp),
      cmocka_unit_test(test_rejects_bad_input),
  };
  return cmocka_run_group_tests(tests, nullptr, nullptr);
}
