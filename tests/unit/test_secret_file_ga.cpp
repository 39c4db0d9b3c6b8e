// ~/.google_authenticator files: real files made by google-authenticator(1)
// load, and come back byte-identical except for the lines twostep changed.
// <fstream> before cmocka.h: cmocka defines a fail() macro.
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <ctime>

#include "twostep/base32.hpp"
#include "twostep/otp.hpp"
#include "twostep/policy.hpp"
#include "twostep/secret_file.hpp"
#include "twostep/secret_store.hpp"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
extern "C" {
#include <cmocka.h>
}

#include "secret_file_checks.hpp"

using namespace twostep;
using namespace twostep::testing;

namespace {

// Fixtures written by `google-authenticator -t -d -f -r 3 -R 30 -w 3 -e 5`,
// `-c -f -r 3 -R 30 -w 5 -e 3` and `-t -D -f -u -w 17 -S 60 -e 2`.
std::string fixture(const char* name) {
  std::ifstream in(std::string(TWOSTEP_TEST_DATA_DIR) + "/" + name, std::ios::binary);
  assert_true(in.good());
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

SecretDocument parse_ok(std::string_view text) {
  return expect_parsed(parse_google_authenticator(text));
}

std::string first_line(const std::string& text) { return text.substr(0, text.find('\n')); }

void test_totp_fixture(void**) {
  const std::string text = fixture("ga_totp.txt");
  const SecretDocument doc = parse_ok(text);
  const Enrollment& e = doc.enrollment;
  assert_int_equal(static_cast<int>(doc.format),
                   static_cast<int>(FileFormat::google_authenticator));
  assert_int_equal(e.tokens.size(), 1);
  const Token& t = e.tokens[0];
  assert_string_equal(t.name.c_str(), "google-authenticator");
  assert_int_equal(static_cast<int>(t.kind), static_cast<int>(TokenKind::totp));
  assert_int_equal(static_cast<int>(t.algorithm), static_cast<int>(HashAlgorithm::sha1));
  assert_int_equal(t.digits, 6);
  assert_int_equal(t.period, 30);
  assert_int_equal(t.key.size(), 16);
  auto key = base32_decode(first_line(text));
  assert_true(key.ok());
  assert_memory_equal(t.key.data(), key->data(), 16);
  assert_false(t.last_step.has_value());
  assert_int_equal(e.window, 1);
  assert_true(e.replay_protection);
  assert_true(doc.ga_had_disallow_reuse);
  assert_int_equal(e.rate_limit.max_failures, 3);
  assert_int_equal(e.rate_limit.interval_s, 30);
  assert_int_equal(e.rate_limit.failures.size(), 0);
  assert_int_equal(e.backup_codes.size(), 5);
  for (const auto& code : e.backup_codes) {
    assert_true(code.hash.empty());
    assert_int_equal(code.plain.size(), 8);
  }
  assert_string_equal(serialize_ok(doc).c_str(), text.c_str());
}

void test_hotp_fixture(void**) {
  const std::string text = fixture("ga_hotp.txt");
  const SecretDocument doc = parse_ok(text);
  const Token& t = doc.enrollment.tokens[0];
  assert_int_equal(static_cast<int>(t.kind), static_cast<int>(TokenKind::hotp));
  assert_int_equal(t.counter, 1);
  assert_int_equal(doc.enrollment.window, 2);  // WINDOW_SIZE 5
  assert_false(doc.ga_had_disallow_reuse);
  assert_int_equal(doc.enrollment.backup_codes.size(), 3);
  assert_string_equal(serialize_ok(doc).c_str(), text.c_str());

  SecretDocument used = parse_ok(text);
  used.enrollment.tokens[0].counter = 4;
  assert_string_equal(serialize_ok(used).c_str(),
                      replaced(text, "\" HOTP_COUNTER 1\n", "\" HOTP_COUNTER 4\n").c_str());
}

void test_reuse_allowed_fixture(void**) {
  const std::string text = fixture("ga_totp_reuse_allowed.txt");
  SecretDocument doc = parse_ok(text);
  assert_int_equal(doc.enrollment.window, 8);  // WINDOW_SIZE 17
  assert_int_equal(doc.enrollment.tokens[0].period, 60);
  assert_int_equal(doc.enrollment.rate_limit.max_failures, 0);
  assert_false(doc.ga_had_disallow_reuse);
  assert_true(doc.enrollment.replay_protection);  // twostep enforces the floor anyway
  assert_string_equal(serialize_ok(doc).c_str(), text.c_str());

  // The first accepted code adds DISALLOW_REUSE after the last option line.
  doc.enrollment.tokens[0].last_step = 29000000;
  const std::string expected =
      replaced(text, "\" TOTP_AUTH\n", "\" TOTP_AUTH\n\" DISALLOW_REUSE 29000000\n");
  const std::string written = serialize_ok(doc);
  assert_string_equal(written.c_str(), expected.c_str());
  const SecretDocument back = parse_ok(written);
  assert_true(back.ga_had_disallow_reuse);
  assert_int_equal(*back.enrollment.tokens[0].last_step, 29000000);
}

// DISALLOW_REUSE keeps the used steps still inside the window of the newest
// one, as pam_google_authenticator does (WINDOW_SIZE 3 here).
void test_disallow_reuse_history(void**) {
  const std::string text = fixture("ga_totp.txt");
  SecretDocument doc = parse_ok(text);
  doc.enrollment.tokens[0].last_step = 56666666;
  std::string step1 = serialize_ok(doc);
  assert_string_equal(step1.c_str(), replaced(text, "\" DISALLOW_REUSE\n",
                                              "\" DISALLOW_REUSE 56666666\n").c_str());
  SecretDocument doc2 = parse_ok(step1);
  doc2.enrollment.tokens[0].last_step = 56666668;
  std::string step2 = serialize_ok(doc2);
  assert_string_equal(step2.c_str(), replaced(text, "\" DISALLOW_REUSE\n",
                                              "\" DISALLOW_REUSE 56666666 56666668\n").c_str());
  SecretDocument doc3 = parse_ok(step2);
  assert_int_equal(*doc3.enrollment.tokens[0].last_step, 56666668);
  doc3.enrollment.tokens[0].last_step = 56666669;  // 56666666 is 3 steps back: dropped
  assert_string_equal(serialize_ok(doc3).c_str(),
                      replaced(text, "\" DISALLOW_REUSE\n",
                               "\" DISALLOW_REUSE 56666668 56666669\n").c_str());
}

void test_scratch_code_used(void**) {
  const std::string text = fixture("ga_totp.txt");
  SecretDocument doc = parse_ok(text);
  const std::string used(doc.enrollment.backup_codes[2].plain.view());
  doc.enrollment.backup_codes.erase(doc.enrollment.backup_codes.begin() + 2);
  assert_string_equal(serialize_ok(doc).c_str(), replaced(text, used + "\n", "").c_str());
}

void test_rate_limit_and_skew(void**) {
  const std::string text = fixture("ga_totp.txt");
  SecretDocument doc = parse_ok(text);
  doc.enrollment.rate_limit.failures = {1700000000, 1700000007};
  doc.enrollment.tokens[0].time_skew_steps = -2;
  const std::string expected =
      replaced(replaced(text, "\" RATE_LIMIT 3 30\n", "\" RATE_LIMIT 3 30 1700000000 1700000007\n"),
               "\" TOTP_AUTH\n", "\" TOTP_AUTH\n\" TIME_SKEW -2\n");
  const std::string written = serialize_ok(doc);
  assert_string_equal(written.c_str(), expected.c_str());
  const SecretDocument back = parse_ok(written);
  assert_int_equal(back.enrollment.rate_limit.failures.size(), 2);
  assert_int_equal(back.enrollment.tokens[0].time_skew_steps, -2);
}

// Options twostep does not use, blank lines and options after the scratch
// codes are all kept as they are.
void test_hand_edited_file(void**) {
  const std::string text =
      "JBSWY3DPEHPK3PXP\n"
      "\" RESETTING_TIME_SKEW 1700000000+2 1700000030+2\n"
      "\" WINDOW_SIZE  4\n"
      "\n"
      "12345678\n"
      "\" TOTP_AUTH\n"
      "\"some comment\n"
      "87654321";
  SecretDocument doc = parse_ok(text);
  assert_int_equal(doc.enrollment.window, 1);  // (4 - 1) / 2
  assert_int_equal(doc.enrollment.backup_codes.size(), 2);
  assert_string_equal(serialize_ok(doc).c_str(), text.c_str());
  // The new DISALLOW_REUSE goes after the last '"' line; a last line without
  // '\n' gets one when something follows it.
  doc.enrollment.tokens[0].last_step = 5;
  doc.enrollment.backup_codes.erase(doc.enrollment.backup_codes.begin());
  assert_string_equal(serialize_ok(doc).c_str(),
                      "JBSWY3DPEHPK3PXP\n"
                      "\" RESETTING_TIME_SKEW 1700000000+2 1700000030+2\n"
                      "\" WINDOW_SIZE  4\n"
                      "\n"
                      "\" TOTP_AUTH\n"
                      "\"some comment\n"
                      "\" DISALLOW_REUSE 5\n"
                      "87654321");
}

void test_window_mapping(void**) {
  struct Case {
    const char* size;
    unsigned window;
  };
  for (const Case c : {Case{"1", 0}, Case{"3", 1}, Case{"5", 2}, Case{"17", 8}, Case{"21", 10},
                       Case{"100", 10}}) {
    const SecretDocument doc =
        parse_ok(std::string("JBSWY3DPEHPK3PXP\n\" WINDOW_SIZE ") + c.size + "\n");
    assert_int_equal(doc.enrollment.window, c.window);
  }
  SecretDocument doc = parse_ok("JBSWY3DPEHPK3PXP\n\" TOTP_AUTH\n");
  assert_int_equal(doc.enrollment.window, 1);  // default WINDOW_SIZE 3
  doc.enrollment.window = 4;
  assert_string_equal(serialize_ok(doc).c_str(),
                      "JBSWY3DPEHPK3PXP\n\" TOTP_AUTH\n\" WINDOW_SIZE 9\n");
}

void test_fresh_document(void**) {
  Enrollment e;
  Token token;
  token.key = SecretBytes::from_string("Hello!\xde\xad\xbe\xef");
  e.tokens.push_back(std::move(token));
  e.rate_limit.max_failures = 3;
  e.rate_limit.interval_s = 30;
  for (const char* code : {"12345678", "99999999"}) {
    BackupCode backup;
    backup.plain = SecretBytes::from_string(code);
    e.backup_codes.push_back(std::move(backup));
  }
  const SecretDocument doc = make_document(FileFormat::google_authenticator, std::move(e));
  const std::string text = serialize_ok(doc);
  assert_string_equal(text.c_str(),
                      "JBSWY3DPEHPK3PXP\n"
                      "\" RATE_LIMIT 3 30\n"
                      "\" WINDOW_SIZE 3\n"
                      "\" DISALLOW_REUSE\n"
                      "\" TOTP_AUTH\n"
                      "12345678\n"
                      "99999999\n");
}

void test_serialize_refusals(void**) {
  const std::string text = fixture("ga_totp.txt");
  {
    SecretDocument doc = parse_ok(text);
    doc.enrollment.tokens[0].algorithm = HashAlgorithm::sha256;
    assert_false(serialize_secret_document(doc).ok());
  }
  {
    SecretDocument doc = parse_ok(text);
    doc.enrollment.tokens[0].digits = 8;
    assert_false(serialize_secret_document(doc).ok());
  }
  {
    SecretDocument doc = parse_ok(text);
    doc.enrollment.tokens.push_back(doc.enrollment.tokens[0].clone());
    assert_false(serialize_secret_document(doc).ok());
  }
  {
    // pam_google_authenticator stops reading scratch codes at "0...".
    SecretDocument doc = parse_ok(text);
    doc.enrollment.backup_codes[0].plain = SecretBytes::from_string("01234567");
    auto out = serialize_secret_document(doc);
    assert_false(out.ok());
    assert_int_equal(static_cast<int>(out.error().code),
                     static_cast<int>(ErrorCode::invalid_argument));
  }
  {
    SecretDocument doc = parse_ok(text);
    doc.enrollment.tokens[0].period = 90;  // STEP_SIZE is 1..60 for GA
    assert_false(serialize_secret_document(doc).ok());
  }
}

// pam_google_authenticator refuses HOTP_COUNTER 0, so twostep never writes it.
void test_hotp_counter_zero_refused(void**) {
  SecretDocument doc = parse_ok(fixture("ga_hotp.txt"));
  doc.enrollment.tokens[0].counter = 0;
  auto out = serialize_secret_document(doc);
  assert_false(out.ok());
  assert_int_equal(static_cast<int>(out.error().code),
                   static_cast<int>(ErrorCode::invalid_argument));
  const auto fresh = [](std::uint64_t counter) {
    Enrollment e;
    Token token;
    token.kind = TokenKind::hotp;
    token.counter = counter;
    token.key = SecretBytes::from_string("12345678901234567890");
    e.tokens.push_back(std::move(token));
    return make_document(FileFormat::google_authenticator, std::move(e));
  };
  assert_false(serialize_secret_document(fresh(0)).ok());
  // Read the same way: a file that says 0 never worked with the module.
  auto zero = parse_google_authenticator("JBSWY3DPEHPK3PXP\n\" HOTP_COUNTER 0\n");
  assert_false(zero.ok());
  assert_string_equal(zero.error().message.c_str(), "line 2: HOTP_COUNTER must be at least 1");
  assert_true(serialize_ok(fresh(1)).find("\" HOTP_COUNTER 1\n") != std::string::npos);
}

// grace_period= state: pam_google_authenticator's `" LASTn <rhost> <time>`.
void test_last_lines(void**) {
  const std::string text = "JBSWY3DPEHPK3PXP\n\" LAST0 10.0.0.1 1700000000\n"
                           "\" WINDOW_SIZE 3\n\" LAST2 not%valid 5\n\" TOTP_AUTH\n"
                           "\" LAST3 host.example 1700000100\n12345678\n";
  SecretDocument doc = parse_ok(text);
  auto& logins = doc.enrollment.recent_logins;
  assert_int_equal(logins.size(), 2);
  assert_string_equal(logins[0].rhost.c_str(), "10.0.0.1");
  assert_int_equal(logins[1].time, 1700000100);
  assert_string_equal(serialize_ok(doc).c_str(), text.c_str());

  assert_true(within_grace_period(doc.enrollment, "10.0.0.1", 1700000050, 3600));
  assert_false(within_grace_period(doc.enrollment, "10.0.0.1", 1700003600, 3600));
  assert_false(within_grace_period(doc.enrollment, "10.0.0.1", 1699999999, 3600));  // future
  assert_false(within_grace_period(doc.enrollment, "10.0.0.2", 1700000050, 3600));
  assert_false(within_grace_period(doc.enrollment, "10.0.0.1", 1700000050, 0));

  // A known host is rewritten in place; a new one takes the lowest free slot
  // (LAST2 holds a line twostep keeps), after the last option line.
  assert_true(record_recent_login(doc.enrollment, "10.0.0.1", 1700000200));
  assert_true(record_recent_login(doc.enrollment, "fe80::1", 1700000300));
  assert_false(record_recent_login(doc.enrollment, "bad host", 1700000300));
  assert_false(record_recent_login(doc.enrollment, "a\nb", 1700000300));
  const std::string updated = serialize_ok(doc);
  assert_string_equal(updated.c_str(),
                      "JBSWY3DPEHPK3PXP\n\" LAST0 10.0.0.1 1700000200\n"
                      "\" WINDOW_SIZE 3\n\" LAST2 not%valid 5\n\" TOTP_AUTH\n"
                      "\" LAST3 host.example 1700000100\n\" LAST1 fe80::1 1700000300\n"
                      "12345678\n");

  // Ten hosts at most: the oldest gives up its slot to the newcomer.
  SecretDocument full = parse_ok(updated);
  for (int i = 0; i < 10; ++i) {
    assert_true(record_recent_login(full.enrollment, "h" + std::to_string(i),
                                    1700001000 + i));
  }
  assert_int_equal(full.enrollment.recent_logins.size(), kMaxRecentLogins);
  const std::string rotated = serialize_ok(full);
  assert_true(rotated.find("host.example") == std::string::npos);
  assert_true(rotated.find("\" LAST2 not%valid 5\n") != std::string::npos);
  const SecretDocument again = parse_ok(rotated);
  assert_int_equal(again.enrollment.recent_logins.size(), 9);  // one slot kept by LAST2
  assert_false(parse_google_authenticator("JBSWY3DPEHPK3PXP\n\" LAST1 a 1\n\" LAST1 b 2\n").ok());

  // A fresh file lists them after the options, in slot order.
  Enrollment fresh;
  Token token;
  token.key = SecretBytes::from_string("12345678901234567890");
  fresh.tokens.push_back(std::move(token));
  assert_true(record_recent_login(fresh, "192.0.2.7", 1700000000));
  const std::string written =
      serialize_ok(make_document(FileFormat::google_authenticator, std::move(fresh)));
  assert_true(written.find("\" TOTP_AUTH\n\" LAST0 192.0.2.7 1700000000\n") != std::string::npos);
}

struct BadCase {
  std::string text;
  ErrorCode code;
  std::string message;
};

void test_malformed_cases(void**) {
  const std::string secret = "JBSWY3DPEHPK3PXP\n";
  std::vector<BadCase> cases = {
      {"", ErrorCode::malformed, "line 1: empty file"},
      {"\n\" TOTP_AUTH\n", ErrorCode::malformed, "line 1: missing secret"},
      {"JBSWY3DP!HPK3PXP\n", ErrorCode::malformed,
       "line 1: secret: base32: invalid character at position 9"},
      {secret + "1234567\n", ErrorCode::malformed,
       "line 2: scratch code must be 8 digits, 10000000..99999999"},
      {secret + "01234567\n", ErrorCode::malformed,
       "line 2: scratch code must be 8 digits, 10000000..99999999"},
      {secret + "123456789\n", ErrorCode::malformed,
       "line 2: scratch code must be 8 digits, 10000000..99999999"},
      {secret + "12345678\nhello\n", ErrorCode::malformed,
       "line 3: neither an option nor a scratch code"},
      {secret + "1234 5678\n", ErrorCode::malformed, "line 2: neither an option nor a scratch code"},
      {secret + "\" WINDOW_SIZE 3\n\" WINDOW_SIZE 5\n", ErrorCode::malformed,
       "line 3: duplicate WINDOW_SIZE"},
      {secret + "\" WINDOW_SIZE 0\n", ErrorCode::malformed, "line 2: WINDOW_SIZE must be 1..100"},
      {secret + "\" WINDOW_SIZE 101\n", ErrorCode::malformed,
       "line 2: WINDOW_SIZE must be 1..100"},
      {secret + "\" STEP_SIZE 61\n", ErrorCode::malformed, "line 2: STEP_SIZE must be 1..60"},
      {secret + "\" RATE_LIMIT 3\n", ErrorCode::malformed,
       "line 2: RATE_LIMIT must be <1..100 attempts> <1..3600 seconds> [times]"},
      {secret + "\" RATE_LIMIT 3 30 17x\n", ErrorCode::malformed,
       "line 2: RATE_LIMIT times must be Unix times"},
      {secret + "\" DISALLOW_REUSE 5 -6\n", ErrorCode::malformed,
       "line 2: DISALLOW_REUSE entries must be time steps"},
      {secret + "\" HOTP_COUNTER\n", ErrorCode::malformed,
       "line 2: HOTP_COUNTER must be an unsigned integer"},
      {secret + "\" TIME_SKEW 1.5\n", ErrorCode::malformed, "line 2: TIME_SKEW must be an integer"},
      {secret + "\" TOTP_AUTH yes\n", ErrorCode::malformed, "line 2: TOTP_AUTH takes no value"},
      {secret + "\" TOTP_AUTH\r\n", ErrorCode::malformed, "line 2: control character in column 12"},
  };
  std::string many = secret;
  for (int i = 0; i < 33; ++i) many += std::to_string(10000000 + i) + "\n";
  cases.push_back({many, ErrorCode::too_large, "line 34: more than 32 scratch codes"});
  for (const auto& c : cases) {
    auto parsed = parse_google_authenticator(c.text);
    if (parsed.ok()) fail_msg("accepted: expected \"%s\"", c.message.c_str());
    if (parsed.error().message != c.message || parsed.error().code != c.code) {
      fail_msg("expected \"%s\" (%s), got \"%s\" (%s)", c.message.c_str(), to_string(c.code),
               parsed.error().message.c_str(), to_string(parsed.error().code));
    }
    assert_true(parsed.error().message.find("JBSW") == std::string::npos);
    assert_true(parsed.error().message.find("1234") == std::string::npos);
  }
}

// ---- compatibility with the real pam_google_authenticator ------------------
// Files twostep wrote are checked by the real module (libpam-google-
// authenticator) run through pamtester under pam_wrapper, and files that
// module rewrote are read back by twostep. Skipped when the tools are missing.

const char* google_authenticator_module() {
  for (const char* path : {"/lib/x86_64-linux-gnu/security/pam_google_authenticator.so",
                           "/usr/lib/x86_64-linux-gnu/security/pam_google_authenticator.so",
                           "/lib/security/pam_google_authenticator.so",
                           "/usr/lib64/security/pam_google_authenticator.so"}) {
    if (::access(path, R_OK) == 0) return path;
  }
  return nullptr;
}

// The module switches to the file's owner (user=root): needs root.
bool pam_tools_present() {
  return ::geteuid() == 0 && google_authenticator_module() != nullptr &&
         ::access("/usr/bin/pamtester", X_OK) == 0 &&
         std::system("ldconfig -p 2>/dev/null | grep -q libpam_wrapper.so") == 0;
}

struct CompatDir {
  std::string path;
  std::string secret;
};

CompatDir make_compat_dir(const char* fixture_name) {
  char name[] = "/tmp/twostep-gacompat-XXXXXX";
  assert_non_null(::mkdtemp(name));
  CompatDir dir{name, std::string(name) + "/google_authenticator"};
  assert_int_equal(::mkdir((dir.path + "/pam.d").c_str(), 0700), 0);
  {
    std::ofstream service(dir.path + "/pam.d/gacompat");
    service << "auth required " << google_authenticator_module() << " secret=" << dir.secret
            << " user=root\n";
  }
  {
    std::ofstream out(dir.secret, std::ios::binary);
    out << fixture(fixture_name);
  }
  assert_int_equal(::chmod(dir.secret.c_str(), 0400), 0);
  return dir;
}

void remove_compat_dir(const CompatDir& dir) {
  assert_int_equal(std::system(("rm -rf '" + dir.path + "'").c_str()), 0);
}

// pam_google_authenticator's verdict on `code`: true for PAM_SUCCESS.
bool google_authenticator_accepts(const CompatDir& dir, const std::string& code) {
  const std::string command = "LD_PRELOAD=libpam_wrapper.so PAM_WRAPPER=1 PAM_WRAPPER_SERVICE_DIR='" +
                              dir.path + "/pam.d' pamtester gacompat root authenticate "
                              ">/dev/null 2>&1";
  FILE* pipe = ::popen(command.c_str(), "w");
  assert_non_null(pipe);
  std::fputs((code + "\n").c_str(), pipe);
  const int status = ::pclose(pipe);
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

std::string current_code(const CompatDir& dir, std::int64_t now) {
  auto read = read_secret_file(dir.secret, {});
  assert_true(read.ok());
  const Token& token = read->enrollment.tokens[0];
  auto value = hotp(token.key.span(), totp_step(now, token.period), 6, HashAlgorithm::sha1);
  assert_true(value.ok());
  return std::string(format_code(*value, 6).view());
}

// twostep verifies `code` and writes the file back; returns the result.
VerifyResult twostep_verify(const CompatDir& dir, const std::string& code, std::int64_t now) {
  VerifyResult result = VerifyResult::malformed;
  const auto status =
      lock_and_update_secret_file(dir.secret, {}, [&](SecretDocument& document) {
        const VerifyOutcome outcome = verify_code(document.enrollment, code, now);
        result = outcome.result;
        return outcome.state_changed ? UpdateDecision::write : UpdateDecision::keep;
      });
  if (!status) fail_msg("update failed: %s", status.error().message.c_str());
  return result;
}

// A file without DISALLOW_REUSE: twostep adds the line when it accepts a
// code, and pam_google_authenticator then refuses that code too.
void test_ga_honours_twostep_replay_floor(void**) {
  if (!pam_tools_present()) skip();
  const CompatDir dir = make_compat_dir("ga_totp_reuse_allowed.txt");
  const std::int64_t now = std::time(nullptr);
  const std::string code = current_code(dir, now);
  assert_int_equal(static_cast<int>(twostep_verify(dir, code, now)),
                   static_cast<int>(VerifyResult::accepted));
  assert_true(fixture("ga_totp_reuse_allowed.txt").find("DISALLOW_REUSE") == std::string::npos);
  auto written = read_secret_file(dir.secret, {});
  assert_true(written.ok() && written->ga_had_disallow_reuse);
  assert_false(google_authenticator_accepts(dir, code));

  // A scratch code twostep left in place still works there, and the file
  // pam_google_authenticator rewrote loads in twostep without that code.
  const std::string scratch(written->enrollment.backup_codes[1].plain.view());
  assert_true(google_authenticator_accepts(dir, scratch));
  auto after = read_secret_file(dir.secret, {});
  assert_true(after.ok());
  assert_int_equal(after->enrollment.backup_codes.size(), 1);
  remove_compat_dir(dir);
}

// A scratch code used through twostep is gone for pam_google_authenticator;
// the TOTP code it then accepts is refused by twostep as a replay.
void test_ga_and_twostep_share_state(void**) {
  if (!pam_tools_present()) skip();
  const CompatDir dir = make_compat_dir("ga_totp.txt");
  const std::int64_t now = std::time(nullptr);
  auto before = read_secret_file(dir.secret, {});
  assert_true(before.ok());
  const std::string scratch(before->enrollment.backup_codes[0].plain.view());
  assert_int_equal(static_cast<int>(twostep_verify(dir, scratch, now)),
                   static_cast<int>(VerifyResult::accepted));
  assert_false(google_authenticator_accepts(dir, scratch));

  const std::string code = current_code(dir, std::time(nullptr));
  assert_true(google_authenticator_accepts(dir, code));
  assert_int_equal(static_cast<int>(twostep_verify(dir, code, std::time(nullptr))),
                   static_cast<int>(VerifyResult::replayed));
  remove_compat_dir(dir);
}

// A LAST line twostep wrote lets pam_google_authenticator (grace_period=)
// skip the code for that host, and the line it writes after a login is one
// twostep reads.
bool google_authenticator_grace(const CompatDir& dir, const std::string& answer,
                                const std::string& rhost) {
  {
    std::ofstream service(dir.path + "/pam.d/gagrace");
    service << "auth required " << google_authenticator_module() << " secret=" << dir.secret
            << " user=root grace_period=3600\n";
  }
  const std::string command = "LD_PRELOAD=libpam_wrapper.so PAM_WRAPPER=1 PAM_WRAPPER_SERVICE_DIR='" +
                              dir.path + "/pam.d' pamtester -I rhost=" + rhost +
                              " gagrace root authenticate >/dev/null 2>&1";
  FILE* pipe = ::popen(command.c_str(), "w");
  assert_non_null(pipe);
  std::fputs((answer + "\n").c_str(), pipe);
  const int status = ::pclose(pipe);
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

void test_ga_shares_grace_period(void**) {
  if (!pam_tools_present()) skip();
  const CompatDir dir = make_compat_dir("ga_totp.txt");
  const std::int64_t now = std::time(nullptr);
  auto status = lock_and_update_secret_file(dir.secret, {}, [&](SecretDocument& document) {
    assert_true(record_recent_login(document.enrollment, "192.0.2.10", now));
    return UpdateDecision::write;
  });
  assert_true(status.ok());
  // No code from the recorded host; a wrong one from another host fails.
  assert_true(google_authenticator_grace(dir, "000000", "192.0.2.10"));
  assert_false(google_authenticator_grace(dir, "000000", "192.0.2.11"));
  // pam_google_authenticator records its own login from a new host.
  assert_true(google_authenticator_grace(dir, current_code(dir, std::time(nullptr)), "192.0.2.12"));
  auto after = read_secret_file(dir.secret, {});
  assert_true(after.ok());
  assert_true(within_grace_period(after->enrollment, "192.0.2.12", std::time(nullptr), 3600));
  assert_true(within_grace_period(after->enrollment, "192.0.2.10", std::time(nullptr), 3600));
  remove_compat_dir(dir);
}

}  // namespace

int main() {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_totp_fixture),
      cmocka_unit_test(test_hotp_fixture),
      cmocka_unit_test(test_reuse_allowed_fixture),
      cmocka_unit_test(test_disallow_reuse_history),
      cmocka_unit_test(test_scratch_code_used),
      cmocka_unit_test(test_rate_limit_and_skew),
      cmocka_unit_test(test_hand_edited_file),
      cmocka_unit_test(test_window_mapping),
      cmocka_unit_test(test_fresh_document),
      cmocka_unit_test(test_serialize_refusals),
      cmocka_unit_test(test_malformed_cases),
      cmocka_unit_test(test_ga_honours_twostep_replay_floor),
      cmocka_unit_test(test_ga_and_twostep_share_state),
      cmocka_unit_test(test_hotp_counter_zero_refused),
      cmocka_unit_test(test_last_lines),
      cmocka_unit_test(test_ga_shares_grace_period),
  };
  return cmocka_run_group_tests(tests, nullptr, nullptr);
}
