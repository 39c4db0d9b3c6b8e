// One login through pam_twostep, in one pass (docs/admin-guide.md, "Code
// map"): account and file target -> the file, read once (login_file.hpp) ->
// one prompt -> the chosen method (methods/) -> the locked check-and-record
// -> one audit line. Free of PAM types; pam_twostep.cpp adapts libpam to it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "audit.hpp"
#include "authenticate.hpp"
#include "conversation.hpp"
#include "login_file.hpp"
#include "module_config.hpp"
#include "push_transport.hpp"
#include "relay_client.hpp"
#include "twostep/policy.hpp"

namespace twostep::pam {

struct Method;

// What the user typed: a code, password+code with forward_pass, or nothing
// (Enter: a push, where push is available).
struct CodeInput {
  SecretBytes typed;
  bool from_authtok = false;  // PAM_AUTHTOK, not typed at our prompt
};

// How a method started by an empty answer ends.
struct MethodEnd {
  enum class Then {
    done,              // `status` is the login's result (audited)
    check_typed_code,  // the user typed a code instead: check `typed`
    ask_for_code,      // fall back to asking for a code (failmode=totp)
  };
  AuthStatus status = AuthStatus::auth_failed;
  Then then = Then::done;
  std::optional<CodeInput> typed;
};

// The audit reason for a secret file that could not be used.
std::string_view file_error_reason(ErrorCode code);

class Login {
 public:
  Login(const Config& config, const AuthRequest& request, Conversation& conversation,
        ModuleLog& log, const LoginSeams& seams)
      : config_(config), request_(request), conversation_(conversation), log_(log),
        seams_(seams) {}

  AuthStatus run();

  // ---- what the methods use
  const Config& config() const noexcept { return config_; }
  const AuthRequest& request() const noexcept { return request_; }
  Conversation& conversation() noexcept { return conversation_; }
  ModuleLog& log() noexcept { return log_; }
  std::int64_t now() const noexcept { return seams_.clock(); }
  PushConnector& push_connector() noexcept { return *seams_.push; }
  RelayTimer& relay_timer() noexcept { return *seams_.relay_timer; }
  LoginFile& file() noexcept { return *file_; }
  // Asks with the configured prompt (or `question`), bounded input.
  Result<CodeInput> ask(std::optional<std::string_view> question = std::nullopt);
  // The one audit line of this login.
  AuthStatus finish(AuthStatus status, VerifyMethod method, std::string_view result,
                    std::string_view reason);
  AuthStatus finish_push(AuthStatus status, std::string_view result, std::string_view reason,
                         std::string_view device, std::string_view failmode = {});
  AuthStatus input_failed(const Error& problem) {
    return finish(AuthStatus::auth_failed, VerifyMethod::none, "rejected", problem.message);
  }
  void debug(const std::string& line);
  // This client address's tag in native files (twostep::rate_limit_source).
  std::string source_tag() const { return rate_limit_source(request_.rhost, seams_.module_key); }

 private:
  enum class PromptNotice { none, locked_out, clock_hint };
  void audit(const AuditRecord& record);  // text or JSON (audit_json)
  AuthStatus with_file();
  AuthStatus prompt_then_fail(std::string_view reason, std::string_view result = "rejected");
  std::optional<AuthStatus> within_grace_period();
  PromptNotice notice_before_prompt() const;
  std::string prompt_text(PromptNotice notice, std::optional<std::string_view> question) const;
  Result<CodeInput> obtain_first_input(PromptNotice notice);
  AuthStatus dispatch(CodeInput input);
  const Method* started_by_empty_answer() const;


 public:
  // typed_code.cpp: the one locked attempt for a typed code.
  struct TypedAttempt;

 private:
  AuthStatus check_typed_code(CodeInput input);
  TypedAttempt attempt_typed_code(const CodeInput& input);
  AuthStatus finish_attempt(const TypedAttempt& attempt, const CodeInput& input);
  std::optional<AuthStatus> allow_readonly(const TypedAttempt& attempt);
  void forward_password(const CodeInput& input, std::size_t code_length);

  const Config& config_;
  const AuthRequest& request_;
  Conversation& conversation_;
  ModuleLog& log_;
  const LoginSeams& seams_;
  std::optional<LoginFile> file_;
  const Method* starter_ = nullptr;     // what an empty answer starts (push), if any
  bool lockout_in_prompt_ = false;      // the prompt already said "too many attempts"
};

}  // namespace twostep::pam
