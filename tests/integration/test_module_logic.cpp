// pam_twostep's PAM-free pieces: argument parsing, secret path expansion,
// audit line composition, and the authentication flow with a fake
// conversation and a fixed clock (no libpam involved).
#include <cstdarg>
#include <cstddef>
#include <csetjmp>
#include <cstdint>
#include <fcntl.h>
#include <pwd.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

// cmocka 1.1 has no extern "C" guards of its own; its macros (fail, ...)
// must come after the standard headers.
extern "C" {
#include <cmocka.h>
}

#include "audit.hpp"
#include "authenticate.hpp"
#include "module_config.hpp"
#include "twostep/otp.hpp"
#include "twostep/secret_file.hpp"
#include "twostep/secret_path.hpp"

using namespace twostep;
using namespace twostep::pam;

namespace {

Result<Config> parse(std::vector<const char*> args) {
  return parse_module_arguments(std::span<const char* const>(args.data(), args.size()));
}

void test_defaults(void** /*state*/) {
  auto config = parse({});
  assert_true(config.ok());
  assert_string_equal(config->secret_path.c_str(), "~/.twostep");
  assert_true(config->secret_path_is_default);
  assert_false(config->nullok);
  assert_false(config->window.has_value());
  assert_int_equal(config->code_source, CodeSource::prompt);
  assert_true(config->prompt_text() == "Verification code: ");
  assert_false(config->echo_code);
  assert_false(config->debug);
}

void test_all_arguments(void** /*state*/) {
  auto config = parse({"secret=/var/lib/twostep/%u", "user=root", "nullok", "window=3",
                       "prompt=Code please: ", "try_first_pass", "echo_verification_code",
                       "debug"});
  assert_true(config.ok());
  assert_string_equal(config->secret_path.c_str(), "/var/lib/twostep/%u");
  assert_false(config->secret_path_is_default);
  assert_string_equal(config->file_user->c_str(), "root");
  assert_true(config->nullok);
  assert_int_equal(*config->window, 3);
  assert_true(config->prompt_text() == "Code please: ");
  assert_int_equal(config->code_source, CodeSource::try_first_pass);
  assert_true(config->echo_code);
  assert_true(config->debug);
}

void test_clock_hint_and_log_copy_arguments(void** /*state*/) {
  auto defaults = parse({});
  assert_true(defaults->clock_hint_text() ==
              "Codes keep failing? Check that your phone sets its time automatically.");
  assert_int_equal(defaults->log_copy, LogCopy::none);
  auto off = parse({"clock_hint=off", "log_copy=stderr"});
  assert_true(off.ok());
  assert_true(off->clock_hint_text().empty());
  assert_int_equal(off->log_copy, LogCopy::stderr_stream);
  auto custom = parse({"clock_hint=Phone clock wrong? Ask IT.", "log_copy=conversation"});
  assert_true(custom.ok());
  assert_true(custom->clock_hint_text() == "Phone clock wrong? Ask IT.");
  assert_int_equal(custom->log_copy, LogCopy::conversation);
}

void test_forward_pass_prompt(void** /*state*/) {
  auto config = parse({"forward_pass"});
  assert_true(config.ok());
  assert_true(config->prompt_text() == "Password & verification code: ");
}

struct BadArgs {
  std::vector<const char*> args;
  const char* message_part;
};

void test_bad_arguments(void** /*state*/) {
  const std::vector<BadArgs> cases = {
      {{"nulok"}, "unknown argument: nulok"},
      {{"secrets=/x"}, "unknown argument: secrets="},
      {{"window=11"}, "window="},
      {{"window=-1"}, "window="},
      {{"window="}, "window="},
      {{"window=2x"}, "window="},
      {{"window=1", "window=2"}, "given twice"},
      {{"nullok", "nullok"}, "given twice"},
      {{"secret="}, "secret="},
      {{"secret=relative/path"}, "absolute"},
      {{"secret=~bob/.twostep"}, "~name"},
      {{"secret=/x/${LOGNAME}"}, "unknown expansion"},
      {{"secret=/x/%d"}, "unknown expansion"},
      {{"user="}, "user="},
      {{"user=a/b"}, "user="},
      {{"user=.."}, "user="},
      {{"prompt="}, "prompt="},
      {{"prompt=a\nb"}, "control"},
      {{"try_first_pass", "use_first_pass"}, "only one of"},
      {{"forward_pass", "echo_verification_code"}, "echo"},
      {{"use_first_pass", "prompt=x"}, "prompt="},
      {{"clock_hint="}, "clock_hint="},
      {{"clock_hint=a\tb"}, "control"},
      {{"clock_hint=off", "clock_hint=off"}, "given twice"},
      {{"log_copy=console"}, "log_copy="},
      {{"log_copy=stderr", "log_copy=stderr"}, "given twice"},
  };
  for (const auto& c : cases) {
    auto config = parse(c.args);
    assert_false(config.ok());
    assert_int_equal(config.error().code, ErrorCode::invalid_argument);
    if (config.error().message.find(c.message_part) == std::string::npos) {
      fail_msg("message '%s' lacks '%s'", config.error().message.c_str(), c.message_part);
    }
  }
}

void test_unknown_argument_is_sanitized(void** /*state*/) {
  auto config = parse({"weird\x01" "arg with space"});
  assert_false(config.ok());
  assert_string_equal(config.error().message.c_str(), "unknown argument: weird?arg?with?space");
}

void test_too_many_arguments(void** /*state*/) {
  std::vector<const char*> args(kMaxArguments + 1, "debug");
  assert_false(parse(args).ok());
}

struct Expansion {
  const char* path_template;
  const char* expected;
};

void test_path_expansion(void** /*state*/) {
  const PathContext context{"alice", "/home/alice"};
  const std::vector<Expansion> cases = {
      {"~/.twostep", "/home/alice/.twostep"},
      {"~", "/home/alice"},
      {"${HOME}/.config/twostep", "/home/alice/.config/twostep"},
      {"/var/lib/twostep/${USER}", "/var/lib/twostep/alice"},
      {"/var/lib/twostep/%u", "/var/lib/twostep/alice"},
      {"%h/x-%u-%%", "/home/alice/x-alice-%"},
      {"/etc/twostep/a~b", "/etc/twostep/a~b"},
  };
  for (const auto& c : cases) {
    auto path = expand_secret_path(c.path_template, context);
    assert_true(path.ok());
    assert_string_equal(path->c_str(), c.expected);
  }
}

void test_path_refuses_dangerous_users(void** /*state*/) {
  for (const char* user : {"", ".", "..", "a/b", "../root"}) {
    auto path = expand_secret_path("/var/lib/twostep/%u", PathContext{user, "/home/x"});
    assert_false(path.ok());
  }
  auto relative_home = expand_secret_path("~/.twostep", PathContext{"alice", "home/alice"});
  assert_false(relative_home.ok());
}

void test_audit_line(void** /*state*/) {
  const AuditRecord record{"alice", "sshd", "1.2.3.4", "ssh", VerifyMethod::totp, "accepted",
                           "code_ok"};
  assert_string_equal(format_audit_line(record).c_str(),
                      "twostep: user=alice service=sshd rhost=1.2.3.4 tty=ssh method=totp "
                      "result=accepted reason=code_ok");
}

void test_audit_line_sanitizes_client_values(void** /*state*/) {
  const AuditRecord record{"bob result=accepted", "", "evil\nhost", "", VerifyMethod::none,
                           "rejected", "unknown_user"};
  assert_string_equal(format_audit_line(record).c_str(),
                      "twostep: user=bob?result?accepted service=- rhost=evil?host tty=- "
                      "method=none result=rejected reason=unknown_user");
  const std::string long_value(1000, 'x');
  assert_int_equal(sanitize_log_field(long_value).size(), kMaxAuditFieldLength);
}

// ---------------------------------------------------------------------------
// The flow with a fake host: fixed clock, scripted answers, recorded output.

constexpr std::int64_t kNow = 30 * 1000000 + 7;  // TOTP step 1000000

std::int64_t fixed_clock() noexcept { return kNow; }

class ScriptedConversation final : public Conversation {
 public:
  explicit ScriptedConversation(std::vector<std::string> answers) : answers_(std::move(answers)) {}
  std::optional<SecretBytes> prompt(std::string_view text, bool echo) override {
    prompts.emplace_back(text);
    echoed.push_back(echo);
    if (next_ >= answers_.size()) return std::nullopt;
    return SecretBytes::from_string(answers_[next_++]);
  }
  void show_error(std::string_view text) override { errors.emplace_back(text); }
  std::optional<SecretBytes> authtok() override { return std::nullopt; }
  bool set_authtok(const SecretBytes& /*value*/) override { return true; }

