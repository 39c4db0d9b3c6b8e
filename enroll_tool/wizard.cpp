// The default mode: create a token, show it, confirm a code, write the file,
// show the backup codes once.
#include <sys/stat.h>

#include <optional>
#include <string>
#include <vector>

#include "backup_codes.hpp"
#include "confirm.hpp"
#include "exit_codes.hpp"
#include "json_output.hpp"
#include "modes.hpp"
#include "token_display.hpp"
#include "twostep/base32.hpp"
#include "twostep/secret_store.hpp"

namespace twostep::enroll {
namespace {

// 160 bits, RFC 4226's recommendation, for every algorithm: ample for
// HMAC-SHA256/512 too, and it keeps the QR code small enough for 80x24.
constexpr std::size_t kSecretBytes = 20;

bool path_exists(const std::string& path) {
  struct stat info {};
  return lstat(path.c_str(), &info) == 0;
}

Enrollment new_enrollment(const Options& options, Token token) {
  Enrollment enrollment;
  enrollment.tokens.push_back(std::move(token));
  enrollment.window = options.window;
  enrollment.replay_protection = true;
  enrollment.rate_limit = options.rate_limit;
  return enrollment;
}

// What --force keeps of the enrollment it replaces, and what it drops. A
// careful user replacing a lost phone wants its codes dead at once: a new
// secret and new backup codes, and the old settings and login history
// gone. The push pins stay (each approves only after the phone's own
// unlock), so the lost phone is removed by name, as the FAQ says, and other
// phones keep working; a google-authenticator file cannot hold pins, so
// there they are dropped, and said to be.
struct ReplacedEnrollment {
  bool existed = false;
  std::optional<std::string> unusable;  // why the old file was not used
  std::size_t tokens = 0;
  std::size_t backup_codes = 0;
  std::vector<std::string> kept_devices;
  std::vector<std::string> dropped_devices;
};

void take_over_pins(const Result<SecretDocument>& old, SecretDocument& fresh,
                    ReplacedEnrollment& replaced) {
  if (!old) {
    replaced.existed = old.error().code != ErrorCode::not_found;
    if (replaced.existed) replaced.unusable = old.error().message;
    return;
  }
  replaced.existed = true;
  replaced.tokens = old->enrollment.tokens.size();
  replaced.backup_codes = old->enrollment.backup_codes.size();
  for (const Device& device : old->enrollment.devices) {
    if (fresh.format != FileFormat::native) {
      replaced.dropped_devices.push_back(device.name);
      continue;
    }
    fresh.enrollment.devices.push_back(device);
    replaced.kept_devices.push_back(device.name);
  }
}

std::string counted(std::size_t count, const std::string& thing) {
  return std::to_string(count) + " " + thing + (count == 1 ? "" : "s");
}

std::string quoted_names(const std::vector<std::string>& names) {
  std::string text;
  for (const std::string& name : names) text += (text.empty() ? "\"" : ", \"") + name + "\"";
  return text;
}

// The same file as this run: --user and --secret-file as given.
std::string remove_device_command(const Options& options) {
  std::string command = "twostep-enroll";
  if (options.user) command += " --user " + *options.user;
  if (options.secret_file) command += " --secret-file '" + *options.secret_file + "'";
  return command + " --remove-device NAME";
}

void report_replaced(const Session& session, const ReplacedEnrollment& replaced) {
  const Console& console = session.console;
  if (!replaced.existed) return;
  if (replaced.unusable) {
    console.always("The file replaced could not be used (" + *replaced.unusable +
                   "): nothing of it was kept. Pair phones again with twostep-enroll --push.");
    return;
  }
  console.always("Dropped: the old codes (" + counted(replaced.tokens, "token") + ") and " +
                 counted(replaced.backup_codes, "backup code") + "; they stop working now.");
  if (!replaced.dropped_devices.empty()) {
    console.always("Dropped: " + counted(replaced.dropped_devices.size(), "push device") + " (" +
                   quoted_names(replaced.dropped_devices) +
                   "): a google-authenticator file cannot hold them.");
  }
  if (!replaced.kept_devices.empty()) {
    console.always("Kept: " + counted(replaced.kept_devices.size(), "push device") + " (" +
                   quoted_names(replaced.kept_devices) + "). Unpair a lost phone with " +
                   remove_device_command(session.options) + ".");
  } else if (replaced.dropped_devices.empty()) {
    console.always("Kept: nothing (no push device was paired).");
  }
}

// --force replaces the file under its lock, keeping the push pins (above);
// without it, the file must not exist yet.
Status write_enrollment(const Session& session, SecretDocument& document,
                        ReplacedEnrollment& replaced) {
  const SecretLocation& location = session.location;
  if (!session.options.force) {
    return create_secret_file(location.path, document, false, location.owner, location.group);
  }
  return replace_secret_file(
      location.path, document,
      [&](const Result<SecretDocument>& old, SecretDocument& fresh) {
        take_over_pins(old, fresh, replaced);
      },
      location.owner, location.group);
}

}  // namespace

Result<Token> new_token(const Options& options) {
  auto key = random_secret(kSecretBytes);
  if (!key) return key.error();
  Token token;
  token.name = options.token_name;
  token.kind = options.hotp ? TokenKind::hotp : TokenKind::totp;
  token.key = std::move(*key);
  token.algorithm = options.algorithm;
  token.digits = options.digits;
  token.period = options.period;
  // pam_google_authenticator refuses HOTP_COUNTER 0; its own tool starts at 1.
  if (token.kind == TokenKind::hotp && options.format == FileFormat::google_authenticator) {
    token.counter = 1;
  }
  return token;
}

int present_new_token(const Session& session, const Token& token, const SecretBytes& uri,
                  WrittenFiles& images) {
  const Options& options = session.options;
  const Console& console = session.console;
  const bool on_screen = may_show_secret(options, console);
  if (!on_screen && options.confirm && !options.print_uri && !options.png && !options.svg) {
    console.error("output is not a terminal, so the secret is not shown; use --qr=utf8, "
                  "--png FILE or --print-uri (or --no-confirm for provisioning)");
    return kExitUsage;
  }
  if (auto written = write_qr_images(console, options, uri, images); !written) {
    console.error(written.error().message);
    return written.error().code == ErrorCode::invalid_argument ? kExitRefused : kExitIo;
  }
  if (options.print_uri) {
    std::fwrite(uri.data(), 1, uri.size(), stdout);
    std::fputc('\n', stdout);
    std::fflush(stdout);
  }
  // Before the QR, so the prompt stays right below it.
  if (uses_non_default_parameters(token)) warn_about_app_support(console, token);
  if (on_screen) {
    const AppLabel label = app_label(options, session.target);
    if (auto shown = show_token(console, token, label, uri, effective_qr_style(options, console),
                                 !options.qr_explicit);
        !shown) {
      console.error(shown.error().message);
      return kExitIo;
    }
  }
  return kExitOk;
}

bool may_show_secret(const Options& options, const Console& console) {
  return console.text_is_tty() || (options.qr_explicit && options.qr != QrStyle::none);
}

int report_interrupted(const Console& console) {
  console.always("");
  console.always("Interrupted; nothing was written.");
  return kExitInterrupted;
}

int report_file_error(const Console& console, const Error& error) {
  if (error.code == ErrorCode::not_found) {
    console.error(error.message + " (not enrolled?)");
    return kExitNotEnrolled;
  }
  console.error(error.message);
  return kExitIo;
}

int run_wizard(const Session& session) {
  const Options& options = session.options;
  const Console& console = session.console;
  const std::string& path = session.location.path;
  if (path_exists(path) && !options.force) {
    console.error(path + " already exists: " + session.target.name +
                  " is already enrolled. Use --status to see it, --add-token for another "
                  "device, or --force to replace it.");
    return kExitRefused;
  }
  auto token = new_token(options);
  if (!token) return report_file_error(console, token.error());
  const AppLabel label = app_label(options, session.target);
  remember_label(*token, label);
  auto uri = token_uri(*token, label);
  if (!uri) {
    console.error(uri.error().message);
    return kExitUsage;
  }
  console.info("Enrolling " + session.target.name + " in " + path + ".");
  WrittenFiles images;  // removed again unless the enrollment completes
  if (const int shown = present_new_token(session, *token, *uri, images); shown != kExitOk) return shown;

  if (options.confirm) {
    switch (confirm_token(console, *token, options.window)) {
      case ConfirmResult::confirmed: break;
      case ConfirmResult::interrupted: return report_interrupted(console);
      case ConfirmResult::failed:
        console.error("the code was not confirmed; nothing was written");
        return kExitConfirmFailed;
    }
  }

  if (interrupted()) return report_interrupted(console);  // e.g. Ctrl-C with --no-confirm
  Enrollment enrollment = new_enrollment(options, std::move(*token));
  auto codes = make_backup_codes(enrollment, options.backup_codes, options.format);
  if (!codes) return report_file_error(console, codes.error());
  SecretDocument document = make_document(options.format, std::move(enrollment));
  ReplacedEnrollment replaced;
  if (auto created = write_enrollment(session, document, replaced); !created) {
    console.error(created.error().message);
    return kExitIo;
  }
  images.keep();
  console.info("Enrolled: " + path + " (" + to_string(options.format) + " format, mode 0600).");
  report_replaced(session, replaced);
  if (options.json) {
    // The backup codes appear only here, never also in the text on stderr.
    const SecretBytes key = base32_encode(document.enrollment.tokens.front().key.span());
    const SecretBytes json = render_enrollment_json(
        {*uri, key, *codes, path, to_string(options.format)});
    std::fwrite(json.data(), 1, json.size(), stdout);
    std::fflush(stdout);
    return kExitOk;
  }
  print_backup_codes(console, *codes);
  return kExitOk;
}

}  // namespace twostep::enroll
