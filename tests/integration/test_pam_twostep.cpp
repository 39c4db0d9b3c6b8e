// pam_twostep.so through a real libpam under pam_wrapper: service files are
// generated before the first PAM call, secrets live in a mkdtemp directory,
// the PAM user is the user running the test. Each case asserts the PAM
// return code and, where it matters, what the user was shown, what was
// logged and what the secret file holds afterwards.
#include <fcntl.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdarg>
#include <cstddef>
#include <csetjmp>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <sstream>
#include <string>
#include <vector>

// Neither cmocka 1.1 nor libpamtest has extern "C" guards of its own.
extern "C" {
#include <cmocka.h>
#include <libpamtest.h>
}
#include <security/pam_appl.h>

#include "failure_pacing.hpp"
#include "module_config.hpp"
#include "twostep/otp.hpp"
#include "twostep/policy.hpp"
#include "twostep/secret_file.hpp"

using namespace twostep;
namespace fs = std::filesystem;

namespace {

constexpr std::string_view kKey = "12345678901234567890";            // RFC 4226 key
constexpr std::string_view kKeyBase32 = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";
constexpr const char* kRateLimited = "Too many failed attempts; try again later.";
constexpr const char* kClockHint =
    "Codes keep failing? Check that your phone sets its time automatically.";
constexpr const char* kNoSuchUser = "twostep-no-such-user";

// ---------------------------------------------------------------------------
// Environment shared by all cases.

struct World {
  std::string module;         // built pam_twostep.so
  std::string wrapper_modules;  // pam_wrapper's helper modules
  std::string services;       // PAM_WRAPPER_SERVICE_DIR
  std::string secrets;        // mkdtemp for secret files
  std::string user;           // the current user, the PAM user of most cases
  uid_t uid = 0;
  std::map<std::string, std::vector<std::string>> stacks;  // service -> lines
  // pam_google_authenticator's arguments, read from the installed package;
  // empty (and the table case skipped) when it is not installed.
  std::vector<std::string> ga_arguments;
  std::string ga_skip_reason;
};
World world;

std::string replace_all(std::string text, const std::string& from, const std::string& to) {
  for (auto pos = text.find(from); pos != std::string::npos;
       pos = text.find(from, pos + to.size())) {
    text.replace(pos, from.size(), to);
  }
  return text;
}

std::string case_dir(const std::string& service) { return world.secrets + "/" + service; }

// "auth required @MODULE@ secret=@CASE@/secret" -> a service file line.
// @MODULE@ adds nodelay, so failing cases do not each wait libpam's 2 s
// failure delay; @MODULE_DELAY@ is the module as admins configure it.
std::string expand_line(const std::string& service, const std::string& line) {
  std::string out = replace_all(line, "@MODULE_DELAY@", world.module);
  out = replace_all(out, "@MODULE@", world.module + " nodelay");
  out = replace_all(out, "@WRAP@", world.wrapper_modules);
  return replace_all(out, "@CASE@", case_dir(service));
}

void add_service(const std::string& service, std::vector<std::string> lines) {
  world.stacks[service] = std::move(lines);
}

void add_module_service(const std::string& service, const std::string& args) {
  add_service(service, {"auth required @MODULE@ " + args});
}

void write_services() {
  for (const auto& [service, lines] : world.stacks) {
    std::ofstream out(world.services + "/" + service);
    for (const auto& line : lines) {
      out << expand_line(service, line) << "\n";
    }
    fs::create_directories(case_dir(service));
  }
}

// ---------------------------------------------------------------------------
// Codes and files.

// Avoid starting a case in the last seconds of a TOTP step, so a code
// computed now is still the current one when the module checks it.
void wait_for_fresh_step() {
  const auto now = std::time(nullptr);
  if (now % 30 >= 27) {
    sleep(static_cast<unsigned>(30 - now % 30) + 1);
  }
}

std::uint64_t current_step() { return totp_step(std::time(nullptr), 30); }

std::string code_for_step(std::uint64_t step) {
  const auto key = SecretBytes::from_string(kKey);
  auto code = hotp(key.span(), step, 6, HashAlgorithm::sha1);
  assert_true(code.ok());
  return std::string(format_code(*code, 6).view());
}

std::string current_code(std::int64_t steps_ahead = 0) {
  return code_for_step(current_step() + static_cast<std::uint64_t>(steps_ahead));
}

// A code that is right for no step near now.
std::string wrong_code() {
  const auto step = current_step();
  for (std::uint32_t candidate = 0;; ++candidate) {
    char text[8];
    std::snprintf(text, sizeof text, "%06u", candidate);
    bool used = false;
    for (std::uint64_t s = step - kClockSkewSearchSteps; s <= step + kClockSkewSearchSteps; ++s) {
      used = used || code_for_step(s) == text;
    }
    if (!used) return text;
  }
}

void write_file(const std::string& path, std::string_view content, mode_t mode = 0600) {
  ::unlink(path.c_str());
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  assert_true(fd >= 0);
  assert_int_equal(::write(fd, content.data(), content.size()),
                   static_cast<ssize_t>(content.size()));
  assert_int_equal(::fchmod(fd, mode), 0);
  ::close(fd);
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

struct NativeOptions {
  std::uint32_t max_failures = 0;
  std::size_t backup_codes = 0;
};

// Writes a native file with the RFC key; returns the plain backup codes.
std::vector<std::string> write_native(const std::string& path, NativeOptions options = {},
                                      mode_t mode = 0600) {
  Enrollment enrollment;
  Token token;
  token.key = SecretBytes::from_string(kKey);
  enrollment.tokens.push_back(std::move(token));
  enrollment.rate_limit.max_failures = options.max_failures;
  enrollment.rate_limit.interval_s = options.max_failures != 0 ? 600 : 0;
  std::vector<std::string> plain;
  if (options.backup_codes != 0) {
    auto codes = generate_backup_codes(enrollment, options.backup_codes, false);
    assert_true(codes.ok());
    for (const auto& code : *codes) plain.emplace_back(code.view());
  }
  auto text = serialize_secret_document(make_document(FileFormat::native, std::move(enrollment)));
  assert_true(text.ok());
  write_file(path, text->view(), mode);
  return plain;
}

// A file as google-authenticator writes it (TOTP, reuse disallowed).
std::string ga_file_text() {
  return std::string(kKeyBase32) +
         "\n\" RATE_LIMIT 3 30\n\" WINDOW_SIZE 3\n\" DISALLOW_REUSE\n\" TOTP_AUTH\n"
         "12345678\n87654321\n";
}

SecretDocument parse_file(const std::string& path) {
  auto document = parse_secret_document(read_file(path));
  assert_true(document.ok());
  return std::move(document.value());
}

// ---------------------------------------------------------------------------
// Running a PAM transaction.

struct Transcript {
  int rc = -1;
  std::vector<std::string> answers;   // consumed by prompts, in order
  std::size_t next_answer = 0;
  std::vector<std::pair<int, std::string>> prompts;  // style, text
  std::vector<std::string> errors;
  std::vector<std::string> infos;
  bool libcurl_mapped = false;
  bool maps_checked = false;
  std::string syslog;                 // the module's log lines
  std::string raw_stderr;             // everything written to stderr
  std::optional<std::string> forwarded_authtok;  // PAM_AUTHTOK seen by the next module
};

void check_maps(Transcript& t) {
  std::ifstream maps("/proc/self/maps");
  std::string line;
  while (std::getline(maps, line)) {
    // Neither libcurl, nor libmaxminddb (locations), nor the push client
    // that would bring them.
    t.libcurl_mapped = t.libcurl_mapped || line.find("libcurl") != std::string::npos ||
                       line.find("libmaxminddb") != std::string::npos ||
                       line.find("twostep-push") != std::string::npos;
  }
  t.maps_checked = true;
}

extern "C" int conversation(int count, const struct pam_message** messages,
                            struct pam_response** responses, void* data) {
  auto& t = *static_cast<Transcript*>(data);
  check_maps(t);
  auto* replies = static_cast<pam_response*>(std::calloc(static_cast<std::size_t>(count),
                                                         sizeof(pam_response)));
  if (replies == nullptr) return PAM_BUF_ERR;
  for (int i = 0; i < count; ++i) {
    const auto* message = messages[i];
    const std::string text = message->msg != nullptr ? message->msg : "";
    switch (message->msg_style) {
      case PAM_PROMPT_ECHO_OFF:
      case PAM_PROMPT_ECHO_ON:
        t.prompts.emplace_back(message->msg_style, text);
        if (t.next_answer >= t.answers.size()) {
          std::free(replies);
          return PAM_CONV_ERR;
        }
        replies[i].resp = strdup(t.answers[t.next_answer++].c_str());
        break;
      case PAM_ERROR_MSG: t.errors.push_back(text); break;
      case PAM_TEXT_INFO: t.infos.push_back(text); break;
      default: break;
    }
  }
  *responses = replies;
  return PAM_SUCCESS;
}

// pam_wrapper prints the module's pam_syslog calls to stderr (with
// PAM_WRAPPER_DEBUGLEVEL=3) as "...SYSLOG(<priority>): <line>".
class StderrCapture {
 public:
  StderrCapture() : path_(world.secrets + "/stderr.log") {
    std::fflush(stderr);
    saved_ = ::dup(2);
    const int fd = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    ::dup2(fd, 2);
    ::close(fd);
  }
  ~StderrCapture() { restore(); }
  std::string syslog_lines() {
    restore();
    std::ifstream in(path_);
    std::string line, out;
    raw_.clear();
    while (std::getline(in, line)) {
      raw_ += line + "\n";
      const auto pos = line.find("SYSLOG(");
      if (pos != std::string::npos) out += line.substr(pos) + "\n";
    }
    return out;
  }
  const std::string& raw() const { return raw_; }

 private:
  void restore() {
    if (saved_ >= 0) {
      std::fflush(stderr);
      ::dup2(saved_, 2);
      ::close(saved_);
      saved_ = -1;
    }
  }
  std::string path_;
  std::string raw_;
  int saved_ = -1;
};

// libpamtest keeps the handle (to read what the next module saw in
// PAM_AUTHTOK) only when pam_authenticate returned `expected_rc`; the actual
// code is always in the transcript.
Transcript run_pam(const std::string& service, std::vector<std::string> answers,
                   const std::string& user = world.user, int expected_rc = PAM_SUCCESS,
                   int flags = 0) {
  Transcript t;
  t.answers = std::move(answers);
  struct pam_testcase cases[] = {
      pam_test_flags(PAMTEST_AUTHENTICATE, expected_rc, flags),
      pam_test(PAMTEST_KEEPHANDLE, PAM_SUCCESS),
  };
  StderrCapture capture;
  const auto err = _pamtest_conv(service.c_str(), user.c_str(), conversation, &t, cases, 2,
                                 nullptr);
  t.rc = cases[0].op_rv;
  pam_handle_t* handle = cases[1].case_out.ph;
  if (handle != nullptr) {
    const char* forwarded = pam_getenv(handle, "PAM_AUTHTOK");
    if (forwarded != nullptr) t.forwarded_authtok = forwarded;
    pam_end(handle, t.rc);
  }
  t.syslog = capture.syslog_lines();
  t.raw_stderr = capture.raw();
  if (err != PAMTEST_ERR_OK && err != PAMTEST_ERR_CASE) {
    fail_msg("pamtest: %s", pamtest_strerror(err));
  }
  if (getenv("TWOSTEP_TEST_SHOW_LOG") != nullptr) {
    std::printf("--- %s log:\n%s", service.c_str(), t.syslog.c_str());
  }
  return t;
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

void assert_contains(const std::string& haystack, const std::string& needle) {
  if (!contains(haystack, needle)) {
    fail_msg("expected '%s' in:\n%s", needle.c_str(), haystack.c_str());
  }
}

void assert_lacks(const std::string& haystack, const std::string& needle) {
  if (contains(haystack, needle)) {
    fail_msg("did not expect '%s' in:\n%s", needle.c_str(), haystack.c_str());
  }
}

void assert_one_prompt(const Transcript& t, const char* text, int style = PAM_PROMPT_ECHO_OFF) {
  assert_int_equal(t.prompts.size(), 1);
  assert_int_equal(t.prompts[0].first, style);
  assert_string_equal(t.prompts[0].second.c_str(), text);
}

std::string audit_prefix(const std::string& service, const std::string& user = world.user) {
  return "twostep: user=" + user + " service=" + service;
}

// ---------------------------------------------------------------------------
// Table-driven single-attempt cases.

enum class FileSetup { none, native, native_0644, symlink, hardlink, wrong_owner };
enum class Answer { right, wrong, two_steps_ahead, letters, too_long };

struct SimpleCase {
  const char* service;
  const char* args;          // after the module path; @CASE@ = the case's directory
  FileSetup file;
  Answer answer;
  int expected_rc;
  const char* expected_prompt;  // nullptr: no prompt at all
  int prompt_style;
  const char* expected_log;     // substring of the module's log, or nullptr
  bool root_only = false;
  const char* user = nullptr;   // nullptr: the current user
};

const SimpleCase kSimpleCases[] = {
    {"right_code", "secret=@CASE@/secret", FileSetup::native, Answer::right, PAM_SUCCESS,
     "Verification code: ", PAM_PROMPT_ECHO_OFF, "method=totp result=accepted reason=code_ok"},
    {"per_user_path", "secret=@CASE@/%u", FileSetup::native, Answer::right, PAM_SUCCESS,
     "Verification code: ", PAM_PROMPT_ECHO_OFF, "result=accepted"},
    {"wrong_code", "secret=@CASE@/secret", FileSetup::native, Answer::wrong, PAM_AUTH_ERR,
     "Verification code: ", PAM_PROMPT_ECHO_OFF, "method=none result=rejected reason=wrong_code"},
    {"not_a_code", "secret=@CASE@/secret", FileSetup::native, Answer::letters, PAM_AUTH_ERR,
     "Verification code: ", PAM_PROMPT_ECHO_OFF, "result=malformed"},
    {"overlong_input", "secret=@CASE@/secret", FileSetup::native, Answer::too_long,
     PAM_AUTH_ERR, "Verification code: ", PAM_PROMPT_ECHO_OFF, "reason=input_too_long"},
    {"missing_file", "secret=@CASE@/secret", FileSetup::none, Answer::right, PAM_AUTH_ERR,
     "Verification code: ", PAM_PROMPT_ECHO_OFF, "reason=no_secret_file"},
    {"bad_permissions", "secret=@CASE@/secret", FileSetup::native_0644, Answer::right,
     PAM_AUTH_ERR, "Verification code: ", PAM_PROMPT_ECHO_OFF, "result=error reason=unsafe_file"},
    {"symlink", "secret=@CASE@/secret", FileSetup::symlink, Answer::right, PAM_AUTH_ERR,
     "Verification code: ", PAM_PROMPT_ECHO_OFF, "result=error reason=unsafe_file"},
    {"hard_link", "secret=@CASE@/secret", FileSetup::hardlink, Answer::right, PAM_AUTH_ERR,
     "Verification code: ", PAM_PROMPT_ECHO_OFF, "result=error reason=unsafe_file"},
    {"wrong_owner", "secret=@CASE@/secret", FileSetup::wrong_owner, Answer::right, PAM_AUTH_ERR,
     "Verification code: ", PAM_PROMPT_ECHO_OFF, "result=error reason=unsafe_file", true},
    {"window_default_refuses_skew", "secret=@CASE@/secret", FileSetup::native,
     Answer::two_steps_ahead, PAM_AUTH_ERR, "Verification code: ", PAM_PROMPT_ECHO_OFF,
     "phone clock looks off by about 60 seconds"},
    {"window_argument", "secret=@CASE@/secret window=2", FileSetup::native,
     Answer::two_steps_ahead, PAM_SUCCESS, "Verification code: ", PAM_PROMPT_ECHO_OFF,
     "result=accepted"},
    {"prompt_argument", "secret=@CASE@/secret [prompt=Code please: ]", FileSetup::native,
     Answer::right, PAM_SUCCESS, "Code please: ", PAM_PROMPT_ECHO_OFF, nullptr},
    {"echo_code", "secret=@CASE@/secret echo_verification_code", FileSetup::native, Answer::right,
     PAM_SUCCESS, "Verification code: ", PAM_PROMPT_ECHO_ON, nullptr},
    {"unknown_argument", "secret=@CASE@/secret nulok", FileSetup::native, Answer::right,
     PAM_SERVICE_ERR, nullptr, 0, "bad module arguments: unknown argument: nulok"},
    {"malformed_window", "secret=@CASE@/secret window=eleven", FileSetup::native, Answer::right,
     PAM_SERVICE_ERR, nullptr, 0, "bad module arguments: window="},
    {"unknown_user", "secret=@CASE@/%u", FileSetup::native, Answer::right, PAM_AUTH_ERR,
     "Verification code: ", PAM_PROMPT_ECHO_OFF, "reason=unknown_user", false, kNoSuchUser},
    {"debug", "secret=@CASE@/secret debug", FileSetup::native, Answer::right, PAM_SUCCESS,
     "Verification code: ", PAM_PROMPT_ECHO_OFF, "debug: secret file "},
};

std::string answer_for(Answer answer) {
  switch (answer) {
    case Answer::right: return current_code();
    case Answer::wrong: return wrong_code();
    case Answer::two_steps_ahead: return current_code(2);
    case Answer::letters: return "abcdef";
    case Answer::too_long: return std::string(65, '1');
  }
  return {};
}

// With secret=@CASE@/%u the file is named after the user.
std::string secret_path_of(const SimpleCase& c) {
  return case_dir(c.service) + "/" + (contains(c.args, "%u") ? world.user : "secret");
}

void set_up_file(const SimpleCase& c) {
  const std::string dir = case_dir(c.service);
  const std::string path = secret_path_of(c);
  switch (c.file) {
    case FileSetup::none: break;
    case FileSetup::native: write_native(path); break;
    case FileSetup::native_0644: write_native(path, {}, 0644); break;
    case FileSetup::symlink:
      write_native(dir + "/real");
      assert_int_equal(::symlink((dir + "/real").c_str(), path.c_str()), 0);
      break;
    case FileSetup::hardlink:
      write_native(path);
      assert_int_equal(::link(path.c_str(), (dir + "/second-name").c_str()), 0);
      break;
    case FileSetup::wrong_owner:
      write_native(path);
      assert_int_equal(::chown(path.c_str(), 65534, 65534), 0);
      break;
  }
}

void run_simple_case(void** state) {
  const auto& c = *static_cast<const SimpleCase*>(*state);
  if (c.root_only && ::geteuid() != 0) {
    skip();
  }
  set_up_file(c);
  const std::string path = secret_path_of(c);
  const std::string before = read_file(path);
  wait_for_fresh_step();
  const std::string answer = answer_for(c.answer);
  const std::string user = c.user != nullptr ? c.user : world.user;
  const auto t = run_pam(c.service, {answer}, user);

  assert_int_equal(t.rc, c.expected_rc);
  if (c.expected_prompt != nullptr) {
    assert_one_prompt(t, c.expected_prompt, c.prompt_style);
  } else {
    assert_int_equal(t.prompts.size(), 0);
  }
  assert_int_equal(t.errors.size(), 0);
  if (c.expected_log != nullptr) assert_contains(t.syslog, c.expected_log);
  // The code never reaches the log, whatever happened.
  assert_lacks(t.syslog, answer);
  if (c.expected_rc != PAM_SERVICE_ERR) {
    assert_contains(t.syslog, audit_prefix(c.service, user) + " rhost=- tty=- method=");
  }
  // Only the debug case writes debug lines.
  if (std::string_view(c.service) != "debug") assert_lacks(t.syslog, "debug:");
  // A refused file is never rewritten.
  if (c.expected_rc != PAM_SUCCESS && c.file != FileSetup::native) {
    assert_string_equal(read_file(path).c_str(), before.c_str());
  }
  // An accepted TOTP code moves the replay floor in the file.
  if (c.expected_rc == PAM_SUCCESS) {
    const auto document = parse_file(path);
    assert_true(document.enrollment.tokens[0].last_step.has_value());
  }
}

// ---------------------------------------------------------------------------
// Multi-step cases.

void test_replay_refused(void** /*state*/) {
  const std::string path = case_dir("replay") + "/secret";
  write_native(path);
  wait_for_fresh_step();
  const std::string code = current_code();
  assert_int_equal(run_pam("replay", {code}).rc, PAM_SUCCESS);
  const auto second = run_pam("replay", {code});
  assert_int_equal(second.rc, PAM_AUTH_ERR);
  assert_contains(second.syslog, "result=replayed reason=code_reused");
}

void test_rate_limit(void** /*state*/) {
  const std::string path = case_dir("rate_limit") + "/secret";
  write_native(path, {2, 0});
  wait_for_fresh_step();
  const std::string hint_prompt = std::string(kClockHint) + "\nVerification code: ";
  for (int i = 0; i < 2; ++i) {
    const auto t = run_pam("rate_limit", {wrong_code()});
    assert_int_equal(t.rc, PAM_AUTH_ERR);
    assert_int_equal(t.errors.size(), 0);
    // The first prompt is plain; after a refusal the next one carries the
    // clock hint (messages after the last prompt never reach ssh users).
    assert_one_prompt(t, i == 0 ? "Verification code: " : hint_prompt.c_str());
  }
  assert_int_equal(parse_file(path).enrollment.rate_limit.failures.size(), 2);
  // Even the right code is refused now, and the prompt itself says why:
  // checked before asking, so ssh and sudo users see it.
  const std::string locked_prompt = std::string(kRateLimited) + "\nVerification code: ";
  const auto t = run_pam("rate_limit", {current_code()});
  assert_int_equal(t.rc, PAM_AUTH_ERR);
  assert_one_prompt(t, locked_prompt.c_str());
  assert_int_equal(t.errors.size(), 0);
  assert_contains(t.syslog, "result=rate_limited reason=too_many_failures");
  assert_false(parse_file(path).enrollment.tokens[0].last_step.has_value());
  // PAM_SILENT (sudo): refused the same way; the prompt still says it.
  const auto silent =
      run_pam("rate_limit", {current_code()}, world.user, PAM_AUTH_ERR, PAM_SILENT);
  assert_int_equal(silent.rc, PAM_AUTH_ERR);
  assert_one_prompt(silent, locked_prompt.c_str());
  assert_int_equal(silent.errors.size(), 0);
  assert_contains(silent.syslog, "result=rate_limited");
}

// clock_hint=off: the prompt after a refusal stays plain. log_copy=: every
// log line also goes to stderr or the conversation (no /dev/log needed).
void test_clock_hint_off_and_log_copy(void** /*state*/) {
  write_native(case_dir("hint_off") + "/secret", {5, 0});
  write_native(case_dir("log_copy_stderr") + "/secret");
  write_native(case_dir("log_copy_conversation") + "/secret");
  wait_for_fresh_step();
  for (int i = 0; i < 2; ++i) {
    const auto t = run_pam("hint_off", {wrong_code()});
    assert_int_equal(t.rc, PAM_AUTH_ERR);
    assert_one_prompt(t, "Verification code: ");
  }
  const auto to_stderr = run_pam("log_copy_stderr", {current_code()});
  assert_int_equal(to_stderr.rc, PAM_SUCCESS);
  assert_contains(to_stderr.raw_stderr, "pam_twostep: twostep: user=" + world.user +
                                            " service=log_copy_stderr");
  assert_contains(to_stderr.raw_stderr, "result=accepted reason=code_ok");
  assert_int_equal(to_stderr.infos.size(), 0);
  const auto to_conversation = run_pam("log_copy_conversation", {wrong_code()});
  assert_int_equal(to_conversation.rc, PAM_AUTH_ERR);
  assert_int_equal(to_conversation.infos.size(), 1);
  assert_contains(to_conversation.infos[0], "pam_twostep: twostep: user=" + world.user);
  assert_contains(to_conversation.infos[0], "result=rejected reason=wrong_code");
}

void test_backup_code_works_once(void** /*state*/) {
  const std::string path = case_dir("backup_code") + "/secret";
  const auto codes = write_native(path, {0, 2});
  assert_int_equal(codes.size(), 2);
  const auto first = run_pam("backup_code", {codes[0]});
  assert_int_equal(first.rc, PAM_SUCCESS);
  assert_contains(first.syslog, "method=backup result=accepted");
  assert_lacks(first.syslog, codes[0]);
  assert_int_equal(parse_file(path).enrollment.backup_codes.size(), 1);
  const auto again = run_pam("backup_code", {codes[0]});
  assert_int_equal(again.rc, PAM_AUTH_ERR);
  assert_int_equal(run_pam("backup_code", {codes[1]}).rc, PAM_SUCCESS);
  assert_int_equal(parse_file(path).enrollment.backup_codes.size(), 0);
}

void test_nullok_without_file_is_ignore(void** /*state*/) {
  // Alone in the stack, an ignoring module cannot make authentication succeed.
  const auto alone = run_pam("nullok_alone", {});
  assert_true(alone.rc != PAM_SUCCESS);
  assert_int_equal(alone.prompts.size(), 0);
  assert_contains(alone.syslog, "result=ignored reason=no_secret_file");
  // Followed by pam_permit, the decision is left to it: PAM_IGNORE, not failure.
  const auto stacked = run_pam("nullok_then_permit", {});
  assert_int_equal(stacked.rc, PAM_SUCCESS);
  assert_int_equal(stacked.prompts.size(), 0);
  // The same stack without nullok fails: the module said AUTH_ERR.
  const auto strict = run_pam("no_nullok_then_permit", {"123456"});
  assert_int_equal(strict.rc, PAM_AUTH_ERR);
}

void test_nullok_with_file_still_checks(void** /*state*/) {
  write_native(case_dir("nullok_then_permit_file") + "/secret");
  wait_for_fresh_step();
  assert_int_equal(run_pam("nullok_then_permit_file", {wrong_code()}).rc, PAM_AUTH_ERR);
  assert_int_equal(run_pam("nullok_then_permit_file", {current_code()}).rc, PAM_SUCCESS);
}

void test_google_authenticator_file_updated_in_place(void** /*state*/) {
  const std::string path = case_dir("google_authenticator") + "/secret";
  write_file(path, ga_file_text());
  wait_for_fresh_step();
  const auto step = current_step();
  const auto code = current_code();
  const auto t = run_pam("google_authenticator", {code});
  assert_int_equal(t.rc, PAM_SUCCESS);
  const std::string after = read_file(path);
  // Still a google-authenticator file, secret first, options kept, the
  // accepted step recorded in DISALLOW_REUSE.
  assert_true(after.starts_with(std::string(kKeyBase32) + "\n"));
  assert_contains(after, "\" RATE_LIMIT 3 30");
  assert_contains(after, "\" WINDOW_SIZE 3\n");
  assert_contains(after, "\" TOTP_AUTH\n");
  assert_contains(after, "\" DISALLOW_REUSE " + std::to_string(step));
  assert_contains(after, "\n12345678\n87654321\n");
  assert_int_equal(parse_file(path).format, FileFormat::google_authenticator);
  struct stat info {};
  assert_int_equal(::stat(path.c_str(), &info), 0);
  assert_int_equal(info.st_mode & 07777, 0600);
  // Replay refused; scratch code accepted once and removed from the file.
  assert_int_equal(run_pam("google_authenticator", {code}).rc, PAM_AUTH_ERR);
  assert_int_equal(run_pam("google_authenticator", {"87654321"}).rc, PAM_SUCCESS);
  assert_lacks(read_file(path), "87654321");
  assert_contains(read_file(path), "\n12345678\n");
  assert_int_equal(run_pam("google_authenticator", {"87654321"}).rc, PAM_AUTH_ERR);
}

void test_use_first_pass(void** /*state*/) {
  write_native(case_dir("use_first_pass") + "/secret");
  wait_for_fresh_step();
  setenv("PAM_AUTHTOK", current_code().c_str(), 1);
  const auto t = run_pam("use_first_pass", {});
  unsetenv("PAM_AUTHTOK");
  assert_int_equal(t.rc, PAM_SUCCESS);
  assert_int_equal(t.prompts.size(), 0);
  // No AUTHTOK: fail without asking.
  const auto none = run_pam("use_first_pass", {current_code()});
  assert_int_equal(none.rc, PAM_AUTH_ERR);
  assert_int_equal(none.prompts.size(), 0);
  assert_contains(none.syslog, "reason=no_authtok");
}

void test_try_first_pass(void** /*state*/) {
  write_native(case_dir("try_first_pass") + "/secret");
  wait_for_fresh_step();
  // A code in AUTHTOK is used without asking.
  setenv("PAM_AUTHTOK", current_code().c_str(), 1);
  const auto from_item = run_pam("try_first_pass", {});
  assert_int_equal(from_item.rc, PAM_SUCCESS);
  assert_int_equal(from_item.prompts.size(), 0);
  // A password in AUTHTOK is not a code: ask, and it is not a failure.
  write_native(case_dir("try_first_pass") + "/secret");
  setenv("PAM_AUTHTOK", "hunter2", 1);
  const auto asked = run_pam("try_first_pass", {current_code()});
  unsetenv("PAM_AUTHTOK");
  assert_int_equal(asked.rc, PAM_SUCCESS);
  assert_one_prompt(asked, "Verification code: ");
  assert_int_equal(parse_file(case_dir("try_first_pass") + "/secret")
                       .enrollment.rate_limit.failures.size(), 0);
  // A wrong code in AUTHTOK: the user is asked once more.
  write_native(case_dir("try_first_pass") + "/secret");
  setenv("PAM_AUTHTOK", wrong_code().c_str(), 1);
  const auto retried = run_pam("try_first_pass", {current_code()});
  unsetenv("PAM_AUTHTOK");
  assert_int_equal(retried.rc, PAM_SUCCESS);
  assert_one_prompt(retried, "Verification code: ");
  assert_contains(retried.syslog, "result=rejected reason=wrong_code");
  assert_contains(retried.syslog, "result=accepted reason=code_ok");
}

void test_forward_pass(void** /*state*/) {
  write_native(case_dir("forward_pass") + "/secret");
  wait_for_fresh_step();
  const auto t = run_pam("forward_pass", {"hunter2" + current_code()});
  assert_int_equal(t.rc, PAM_SUCCESS);
  assert_one_prompt(t, "Password & verification code: ");
  assert_true(t.forwarded_authtok.has_value());
  assert_string_equal(t.forwarded_authtok->c_str(), "hunter2");
  // A wrong code fails; the password part is still handed on.
  const auto wrong =
      run_pam("forward_pass", {"s3cret pass" + wrong_code()}, world.user, PAM_AUTH_ERR);
  assert_int_equal(wrong.rc, PAM_AUTH_ERR);
  assert_string_equal(wrong.forwarded_authtok.value_or("").c_str(), "s3cret pass");
}

void test_privilege_drop_to_file_user(void** /*state*/) {
  if (::geteuid() != 0) skip();
  // user=nobody: the file is opened as nobody. A nobody-owned file in a
  // nobody-owned directory works and stays nobody's after the rewrite ...
  const std::string dir = case_dir("file_user") + "/nobody-dir";
  fs::create_directories(dir);
  assert_int_equal(::chmod(case_dir("file_user").c_str(), 0711), 0);
  assert_int_equal(::chown(dir.c_str(), 65534, 65534), 0);
  assert_int_equal(::chmod(dir.c_str(), 0700), 0);
  write_native(dir + "/secret");
  assert_int_equal(::chown((dir + "/secret").c_str(), 65534, 65534), 0);
  wait_for_fresh_step();
  const auto t = run_pam("file_user", {current_code()});
  assert_int_equal(t.rc, PAM_SUCCESS);
  struct stat info {};
  assert_int_equal(::stat((dir + "/secret").c_str(), &info), 0);
  assert_int_equal(info.st_uid, 65534);
  // ... while the same file behind a root-only directory is out of reach:
  // root privileges were not used to open it.
  assert_int_equal(::chown(dir.c_str(), 0, 0), 0);
  const auto denied = run_pam("file_user", {current_code(1)});
  assert_int_equal(denied.rc, PAM_AUTH_ERR);
  assert_contains(denied.syslog, "result=error");
}

// Strict modes through the real module: a secret file's directory that
// others can write fails the login even with nullok (someone could have
// deleted the file); no_strict_modes restores the old behaviour.
void test_strict_modes_with_nullok(void** /*state*/) {
  const std::string dir = case_dir("strict_nullok");
  assert_int_equal(::chmod(dir.c_str(), 0777), 0);
  const auto refused = run_pam("strict_nullok", {"123456"}, world.user, PAM_AUTH_ERR);
  assert_int_equal(refused.rc, PAM_AUTH_ERR);
  assert_contains(refused.syslog, "is writable by group or others");
  assert_contains(refused.syslog, "result=error reason=unsafe_directory");
  assert_int_equal(refused.prompts.size(), 1);  // asked, like any refused user
  // Alone in the stack an ignoring module yields no success; the audit line
  // tells ignored from refused.
  const auto relaxed = run_pam("relaxed_nullok", {}, world.user, PAM_PERM_DENIED);
  assert_contains(relaxed.syslog, "result=ignored reason=no_secret_file");
  assert_int_equal(::chmod(dir.c_str(), 0700), 0);
  const auto fixed = run_pam("strict_nullok", {}, world.user, PAM_PERM_DENIED);
  assert_contains(fixed.syslog, "result=ignored reason=no_secret_file");
}

// What libpam would sleep after a failed pam_authenticate: the application's
// PAM_FAIL_DELAY callback receives it instead of sleeping.
struct DelaySeen {
  int status = -1;
  unsigned int usec = 0;
  bool called = false;
};

void record_delay(int status, unsigned int usec, void* appdata) {
  auto* seen = static_cast<DelaySeen*>(appdata);
  seen->status = status;
  seen->usec = usec;
  seen->called = true;
}

int answer_wrong(int count, const struct pam_message** messages, struct pam_response** replies,
                 void* /*appdata*/) {
  auto* out = static_cast<pam_response*>(std::calloc(static_cast<std::size_t>(count),
                                                     sizeof(pam_response)));
  if (out == nullptr) return PAM_BUF_ERR;
  for (int i = 0; i < count; ++i) {
    if (messages[i]->msg_style == PAM_PROMPT_ECHO_OFF ||
        messages[i]->msg_style == PAM_PROMPT_ECHO_ON) {
      out[i].resp = strdup(wrong_code().c_str());
    }
  }
  *replies = out;
  return PAM_SUCCESS;
}

DelaySeen failure_delay(const std::string& service, const std::string& user) {
  DelaySeen seen;
  const pam_conv conv{answer_wrong, nullptr};
  pam_handle_t* handle = nullptr;
  assert_int_equal(pam_start(service.c_str(), user.c_str(), &conv, &handle), PAM_SUCCESS);
  const void* callback = reinterpret_cast<const void*>(&record_delay);
  assert_int_equal(pam_set_item(handle, PAM_FAIL_DELAY, callback), PAM_SUCCESS);
  // libpam passes the conversation's appdata to the delay callback.
  const pam_conv with_seen{answer_wrong, &seen};
  assert_int_equal(pam_set_item(handle, PAM_CONV, &with_seen), PAM_SUCCESS);
  const int rc = pam_authenticate(handle, 0);
  pam_end(handle, rc);
  assert_int_equal(rc, PAM_AUTH_ERR);
  return seen;
}

// Timing must not tell enrolled users from unknown ones: every failure asks
// libpam for the same (randomized, ~2 s) delay, as pam_unix does, which
// drowns the ~1.5 ms a written failure costs. nodelay turns it off.
void test_failure_delay_for_every_failure(void** /*state*/) {
  write_native(case_dir("fail_delay") + "/" + world.user);
  const auto enrolled = failure_delay("fail_delay", world.user);
  const auto unknown = failure_delay("fail_delay", kNoSuchUser);
  assert_true(enrolled.called);
  assert_true(unknown.called);
  assert_int_equal(enrolled.status, PAM_AUTH_ERR);
  // libpam randomizes the delay by up to a quarter either way.
  assert_true(enrolled.usec >= 1000000);
  assert_true(unknown.usec >= 1000000);
  write_native(case_dir("fail_nodelay") + "/" + world.user);
  assert_int_equal(failure_delay("fail_nodelay", world.user).usec, 0);
}

// ---------------------------------------------------------------------------
// Failure timing (issue 19, item 1): with nodelay an unknown user failed in
// 1.8 ms, an enrolled user without a file in 2.5 ms and one with a wrong code
// in 3.7 ms, so timing told which accounts have a second factor. Now every
// failure takes the user's own minimum time (failure_pacing.hpp), whatever
// the cause. Measured as an attacker would: the cases of one round back to
// back, 20 rounds, medians.

int answer_with(int count, const struct pam_message** messages, struct pam_response** replies,
                void* appdata) {
  const auto* answer = static_cast<const std::string*>(appdata);
  auto* out = static_cast<pam_response*>(std::calloc(static_cast<std::size_t>(count),
                                                     sizeof(pam_response)));
  if (out == nullptr) return PAM_BUF_ERR;
  for (int i = 0; i < count; ++i) {
    if (messages[i]->msg_style == PAM_PROMPT_ECHO_OFF ||
        messages[i]->msg_style == PAM_PROMPT_ECHO_ON) {
      out[i].resp = strdup(answer->c_str());
    }
  }
  *replies = out;
  return PAM_SUCCESS;
}

struct TimedFailure {
  const char* label;
  std::string service;
  std::string user;
};

// Microseconds one failed pam_authenticate took.
double failure_micros(const TimedFailure& c, const std::string& answer) {
  const pam_conv conv{answer_with, const_cast<std::string*>(&answer)};
  pam_handle_t* handle = nullptr;
  assert_int_equal(pam_start(c.service.c_str(), c.user.c_str(), &conv, &handle), PAM_SUCCESS);
  const auto start = std::chrono::steady_clock::now();
  const int rc = pam_authenticate(handle, 0);
  const std::chrono::duration<double, std::micro> took = std::chrono::steady_clock::now() - start;
  pam_end(handle, rc);
  assert_int_equal(rc, PAM_AUTH_ERR);
  return took.count();
}

double median_of(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  const std::size_t mid = values.size() / 2;
  return values.size() % 2 == 1 ? values[mid] : (values[mid - 1] + values[mid]) / 2;
}

void test_failure_time_is_the_same_for_every_cause(void** /*state*/) {
  constexpr std::size_t kRounds = 20;
  // The failure of each case is what an attacker can cause without the code.
  write_native(case_dir("timing_file") + "/secret", {100, 0});  // each failure written
  write_native(case_dir("timing_limited") + "/secret", {1, 0});
  write_file(case_dir("timing_broken") + "/secret", "twostep-secret 1\nwindow 99\n");
  const std::string answer = wrong_code();
  const std::vector<TimedFailure> cases = {
      {"unknown user", "timing_file", kNoSuchUser},
      {"enrolled, no file", "timing_nofile", world.user},
      {"enrolled, wrong code", "timing_file", world.user},
      {"rate limited", "timing_limited", world.user},
      {"malformed file", "timing_broken", world.user},
  };
  (void)failure_micros(cases[3], answer);  // the limit's one failure
  // Each user's own time, from the module key as the module reads it.
  // Rounds rotate the order of the cases, so no case always follows another.
  auto key = twostep::pam::load_module_key();
  const std::span<const std::uint8_t> key_bytes =
      key ? key->span() : std::span<const std::uint8_t>();
  std::vector<std::vector<double>> excess(cases.size());
  for (std::size_t round = 0; round < kRounds; ++round) {
    for (std::size_t k = 0; k < cases.size(); ++k) {
      const auto& c = cases[(k + round) % cases.size()];
      const auto floor = twostep::pam::user_fail_time(key_bytes, c.user,
                                                      twostep::pam::kDefaultFailTimeMs);
      excess[(k + round) % cases.size()].push_back(failure_micros(c, answer) -
                                                   static_cast<double>(floor.count()));
    }
  }
  // Per case: the fastest of its failures over the user's own time. Noise
  // on a busy machine only ever adds time (a late wake-up), so the fastest
  // sample is both what an attacker would compare and a stable statistic.
  std::vector<double> fastest;
  for (std::size_t i = 0; i < cases.size(); ++i) {
    fastest.push_back(*std::min_element(excess[i].begin(), excess[i].end()));
    print_message("%-22s fastest %+.0f us, median %+.0f us over the user's failure time\n",
                  cases[i].label, fastest.back(), median_of(excess[i]));
    if (getenv("TWOSTEP_TEST_SHOW_TIMES") != nullptr) {
      for (const double e : excess[i]) print_message("  %+.0f us\n", e);
    }
  }
  // Every cause takes at least the user's time, and not a multiple of it.
  for (const double e : fastest) {
    assert_true(e >= 0);
    assert_true(e < 20000);
  }
  // And all causes the same time within 2 ms (before: 0.7 to 1.9 ms apart,
  // with no floor at all).
  const auto [low, high] = std::minmax_element(fastest.begin(), fastest.end());
  assert_true(*high - *low < 2000);
}

// Nor libmaxminddb: a location is looked up by the push client only.
void test_totp_login_never_loads_libcurl(void** /*state*/) {
  write_native(case_dir("no_libcurl") + "/secret");
  wait_for_fresh_step();
  const auto t = run_pam("no_libcurl", {current_code()});
  assert_int_equal(t.rc, PAM_SUCCESS);
  assert_true(t.maps_checked);
  assert_false(t.libcurl_mapped);
}

// ---------------------------------------------------------------------------

// ---------------------------------------------------------------------------
// Every argument of the installed pam_google_authenticator, through the
// module: none may end in PAM_SERVICE_ERR (a lockout after a drop-in swap).
// The list is read from the package at test time, not typed here: the
// argument words compiled into the .so, kept when the package's man page
// or README documents them (hyphens read as underscores, so the module's
// "echo-verification-code" spelling is kept, its "nobody" is not).

std::string command_output(const std::string& command) {
  std::string out;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return out;
  char buffer[4096];
  std::size_t got = 0;
  while ((got = std::fread(buffer, 1, sizeof buffer, pipe)) > 0) out.append(buffer, got);
  ::pclose(pipe);
  return out;
}

std::string normalized_argument(std::string word) {
  for (char& c : word) c = c == '-' ? '_' : c;
  return word;
}

bool is_argument_word(const std::string& word) {
  if (word.size() < 4 || word.front() < 'a' || word.front() > 'z') return false;
  for (std::size_t i = 0; i < word.size(); ++i) {
    const char c = word[i];
    const bool ok = (c >= 'a' && c <= 'z') || c == '_' || c == '-' ||
                    (c == '=' && i + 1 == word.size());
    if (!ok) return false;
  }
  return true;
}

// "name" or "name=" for each option the documentation names: the man
// page's SYNOPSIS brackets and the README's "### option" headings.
std::set<std::string> documented_ga_arguments(const std::string& doc_dir) {
  std::set<std::string> names;
  const auto add = [&](std::string item) {
    item = item.substr(item.find_first_not_of(" *"));
    const auto eq = item.find('=');
    std::string name = item.substr(0, std::min(eq, item.find_first_of(" */")));
    if (eq != std::string::npos && eq == name.size()) name += '=';
    if (is_argument_word(name)) names.insert(normalized_argument(name));
  };
  const std::string man =
      command_output("gzip -dc '" + doc_dir + "/pam_google_authenticator.8.md.gz' 2>/dev/null");
  const auto synopsis = man.find("**pam_google_authenticator.so**");
  if (synopsis != std::string::npos) {
    const std::string block = man.substr(synopsis, man.find("\n\n", synopsis) - synopsis);
    for (std::size_t open = block.find('['); open != std::string::npos;
         open = block.find('[', open + 1)) {
      std::stringstream items(block.substr(open + 1, block.find(']', open) - open - 1));
      for (std::string item; std::getline(items, item, '|');) add(item);
    }
  }
  std::stringstream readme(
      command_output("gzip -dc '" + doc_dir + "/README.md.gz' 2>/dev/null"));
  for (std::string line; std::getline(readme, line);) {
    if (!line.starts_with("### ")) continue;
    // "### try_first_pass / use_first_pass / forward_pass"
    std::string rest = line.substr(4);
    for (auto cut = rest.find(" / "); cut != std::string::npos; cut = rest.find(" / ")) {
      add(rest.substr(0, cut));
      rest = rest.substr(cut + 3);
    }
    add(rest);
  }
  return names;
}

void read_installed_ga_arguments() {
  const char* so = nullptr;
  for (const char* path : {"/lib/x86_64-linux-gnu/security/pam_google_authenticator.so",
                           "/usr/lib/x86_64-linux-gnu/security/pam_google_authenticator.so",
                           "/lib/security/pam_google_authenticator.so",
                           "/usr/lib64/security/pam_google_authenticator.so"}) {
    if (::access(path, R_OK) == 0) so = path;
  }
  const std::string doc_dir = "/usr/share/doc/libpam-google-authenticator";
  if (so == nullptr || ::access(doc_dir.c_str(), R_OK) != 0) {
    world.ga_skip_reason = "libpam-google-authenticator is not installed (scripts/setup installs it)";
    return;
  }
  const std::set<std::string> documented = documented_ga_arguments(doc_dir);
  const std::string bytes = read_file(so);
  std::set<std::string> seen;
  std::string word;
  for (const char c : bytes) {
    if (c != '\0') {
      word += c;
      continue;
    }
    if (is_argument_word(word) && documented.count(normalized_argument(word)) != 0 &&
        seen.insert(word).second) {
      world.ga_arguments.push_back(word);
    }
    word.clear();
  }
  // Every documented option must have been found in the module itself.
  for (const auto& name : documented) {
    bool found = false;
    for (const auto& argument : world.ga_arguments) {
      found = found || normalized_argument(argument) == name;
    }
    if (!found) world.ga_skip_reason = "FAIL: documented option not in the .so: " + name;
  }
  if (world.ga_arguments.size() < 10 && world.ga_skip_reason.empty()) {
    world.ga_skip_reason = "FAIL: only " + std::to_string(world.ga_arguments.size()) +
                           " arguments read from " + so;
  }
}

std::string ga_service(std::size_t index) { return "ga_argument_" + std::to_string(index); }

// A value for each argument that takes one; a new one fails the test until
// it is given a value here (and support in the module).
std::optional<std::string> ga_argument_line(const std::string& argument) {
  if (!argument.ends_with("=")) return argument;
  const std::map<std::string, std::string> values = {
      {"secret=", "@CASE@/secret"},
      {"authtok_prompt=", "GA token: "},
      {"user=", world.user},
      {"allowed_perm=", "0600"},
      {"grace_period=", "3600"},
  };
  const auto value = values.find(argument);
  if (value == values.end()) return std::nullopt;
  // Brackets: libpam's quoting for a value with blanks, as GA's README shows.
  return "[" + argument + value->second + "]";
}

void define_ga_argument_services() {
  read_installed_ga_arguments();
  for (std::size_t i = 0; i < world.ga_arguments.size(); ++i) {
    const std::string& argument = world.ga_arguments[i];
    const auto line = ga_argument_line(argument);
    if (!line) continue;  // reported by the test
    const std::string args =
        argument == "secret=" ? *line : "secret=@CASE@/secret " + *line;
    if (argument.ends_with("first_pass")) {
      add_service(ga_service(i), {"auth required @WRAP@/pam_set_items.so",
                                  "auth required @MODULE@ " + args});
    } else {
      add_module_service(ga_service(i), args);
    }
  }
}

void test_every_google_authenticator_argument(void** /*state*/) {
  if (!world.ga_skip_reason.empty()) {
    if (world.ga_skip_reason.starts_with("FAIL")) fail_msg("%s", world.ga_skip_reason.c_str());
    std::printf("SKIP: %s\n", world.ga_skip_reason.c_str());
    skip();
  }
  std::string tried;
  for (std::size_t i = 0; i < world.ga_arguments.size(); ++i) {
    const std::string& argument = world.ga_arguments[i];
    if (!ga_argument_line(argument)) fail_msg("no sample value for %s", argument.c_str());
    tried += argument + " ";
    // A migrated user: the google-authenticator file, the current code.
    write_file(case_dir(ga_service(i)) + "/secret", ga_file_text());
    wait_for_fresh_step();
    const std::string code = current_code();
    const bool from_authtok = argument.ends_with("first_pass");
    if (from_authtok) setenv("PAM_AUTHTOK", code.c_str(), 1);
    const auto t = run_pam(ga_service(i), {argument == "forward_pass" ? "hunter2" + code : code});
    if (from_authtok) unsetenv("PAM_AUTHTOK");
    if (t.rc == PAM_SERVICE_ERR) {
      fail_msg("%s: PAM_SERVICE_ERR\n%s", argument.c_str(), t.syslog.c_str());
    }
    if (t.rc != PAM_SUCCESS) {
      fail_msg("%s: %s\n%s", argument.c_str(), pam_strerror(nullptr, t.rc), t.syslog.c_str());
    }
    if (argument.starts_with("echo")) {
      assert_one_prompt(t, "Verification code: ", PAM_PROMPT_ECHO_ON);
    }
    if (argument == "authtok_prompt=") assert_one_prompt(t, "GA token: ");
    for (const char* different : {"noskewadj", "no_strict_owner", "no_increment_hotp"}) {
      if (argument == different) assert_contains(t.syslog, "twostep: " + argument + " ");
    }
  }
  std::printf("pam_google_authenticator arguments tried: %s\n", tried.c_str());
}

void define_services() {
  for (const auto& c : kSimpleCases) add_module_service(c.service, c.args);
  add_module_service("replay", "secret=@CASE@/secret");
  add_module_service("rate_limit", "secret=@CASE@/secret");
  add_module_service("hint_off", "secret=@CASE@/secret clock_hint=off");
  add_module_service("log_copy_stderr", "secret=@CASE@/secret log_copy=stderr");
  add_module_service("log_copy_conversation", "secret=@CASE@/secret log_copy=conversation");
  add_module_service("backup_code", "secret=@CASE@/secret");
  add_module_service("google_authenticator", "secret=@CASE@/secret");
  add_module_service("nullok_alone", "secret=@CASE@/secret nullok");
  add_service("nullok_then_permit", {"auth requisite @MODULE@ secret=@CASE@/secret nullok",
                                     "auth required pam_permit.so"});
  add_service("no_nullok_then_permit", {"auth requisite @MODULE@ secret=@CASE@/secret",
                                        "auth required pam_permit.so"});
  add_service("nullok_then_permit_file", {"auth requisite @MODULE@ secret=@CASE@/secret nullok",
                                          "auth required pam_permit.so"});
  add_service("use_first_pass", {"auth required @WRAP@/pam_set_items.so",
                                 "auth required @MODULE@ secret=@CASE@/secret use_first_pass"});
  add_service("try_first_pass", {"auth required @WRAP@/pam_set_items.so",
                                 "auth required @MODULE@ secret=@CASE@/secret try_first_pass"});
  add_service("forward_pass", {"auth required @MODULE@ secret=@CASE@/secret forward_pass",
                               "auth required @WRAP@/pam_get_items.so"});
  add_module_service("file_user", "secret=@CASE@/nobody-dir/secret user=nobody");
  add_module_service("no_libcurl", "secret=@CASE@/secret");
  add_module_service("strict_nullok", "secret=@CASE@/secret nullok");
  add_module_service("relaxed_nullok",
                     "secret=" + world.secrets + "/strict_nullok/secret nullok no_strict_modes");
  add_service("fail_delay", {"auth required @MODULE_DELAY@ secret=@CASE@/%u"});
  add_service("fail_nodelay", {"auth required @MODULE_DELAY@ secret=@CASE@/%u nodelay"});
  add_module_service("timing_file", "secret=@CASE@/secret");
  add_module_service("timing_nofile", "secret=@CASE@/secret");
  add_module_service("timing_limited", "secret=@CASE@/secret");
  add_module_service("timing_broken", "secret=@CASE@/secret");
}

bool set_up_world() {
  // TWOSTEP_TEST_PAM_MODULE: another build of the module (e.g. an older one,
  // to see a case fail on it).
  const char* other_module = getenv("TWOSTEP_TEST_PAM_MODULE");
  world.module = other_module != nullptr ? other_module : TWOSTEP_PAM_MODULE_PATH;
  world.wrapper_modules = TWOSTEP_PAM_WRAPPER_MODULES;
  const passwd* me = ::getpwuid(::getuid());
  if (me == nullptr) return false;
  world.user = me->pw_name;
  world.uid = me->pw_uid;
  std::string services = std::string(TWOSTEP_TEST_BINARY_DIR) + "/pam_services.XXXXXX";
  std::string secrets = "/tmp/twostep-pam-test.XXXXXX";
  if (::mkdtemp(services.data()) == nullptr || ::mkdtemp(secrets.data()) == nullptr) return false;
  world.services = services;
  world.secrets = secrets;
  // Traversable (not listable) for the privilege-drop case's user=nobody.
  if (::chmod(world.secrets.c_str(), 0711) != 0) return false;
  define_services();
  define_ga_argument_services();
  write_services();
  // Read by pam_wrapper when it initializes, at the first PAM call.
  setenv("PAM_WRAPPER_SERVICE_DIR", world.services.c_str(), 1);
  setenv("PAM_WRAPPER_DEBUGLEVEL", "3", 1);
  return true;
}

}  // namespace

int main() {
  if (getenv("PAM_WRAPPER") == nullptr) {
    std::fprintf(stderr, "run under pam_wrapper (PAM_WRAPPER=1, LD_PRELOAD=libpam_wrapper.so)\n");
    return 1;
  }
  if (!set_up_world()) {
    std::perror("setting up the test directories");
    return 1;
  }
  std::vector<CMUnitTest> tests;
  // The timing case is a test of its own (test_pam_failure_timing): it takes
  // a while, and is repeated on its own.
  if (getenv("TWOSTEP_TEST_FAILURE_TIMING") != nullptr) {
    tests.push_back(cmocka_unit_test(test_failure_time_is_the_same_for_every_cause));
    const int failed = _cmocka_run_group_tests("pam_twostep_failure_timing", tests.data(),
                                               tests.size(), nullptr, nullptr);
    std::error_code ignored;
    fs::remove_all(world.secrets, ignored);
    fs::remove_all(world.services, ignored);
    return failed;
  }
  for (const auto& c : kSimpleCases) {
    tests.push_back(CMUnitTest{c.service, run_simple_case, nullptr, nullptr,
                               const_cast<SimpleCase*>(&c)});
  }
  const CMUnitTest more[] = {
      cmocka_unit_test(test_replay_refused),
      cmocka_unit_test(test_rate_limit),
      cmocka_unit_test(test_clock_hint_off_and_log_copy),
      cmocka_unit_test(test_backup_code_works_once),
      cmocka_unit_test(test_nullok_without_file_is_ignore),
      cmocka_unit_test(test_nullok_with_file_still_checks),
      cmocka_unit_test(test_google_authenticator_file_updated_in_place),
      cmocka_unit_test(test_every_google_authenticator_argument),
      cmocka_unit_test(test_use_first_pass),
      cmocka_unit_test(test_try_first_pass),
      cmocka_unit_test(test_forward_pass),
      cmocka_unit_test(test_privilege_drop_to_file_user),
      cmocka_unit_test(test_strict_modes_with_nullok),
      cmocka_unit_test(test_failure_delay_for_every_failure),
      cmocka_unit_test(test_totp_login_never_loads_libcurl),
  };
  tests.insert(tests.end(), std::begin(more), std::end(more));
  const int failed = _cmocka_run_group_tests("pam_twostep", tests.data(), tests.size(), nullptr,
                                             nullptr);
  std::error_code ignored;
  fs::remove_all(world.secrets, ignored);
  fs::remove_all(world.services, ignored);
  return failed;
}
