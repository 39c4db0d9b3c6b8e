// The C ABI of pam_twostep.so: the only file that includes the PAM headers.
// Everything here adapts libpam to the PAM-free authentication flow in
// authenticate.cpp; no exception ever leaves this file.
#include <security/pam_ext.h>
#include <security/pam_modules.h>
#include <syslog.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <span>
#include <string>

#include "authenticate.hpp"
#include "failure_pacing.hpp"
#include "module_config.hpp"
#include "twostep/secret.hpp"

namespace twostep::pam {
namespace {

// The single place where the module's result becomes a PAM code.
int to_pam_code(AuthStatus status) noexcept {
  switch (status) {
    case AuthStatus::success: return PAM_SUCCESS;
    case AuthStatus::auth_failed: return PAM_AUTH_ERR;
    case AuthStatus::ignore: return PAM_IGNORE;
    case AuthStatus::service_error: return PAM_SERVICE_ERR;
  }
  return PAM_AUTH_ERR;
}

// Frees a libpam-allocated response after wiping it.
struct PamResponse {
  char* text = nullptr;
  PamResponse() = default;
  PamResponse(const PamResponse&) = delete;
  PamResponse& operator=(const PamResponse&) = delete;
  ~PamResponse() {
    if (text != nullptr) {
      wipe(text, std::strlen(text));
      std::free(text);  // NOLINT: allocated by the application's conversation
    }
  }
};

class PamLog final : public ModuleLog {
 public:
  PamLog(pam_handle_t* pamh, bool debug, LogCopy copy)
      : pamh_(pamh), debug_(debug), copy_(copy) {}
  void notice(std::string_view line) override { write(LOG_NOTICE, line); }
  void error(std::string_view line) override { write(LOG_ERR, line); }
  void debug(std::string_view line) override {
    if (debug_) {
      write(LOG_DEBUG, line);
    }
  }

 private:
  void write(int priority, std::string_view line) {
    const std::string text(line);
    pam_syslog(pamh_, LOG_AUTHPRIV | priority, "%s", text.c_str());
    // log_copy= is the admin's explicit request while setting up, so it is
    // honoured even under PAM_SILENT (sudo passes it by default).
    if (copy_ == LogCopy::stderr_stream) {
      std::fprintf(stderr, "pam_twostep: %s\n", text.c_str());
    } else if (copy_ == LogCopy::conversation) {
      pam_info(pamh_, "pam_twostep: %s", text.c_str());
    }
  }
  pam_handle_t* pamh_;
  bool debug_;
  LogCopy copy_;
};

class PamConversation final : public Conversation {
 public:
  PamConversation(pam_handle_t* pamh, bool silent) : pamh_(pamh), silent_(silent) {}

  std::optional<SecretBytes> prompt(std::string_view text, bool echo) override {
    const std::string message(text);
    PamResponse response;
    const int style = echo ? PAM_PROMPT_ECHO_ON : PAM_PROMPT_ECHO_OFF;
    if (pam_prompt(pamh_, style, &response.text, "%s", message.c_str()) != PAM_SUCCESS ||
        response.text == nullptr) {
      return std::nullopt;
    }
    return SecretBytes::from_string(response.text);
  }

  void show_error(std::string_view text) override {
    if (silent_) {
      return;  // PAM_SILENT: the application asked for no messages
    }
    const std::string message(text);
    pam_error(pamh_, "%s", message.c_str());
  }

  void show_info(std::string_view text) override {
    const std::string message(text);
    pam_info(pamh_, "%s", message.c_str());
  }

  void show_push_outcome(std::string_view text) override {
    const std::string message(text);
    pam_error(pamh_, "%s", message.c_str());
  }

  std::optional<SecretBytes> authtok() override {
    const void* item = nullptr;
    if (pam_get_item(pamh_, PAM_AUTHTOK, &item) != PAM_SUCCESS || item == nullptr) {
      return std::nullopt;
    }
    return SecretBytes::from_string(static_cast<const char*>(item));
  }

  bool set_authtok(const SecretBytes& value) override {
    // libpam copies the item; the copy here is wiped by SecretBytes.
    SecretBytes terminated = value.clone();
    terminated.append(std::uint8_t{0});
    return pam_set_item(pamh_, PAM_AUTHTOK, terminated.data()) == PAM_SUCCESS;
  }

