// twostep-enroll: option parsing and dispatch to one function per mode.
#include <sys/stat.h>

#include <CLI/CLI.hpp>
#include <array>
#include <clocale>
#include <exception>
#include <map>
#include <string>
#include <vector>

#include "exit_codes.hpp"
#include "modes.hpp"
#include "options.hpp"
#include "target.hpp"
#include "terminal.hpp"

namespace twostep::enroll {
namespace {

struct ModeEntry {
  Mode mode;
  int (*run)(const Session&);
};

constexpr std::array kModes{
    ModeEntry{Mode::wizard, run_wizard},
    ModeEntry{Mode::show, run_show},
    ModeEntry{Mode::status, run_status},
    ModeEntry{Mode::remove, run_remove},
    ModeEntry{Mode::add_token, run_add_token},
    ModeEntry{Mode::regenerate_backup_codes, run_regenerate_backup_codes},
    ModeEntry{Mode::push, run_push},
    ModeEntry{Mode::list_devices, run_list_devices},
    ModeEntry{Mode::remove_device, run_remove_device},
};

// Options beyond --user/--secret-file/--format/--file-owner/--force/--quiet
// that each mode accepts.
const std::map<Mode, std::vector<std::string>>& mode_options() {
  static const std::map<Mode, std::vector<std::string>> table{
      {Mode::wizard,
       {"--qr", "--png", "--svg", "--print-uri", "--issuer", "--label", "--token", "--algorithm",
        "--digits", "--period", "--hotp", "--window", "--backup-codes", "--rate-limit",
        "--no-confirm", "--json"}},
      {Mode::add_token,
       {"--qr", "--png", "--svg", "--print-uri", "--issuer", "--label", "--token", "--algorithm",
        "--digits", "--period", "--hotp", "--no-confirm"}},
      {Mode::show, {"--qr", "--png", "--svg", "--print-uri", "--issuer", "--label", "--token"}},
      {Mode::status, {}},
      {Mode::remove, {"--no-confirm"}},
      {Mode::regenerate_backup_codes, {"--backup-codes"}},
      {Mode::push, {"--qr", "--push-config", "--no-confirm", "--pairing-timeout"}},
      {Mode::list_devices, {}},
      {Mode::remove_device, {}},
  };
  return table;
}

const std::vector<std::string> kCommonOptions{"--user", "--secret-file", "--format",
                                              "--file-owner", "--force", "--quiet"};
const std::vector<std::string> kModeFlags{"--show",      "--status",       "--remove",
                                          "--add-token", "--regenerate-backup-codes",
                                          "--push",      "--list-devices", "--remove-device"};

bool listed(const std::vector<std::string>& names, const std::string& name) {
  for (const std::string& candidate : names) {
    if (candidate == name) return true;
  }
  return false;
}

// Names of given options that the chosen mode does not use.
std::string options_foreign_to(Mode mode, const CLI::App& app) {
  std::string foreign;
  for (const CLI::Option* option : app.get_options()) {
    if (option->count() == 0) continue;
    const std::string name = "--" + option->get_single_name();
    if (name == "--help" || listed(kCommonOptions, name) || listed(kModeFlags, name) ||
        listed(mode_options().at(mode), name)) {
      continue;
    }
    foreign += foreign.empty() ? name : ", " + name;
  }
  return foreign;
}

struct RawOptions {
  std::string qr = "auto";
  std::string format = "native";
  std::string file_owner = "auto";
  std::string algorithm = "SHA1";
  std::string rate_limit = "3/30";
  std::string token;
  bool show = false, status = false, remove = false, add_token = false, regenerate = false;
  bool push = false, list_devices = false;
  std::string remove_device;
  bool no_confirm = false;
};

// Help text shows placeholders, not CLI11's type and validator notation
// (TEXT:{a,b}, UINT:UINT in [6 - 8]): the descriptions list the values.
CLI::Validator quiet(CLI::Validator validator) { return validator.description(""); }

constexpr const char* kHelpFooter =
    "\nThe secret file template (--secret-file) expands like pam_twostep's secret=:\n"
    "~, ${HOME}, %h = the user's home; ${USER}, %u = the user's name; %% = %.\n"
    "Without --secret-file, --status/--show/--remove/... find ~/.twostep, else\n"
    "~/.google_authenticator, as the module does.\n"
    "\nExamples:\n"
    "  twostep-enroll                                 enroll yourself (QR, confirm a code)\n"
    "  twostep-enroll --status                        what is enrolled (no secrets)\n"
    "  twostep-enroll --add-token --token tablet      a second device\n"
    "  sudo twostep-enroll --user alice --secret-file /var/lib/twostep/%u\n"
    "                                                 root-owned file for sudo\n"
    "  twostep-enroll --format google-authenticator   a ~/.google_authenticator file\n"
    "  twostep-enroll --png qr.png --qr none          QR as an image instead\n"
    "  twostep-enroll --push                          pair a phone for push approval\n\n";

// The groups below register in the order --help lists them.

// The mode flags, and the settings only --push takes.
void define_mode_options(CLI::App& app, Options& options, RawOptions& raw) {
  app.add_flag("--show", raw.show, "Show the QR code, key and URI of the existing enrollment again");
  app.add_flag("--status", raw.status, "Show what is enrolled (no secrets)");
  app.add_flag("--remove", raw.remove, "Delete the enrollment (asks first unless --force)");
  app.add_flag("--add-token", raw.add_token, "Add another device (token \"spare\" unless --token)");
  app.add_flag("--regenerate-backup-codes", raw.regenerate, "Replace all backup codes");
  app.add_flag("--push", raw.push,
               "Pair a phone for push approval (QR code, then confirm the comparison code)");
  app.add_flag("--list-devices", raw.list_devices, "List the phones paired for push");
  app.add_option("--remove-device", raw.remove_device, "Unpair the push device NAME")
      ->type_name("NAME");
  app.add_option("--push-config", options.push_config,
                 "Push settings of this host (default /etc/twostep/push.conf)")
      ->type_name("FILE");
  app.add_option("--pairing-timeout", options.pairing_timeout,
                 "Seconds to wait for the phone, 10-600 (default 600)")
      ->type_name("SECONDS")
      ->check(quiet(CLI::Range(10u, 600u)));
}

// Whose file, where, in which format and owned by whom.
void define_file_options(CLI::App& app, Options& options, RawOptions& raw) {
  app.add_option("--user", options.user, "Enroll/manage this user (root only for others)")
      ->type_name("NAME");
  app.add_option("--secret-file", options.secret_file,
                 "Secret file template (default ~/.twostep); ~ and %u expand, see below")
      ->type_name("PATH");
  app.add_option("--format", raw.format, "native (default) or google-authenticator")
      ->type_name("FORMAT")
      ->check(quiet(CLI::IsMember({"native", "google-authenticator"})));
  app.add_option("--file-owner", raw.file_owner,
                 "When root writes: auto (user inside their home, else root), user, root")
      ->type_name("WHO")
      ->check(quiet(CLI::IsMember({"auto", "user", "root"})));
}

// What the new token is, and the login policy written with it.
void define_token_options(CLI::App& app, Options& options, RawOptions& raw) {
  app.add_option("--issuer", options.issuer, "Issuer shown in the app (default: host name)")
      ->type_name("TEXT");
  app.add_option("--label", options.label,
                 "Account shown in the app (default: user@host; user@host (central) for a "
                 "file outside the home)")
      ->type_name("TEXT");
  app.add_option("--token", raw.token, "Token name (default phone; spare with --add-token)")
      ->type_name("NAME");
  app.add_option("--algorithm", raw.algorithm, "SHA1 (default), SHA256 or SHA512")
      ->type_name("ALG")
      ->check(quiet(CLI::IsMember({"SHA1", "SHA256", "SHA512", "sha1", "sha256", "sha512"})));
  app.add_option("--digits", options.digits, "Code length 6 (default), 7 or 8")
      ->type_name("N")
      ->check(quiet(CLI::Range(kMinDigits, kMaxDigits)));
  app.add_option("--period", options.period, "TOTP period in seconds, 1-3600 (default 30)")
      ->type_name("SECONDS")
      ->check(quiet(CLI::Range(kMinPeriod, kMaxPeriod)));
  app.add_flag("--hotp", options.hotp, "Counter-based (HOTP) token instead of TOTP");
  app.add_option("--window", options.window, "Accepted steps each side of now, 0-10 (default 1)")
      ->type_name("N")
      ->check(quiet(CLI::Range(0u, kMaxWindow)));
  app.add_option("--backup-codes", options.backup_codes, "Number of backup codes, 0-32 (default 8)")
      ->type_name("N")
      ->check(quiet(CLI::Range(std::size_t{0}, kMaxBackupCodes)));
  app.add_option("--rate-limit", raw.rate_limit, "N/SECONDS failures allowed, or off (default 3/30)")
      ->type_name("N/S");
}

// How the result is shown, and how much is asked.
void define_output_options(CLI::App& app, Options& options, RawOptions& raw) {
  app.add_option("--qr", raw.qr,
                 "Terminal QR: utf8 (half blocks), ansi (coloured cells), ascii, none; auto "
                 "(default) picks utf8 or ansi from the locale and TERM, none without a terminal")
      ->type_name("STYLE")
      ->check(quiet(CLI::IsMember({"auto", "utf8", "ansi", "ascii", "none"})));
  app.add_option("--png", options.png, "Also write the QR code as PNG (contains the secret)")
      ->type_name("FILE");
  app.add_option("--svg", options.svg, "Also write the QR code as SVG (contains the secret)")
      ->type_name("FILE");
  app.add_flag("--print-uri", options.print_uri,
               "Print the otpauth:// URI on stdout (other text goes to stderr)");
  app.add_flag("--json", options.json,
               "Print the result as one JSON object on stdout: otpauth URI, manual key, backup "
               "codes, secret file, format (other text goes to stderr)");
  app.add_flag("--no-confirm", raw.no_confirm, "Do not ask for a code (or for removal)");
  app.add_flag("--force", options.force, "Replace an existing enrollment or image file");
  app.add_flag("-q,--quiet", options.quiet, "Only essential output");
}

void define_options(CLI::App& app, Options& options, RawOptions& raw) {
  define_mode_options(app, options, raw);
  define_file_options(app, options, raw);
  define_token_options(app, options, raw);
  define_output_options(app, options, raw);
  app.footer(std::string(kHelpFooter) + kExitCodeHelp);
}

Result<Mode> chosen_mode(const RawOptions& raw) {
  const int count = int{raw.show} + int{raw.status} + int{raw.remove} + int{raw.add_token} +
                    int{raw.regenerate} + int{raw.push} + int{raw.list_devices} +
                    int{!raw.remove_device.empty()};
  if (count > 1) {
    return make_error(ErrorCode::invalid_argument,
                      "choose one of --show, --status, --remove, --add-token, "
                      "--regenerate-backup-codes, --push, --list-devices, --remove-device");
  }
  if (raw.push) return Mode::push;
  if (raw.list_devices) return Mode::list_devices;
  if (!raw.remove_device.empty()) return Mode::remove_device;
  if (raw.show) return Mode::show;
  if (raw.status) return Mode::status;
  if (raw.remove) return Mode::remove;
  if (raw.add_token) return Mode::add_token;
  if (raw.regenerate) return Mode::regenerate_backup_codes;
  return Mode::wizard;
}

QrStyle qr_style_named(const std::string& name) {
  if (name == "utf8") return QrStyle::utf8;
  if (name == "ansi") return QrStyle::ansi;
  if (name == "ascii") return QrStyle::ascii;
  return QrStyle::none;
}

Status finish_options(const CLI::App& app, const RawOptions& raw, Options& options) {
  auto mode = chosen_mode(raw);
  if (!mode) return mode.error();
  options.mode = *mode;
  options.creation_options_given = options_foreign_to(options.mode, app);
  options.format = raw.format == "native" ? FileFormat::native : FileFormat::google_authenticator;
  options.file_owner = raw.file_owner == "user"   ? FileOwner::user
                       : raw.file_owner == "root" ? FileOwner::root
                                                  : FileOwner::automatic;
  options.algorithm = parse_hash_algorithm(raw.algorithm).value_or(HashAlgorithm::sha1);
  options.qr_explicit = app.count("--qr") > 0 && raw.qr != "auto";
  options.qr = qr_style_named(raw.qr);
  options.confirm = !raw.no_confirm;
  options.device_name = raw.remove_device;
  options.token_name = !raw.token.empty()                ? raw.token
                       : options.mode == Mode::add_token ? "spare"
                       : options.mode == Mode::wizard    ? "phone"
                                                         : "";
  if (options.hotp && app.count("--period") > 0) {
    return make_error(ErrorCode::invalid_argument, "--period applies to TOTP, not --hotp");
  }
  auto limit = parse_rate_limit(raw.rate_limit);
  if (!limit) return limit.error();
  options.rate_limit = *limit;
  return validate_options(options);
}

int run(int argc, char** argv) {
  CLI::App app("Enroll a user in twostep two-step login: creates the secret, shows it as a QR "
               "code,\nchecks a code from the app, writes the secret file, shows backup codes.",
               "twostep-enroll");
  Options options;
  RawOptions raw;
  define_options(app, options, raw);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    return app.exit(error) == 0 ? kExitOk : kExitUsage;
  }
  const Console console(options.print_uri || options.json, options.quiet);
  if (auto finished = finish_options(app, raw, options); !finished) {
    console.error(finished.error().message);
    return kExitUsage;
  }
  auto target = resolve_target_user(options.user);
  if (!target) {
    console.error(target.error().message);
    return kExitUsage;
  }
  auto location = locate_secret_file(options, *target);
  if (!location) {
    console.error(location.error().message);
    return kExitUsage;
  }
  const Session session{options, console, std::move(*target), std::move(*location)};
  const ScopedFilesystemIdentity identity(session.target, session.location);
  if (!identity.ok()) {
    console.error("cannot switch to the file system identity of " + session.target.name);
    return kExitIo;
  }
  for (const ModeEntry& entry : kModes) {
    if (entry.mode == options.mode) return entry.run(session);
  }
  return kExitUsage;
}

}  // namespace
}  // namespace twostep::enroll

int main(int argc, char** argv) {
  umask(077);
  std::setlocale(LC_CTYPE, "");
  twostep::enroll::install_interrupt_handlers();
  try {
    return twostep::enroll::run(argc, argv);
  } catch (const std::exception& error) {
    std::fprintf(stderr, "twostep-enroll: %s\n", error.what());
    return twostep::enroll::kExitIo;
  }
}
