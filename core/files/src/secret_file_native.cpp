// The native format, "twostep-secret 1", and "twostep-secret 2" for files
// with push devices (docs/secret-file.md).
#include <algorithm>
#include <array>
#include <limits>
#include <span>

#include "secret_file_text.hpp"
#include "twostep/base32.hpp"
#include "twostep/base64url.hpp"
#include "twostep/secret_file.hpp"
#include "twostep/web_origin.hpp"

namespace twostep {
namespace {

using file_text::line_error;

constexpr std::string_view kHeader = "twostep-secret 1";
// Version 2 is version 1 plus `device` lines. It is written only when the
// file has devices, so a module that predates push keeps reading every file
// without them, and refuses (fails closed on) every file with them.
constexpr std::string_view kHeaderV2 = "twostep-secret 2";
constexpr std::string_view kHeaderPrefix = "twostep-secret";
constexpr std::string_view kBackupPrefix = "sha256:";
constexpr std::size_t kBackupSaltHex = 32;
constexpr std::size_t kBackupDigestHex = 64;

// Settings lines, in the order a fresh file (and any added line) lists them.
enum Setting : std::size_t { kWindow, kReplay, kRateLimit, kRateFailures, kSettingCount };
constexpr std::array<std::string_view, kSettingCount> kSettingNames = {
    "window", "replay-protection", "rate-limit", "rate-failures"};

// Where each item of the document came from, so the writer can keep lines.
struct NativeLayout {
  std::array<std::optional<std::size_t>, kSettingCount> settings;
  std::vector<std::size_t> token_lines;   // parallel to enrollment.tokens
  std::vector<std::size_t> backup_lines;  // parallel to enrollment.backup_codes
  std::vector<std::size_t> login_lines;   // parallel to enrollment.recent_logins
  std::vector<std::size_t> device_lines;  // parallel to enrollment.devices
  bool version2 = false;
};

constexpr std::string_view kRecentLogin = "recent-login";

struct ParsedNative {
  SecretDocument document;
  NativeLayout layout;
};

struct KeptNativeLayout final : detail::KeptLayout {
  KeptNativeLayout(std::size_t lines, Enrollment as_read, NativeLayout parsed)
      : KeptLayout(FileFormat::native, lines, std::move(as_read)), layout(std::move(parsed)) {}
  const NativeLayout layout;
};

bool is_name_char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
         c == '.' || c == '_' || c == '-';
}

bool valid_token_name(std::string_view name) {
  if (name.empty() || name.size() > kMaxTokenNameLength) return false;
  for (const char c : name) {
    if (!is_name_char(c)) return false;
  }
  return true;
}

bool is_lower_hex(std::string_view text) {
  for (const char c : text) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

// "sha256:<32 hex salt>:<64 hex digest>", lower-case hex.
bool valid_backup_hash(std::string_view hash) {
  if (hash.size() != kBackupPrefix.size() + kBackupSaltHex + 1 + kBackupDigestHex) return false;
  if (!hash.starts_with(kBackupPrefix)) return false;
  hash.remove_prefix(kBackupPrefix.size());
  if (hash[kBackupSaltHex] != ':') return false;
  return is_lower_hex(hash.substr(0, kBackupSaltHex)) &&
         is_lower_hex(hash.substr(kBackupSaltHex + 1));
}

// issuer= and label= values: percent-encoded UTF-8, so a value never holds a
// blank or a control character on the line. Unreserved characters (RFC 3986)
// and '@' are written as they are, everything else as %XX.
bool is_plain_text_char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
         c == '-' || c == '.' || c == '_' || c == '~' || c == '@';
}

std::string percent_encode(std::string_view text) {
  constexpr std::string_view kHex = "0123456789ABCDEF";
  std::string out;
  for (const char c : text) {
    if (is_plain_text_char(c)) {
      out += c;
    } else {
      const auto byte = static_cast<unsigned char>(c);
      out += '%';
      out += kHex[byte >> 4];
      out += kHex[byte & 0xF];
    }
  }
  return out;
}

std::optional<int> hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return std::nullopt;
}

// Decoded text, or nullopt for a bad escape, a control character or an
// over-long value.
std::optional<std::string> percent_decode(std::string_view text, std::size_t max_length) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '%') {
      if (text.size() - i < 3) return std::nullopt;
      const auto high = hex_value(text[i + 1]);
      const auto low = hex_value(text[i + 2]);
      if (!high || !low) return std::nullopt;
      c = static_cast<char>((*high << 4) | *low);
      i += 2;
    }
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte == 0x7f) return std::nullopt;
    out += c;
    if (out.size() > max_length) return std::nullopt;
  }
  return out;
}

