// pam_twostep's PAM-free pieces: argument parsing, secret path expansion,
// audit line composition, and the authentication flow with a fake
// conversation and a fixed clock (no libpam involved).
#include <cstdarg>
#include <cstddef>
#include <csetjmp>
#include <cstdint>
#include <fcntl.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <vector>

// cmocka 1.1 has no extern "C" guards of its own; its macros (fail, ...)
// must come after the standard headers.
extern "C" {
#include <cmocka.h>
}

#include "audit.hpp"
#include "recording_log.hpp"
#include "authenticate.hpp"
#include "failure_pacing.hpp"
#include "module_config.hpp"
#include "scope.hpp"
#include "twostep/otp.hpp"
#include "twostep/policy.hpp"
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

void test_push_arguments(void** /*state*/) {
  auto defaults = parse({});
  assert_true(defaults.ok());
  assert_false(defaults->push);
  assert_int_equal(defaults->failmode, PushFailmode::secure);
  auto config = parse({"push", "push_config=/etc/twostep/other.conf", "push_timeout=30",
                       "failmode=totp"});
  assert_true(config.ok());
  assert_true(config->push);
  assert_string_equal(config->push_config.c_str(), "/etc/twostep/other.conf");
  assert_int_equal(config->push_timeout, 30);
  assert_int_equal(config->failmode, PushFailmode::totp);
  const std::vector<std::pair<std::vector<const char*>, const char*>> bad = {
      {{"push=yes"}, "push takes no value"},
      {{"push", "push"}, "given twice"},
      {{"push", "push_timeout=4"}, "push_timeout="},
      {{"push", "push_timeout=301"}, "push_timeout="},
      {{"push", "push_timeout=1x"}, "push_timeout="},
      {{"push", "failmode=open"}, "failmode="},
      {{"push", "push_config=relative"}, "push_config="},
      {{"push", "push_config"}, "needs =VALUE"},
      {{"failmode=safe"}, "need the argument push"},
      {{"push", "use_first_pass"}, "push needs the module's own prompt"},
  };
  for (const auto& [args, message] : bad) {
    auto refused = parse(args);
    assert_false(refused.ok());
    if (refused.error().message.find(message) == std::string::npos) {
      fail_msg("%s: %s", message, refused.error().message.c_str());
    }
  }
}

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
      {{"groups="}, "groups=: not a group name"},
      {{"groups=staff,,admins"}, "groups=: not a group name"},
      {{"groups=staff,-x"}, "groups=: not a group name"},
      {{"skip_groups=a b"}, "skip_groups=: not a group name"},
      {{"groups=staff,staff"}, "staff given twice"},
      {{"groups=a", "groups=b"}, "given twice"},
      {{"groups=g1,g2,g3,g4,g5,g6,g7,g8,g9,g10,g11,g12,g13,g14,g15,g16,g17,g18,g19,g20,g21,"
        "g22,g23,g24,g25,g26,g27,g28,g29,g30,g31,g32,g33"},
       "more than 32 groups"},
      {{"fail_time=9"}, "fail_time="},
      {{"fail_time=5001"}, "fail_time="},
      {{"fail_time=1e3"}, "fail_time="},
      {{"fail_time=100", "fail_time=100"}, "given twice"},
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

void test_scope_arguments(void** /*state*/) {
  auto config = parse({"groups=staff,wheel", "skip_groups=robots"});
  assert_true(config.ok());
  assert_int_equal(config->scope_groups.size(), 2);
  assert_string_equal(config->scope_groups[1].c_str(), "wheel");
  assert_int_equal(config->skip_groups.size(), 1);
  assert_true(has_scope(*config));
  assert_false(has_scope(*parse({})));
  // root's primary group is root (gid 0): in scope with groups=root, out
  // with skip_groups=root; a group that does not exist matches nobody.
  const Account root{"root", 0, 0, "/root"};
  auto in = decide_scope(*parse({"groups=no-such-group-tw0,root"}), root);
  assert_true(in.ok() && in->in_scope);
  assert_string_equal(in->why.c_str(), "member of root (groups=)");
  auto skipped = decide_scope(*parse({"groups=root", "skip_groups=root"}), root);
  assert_true(skipped.ok() && !skipped->in_scope);
  auto none = decide_scope(*parse({"groups=no-such-group-tw0"}), root);
  assert_true(none.ok() && !none->in_scope);
  assert_string_equal(none->why.c_str(), "in none of groups=no-such-group-tw0");
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
                           "code_ok", {}, {}};
  assert_string_equal(format_audit_line(record).c_str(),
                      "twostep: user=alice service=sshd rhost=1.2.3.4 tty=ssh method=totp "
                      "result=accepted reason=code_ok");
  const AuditRecord push{"alice", "sudo", "", "/dev/pts/1", VerifyMethod::push, "error",
                         "backend_unavailable", "", "secure"};
  assert_string_equal(format_audit_line(push).c_str(),
                      "twostep: user=alice service=sudo rhost=- tty=/dev/pts/1 method=push "
                      "result=error reason=backend_unavailable device=- failmode=secure");
}

