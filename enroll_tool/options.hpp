// Command-line options of twostep-enroll after parsing and validation.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "twostep/enrollment.hpp"
#include "twostep/otp.hpp"
#include "twostep/result.hpp"
#include "twostep/secret_file.hpp"

namespace twostep::enroll {

enum class Mode {
  wizard, show, status, remove, add_token, regenerate_backup_codes,
  push, list_devices, remove_device
};

enum class QrStyle { utf8, ansi, ascii, none };

// Who owns the written file when root writes it.
enum class FileOwner { automatic, user, root };

struct Options {
  Mode mode = Mode::wizard;

  // Where.
  std::optional<std::string> user;         // --user (root only for others)
  std::optional<std::string> secret_file;  // --secret-file, before expansion
  FileFormat format = FileFormat::native;
  FileOwner file_owner = FileOwner::automatic;

  // What the token looks like.
  std::optional<std::string> issuer;
  std::optional<std::string> label;        // account name
  std::string token_name;                  // "phone" or "spare" (add-token)
  HashAlgorithm algorithm = HashAlgorithm::sha1;
  unsigned digits = 6;
  std::uint32_t period = 30;
  bool hotp = false;
  std::uint32_t window = 1;
  std::size_t backup_codes = 8;
  RateLimit rate_limit;                    // failures list stays empty

  // Output.
  QrStyle qr = QrStyle::none;
  bool qr_explicit = false;                // --qr given on the command line
  std::optional<std::string> png;
  std::optional<std::string> svg;
  bool print_uri = false;
  bool json = false;                       // --json: one JSON object on stdout (wizard)
  bool quiet = false;

  // Push devices (--push, --list-devices, --remove-device NAME).
  std::string push_config = "/etc/twostep/push.conf";  // --push-config
  std::string device_name;                             // --remove-device NAME
  std::uint32_t pairing_timeout = 600;                 // --pairing-timeout SECONDS

  // Behaviour.
  bool confirm = true;                     // false with --no-confirm
  bool force = false;

  // Names of token/output options given on the command line that only make
  // sense when a token is created (wizard, --add-token); for error messages.
  std::string creation_options_given;
};

// Parses "N/SECONDS" or "off" for --rate-limit.
Result<RateLimit> parse_rate_limit(std::string_view text);

// Checks option combinations that CLI11 cannot express (format limits,
// options that do not apply to the chosen mode). Returns a message for the
// user on failure.
Status validate_options(const Options& options);

// --qr=auto resolved against the terminal: utf8 when the locale's codeset is
// UTF-8 and TERM is not dumb/linux, else ansi; none when `out_is_tty` is false.
QrStyle resolve_auto_qr(bool out_is_tty);

}  // namespace twostep::enroll