// Non-negative Unix time.
std::optional<std::int64_t> parse_time(std::string_view text) {
  if (text.starts_with('-')) return std::nullopt;
  return file_text::parse_integer<std::int64_t>(text);
}

struct KeyedField {
  std::size_t key_index;  // into the line's list of keys
  std::string_view value;
};

// Field `i` of a `token` or `device` line (`kind`): key=value, with a key from
// `keys` that the line has not used before (`seen` records each use).
Result<KeyedField> keyed_field(std::size_t number, std::string_view kind, std::size_t i,
                               std::string_view field, std::span<const std::string_view> keys,
                               std::span<bool> seen) {
  const std::string kind_text(kind);
  const std::size_t equals = field.find('=');
  if (equals == std::string_view::npos) {
    return line_error(number, kind_text + " field " + std::to_string(i) + " is not key=value");
  }
  const std::string_view key = field.substr(0, equals);
  std::size_t k = 0;
  while (k < keys.size() && keys[k] != key) ++k;
  if (k == keys.size()) {
    return line_error(number, "unknown " + kind_text + " field " + std::to_string(i));
  }
  if (seen[k]) return line_error(number, "duplicate " + kind_text + " field " + std::string(key));
  seen[k] = true;
  return KeyedField{k, field.substr(equals + 1)};
}

// ---- device fields ------------------------------------------------------------

Status parse_device_name(std::size_t number, std::string_view value, Device& device) {
  auto text = percent_decode(value, kMaxDeviceNameLength);
  if (!text || text->empty()) {
    return line_error(number, "device name must be 1.." + std::to_string(kMaxDeviceNameLength) +
                                  " bytes, percent-encoded, no control characters");
  }
  device.name = std::move(*text);
  return {};
}

Status parse_device_credential(std::size_t number, std::string_view value, Device& device) {
  auto id = b64u_decode(value, kMaxCredentialIdBytes);
  if (!id || id->empty()) {
    return line_error(number, "device credential must be b64u of 1.." +
                                  std::to_string(kMaxCredentialIdBytes) + " bytes");
  }
  device.credential_id = std::move(*id);
  return {};
}

Status parse_device_key(std::size_t number, std::string_view value, Device& device) {
  auto spki = b64u_decode(value, kDeviceKeyBytes);
  if (!spki || !has_p256_spki_shape(*spki)) {
    return line_error(number, "device key must be b64u of a P-256 SPKI (91 bytes)");
  }
  device.public_key = std::move(*spki);
  return {};
}

Status parse_device_origin(std::size_t number, std::string_view value, Device& device) {
  if (value.size() > kMaxDeviceOriginLength || !host_of_web_origin(value)) {
    return line_error(number, "device origin must be https://HOST[:PORT]");
  }
  device.origin = std::string(value);
  return {};
}

Status parse_device_counter(std::size_t number, std::string_view value, Device& device) {
  const auto counter = file_text::parse_integer<std::uint32_t>(value);
  if (!counter) return line_error(number, "device counter must be 0..4294967295");
  device.sign_counter = *counter;
  return {};
}

Status parse_device_added(std::size_t number, std::string_view value, Device& device) {
  const auto time = parse_time(value);
  if (!time) return line_error(number, "device added must be a Unix time");
  device.added = *time;
  return {};
}

// A device line's keys, in the order "device without ..." reports a missing
// one, and the parser of each.
constexpr std::array<std::string_view, 6> kDeviceKeys = {"name",   "credential", "key",
                                                         "origin", "counter",    "added"};
using DeviceFieldParser = Status (*)(std::size_t number, std::string_view value, Device& device);
constexpr std::array<DeviceFieldParser, kDeviceKeys.size()> kDeviceFieldParsers = {
    parse_device_name,   parse_device_credential, parse_device_key,
    parse_device_origin, parse_device_counter,    parse_device_added};

// ---- parsing ------------------------------------------------------------------

class NativeParser {
 public:
  Result<ParsedNative> run(std::string_view text);

 private:
  Status parse_line(std::size_t index, std::string_view content);
  Status parse_setting(std::size_t number, Setting setting,
                       const std::vector<std::string_view>& fields);
  Status parse_window(std::size_t number, const std::vector<std::string_view>& fields);
  Status parse_replay_protection(std::size_t number, const std::vector<std::string_view>& fields);
  Status parse_rate_limit(std::size_t number, const std::vector<std::string_view>& fields);
  Status parse_rate_failures(std::size_t number, const std::vector<std::string_view>& fields);
  Status add_known_source(std::size_t number, std::size_t index, std::string source);
  Status parse_token(std::size_t number, const std::vector<std::string_view>& fields);
  Status parse_token_field(std::size_t number, std::string_view key, std::string_view value,
                           Token& token);
  Status parse_backup(std::size_t number, const std::vector<std::string_view>& fields);
  Status parse_recent_login(std::size_t number, const std::vector<std::string_view>& fields);
  Status parse_device(std::size_t number, const std::vector<std::string_view>& fields);

