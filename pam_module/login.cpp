#include "login.hpp"

#include <array>
#include <ctime>
#include <utility>

#include "audit.hpp"
#include "methods/method.hpp"
#include "scope.hpp"
#include "twostep/account.hpp"
#include "twostep/secret_path.hpp"

namespace twostep::pam {

std::int64_t system_clock_now() noexcept {
  return static_cast<std::int64_t>(std::time(nullptr));
}

namespace {

// The method table, in the order typed codes are tried.
constexpr std::array<const Method*, 3> kMethods = {&kCodeMethod, &kBackupCodeMethod,
                                                   &kPushMethod};

// forward_pass input is a password plus a code; PAM_MAX_RESP_SIZE is 512.
constexpr std::size_t kMaxForwardPassInput = 512;

Error input_problem(std::string_view reason) {
  return make_error(ErrorCode::cancelled, std::string(reason));
}

struct FileTarget {
  std::vector<std::string> candidates;  // secret= first, then the GA fallback
  FileOwner owner;                      // expected owner and file access identity
};

Result<FileTarget> resolve_target(const Config& config, const Account& user) {
  FileTarget target{{}, FileOwner{user.uid, user.gid, user.name}};
  if (config.file_user) {
    auto account = lookup_account(*config.file_user);
    if (!account) return account.error();
    if (!*account) {
      return make_error(ErrorCode::invalid_argument,
                        "user=" + *config.file_user + ": no such account");
    }
    target.owner = FileOwner{(*account)->uid, (*account)->gid, (*account)->name};
  }
  const PathContext context{user.name, user.home};
  auto primary = expand_secret_path(config.secret_path, context);
  if (!primary) return primary.error();
  target.candidates.push_back(std::move(*primary));
  if (config.secret_path_is_default) {
    auto fallback = expand_secret_path(kGoogleAuthenticatorPath, context);
    if (!fallback) return fallback.error();
    target.candidates.push_back(std::move(*fallback));
  }
  return target;
}

// Locked out now: say so. A failure still counted: the previous code was
// refused (for whatever reason), so give the clock hint. With a failure
// source (native files) both follow the per-address counting of the
// verification, so another address's failures neither announce a lockout
// that verification would not apply nor hint at this user's clock.
bool has_recent_failure(const RateLimit& limit, std::int64_t now,
                        const std::optional<std::string>& source) {
  const auto interval = static_cast<std::int64_t>(limit.interval_s);
  const bool sourced = source && limit.failure_sources.size() == limit.failures.size();
  for (std::size_t i = 0; i < limit.failures.size(); ++i) {
    const std::int64_t failed_at = limit.failures[i];
    const bool ours = !sourced || limit.failure_sources[i].empty() ||
                      limit.failure_sources[i] == *source;
    if (ours && failed_at <= now && now - failed_at < interval) return true;
  }
  return false;
}

}  // namespace

std::span<const Method* const> method_table() noexcept { return kMethods; }

AuthStatus Login::finish(AuthStatus status, VerifyMethod method, std::string_view result,
                         std::string_view reason) {
  audit(AuditRecord{request_.user, request_.service, request_.rhost, request_.tty, method, result,
                    reason, {}, {}});
  return status;
}

AuthStatus Login::finish_push(AuthStatus status, std::string_view result, std::string_view reason,
                              std::string_view device, std::string_view failmode) {
  audit(AuditRecord{request_.user, request_.service, request_.rhost, request_.tty,
                    VerifyMethod::push, result, reason, device, failmode});
  return status;
}

void Login::audit(const AuditRecord& record) {
  log_.notice(config_.audit_json ? format_audit_json(record) : format_audit_line(record));
}

void Login::debug(const std::string& line) {
  if (config_.debug) log_.debug("debug: " + line);
}

// What the prompt says above the question. sshd drops messages that come
// after the last prompt of a failed login and sudo asks for PAM_SILENT, so
// the prompt itself is the one place every user sees. Both notices come from
// the file as it was read before asking, never from the code being typed.
std::string Login::prompt_text(PromptNotice notice,
                               std::optional<std::string_view> question) const {
  std::string text;
  if (notice == PromptNotice::locked_out) {
    text = std::string(kRateLimitedMessage) + "\n";
  } else if (notice == PromptNotice::clock_hint && !config_.clock_hint_text().empty()) {
    text = std::string(config_.clock_hint_text()) + "\n";
  }
  text += question ? *question : config_.prompt_text();
  return text;
}

Result<CodeInput> Login::ask(std::optional<std::string_view> question) {
  auto typed =
      conversation_.prompt(prompt_text(PromptNotice::none, question), config_.echo_code);
  if (!typed) return input_problem("conversation_failed");
  const std::size_t limit =
      config_.code_source == CodeSource::forward_pass ? kMaxForwardPassInput : kMaxTypedCode;
  if (typed->size() > limit) return input_problem("input_too_long");
  return CodeInput{std::move(*typed), false};
}

// Unknown users and users without a secret file are asked for a code like
// everyone else, so the prompt does not reveal which accounts exist.
AuthStatus Login::prompt_then_fail(std::string_view reason, std::string_view result) {
  if (config_.code_source != CodeSource::use_first_pass) {
    auto discarded = ask();
    (void)discarded;
  }
  return finish(AuthStatus::auth_failed, VerifyMethod::none, result, reason);
}

// grace_period=: a login from the same rhost within the period needs no
// code. From the file as read; any problem with it just means the code is
// asked for as usual, and the locked check reports it.
std::optional<AuthStatus> Login::within_grace_period() {
  const SecretDocument* document = file_->snapshot();
  if (config_.grace_period == 0 || document == nullptr ||
      !is_recordable_rhost(request_.rhost) ||
      !twostep::within_grace_period(document->enrollment, request_.rhost, now(),
                                    config_.grace_period)) {
    return std::nullopt;
  }
  return finish(AuthStatus::success, VerifyMethod::none, "accepted", "grace_period");
}

// A locked-out user is told so in the prompt, and after a refusal the next
// prompt carries the clock hint.
Login::PromptNotice Login::notice_before_prompt() const {
  const SecretDocument* document = file_->snapshot();
  if (config_.code_source == CodeSource::use_first_pass || document == nullptr) {
    return PromptNotice::none;  // no prompt to carry it, or nothing known
  }
  std::optional<std::string> source;
  if (document->format == FileFormat::native) source = source_tag();
  const RateLimit& limit = document->enrollment.rate_limit;
  const std::int64_t at = now();
  const bool limited = source ? is_rate_limited(limit, at, *source) : is_rate_limited(limit, at);
  if (limited) return PromptNotice::locked_out;
  return has_recent_failure(limit, at, source) ? PromptNotice::clock_hint : PromptNotice::none;
}

// The method an empty answer starts (push), if this user has one. Typed
// codes need no choice here: the locked attempt takes every available
// typed-code method from the file as locked (typed_code.cpp).
const Method* Login::started_by_empty_answer() const {
  const SecretDocument* document = file_->snapshot();
  if (document == nullptr) return nullptr;  // unread: the typed-code check reports why
  for (const Method* method : kMethods) {
    if (method->start != nullptr && method->available(config_, document->enrollment)) {
      return method;
    }
  }
  return nullptr;
}

Result<CodeInput> Login::obtain_first_input(PromptNotice notice) {
  // With a method that starts on Enter (push), the one prompt offers both.
  if (starter_ != nullptr) {
    return ask(prompt_text(notice, config_.prompt ? std::string_view(*config_.prompt)
                                                  : kPushPrompt));
  }
  switch (config_.code_source) {
    case CodeSource::use_first_pass: {
      auto token = conversation_.authtok();
      if (!token || token->empty()) return input_problem("no_authtok");
      if (token->size() > kMaxTypedCode) return input_problem("input_too_long");
      return CodeInput{std::move(*token), true};
    }
    case CodeSource::try_first_pass: {
      // Only an AUTHTOK that looks like a code is tried, so a password left
      // by pam_unix does not count as a failed attempt.
      auto token = conversation_.authtok();
      if (token && token->size() <= kMaxTypedCode && parse_typed_code(token->view())) {
        return CodeInput{std::move(*token), true};
      }
      break;
    }
    case CodeSource::prompt:
    case CodeSource::forward_pass:
      break;
  }
  return ask(prompt_text(notice, std::nullopt));
}

// An empty answer starts the method that takes one (push); everything else,
// and whatever a started method hands back, is a typed code.
AuthStatus Login::dispatch(CodeInput input) {
  if (starter_ == nullptr || !input.typed.empty()) return check_typed_code(std::move(input));
  MethodEnd end = starter_->start(*this);
  switch (end.then) {
    case MethodEnd::Then::done:
      return end.status;
    case MethodEnd::Then::check_typed_code:
      return check_typed_code(std::move(*end.typed));
    case MethodEnd::Then::ask_for_code:
      break;
  }
  auto asked = ask();
  if (!asked) return input_failed(asked.error());
  return check_typed_code(std::move(*asked));
}

AuthStatus Login::with_file() {
  if (file_->identity_error()) {
    log_.error(file_->identity_error()->message);
    return finish(AuthStatus::service_error, VerifyMethod::none, "error",
                  "privilege_drop_failed");
  }
  // Strict modes before "no file": where others can write the directory, a
  // missing file may have been deleted by them, so even nullok fails.
  if (file_->unsafe_directory()) {
    log_.error("secret file " + file_->path() + ": " + file_->unsafe_directory()->message);
    return prompt_then_fail("unsafe_directory", "error");
  }
  if (!file_->exists()) {
    if (config_.nullok) {
      debug("no secret file at " + file_->path() + "; nullok");
      return finish(AuthStatus::ignore, VerifyMethod::none, "ignored", "no_secret_file");
    }
    log_.error("no secret file at " + file_->path() +
               " (run twostep-enroll, or add nullok to allow users without one)");
    return prompt_then_fail("no_secret_file");
  }
  debug("secret file " + file_->path() + " expected owner uid " +
        std::to_string(file_->owner_uid()));
  if (auto grace = within_grace_period()) return *grace;
  starter_ = started_by_empty_answer();
  const PromptNotice notice = notice_before_prompt();
  auto input = obtain_first_input(notice);
  if (!input) return input_failed(input.error());
  lockout_in_prompt_ = notice == PromptNotice::locked_out && !input->from_authtok;
  return dispatch(std::move(*input));
}

AuthStatus Login::run() {
  auto user = lookup_account(request_.user);
  if (!user) {
    log_.error(user.error().message);
    return finish(AuthStatus::service_error, VerifyMethod::none, "error",
                  "account_lookup_failed");
  }
  if (!*user) {
    log_.error("unknown user " + sanitize_log_field(request_.user));
    return prompt_then_fail("unknown_user");
  }
  if (has_scope(config_)) {
    auto scope = decide_scope(config_, **user);
    if (!scope) {
      log_.error("groups of " + sanitize_log_field(request_.user) + ": " +
                 scope.error().message);
      return finish(AuthStatus::service_error, VerifyMethod::none, "error",
                    "group_lookup_failed");
    }
    debug("scope: " + scope->why);
    if (!scope->in_scope) {
      return finish(AuthStatus::ignore, VerifyMethod::none, "ignored", "out_of_scope");
    }
  }
  auto target = resolve_target(config_, **user);
  if (!target) {
    log_.error(target.error().message);
    return finish(AuthStatus::service_error, VerifyMethod::none, "error", "bad_config");
  }
  // The owner's identity is held from here to the end of the login.
  file_.emplace(LoginFile::open(target->candidates, target->owner, config_.strict_modes));
  return with_file();
}

AuthStatus authenticate(const Config& config, const AuthRequest& request,
                        Conversation& conversation, ModuleLog& log, LoginSeams seams) {
  SystemPushConnector system_push;
  SystemRelayTimer system_timer;
  if (seams.push == nullptr) seams.push = &system_push;
  if (seams.relay_timer == nullptr) seams.relay_timer = &system_timer;
  return Login(config, request, conversation, log, seams).run();
}

}  // namespace twostep::pam
