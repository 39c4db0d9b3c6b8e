// SecretBytes: ownership, explicit copies, growth; constant-time compare; CSPRNG.
#include <cstdarg>
#include <cstddef>
#include <csetjmp>
#include <cstdint>
// cmocka 1.1 has no extern "C" guards of its own.
extern "C" {
#include <cmocka.h>
}

#include <string>
#include <utility>

#include "twostep/secret.hpp"

using namespace twostep;

namespace {

void test_constructors(void**) {
  SecretBytes empty;
  assert_true(empty.empty());
  assert_int_equal(empty.size(), 0);
  assert_true(empty.view().empty());

  SecretBytes zeros(5);
  assert_int_equal(zeros.size(), 5);
  for (std::size_t i = 0; i < zeros.size(); ++i) assert_int_equal(zeros.data()[i], 0);

  const std::uint8_t raw[] = {1, 2, 3};
  SecretBytes copied(raw, sizeof raw);
  assert_int_equal(copied.size(), 3);
  assert_int_equal(copied.data()[2], 3);

  auto text = SecretBytes::from_string("seed");
  assert_string_equal(std::string(text.view()).c_str(), "seed");
}

void test_move_leaves_source_empty(void**) {
  auto original = SecretBytes::from_string("top secret");
  const std::uint8_t* storage = original.data();
  SecretBytes moved(std::move(original));
  assert_true(original.empty());             // NOLINT(bugprone-use-after-move)
  assert_null(original.data());              // NOLINT
  assert_ptr_equal(moved.data(), storage);   // the buffer itself moved, no copy
  assert_string_equal(std::string(moved.view()).c_str(), "top secret");

  auto other = SecretBytes::from_string("x");
  other = std::move(moved);
  assert_true(moved.empty());                // NOLINT
  assert_string_equal(std::string(other.view()).c_str(), "top secret");

  SecretBytes& alias = other;
  other = std::move(alias);  // self-move keeps the contents
  assert_string_equal(std::string(other.view()).c_str(), "top secret");
}

void test_clone_is_independent(void**) {
  auto original = SecretBytes::from_string("abc");
  SecretBytes copy = original.clone();
  assert_ptr_not_equal(copy.data(), original.data());
  copy.data()[0] = 'z';
  assert_string_equal(std::string(original.view()).c_str(), "abc");
  assert_string_equal(std::string(copy.view()).c_str(), "zbc");
  SecretBytes none;
  assert_true(none.clone().empty());
}

void test_append_grows(void**) {
  SecretBytes buffer;
  std::string expected;
  for (int i = 0; i < 200; ++i) {
    const char c = static_cast<char>('a' + i % 26);
    if (i % 2 == 0) {
      buffer.append(static_cast<std::uint8_t>(c));
    } else {
      buffer.append(std::string_view(&c, 1));
    }
    expected.push_back(c);
  }
  buffer.append(std::string_view{});
  buffer.append(std::string(1000, 'Q'));
  expected += std::string(1000, 'Q');
  assert_int_equal(buffer.size(), expected.size());
  assert_true(buffer.view() == expected);

  buffer.clear();
  assert_true(buffer.empty());
  assert_null(buffer.data());
  buffer.append("again");
  assert_string_equal(std::string(buffer.view()).c_str(), "again");
}

void test_constant_time_equal(void**) {
  assert_true(constant_time_equal(std::string_view("123456"), std::string_view("123456")));
  assert_false(constant_time_equal(std::string_view("123456"), std::string_view("123457")));
  assert_false(constant_time_equal(std::string_view("123456"), std::string_view("12345")));
  assert_true(constant_time_equal(std::string_view(), std::string_view()));
  const std::uint8_t a[] = {1, 2, 3};
  const std::uint8_t b[] = {1, 2, 4};
  assert_true(constant_time_equal(std::span<const std::uint8_t>(a), std::span<const std::uint8_t>(a)));
  assert_false(constant_time_equal(std::span<const std::uint8_t>(a), std::span<const std::uint8_t>(b)));
}

void test_wipe(void**) {
  std::uint8_t buffer[4] = {9, 9, 9, 9};
  wipe(buffer, sizeof buffer);
  for (const auto byte : buffer) assert_int_equal(byte, 0);
  wipe(nullptr, 0);  // tolerated
}

void test_random_secret(void**) {
  auto a = random_secret(20);
  auto b = random_secret(20);
  assert_true(a.ok());
  assert_true(b.ok());
  assert_int_equal(a->size(), 20);
  // 2^-160 chance of a false failure.
  assert_false(constant_time_equal(a->span(), b->span()));
  auto zero = random_secret(0);
  assert_false(zero.ok());
  assert_int_equal(zero.error().code, ErrorCode::invalid_argument);
}

void test_error_code_names(void**) {
  assert_string_equal(to_string(ErrorCode::invalid_argument), "invalid_argument");
  assert_string_equal(to_string(ErrorCode::too_large), "too_large");
  assert_string_equal(to_string(ErrorCode::lock_timeout), "lock_timeout");
  assert_string_equal(to_string(ErrorCode::cancelled), "cancelled");
}

}  // namespace

int main() {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_constructors),
      cmocka_unit_test(test_move_leaves_source_empty),
      cmocka_unit_test(test_clone_is_independent),
      cmocka_unit_test(test_append_grows),
      cmocka_unit_test(test_constant_time_equal),
      cmocka_unit_test(test_wipe),
      cmocka_unit_test(test_random_secret),
      cmocka_unit_test(test_error_code_names),
  };
  return cmocka_run_group_tests(tests, nullptr, nullptr);
}
