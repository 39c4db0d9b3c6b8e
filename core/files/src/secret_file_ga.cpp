// ~/.google_authenticator, as written by libpam-google-authenticator
// (docs/secret-file.md, "google-authenticator files").
#include <algorithm>
#include <array>
#include <limits>

#include "secret_file_text.hpp"
#include "twostep/base32.hpp"
#include "twostep/secret_file.hpp"

namespace twostep {
namespace {

using file_text::line_error;

constexpr std::string_view kTokenName = "google-authenticator";
constexpr std::string_view kOptionPrefix = "\" ";
// pam_google_authenticator's own limits for these options.
constexpr std::uint32_t kGaMaxWindowSize = 100;
constexpr std::uint32_t kGaMaxStepSize = 60;
constexpr std::uint32_t kGaMaxRateAttempts = 100;
constexpr std::uint32_t kGaMaxRateInterval = 3600;
constexpr std::uint32_t kGaDefaultWindowSize = 3;
constexpr std::uint32_t kGaDefaultStepSize = 30;
constexpr std::size_t kScratchDigits = 8;
constexpr std::size_t kMaxDisallowEntries = 256;
constexpr std::size_t kMaxRateTimestamps = 256;

// The options twostep understands; anything else is kept verbatim.
enum Option : std::size_t {
  kRateLimit, kWindowSize, kDisallowReuse, kTotpAuth, kHotpCounter, kStepSize, kTimeSkew,
  kOptionCount
};
constexpr std::array<std::string_view, kOptionCount> kOptionNames = {
    "RATE_LIMIT", "WINDOW_SIZE", "DISALLOW_REUSE", "TOTP_AUTH", "HOTP_COUNTER", "STEP_SIZE",
    "TIME_SKEW"};

// pam_google_authenticator's grace_period= state: `" LAST0 <rhost> <time>`
// .. `" LAST9 ...`, one line per remote host.
constexpr std::string_view kLastPrefix = "LAST";

struct GaLayout {
  std::array<std::optional<std::size_t>, kOptionCount> options;
  std::array<std::optional<std::size_t>, kMaxRecentLogins> last_lines;  // every LASTn line
  std::vector<std::size_t> login_slots;         // parallel to recent_logins: n of LASTn
  std::optional<std::size_t> last_option_line;  // any '"' line
  std::vector<std::size_t> scratch_lines;       // parallel to backup_codes
  std::uint32_t window_size = kGaDefaultWindowSize;  // as written
  std::vector<std::uint64_t> disallowed;        // DISALLOW_REUSE entries, as written
};

struct ParsedGa {
  SecretDocument document;
  GaLayout layout;
};

struct KeptGaLayout final : detail::KeptLayout {
  KeptGaLayout(std::size_t lines, Enrollment as_read, GaLayout parsed)
      : KeptLayout(FileFormat::google_authenticator, lines, std::move(as_read)),
        layout(std::move(parsed)) {}
  const GaLayout layout;
};

// GA's scratch codes are 10000000..99999999: its reader stops at any other line.
bool valid_scratch_code(std::string_view text) {
  if (text.size() != kScratchDigits || text.front() == '0') return false;
  return std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
}

bool all_digits(std::string_view text) {
  return !text.empty() &&
         std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// The value of an option that takes exactly one integer.
template <typename Integer>
std::optional<Integer> single_integer(const std::vector<std::string_view>& args) {
  if (args.size() != 1) return std::nullopt;
  return file_text::parse_integer<Integer>(args[0]);
}

class GaParser {
 public:
  Result<ParsedGa> run(std::string_view text);

 private:
  Status parse_secret(std::string_view content);
  Status parse_line(std::size_t index, std::string_view content);
  Status parse_option(std::size_t number, Option option,
                      const std::vector<std::string_view>& args);
  Status parse_rate_limit(std::size_t number, const std::vector<std::string_view>& args);
  Status parse_window_size(std::size_t number, const std::vector<std::string_view>& args);
  Status parse_disallow_reuse(std::size_t number, const std::vector<std::string_view>& args);
  Status parse_hotp_counter(std::size_t number, const std::vector<std::string_view>& args);
  Status parse_step_size(std::size_t number, const std::vector<std::string_view>& args);
  Status parse_time_skew(std::size_t number, const std::vector<std::string_view>& args);
  Status parse_last(std::size_t index, std::size_t slot,
                    const std::vector<std::string_view>& args);

  ParsedGa parsed_;
  Enrollment& enrollment_ = parsed_.document.enrollment;
  GaLayout& layout_ = parsed_.layout;
  Token token_;
  bool hotp_ = false;
};

Result<ParsedGa> GaParser::run(std::string_view text) {
  auto lines = file_text::split_lines(text);
  if (!lines) return lines.error();
  if (lines->empty()) return line_error(1, "empty file");
  parsed_.document.format = FileFormat::google_authenticator;
  parsed_.document.original_lines = std::move(*lines);
  const auto& all = parsed_.document.original_lines;

  auto secret = parse_secret(file_text::content_of(all[0]));
  if (!secret) return secret.error();
  for (std::size_t i = 1; i < all.size(); ++i) {
    auto status = parse_line(i, file_text::content_of(all[i]));
    if (!status) return status.error();
  }
  token_.name = std::string(kTokenName);
  token_.kind = hotp_ ? TokenKind::hotp : TokenKind::totp;
  token_.algorithm = HashAlgorithm::sha1;
  token_.digits = 6;
  enrollment_.tokens.push_back(std::move(token_));
  enrollment_.replay_protection = true;
  parsed_.document.ga_had_disallow_reuse = layout_.options[kDisallowReuse].has_value();
  return std::move(parsed_);
}

Status GaParser::parse_secret(std::string_view content) {
  if (content.empty()) return line_error(1, "missing secret");
  auto key = base32_decode(content);
  // base32_decode's message names a position, never the text.
  if (!key) return line_error(1, "secret: " + key.error().message, key.error().code);
  token_.key = std::move(*key);
  return {};
}

Status GaParser::parse_line(std::size_t index, std::string_view content) {
  const std::size_t number = index + 1;
  if (content.empty()) return {};  // pam_google_authenticator skips blank lines
  if (content.front() == '"') {
    layout_.last_option_line = index;
    if (!content.starts_with(kOptionPrefix)) return {};
    const auto fields = file_text::split_fields(content.substr(kOptionPrefix.size()));
    if (fields.empty()) return {};
    for (std::size_t o = 0; o < kOptionCount; ++o) {
      if (fields[0] != kOptionNames[o]) continue;
      if (layout_.options[o]) return line_error(number, "duplicate " + std::string(fields[0]));
      layout_.options[o] = index;
      return parse_option(number, static_cast<Option>(o),
                          std::vector<std::string_view>(fields.begin() + 1, fields.end()));
    }
    if (fields[0].size() == kLastPrefix.size() + 1 && fields[0].starts_with(kLastPrefix) &&
        fields[0].back() >= '0' && fields[0].back() <= '9') {
      return parse_last(index, static_cast<std::size_t>(fields[0].back() - '0'),
                        std::vector<std::string_view>(fields.begin() + 1, fields.end()));
    }
    return {};  // an option twostep does not use: kept as it is
  }
  if (all_digits(content)) {
    if (!valid_scratch_code(content)) {
      return line_error(number, "scratch code must be 8 digits, 10000000..99999999");
    }
    if (enrollment_.backup_codes.size() >= kMaxBackupCodes) {
      return line_error(number, "more than " + std::to_string(kMaxBackupCodes) + " scratch codes",
                        ErrorCode::too_large);
    }
    BackupCode code;
    code.plain = SecretBytes::from_string(content);
    enrollment_.backup_codes.push_back(std::move(code));
    layout_.scratch_lines.push_back(index);
    return {};
  }
  return line_error(number, "neither an option nor a scratch code");
}

Status GaParser::parse_option(std::size_t number, Option option,
                              const std::vector<std::string_view>& args) {
  const std::string name(kOptionNames[option]);
  switch (option) {
    case kRateLimit: return parse_rate_limit(number, args);
    case kWindowSize: return parse_window_size(number, args);
    case kDisallowReuse: return parse_disallow_reuse(number, args);
    case kTotpAuth:
      if (!args.empty()) return line_error(number, "TOTP_AUTH takes no value");
      return {};
    case kHotpCounter: return parse_hotp_counter(number, args);
    case kStepSize: return parse_step_size(number, args);
    case kTimeSkew: return parse_time_skew(number, args);
    case kOptionCount: break;
  }
  return line_error(number, "unknown option " + name);
}

Status GaParser::parse_window_size(std::size_t number, const std::vector<std::string_view>& args) {
  const auto size = single_integer<std::uint32_t>(args);
  if (!size || *size < 1 || *size > kGaMaxWindowSize) {
    return line_error(number, "WINDOW_SIZE must be 1.." + std::to_string(kGaMaxWindowSize));
  }
  layout_.window_size = *size;
  // Larger windows than twostep allows are narrowed (safer, never wider).
  enrollment_.window = std::min((*size - 1) / 2, kMaxWindow);
  return {};
}

Status GaParser::parse_disallow_reuse(std::size_t number,
                                      const std::vector<std::string_view>& args) {
  if (args.size() > kMaxDisallowEntries) {
    return line_error(number, "too many DISALLOW_REUSE entries", ErrorCode::too_large);
  }
  for (const auto arg : args) {
    const auto step = file_text::parse_integer<std::uint64_t>(arg);
    if (!step) return line_error(number, "DISALLOW_REUSE entries must be time steps");
    layout_.disallowed.push_back(*step);
    token_.last_step = std::max(token_.last_step.value_or(0), *step);
  }
  return {};
}

Status GaParser::parse_hotp_counter(std::size_t number,
                                    const std::vector<std::string_view>& args) {
  const auto counter = single_integer<std::uint64_t>(args);
  if (!counter) return line_error(number, "HOTP_COUNTER must be an unsigned integer");
  // pam_google_authenticator refuses 0 too, so such a file never worked.
  if (*counter == 0) return line_error(number, "HOTP_COUNTER must be at least 1");
  token_.counter = *counter;
  hotp_ = true;
  return {};
}

Status GaParser::parse_step_size(std::size_t number, const std::vector<std::string_view>& args) {
  const auto step = single_integer<std::uint32_t>(args);
  if (!step || *step < 1 || *step > kGaMaxStepSize) {
    return line_error(number, "STEP_SIZE must be 1.." + std::to_string(kGaMaxStepSize));
  }
  token_.period = *step;
  return {};
}

Status GaParser::parse_time_skew(std::size_t number, const std::vector<std::string_view>& args) {
  const auto skew = single_integer<std::int32_t>(args);
  if (!skew) return line_error(number, "TIME_SKEW must be an integer");
  token_.time_skew_steps = *skew;
  return {};
}

Status GaParser::parse_rate_limit(std::size_t number, const std::vector<std::string_view>& args) {
  const auto attempts =
      args.size() >= 2 ? file_text::parse_integer<std::uint32_t>(args[0]) : std::nullopt;
  const auto interval =
      args.size() >= 2 ? file_text::parse_integer<std::uint32_t>(args[1]) : std::nullopt;
  if (!attempts || !interval || *attempts < 1 || *attempts > kGaMaxRateAttempts ||
      *interval < 1 || *interval > kGaMaxRateInterval) {
    return line_error(number, "RATE_LIMIT must be <1..100 attempts> <1..3600 seconds> [times]");
  }
  if (args.size() - 2 > kMaxRateTimestamps) {
    return line_error(number, "too many RATE_LIMIT times", ErrorCode::too_large);
  }
  enrollment_.rate_limit.max_failures = *attempts;
  enrollment_.rate_limit.interval_s = *interval;
  for (std::size_t i = 2; i < args.size(); ++i) {
    const auto time = file_text::parse_integer<std::uint32_t>(args[i]);
    if (!time) return line_error(number, "RATE_LIMIT times must be Unix times");
    enrollment_.rate_limit.failures.push_back(*time);
  }
  return {};
}

// A LASTn line that is not "<rhost> <time>" with a storable rhost, or names
// an rhost already seen, is kept verbatim and ignored (it still holds slot n).
Status GaParser::parse_last(std::size_t index, std::size_t slot,
                            const std::vector<std::string_view>& args) {
  if (layout_.last_lines[slot]) {
    return line_error(index + 1, "duplicate LAST" + std::to_string(slot));
  }
  layout_.last_lines[slot] = index;
  if (args.size() != 2 || !is_recordable_rhost(args[0])) return {};
  const auto time = file_text::parse_integer<std::int64_t>(args[1]);
  if (!time || *time < 0) return {};
  for (const RecentLogin& login : enrollment_.recent_logins) {
    if (login.rhost == args[0]) return {};
  }
  enrollment_.recent_logins.push_back(RecentLogin{std::string(args[0]), *time});
  layout_.login_slots.push_back(slot);
  return {};
}

// ---- writing ------------------------------------------------------------------

SecretBytes last_line(std::size_t slot, const RecentLogin& login) {
  return SecretBytes::from_string("\" " + std::string(kLastPrefix) + std::to_string(slot) + " " +
                                  login.rhost + " " + std::to_string(login.time));
}

SecretBytes option_line(Option option, const std::string& value = {}) {
  std::string text = "\" " + std::string(kOptionNames[option]);
  if (!value.empty()) text += " " + value;
  return SecretBytes::from_string(text);
}

std::string rate_limit_value(const RateLimit& limit) {
  std::string value = std::to_string(limit.max_failures) + " " + std::to_string(limit.interval_s);
  for (const auto time : limit.failures) value += " " + std::to_string(time);
  return value;
}

bool rate_limit_equal(const RateLimit& a, const RateLimit& b) {
  return a.max_failures == b.max_failures && a.interval_s == b.interval_s &&
         a.failures == b.failures;
}

// GA's own rule: keep the used steps still inside the window of the newest
// one, then add the newest.
std::string disallow_value(const std::vector<std::uint64_t>& previous, std::uint64_t newest,
                           std::uint32_t window_size) {
  std::string value;
  for (const auto step : previous) {
    if (step < newest && newest - step < window_size) value += std::to_string(step) + " ";
  }
  return value + std::to_string(newest);
}

Status check_storable(const Enrollment& e) {
  if (!e.devices.empty()) {
    // The format has nowhere to put a pin; writing would silently drop it.
    return make_error(ErrorCode::invalid_argument,
                      "google-authenticator files cannot hold push devices; "
                      "convert the file to the native format first");
  }
  if (e.tokens.size() != 1) {
    return make_error(ErrorCode::invalid_argument,
                      "google-authenticator files hold exactly one token");
  }
  const Token& token = e.tokens[0];
  if (token.algorithm != HashAlgorithm::sha1 || token.digits != 6 || token.key.empty()) {
    return make_error(ErrorCode::invalid_argument,
                      "google-authenticator files hold only SHA1, 6-digit tokens");
  }
  if (token.kind == TokenKind::hotp && token.counter == 0) {
    // pam_google_authenticator refuses a file with HOTP_COUNTER 0.
    return make_error(ErrorCode::invalid_argument,
                      "google-authenticator files need an HOTP counter of at least 1");
  }
  if (e.recent_logins.size() > kMaxRecentLogins) {
    return make_error(ErrorCode::invalid_argument, "too many recent logins");
  }
  for (const RecentLogin& login : e.recent_logins) {
    if (!is_recordable_rhost(login.rhost) || login.time < 0) {
      return make_error(ErrorCode::invalid_argument, "recent login cannot be stored");
    }
  }
  for (const BackupCode& code : e.backup_codes) {
    if (!valid_scratch_code(code.plain.view())) {
      return make_error(ErrorCode::invalid_argument,
                        "google-authenticator scratch codes are plain 10000000..99999999");
    }
  }
  return {};
}

// One option line: kept when its meaning is unchanged, rewritten in place when
// changed, removed when no longer wanted, added after the last option line.
struct OptionChange {
  bool unchanged;
  std::optional<std::string> wanted;  // nullopt: the line should not exist
};

void apply_option(Option option, const OptionChange& change, const GaLayout& layout,
                  file_text::EditPlan& plan) {
  const auto line = layout.options[option];
  const std::size_t anchor = layout.last_option_line.value_or(0);
  if (line && change.unchanged) return;
  if (!change.wanted) {
    if (line) plan.drop(*line);
    return;
  }
  auto text = option_line(option, *change.wanted);
  if (line) {
    plan.replace(*line, std::move(text));
  } else if (!change.unchanged) {
    plan.insert(anchor, std::move(text));
  }
}

void plan_options(const GaLayout& layout, const Enrollment& before, const Enrollment& after,
                  file_text::EditPlan& plan) {
  const Token& was = before.tokens[0];
  const Token& now = after.tokens[0];
  const bool totp = now.kind == TokenKind::totp;
  const std::uint32_t window_size =
      before.window == after.window ? layout.window_size : 2 * after.window + 1;

  const bool rate_same = rate_limit_equal(before.rate_limit, after.rate_limit);
  apply_option(kRateLimit,
               {rate_same, after.rate_limit.max_failures == 0
                               ? std::nullopt
                               : std::optional(rate_limit_value(after.rate_limit))},
               layout, plan);
  apply_option(kWindowSize,
               {before.window == after.window, std::to_string(2 * after.window + 1)}, layout,
               plan);
  std::optional<std::string> disallow;
  if (totp && now.last_step) disallow = disallow_value(layout.disallowed, *now.last_step, window_size);
  if (totp && !now.last_step && layout.options[kDisallowReuse]) disallow = "";
  apply_option(kDisallowReuse, {was.last_step == now.last_step && was.kind == now.kind, disallow},
               layout, plan);
  apply_option(kTotpAuth,
               {was.kind == now.kind, totp ? std::optional<std::string>("") : std::nullopt},
               layout, plan);
  apply_option(kHotpCounter,
               {was.kind == now.kind && (totp || was.counter == now.counter),
                totp ? std::nullopt : std::optional(std::to_string(now.counter))},
               layout, plan);
  apply_option(kStepSize,
               {was.period == now.period || !totp, std::to_string(now.period)}, layout, plan);
  apply_option(kTimeSkew,
               {was.time_skew_steps == now.time_skew_steps,
                std::to_string(now.time_skew_steps)}, layout, plan);
}

// LASTn lines: an rhost keeps its slot; a new rhost takes the slot of one
// that was dropped (rewritten in place), else the lowest free slot (added
// after the last option line). Slots of dropped rhosts left over are removed.
void plan_recent_logins(const GaLayout& layout, const Enrollment& before, const Enrollment& after,
                        file_text::EditPlan& plan) {
  std::vector<bool> placed(after.recent_logins.size(), false);
  std::vector<std::size_t> freed;
  for (std::size_t k = 0; k < before.recent_logins.size(); ++k) {
    const RecentLogin& was = before.recent_logins[k];
    const std::size_t slot = layout.login_slots[k];
    std::size_t j = 0;
    while (j < after.recent_logins.size() &&
           (placed[j] || after.recent_logins[j].rhost != was.rhost)) {
      ++j;
    }
    if (j == after.recent_logins.size()) {
      freed.push_back(slot);
      continue;
    }
    placed[j] = true;
    if (after.recent_logins[j].time != was.time) {
      plan.replace(*layout.last_lines[slot], last_line(slot, after.recent_logins[j]));
    }
  }
  std::array<bool, kMaxRecentLogins> taken{};
  for (std::size_t slot = 0; slot < kMaxRecentLogins; ++slot) {
    taken[slot] = layout.last_lines[slot].has_value();
  }
  const std::size_t anchor = layout.last_option_line.value_or(0);
  std::size_t next_freed = 0;
  for (std::size_t j = 0; j < after.recent_logins.size(); ++j) {
    if (placed[j]) continue;
    if (next_freed < freed.size()) {
      const std::size_t slot = freed[next_freed++];
      plan.replace(*layout.last_lines[slot], last_line(slot, after.recent_logins[j]));
      continue;
    }
    std::size_t slot = 0;
    while (slot < kMaxRecentLogins && taken[slot]) ++slot;
    if (slot == kMaxRecentLogins) break;  // every slot held by a line twostep keeps
    taken[slot] = true;
    plan.insert(anchor, last_line(slot, after.recent_logins[j]));
  }
  for (; next_freed < freed.size(); ++next_freed) plan.drop(*layout.last_lines[freed[next_freed]]);
}

void plan_scratch_codes(const GaLayout& layout, const Enrollment& before, const Enrollment& after,
                        file_text::EditPlan& plan) {
  std::vector<bool> placed(after.backup_codes.size(), false);
  for (std::size_t k = 0; k < before.backup_codes.size(); ++k) {
    bool kept = false;
    for (std::size_t j = 0; j < after.backup_codes.size() && !kept; ++j) {
      if (!placed[j] && constant_time_equal(after.backup_codes[j].plain.span(),
                                            before.backup_codes[k].plain.span())) {
        placed[j] = kept = true;
      }
    }
    if (!kept) plan.drop(layout.scratch_lines[k]);
  }
  std::optional<std::size_t> anchor;
  if (!layout.scratch_lines.empty()) anchor = layout.scratch_lines.back();
  for (std::size_t j = 0; j < after.backup_codes.size(); ++j) {
    if (!placed[j]) plan.insert(anchor, after.backup_codes[j].plain.clone());
  }
}

// A new file, in the order google-authenticator itself writes one.
SecretBytes render_fresh(const Enrollment& e) {
  const Token& token = e.tokens[0];
  const bool totp = token.kind == TokenKind::totp;
  file_text::LineWriter writer;
  writer.rendered(base32_encode(token.key.span()).view());
  if (e.rate_limit.max_failures != 0) {
    writer.rendered(option_line(kRateLimit, rate_limit_value(e.rate_limit)).view());
  }
  writer.rendered(option_line(kWindowSize, std::to_string(2 * e.window + 1)).view());
  if (totp && (e.replay_protection || token.last_step)) {
    writer.rendered(
        option_line(kDisallowReuse, token.last_step ? std::to_string(*token.last_step) : "")
            .view());
  }
  writer.rendered(totp ? option_line(kTotpAuth).view()
                       : option_line(kHotpCounter, std::to_string(token.counter)).view());
  if (totp && token.period != kGaDefaultStepSize) {
    writer.rendered(option_line(kStepSize, std::to_string(token.period)).view());
  }
  if (token.time_skew_steps != 0) {
    writer.rendered(option_line(kTimeSkew, std::to_string(token.time_skew_steps)).view());
  }
  for (std::size_t slot = 0; slot < e.recent_logins.size(); ++slot) {
    writer.rendered(last_line(slot, e.recent_logins[slot]).view());
  }
  for (const BackupCode& code : e.backup_codes) writer.rendered(code.plain.view());
  return writer.finish();
}

}  // namespace

Result<SecretDocument> parse_google_authenticator(std::string_view text) {
  auto parsed = GaParser().run(text);
  if (!parsed) return parsed.error();
  SecretDocument& document = parsed->document;
  // The only owner from here on; released with the document.
  const auto* kept = new KeptGaLayout(document.original_lines.size(),
                                      file_text::copy_enrollment(document.enrollment),
                                      std::move(parsed->layout));
  document.layout = detail::KeptLayoutOwner(kept);
  return std::move(document);
}

namespace file_text {

Status check_google_authenticator(std::string_view text) {
  auto parsed = GaParser().run(text);
  if (!parsed) return parsed.error();
  return {};
}

Result<SecretBytes> serialize_google_authenticator(const SecretDocument& document) {
  const Enrollment& after = document.enrollment;
  auto storable = check_storable(after);
  if (!storable) return storable.error();
  if (document.original_lines.empty()) return render_fresh(after);

  // What the parser recorded about these lines (no second parse).
  const auto* parsed = kept_layout<KeptGaLayout>(document, FileFormat::google_authenticator);
  if (parsed == nullptr) {
    return make_error(ErrorCode::invalid_argument,
                      "original lines were not parsed as a google-authenticator file");
  }
  const Enrollment& before = parsed->before;
  EditPlan plan(document.original_lines.size());
  if (!constant_time_equal(before.tokens[0].key.span(), after.tokens[0].key.span())) {
    plan.replace(0, base32_encode(after.tokens[0].key.span()));
  }
  plan_options(parsed->layout, before, after, plan);
  plan_recent_logins(parsed->layout, before, after, plan);
  plan_scratch_codes(parsed->layout, before, after, plan);
  return plan.render(document.original_lines);
}

}  // namespace file_text
}  // namespace twostep
