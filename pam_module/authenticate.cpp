#include "authenticate.hpp"

#include <sys/stat.h>

#include <cerrno>
#include <ctime>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "audit.hpp"
#include "push_flow.hpp"
#include "push_transport.hpp"
#include "twostep/push_login.hpp"
#include "twostep/account.hpp"
#include "twostep/file_identity.hpp"
#include "twostep/otp.hpp"
#include "twostep/policy.hpp"
#include "twostep/secret_path.hpp"
#include "twostep/secret_store.hpp"

namespace twostep::pam {

std::int64_t system_clock_now() noexcept {
  return static_cast<std::int64_t>(std::time(nullptr));
}

namespace {

// forward_pass input is a password plus a code; PAM_MAX_RESP_SIZE is 512.
constexpr std::size_t kMaxForwardPassInput = 512;

// ---------------------------------------------------------------------------
// One audit line per verification attempt (and one for attempts that never
// reach verification). Holds no secrets.
class Audit {
 public:
  Audit(const AuthRequest& request, ModuleLog& log) : request_(request), log_(log) {}

  AuthStatus finish(AuthStatus status, VerifyMethod method, std::string_view result,
                    std::string_view reason) {
    log_.notice(format_audit_line(AuditRecord{request_.user, request_.service, request_.rhost,
                                              request_.tty, method, result, reason, {}, {}}));
    return status;
  }
  AuthStatus finish_push(AuthStatus status, std::string_view result, std::string_view reason,
                         std::string_view device, std::string_view failmode = {}) {
    log_.notice(format_audit_line(AuditRecord{request_.user, request_.service, request_.rhost,
                                              request_.tty, VerifyMethod::push, result, reason,
                                              device, failmode}));
    return status;
  }

