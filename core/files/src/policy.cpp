#include "twostep/policy.hpp"

#include "twostep/otp_generator.hpp"

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <algorithm>
#include <array>
#include <limits>
#include <string>

namespace twostep {
namespace {

constexpr std::string_view kBackupHashPrefix = "sha256:";
constexpr std::size_t kBackupSaltBytes = 16;
constexpr std::size_t kMaxBackupSaltBytes = 64;
constexpr std::size_t kSha256Bytes = 32;

// ---- step arithmetic -------------------------------------------------------

std::uint64_t add_saturating(std::uint64_t a, std::uint64_t b) {
  return b > std::numeric_limits<std::uint64_t>::max() - a
             ? std::numeric_limits<std::uint64_t>::max()
             : a + b;
}

std::uint64_t sub_clamped(std::uint64_t a, std::uint64_t b) { return a > b ? a - b : 0; }

// totp_step(now) shifted by the stored skew, clamped to [0, max].
std::uint64_t current_step(const Token& token, std::int64_t now) {
  const std::uint64_t step = totp_step(now, token.period);
  const std::int64_t skew = token.time_skew_steps;
  // 0 - skew in unsigned space is |skew| even for INT64_MIN.
  if (skew < 0) return sub_clamped(step, 0 - static_cast<std::uint64_t>(skew));
  return add_saturating(step, static_cast<std::uint64_t>(skew));
}

std::int64_t signed_distance(std::uint64_t from, std::uint64_t to) {
  return to >= from ? static_cast<std::int64_t>(to - from)
                    : -static_cast<std::int64_t>(from - to);
}

// ---- code matching ---------------------------------------------------------

struct StepRange {
  std::uint64_t first;
  std::uint64_t last;  // inclusive
};

using detail::OtpGenerator;

bool code_at(OtpGenerator& generator, std::uint64_t counter, const SecretBytes& typed) {
  auto code = generator.code(counter);
  if (!code) return false;
  const SecretBytes expected = format_code(*code, generator.digits());
  return constant_time_equal(expected.span(), typed.span());
}

// Checks every counter in `range` (no early exit, so the time taken does not
// reveal where in the window a code matched). Returns the highest match.
std::optional<std::uint64_t> match_in_range(OtpGenerator& generator, StepRange range,
                                            const SecretBytes& typed) {
  std::optional<std::uint64_t> matched;
  if (range.first > range.last) return matched;
  for (std::uint64_t step = range.first;; ++step) {
    if (code_at(generator, step, typed)) matched = step;
    if (step == range.last) break;
  }
  return matched;
}

StepRange window_around(std::uint64_t center, std::uint32_t window) {
  return {sub_clamped(center, window), add_saturating(center, window)};
}

bool token_is_usable(const Token& token, unsigned typed_digits) {
  if (token.digits != typed_digits || token.key.size() < kMinSecretBytes) return false;
  return token.kind == TokenKind::hotp || token.period >= kMinPeriod;
}

// The step, outside the window but within kClockSkewSearchSteps, whose code
// matches; the closest one wins. Only a hint: never accepted.
std::optional<std::int64_t> find_clock_skew(const Token& token, std::int64_t now,
                                            std::uint32_t window, const SecretBytes& typed) {
  auto generator = OtpGenerator::create(token.key.span(), token.digits, token.algorithm);
  if (!generator) return std::nullopt;
  const std::uint64_t center = current_step(token, now);
  const StepRange inside = window_around(center, window);
  std::optional<std::uint64_t> below;
  std::optional<std::uint64_t> above;
  if (inside.first > 0) {
    below = match_in_range(*generator,
                           {sub_clamped(center, kClockSkewSearchSteps), inside.first - 1}, typed);
  }
  if (inside.last < std::numeric_limits<std::uint64_t>::max()) {
    // The lowest match above the window is the closest one.
    const StepRange range{inside.last + 1, add_saturating(center, kClockSkewSearchSteps)};
    for (std::uint64_t step = range.last; range.first <= range.last; --step) {
      if (code_at(*generator, step, typed)) above = step;
      if (step == range.first) break;
    }
  }
  std::optional<std::int64_t> steps;
  if (below) steps = signed_distance(center, *below);
  if (above && (!steps || signed_distance(center, *above) < -*steps)) {
    steps = signed_distance(center, *above);
  }
  if (!steps) return std::nullopt;
  return *steps * static_cast<std::int64_t>(token.period);
}

// ---- outcome helpers -------------------------------------------------------

void fail(Enrollment& enrollment, VerifyOutcome& outcome, VerifyResult result,
          std::int64_t now, const std::optional<std::string>& source) {
  const RateLimit before = enrollment.rate_limit;
  if (source) {
    record_failure(enrollment.rate_limit, now, *source);
  } else {
    record_failure(enrollment.rate_limit, now);
  }
  if (enrollment.rate_limit.failures != before.failures ||
      enrollment.rate_limit.failure_sources != before.failure_sources) {
    outcome.state_changed = true;
  }
  outcome.result = result;
}

// A source that logged the user in becomes (or stays) the most recently
// used known source; the least recently used one goes beyond
// kMaxKnownSources. Returns whether the list changed.
bool remember_known_source(RateLimit& limit, const std::string& source) {
  auto& known = limit.known_sources;
  if (!known.empty() && known.back() == source) return false;
  std::erase(known, source);
  known.push_back(source);
  const std::size_t room = max_known_sources(limit);
  if (known.size() > room) {
    known.erase(known.begin(), known.begin() + static_cast<std::ptrdiff_t>(known.size() - room));
  }
  return true;
}

bool is_known_source(const RateLimit& limit, std::string_view source) {
  return std::find(limit.known_sources.begin(), limit.known_sources.end(), source) !=
         limit.known_sources.end();
}

// A success clears the failures it is responsible for: all of them without
// sources, only its own source's with them (others' keep counting against
// their own budgets), and makes its source known.
void accept(Enrollment& enrollment, VerifyOutcome& outcome, VerifyMethod method,
            const std::optional<std::string>& source) {
  RateLimit& limit = enrollment.rate_limit;
  if (source && !limit.failure_sources.empty()) {
    std::vector<std::int64_t> times;
    std::vector<std::string> sources;
    for (std::size_t i = 0; i < limit.failures.size(); ++i) {
      if (limit.failure_sources[i] == *source) continue;
      times.push_back(limit.failures[i]);
      sources.push_back(limit.failure_sources[i]);
    }
    if (times.size() != limit.failures.size()) outcome.state_changed = true;
    limit.failures = std::move(times);
    limit.failure_sources = std::move(sources);
  } else if (!limit.failures.empty() || !limit.failure_sources.empty()) {
    limit.failures.clear();
    limit.failure_sources.clear();
    outcome.state_changed = true;
  }
  if (source && remember_known_source(limit, *source)) outcome.state_changed = true;
  outcome.result = VerifyResult::accepted;
  outcome.method = method;
}

bool is_recent(std::int64_t t, std::int64_t now, std::uint32_t interval_s) {
  return t <= now && now - t < static_cast<std::int64_t>(interval_s);
}

// ---- hex -------------------------------------------------------------------

void append_hex(std::string& out, std::span<const std::uint8_t> bytes) {
  constexpr char kHex[] = "0123456789abcdef";
  for (const std::uint8_t b : bytes) {
    out.push_back(kHex[b >> 4]);
    out.push_back(kHex[b & 0x0fu]);
  }
}

std::optional<std::uint8_t> hex_nibble(char c) {
  if (c >= '0' && c <= '9') return static_cast<std::uint8_t>(c - '0');
  if (c >= 'a' && c <= 'f') return static_cast<std::uint8_t>(c - 'a' + 10);
  if (c >= 'A' && c <= 'F') return static_cast<std::uint8_t>(c - 'A' + 10);
  return std::nullopt;
}

std::optional<std::vector<std::uint8_t>> parse_hex(std::string_view hex) {
  if (hex.size() % 2 != 0) return std::nullopt;
  std::vector<std::uint8_t> out;
  out.reserve(hex.size() / 2);
  for (std::size_t i = 0; i < hex.size(); i += 2) {
    const auto high = hex_nibble(hex[i]);
    const auto low = hex_nibble(hex[i + 1]);
    if (!high || !low) return std::nullopt;
    out.push_back(static_cast<std::uint8_t>((*high << 4) | *low));
  }
  return out;
}

// SHA-256(salt || code) into `digest`.
bool salted_digest(std::span<const std::uint8_t> salt, std::string_view code,
                   std::array<std::uint8_t, kSha256Bytes>& digest) {
  SecretBytes message(salt.data(), salt.size());
  message.append(code);
  unsigned int length = 0;
  return EVP_Digest(message.data(), message.size(), digest.data(), &length, EVP_sha256(),
                    nullptr) == 1 &&
         length == digest.size();
}

// One uniformly distributed code in [10^7, 10^8): eight digits with no
// leading zero, the only form google-authenticator files accept, used for
// both formats so a code reads the same wherever it is stored. Rejection
// sampling keeps every value equally likely.
Result<std::uint32_t> random_backup_code_value() {
  constexpr std::uint32_t kLowest = 10000000;
  constexpr std::uint32_t kRange = 90000000;
  constexpr std::uint32_t kLimit =
      std::numeric_limits<std::uint32_t>::max() / kRange * kRange;
  for (int attempt = 0; attempt < 64; ++attempt) {
    std::array<std::uint8_t, 4> bytes{};
    if (RAND_bytes(bytes.data(), static_cast<int>(bytes.size())) != 1) {
      return make_error(ErrorCode::crypto, "RAND_bytes failed");
    }
    const std::uint32_t value = (std::uint32_t{bytes[0]} << 24) | (std::uint32_t{bytes[1]} << 16) |
                                (std::uint32_t{bytes[2]} << 8) | std::uint32_t{bytes[3]};
    wipe(bytes.data(), bytes.size());
    if (value < kLimit) return kLowest + value % kRange;
  }
  return make_error(ErrorCode::crypto, "random source looks broken");
}

std::optional<std::size_t> matching_backup_code(const Enrollment& enrollment,
                                                std::string_view code) {
  std::optional<std::size_t> found;
  // Every stored code is compared, whether or not one matched already.
  for (std::size_t i = 0; i < enrollment.backup_codes.size(); ++i) {
    if (backup_code_matches(enrollment.backup_codes[i], code) && !found) found = i;
  }
  return found;
}

}  // namespace

const char* to_string(VerifyResult result) noexcept {
  switch (result) {
    case VerifyResult::accepted: return "accepted";
    case VerifyResult::rejected: return "rejected";
    case VerifyResult::replayed: return "replayed";
    case VerifyResult::rate_limited: return "rate_limited";
    case VerifyResult::malformed: return "malformed";
  }
  return "unknown";
}

const char* to_string(VerifyMethod method) noexcept {
  switch (method) {
    case VerifyMethod::none: return "none";
    case VerifyMethod::totp: return "totp";
    case VerifyMethod::hotp: return "hotp";
    case VerifyMethod::push: return "push";
    case VerifyMethod::backup: return "backup";
  }
  return "unknown";
}

bool is_rate_limited(const RateLimit& limit, std::int64_t now) {
  if (limit.max_failures == 0 || limit.interval_s == 0) return false;
  // t counts when now - interval < t <= now; written without overflow.
  std::size_t recent = 0;
  for (const std::int64_t t : limit.failures) {
    if (t <= now && now - t < static_cast<std::int64_t>(limit.interval_s)) ++recent;
  }
  return recent >= limit.max_failures;
}

void record_failure(RateLimit& limit, std::int64_t now) {
  limit.failure_sources.clear();
  if (limit.max_failures == 0 || limit.interval_s == 0) {
    limit.failures.clear();
    return;
  }
  const auto interval = static_cast<std::int64_t>(limit.interval_s);
  // Drop expired entries and entries from the future (the clock went back):
  // neither may keep anyone locked out.
  std::erase_if(limit.failures, [&](std::int64_t t) { return t > now || now - t >= interval; });
  std::sort(limit.failures.begin(), limit.failures.end());
  limit.failures.push_back(now);
  if (limit.failures.size() > limit.max_failures) {
    const auto excess = static_cast<std::ptrdiff_t>(limit.failures.size() - limit.max_failures);
    limit.failures.erase(limit.failures.begin(), limit.failures.begin() + excess);
  }
}

// Failures and known sources share the file's 100 rate-failures entries.
std::uint32_t stored_failure_ceiling(const RateLimit& limit) noexcept {
  const std::uint64_t total = std::uint64_t{limit.max_failures} * (kMaxKnownSources + 1);
  const std::uint64_t room = kMaxRateLimitAttempts - kMaxKnownSources;
  return static_cast<std::uint32_t>(std::min<std::uint64_t>(
      total, std::max<std::uint64_t>(room, std::min(limit.max_failures, kMaxRateLimitAttempts))));
}

std::size_t max_known_sources(const RateLimit& limit) noexcept {
  return std::min<std::size_t>(kMaxKnownSources,
                               kMaxRateLimitAttempts - stored_failure_ceiling(limit));
}

std::string rate_limit_source(std::string_view rhost, std::span<const std::uint8_t> key) {
  std::array<std::uint8_t, kSha256Bytes> digest{};
  bool ok = false;
  if (key.empty()) {
    unsigned int length = 0;
    ok = EVP_Digest(rhost.data(), rhost.size(), digest.data(), &length, EVP_sha256(),
                    nullptr) == 1;
  } else {
    std::size_t length = 0;
    ok = EVP_Q_mac(nullptr, "HMAC", nullptr, "SHA256", nullptr, key.data(), key.size(),
                   reinterpret_cast<const unsigned char*>(rhost.data()), rhost.size(),
                   digest.data(), digest.size(), &length) != nullptr &&
         length == digest.size();
  }
  if (!ok) return "unknown";  // still a tag: one shared count for what cannot be told apart
  std::string tag;
  append_hex(tag, std::span<const std::uint8_t>(digest.data(), 6));
  return tag;
}

// Known sources count only their own failures; strangers count every
// stranger's. Failures recorded without a source count for everyone.
bool is_rate_limited(const RateLimit& limit, std::int64_t now, std::string_view source) {
  if (limit.max_failures == 0 || limit.interval_s == 0) return false;
  const bool sourced = limit.failure_sources.size() == limit.failures.size();
  const bool known = is_known_source(limit, source);
  std::size_t counted = 0;
  for (std::size_t i = 0; i < limit.failures.size(); ++i) {
    if (!is_recent(limit.failures[i], now, limit.interval_s)) continue;
    const std::string_view from = sourced ? std::string_view(limit.failure_sources[i]) : "";
    if (from.empty() || (known ? from == source : !is_known_source(limit, from))) ++counted;
  }
  return counted >= limit.max_failures;
}

void record_failure(RateLimit& limit, std::int64_t now, std::string_view source) {
  if (limit.max_failures == 0 || limit.interval_s == 0) {
    limit.failures.clear();
    limit.failure_sources.clear();
    return;
  }
  if (limit.failure_sources.size() != limit.failures.size()) {
    limit.failure_sources.assign(limit.failures.size(), std::string());
  }
  // Expired and future entries go (as in record_failure without sources);
  // the rest stay in time order with their sources.
  std::vector<std::pair<std::int64_t, std::string>> kept;
  for (std::size_t i = 0; i < limit.failures.size(); ++i) {
    if (is_recent(limit.failures[i], now, limit.interval_s)) {
      kept.emplace_back(limit.failures[i], std::move(limit.failure_sources[i]));
    }
  }
  std::stable_sort(kept.begin(), kept.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  kept.emplace_back(now, std::string(source.substr(0, kMaxFailureSourceLength)));
  const std::size_t ceiling = stored_failure_ceiling(limit);
  const std::size_t excess = kept.size() > ceiling ? kept.size() - ceiling : 0;
  limit.failures.clear();
  limit.failure_sources.clear();
  for (std::size_t i = excess; i < kept.size(); ++i) {
    limit.failures.push_back(kept[i].first);
    limit.failure_sources.push_back(std::move(kept[i].second));
  }
}

namespace {

// TOTP or HOTP at this token; nullopt when it does not match.
CodeCheck check_hotp(Token& token, OtpGenerator& generator, const TypedCodeText& code,
                     std::uint32_t window) {
  // The counter after a match must move past it, so the last counter value
  // (2^64-1) is never accepted: at the limit the token is spent (a
  // saturating counter accepted the same code again and again).
  constexpr std::uint64_t kLastUsable = std::numeric_limits<std::uint64_t>::max() - 1;
  if (token.counter > kLastUsable) return CodeCheck::no_match;
  const std::uint64_t look_ahead = 2 * std::uint64_t{window};
  const StepRange range{token.counter,
                        std::min(add_saturating(token.counter, look_ahead), kLastUsable)};
  const auto matched = match_in_range(generator, range, code.text);
  if (!matched) return CodeCheck::no_match;
  token.counter = *matched + 1;
  return CodeCheck::accepted;
}

CodeCheck check_totp(Token& token, OtpGenerator& generator, const TypedCodeText& code,
                     std::uint32_t window, bool replay_protection, std::int64_t now,
                     bool& state_changed) {
  const auto matched =
      match_in_range(generator, window_around(current_step(token, now), window), code.text);
  if (!matched) return CodeCheck::no_match;
  if (replay_protection && token.last_step && *matched <= *token.last_step) {
    return CodeCheck::replayed;
  }
  if (token.last_step != *matched) {
    token.last_step = *matched;
    state_changed = true;
  }
  return CodeCheck::accepted;
}

}  // namespace

CodeCheck check_token_code(Enrollment& enrollment, const TypedCodeText& code, std::int64_t now,
                           const VerifyOptions& options, VerifyOutcome& outcome) {
  // Bounded like every other count from outside: kMaxWindow steps each side.
  const std::uint32_t window =
      std::min(options.window_override.value_or(enrollment.window), kMaxWindow);
  bool replayed = false;
  for (std::size_t index = 0; index < enrollment.tokens.size(); ++index) {
    Token& token = enrollment.tokens[index];
    if (!token_is_usable(token, code.digits)) continue;
    auto generator = OtpGenerator::create(token.key.span(), token.digits, token.algorithm);
    if (!generator) continue;
    const bool hotp = token.kind == TokenKind::hotp;
    const CodeCheck check =
        hotp ? check_hotp(token, *generator, code, window)
             : check_totp(token, *generator, code, window, enrollment.replay_protection, now,
                          outcome.state_changed);
    if (check == CodeCheck::no_match) continue;
    outcome.token_index = index;
    if (check == CodeCheck::replayed) {
      replayed = true;
      continue;  // another token may still take it
    }
    if (hotp) outcome.state_changed = true;
    outcome.method = hotp ? VerifyMethod::hotp : VerifyMethod::totp;
    return CodeCheck::accepted;
  }
  if (replayed) return CodeCheck::replayed;
  outcome.token_index = 0;
  // Not accepted: a match far outside the window hints at the phone's clock.
  for (const Token& token : enrollment.tokens) {
    if (token.kind != TokenKind::totp || !token_is_usable(token, code.digits)) continue;
    outcome.clock_skew_seconds = find_clock_skew(token, now, window, code.text);
    if (outcome.clock_skew_seconds) break;
  }
  return CodeCheck::no_match;
}

CodeCheck check_backup_code(Enrollment& enrollment, const TypedCodeText& code, std::int64_t,
                            const VerifyOptions& options, VerifyOutcome& outcome) {
  if (!options.allow_backup_codes || code.digits != kBackupCodeDigits) return CodeCheck::no_match;
  const auto used = matching_backup_code(enrollment, code.text.view());
  if (!used) return CodeCheck::no_match;
  enrollment.backup_codes.erase(enrollment.backup_codes.begin() +
                                static_cast<std::ptrdiff_t>(*used));
  outcome.state_changed = true;
  outcome.method = VerifyMethod::backup;
  return CodeCheck::accepted;
}

VerifyOutcome verify_typed_code(Enrollment& enrollment, std::string_view typed, std::int64_t now,
                                const VerifyOptions& options,
                                std::span<const CodeChecker> checkers) {
  VerifyOutcome outcome;
  const bool limited = options.failure_source
                           ? is_rate_limited(enrollment.rate_limit, now, *options.failure_source)
                           : is_rate_limited(enrollment.rate_limit, now);
  if (limited) {
    outcome.result = VerifyResult::rate_limited;
    return outcome;
  }
  const auto parsed = parse_typed_code(typed);
  if (!parsed) {
    fail(enrollment, outcome, VerifyResult::malformed, now, options.failure_source);
    return outcome;
  }
  const TypedCodeText code{format_code(static_cast<std::uint32_t>(parsed->value), parsed->digits),
                           parsed->digits};
  for (const CodeChecker checker : checkers) {
    switch (checker(enrollment, code, now, options, outcome)) {
      case CodeCheck::accepted:
        outcome.clock_skew_seconds.reset();  // only ever a hint on failure
        accept(enrollment, outcome, outcome.method, options.failure_source);
        return outcome;
      case CodeCheck::replayed:
        outcome.clock_skew_seconds.reset();
        fail(enrollment, outcome, VerifyResult::replayed, now, options.failure_source);
        return outcome;
      case CodeCheck::no_match:
        break;
    }
  }
  fail(enrollment, outcome, VerifyResult::rejected, now, options.failure_source);
  return outcome;
}

VerifyOutcome verify_code(Enrollment& enrollment, std::string_view typed, std::int64_t now,
                          const VerifyOptions& options) {
  static constexpr std::array<CodeChecker, 2> kEveryCode = {&check_token_code,
                                                            &check_backup_code};
  return verify_typed_code(enrollment, typed, now, options, kEveryCode);
}

std::string hash_backup_code(std::string_view code) {
  std::array<std::uint8_t, kBackupSaltBytes> salt{};
  if (RAND_bytes(salt.data(), static_cast<int>(salt.size())) != 1) return {};
  std::array<std::uint8_t, kSha256Bytes> digest{};
  if (!salted_digest(salt, code, digest)) return {};
  std::string out(kBackupHashPrefix);
  append_hex(out, salt);
  out.push_back(':');
  append_hex(out, digest);
  return out;
}

bool backup_code_matches(const BackupCode& stored, std::string_view code) {
  if (stored.hash.empty()) {
    return !stored.plain.empty() && constant_time_equal(stored.plain.view(), code);
  }
  std::string_view hash = stored.hash;
  if (!hash.starts_with(kBackupHashPrefix)) return false;
  hash.remove_prefix(kBackupHashPrefix.size());
  const std::size_t colon = hash.find(':');
  if (colon == std::string_view::npos) return false;
  const auto salt = parse_hex(hash.substr(0, colon));
  const auto want = parse_hex(hash.substr(colon + 1));
  if (!salt || salt->empty() || salt->size() > kMaxBackupSaltBytes || !want ||
      want->size() != kSha256Bytes) {
    return false;
  }
  std::array<std::uint8_t, kSha256Bytes> digest{};
  if (!salted_digest(*salt, code, digest)) return false;
  return constant_time_equal(std::span<const std::uint8_t>(digest), *want);
}

Result<std::vector<SecretBytes>> generate_backup_codes(Enrollment& enrollment, std::size_t count,
                                                       bool store_plain) {
  const std::size_t existing = enrollment.backup_codes.size();
  if (existing > kMaxBackupCodes || count > kMaxBackupCodes - existing) {
    return make_error(ErrorCode::invalid_argument,
                      "at most " + std::to_string(kMaxBackupCodes) + " backup codes");
  }
  std::vector<SecretBytes> shown;
  std::vector<BackupCode> stored;
  for (std::size_t i = 0; i < count; ++i) {
    auto value = random_backup_code_value();
    if (!value) return value.error();
    SecretBytes code = format_code(*value, kBackupCodeDigits);
    BackupCode entry;
    if (store_plain) {
      entry.plain = code.clone();
    } else {
      entry.hash = hash_backup_code(code.view());
      if (entry.hash.empty()) return make_error(ErrorCode::crypto, "hashing backup code failed");
    }
    stored.push_back(std::move(entry));
    shown.push_back(std::move(code));
  }
  for (auto& entry : stored) enrollment.backup_codes.push_back(std::move(entry));
  return shown;
}

// ---- grace period (module argument grace_period=) ---------------------------

bool within_grace_period(const Enrollment& enrollment, std::string_view rhost, std::int64_t now,
                         std::uint32_t grace_seconds) {
  if (grace_seconds == 0 || !is_recordable_rhost(rhost)) return false;
  for (const RecentLogin& login : enrollment.recent_logins) {
    if (login.rhost != rhost) continue;
    return login.time <= now && now - login.time < static_cast<std::int64_t>(grace_seconds);
  }
  return false;
}

bool record_recent_login(Enrollment& enrollment, std::string_view rhost, std::int64_t now) {
  if (!is_recordable_rhost(rhost)) return false;
  auto& logins = enrollment.recent_logins;
  for (RecentLogin& login : logins) {
    if (login.rhost == rhost) {
      login.time = now;
      return true;
    }
  }
  if (logins.size() < kMaxRecentLogins) {
    logins.push_back(RecentLogin{std::string(rhost), now});
    return true;
  }
  const auto oldest = std::min_element(
      logins.begin(), logins.end(),
      [](const RecentLogin& a, const RecentLogin& b) { return a.time < b.time; });
  *oldest = RecentLogin{std::string(rhost), now};
  return true;
}

}  // namespace twostep