  ParsedNative parsed_;
  Enrollment& enrollment_ = parsed_.document.enrollment;
  NativeLayout& layout_ = parsed_.layout;
};

Result<ParsedNative> NativeParser::run(std::string_view text) {
  auto lines = file_text::split_lines(text, kMaxNativeLineLength);
  if (!lines) return lines.error();
  if (lines->empty()) return line_error(1, "missing header \"twostep-secret 1\"");
  parsed_.document.format = FileFormat::native;
  parsed_.document.original_lines = std::move(*lines);
  const auto& all = parsed_.document.original_lines;

  const std::string_view header = file_text::content_of(all[0]);
  layout_.version2 = header == kHeaderV2;
  if (header != kHeader && !layout_.version2) {
    if (header.starts_with(kHeaderPrefix)) return line_error(1, "unsupported version");
    return line_error(1, "missing header \"twostep-secret 1\"");
  }
  for (std::size_t i = 1; i < all.size(); ++i) {
    auto status = parse_line(i, file_text::content_of(all[i]));
    if (!status) return status.error();
  }
  if (enrollment_.tokens.empty()) return line_error(all.size(), "no token line in the file");
  // Version 2 exactly when devices are present, as the writer keeps it: a
  // version 2 file without one could not be written back unchanged.
  if (layout_.version2 && layout_.device_lines.empty()) {
    return line_error(1, "\"twostep-secret 2\" without a device line (use \"twostep-secret 1\")");
  }
  return std::move(parsed_);
}

Status NativeParser::parse_line(std::size_t index, std::string_view content) {
  const std::size_t number = index + 1;
  const std::string_view trimmed = file_text::trim(content);
  if (trimmed.empty() || trimmed.front() == '#') return {};
  const auto fields = file_text::split_fields(trimmed);
  const std::string_view keyword = fields[0];
  for (std::size_t s = 0; s < kSettingCount; ++s) {
    if (keyword != kSettingNames[s]) continue;
    if (layout_.settings[s]) return line_error(number, "duplicate " + std::string(keyword));
    layout_.settings[s] = index;
    return parse_setting(number, static_cast<Setting>(s), fields);
  }
  if (keyword == "token") {
    auto status = parse_token(number, fields);
    if (status) layout_.token_lines.push_back(index);
    return status;
  }
  if (keyword == kRecentLogin) {
    auto status = parse_recent_login(number, fields);
    if (status) layout_.login_lines.push_back(index);
    return status;
  }
  if (keyword == "device") {
    if (!layout_.version2) {
      return line_error(number, "device lines need the header \"twostep-secret 2\"");
    }
    auto status = parse_device(number, fields);
    if (status) layout_.device_lines.push_back(index);
    return status;
  }
  if (keyword == "backup") {
    auto status = parse_backup(number, fields);
    if (status) layout_.backup_lines.push_back(index);
    return status;
  }
  // The keyword is not quoted: a line of unknown text might be a pasted secret.
  return line_error(number, "unknown keyword");
}

Status NativeParser::parse_setting(std::size_t number, Setting setting,
                                   const std::vector<std::string_view>& fields) {
  const std::string name(kSettingNames[setting]);
  switch (setting) {
    case kWindow: return parse_window(number, fields);
    case kReplay: return parse_replay_protection(number, fields);
    case kRateLimit: return parse_rate_limit(number, fields);
    case kRateFailures: return parse_rate_failures(number, fields);
    case kSettingCount: break;
  }
  return line_error(number, "unknown setting " + name);
}

Status NativeParser::parse_window(std::size_t number,
                                  const std::vector<std::string_view>& fields) {
  const std::size_t args = fields.size() - 1;
  const auto value = args == 1 ? file_text::parse_integer<std::uint32_t>(fields[1])
                               : std::nullopt;
  if (!value || *value > kMaxWindow) {
    return line_error(number, "window must be 0.." + std::to_string(kMaxWindow));
  }
  enrollment_.window = *value;
  return {};
}

Status NativeParser::parse_replay_protection(std::size_t number,
                                             const std::vector<std::string_view>& fields) {
  const std::size_t args = fields.size() - 1;
  if (args != 1 || (fields[1] != "on" && fields[1] != "off")) {
    return line_error(number, "replay-protection must be on or off");
  }
  enrollment_.replay_protection = fields[1] == "on";
  return {};
}

