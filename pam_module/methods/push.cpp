// Method "push": Enter at the prompt sends a push to the user's pinned
// devices through the relay (docs/protocol.md). Phases: the devices come
// from the file as read; the relay dialogue and the wait hold no lock and
// run with the module's own identity for the root-only host secret; the
// assertion is verified against the pin and its counter recorded under the
// lock, in one core call (push::verify_push_approval). The relay is reached
// through the login's PushConnector, so tests script it.
#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "audit.hpp"
#include "login_context.hpp"
#include "methods/method.hpp"
#include "relay_client.hpp"
#include "twostep/push_login.hpp"

namespace twostep::pam {
namespace {

constexpr std::chrono::milliseconds kRelayMargin{2000};
constexpr std::string_view kNoAnswerMessage = "No answer from the phone in time.";

bool has_devices(const Config& config, const Enrollment& enrollment) {
  return config.push && !enrollment.devices.empty();
}

bool number_goes_in_a_prompt(const AuthRequest& request) {
  // sshd's keyboard-interactive holds info messages back until the next
  // prompt (OpenSSH bug 2876), so there the number travels in a prompt.
  return request.service == "sshd" || request.tty == "ssh";
}

MethodEnd done(AuthStatus status) { return MethodEnd{status, MethodEnd::Then::done, {}}; }
MethodEnd ask_for_code() {
  return MethodEnd{AuthStatus::auth_failed, MethodEnd::Then::ask_for_code, {}};
}

// One push, from the relay's first answer to the verdict.
class PushAttempt {
 public:
  explicit PushAttempt(Login& login) : login_(login) {}
  MethodEnd run();

 private:
  Result<PushConnection> connect();
  MethodEnd setup_failed(const Error& error);
  MethodEnd unavailable(const std::string& why);
  MethodEnd bad_answer(const std::string& why);
  MethodEnd refused_at_create(const std::string& error);
  std::optional<MethodEnd> show_number(RelayClient& relay, const std::string& id);
  MethodEnd decided(const push::ChallengeState& state);
  MethodEnd verify_approval(const push::ChallengeState& state);
  MethodEnd wrong_challenge(const push::ApprovalContext& context, std::vector<Device> pins,
                            const push::WireAssertion& assertion, const std::string& device);