 private:
  pam_handle_t* pamh_;
  bool silent_;
};

std::string string_item(pam_handle_t* pamh, int item_type) {
  const void* item = nullptr;
  if (pam_get_item(pamh, item_type, &item) != PAM_SUCCESS || item == nullptr) {
    return {};
  }
  return static_cast<const char*>(item);
}

// The delay libpam applies when the stack fails (pam_unix asks for the
// same). Asked for on every call, before any work. It does not hide what the
// module did (libpam's randomisation is predictable); the module's own
// failure pacing (failure_pacing.hpp) does.
constexpr unsigned int kFailDelayMicroseconds = 2000000;

// Arguments that failed to parse still say where the admin looks.
bool asks_for_stderr_copy(std::span<const char* const> args) noexcept {
  for (const char* arg : args) {
    if (arg != nullptr && std::strcmp(arg, "log_copy=stderr") == 0) {
      return true;
    }
  }
  return false;
}

// Pads when the login ends in anything but success or "no opinion" (nullok),
// also when it ends by an exception.
class FailurePadding {
 public:
  explicit FailurePadding(const FailurePacing& pacing) : pacing_(pacing) {}
  FailurePadding(const FailurePadding&) = delete;
  FailurePadding& operator=(const FailurePadding&) = delete;
  ~FailurePadding() {
    if (pad_) pacing_.pad_failure();
  }
  AuthStatus ended(AuthStatus status) {
    pad_ = status == AuthStatus::auth_failed || status == AuthStatus::service_error;
    return status;
  }

 private:
  const FailurePacing& pacing_;
  bool pad_ = true;
};

// Every failure takes this user's minimum failure time (failure_pacing.hpp),
// on top of libpam's delay unless nodelay; a success returns at once.
AuthStatus paced_login(pam_handle_t* pamh, int flags, const Config& config, const char* user,
                       FailurePacing& pacing) {
  FailurePadding padding(pacing);
  PamLog log(pamh, config.debug, config.log_copy);
  auto module_key = load_module_key();
  if (!module_key && module_key.error().code != ErrorCode::not_found) {
    log.error(module_key.error().message + "; failure times and address tags are not keyed");
  }
  const std::span<const std::uint8_t> key =
      module_key ? module_key->span() : std::span<const std::uint8_t>();
  pacing.set_floor(user_fail_time(key, user, config.fail_time_ms));
  const AuthRequest request{user, string_item(pamh, PAM_SERVICE), string_item(pamh, PAM_RHOST),
                            string_item(pamh, PAM_TTY)};
  PamConversation pam_conversation(pamh, (static_cast<unsigned>(flags) & PAM_SILENT) != 0);
  PacedConversation conversation(pam_conversation, pacing);
  LoginSeams seams;
  seams.module_key = key;
  return padding.ended(authenticate(config, request, conversation, log, seams));
}

AuthStatus authenticate_with_pam(pam_handle_t* pamh, int flags, int argc, const char** argv) {
  FailurePacing pacing;  // from the moment the module is entered
  const auto arg_count = argc > 0 ? static_cast<std::size_t>(argc) : std::size_t{0};
  auto config = parse_module_arguments(std::span<const char* const>(argv, arg_count));
  if (!config || config->fail_delay) {
    (void)pam_fail_delay(pamh, kFailDelayMicroseconds);
  }
  if (!config) {
    pam_syslog(pamh, LOG_AUTHPRIV | LOG_ERR, "bad module arguments: %s",
               config.error().message.c_str());
    if (asks_for_stderr_copy(std::span<const char* const>(argv, arg_count))) {
      std::fprintf(stderr, "pam_twostep: bad module arguments: %s\n",
                   config.error().message.c_str());
    }
    return AuthStatus::service_error;
  }
  for (const auto& notice : config->notices) {
    pam_syslog(pamh, LOG_AUTHPRIV | LOG_NOTICE, "twostep: %s", notice.c_str());
  }
  const char* user = nullptr;
  if (pam_get_user(pamh, &user, nullptr) != PAM_SUCCESS || user == nullptr || *user == '\0') {
    pam_syslog(pamh, LOG_AUTHPRIV | LOG_ERR, "cannot determine the user name");
    return AuthStatus::auth_failed;
  }
  return paced_login(pamh, flags, *config, user, pacing);
}

// noexcept wrappers: the C entry points only call these, so nothing can
// unwind into libpam. (The entry points themselves cannot be declared
// noexcept: <security/pam_modules.h> declares them without it.)
int authenticate_entry(pam_handle_t* pamh, int flags, int argc, const char** argv) noexcept {
  try {
    if (pamh == nullptr || argc < 0 || (argc > 0 && argv == nullptr)) {
      return to_pam_code(AuthStatus::service_error);
    }
    return to_pam_code(authenticate_with_pam(pamh, flags, argc, argv));
  } catch (...) {
    pam_syslog(pamh, LOG_AUTHPRIV | LOG_ERR, "internal error; failing closed");
    return to_pam_code(AuthStatus::service_error);
  }
}

}  // namespace
}  // namespace twostep::pam

extern "C" __attribute__((visibility("default"))) int pam_sm_authenticate(
    pam_handle_t* pamh, int flags, int argc, const char** argv) {
  return twostep::pam::authenticate_entry(pamh, flags, argc, argv);
}

extern "C" __attribute__((visibility("default"))) int pam_sm_setcred(
    pam_handle_t* /*pamh*/, int /*flags*/, int /*argc*/, const char** /*argv*/) {
  // No credentials to establish; succeed so `auth` stacks work as expected.
  return PAM_SUCCESS;
}