void test_audit_line_sanitizes_client_values(void** /*state*/) {
  const AuditRecord record{"bob result=accepted", "", "evil\nhost", "", VerifyMethod::none,
                           "rejected", "unknown_user", {}, {}};
  assert_string_equal(format_audit_line(record).c_str(),
                      "twostep: user=bob?result?accepted service=- rhost=evil?host tty=- "
                      "method=none result=rejected reason=unknown_user");
  const std::string long_value(1000, 'x');
  assert_int_equal(sanitize_log_field(long_value).size(), kMaxAuditFieldLength);
}

// Issue 20 part 3: audit_json, the same record as one JSON object; a
// client's value cannot end the object, the line or pass for a field.
void test_audit_json(void** /*state*/) {
  const AuditRecord record{"alice", "sshd", "1.2.3.4", "ssh", VerifyMethod::totp, "accepted",
                           "code_ok", {}, {}};
  assert_string_equal(format_audit_json(record).c_str(),
                      "{\"event\":\"login\",\"user\":\"alice\",\"service\":\"sshd\","
                      "\"rhost\":\"1.2.3.4\",\"tty\":\"ssh\",\"method\":\"totp\","
                      "\"result\":\"accepted\",\"reason\":\"code_ok\"}");
  const AuditRecord push{"bo\"b\\", "sudo", "evil\nhost\xe2\x80\xae", "", VerifyMethod::push,
                         "error", "backend_unavailable", "", "secure"};
  assert_string_equal(format_audit_json(push).c_str(),
                      "{\"event\":\"login\",\"user\":\"bo\\\"b\\\\\",\"service\":\"sudo\","
                      "\"rhost\":\"evil?host???\",\"tty\":\"\",\"method\":\"push\","
                      "\"result\":\"error\",\"reason\":\"backend_unavailable\",\"device\":\"\","
                      "\"failmode\":\"secure\"}");
  const std::string long_value(1000, 'x');
  const AuditRecord long_user{long_value, "", "", "", VerifyMethod::none, "rejected", "", {}, {}};
  assert_true(format_audit_json(long_user).find("\"user\":\"" + std::string(kMaxAuditFieldLength, 'x') +
                                                "\"") != std::string::npos);
}

// ---------------------------------------------------------------------------
// pam_google_authenticator's arguments.