Status NativeParser::parse_rate_limit(std::size_t number,
                                      const std::vector<std::string_view>& fields) {
  const std::size_t args = fields.size() - 1;
  if (args == 1 && fields[1] == "off") {
    enrollment_.rate_limit.max_failures = 0;
    enrollment_.rate_limit.interval_s = 0;
    return {};
  }
  const auto attempts =
      args == 2 ? file_text::parse_integer<std::uint32_t>(fields[1]) : std::nullopt;
  const auto interval =
      args == 2 ? file_text::parse_integer<std::uint32_t>(fields[2]) : std::nullopt;
  if (!attempts || !interval || *attempts == 0 || *attempts > kMaxRateLimitAttempts ||
      *interval == 0 || *interval > kMaxRateLimitInterval) {
    return line_error(number, "rate-limit must be \"off\" or <1.." +
                                  std::to_string(kMaxRateLimitAttempts) + "> <1.." +
                                  std::to_string(kMaxRateLimitInterval) + " seconds>");
  }
  enrollment_.rate_limit.max_failures = *attempts;
  enrollment_.rate_limit.interval_s = *interval;
  return {};
}

Status NativeParser::parse_rate_failures(std::size_t number,
                                         const std::vector<std::string_view>& fields) {
  const std::size_t args = fields.size() - 1;
  if (args > kMaxRateLimitAttempts) {
    return line_error(number, "more than " + std::to_string(kMaxRateLimitAttempts) +
                                  " rate-failures", ErrorCode::too_large);
  }
  // Each entry is TIME or TIME@SOURCE (SOURCE: 1..16 lower-case hex, the
  // client address tag of per-source rate limiting).
  std::vector<std::string> sources;
  bool any_source = false;
  for (std::size_t i = 1; i < fields.size(); ++i) {
    std::string_view entry = fields[i];
    std::string source;
    if (const auto at = entry.find('@'); at != std::string_view::npos) {
      const std::string_view tag = entry.substr(at + 1);
      if (tag.empty() || tag.size() > kMaxFailureSourceLength || !is_lower_hex(tag)) {
        return line_error(number, "rate-failures: invalid source " + std::to_string(i));
      }
      source = std::string(tag);
      any_source = true;
      entry = entry.substr(0, at);
    }
    const auto time = parse_time(entry);
    if (!time) return line_error(number, "rate-failures: invalid time " + std::to_string(i));
    if (*time == 0 && !source.empty()) {
      if (auto added = add_known_source(number, i, std::move(source)); !added) return added;
      continue;
    }
    enrollment_.rate_limit.failures.push_back(*time);
    sources.push_back(std::move(source));
  }
  if (any_source) enrollment_.rate_limit.failure_sources = std::move(sources);
  return {};
}

// `0@SOURCE` in rate-failures: SOURCE has logged this user in
// (RateLimit::known_sources). No failure has time 0, so modules that predate
// known sources read the entry as a failure long expired, and ignore it.
Status NativeParser::add_known_source(std::size_t number, std::size_t index, std::string source) {
  auto& known = enrollment_.rate_limit.known_sources;
  if (known.size() >= kMaxKnownSources) {
    return line_error(number, "rate-failures: more than " + std::to_string(kMaxKnownSources) +
                                  " known sources", ErrorCode::too_large);
  }
  if (std::find(known.begin(), known.end(), source) != known.end()) {
    return line_error(number, "rate-failures: duplicate known source " + std::to_string(index));
  }
  known.push_back(std::move(source));
  return {};
}

Status NativeParser::parse_token(std::size_t number, const std::vector<std::string_view>& fields) {
  if (enrollment_.tokens.size() >= kMaxTokens) {
    return line_error(number, "more than " + std::to_string(kMaxTokens) + " tokens",
                      ErrorCode::too_large);
  }
  constexpr std::array<std::string_view, 11> kKeys = {
      "name", "type", "algorithm", "digits", "period", "counter", "secret", "last-step",
      "time-skew", "issuer", "label"};
  std::array<bool, kKeys.size()> seen{};
  Token token;
  for (std::size_t i = 1; i < fields.size(); ++i) {
    auto field = keyed_field(number, "token", i, fields[i], kKeys, seen);
    if (!field) return field.error();
    auto status = parse_token_field(number, kKeys[field->key_index], field->value, token);
    if (!status) return status;
  }
  for (const std::string_view required : {"name", "type", "secret"}) {
    std::size_t k = 0;
    while (kKeys[k] != required) ++k;
    if (!seen[k]) return line_error(number, "token without " + std::string(required));
  }
  const bool totp = token.kind == TokenKind::totp;
  if (!totp && (seen[4] || seen[7] || seen[8])) {
    return line_error(number, "period, last-step and time-skew are for totp tokens only");
  }
  if (totp && seen[5]) return line_error(number, "counter is for hotp tokens only");
  for (const Token& other : enrollment_.tokens) {
    if (other.name == token.name) return line_error(number, "duplicate token name");
  }
  enrollment_.tokens.push_back(std::move(token));
  return {};
}