 private:
  const AuthRequest& request_;
  ModuleLog& log_;
};

// ---------------------------------------------------------------------------
// Reading what the user typed.

struct CodeInput {
  SecretBytes typed;  // the code, or password+code with forward_pass
  bool from_authtok = false;
};

// Input problems are reported as the audit reason in the error message.
Error input_problem(std::string_view reason) {
  return make_error(ErrorCode::cancelled, std::string(reason));
}

// What the prompt says above the question. sshd drops messages that come
// after the last prompt of a failed login and sudo asks for PAM_SILENT, so
// the prompt itself is the one place every user sees. Both notices come from
// the file as it was before asking, never from the code being typed.
enum class PromptNotice { none, locked_out, clock_hint };

std::string prompt_with_notice(const Config& config, PromptNotice notice,
                               std::optional<std::string_view> question = std::nullopt) {
  std::string text;
  if (notice == PromptNotice::locked_out) {
    text = std::string(kRateLimitedMessage) + "\n";
  } else if (notice == PromptNotice::clock_hint && !config.clock_hint_text().empty()) {
    text = std::string(config.clock_hint_text()) + "\n";
  }
  text += question ? *question : config.prompt_text();
  return text;
}

Result<CodeInput> ask(const Config& config, Conversation& conversation,
                      PromptNotice notice = PromptNotice::none,
                      std::optional<std::string_view> question = std::nullopt) {
  auto typed = conversation.prompt(prompt_with_notice(config, notice, question), config.echo_code);
  if (!typed) {
    return input_problem("conversation_failed");
  }
  const std::size_t limit =
      config.code_source == CodeSource::forward_pass ? kMaxForwardPassInput : kMaxTypedCode;
  if (typed->size() > limit) {
    return input_problem("input_too_long");
  }
  return CodeInput{std::move(*typed), false};
}

Result<CodeInput> from_authtok(Conversation& conversation) {
  auto token = conversation.authtok();
  if (!token || token->empty()) {
    return input_problem("no_authtok");
  }
  if (token->size() > kMaxTypedCode) {
    return input_problem("input_too_long");
  }
  return CodeInput{std::move(*token), true};
}

Result<CodeInput> obtain_code(const Config& config, Conversation& conversation,
                              PromptNotice notice) {
  switch (config.code_source) {
    case CodeSource::use_first_pass:
      return from_authtok(conversation);
    case CodeSource::try_first_pass: {
      // Only an AUTHTOK that looks like a code is tried, so a password left
      // by pam_unix does not count as a failed attempt.
      auto token = conversation.authtok();
      if (token && token->size() <= kMaxTypedCode && parse_typed_code(token->view())) {
        return CodeInput{std::move(*token), true};
      }
      return ask(config, conversation, notice);
    }
    case CodeSource::prompt:
    case CodeSource::forward_pass:
      return ask(config, conversation, notice);
  }
  return input_problem("conversation_failed");
}

// ---------------------------------------------------------------------------
// Verification under the file lock.

Enrollment clone_enrollment(const Enrollment& enrollment) {
  Enrollment copy;
  copy.tokens.reserve(enrollment.tokens.size());
  for (const auto& token : enrollment.tokens) {
    copy.tokens.push_back(token.clone());
  }
  copy.window = enrollment.window;
  copy.replay_protection = enrollment.replay_protection;
  copy.rate_limit = enrollment.rate_limit;
  copy.recent_logins = enrollment.recent_logins;
  copy.devices = enrollment.devices;  // pins ride along: the trial is what gets written
  copy.backup_codes.reserve(enrollment.backup_codes.size());
  for (const auto& code : enrollment.backup_codes) {
    copy.backup_codes.push_back(BackupCode{code.hash, code.plain.clone()});
  }
  return copy;
}

// The code lengths a forward_pass input can end with: every token's digits,
// and the backup code length when backup codes exist.
std::set<std::size_t> forwarded_code_lengths(const Enrollment& enrollment) {
  std::set<std::size_t> lengths;
  for (const auto& token : enrollment.tokens) {
    lengths.insert(token.digits);
  }
  if (!enrollment.backup_codes.empty()) {
    lengths.insert(kBackupCodeDigits);
  }
  return lengths;
}

bool all_digits(std::string_view text) {
  for (const char c : text) {
    if (c < '0' || c > '9') {
      return false;
    }
  }
  return !text.empty();
}

struct ForwardedOutcome {
  VerifyOutcome outcome;
  std::size_t code_length = 0;  // trailing characters that were the code
};

// Tries each plausible split of password+code on a copy of the state, so at
// most one failure is recorded however many splits were tried.
ForwardedOutcome verify_forwarded(Enrollment& enrollment, std::string_view typed,
                                  std::int64_t now, const VerifyOptions& options) {
  std::optional<std::pair<Enrollment, ForwardedOutcome>> first_failure;
  for (const std::size_t length : forwarded_code_lengths(enrollment)) {
    if (typed.size() < length || !all_digits(typed.substr(typed.size() - length))) {
      continue;
    }
    Enrollment trial = clone_enrollment(enrollment);
    const auto outcome = verify_code(trial, typed.substr(typed.size() - length), now, options);
    if (outcome.result == VerifyResult::accepted) {
      enrollment = std::move(trial);
      return {outcome, length};
    }
    if (!first_failure) {
      first_failure.emplace(std::move(trial), ForwardedOutcome{outcome, length});
    }
  }
  if (first_failure) {
    enrollment = std::move(first_failure->first);
    return first_failure->second;
  }
  return {verify_code(enrollment, std::string_view{}, now, options), 0};
}

struct VerifyRun {
  Status file_status;
  bool verified = false;  // the callback ran (the file was safe and parsed)
  FileFormat format = FileFormat::native;
  ForwardedOutcome result;
};

VerifyRun verify_under_lock(const std::string& path, uid_t owner, const CodeInput& input,
                            const Config& config, Clock clock, std::string_view rhost) {
  VerifyRun run;
  VerifyOptions options{config.window, true, std::nullopt};
  FileExpectations expectations;
  expectations.owner = owner;
  expectations.strict_modes = config.strict_modes;
  run.file_status = lock_and_update_secret_file(
      path, expectations, [&](SecretDocument& document) {
        run.verified = true;
        run.format = document.format;
        // Native files count failures per client address; google-authenticator
        // files keep RATE_LIMIT's one count for everyone.
        if (document.format == FileFormat::native) {
          options.failure_source = rate_limit_source(rhost);
        }
        const std::int64_t now = clock();
        if (config.code_source == CodeSource::forward_pass) {
          run.result = verify_forwarded(document.enrollment, input.typed.view(), now, options);
        } else {
          run.result = {verify_code(document.enrollment, input.typed.view(), now, options), 0};
        }
        // grace_period=: remember this host's login, in the same locked write.
        if (config.grace_period != 0 && run.result.outcome.result == VerifyResult::accepted &&
            record_recent_login(document.enrollment, rhost, now)) {
          run.result.outcome.state_changed = true;
        }
        return run.result.outcome.state_changed ? UpdateDecision::write : UpdateDecision::keep;
      });
  return run;
}

// lock_and_update_secret_file may report a `keep` decision as `cancelled`.
bool run_completed(const VerifyRun& run) {
  if (!run.verified) {
    return false;
  }
  if (run.file_status.ok()) {
    return true;
  }
  return run.file_status.error().code == ErrorCode::cancelled &&
         !run.result.outcome.state_changed;
}

std::string_view file_error_reason(ErrorCode code) {
  switch (code) {
    case ErrorCode::unsafe_file: return "unsafe_file";
    case ErrorCode::not_found: return "no_secret_file";
    case ErrorCode::malformed:
    case ErrorCode::too_large: return "bad_secret_file";
    case ErrorCode::lock_timeout: return "lock_timeout";
    case ErrorCode::invalid_argument:
    case ErrorCode::io:
    case ErrorCode::crypto:
    case ErrorCode::cancelled: return "file_error";
  }
  return "file_error";
}

std::string_view verify_reason(VerifyResult result) {
  switch (result) {
    case VerifyResult::accepted: return "code_ok";
    case VerifyResult::rejected: return "wrong_code";
    case VerifyResult::replayed: return "code_reused";
    case VerifyResult::rate_limited: return "too_many_failures";
    case VerifyResult::malformed: return "not_a_code";
  }
  return "wrong_code";
}

// ---------------------------------------------------------------------------
// The flow.

struct FileTarget {
  std::vector<std::string> candidates;  // secret= first, then the GA fallback
  uid_t owner = 0;                      // expected owner and file access identity
  gid_t group = 0;
  std::string owner_name;               // for the owner's supplementary groups
};

// The first candidate that exists (or cannot even be checked: the locked
// open then reports why). nullopt: none exists.
std::optional<std::string> find_existing_file(const std::vector<std::string>& paths) {
  for (const auto& path : paths) {
    struct stat info {};
    if (::lstat(path.c_str(), &info) == 0 || errno != ENOENT) {
      return path;
    }
  }
  return std::nullopt;
}

// Why a candidate's directories fail strict modes (the first that does);
// nullopt when all pass or strict modes are off. A missing directory is no
// strict-modes problem: the file is then simply absent.
std::optional<std::string> unsafe_directory_of(const std::vector<std::string>& paths,
                                               uid_t owner, bool strict_modes) {
  if (!strict_modes) {
    return std::nullopt;
  }
  FileExpectations expectations;
  expectations.owner = owner;
  std::string_view previous_directory;
  for (const auto& path : paths) {
    // The GA fallback usually sits in the same directory: check it once.
    const std::string_view directory = std::string_view(path).substr(0, path.rfind('/') + 1);
    if (directory == previous_directory) {
      continue;
    }
    previous_directory = directory;
    auto checked = check_secret_directories(path, expectations);
    if (!checked && checked.error().code != ErrorCode::not_found) {
      return "secret file " + path + ": " + checked.error().message;
    }
  }
  return std::nullopt;
}

struct CheckResult {
  AuthStatus status = AuthStatus::auth_failed;
  // try_first_pass: PAM_AUTHTOK held a wrong code; ask the user once.
  bool ask_instead = false;
};

class Authentication {
 public:
  Authentication(const Config& config, const AuthRequest& request, Conversation& conversation,
                 ModuleLog& log, Clock clock)
      : config_(config), request_(request), conversation_(conversation), log_(log),
        clock_(clock), audit_(request, log) {}