void test_google_authenticator_arguments(void** /*state*/) {
  Result<Config> config = make_error(ErrorCode::invalid_argument, "unset");
  config = parse({"authtok_prompt=Token:", "echo-verification-code", "grace_period=86400",
                  "allow_readonly", "allowed_perm=0600", "no_strict_owner", "noskewadj",
                  "no_increment_hotp", "secret=/tmp/%u", "user=root", "debug", "nullok",
                  "use_first_pass"});
  assert_false(config.ok());  // authtok_prompt= with use_first_pass, as prompt=
  config = parse({"authtok_prompt=Token:", "echo-verification-code", "grace_period=86400",
                  "allow_readonly", "allowed_perm=0600", "no_strict_owner", "noskewadj",
                  "no_increment_hotp", "secret=/tmp/%u", "user=root", "debug", "nullok",
                  "try_first_pass"});
  assert_true(config.ok());
  assert_true(config->prompt_text() == "Token:");
  assert_true(config->echo_code);
  assert_int_equal(config->grace_period, 86400);
  assert_true(config->allow_readonly);
  // One notice for each argument whose GA meaning twostep does not apply.
  assert_int_equal(config->notices.size(), 3);
  assert_true(config->notices[0].starts_with("no_strict_owner"));
  assert_true(config->notices[1].starts_with("noskewadj"));
  assert_true(config->notices[2].starts_with("no_increment_hotp"));

  auto defaults = parse({});
  assert_int_equal(defaults->grace_period, 0);
  assert_false(defaults->allow_readonly);
  assert_true(defaults->notices.empty());

  auto group_perm = parse({"allowed_perm=0640"});
  assert_true(group_perm.ok());
  assert_int_equal(group_perm->notices.size(), 1);
  auto capped = parse({"grace_period=99999999"});
  assert_true(capped.ok());
  assert_int_equal(capped->grace_period, kMaxGracePeriod);
  assert_int_equal(capped->notices.size(), 1);

  const std::vector<BadArgs> bad = {
      {{"grace_period=soon"}, "grace_period=: expected a number of seconds"},
      {{"grace_period"}, "grace_period needs =VALUE"},
      {{"noskewadj=1"}, "noskewadj takes no value"},
      {{"allowed_perm=0999"}, "allowed_perm=: expected an octal mode"},
      {{"allowed_perm=01777"}, "allowed_perm=: expected an octal mode"},
      {{"allow_readonly", "allow_readonly"}, "argument given twice: allow_readonly"},
      {{"prompt=a", "authtok_prompt=b"}, "argument given twice: prompt"},
      {{"echo_verification_code", "echo-verification-code"}, "argument given twice"},
      {{"echo-verification-code", "forward_pass"}, "cannot be combined with forward_pass"},
  };
  for (const auto& c : bad) {
    auto result = parse(c.args);
    assert_false(result.ok());
    if (result.error().message.find(c.message_part) == std::string::npos) {
      fail_msg("expected '%s' in '%s'", c.message_part, result.error().message.c_str());
    }
  }
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
  void show_info(std::string_view text) override { errors.emplace_back(text); }
  std::optional<SecretBytes> authtok() override { return std::nullopt; }
  bool set_authtok(const SecretBytes& /*value*/) override { return true; }

  std::vector<std::string> prompts;
  std::vector<bool> echoed;
  std::vector<std::string> errors;

 private:
  std::vector<std::string> answers_;
  std::size_t next_ = 0;
};

using twostep::pam::test::RecordingLog;

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
  enrollment.rate_limit = RateLimit{2, 60, {}, {}, {}};
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

// pam_google_authenticator's grace_period= and allow_readonly in the flow.

std::string file_text(const std::string& path) {
  std::ifstream in(path);
  std::string text;
  std::getline(in, text, '\0');  // the whole file: secret files hold no NUL
  return text;
}

void test_flow_grace_period(void** state) {
  auto& f = *static_cast<FlowFixture*>(*state);
  f.config.grace_period = 600;
  ScriptedConversation conversation({code_at_step(1000000), "000000"});
  RecordingLog log;
  assert_int_equal(authenticate(f.config, f.request, conversation, log, &fixed_clock),
                   AuthStatus::success);
  assert_true(file_text(f.dir + "/secret").find("\nrecent-login 192.0.2.7 " +
                                                std::to_string(kNow) + "\n") != std::string::npos);
  // Same host within the period: no prompt at all.
  assert_int_equal(authenticate(f.config, f.request, conversation, log, &fixed_clock),
                   AuthStatus::success);
  assert_int_equal(conversation.prompts.size(), 1);
  assert_true(log.lines.back().ends_with("method=none result=accepted reason=grace_period"));
  // Another host, no rhost, or grace_period off: the code is asked for.
  for (const char* rhost : {"192.0.2.8", ""}) {
    f.request.rhost = rhost;
    assert_int_equal(authenticate(f.config, f.request, conversation, log, &fixed_clock),
                     AuthStatus::auth_failed);
  }
  f.request.rhost = "192.0.2.7";
  f.config.grace_period = 0;
  ScriptedConversation asked({"000000"});
  assert_int_equal(authenticate(f.config, f.request, asked, log, &fixed_clock),
                   AuthStatus::auth_failed);
  assert_int_equal(asked.prompts.size(), 1);
  // After the period, the code is asked for again.
  f.config.grace_period = 7;
  ScriptedConversation later({"000000"});
  assert_int_equal(authenticate(f.config, f.request, later, log,
                                [] () noexcept -> std::int64_t { return kNow + 7; }),
                   AuthStatus::auth_failed);
  assert_int_equal(later.prompts.size(), 1);
}