Status NativeParser::parse_token_field(std::size_t number, std::string_view key,
                                       std::string_view value, Token& token) {
  if (key == "name") {
    if (!valid_token_name(value)) {
      return line_error(number, "token name must be 1.." + std::to_string(kMaxTokenNameLength) +
                                    " of A-Z a-z 0-9 . _ -");
    }
    token.name = std::string(value);
  } else if (key == "type") {
    if (value != "totp" && value != "hotp") return line_error(number, "type must be totp or hotp");
    token.kind = value == "totp" ? TokenKind::totp : TokenKind::hotp;
  } else if (key == "algorithm") {
    const auto algorithm = parse_hash_algorithm(value);
    if (!algorithm) return line_error(number, "algorithm must be SHA1, SHA256 or SHA512");
    token.algorithm = *algorithm;
  } else if (key == "digits") {
    const auto digits = file_text::parse_integer<unsigned>(value);
    if (!digits || *digits < kMinDigits || *digits > kMaxDigits) {
      return line_error(number, "digits must be " + std::to_string(kMinDigits) + ".." +
                                    std::to_string(kMaxDigits));
    }
    token.digits = *digits;
  } else if (key == "period") {
    const auto period = file_text::parse_integer<std::uint32_t>(value);
    if (!period || *period < kMinPeriod || *period > kMaxPeriod) {
      return line_error(number, "period must be " + std::to_string(kMinPeriod) + ".." +
                                    std::to_string(kMaxPeriod));
    }
    token.period = *period;
  } else if (key == "counter") {
    const auto counter = file_text::parse_integer<std::uint64_t>(value);
    if (!counter) return line_error(number, "counter must be an unsigned integer");
    token.counter = *counter;
  } else if (key == "secret") {
    auto decoded = base32_decode(value);
    // base32_decode's own message names a position, never the text.
    if (!decoded) return line_error(number, "secret: " + decoded.error().message,
                                    decoded.error().code);
    token.key = std::move(*decoded);
  } else if (key == "issuer" || key == "label") {
    const std::size_t limit = key == "issuer" ? kMaxIssuerLength : kMaxLabelLength;
    auto text = percent_decode(value, limit);
    if (!text || text->empty()) {
      return line_error(number, std::string(key) + " must be 1.." + std::to_string(limit) +
                                    " bytes, percent-encoded, no control characters");
    }
    (key == "issuer" ? token.issuer : token.label) = std::move(*text);
  } else if (key == "last-step") {
    const auto step = file_text::parse_integer<std::uint64_t>(value);
    if (!step) return line_error(number, "last-step must be an unsigned integer");
    token.last_step = *step;
  } else {  // time-skew
    const auto skew = file_text::parse_integer<std::int64_t>(value);
    if (!skew) return line_error(number, "time-skew must be an integer");
    token.time_skew_steps = *skew;
  }
  return {};
}

Status NativeParser::parse_backup(std::size_t number,
                                  const std::vector<std::string_view>& fields) {
  if (enrollment_.backup_codes.size() >= kMaxBackupCodes) {
    return line_error(number, "more than " + std::to_string(kMaxBackupCodes) + " backup codes",
                      ErrorCode::too_large);
  }
  if (fields.size() != 2 || !valid_backup_hash(fields[1])) {
    return line_error(number, "backup must be sha256:<32 hex salt>:<64 hex digest>");
  }
  BackupCode code;
  code.hash = std::string(fields[1]);
  enrollment_.backup_codes.push_back(std::move(code));
  return {};
}

Status NativeParser::parse_recent_login(std::size_t number,
                                        const std::vector<std::string_view>& fields) {
  if (enrollment_.recent_logins.size() >= kMaxRecentLogins) {
    return line_error(number, "more than " + std::to_string(kMaxRecentLogins) + " recent-login lines",
                      ErrorCode::too_large);
  }
  const auto time = fields.size() == 3 ? parse_time(fields[2]) : std::nullopt;
  if (fields.size() != 3 || !is_recordable_rhost(fields[1]) || !time) {
    return line_error(number, "recent-login must be <host: A-Z a-z 0-9 . : _ -> <Unix time>");
  }
  for (const RecentLogin& login : enrollment_.recent_logins) {
    if (login.rhost == fields[1]) return line_error(number, "duplicate recent-login host");
  }
  enrollment_.recent_logins.push_back(RecentLogin{std::string(fields[1]), *time});
  return {};
}

