// The native "twostep-secret 1" format: parsing, strict errors, and writing
// back byte-identical except for the lines whose meaning changed.
#include "push_test_support.hpp"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
extern "C" {
#include <cmocka.h>
}

#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "twostep/base32.hpp"
#include "twostep/policy.hpp"
#include "twostep/secret_file.hpp"
#include "secret_file_checks.hpp"

using namespace twostep;
using namespace twostep::testing;

namespace {

constexpr std::string_view kExample =
    "twostep-secret 1\n"
    "# comment lines and blank lines allowed; kept verbatim on rewrite\n"
    "\n"
    "window 1\n"
    "replay-protection on\n"
    "rate-limit 5 60\n"
    "rate-failures 1700000000 1700000005\n"
    "token name=phone type=totp algorithm=SHA1 digits=6 period=30 secret=JBSWY3DPEHPK3PXP "
    "last-step=56666666\n"
    "token name=spare type=hotp algorithm=SHA1 digits=6 counter=12 "
    "secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\n"
    "backup sha256:00112233445566778899aabbccddeeff:"
    "0000000000000000000000000000000000000000000000000000000000000001\n"
    "backup sha256:00112233445566778899aabbccddeeff:"
    "0000000000000000000000000000000000000000000000000000000000000002\n";

const std::string kHash3 =
    "sha256:ffeeddccbbaa99887766554433221100:"
    "0000000000000000000000000000000000000000000000000000000000000003";

SecretDocument parse_ok(std::string_view text) { return expect_parsed(parse_native(text)); }

void test_example_parses(void**) {
  const SecretDocument doc = parse_ok(kExample);
  const Enrollment& e = doc.enrollment;
  assert_int_equal(static_cast<int>(doc.format), static_cast<int>(FileFormat::native));
  assert_int_equal(e.window, 1);
  assert_true(e.replay_protection);
  assert_int_equal(e.rate_limit.max_failures, 5);
  assert_int_equal(e.rate_limit.interval_s, 60);
  assert_int_equal(e.rate_limit.failures.size(), 2);
  assert_int_equal(e.rate_limit.failures[1], 1700000005);
  assert_int_equal(e.tokens.size(), 2);
  const Token& phone = e.tokens[0];
  assert_string_equal(phone.name.c_str(), "phone");
  assert_int_equal(static_cast<int>(phone.kind), static_cast<int>(TokenKind::totp));
  assert_int_equal(phone.key.size(), 10);
  assert_memory_equal(phone.key.data(), "Hello!\xde\xad\xbe\xef", 10);
  assert_int_equal(phone.period, 30);
  assert_true(phone.last_step.has_value());
  assert_int_equal(*phone.last_step, 56666666);
  const Token& spare = e.tokens[1];
  assert_int_equal(static_cast<int>(spare.kind), static_cast<int>(TokenKind::hotp));
  assert_int_equal(spare.counter, 12);
  assert_int_equal(spare.key.size(), 20);
  assert_false(spare.last_step.has_value());
  assert_int_equal(e.backup_codes.size(), 2);
  assert_true(e.backup_codes[0].hash.ends_with("0001"));
}

void test_defaults(void**) {
  const SecretDocument doc =
      parse_ok("twostep-secret 1\ntoken name=a type=totp secret=JBSWY3DPEHPK3PXP\n");
  const Enrollment& e = doc.enrollment;
  assert_int_equal(e.window, 1);
  assert_true(e.replay_protection);
  assert_int_equal(e.rate_limit.max_failures, 0);
  assert_int_equal(e.tokens[0].digits, 6);
  assert_int_equal(e.tokens[0].period, 30);
  assert_int_equal(static_cast<int>(e.tokens[0].algorithm), static_cast<int>(HashAlgorithm::sha1));
  assert_false(e.tokens[0].last_step.has_value());
}

// Valid files, some written by hand: nothing changed means nothing rewritten.
void test_round_trip_byte_identical(void**) {
  const std::vector<std::string> files = {
      std::string(kExample),
      // no trailing newline, tabs, extra spaces, field order, lower case
      "twostep-secret 1\n"
      "  # indented comment\n"
      "window\t3\n"
      "\t\n"
      "token   secret=jbswy3dpehpk3pxp===  digits=8 name=x.Y_z-1\ttype=totp algorithm=sha256  \n"
      "replay-protection off\n"
      "rate-limit off\n"
      "rate-failures\n"
      "token type=hotp name=h counter=0 secret=JBSW-Y3DP-EHPK-3PXP",
      "twostep-secret 1\n"
      "token name=t type=totp algorithm=SHA512 digits=7 period=60 secret=JBSWY3DPEHPK3PXP "
      "last-step=0 time-skew=-3\n\n\n# trailing comment\n",
  };
  for (const auto& text : files) {
    const SecretDocument doc = parse_ok(text);
    assert_string_equal(serialize_ok(doc).c_str(), text.c_str());
  }
}

void test_last_step_change_rewrites_one_line(void**) {
  SecretDocument doc = parse_ok(kExample);
  doc.enrollment.tokens[0].last_step = 56666670;
  const std::string expected = replaced(kExample, "last-step=56666666", "last-step=56666670");
  assert_string_equal(serialize_ok(doc).c_str(), expected.c_str());
}

// A hand-formatted line that changes is re-rendered canonically; its
// neighbours stay as they were.
void test_changed_line_is_rendered_canonically(void**) {
  const std::string text =
      "twostep-secret 1\n"
      "token  secret=jbswy3dpehpk3pxp type=totp name=a\n"
      "window   2\n";
  SecretDocument doc = parse_ok(text);
  doc.enrollment.tokens[0].last_step = 7;
  const std::string expected =
      "twostep-secret 1\n"
      "token name=a type=totp algorithm=SHA1 digits=6 period=30 secret=JBSWY3DPEHPK3PXP "
      "last-step=7\n"
      "window   2\n";
  assert_string_equal(serialize_ok(doc).c_str(), expected.c_str());
}

void test_rate_failures_added_after_settings(void**) {
  const std::string text =
      "twostep-secret 1\n"
      "rate-limit 3 30\n"
      "# tokens\n"
      "token name=a type=totp secret=JBSWY3DPEHPK3PXP\n";
  SecretDocument doc = parse_ok(text);
  doc.enrollment.rate_limit.failures = {1700000100, 1700000101};
  const std::string expected =
      "twostep-secret 1\n"
      "rate-limit 3 30\n"
      "rate-failures 1700000100 1700000101\n"
      "# tokens\n"
      "token name=a type=totp secret=JBSWY3DPEHPK3PXP\n";
  assert_string_equal(serialize_ok(doc).c_str(), expected.c_str());

  // ... and a file with no settings at all gets them right after the header.
  SecretDocument bare = parse_ok("twostep-secret 1\ntoken name=a type=totp secret=JBSWY3DPEHPK3PXP");
  bare.enrollment.window = 2;
  assert_string_equal(serialize_ok(bare).c_str(),
                      "twostep-secret 1\nwindow 2\ntoken name=a type=totp secret=JBSWY3DPEHPK3PXP");
}

void test_rate_failures_cleared(void**) {
  SecretDocument doc = parse_ok(kExample);
  doc.enrollment.rate_limit.failures.clear();
  const std::string expected =
      replaced(kExample, "rate-failures 1700000000 1700000005\n", "rate-failures\n");
  assert_string_equal(serialize_ok(doc).c_str(), expected.c_str());
}

void test_used_backup_code_line_dropped(void**) {
  SecretDocument doc = parse_ok(kExample);
  doc.enrollment.backup_codes.erase(doc.enrollment.backup_codes.begin());
  const std::string expected = replaced(
      kExample,
      "backup sha256:00112233445566778899aabbccddeeff:"
      "0000000000000000000000000000000000000000000000000000000000000001\n",
      "");
  assert_string_equal(serialize_ok(doc).c_str(), expected.c_str());
}

void test_new_backup_code_appended_after_last(void**) {
  const std::string text = std::string(kExample) + "# end\n";
  SecretDocument doc = parse_ok(text);
  BackupCode code;
  code.hash = kHash3;
  doc.enrollment.backup_codes.push_back(std::move(code));
  const std::string expected = replaced(text, "# end\n", "backup " + kHash3 + "\n# end\n");
  assert_string_equal(serialize_ok(doc).c_str(), expected.c_str());
}

void test_token_added_and_removed(void**) {
  SecretDocument doc = parse_ok(kExample);
  Token laptop;
  laptop.name = "laptop";
  laptop.key = SecretBytes::from_string("12345678901234567890");
  laptop.algorithm = HashAlgorithm::sha256;
  laptop.digits = 8;
  doc.enrollment.tokens.push_back(std::move(laptop));
  const std::string added = serialize_ok(doc);
  const std::string expected_added = replaced(
      kExample, "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\n",
      "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\n"
      "token name=laptop type=totp algorithm=SHA256 digits=8 period=30 "
      "secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\n");
  assert_string_equal(added.c_str(), expected_added.c_str());

  SecretDocument again = parse_ok(added);
  again.enrollment.tokens.erase(again.enrollment.tokens.begin());  // drop "phone"
  const std::string expected_removed = replaced(
      expected_added,
      "token name=phone type=totp algorithm=SHA1 digits=6 period=30 secret=JBSWY3DPEHPK3PXP "
      "last-step=56666666\n",
      "");
  assert_string_equal(serialize_ok(again).c_str(), expected_removed.c_str());
}

void test_fresh_document(void**) {
  Enrollment e;
  Token token;
  token.name = "phone";
  token.key = SecretBytes::from_string("Hello!\xde\xad\xbe\xef");
  e.tokens.push_back(std::move(token));
  BackupCode code;
  code.hash = kHash3;
  e.backup_codes.push_back(std::move(code));
  const SecretDocument doc = make_document(FileFormat::native, std::move(e));
  const std::string text = serialize_ok(doc);
  const std::string expected =
      "twostep-secret 1\n"
      "window 1\n"
      "replay-protection on\n"
      "token name=phone type=totp algorithm=SHA1 digits=6 period=30 "
      "secret=JBSWY3DPEHPK3PXP\n"
      "backup " + kHash3 + "\n";
  assert_string_equal(text.c_str(), expected.c_str());
  // ... and it loads back to the same thing.
  const SecretDocument back = parse_ok(text);
  assert_string_equal(serialize_ok(back).c_str(), expected.c_str());
}

void test_serialize_refuses_what_would_not_load(void**) {
  {
    SecretDocument doc = parse_ok(kExample);
    doc.enrollment.tokens[0].name = "has space";
    auto out = serialize_secret_document(doc);
    assert_false(out.ok());
    assert_int_equal(static_cast<int>(out.error().code), static_cast<int>(ErrorCode::invalid_argument));
  }
  {
    SecretDocument doc = parse_ok(kExample);
    doc.enrollment.tokens[1].name = "phone";  // duplicate
    assert_false(serialize_secret_document(doc).ok());
  }
  {
    SecretDocument doc = parse_ok(kExample);
    doc.enrollment.tokens[0].digits = 9;
    assert_false(serialize_secret_document(doc).ok());
  }
  {
    SecretDocument doc = parse_ok(kExample);
    BackupCode plain;
    plain.plain = SecretBytes::from_string("12345678");
    doc.enrollment.backup_codes.push_back(std::move(plain));
    auto out = serialize_secret_document(doc);
    assert_false(out.ok());
    assert_int_equal(static_cast<int>(out.error().code), static_cast<int>(ErrorCode::invalid_argument));
  }
  {
    SecretDocument doc = parse_ok(kExample);
    doc.enrollment.tokens.clear();
    assert_false(serialize_secret_document(doc).ok());
  }
}

// A writer edits lines by what the parser recorded about them; lines it did
// not parse itself (or parsed as the other format) are refused, never guessed.
void test_serialize_needs_the_parsed_layout(void**) {
  const SecretDocument parsed = parse_ok(kExample);
  {
    SecretDocument copy;
    copy.format = FileFormat::native;
    copy.original_lines = parsed.original_lines;
    copy.enrollment = parse_ok(kExample).enrollment;
    auto out = serialize_secret_document(copy);
    assert_false(out.ok());
    assert_int_equal(static_cast<int>(out.error().code), static_cast<int>(ErrorCode::invalid_argument));
  }
  {
    SecretDocument doc = parse_ok(kExample);
    doc.original_lines.pop_back();  // no longer the lines the layout describes
    assert_false(serialize_secret_document(doc).ok());
  }
  {
    SecretDocument doc = parse_ok(kExample);
    SecretDocument moved = std::move(doc);  // the layout moves with the document
    auto out = serialize_secret_document(moved);
    assert_true(out.ok());
    assert_string_equal(std::string(out->view()).c_str(), std::string(kExample).c_str());
  }
}

struct BadCase {
  std::string text;
  ErrorCode code;
  std::string message;
};

std::string with_header(const std::string& body) { return "twostep-secret 1\n" + body; }

const std::string kToken = "token name=a type=totp secret=JBSWY3DPEHPK3PXP\n";

std::vector<BadCase> bad_cases() {
  std::vector<BadCase> cases = {
      {"", ErrorCode::malformed, "line 1: missing header \"twostep-secret 1\""},
      {"JBSWY3DPEHPK3PXP\n", ErrorCode::malformed, "line 1: missing header \"twostep-secret 1\""},
      {"twostep-secret 3\n" + kToken, ErrorCode::malformed, "line 1: unsupported version"},
      {"twostep-secret 1 \n" + kToken, ErrorCode::malformed, "line 1: unsupported version"},
      {with_header(kToken + "colour red\n"), ErrorCode::malformed, "line 3: unknown keyword"},
      {with_header("JBSWY3DPEHPK3PXP\n" + kToken), ErrorCode::malformed, "line 2: unknown keyword"},
      {with_header("window 1\n" + kToken + "window 2\n"), ErrorCode::malformed,
       "line 4: duplicate window"},
      {with_header("window 11\n" + kToken), ErrorCode::malformed, "line 2: window must be 0..10"},
      {with_header("window -1\n" + kToken), ErrorCode::malformed, "line 2: window must be 0..10"},
      {with_header("window +1\n" + kToken), ErrorCode::malformed, "line 2: window must be 0..10"},
      {with_header("window 1x\n" + kToken), ErrorCode::malformed, "line 2: window must be 0..10"},
      {with_header("replay-protection yes\n" + kToken), ErrorCode::malformed,
       "line 2: replay-protection must be on or off"},
      {with_header("rate-limit 0 60\n" + kToken), ErrorCode::malformed,
       "line 2: rate-limit must be \"off\" or <1..100> <1..86400 seconds>"},
      {with_header("rate-failures 17 -3\n" + kToken), ErrorCode::malformed,
       "line 2: rate-failures: invalid time 2"},
      {with_header("token name=a type=totp digits=9 secret=JBSWY3DPEHPK3PXP\n"),
       ErrorCode::malformed, "line 2: digits must be 6..8"},
      {with_header("token name=a type=totp period=0 secret=JBSWY3DPEHPK3PXP\n"),
       ErrorCode::malformed, "line 2: period must be 1..3600"},
      {with_header("token name=a type=totp secret=JBSW1Y3DPEHPK3PXP\n"), ErrorCode::malformed,
       "line 2: secret: base32: invalid character at position 5"},
      {with_header("token name=a type=totp secret=JBSWY3DPEHPK3PXP colour=red\n"),
       ErrorCode::malformed, "line 2: unknown token field 4"},
      {with_header("token name=a type=totp JBSWY3DPEHPK3PXP\n"), ErrorCode::malformed,
       "line 2: token field 3 is not key=value"},
      {with_header("token name=a name=b type=totp secret=JBSWY3DPEHPK3PXP\n"),
       ErrorCode::malformed, "line 2: duplicate token field name"},
      {with_header("token name=a type=totp\n"), ErrorCode::malformed,
       "line 2: token without secret"},
      {with_header("token name=a type=totp counter=3 secret=JBSWY3DPEHPK3PXP\n"),
       ErrorCode::malformed, "line 2: counter is for hotp tokens only"},
      {with_header("token name=a type=hotp counter=18446744073709551616 "
                   "secret=JBSWY3DPEHPK3PXP\n"),
       ErrorCode::malformed, "line 2: counter must be an unsigned integer"},
      {with_header("token name=a/b type=totp secret=JBSWY3DPEHPK3PXP\n"), ErrorCode::malformed,
       "line 2: token name must be 1..64 of A-Z a-z 0-9 . _ -"},
      {with_header(kToken + kToken), ErrorCode::malformed, "line 3: duplicate token name"},
      {with_header("window 1\n"), ErrorCode::malformed, "line 2: no token line in the file"},
      {with_header(kToken + "backup sha256:00:11\n"), ErrorCode::malformed,
       "line 3: backup must be sha256:<32 hex salt>:<64 hex digest>"},
      {with_header("# a\tb\r\n" + kToken), ErrorCode::malformed,
       "line 2: control character in column 6"},
      {with_header("# " + std::string(2047, 'x') + "\n" + kToken), ErrorCode::too_large,
       "line 2: longer than 2048 bytes"},
  };
  std::string many_lines = with_header(kToken);
  for (int i = 0; i < 255; ++i) many_lines += "#\n";
  cases.push_back({many_lines, ErrorCode::too_large, "line 257: more than 256 lines"});
  std::string many_tokens = "twostep-secret 1\n";
  for (int i = 0; i < 9; ++i) {
    many_tokens += "token name=t" + std::to_string(i) + " type=totp secret=JBSWY3DPEHPK3PXP\n";
  }
  cases.push_back({many_tokens, ErrorCode::too_large, "line 10: more than 8 tokens"});
  std::string big = with_header(kToken);
  for (int i = 0; i < 70; ++i) big += "# " + std::string(1000, 'x') + "\n";
  // 17 + 47 bytes, then 1003 per comment line: line 68 ends at 66262 > 65536.
  cases.push_back({big, ErrorCode::too_large, "line 68: file larger than 65536 bytes"});
  std::string many_backups = with_header(kToken);
  for (int i = 0; i < 33; ++i) many_backups += "backup " + kHash3 + "\n";
  cases.push_back({many_backups, ErrorCode::too_large, "line 35: more than 32 backup codes"});
  return cases;
}

void test_malformed_cases(void**) {
  for (const auto& c : bad_cases()) {
    auto parsed = parse_native(c.text);
    if (parsed.ok()) fail_msg("accepted: expected \"%s\"", c.message.c_str());
    if (parsed.error().message != c.message || parsed.error().code != c.code) {
      fail_msg("expected \"%s\" (%s), got \"%s\" (%s)", c.message.c_str(), to_string(c.code),
               parsed.error().message.c_str(), to_string(parsed.error().code));
    }
    // No secret (nor a line that might be one) is ever quoted.
    assert_true(parsed.error().message.find("JBSW") == std::string::npos);
  }
}

// Issuer and label: what the app was given; percent-encoded on the line.
// Files without them (older ones) still load.
void test_issuer_and_label(void**) {
  const SecretDocument old = parse_ok(kExample);
  assert_true(old.enrollment.tokens[0].issuer.empty());
  assert_true(old.enrollment.tokens[0].label.empty());

  SecretDocument doc = parse_ok(kExample);
  doc.enrollment.tokens[0].issuer = "Example Corp";
  doc.enrollment.tokens[0].label = "alice@host 1:ü";
  const std::string written = serialize_ok(doc);
  assert_true(written.find("last-step=56666666 issuer=Example%20Corp "
                           "label=alice@host%201%3A%C3%BC\n") != std::string::npos);
  const SecretDocument back = parse_ok(written);
  assert_string_equal(back.enrollment.tokens[0].issuer.c_str(), "Example Corp");
  assert_string_equal(back.enrollment.tokens[0].label.c_str(), "alice@host 1:ü");
  assert_true(back.enrollment.tokens[1].issuer.empty());
  assert_string_equal(serialize_ok(back).c_str(), written.c_str());

  const std::string token = "token name=p type=totp secret=JBSWY3DPEHPK3PXP ";
  for (const char* bad : {"issuer=%0A", "issuer=%4", "label=%zz", "issuer=",
                          "label=a%09b"}) {
    assert_false(parse_native("twostep-secret 1\n" + token + bad + "\n").ok());
  }
  assert_false(parse_native("twostep-secret 1\n" + token + "issuer=" + std::string(129, 'a') +
                            "\n").ok());
  assert_true(parse_native("twostep-secret 1\n" + token + "issuer=" + std::string(128, 'a') +
                           "\n").ok());
}

// grace_period= state: recent-login lines, matched by host.
void test_recent_logins(void**) {
  SecretDocument doc = parse_ok(kExample);
  assert_true(record_recent_login(doc.enrollment, "192.0.2.1", 1700000000));
  const std::string added = serialize_ok(doc);
  assert_string_equal(added.c_str(),
                      replaced(kExample, "rate-failures 1700000000 1700000005\n",
                               "rate-failures 1700000000 1700000005\n"
                               "recent-login 192.0.2.1 1700000000\n").c_str());
  SecretDocument again = parse_ok(added);
  assert_string_equal(serialize_ok(again).c_str(), added.c_str());
  assert_true(within_grace_period(again.enrollment, "192.0.2.1", 1700000010, 60));
  assert_true(record_recent_login(again.enrollment, "192.0.2.1", 1700000500));
  assert_true(record_recent_login(again.enrollment, "host-b.example", 1700000600));
  assert_string_equal(serialize_ok(again).c_str(),
                      replaced(added, "recent-login 192.0.2.1 1700000000\n",
                               "recent-login 192.0.2.1 1700000500\n"
                               "recent-login host-b.example 1700000600\n").c_str());
  const std::string token = "token name=p type=totp secret=JBSWY3DPEHPK3PXP\n";
  for (const char* bad : {"recent-login a\n", "recent-login a b\n", "recent-login a%b 1\n",
                          "recent-login a 1 2\n", "recent-login a -1\n",
                          "recent-login a 1\nrecent-login a 2\n"}) {
    assert_false(parse_native("twostep-secret 1\n" + std::string(bad) + token).ok());
  }
}

// Per-source rate limiting: the tags of addresses that logged the user in
// are `0@TAG` entries of rate-failures (a failure at time 0 has long expired
// for modules that predate them), first, in order, bounded and unique.
void test_known_sources(void**) {
  SecretDocument doc = parse_ok(kExample);
  doc.enrollment.rate_limit.known_sources = {"3f2a9c01b7de", "c04be21d9a55"};
  const std::string added = serialize_ok(doc);
  assert_string_equal(added.c_str(),
                      replaced(kExample, "rate-failures 1700000000 1700000005\n",
                               "rate-failures 0@3f2a9c01b7de 0@c04be21d9a55 1700000000 "
                               "1700000005\n").c_str());
  SecretDocument again = parse_ok(added);
  assert_int_equal(again.enrollment.rate_limit.known_sources.size(), 2);
  assert_int_equal(again.enrollment.rate_limit.failures.size(), 2);
  assert_string_equal(serialize_ok(again).c_str(), added.c_str());
  // Failures with sources and known sources together, in any order read.
  SecretDocument mixed = parse_ok(with_header("rate-limit 3 30\nrate-failures 1700000000@ab 0@cd\n" +
                                              kToken));
  assert_int_equal(mixed.enrollment.rate_limit.failures.size(), 1);
  assert_string_equal(mixed.enrollment.rate_limit.failure_sources[0].c_str(), "ab");
  assert_string_equal(mixed.enrollment.rate_limit.known_sources[0].c_str(), "cd");
  // A plain 0 is still a (long expired) failure, as before.
  assert_int_equal(parse_ok(with_header("rate-failures 0\n" + kToken))
                       .enrollment.rate_limit.failures.size(),
                   1);
  std::string nine = "rate-failures";
  for (int i = 0; i < 9; ++i) nine += " 0@a" + std::to_string(i);
  for (const std::string& bad : {std::string("rate-failures 0@ab 0@ab\n"), nine + "\n"}) {
    assert_false(parse_native(with_header(bad + kToken)).ok());
  }
}

void test_dispatch(void**) {
  auto native = parse_secret_document(kExample);
  assert_true(native.ok());
  assert_int_equal(static_cast<int>(native->format), static_cast<int>(FileFormat::native));
  auto ga = parse_secret_document("JBSWY3DPEHPK3PXP\n\" TOTP_AUTH\n");
  assert_true(ga.ok());
  assert_int_equal(static_cast<int>(ga->format),
                   static_cast<int>(FileFormat::google_authenticator));
  auto future = parse_secret_document("twostep-secret 9\n");
  assert_false(future.ok());
  assert_string_equal(future.error().message.c_str(), "line 1: unsupported version");
  assert_string_equal(to_string(FileFormat::native), "native");
  assert_string_equal(to_string(FileFormat::google_authenticator), "google-authenticator");
}


// ---- device pins (twostep-secret 2) --------------------------------------------

const std::string kV1Token =
    "token name=phone type=totp algorithm=SHA1 digits=6 period=30 secret=JBSWY3DPEHPK3PXP\n";

Device make_device(const std::string& name, std::size_t id_bytes, std::uint8_t fill) {
  push::test::TestKey key;
  Device d;
  d.name = name;
  d.credential_id.assign(id_bytes, fill);
  d.public_key = key.spki();
  d.origin = "https://approve.example.com";
  d.sign_counter = 7;
  d.added = 1764300000;
  return d;
}

std::string serialize_ok(const SecretDocument& doc) {
  auto out = serialize_secret_document(doc);
  if (!out) fail_msg("serialize: %s", out.error().message.c_str());
  return std::string(out->view());
}

void test_devices_round_trip(void**) {
  SecretDocument doc = parse_ok("twostep-secret 1\n# keep me\n" + kV1Token);
  // A real-world maximum: a 1023-byte credential id still fits one line.
  doc.enrollment.devices.push_back(make_device("Pixel 8 (Anna's)", kMaxCredentialIdBytes, 0xab));
  doc.enrollment.devices.push_back(make_device("yubi", 64, 0x01));
  const std::string text = serialize_ok(doc);
  assert_true(text.starts_with("twostep-secret 2\n# keep me\n"));
  assert_non_null(std::strstr(text.c_str(), "device name=Pixel%208%20%28Anna%27s%29 credential="));
  SecretDocument back = parse_ok(text);
  assert_int_equal(back.enrollment.devices.size(), 2);
  const Device& d = back.enrollment.devices[0];
  assert_string_equal(d.name.c_str(), "Pixel 8 (Anna's)");
  assert_int_equal(d.credential_id.size(), kMaxCredentialIdBytes);
  assert_true(d.public_key == doc.enrollment.devices[0].public_key);
  assert_string_equal(d.origin.c_str(), "https://approve.example.com");
  assert_int_equal(d.sign_counter, 7);
  assert_int_equal(d.added, 1764300000);
  // Unchanged: byte-identical. Counter moves: only that line changes.
  assert_string_equal(serialize_ok(back).c_str(), text.c_str());
  back.enrollment.devices[1].sign_counter = 9;
  const std::string bumped = serialize_ok(back);
  assert_non_null(std::strstr(bumped.c_str(), "counter=9 added="));
  // Removing every device goes back to version 1, so older modules read it.
  back.enrollment.devices.clear();
  const std::string plain = serialize_ok(back);
  assert_string_equal(plain.c_str(), ("twostep-secret 1\n# keep me\n" + kV1Token).c_str());
}

void test_device_errors(void**) {
  SecretDocument doc = parse_ok("twostep-secret 1\n" + kV1Token);
  doc.enrollment.devices.push_back(make_device("phone", 16, 0x02));
  const std::string v2 = serialize_ok(doc);
  const std::size_t at = v2.find("device ");
  const std::string line = v2.substr(at);
  auto with = [&](const std::string& from, const std::string& to) {
    std::string l = line;
    l.replace(l.find(from), from.size(), to);
    return "twostep-secret 2\n" + kV1Token + l;
  };
  struct Case {
    std::string text;
    std::string message;
  };
  const std::vector<Case> cases = {
      {"twostep-secret 1\n" + kV1Token + line,
       "line 3: device lines need the header \"twostep-secret 2\""},
      {"twostep-secret 3\n" + kV1Token, "line 1: unsupported version"},
      {with("origin=https://approve.example.com", "origin=http://approve.example.com"),
       "line 3: device origin must be https://HOST[:PORT]"},
      {with("counter=7", "counter=-1"), "line 3: device counter must be 0..4294967295"},
      {with("counter=7", "counter=4294967296"), "line 3: device counter must be 0..4294967295"},
      {with(" added=1764300000", ""), "line 3: device without added"},
      {with("key=", "key=AA"), "line 3: device key must be b64u of a P-256 SPKI (91 bytes)"},
      {with("credential=", "credential=="), "line 3: device credential must be b64u of 1..1023 bytes"},
      {with("name=phone", "name=phone name=x"), "line 3: duplicate device field name"},
      {with("name=phone", "color=red name=phone"), "line 3: unknown device field 1"},
      {"twostep-secret 2\n" + kV1Token + line + line, "line 4: duplicate device name"},
  };
  for (const Case& c : cases) {
    auto parsed = parse_native(c.text);
    if (parsed) fail_msg("parsed: %s", c.message.c_str());
    assert_string_equal(parsed.error().message.c_str(), c.message.c_str());
  }
  // A version-2 file is not a google-authenticator document, and that writer
  // refuses devices instead of dropping them.
  SecretDocument ga = make_document(FileFormat::google_authenticator, Enrollment{});
  ga.enrollment.tokens.push_back(doc.enrollment.tokens[0].clone());
  ga.enrollment.devices.push_back(make_device("phone", 16, 0x02));
  auto refused = serialize_secret_document(ga);
  assert_false(refused.ok());
  assert_non_null(std::strstr(refused.error().message.c_str(), "convert"));
}

}  // namespace

int main() {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_example_parses),
      cmocka_unit_test(test_defaults),
      cmocka_unit_test(test_round_trip_byte_identical),
      cmocka_unit_test(test_last_step_change_rewrites_one_line),
      cmocka_unit_test(test_changed_line_is_rendered_canonically),
      cmocka_unit_test(test_rate_failures_added_after_settings),
      cmocka_unit_test(test_rate_failures_cleared),
      cmocka_unit_test(test_used_backup_code_line_dropped),
      cmocka_unit_test(test_new_backup_code_appended_after_last),
      cmocka_unit_test(test_token_added_and_removed),
      cmocka_unit_test(test_fresh_document),
      cmocka_unit_test(test_serialize_refuses_what_would_not_load),
      cmocka_unit_test(test_serialize_needs_the_parsed_layout),
      cmocka_unit_test(test_malformed_cases),
      cmocka_unit_test(test_known_sources),
      cmocka_unit_test(test_dispatch),
      cmocka_unit_test(test_issuer_and_label),
      cmocka_unit_test(test_recent_logins),
      cmocka_unit_test(test_devices_round_trip),
      cmocka_unit_test(test_device_errors),
  };
  return cmocka_run_group_tests(tests, nullptr, nullptr);
}
