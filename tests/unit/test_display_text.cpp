// core/text/display_text: what may be shown to people, and what is refused
// or replaced (issue 19 item 9: C1 controls and bidi overrides made a host
// name or an address show reversed; duplicate JSON keys were accepted).
#include <cstdarg>
#include <cstddef>
#include <csetjmp>
#include <cstdint>
#include <string>

extern "C" {
#include <cmocka.h>
}

#include "twostep/display_text.hpp"

using namespace twostep;

namespace {

void expect_problem(const std::string& text, const char* problem) {
  const auto found = display_text_problem(text);
  if (!found || *found != problem) {
    fail_msg("\"%s\": want \"%s\", got \"%s\"", text.c_str(), problem,
             found ? std::string(*found).c_str() : "(none)");
  }
}

void test_text_that_passes(void**) {
  for (const char* ok : {"", "alice", "web1.example.com", "2001:db8::1", "pts/0",
                         "caf\xc3\xa9", "\xe6\x97\xa5\xe6\x9c\xac", "\xf0\x9f\x94\x91 key",
                         "Pixel 8 Pro"}) {
    assert_false(display_text_problem(ok).has_value());
    assert_string_equal(safe_display_text(ok).c_str(), ok);
  }
}

void test_text_that_lies(void**) {
  expect_problem(std::string("a\0b", 3), "a control character");
  expect_problem("a\nb", "a control character");
  expect_problem("\x1b[2J", "a control character");
  expect_problem("a\x7f", "a control character");
  expect_problem("\xc2\x9b" "31m", "a C1 control character");        // U+009B CSI
  expect_problem("\xc2\x85", "a C1 control character");              // U+0085 NEL
  expect_problem("moc.elgoog\xe2\x80\xae", "a bidirectional formatting character");  // U+202E
  expect_problem("\xe2\x81\xa6" "x", "a bidirectional formatting character");        // U+2066
  expect_problem("\xe2\x81\xa9", "a bidirectional formatting character");            // U+2069
  expect_problem("\xe2\x80\x8f", "a bidirectional formatting character");            // U+200F
  expect_problem("\xd8\x9c", "a bidirectional formatting character");                // U+061C
  expect_problem("\xc0\xaf", "invalid UTF-8");       // overlong '/'
  expect_problem("\xed\xa0\x80", "invalid UTF-8");   // a surrogate
  expect_problem("caf\xc3", "invalid UTF-8");        // cut short
  expect_problem("\xff", "invalid UTF-8");
  // The module's replacement: one '?' per code point (or bad byte).
  assert_string_equal(safe_display_text("203.0.113.5\xe2\x80\xae" "evil").c_str(),
                      "203.0.113.5?evil");
  assert_string_equal(safe_display_text("\xc2\x9b" "2J\x1b" "x\xff").c_str(), "?2J?x?");
}

// A command too long for the phone is cut in the middle, visibly, on whole
// code points, and never over the limit; short text is left alone.
void test_cut_visibly(void**) {
  assert_string_equal(cut_display_text("sudo ls", 200).c_str(), "sudo ls");
  const std::string long_command = "sudo /bin/sh -c " + std::string(300, 'x') + " ; rm -rf /tmp/end";
  const std::string cut = cut_display_text(long_command, 200);
  assert_true(cut.size() <= 200);
  assert_true(cut.starts_with("sudo /bin/sh -c xxx"));
  assert_true(cut.ends_with("; rm -rf /tmp/end"));
  assert_true(cut.find(" \xe2\x80\xa6 ") != std::string::npos);  // " … "
  // Multi-byte characters at the cut points stay whole.
  std::string umlauts;
  for (int i = 0; i < 150; ++i) umlauts += "\xc3\xa4";  // U+00E4, 2 bytes each
  for (std::size_t limit : {16u, 17u, 50u, 51u, 200u}) {
    const std::string c = cut_display_text(umlauts, limit);
    assert_true(c.size() <= limit);
    assert_false(display_text_problem(c).has_value());
  }
}

void test_duplicate_json_keys(void**) {
  assert_false(json_has_duplicate_keys(R"({"a":1,"b":2})"));
  assert_true(json_has_duplicate_keys(R"({"status":"denied","status":"approved"})"));
  assert_true(json_has_duplicate_keys(R"({"x":{"k":1,"k":2}})"));
  assert_true(json_has_duplicate_keys(R"([{"k":1},{"k":2,"k":3}])"));
  assert_false(json_has_duplicate_keys(R"([{"k":1},{"k":2}])"));  // one key per object
  assert_false(json_has_duplicate_keys(R"({"a":{"k":1},"b":{"k":1}})"));
  assert_false(json_has_duplicate_keys("not json"));
}

}  // namespace

int main() {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_text_that_passes),
      cmocka_unit_test(test_text_that_lies),
      cmocka_unit_test(test_cut_visibly),
      cmocka_unit_test(test_duplicate_json_keys),
  };
  return cmocka_run_group_tests(tests, nullptr, nullptr);
}