// device name=<percent-encoded> credential=<b64u> key=<b64u SPKI> origin=<origin>
//        counter=<u32> added=<time>; every field exactly once, in any order.
Status NativeParser::parse_device(std::size_t number,
                                  const std::vector<std::string_view>& fields) {
  if (enrollment_.devices.size() >= kMaxDevices) {
    return line_error(number, "more than " + std::to_string(kMaxDevices) + " devices",
                      ErrorCode::too_large);
  }
  std::array<bool, kDeviceKeys.size()> seen{};
  Device device;
  for (std::size_t i = 1; i < fields.size(); ++i) {
    auto field = keyed_field(number, "device", i, fields[i], kDeviceKeys, seen);
    if (!field) return field.error();
    auto status = kDeviceFieldParsers[field->key_index](number, field->value, device);
    if (!status) return status;
  }
  for (std::size_t k = 0; k < kDeviceKeys.size(); ++k) {
    if (!seen[k]) return line_error(number, "device without " + std::string(kDeviceKeys[k]));
  }
  for (const Device& other : enrollment_.devices) {
    if (other.name == device.name) return line_error(number, "duplicate device name");
    if (other.credential_id == device.credential_id) {
      return line_error(number, "duplicate device credential");
    }
  }
  enrollment_.devices.push_back(std::move(device));
  return {};
}

// ---- writing ------------------------------------------------------------------

std::string render_device(const Device& device) {
  return "device name=" + percent_encode(device.name) +
         " credential=" + b64u_encode(device.credential_id) +
         " key=" + b64u_encode(device.public_key) + " origin=" + device.origin +
         " counter=" + std::to_string(device.sign_counter) +
         " added=" + std::to_string(device.added);
}

bool device_equal(const Device& a, const Device& b) {
  return a.name == b.name && a.credential_id == b.credential_id &&
         a.public_key == b.public_key && a.origin == b.origin &&
         a.sign_counter == b.sign_counter && a.added == b.added;
}

std::string render_recent_login(const RecentLogin& login) {
  return std::string(kRecentLogin) + " " + login.rhost + " " + std::to_string(login.time);
}

std::string render_setting(Setting setting, const Enrollment& e) {
  std::string line(kSettingNames[setting]);
  switch (setting) {
    case kWindow: return line + " " + std::to_string(e.window);
    case kReplay: return line + (e.replay_protection ? " on" : " off");
    case kRateLimit:
      if (e.rate_limit.max_failures == 0) return line + " off";
      return line + " " + std::to_string(e.rate_limit.max_failures) + " " +
             std::to_string(e.rate_limit.interval_s);
    case kRateFailures: {
      const auto& limit = e.rate_limit;
      for (const auto& tag : limit.known_sources) line += " 0@" + tag;
      const bool sourced = limit.failure_sources.size() == limit.failures.size();
      for (std::size_t i = 0; i < limit.failures.size(); ++i) {
        line += " " + std::to_string(limit.failures[i]);
        if (sourced && !limit.failure_sources[i].empty()) line += "@" + limit.failure_sources[i];
      }
      return line;
    }
    case kSettingCount: break;
  }
  return line;
}

bool setting_equal(Setting setting, const Enrollment& a, const Enrollment& b) {
  switch (setting) {
    case kWindow: return a.window == b.window;
    case kReplay: return a.replay_protection == b.replay_protection;
    case kRateLimit: {
      const auto& x = a.rate_limit;
      const auto& y = b.rate_limit;
      if (x.max_failures == 0 || y.max_failures == 0) return x.max_failures == y.max_failures;
      return x.max_failures == y.max_failures && x.interval_s == y.interval_s;
    }
    case kRateFailures:
      return a.rate_limit.failures == b.rate_limit.failures &&
             a.rate_limit.failure_sources == b.rate_limit.failure_sources &&
             a.rate_limit.known_sources == b.rate_limit.known_sources;
    case kSettingCount: break;
  }
  return false;
}

// What an absent setting line means.
bool setting_is_default(Setting setting, const Enrollment& e) {
  const Enrollment defaults;
  return setting_equal(setting, e, defaults);
}

SecretBytes render_token(const Token& token) {
  const bool totp = token.kind == TokenKind::totp;
  SecretBytes line;
  line.append("token name=" + token.name + " type=" + (totp ? "totp" : "hotp") +
              " algorithm=" + to_string(token.algorithm) +
              " digits=" + std::to_string(token.digits));
  line.append(totp ? " period=" + std::to_string(token.period)
                   : " counter=" + std::to_string(token.counter));
  line.append(std::string_view(" secret="));
  line.append(base32_encode(token.key.span()).view());
  if (totp && token.last_step) line.append(" last-step=" + std::to_string(*token.last_step));
  if (totp && token.time_skew_steps != 0) {
    line.append(" time-skew=" + std::to_string(token.time_skew_steps));
  }
  if (!token.issuer.empty()) line.append(" issuer=" + percent_encode(token.issuer));
  if (!token.label.empty()) line.append(" label=" + percent_encode(token.label));
  return line;
}