// allow_readonly: a right code whose new state cannot be written. Without the
// argument the login is refused (the code could be replayed); with it, it
// passes with a loud log line. The write is made to fail by a directory the
// file's identity cannot write: user=nobody when root, else a 0500 directory.
void test_flow_allow_readonly(void** state) {
  auto& f = *static_cast<FlowFixture*>(*state);
  const std::string secret = f.dir + "/secret";
  if (geteuid() == 0) {
    const passwd* nobody = getpwnam("nobody");
    assert_non_null(nobody);
    assert_int_equal(chown(secret.c_str(), nobody->pw_uid, nobody->pw_gid), 0);
    assert_int_equal(chmod(f.dir.c_str(), 0755), 0);
    f.config.file_user = "nobody";
  } else {
    assert_int_equal(chmod(f.dir.c_str(), 0500), 0);
  }
  const std::string before = file_text(secret);
  ScriptedConversation conversation({code_at_step(1000000), code_at_step(1000000)});
  RecordingLog log;
  assert_int_equal(authenticate(f.config, f.request, conversation, log, &fixed_clock),
                   AuthStatus::auth_failed);
  assert_true(log.lines.back().ends_with("result=error reason=file_error"));
  f.config.allow_readonly = true;
  assert_int_equal(authenticate(f.config, f.request, conversation, log, &fixed_clock),
                   AuthStatus::success);
  assert_true(log.all().find("allow_readonly: LOGIN ALLOWED") != std::string::npos);
  assert_true(log.lines.back().ends_with("method=totp result=accepted reason=state_not_saved"));
  assert_string_equal(file_text(secret).c_str(), before.c_str());
  // A wrong code is still refused.
  ScriptedConversation wrong({"000000"});
  assert_int_equal(authenticate(f.config, f.request, wrong, log, &fixed_clock),
                   AuthStatus::auth_failed);
  assert_int_equal(chmod(f.dir.c_str(), 0700), 0);
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

// ---------------------------------------------------------------------------
// Strict modes and the rollback attacks they close. The test plays the
// attacker who can write the secret file's directory: it keeps a copy of
// the file and moves it back after each login (what an inotify script did).

// Writes `enrollment` to `path` (0600) in the native format.
void write_enrollment(const std::string& path, Enrollment enrollment) {
  auto text = serialize_secret_document(make_document(FileFormat::native, std::move(enrollment)));
  assert_true(text.ok());
  ::unlink(path.c_str());
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  assert_true(fd >= 0);
  assert_int_equal(::write(fd, text->data(), text->size()), static_cast<ssize_t>(text->size()));
  ::close(fd);
}

Enrollment rfc_enrollment() {
  Enrollment enrollment;
  Token token;
  token.key = SecretBytes::from_string("12345678901234567890");
  enrollment.tokens.push_back(std::move(token));
  return enrollment;
}

// The attacker's copy, moved back over the file by rename.
struct Rollback {
  std::string file;
  std::string saved;
  void save() const {
    std::filesystem::copy_file(file, saved, std::filesystem::copy_options::overwrite_existing);
  }
  void restore() const {
    std::filesystem::copy_file(saved, saved + ".new",
                               std::filesystem::copy_options::overwrite_existing);
    assert_int_equal(::rename((saved + ".new").c_str(), file.c_str()), 0);
  }
};

void make_dir_world_writable(const std::string& dir) {
  assert_int_equal(::chmod(dir.c_str(), 0777), 0);
}

// The same backup code, replayed by rolling the file back: today's code
// accepted it 5 times of 5. A directory others can write is now refused.
void test_rollback_reuses_backup_code(void** state) {
  auto& f = *static_cast<FlowFixture*>(*state);
  Enrollment enrollment = rfc_enrollment();
  auto codes = generate_backup_codes(enrollment, 1, false);
  assert_true(codes.ok());
  const std::string code((*codes)[0].view());
  write_enrollment(f.dir + "/secret", std::move(enrollment));
  make_dir_world_writable(f.dir);
  const Rollback rollback{f.dir + "/secret", f.dir + "/attacker-copy"};
  rollback.save();
  int accepted = 0;
  RecordingLog log;
  for (int round = 0; round < 5; ++round) {
    ScriptedConversation conversation({code});
    if (authenticate(f.config, f.request, conversation, log, &fixed_clock) ==
        AuthStatus::success) {
      ++accepted;
    }
    rollback.restore();
  }
  assert_int_equal(accepted, 0);
  assert_true(log.all().find("writable by group or others") != std::string::npos);
  assert_true(log.lines.back().ends_with("result=error reason=unsafe_directory"));
}

// The rate limit rolled back: 20 wrong guesses, all checked against a limit
// of 3 on today's code. Now none is checked.
void test_rollback_resets_rate_limit(void** state) {
  auto& f = *static_cast<FlowFixture*>(*state);
  Enrollment enrollment = rfc_enrollment();
  enrollment.rate_limit = RateLimit{3, 3600, {}, {}, {}};
  write_enrollment(f.dir + "/secret", std::move(enrollment));
  assert_int_equal(::chmod(f.dir.c_str(), 0770), 0);  // group-writable is enough
  const Rollback rollback{f.dir + "/secret", f.dir + "/attacker-copy"};
  rollback.save();
  int checked = 0;
  for (int guess = 0; guess < 20; ++guess) {
    ScriptedConversation conversation({guess % 2 == 0 ? "000000" : "999999"});
    RecordingLog log;
    (void)authenticate(f.config, f.request, conversation, log, &fixed_clock);
    if (log.lines.back().find("result=rejected reason=wrong_code") != std::string::npos) ++checked;
    rollback.restore();
  }
  assert_true(checked <= 3);
  assert_int_equal(checked, 0);
}

// A central directory owned by a user (not root): that user renamed their
// own root-owned file to another user's name and logged in as them.
void test_user_owned_central_directory(void** state) {
  if (::geteuid() != 0) skip();  // needs a second owner
  auto& f = *static_cast<FlowFixture*>(*state);
  const std::string central = f.dir + "/central";
  std::filesystem::create_directory(central);
  assert_int_equal(::chown(central.c_str(), 65534, 65534), 0);  // "alice" owns it
  assert_int_equal(::chmod(central.c_str(), 0755), 0);
  // Both files root-owned (user=root), as in /var/lib/twostep/%u.
  Enrollment victim = rfc_enrollment();
  victim.tokens[0].key = SecretBytes::from_string("victim-key-victim-key");
  write_enrollment(central + "/" + f.request.user, std::move(victim));
  write_enrollment(central + "/alice", rfc_enrollment());  // alice knows this key
  // alice moves her file over the victim's name.
  assert_int_equal(::rename((central + "/alice").c_str(),
                            (central + "/" + f.request.user).c_str()),
                   0);
  f.config.secret_path = central + "/%u";
  f.config.file_user = "root";
  ScriptedConversation conversation({code_at_step(1000000)});
  RecordingLog log;
  assert_int_equal(authenticate(f.config, f.request, conversation, log, &fixed_clock),
                   AuthStatus::auth_failed);
  assert_true(log.all().find("is owned by uid 65534") != std::string::npos);
  // no_strict_modes restores the old behaviour, for sites that need it.
  f.config.strict_modes = false;
  ScriptedConversation relaxed({code_at_step(1000000)});
  assert_int_equal(authenticate(f.config, f.request, relaxed, log, &fixed_clock),
                   AuthStatus::success);
}

// no_strict_modes also holds for the snapshot read before the prompt: a
// locked-out user in a directory others can write is still told so.
void test_relaxed_strict_modes_keep_the_lockout_notice(void** state) {
  auto& f = *static_cast<FlowFixture*>(*state);
  make_dir_world_writable(f.dir);
  f.config.strict_modes = false;
  RecordingLog log;
  for (int i = 0; i < 2; ++i) {  // the fixture's limit: 2 per 60 s
    ScriptedConversation conversation({"000000"});
    (void)authenticate(f.config, f.request, conversation, log, &fixed_clock);
  }
  ScriptedConversation locked({code_at_step(1000000)});
  assert_int_equal(authenticate(f.config, f.request, locked, log, &fixed_clock),
                   AuthStatus::auth_failed);
  assert_int_equal(locked.prompts.size(), 1);
  assert_true(locked.prompts[0].find("Too many failed attempts") != std::string::npos);
}

// nullok must not turn "someone deleted the file" into "not enrolled".
void test_nullok_fails_closed_in_writable_directory(void** state) {
  auto& f = *static_cast<FlowFixture*>(*state);
  ::unlink((f.dir + "/secret").c_str());
  make_dir_world_writable(f.dir);
  f.config.nullok = true;
  ScriptedConversation conversation({"123456"});
  RecordingLog log;
  assert_int_equal(authenticate(f.config, f.request, conversation, log, &fixed_clock),
                   AuthStatus::auth_failed);
  assert_true(log.lines.back().ends_with("result=error reason=unsafe_directory"));
  // The same when the attacker removed the file's whole directory: the
  // directories that remain must pass.
  f.config.secret_path = f.dir + "/removed-by-attacker/secret";
  ScriptedConversation gone({"123456"});
  assert_int_equal(authenticate(f.config, f.request, gone, log, &fixed_clock),
                   AuthStatus::auth_failed);
  assert_true(log.lines.back().ends_with("result=error reason=unsafe_directory"));
  f.config.secret_path = f.dir + "/secret";
  // Sticky and root-owned (like /tmp) is fine: others cannot remove the file.
  if (::geteuid() == 0) {
    assert_int_equal(::chmod(f.dir.c_str(), 01777), 0);
    assert_int_equal(::chown(f.dir.c_str(), 0, 0), 0);
    assert_int_equal(authenticate(f.config, f.request, conversation, log, &fixed_clock),
                     AuthStatus::ignore);
  }
}

// Lock-out without the password: with forward_pass (or any stack where the
// code is checked), 3 bad attempts every 30 s from anywhere kept the owner
// locked out for good; then 4 addresses x 3 guesses filled the shared total
// (issue 19, item 2). Now an address that has logged the owner in keeps its
// own budget, and strangers together get one (native files).
void test_stranger_cannot_lock_owner_out(void** state) {
  auto& f = *static_cast<FlowFixture*>(*state);
  Enrollment enrollment = rfc_enrollment();
  enrollment.rate_limit = RateLimit{3, 60, {}, {}, {}};
  write_enrollment(f.dir + "/secret", std::move(enrollment));
  RecordingLog log;
  // The owner has logged in from their address before.
  ScriptedConversation first({code_at_step(999999)});
  assert_int_equal(authenticate(f.config, f.request, first, log, &fixed_clock),
                   AuthStatus::success);
  // Strangers from 12 addresses, 3 guesses each (4 addresses were enough).
  std::size_t checked = 0;
  for (int i = 0; i < 12; ++i) {
    AuthRequest other = f.request;
    other.rhost = "198.51.100." + std::to_string(i);
    for (int j = 0; j < 3; ++j) {
      ScriptedConversation conversation({"000000"});
      assert_int_equal(authenticate(f.config, other, conversation, log, &fixed_clock),
                       AuthStatus::auth_failed);
      if (log.lines.back().ends_with("result=rejected reason=wrong_code")) ++checked;
    }
  }
  // Guessing stays bounded: 3 of the 36 guesses were checked at all.
  assert_int_equal(checked, 3);
  AuthRequest stranger = f.request;
  stranger.rhost = "203.0.113.66";
  ScriptedConversation refused({"000000"});
  (void)authenticate(f.config, stranger, refused, log, &fixed_clock);
  assert_true(log.lines.back().ends_with("result=rate_limited reason=too_many_failures"));
  // The file holds tags of the addresses, not the addresses.
  const std::string text = file_text(f.dir + "/secret");
  assert_true(text.find(" 0@" + rate_limit_source(f.request.rhost)) != std::string::npos);
  assert_true(text.find("@" + rate_limit_source("198.51.100.0")) != std::string::npos);
  assert_true(text.find("198.51.100.") == std::string::npos);
  assert_true(text.find(f.request.rhost) == std::string::npos);
  // The owner, from their own address, is not locked out, and not told so.
  ScriptedConversation owner({code_at_step(1000000)});
  assert_int_equal(authenticate(f.config, f.request, owner, log, &fixed_clock),
                   AuthStatus::success);
  assert_int_equal(owner.prompts.size(), 1);
  assert_string_equal(owner.prompts[0].c_str(), "Verification code: ");
  assert_int_equal(owner.errors.size(), 0);
  // From an address that never logged them in, the owner waits with the strangers.
  AuthRequest travelling = f.request;
  travelling.rhost = "192.0.2.200";
  ScriptedConversation late({code_at_step(1000001)});
  assert_int_equal(authenticate(f.config, travelling, late, log, &fixed_clock),
                   AuthStatus::auth_failed);
  assert_true(log.lines.back().ends_with("result=rate_limited reason=too_many_failures"));
}

// google-authenticator files keep RATE_LIMIT's meaning: one count for all.
void test_ga_file_rate_limit_stays_global(void** state) {
  auto& f = *static_cast<FlowFixture*>(*state);
  {
    std::ofstream out(f.dir + "/secret", std::ios::trunc);
    out << "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\n\" RATE_LIMIT 3 60\n\" TOTP_AUTH\n";
  }
  AuthRequest stranger = f.request;
  stranger.rhost = "203.0.113.66";
  RecordingLog log;
  for (int i = 0; i < 3; ++i) {
    ScriptedConversation conversation({"000000"});
    (void)authenticate(f.config, stranger, conversation, log, &fixed_clock);
  }
  ScriptedConversation owner({code_at_step(1000000)});
  assert_int_equal(authenticate(f.config, f.request, owner, log, &fixed_clock),
                   AuthStatus::auth_failed);
  assert_true(log.lines.back().ends_with("result=rate_limited reason=too_many_failures"));
  assert_true(file_text(f.dir + "/secret").find('@') == std::string::npos);
}

// fail_time=: the base of each user's minimum failure time.
void test_fail_time_argument(void** /*state*/) {
  assert_int_equal(parse({})->fail_time_ms, kDefaultFailTimeMs);
  assert_int_equal(parse({"fail_time=10"})->fail_time_ms, 10);
  assert_int_equal(parse({"fail_time=5000", "nodelay"})->fail_time_ms, 5000);
}

// Each user's failure time lies in [base, 2 base), is the same at every
// login, and depends on the key.
void test_user_fail_time(void** /*state*/) {
  using std::chrono::microseconds;
  const std::array<std::uint8_t, 32> key{7};
  std::array<std::uint8_t, 32> other = key;
  other[0] = 8;
  std::set<long long> seen;
  for (const char* user : {"alice", "bob", "carol", "root", "twostep-no-such-user"}) {
    const auto time = user_fail_time(key, user, 100);
    assert_true(time >= microseconds(100000) && time < microseconds(200000));
    assert_true(time == user_fail_time(key, user, 100));
    assert_true(time != user_fail_time(other, user, 100));
    const auto unkeyed = user_fail_time({}, user, 100);
    assert_true(unkeyed >= microseconds(100000) && unkeyed < microseconds(200000));
    seen.insert(time.count());
  }
  assert_int_equal(seen.size(), 5);
}

// Padding to the floor, or to the next multiple of it.
void test_failure_padding(void** /*state*/) {
  using std::chrono::milliseconds;
  using std::chrono::nanoseconds;
  const auto pad = [](long work_ms) {
    return std::chrono::duration_cast<milliseconds>(
               padding_after(milliseconds(work_ms), milliseconds(100)))
        .count();
  };
  assert_int_equal(pad(0), 100);
  assert_int_equal(pad(3), 97);
  assert_int_equal(pad(99), 1);
  assert_int_equal(pad(100), 0);
  assert_int_equal(pad(130), 70);
  assert_int_equal(pad(250), 50);
  assert_true(padding_after(milliseconds(5), nanoseconds(0)) == nanoseconds(0));
  // The conversation is not the module's work: a padded failure after a long
  // wait for the user still takes about the floor beyond the wait.
  FailurePacing pacing;
  pacing.set_floor(std::chrono::microseconds(20000));
  pacing.exclude(std::chrono::hours(1));
  const auto start = std::chrono::steady_clock::now();
  pacing.pad_failure();
  const auto took = std::chrono::steady_clock::now() - start;
  assert_true(took >= milliseconds(20));
  assert_true(took < milliseconds(2000));
}

// The module key: read as the admin made it, never made by a login; a key
// others can read, or that is not 32 bytes, is refused.
void test_module_key(void** /*state*/) {
  char dir_template[] = "/tmp/twostep-module-key.XXXXXX";
  const std::string dir = ::mkdtemp(dir_template);
  const std::string path = dir + "/module.key";
  auto missing = load_module_key(path);
  assert_false(missing.ok());
  assert_int_equal(static_cast<int>(missing.error().code), static_cast<int>(ErrorCode::not_found));
  assert_false(std::filesystem::exists(path));  // not made by a login
  if (::geteuid() == 0) {
    const auto write_key = [&](const std::string& text, mode_t mode) {
      std::ofstream(path, std::ios::trunc) << text;
      assert_int_equal(::chmod(path.c_str(), mode), 0);
    };
    // 32 bytes of 0x01, b64u.
    write_key("AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE\n", 0600);
    auto key = load_module_key(path);
    assert_true(key.ok());
    assert_int_equal(key->size(), kModuleKeyBytes);
    assert_int_equal((*key).span()[31], 1);
    write_key("AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE\n", 0644);
    assert_int_equal(static_cast<int>(load_module_key(path).error().code),
                     static_cast<int>(ErrorCode::unsafe_file));
    write_key("AQEB\n", 0600);
    assert_int_equal(static_cast<int>(load_module_key(path).error().code),
                     static_cast<int>(ErrorCode::malformed));
  }
  std::filesystem::remove_all(dir);
}

void test_strict_modes_arguments(void** /*state*/) {
  auto defaults = parse({});
  assert_true(defaults.ok());
  assert_true(defaults->strict_modes);
  assert_true(defaults->fail_delay);
  auto relaxed = parse({"no_strict_modes", "nodelay"});
  assert_true(relaxed.ok());
  assert_false(relaxed->strict_modes);
  assert_false(relaxed->fail_delay);
  assert_false(parse({"no_strict_modes", "no_strict_modes"}).ok());
}

}  // namespace