  std::vector<std::string> prompts;
  std::vector<bool> echoed;
  std::vector<std::string> errors;

 private:
  std::vector<std::string> answers_;
  std::size_t next_ = 0;
};

class RecordingLog final : public ModuleLog {
 public:
  void notice(std::string_view line) override { lines.emplace_back(line); }
  void error(std::string_view line) override { lines.emplace_back(line); }
  void debug(std::string_view line) override { lines.emplace_back(line); }
  std::string all() const {
    std::string out;
    for (const auto& line : lines) out += line + "\n";
    return out;
  }
  std::vector<std::string> lines;
};

std::string code_at_step(std::uint64_t step) {
  const auto key = SecretBytes::from_string("12345678901234567890");
  return std::string(format_code(hotp(key.span(), step, 6, HashAlgorithm::sha1).value(), 6).view());
}

struct FlowFixture {
  std::string dir;
  Config config;
  AuthRequest request;
};

int flow_setup(void** state) {
  auto* fixture = new FlowFixture;
  std::string dir = "/tmp/twostep-flow.XXXXXX";
  if (mkdtemp(dir.data()) == nullptr) return -1;
  fixture->dir = dir;
  Enrollment enrollment;
  Token token;
  token.key = SecretBytes::from_string("12345678901234567890");
  enrollment.tokens.push_back(std::move(token));
  enrollment.rate_limit = RateLimit{2, 60, {}};
  auto text = serialize_secret_document(make_document(FileFormat::native, std::move(enrollment)));
  const int fd = open((dir + "/secret").c_str(), O_WRONLY | O_CREAT | O_EXCL, 0600);
  if (!text.ok() || fd < 0 ||
      write(fd, text->data(), text->size()) != static_cast<ssize_t>(text->size())) {
    return -1;
  }
  close(fd);
  fixture->config.secret_path = dir + "/secret";
  fixture->config.secret_path_is_default = false;
  fixture->request = AuthRequest{getpwuid(getuid())->pw_name, "flow", "192.0.2.7", "pts/1"};
  *state = fixture;
  return 0;
}

int flow_teardown(void** state) {
  auto* fixture = static_cast<FlowFixture*>(*state);
  std::filesystem::remove_all(fixture->dir);
  delete fixture;
  return 0;
}

void test_flow_accepts_then_refuses_replay(void** state) {
  auto& f = *static_cast<FlowFixture*>(*state);
  const std::string code = code_at_step(1000000);
  ScriptedConversation conversation({code, code});
  RecordingLog log;
  assert_int_equal(authenticate(f.config, f.request, conversation, log, &fixed_clock),
                   AuthStatus::success);
  assert_int_equal(authenticate(f.config, f.request, conversation, log, &fixed_clock),
                   AuthStatus::auth_failed);
  assert_int_equal(conversation.prompts.size(), 2);
  assert_string_equal(conversation.prompts[0].c_str(), "Verification code: ");
  assert_false(conversation.echoed[0]);
  assert_int_equal(log.lines.size(), 2);
  assert_string_equal(log.lines[0].c_str(),
                      ("twostep: user=" + f.request.user +
                       " service=flow rhost=192.0.2.7 tty=pts/1 method=totp result=accepted "
                       "reason=code_ok").c_str());
  assert_true(log.lines[1].ends_with("result=replayed reason=code_reused"));
  assert_true(log.all().find(code) == std::string::npos);
}

void test_flow_window_and_clock_skew(void** state) {
  auto& f = *static_cast<FlowFixture*>(*state);
  ScriptedConversation conversation({code_at_step(1000004), code_at_step(1000002)});
  RecordingLog log;
  // Four steps ahead: outside the default window, reported as clock skew.
  assert_int_equal(authenticate(f.config, f.request, conversation, log, &fixed_clock),
                   AuthStatus::auth_failed);
  assert_true(log.all().find("phone clock looks off by about 120 seconds") != std::string::npos);
  assert_int_equal(conversation.errors.size(), 0);
  // window=2 accepts two steps ahead.
  f.config.window = 2;
  assert_int_equal(authenticate(f.config, f.request, conversation, log, &fixed_clock),
                   AuthStatus::success);
}

void test_flow_rate_limit_message(void** state) {
  auto& f = *static_cast<FlowFixture*>(*state);
  ScriptedConversation conversation({"000000", "000001", code_at_step(1000000)});
  RecordingLog log;
  for (int i = 0; i < 3; ++i) {
    assert_int_equal(authenticate(f.config, f.request, conversation, log, &fixed_clock),
                     AuthStatus::auth_failed);
  }
  // Checked before asking: the third prompt says it (messages after the
  // last prompt never reach ssh users), so no separate error message.
  assert_int_equal(conversation.errors.size(), 0);
  assert_int_equal(conversation.prompts.size(), 3);
  assert_string_equal(conversation.prompts[0].c_str(), "Verification code: ");
  assert_string_equal(conversation.prompts[1].c_str(),
                      "Codes keep failing? Check that your phone sets its time automatically.\n"
                      "Verification code: ");
  assert_string_equal(conversation.prompts[2].c_str(),
                      "Too many failed attempts; try again later.\nVerification code: ");
  assert_true(log.lines.back().ends_with("result=rate_limited reason=too_many_failures"));
  // use_first_pass has no prompt to carry it: the error message is the way.
  f.config.code_source = CodeSource::use_first_pass;
  ScriptedConversation no_prompt({});
  assert_int_equal(authenticate(f.config, f.request, no_prompt, log, &fixed_clock),
                   AuthStatus::auth_failed);
  assert_int_equal(no_prompt.prompts.size(), 0);
}

void test_flow_unknown_user_is_prompted(void** state) {
  auto& f = *static_cast<FlowFixture*>(*state);
  f.request.user = "twostep-no-such-user";
  ScriptedConversation conversation({"123456"});
  RecordingLog log;
  assert_int_equal(authenticate(f.config, f.request, conversation, log, &fixed_clock),
                   AuthStatus::auth_failed);
  assert_int_equal(conversation.prompts.size(), 1);
  assert_true(log.lines.back().ends_with("method=none result=rejected reason=unknown_user"));
}

void test_flow_nullok_and_missing_file(void** state) {
  auto& f = *static_cast<FlowFixture*>(*state);
  f.config.secret_path = f.dir + "/absent";
  f.config.nullok = true;
  ScriptedConversation conversation({"123456"});
  RecordingLog log;
  assert_int_equal(authenticate(f.config, f.request, conversation, log, &fixed_clock),
                   AuthStatus::ignore);
  assert_int_equal(conversation.prompts.size(), 0);
  f.config.nullok = false;
  assert_int_equal(authenticate(f.config, f.request, conversation, log, &fixed_clock),
                   AuthStatus::auth_failed);
  assert_int_equal(conversation.prompts.size(), 1);
  assert_true(log.lines.back().ends_with("result=rejected reason=no_secret_file"));
}

void test_flow_conversation_failure(void** state) {
  auto& f = *static_cast<FlowFixture*>(*state);
  ScriptedConversation conversation({});
  RecordingLog log;
  assert_int_equal(authenticate(f.config, f.request, conversation, log, &fixed_clock),
                   AuthStatus::auth_failed);
  assert_true(log.lines.back().ends_with("reason=conversation_failed"));
}

}  // namespace