// Equal as far as a token line can tell (hotp lines have no period etc.).
bool token_equal(const Token& a, const Token& b) {
  if (a.name != b.name || a.kind != b.kind || a.algorithm != b.algorithm ||
      a.issuer != b.issuer || a.label != b.label ||
      a.digits != b.digits || !constant_time_equal(a.key.span(), b.key.span())) {
    return false;
  }
  if (a.kind == TokenKind::hotp) return a.counter == b.counter;
  return a.period == b.period && a.last_step == b.last_step &&
         a.time_skew_steps == b.time_skew_steps;
}

SecretBytes text_line(const std::string& text) { return SecretBytes::from_string(text); }

Status check_storable(const Enrollment& e) {
  for (const BackupCode& code : e.backup_codes) {
    if (code.hash.empty()) {
      return make_error(ErrorCode::invalid_argument,
                        "native files store backup codes only as hashes");
    }
  }
  for (const Token& token : e.tokens) {
    if (token.key.empty()) return make_error(ErrorCode::invalid_argument, "token without key");
  }
  if (e.devices.size() > kMaxDevices) {
    return make_error(ErrorCode::invalid_argument, "too many devices");
  }
  return {};
}

SecretBytes render_fresh(const Enrollment& e) {
  file_text::LineWriter writer;
  writer.rendered(e.devices.empty() ? kHeader : kHeaderV2);
  for (std::size_t s = 0; s < kSettingCount; ++s) {
    const auto setting = static_cast<Setting>(s);
    // Window and replay protection are always spelled out; rate state only when used.
    if (setting >= kRateLimit && setting_is_default(setting, e)) continue;
    writer.rendered(render_setting(setting, e));
  }
  for (const RecentLogin& login : e.recent_logins) writer.rendered(render_recent_login(login));
  for (const Token& token : e.tokens) writer.rendered(render_token(token).view());
  for (const Device& device : e.devices) writer.rendered(render_device(device));
  for (const BackupCode& code : e.backup_codes) writer.rendered("backup " + code.hash);
  return writer.finish();
}

void plan_settings(const NativeLayout& layout, const Enrollment& before, const Enrollment& after,
                   file_text::EditPlan& plan) {
  // New settings go after the last settings line, or right after the header.
  std::size_t anchor = 0;
  for (const auto& line : layout.settings) {
    if (line) anchor = std::max(anchor, *line);
  }
  for (std::size_t s = 0; s < kSettingCount; ++s) {
    const auto setting = static_cast<Setting>(s);
    if (layout.settings[s]) {
      if (!setting_equal(setting, before, after)) {
        plan.replace(*layout.settings[s], text_line(render_setting(setting, after)));
      }
    } else if (!setting_is_default(setting, after)) {
      plan.insert(anchor, text_line(render_setting(setting, after)));
    }
  }
}

// recent-login lines, matched by host: a changed time is rewritten in place,
// a dropped host's line removed, a new host added after the last
// recent-login line (or the last settings line, or the header).
void plan_recent_logins(const NativeLayout& layout, const Enrollment& before,
                        const Enrollment& after, file_text::EditPlan& plan) {
  std::vector<bool> placed(after.recent_logins.size(), false);
  for (std::size_t k = 0; k < before.recent_logins.size(); ++k) {
    std::size_t j = 0;
    while (j < after.recent_logins.size() &&
           after.recent_logins[j].rhost != before.recent_logins[k].rhost) {
      ++j;
    }
    if (j == after.recent_logins.size()) {
      plan.drop(layout.login_lines[k]);
      continue;
    }
    placed[j] = true;
    if (after.recent_logins[j].time != before.recent_logins[k].time) {
      plan.replace(layout.login_lines[k], text_line(render_recent_login(after.recent_logins[j])));
    }
  }
  std::size_t anchor = 0;
  for (const auto& line : layout.settings) {
    if (line) anchor = std::max(anchor, *line);
  }
  for (const auto line : layout.login_lines) anchor = std::max(anchor, line);
  for (std::size_t j = 0; j < after.recent_logins.size(); ++j) {
    if (!placed[j]) plan.insert(anchor, text_line(render_recent_login(after.recent_logins[j])));
  }
}