int main() {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_defaults),
      cmocka_unit_test(test_all_arguments),
      cmocka_unit_test(test_forward_pass_prompt),
      cmocka_unit_test(test_clock_hint_and_log_copy_arguments),
      cmocka_unit_test(test_bad_arguments),
      cmocka_unit_test(test_scope_arguments),
      cmocka_unit_test(test_unknown_argument_is_sanitized),
      cmocka_unit_test(test_too_many_arguments),
      cmocka_unit_test(test_path_expansion),
      cmocka_unit_test(test_path_refuses_dangerous_users),
      cmocka_unit_test(test_google_authenticator_arguments),
      cmocka_unit_test(test_audit_line),
      cmocka_unit_test(test_push_arguments),
      cmocka_unit_test(test_audit_line_sanitizes_client_values),
      cmocka_unit_test(test_audit_json),
      cmocka_unit_test_setup_teardown(test_flow_accepts_then_refuses_replay, flow_setup,
                                      flow_teardown),
      cmocka_unit_test_setup_teardown(test_flow_window_and_clock_skew, flow_setup, flow_teardown),
      cmocka_unit_test_setup_teardown(test_flow_grace_period, flow_setup, flow_teardown),
      cmocka_unit_test_setup_teardown(test_flow_allow_readonly, flow_setup, flow_teardown),
      cmocka_unit_test_setup_teardown(test_flow_rate_limit_message, flow_setup, flow_teardown),
      cmocka_unit_test_setup_teardown(test_flow_unknown_user_is_prompted, flow_setup,
                                      flow_teardown),
      cmocka_unit_test_setup_teardown(test_flow_nullok_and_missing_file, flow_setup,
                                      flow_teardown),
      cmocka_unit_test_setup_teardown(test_flow_conversation_failure, flow_setup, flow_teardown),
      cmocka_unit_test_setup_teardown(test_rollback_reuses_backup_code, flow_setup, flow_teardown),
      cmocka_unit_test_setup_teardown(test_rollback_resets_rate_limit, flow_setup, flow_teardown),
      cmocka_unit_test_setup_teardown(test_user_owned_central_directory, flow_setup,
                                      flow_teardown),
      cmocka_unit_test_setup_teardown(test_nullok_fails_closed_in_writable_directory, flow_setup,
                                      flow_teardown),
      cmocka_unit_test(test_strict_modes_arguments),
      cmocka_unit_test(test_fail_time_argument),
      cmocka_unit_test(test_user_fail_time),
      cmocka_unit_test(test_failure_padding),
      cmocka_unit_test(test_module_key),
      cmocka_unit_test_setup_teardown(test_relaxed_strict_modes_keep_the_lockout_notice,
                                      flow_setup, flow_teardown),
      cmocka_unit_test_setup_teardown(test_stranger_cannot_lock_owner_out, flow_setup,
                                      flow_teardown),
      cmocka_unit_test_setup_teardown(test_ga_file_rate_limit_stays_global, flow_setup,
                                      flow_teardown),
  };
  return cmocka_run_group_tests(tests, nullptr, nullptr);
}