  Login& login_;
  std::optional<PushConnection> connection_;
  push::ChallengeRequest request_;
  std::string nonce_;
  std::uint32_t number_ = 0;
  std::string id_;
};

Result<PushConnection> PushAttempt::connect() {
  std::optional<Result<PushConnection>> connected;
  auto identity = login_.file().with_module_identity(
      [&] { connected.emplace(login_.push_connector().connect(login_.config().push_config)); });
  if (!identity) return identity.error();
  return std::move(*connected);
}

// A broken installation is no outage: failmode=safe never applies here.
MethodEnd PushAttempt::setup_failed(const Error& error) {
  login_.log().error("push: " + error.message);
  if (login_.config().failmode == PushFailmode::totp) {
    login_.conversation().show_push_outcome("Push is not available on this host.");
    (void)login_.finish_push(AuthStatus::auth_failed, "fallback", "push_config_error", "", "totp");
    return ask_for_code();
  }
  login_.conversation().show_push_outcome(
      "Push is not available on this host; log in with a code.");
  return done(login_.finish_push(AuthStatus::service_error, "error", "push_config_error", ""));
}

MethodEnd PushAttempt::unavailable(const std::string& why) {
  const Config& config = login_.config();
  const char* mode = to_string(config.failmode);
  login_.log().error("push: relay unavailable (" + why + "); failmode=" + mode);
  switch (config.failmode) {
    case PushFailmode::safe:
      login_.log().error("push: failmode=safe: LOGIN ALLOWED WITHOUT A SECOND FACTOR for user " +
                         sanitize_log_field(login_.request().user) +
                         " because the relay is unavailable");
      return done(
          login_.finish_push(AuthStatus::success, "accepted", "backend_unavailable", "", mode));
    case PushFailmode::totp:
      login_.conversation().show_push_outcome("Push is not available right now.");
      (void)login_.finish_push(AuthStatus::auth_failed, "fallback", "backend_unavailable", "",
                               mode);
      return ask_for_code();
    case PushFailmode::secure:
      break;
  }
  login_.conversation().show_push_outcome("Push is not available right now; log in with a code.");
  return done(login_.finish_push(AuthStatus::auth_failed, "error", "backend_unavailable", "", mode));
}

// The relay answered, but not as the protocol says (or claimed an approval
// it cannot show): refused whatever the failmode, and logged as what it may
// be, an attack.
MethodEnd PushAttempt::bad_answer(const std::string& why) {
  login_.log().error("push: the relay's answer is not valid (" + why +
                     "); refused, whatever the failmode");
  login_.conversation().show_push_outcome(
      "The relay's answer was not valid; the push was refused.");
  return done(login_.finish_push(AuthStatus::auth_failed, "rejected", "bad_relay_answer", ""));
}

namespace {

// Refusals of the push alone: a code still works, so it is asked for in
// this same login. nullptr: any other refusal, which ends the login.
const char* code_instead_notice(const std::string& error) {
  // After "This wasn't me", until an admin clears it.
  if (error == "push_blocked") {
    return "Push is blocked for this account after a report; ask your admin. Type a code instead.";
  }
  // The relay's fatigue cooldown, or the phone's notification bound.
  if (error == "cooldown") {
    return "Push is paused for this account after several unanswered or denied requests. "
           "Type a code instead.";
  }
  if (error == "rate_limited") return "Too many push requests right now. Type a code instead.";
  return nullptr;
}

}  // namespace

MethodEnd PushAttempt::refused_at_create(const std::string& error) {
  if (const char* notice = code_instead_notice(error)) {
    login_.conversation().show_push_outcome(notice);
    (void)login_.finish_push(AuthStatus::auth_failed, "rejected", error, "");
    return ask_for_code();
  }
  login_.conversation().show_push_outcome("The push was refused (" + error + ").");
  return done(login_.finish_push(AuthStatus::auth_failed, "rejected", error, ""));
}

// Shows the number. Over sshd it travels in a prompt, where the user may
// type a code instead: then the push is cancelled and the code checked.
std::optional<MethodEnd> PushAttempt::show_number(RelayClient& relay, const std::string& id) {
  const std::string shown = push::format_approval_number(number_);
  if (!number_goes_in_a_prompt(login_.request())) {
    // Shown at once by sudo and su, even under PAM_SILENT; no keystroke needed.
    login_.conversation().show_info("Push sent. On your phone, approve with the number " +
                                    shown + ".");
    return std::nullopt;
  }
  auto answer = login_.conversation().prompt(
      "Push sent. On your phone, approve with the number " + shown +
          ", then press Enter here (or type a code): ",
      login_.config().echo_code);
  if (!answer) {
    relay.cancel(id);
    return done(login_.finish_push(AuthStatus::auth_failed, "rejected", "conversation_failed", ""));
  }
  if (answer->empty()) return std::nullopt;
  relay.cancel(id);
  if (answer->size() > kMaxTypedCode) {
    return done(login_.input_failed(make_error(ErrorCode::cancelled, "input_too_long")));
  }
  return MethodEnd{AuthStatus::auth_failed, MethodEnd::Then::check_typed_code,
                   CodeInput{std::move(*answer), false}};
}

MethodEnd PushAttempt::verify_approval(const push::ChallengeState& state) {
  const push::ApprovalContext context{
      id_,          nonce_,  connection_->settings.host_name, request_.user, request_.service,
      request_.rhost, request_.tty, number_, request_.expires, request_.context};
  push::PushCheck check;
  bool ran = false;
  std::vector<Device> pins;  // for the diagnosis of a wrong_challenge
  const Status file_status = login_.file().check_and_record([&](SecretDocument& document) {
    ran = true;
    check = push::verify_push_approval(document.enrollment, context, *state.assertion);
    if (check.verdict == push::PushVerdict::wrong_challenge) pins = document.enrollment.devices;
    return check.state_changed ? UpdateDecision::write : UpdateDecision::keep;
  });
  const std::string device = check.device_name.empty() ? state.device_name : check.device_name;
  const bool kept = !file_status.ok() && file_status.error().code == ErrorCode::cancelled &&
                    !check.state_changed;
  if (!ran || (!file_status.ok() && !kept)) {
    const Error error = file_status.ok() ? make_error(ErrorCode::io, "verification did not run")
                                         : file_status.error();
    login_.log().error("secret file " + login_.file().path() + ": " + error.message);
    return done(login_.finish_push(AuthStatus::auth_failed, "error",
                                   file_error_reason(error.code), device));
  }
  if (check.verdict == push::PushVerdict::approved) {
    return done(login_.finish_push(AuthStatus::success, "accepted", "approved", device));
  }
  if (check.verdict == push::PushVerdict::wrong_challenge) {
    return wrong_challenge(context, std::move(pins), *state.assertion, device);
  }
  if (check.verdict == push::PushVerdict::wrong_number) {
    login_.conversation().show_push_outcome(
        "The number entered on the phone was not the one shown here.");
  }
  return done(login_.finish_push(AuthStatus::auth_failed, "rejected",
                                 push::to_string(check.verdict), device));
}

// Signed by a pinned key over another digest: a replay or a lying relay,
// or, the usual cause, push.conf's host_name is not the relay's name for
// this host (the phone shows and signs the relay's name). The relay is
// asked for that name; the cause is named only when the pinned key's
// signature verifies over it. The login is refused either way.
MethodEnd PushAttempt::wrong_challenge(const push::ApprovalContext& context,
                                       std::vector<Device> pins,
                                       const push::WireAssertion& assertion,
                                       const std::string& device) {
  const push::HostSettings& settings = connection_->settings;
  RelayClient relay(*connection_->transport, login_.relay_timer(), kRelayMargin);
  const auto registered = relay.registered_host_name(settings.host_id);
  if (!registered ||
      !push::signed_for_host_name(std::move(pins), context, *registered, assertion)) {
    login_.conversation().show_push_outcome(
        "The approval was not for this login; the push was refused.");
    return done(login_.finish_push(AuthStatus::auth_failed, "rejected", "wrong_challenge", device));
  }
  login_.log().error("push: the phone approved this login for host name \"" +
                     sanitize_log_field(*registered) + "\", the relay's name for host_id " +
                     settings.host_id + ", but host_name in " + login_.config().push_config +
                     " is \"" + sanitize_log_field(settings.host_name) + "\": refused; set " +
                     "host_name to the relay's name (twostep-check reports the mismatch)");
  login_.conversation().show_push_outcome(
      "The phone approved this login for host \"" + push::relay_text(*registered) +
      "\", but this host is set up as \"" + push::relay_text(settings.host_name) +
      "\"; refused. Ask your admin to correct host_name in the push settings.");
  return done(
      login_.finish_push(AuthStatus::auth_failed, "rejected", "host_name_mismatch", device));
}

MethodEnd PushAttempt::decided(const push::ChallengeState& state) {
  switch (state.status) {
    case push::RelayStatus::approved:
      return verify_approval(state);
    case push::RelayStatus::denied:
      login_.conversation().show_push_outcome("The login was denied on the phone.");
      return done(login_.finish_push(AuthStatus::auth_failed, "rejected", "denied",
                                     state.device_name));
    case push::RelayStatus::reported:
      login_.conversation().show_push_outcome("The login was reported on the phone.");
      return done(login_.finish_push(AuthStatus::auth_failed, "rejected", "reported",
                                     state.device_name));
    case push::RelayStatus::expired:
      login_.conversation().show_push_outcome(kNoAnswerMessage);
      return done(login_.finish_push(AuthStatus::auth_failed, "rejected", "timeout",
                                     state.device_name));
    case push::RelayStatus::cancelled:
    case push::RelayStatus::pending:
      break;
  }
  login_.conversation().show_push_outcome("The push was cancelled before the phone answered.");
  return done(
      login_.finish_push(AuthStatus::auth_failed, "rejected", "cancelled", state.device_name));
}

MethodEnd PushAttempt::run() {
  auto connected = connect();
  if (!connected) return setup_failed(connected.error());
  connection_.emplace(std::move(*connected));
  auto nonce = push::random_b64u(32);
  auto number = push::random_approval_number();
  if (!nonce || !number) {
    return done(login_.finish_push(AuthStatus::service_error, "error", "no_randomness", ""));
  }
  nonce_ = std::move(*nonce);
  number_ = *number;
  const Config& config = login_.config();
  const AuthRequest& pam = login_.request();
  const auto deadline = login_.relay_timer().now() + std::chrono::seconds(config.push_timeout);
  // Available only with pinned devices, so the file was read.
  const SecretDocument* document = login_.file().snapshot();
  if (document == nullptr) {
    return done(login_.finish_push(AuthStatus::service_error, "error", "file_error", ""));
  }
  std::vector<std::string> devices;
  for (const Device& device : document->enrollment.devices) {
    devices.push_back(push::b64u_encode(device.credential_id));
  }
  // What the relay shows and the digest covers: the same text on both sides.
  request_ = push::ChallengeRequest{push::relay_text(pam.user), push::relay_text(pam.service),
                                    push::relay_text(pam.rhost), push::relay_text(pam.tty),
                                    std::move(devices), nonce_,
                                    login_.now() + static_cast<std::int64_t>(config.push_timeout),
                                    login_context(pam, running_program(), *connection_->transport)};
  RelayClient relay(*connection_->transport, login_.relay_timer(), kRelayMargin);
  const auto created = relay.create(request_, deadline);
  if (created.reply == RelayReply::unavailable) return unavailable(created.message);
  if (created.reply == RelayReply::bad_answer) return bad_answer(created.message);
  if (created.reply == RelayReply::refused) return refused_at_create(created.error);
  id_ = created.challenge.id;
  if (auto typed_instead = show_number(relay, id_)) return std::move(*typed_instead);
  const auto waited = relay.wait(id_, deadline);
  if (waited.reply == RelayReply::unavailable) return unavailable(waited.message);
  if (waited.reply == RelayReply::bad_answer) {
    relay.cancel(id_);
    return bad_answer(waited.message);
  }
  if (waited.reply == RelayReply::refused) {
    login_.conversation().show_push_outcome("The push was refused (" + waited.error + ").");
    return done(login_.finish_push(AuthStatus::auth_failed, "rejected", waited.error, ""));
  }
  if (waited.timed_out) {
    relay.cancel(id_);
    login_.conversation().show_push_outcome(kNoAnswerMessage);
    return done(login_.finish_push(AuthStatus::auth_failed, "rejected", "timeout", ""));
  }
  return decided(waited.state);
}

MethodEnd start_push(Login& login) { return PushAttempt(login).run(); }

}  // namespace

const Method kPushMethod{VerifyMethod::push, &has_devices, nullptr, nullptr, &start_push};

}  // namespace twostep::pam