void plan_tokens(const NativeLayout& layout, const Enrollment& before, const Enrollment& after,
                 file_text::EditPlan& plan) {
  std::vector<bool> placed(after.tokens.size(), false);
  for (std::size_t k = 0; k < before.tokens.size(); ++k) {
    const std::size_t line = layout.token_lines[k];
    std::size_t j = 0;
    while (j < after.tokens.size() && after.tokens[j].name != before.tokens[k].name) ++j;
    if (j == after.tokens.size()) {
      plan.drop(line);
      continue;
    }
    placed[j] = true;
    if (!token_equal(before.tokens[k], after.tokens[j])) {
      plan.replace(line, render_token(after.tokens[j]));
    }
  }
  const std::size_t anchor = layout.token_lines.back();
  for (std::size_t j = 0; j < after.tokens.size(); ++j) {
    if (!placed[j]) plan.insert(anchor, render_token(after.tokens[j]));
  }
}

// device lines, matched by credential id; new ones after the last device line,
// else after the last token line. The header follows: version 2 exactly when
// devices remain.
void plan_devices(const NativeLayout& layout, const Enrollment& before, const Enrollment& after,
                  file_text::EditPlan& plan) {
  std::vector<bool> placed(after.devices.size(), false);
  for (std::size_t k = 0; k < before.devices.size(); ++k) {
    std::size_t j = 0;
    while (j < after.devices.size() &&
           after.devices[j].credential_id != before.devices[k].credential_id) {
      ++j;
    }
    if (j == after.devices.size()) {
      plan.drop(layout.device_lines[k]);
      continue;
    }
    placed[j] = true;
    if (!device_equal(before.devices[k], after.devices[j])) {
      plan.replace(layout.device_lines[k], text_line(render_device(after.devices[j])));
    }
  }
  const std::size_t anchor =
      layout.device_lines.empty() ? layout.token_lines.back() : layout.device_lines.back();
  for (std::size_t j = 0; j < after.devices.size(); ++j) {
    if (!placed[j]) plan.insert(anchor, text_line(render_device(after.devices[j])));
  }
  const bool want_v2 = !after.devices.empty();
  if (want_v2 != layout.version2) {
    plan.replace(0, text_line(std::string(want_v2 ? kHeaderV2 : kHeader)));
  }
}

void plan_backups(const NativeLayout& layout, const Enrollment& before, const Enrollment& after,
                  file_text::EditPlan& plan) {
  std::vector<bool> placed(after.backup_codes.size(), false);
  for (std::size_t k = 0; k < before.backup_codes.size(); ++k) {
    bool kept = false;
    for (std::size_t j = 0; j < after.backup_codes.size() && !kept; ++j) {
      if (!placed[j] && after.backup_codes[j].hash == before.backup_codes[k].hash) {
        placed[j] = kept = true;
      }
    }
    if (!kept) plan.drop(layout.backup_lines[k]);
  }
  std::optional<std::size_t> anchor;
  if (!layout.backup_lines.empty()) anchor = layout.backup_lines.back();
  for (std::size_t j = 0; j < after.backup_codes.size(); ++j) {
    if (!placed[j]) plan.insert(anchor, text_line("backup " + after.backup_codes[j].hash));
  }
}

}  // namespace

Result<SecretDocument> parse_native(std::string_view text) {
  auto parsed = NativeParser().run(text);
  if (!parsed) return parsed.error();
  SecretDocument& document = parsed->document;
  // The only owner from here on; released with the document.
  const auto* kept = new KeptNativeLayout(document.original_lines.size(),
                                          file_text::copy_enrollment(document.enrollment),
                                          std::move(parsed->layout));
  document.layout = detail::KeptLayoutOwner(kept);
  return std::move(document);
}

namespace file_text {

Status check_native(std::string_view text) {
  auto parsed = NativeParser().run(text);
  if (!parsed) return parsed.error();
  return {};
}

Result<SecretBytes> serialize_native(const SecretDocument& document) {
  const Enrollment& after = document.enrollment;
  auto storable = check_storable(after);
  if (!storable) return storable.error();
  if (document.original_lines.empty()) return render_fresh(after);

  // What the parser recorded about these lines (no second parse).
  const auto* parsed = kept_layout<KeptNativeLayout>(document, FileFormat::native);
  if (parsed == nullptr) {
    return make_error(ErrorCode::invalid_argument,
                      "original lines were not parsed as a native file");
  }
  const Enrollment& before = parsed->before;
  const NativeLayout& layout = parsed->layout;
  EditPlan plan(document.original_lines.size());
  plan_settings(layout, before, after, plan);
  plan_recent_logins(layout, before, after, plan);
  plan_tokens(layout, before, after, plan);
  plan_backups(layout, before, after, plan);
  plan_devices(layout, before, after, plan);
  return plan.render(document.original_lines);
}

}  // namespace file_text
}  // namespace twostep