  AuthStatus run();

 private:
  AuthStatus prompt_then_fail(std::string_view reason, std::string_view result = "rejected");
  Result<FileTarget> resolve_target(const Account& user);
  AuthStatus verify(const FileTarget& target);
  std::optional<std::string> unsafe_directory(const FileTarget& target) const {
    return unsafe_directory_of(target.candidates, target.owner, config_.strict_modes);
  }
  PromptNotice notice_before_prompt(const FileTarget& target, const std::string& path);
  CheckResult check_code(const FileTarget& target, const std::string& path,
                         const CodeInput& input);
  AuthStatus input_failed(const Error& problem) {
    return audit_.finish(AuthStatus::auth_failed, VerifyMethod::none, "rejected",
                         problem.message);
  }
  AuthStatus finish_run(const VerifyRun& run, const std::string& path, uid_t owner,
                        const CodeInput& input);
  std::optional<AuthStatus> within_grace_period(const FileTarget& target, const std::string& path);
  std::optional<AuthStatus> allow_readonly(const VerifyRun& run, const std::string& path);
  void forward_password(const CodeInput& input, std::size_t code_length);
  // ---- push approval (issue 13)
  bool push_offered() const { return config_.push && !push_devices_.empty(); }
  AuthStatus run_push(const FileTarget& target, const std::string& path);
  AuthStatus push_unavailable(const std::string& why, std::string_view reason,
                              const FileTarget& target, const std::string& path);
  AuthStatus verify_approval(const FileTarget& target, const std::string& path,
                             const push::ApprovalContext& context,
                             const push::ChallengeState& state);
  AuthStatus ask_code_instead(const FileTarget& target, const std::string& path);

