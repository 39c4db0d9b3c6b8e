// The one locked attempt for a typed code, shared by every method that takes
// one (methods/code.cpp, methods/backup_code.cpp): the file as read is
// locked and re-checked, each available method's checker runs in table
// order inside core's verify_typed_code (one failure recorded at most), the
// new state is written atomically, and the result becomes one audit line.
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "audit.hpp"
#include "login.hpp"
#include "methods/method.hpp"

namespace twostep::pam {

struct Login::TypedAttempt {
  Status file_status;
  bool checked = false;  // the check ran (the file was safe and parsed)
  FileFormat format = FileFormat::native;
  VerifyOutcome outcome;
  std::size_t code_length = 0;  // forward_pass: trailing characters that were the code
};

namespace {

Enrollment clone_enrollment(const Enrollment& enrollment) {
  Enrollment copy;
  copy.tokens.reserve(enrollment.tokens.size());
  for (const auto& token : enrollment.tokens) copy.tokens.push_back(token.clone());
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

bool all_digits(std::string_view text) {
  for (const char c : text) {
    if (c < '0' || c > '9') return false;
  }
  return !text.empty();
}

struct CodeMethods {
  std::vector<CodeChecker> checkers;
  std::set<std::size_t> lengths;  // what a forward_pass input can end with
};

// From the file as locked (another login may have used the last backup code
// since it was first read).
CodeMethods typed_code_methods(const Config& config, const Enrollment& enrollment) {
  CodeMethods code;
  for (const Method* method : method_table()) {
    if (method->check_typed_code == nullptr || !method->available(config, enrollment)) continue;
    code.checkers.push_back(method->check_typed_code);
    method->typed_code_lengths(enrollment, code.lengths);
  }
  return code;
}

struct Forwarded {
  VerifyOutcome outcome;
  std::size_t code_length = 0;
};

// Tries each plausible split of password+code on a copy of the state, so at
// most one failure is recorded however many splits were tried.
Forwarded verify_forwarded(Enrollment& enrollment, std::string_view typed, std::int64_t now,
                           const VerifyOptions& options, const CodeMethods& code) {
  std::optional<std::pair<Enrollment, Forwarded>> first_failure;
  for (const std::size_t length : code.lengths) {
    if (typed.size() < length || !all_digits(typed.substr(typed.size() - length))) continue;
    Enrollment trial = clone_enrollment(enrollment);
    const auto outcome = verify_typed_code(trial, typed.substr(typed.size() - length), now,
                                           options, code.checkers);
    if (outcome.result == VerifyResult::accepted) {
      enrollment = std::move(trial);
      return {outcome, length};
    }
    if (!first_failure) first_failure.emplace(std::move(trial), Forwarded{outcome, length});
  }
  if (first_failure) {
    enrollment = std::move(first_failure->first);
    return first_failure->second;
  }
  return {verify_typed_code(enrollment, std::string_view{}, now, options, code.checkers), 0};
}

// The file's update may report a `keep` decision as `cancelled`.
bool completed(const Login::TypedAttempt& attempt) {
  if (!attempt.checked) return false;
  if (attempt.file_status.ok()) return true;
  return attempt.file_status.error().code == ErrorCode::cancelled &&
         !attempt.outcome.state_changed;
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

}  // namespace

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

Login::TypedAttempt Login::attempt_typed_code(const CodeInput& input) {
  TypedAttempt attempt;
  VerifyOptions options{config_.window, true, std::nullopt};
  attempt.file_status = file_->check_and_record([&](SecretDocument& document) {
    attempt.checked = true;
    attempt.format = document.format;
    // Native files count failures per client address; google-authenticator
    // files keep RATE_LIMIT's one count for everyone.
    if (document.format == FileFormat::native) {
      options.failure_source = source_tag();
    }
    const CodeMethods code = typed_code_methods(config_, document.enrollment);
    const std::int64_t at = now();
    if (config_.code_source == CodeSource::forward_pass) {
      auto forwarded =
          verify_forwarded(document.enrollment, input.typed.view(), at, options, code);
      attempt.outcome = forwarded.outcome;
      attempt.code_length = forwarded.code_length;
    } else {
      attempt.outcome =
          verify_typed_code(document.enrollment, input.typed.view(), at, options, code.checkers);
    }
    // grace_period=: remember this host's login, in the same locked write.
    if (config_.grace_period != 0 && attempt.outcome.result == VerifyResult::accepted &&
        record_recent_login(document.enrollment, request_.rhost, at)) {
      attempt.outcome.state_changed = true;
    }
    return attempt.outcome.state_changed ? UpdateDecision::write : UpdateDecision::keep;
  });
  return attempt;
}

void Login::forward_password(const CodeInput& input, std::size_t code_length) {
  if (config_.code_source != CodeSource::forward_pass) return;
  const auto typed = input.typed.view();
  const std::size_t length = code_length != 0 ? code_length : std::size_t{kMinDigits};
  const auto password = typed.size() >= length ? typed.substr(0, typed.size() - length) : typed;
  if (!conversation_.set_authtok(SecretBytes::from_string(password))) {
    log_.error("forward_pass: could not set PAM_AUTHTOK for the next module");
  }
}

// allow_readonly (never the default): the code was right but the new state
// could not be written. pam_google_authenticator lets such a login through;
// so does twostep, loudly, because the code can now be used again.
std::optional<AuthStatus> Login::allow_readonly(const TypedAttempt& attempt) {
  if (!config_.allow_readonly || completed(attempt) || !attempt.checked ||
      attempt.outcome.result != VerifyResult::accepted || attempt.file_status.ok()) {
    return std::nullopt;
  }
  log_.error("allow_readonly: LOGIN ALLOWED although the accepted code could not be recorded in " +
             file_->path() + " (" + attempt.file_status.error().message +
             "); the same code can be used again until the file can be written");
  return finish(AuthStatus::success, attempt.outcome.method, "accepted", "state_not_saved");
}

AuthStatus Login::finish_attempt(const TypedAttempt& attempt, const CodeInput& input) {
  forward_password(input, attempt.code_length);
  if (auto readonly = allow_readonly(attempt)) return *readonly;
  if (!completed(attempt)) {
    // Includes a failed write-back after an accepted code: without the new
    // replay floor on disk the code could be used again, so it is refused.
    const Error error = attempt.file_status.ok()
                            ? make_error(ErrorCode::io, "verification did not run")
                            : attempt.file_status.error();
    log_.error("secret file " + file_->path() + " (expected owner uid " +
               std::to_string(file_->owner_uid()) + "): " + error.message);
    return finish(AuthStatus::auth_failed, attempt.outcome.method, "error",
                  file_error_reason(error.code));
  }
  const auto& outcome = attempt.outcome;
  debug(std::string("format=") + to_string(attempt.format) + " result=" +
        to_string(outcome.result) + " method=" + to_string(outcome.method) +
        " token=" + std::to_string(outcome.token_index) +
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
  return finish(status, outcome.method, to_string(outcome.result), verify_reason(outcome.result));
}

AuthStatus Login::check_typed_code(CodeInput input) {
  const TypedAttempt first = attempt_typed_code(input);
  const auto result = first.outcome.result;
  // try_first_pass: PAM_AUTHTOK held a wrong code; ask the user once.
  const bool ask_instead = input.from_authtok &&
                           config_.code_source == CodeSource::try_first_pass &&
                           completed(first) && result != VerifyResult::accepted &&
                           result != VerifyResult::rate_limited;
  const AuthStatus status = finish_attempt(first, input);
  if (!ask_instead) return status;
  auto asked = ask();
  if (!asked) return input_failed(asked.error());
  return finish_attempt(attempt_typed_code(*asked), *asked);
}

}  // namespace twostep::pam
