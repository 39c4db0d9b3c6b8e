#include "options.hpp"

#include <langinfo.h>

#include <charconv>
#include <cstdlib>
#include <cstring>
#include <string>

namespace twostep::enroll {
namespace {

std::optional<std::uint32_t> parse_u32(std::string_view text) {
  std::uint32_t value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size() || text.empty()) return std::nullopt;
  return value;
}

Error usage(std::string message) { return make_error(ErrorCode::invalid_argument, std::move(message)); }

const char* mode_flag(Mode mode) {
  switch (mode) {
    case Mode::wizard: return "the enrollment wizard";
    case Mode::show: return "--show";
    case Mode::status: return "--status";
    case Mode::remove: return "--remove";
    case Mode::add_token: return "--add-token";
    case Mode::regenerate_backup_codes: return "--regenerate-backup-codes";
    case Mode::push: return "--push";
    case Mode::list_devices: return "--list-devices";
    case Mode::remove_device: return "--remove-device";
  }
  return "this mode";
}

}  // namespace

Result<RateLimit> parse_rate_limit(std::string_view text) {
  RateLimit limit;
  if (text == "off") return limit;
  const auto slash = text.find('/');
  if (slash == std::string_view::npos) {
    return usage("--rate-limit wants N/SECONDS (e.g. 3/30) or off");
  }
  const auto failures = parse_u32(text.substr(0, slash));
  const auto seconds = parse_u32(text.substr(slash + 1));
  if (!failures || !seconds || *failures < 1 || *failures > kMaxRateLimitAttempts ||
      *seconds < 1 || *seconds > kMaxRateLimitInterval) {
    return usage("--rate-limit wants N/SECONDS with N in 1.." +
                 std::to_string(kMaxRateLimitAttempts) + " and SECONDS in 1.." +
                 std::to_string(kMaxRateLimitInterval));
  }
  limit.max_failures = *failures;
  limit.interval_s = *seconds;
  return limit;
}

Status validate_options(const Options& options) {
  const bool creates_token = options.mode == Mode::wizard || options.mode == Mode::add_token;
  if (!creates_token && !options.creation_options_given.empty()) {
    return usage(options.creation_options_given + " cannot be used with " + mode_flag(options.mode));
  }
  if (options.format == FileFormat::google_authenticator) {
    if (options.mode == Mode::add_token) {
      return usage("the google-authenticator format holds only one token; --add-token needs "
                   "the native format");
    }
    if (options.algorithm != HashAlgorithm::sha1 || options.digits != 6 || options.period != 30) {
      return usage("the google-authenticator format supports only SHA1, 6 digits and a 30 s "
                   "period; use --format native for other parameters");
    }
  }
  if (options.json && options.print_uri) {
    return usage("--json already holds the otpauth URI; leave out --print-uri");
  }
  if (options.backup_codes > kMaxBackupCodes) {
    return usage("--backup-codes: at most " + std::to_string(kMaxBackupCodes));
  }
  if (options.token_name.size() > kMaxTokenNameLength ||
      options.token_name.find_first_not_of(
          "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") != std::string::npos) {
    return usage("--token: 1 to 64 of A-Z a-z 0-9 . _ -");
  }
  return {};
}

QrStyle resolve_auto_qr(bool out_is_tty) {
  if (!out_is_tty) return QrStyle::none;
  const char* term = std::getenv("TERM");
  const std::string_view term_name = term != nullptr ? term : "";
  // A dumb terminal has no colours at all; plain characters are all it shows.
  if (term_name == "dumb") return QrStyle::ascii;
  const bool utf8 = std::strcmp(nl_langinfo(CODESET), "UTF-8") == 0;
  if (utf8 && !term_name.empty() && term_name != "linux") return QrStyle::utf8;
  return QrStyle::ansi;
}

}  // namespace twostep::enroll