  void debug(const std::string& line) {
    if (config_.debug) {
      log_.debug("debug: " + line);
    }
  }

  const Config& config_;
  const AuthRequest& request_;
  Conversation& conversation_;
  ModuleLog& log_;
  Clock clock_;
  Audit audit_;
  bool lockout_in_prompt_ = false;  // the prompt already said "too many attempts"
  std::vector<std::string> push_devices_;  // pinned credential ids (b64u), from the snapshot
  // The file owner's supplementary groups, looked up (NSS) once per login.
  std::optional<std::vector<gid_t>> owner_groups_;
};

// Unknown users and users without a secret file are asked for a code like
// everyone else, so the prompt does not reveal which accounts exist.
AuthStatus Authentication::prompt_then_fail(std::string_view reason, std::string_view result) {
  if (config_.code_source != CodeSource::use_first_pass) {
    auto discarded = ask(config_, conversation_);
    (void)discarded;
  }
  return audit_.finish(AuthStatus::auth_failed, VerifyMethod::none, result, reason);
}

Result<FileTarget> Authentication::resolve_target(const Account& user) {
  FileTarget target{{}, user.uid, user.gid, user.name};
  if (config_.file_user) {
    auto account = lookup_account(*config_.file_user);
    if (!account) {
      return account.error();
    }
    if (!*account) {
      return make_error(ErrorCode::invalid_argument,
                        "user=" + *config_.file_user + ": no such account");
    }
    target.owner = (*account)->uid;
    target.group = (*account)->gid;
    target.owner_name = (*account)->name;
  }
  const PathContext context{user.name, user.home};
  auto primary = expand_secret_path(config_.secret_path, context);
  if (!primary) {
    return primary.error();
  }
  target.candidates.push_back(std::move(*primary));
  if (config_.secret_path_is_default) {
    auto fallback = expand_secret_path(kGoogleAuthenticatorPath, context);
    if (!fallback) {
      return fallback.error();
    }
    target.candidates.push_back(std::move(*fallback));
  }
  return target;
}

void Authentication::forward_password(const CodeInput& input, std::size_t code_length) {
  if (config_.code_source != CodeSource::forward_pass) {
    return;
  }
  const auto typed = input.typed.view();
  const std::size_t length = code_length != 0 ? code_length : std::size_t{kMinDigits};
  const auto password = typed.size() >= length ? typed.substr(0, typed.size() - length) : typed;
  if (!conversation_.set_authtok(SecretBytes::from_string(password))) {
    log_.error("forward_pass: could not set PAM_AUTHTOK for the next module");
  }
}

AuthStatus Authentication::finish_run(const VerifyRun& run, const std::string& path,
                                      uid_t owner, const CodeInput& input) {
  forward_password(input, run.result.code_length);
  if (auto readonly = allow_readonly(run, path)) {
    return *readonly;
  }
  if (!run_completed(run)) {
    // Includes a failed write-back after an accepted code: without the new
    // replay floor on disk the code could be used again, so it is refused.
    const Error error = run.file_status.ok()
                            ? make_error(ErrorCode::io, "verification did not run")
                            : run.file_status.error();
    log_.error("secret file " + path + " (expected owner uid " + std::to_string(owner) +
               "): " + error.message);
    return audit_.finish(AuthStatus::auth_failed, run.result.outcome.method, "error",
                         file_error_reason(error.code));
  }
  const auto& outcome = run.result.outcome;
  debug(std::string("format=") + to_string(run.format) + " result=" + to_string(outcome.result) +
        " method=" + to_string(outcome.method) + " token=" + std::to_string(outcome.token_index) +
        " code_from_authtok=" + (input.from_authtok ? "yes" : "no"));
  if (outcome.clock_skew_seconds) {
    // Logged for the admin only: telling the user would tell an attacker too.
    log_.notice("twostep: user=" + sanitize_log_field(request_.user) +
                " phone clock looks off by about " + std::to_string(*outcome.clock_skew_seconds) +
                " seconds");
  }
  if (outcome.result == VerifyResult::rate_limited && !lockout_in_prompt_) {
    conversation_.show_error(kRateLimitedMessage);
  }
  const auto status =
      outcome.result == VerifyResult::accepted ? AuthStatus::success : AuthStatus::auth_failed;
  return audit_.finish(status, outcome.method, to_string(outcome.result),
                       verify_reason(outcome.result));
}

// allow_readonly (never the default): the code was right but the new state
// could not be written. pam_google_authenticator lets such a login through;
// so does twostep, loudly, because the code can now be used again.
std::optional<AuthStatus> Authentication::allow_readonly(const VerifyRun& run,
                                                         const std::string& path) {
  if (!config_.allow_readonly || run_completed(run) || !run.verified ||
      run.result.outcome.result != VerifyResult::accepted || run.file_status.ok()) {
    return std::nullopt;
  }
  log_.error("allow_readonly: LOGIN ALLOWED although the accepted code could not be recorded in " +
             path + " (" + run.file_status.error().message +
             "); the same code can be used again until the file can be written");
  return audit_.finish(AuthStatus::success, run.result.outcome.method, "accepted",
                       "state_not_saved");
}

// grace_period=: a login from the same rhost within the period needs no
// code. Read-only (shared lock); any problem with the file just means the
// code is asked for as usual, and the locked update reports it.
std::optional<AuthStatus> Authentication::within_grace_period(const FileTarget& target,
                                                              const std::string& path) {
  if (config_.grace_period == 0 || !is_recordable_rhost(request_.rhost)) {
    return std::nullopt;
  }
  std::optional<Result<SecretDocument>> document;
  {
    auto identity = FileAccessIdentity::assume(target.owner, target.group, target.owner_name);
    if (!identity) {
      return std::nullopt;
    }
    FileExpectations expectations;
    expectations.owner = target.owner;
    expectations.strict_modes = config_.strict_modes;
    document.emplace(read_secret_file(path, expectations));
  }
  if (!*document || !twostep::within_grace_period((*document)->enrollment, request_.rhost,
                                                  clock_(), config_.grace_period)) {
    return std::nullopt;
  }
  return audit_.finish(AuthStatus::success, VerifyMethod::none, "accepted", "grace_period");
}

// The file is opened, locked, read and replaced with the owner's file system
// identity; the conversation and logging happen outside that scope.
CheckResult Authentication::check_code(const FileTarget& target, const std::string& path,
                                       const CodeInput& input) {
  std::optional<VerifyRun> run;
  {
    auto identity =
        FileAccessIdentity::assume(target.owner, target.group, target.owner_name, owner_groups_);
    if (!identity) {
      log_.error(identity.error().message);
      return {audit_.finish(AuthStatus::service_error, VerifyMethod::none, "error",
                            "privilege_drop_failed"),
              false};
    }
    run = verify_under_lock(path, target.owner, input, config_, clock_, request_.rhost);
  }
  const auto result = run->result.outcome.result;
  const bool ask_instead = input.from_authtok &&
                           config_.code_source == CodeSource::try_first_pass &&
                           run_completed(*run) && result != VerifyResult::accepted &&
                           result != VerifyResult::rate_limited;
  return {finish_run(*run, path, target.owner, input), ask_instead};
}

// Locked out now: say so. A failure still counted: the previous code was
// refused (for whatever reason), so give the clock hint. With a failure
// source (native files) both follow the per-address counting of the
// verification, so another address's failures neither announce a lockout
// that verification would not apply nor hint at this user's clock.
PromptNotice notice_for(const RateLimit& limit, std::int64_t now,
                        const std::optional<std::string>& source) {
  const bool limited = source ? is_rate_limited(limit, now, *source) : is_rate_limited(limit, now);
  if (limited) {
    return PromptNotice::locked_out;
  }
  const auto interval = static_cast<std::int64_t>(limit.interval_s);
  const bool sourced = source && limit.failure_sources.size() == limit.failures.size();
  for (std::size_t i = 0; i < limit.failures.size(); ++i) {
    const std::int64_t failed_at = limit.failures[i];
    const bool ours = !sourced || limit.failure_sources[i].empty() ||
                      limit.failure_sources[i] == *source;
    if (ours && failed_at <= now && now - failed_at < interval) {
      return PromptNotice::clock_hint;
    }
  }
  return PromptNotice::none;
}

// A snapshot read (shared lock) before prompting: a locked-out user is told
// so in the prompt, and after a refusal the next prompt carries the clock
// hint. Trouble with the file is left to the locked check, which reports it.
PromptNotice Authentication::notice_before_prompt(const FileTarget& target,
                                                  const std::string& path) {
  if (config_.code_source == CodeSource::use_first_pass) {
    return PromptNotice::none;  // no prompt to carry it
  }
  auto identity = FileAccessIdentity::assume(target.owner, target.group, target.owner_name);
  if (!identity) {
    return PromptNotice::none;
  }
  FileExpectations expectations;
  expectations.owner = target.owner;
  expectations.strict_modes = config_.strict_modes;
  const auto document = read_secret_file(path, expectations);
  if (!document) {
    return PromptNotice::none;
  }
  if (config_.push) {
    for (const Device& device : document->enrollment.devices) {
      push_devices_.push_back(push::b64u_encode(device.credential_id));
    }
  }
  std::optional<std::string> source;
  if (document->format == FileFormat::native) {
    source = rate_limit_source(request_.rhost);
  }
  return notice_for(document->enrollment.rate_limit, clock_(), source);
}

AuthStatus Authentication::verify(const FileTarget& target) {
  std::optional<std::string> path;
  std::optional<std::string> unsafe;
  {
    auto identity =
        FileAccessIdentity::assume(target.owner, target.group, target.owner_name, owner_groups_);
    if (!identity) {
      log_.error(identity.error().message);
      return audit_.finish(AuthStatus::service_error, VerifyMethod::none, "error",
                           "privilege_drop_failed");
    }
    // Strict modes before "no file": where others can write the directory,
    // a missing file may have been deleted by them, so even nullok fails.
    unsafe = unsafe_directory(target);
    if (!unsafe) path = find_existing_file(target.candidates);
  }
  if (unsafe) {
    log_.error(*unsafe);
    return prompt_then_fail("unsafe_directory", "error");
  }
  if (!path) {
    if (config_.nullok) {
      debug("no secret file at " + target.candidates.front() + "; nullok");
      return audit_.finish(AuthStatus::ignore, VerifyMethod::none, "ignored", "no_secret_file");
    }
    log_.error("no secret file at " + target.candidates.front() +
               " (run twostep-enroll, or add nullok to allow users without one)");
    return prompt_then_fail("no_secret_file");
  }
  debug("secret file " + *path + " expected owner uid " + std::to_string(target.owner));
  if (auto grace = within_grace_period(target, *path)) {
    return *grace;
  }

  const PromptNotice notice = notice_before_prompt(target, *path);
  // With pinned devices the one prompt offers both ways; Enter alone is a push.
  auto input = push_offered()
                   ? ask(config_, conversation_, notice,
                         config_.prompt ? std::string_view(*config_.prompt) : kPushPrompt)
                   : obtain_code(config_, conversation_, notice);
  if (!input) {
    return input_failed(input.error());
  }
  if (push_offered() && input->typed.empty()) {
    return run_push(target, *path);
  }
  lockout_in_prompt_ = notice == PromptNotice::locked_out && !input->from_authtok;
  const auto first = check_code(target, *path, *input);
  if (!first.ask_instead) {
    return first.status;
  }
  input = ask(config_, conversation_);
  if (!input) {
    return input_failed(input.error());
  }
  return check_code(target, *path, *input).status;
}

// ---------------------------------------------------------------------------
// Push approval. Phases: the snapshot (notice_before_prompt) gave the pinned
// devices; the relay dialogue and the wait hold no lock and run with the
// module's own identity (reading the root-only host secret); the assertion
// is verified and its counter recorded under the lock with the owner's
// identity, in one core call (push::verify_push_approval).

constexpr std::chrono::milliseconds kRelayMargin{2000};

bool number_goes_in_a_prompt(const AuthRequest& request) {
  // sshd's keyboard-interactive holds info messages back until the next
  // prompt (OpenSSH bug 2876), so there the number travels in a prompt.
  return request.service == "sshd" || request.tty == "ssh";
}

AuthStatus Authentication::ask_code_instead(const FileTarget& target, const std::string& path) {
  auto input = ask(config_, conversation_);
  if (!input) {
    return input_failed(input.error());
  }
  return check_code(target, path, *input).status;
}

AuthStatus Authentication::push_unavailable(const std::string& why, std::string_view reason,
                                            const FileTarget& target, const std::string& path) {
  const char* mode = to_string(config_.failmode);
  log_.error("push: relay unavailable (" + why + "); failmode=" + mode);
  switch (config_.failmode) {
    case PushFailmode::safe:
      log_.error("push: failmode=safe: LOGIN ALLOWED WITHOUT A SECOND FACTOR for user " +
                 sanitize_log_field(request_.user) + " because the relay is unavailable");
      return audit_.finish_push(AuthStatus::success, "accepted", reason, "", mode);
    case PushFailmode::totp:
      conversation_.show_error("Push is not available right now.");
      (void)audit_.finish_push(AuthStatus::auth_failed, "fallback", reason, "", mode);
      return ask_code_instead(target, path);
    case PushFailmode::secure:
      break;
  }
  conversation_.show_error("Push is not available right now; log in with a code.");
  return audit_.finish_push(AuthStatus::auth_failed, "error", reason, "", mode);
}

AuthStatus Authentication::verify_approval(const FileTarget& target, const std::string& path,
                                           const push::ApprovalContext& context,
                                           const push::ChallengeState& state) {
  push::PushCheck check;
  bool ran = false;
  Status file_status;
  {
    auto identity =
        FileAccessIdentity::assume(target.owner, target.group, target.owner_name, owner_groups_);
    if (!identity) {
      log_.error(identity.error().message);
      return audit_.finish_push(AuthStatus::service_error, "error", "privilege_drop_failed",
                                state.device_name);
    }
    FileExpectations expectations;
    expectations.owner = target.owner;
    expectations.strict_modes = config_.strict_modes;
    file_status = lock_and_update_secret_file(path, expectations, [&](SecretDocument& document) {
      ran = true;
      check = push::verify_push_approval(document.enrollment, context, *state.assertion);
      return check.state_changed ? UpdateDecision::write : UpdateDecision::keep;
    });
  }
  const std::string device = check.device_name.empty() ? state.device_name : check.device_name;
  const bool kept = !file_status.ok() && file_status.error().code == ErrorCode::cancelled &&
                    !check.state_changed;
  if (!ran || (!file_status.ok() && !kept)) {
    const Error error = file_status.ok() ? make_error(ErrorCode::io, "verification did not run")
                                         : file_status.error();
    log_.error("secret file " + path + ": " + error.message);
    return audit_.finish_push(AuthStatus::auth_failed, "error", file_error_reason(error.code),
                              device);
  }
  if (check.verdict == push::PushVerdict::approved) {
    return audit_.finish_push(AuthStatus::success, "accepted", "approved", device);
  }
  if (check.verdict == push::PushVerdict::wrong_number) {
    conversation_.show_error("The number entered on the phone was not the one shown here.");
  }
  return audit_.finish_push(AuthStatus::auth_failed, "rejected", push::to_string(check.verdict),
                            device);
}

AuthStatus Authentication::run_push(const FileTarget& target, const std::string& path) {
  auto settings = push::read_push_config(config_.push_config);
  std::optional<Error> setup_error;
  if (!settings) setup_error = settings.error();
  std::optional<SecretBytes> secret;
  if (settings) {
    auto loaded = push::read_host_secret(settings->host_secret_file);
    if (loaded) {
      secret.emplace(std::move(*loaded));
    } else {
      setup_error = loaded.error();
    }
  }
  std::optional<std::unique_ptr<PushTransport>> transport;
  if (!setup_error) {
    auto opened = open_push_transport(*settings, std::move(*secret));
    if (opened) {
      transport.emplace(std::move(*opened));
    } else {
      setup_error = opened.error();
    }
  }
  if (setup_error) {
    // A broken installation is no outage: failmode=safe never applies here.
    log_.error("push: " + setup_error->message);
    if (config_.failmode == PushFailmode::totp) {
      conversation_.show_error("Push is not available on this host.");
      (void)audit_.finish_push(AuthStatus::auth_failed, "fallback", "push_config_error", "",
                               "totp");
      return ask_code_instead(target, path);
    }
    conversation_.show_error("Push is not available on this host; log in with a code.");
    return audit_.finish_push(AuthStatus::service_error, "error", "push_config_error", "");
  }

  auto nonce = push::random_b64u(32);
  auto number = push::random_approval_number();
  if (!nonce || !number) {
    return audit_.finish_push(AuthStatus::service_error, "error", "no_randomness", "");
  }
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(config_.push_timeout);
  // What the relay shows and the digest covers: the same text on both sides.
  push::ChallengeRequest request{push::relay_text(request_.user),
                                 push::relay_text(request_.service),
                                 push::relay_text(request_.rhost),
                                 push::relay_text(request_.tty),
                                 push_devices_, *nonce,
                                 clock_() + static_cast<std::int64_t>(config_.push_timeout)};
  RelayClient relay(**transport, kRelayMargin);
  const auto created = relay.create(request, deadline);
  if (created.reply == RelayReply::unavailable) {
    return push_unavailable(created.message, "backend_unavailable", target, path);
  }
  if (created.reply == RelayReply::refused) {
    if (created.error == "push_blocked") {
      conversation_.show_error("Push is blocked for this account after a report; ask your admin. "
                               "A code still works.");
    } else {
      conversation_.show_error("The push was refused (" + created.error + ").");
    }
    return audit_.finish_push(AuthStatus::auth_failed, "rejected", created.error, "");
  }
  const std::string& id = created.challenge.id;
  const std::string shown = push::format_approval_number(*number);
  if (number_goes_in_a_prompt(request_)) {
    auto answer = conversation_.prompt(
        "Push sent. On your phone, approve with the number " + shown +
            ", then press Enter here (or type a code): ",
        config_.echo_code);
    if (!answer) {
      relay.cancel(id);
      return audit_.finish_push(AuthStatus::auth_failed, "rejected", "conversation_failed", "");
    }
    if (!answer->empty()) {
      relay.cancel(id);
      if (answer->size() > kMaxTypedCode) {
        return input_failed(input_problem("input_too_long"));
      }
      return check_code(target, path, CodeInput{std::move(*answer), false}).status;
    }
  } else {
    // Shown at once by sudo and su, even under PAM_SILENT; no keystroke needed.
    conversation_.show_info("Push sent. On your phone, approve with the number " + shown + ".");
  }
  const auto waited = relay.wait(id, deadline);
  if (waited.reply == RelayReply::unavailable) {
    return push_unavailable(waited.message, "backend_unavailable", target, path);
  }
  if (waited.reply == RelayReply::refused) {
    return audit_.finish_push(AuthStatus::auth_failed, "rejected", waited.error, "");
  }
  if (waited.timed_out) {
    relay.cancel(id);
    conversation_.show_error("No answer from the phone in time.");
    return audit_.finish_push(AuthStatus::auth_failed, "rejected", "timeout", "");
  }
  const auto& state = waited.state;
  switch (state.status) {
    case push::RelayStatus::approved: {
      const push::ApprovalContext context{id,           *nonce,          settings->host_name,
                                          request.user, request.service, request.rhost,
                                          request.tty,  *number,         request.expires};
      return verify_approval(target, path, context, state);
    }
    case push::RelayStatus::denied:
      conversation_.show_error("The login was denied on the phone.");
      return audit_.finish_push(AuthStatus::auth_failed, "rejected", "denied", state.device_name);
    case push::RelayStatus::reported:
      conversation_.show_error("The login was reported on the phone.");
      return audit_.finish_push(AuthStatus::auth_failed, "rejected", "reported",
                                state.device_name);
    case push::RelayStatus::expired:
      return audit_.finish_push(AuthStatus::auth_failed, "rejected", "timeout", state.device_name);
    case push::RelayStatus::cancelled:
    case push::RelayStatus::pending:
      break;
  }
  return audit_.finish_push(AuthStatus::auth_failed, "rejected", "cancelled", state.device_name);
}

AuthStatus Authentication::run() {
  auto user = lookup_account(request_.user);
  if (!user) {
    log_.error(user.error().message);
    return audit_.finish(AuthStatus::service_error, VerifyMethod::none, "error",
                         "account_lookup_failed");
  }
  if (!*user) {
    log_.error("unknown user " + sanitize_log_field(request_.user));
    return prompt_then_fail("unknown_user");
  }
  auto target = resolve_target(**user);
  if (!target) {
    log_.error(target.error().message);
    return audit_.finish(AuthStatus::service_error, VerifyMethod::none, "error", "bad_config");
  }
  return verify(*target);
}

}  // namespace

AuthStatus authenticate(const Config& config, const AuthRequest& request,
                        Conversation& conversation, ModuleLog& log, Clock clock) {
  return Authentication(config, request, conversation, log, clock).run();
}

}  // namespace twostep::pam