int main() {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_defaults),
      cmocka_unit_test(test_all_arguments),
      cmocka_unit_test(test_forward_pass_prompt),
      cmocka_unit_test(test_clock_hint_and_log_copy_arguments),
      cmocka_unit_test(test_bad_arguments),
      cmocka_unit_test(test_unknown_argument_is_sanitized),
      cmocka_unit_test(test_too_many_arguments),
      cmocka_unit_test(test_path_expansion),
      cmocka_unit_test(test_path_refuses_dangerous_users),
      cmocka_unit_test(test_audit_line),
      cmocka_unit_test(test_audit_line_sanitizes_client_values),
      cmocka_unit_test_setup_teardown(test_flow_accepts_then_refuses_replay, flow_setup,
                                      flow_teardown),
      cmocka_unit_test_setup_teardown(test_flow_window_and_clock_skew, flow_setup, flow_teardown),
      cmocka_unit_test_setup_teardown(test_flow_rate_limit_message, flow_setup, flow_teardown),
      cmocka_unit_test_setup_teardown(test_flow_unknown_user_is_prompted, flow_setup,
                                      flow_teardown),
      cmocka_unit_test_setup_teardown(test_flow_nullok_and_missing_file, flow_setup,
                                      flow_teardown),
      cmocka_unit_test_setup_teardown(test_flow_conversation_failure, flow_setup, flow_teardown),
  };
  return cmocka_run_group_tests(tests, nullptr, nullptr);
}
