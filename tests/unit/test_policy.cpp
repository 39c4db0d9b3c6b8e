// verify_code: window, replay floor, clock-skew hint, rate limit, backup codes.
#include <array>
#include <cstdarg>
#include <cstddef>
#include <csetjmp>
#include <cstdint>
// cmocka 1.1 has no extern "C" guards of its own.
extern "C" {
#include <cmocka.h>
}

#include <limits>
#include <string>

#include "twostep/policy.hpp"

using namespace twostep;

namespace {

constexpr std::int64_t kNow = 30 * 1000000 + 7;  // step 1000000
constexpr std::uint64_t kStep = 1000000;

Token make_token(std::string_view key = "12345678901234567890", unsigned digits = 6) {
  Token token;
  token.key = SecretBytes::from_string(key);
  token.digits = digits;
  return token;
}

Enrollment make_enrollment(std::uint32_t window = 1) {
  Enrollment enrollment;
  enrollment.tokens.push_back(make_token());
  enrollment.window = window;
  enrollment.rate_limit.max_failures = 3;
  enrollment.rate_limit.interval_s = 60;
  return enrollment;
}

std::string code_for(const Token& token, std::uint64_t counter) {
  auto code = hotp(token.key.span(), counter, token.digits, token.algorithm);
  assert_true(code.ok());
  return std::string(format_code(*code, token.digits).view());
}

VerifyOutcome verify_step(Enrollment& enrollment, std::uint64_t step, std::int64_t now = kNow,
                          const VerifyOptions& options = {}) {
  return verify_code(enrollment, code_for(enrollment.tokens[0], step), now, options);
}

void test_accepts_current_code(void**) {
  Enrollment enrollment = make_enrollment();
  const VerifyOutcome outcome = verify_step(enrollment, kStep);
  assert_int_equal(outcome.result, VerifyResult::accepted);
  assert_int_equal(outcome.method, VerifyMethod::totp);
  assert_int_equal(outcome.token_index, 0);
  assert_true(outcome.state_changed);
  assert_false(outcome.clock_skew_seconds.has_value());
  assert_true(enrollment.tokens[0].last_step == kStep);
  assert_true(enrollment.rate_limit.failures.empty());
}

void test_rfc_code_with_spaces(void**) {
  Enrollment enrollment;
  enrollment.tokens.push_back(make_token("12345678901234567890", 8));
  const VerifyOutcome outcome = verify_code(enrollment, " 0708 1804 ", 1111111109);
  assert_int_equal(outcome.result, VerifyResult::accepted);
  assert_int_equal(outcome.method, VerifyMethod::totp);
}

void test_window_edges(void**) {
  for (const std::uint32_t window : {0u, 1u, 3u}) {
    for (const int side : {-1, 1}) {
      const std::uint64_t edge = side < 0 ? kStep - window : kStep + window;
      Enrollment inside = make_enrollment(window);
      assert_int_equal(verify_step(inside, edge).result, VerifyResult::accepted);
      assert_true(inside.tokens[0].last_step == edge);

      const std::uint64_t outside = side < 0 ? kStep - window - 1 : kStep + window + 1;
      Enrollment beyond = make_enrollment(window);
      const VerifyOutcome outcome = verify_step(beyond, outside);
      assert_int_equal(outcome.result, VerifyResult::rejected);
      assert_true(outcome.clock_skew_seconds.has_value());
      assert_int_equal(*outcome.clock_skew_seconds, side * 30 * static_cast<int>(window + 1));
      assert_false(beyond.tokens[0].last_step.has_value());
      assert_int_equal(beyond.rate_limit.failures.size(), 1);
      assert_true(outcome.state_changed);
    }
  }
}

void test_clock_skew_search_limit(void**) {
  Enrollment enrollment = make_enrollment();
  VerifyOutcome outcome = verify_step(enrollment, kStep + kClockSkewSearchSteps);
  assert_int_equal(outcome.result, VerifyResult::rejected);
  assert_true(outcome.clock_skew_seconds == 30 * std::int64_t{kClockSkewSearchSteps});
  outcome = verify_step(enrollment, kStep - kClockSkewSearchSteps);
  assert_true(outcome.clock_skew_seconds == -30 * std::int64_t{kClockSkewSearchSteps});
  outcome = verify_step(enrollment, kStep + kClockSkewSearchSteps + 1);
  assert_int_equal(outcome.result, VerifyResult::rejected);
  assert_false(outcome.clock_skew_seconds.has_value());
  // A code that is not for any step gets no hint.
  enrollment.rate_limit = {};
  outcome = verify_code(enrollment, "000000", kNow);
  assert_int_equal(outcome.result, VerifyResult::rejected);
  assert_false(outcome.clock_skew_seconds.has_value());
}

void test_window_override(void**) {
  Enrollment enrollment = make_enrollment(1);
  VerifyOptions options;
  options.window_override = 3;
  assert_int_equal(verify_step(enrollment, kStep + 3, kNow, options).result,
                   VerifyResult::accepted);
  Enrollment narrow = make_enrollment(3);
  options.window_override = 0;
  assert_int_equal(verify_step(narrow, kStep + 1, kNow, options).result, VerifyResult::rejected);
}

void test_time_skew_steps(void**) {
  Enrollment enrollment = make_enrollment(0);
  enrollment.tokens[0].time_skew_steps = 5;
  assert_int_equal(verify_step(enrollment, kStep + 5).result, VerifyResult::accepted);
  assert_true(enrollment.tokens[0].last_step == kStep + 5);
  const VerifyOutcome outcome = verify_step(enrollment, kStep + 1, kNow + 30);
  assert_int_equal(outcome.result, VerifyResult::rejected);
  assert_true(outcome.clock_skew_seconds == -150);

  // A negative skew larger than the step clamps at step 0.
  Enrollment early = make_enrollment(0);
  early.tokens[0].time_skew_steps = -3;
  assert_int_equal(verify_step(early, 0, 40).result, VerifyResult::accepted);
  Enrollment extreme = make_enrollment(0);
  extreme.tokens[0].time_skew_steps = INT64_MIN;
  assert_int_equal(verify_step(extreme, 0, kNow).result, VerifyResult::accepted);
}

void test_replay_floor(void**) {
  Enrollment enrollment = make_enrollment(1);
  const std::string code = code_for(enrollment.tokens[0], kStep);
  assert_int_equal(verify_code(enrollment, code, kNow).result, VerifyResult::accepted);

  VerifyOutcome again = verify_code(enrollment, code, kNow + 1);
  assert_int_equal(again.result, VerifyResult::replayed);
  assert_true(again.state_changed);  // recorded as a failure
  assert_int_equal(enrollment.rate_limit.failures.size(), 1);
  assert_true(enrollment.tokens[0].last_step == kStep);

  // An earlier step inside the window is refused too.
  assert_int_equal(verify_step(enrollment, kStep - 1).result, VerifyResult::replayed);
  // The next step is fine and moves the floor.
  const VerifyOutcome next = verify_step(enrollment, kStep + 1);
  assert_int_equal(next.result, VerifyResult::accepted);
  assert_true(enrollment.tokens[0].last_step == kStep + 1);
  assert_true(enrollment.rate_limit.failures.empty());  // success clears failures
  assert_int_equal(verify_step(enrollment, kStep + 1, kNow + 30).result, VerifyResult::replayed);
}

void test_replay_protection_off(void**) {
  Enrollment enrollment = make_enrollment(1);
  enrollment.replay_protection = false;
  const std::string code = code_for(enrollment.tokens[0], kStep);
  assert_int_equal(verify_code(enrollment, code, kNow).result, VerifyResult::accepted);
  const VerifyOutcome again = verify_code(enrollment, code, kNow + 1);
  assert_int_equal(again.result, VerifyResult::accepted);
  assert_false(again.state_changed);
  assert_int_equal(verify_step(enrollment, kStep - 1).result, VerifyResult::accepted);
}

void test_rate_limit_locks_and_expires(void**) {
  Enrollment enrollment = make_enrollment(1);  // 3 failures per 60 s
  const std::string right = code_for(enrollment.tokens[0], kStep);
  for (int i = 0; i < 3; ++i) {
    assert_false(is_rate_limited(enrollment.rate_limit, kNow + i));
    const VerifyOutcome outcome = verify_code(enrollment, "000000", kNow + i);
    assert_int_equal(outcome.result, VerifyResult::rejected);
    assert_true(outcome.state_changed);
  }
  assert_true(is_rate_limited(enrollment.rate_limit, kNow + 2));

  // Even the right code is not checked, and the refusal changes nothing.
  const std::vector<std::int64_t> before = enrollment.rate_limit.failures;
  const VerifyOutcome refused = verify_code(enrollment, right, kNow + 3);
  assert_int_equal(refused.result, VerifyResult::rate_limited);
  assert_false(refused.state_changed);
  assert_int_equal(refused.method, VerifyMethod::none);
  assert_true(enrollment.rate_limit.failures == before);
  assert_false(enrollment.tokens[0].last_step.has_value());

  // Refusals do not extend the lockout: it ends interval_s after each counted
  // failure however often the user retries meanwhile.
  for (std::int64_t t = kNow + 4; t < kNow + 60; t += 5) {
    assert_int_equal(verify_code(enrollment, right, t).result, VerifyResult::rate_limited);
  }
  assert_true(enrollment.rate_limit.failures == before);
  assert_false(is_rate_limited(enrollment.rate_limit, kNow + 60));

  const std::int64_t later = kNow + 60;
  const VerifyOutcome accepted = verify_step(enrollment, totp_step(later, 30), later);
  assert_int_equal(accepted.result, VerifyResult::accepted);
  assert_true(enrollment.rate_limit.failures.empty());
}

void test_rate_limit_ignores_future_failures(void**) {
  RateLimit limit;
  limit.max_failures = 3;
  limit.interval_s = 60;
  // The clock went back a day after these were recorded.
  limit.failures = {kNow + 86400, kNow + 86401, kNow + 86402};
  assert_false(is_rate_limited(limit, kNow));
  record_failure(limit, kNow);
  assert_int_equal(limit.failures.size(), 1);
  assert_true(limit.failures[0] == kNow);

  Enrollment enrollment = make_enrollment();
  enrollment.rate_limit.failures = {kNow + 1000, kNow + 1000, kNow + 1000};
  assert_int_equal(verify_step(enrollment, kStep).result, VerifyResult::accepted);
}

void test_record_failure_bounds(void**) {
  RateLimit limit;
  limit.max_failures = 2;
  limit.interval_s = 100;
  limit.failures = {kNow - 100, kNow - 50, kNow - 10};  // first one expired
  record_failure(limit, kNow);
  assert_int_equal(limit.failures.size(), 2);  // newest kept
  assert_true(limit.failures[0] == kNow - 10);
  assert_true(limit.failures[1] == kNow);
  // Counting window: now - interval < t <= now.
  assert_true(is_rate_limited(limit, kNow));
  assert_true(is_rate_limited(limit, kNow + 89));
  assert_false(is_rate_limited(limit, kNow + 90));

  RateLimit off;
  off.failures = {kNow};
  assert_false(is_rate_limited(off, kNow));
  record_failure(off, kNow);
  assert_true(off.failures.empty());
  RateLimit no_interval;
  no_interval.max_failures = 1;
  record_failure(no_interval, kNow);
  assert_false(is_rate_limited(no_interval, kNow));
}

void test_rate_limit_off_changes_nothing(void**) {
  Enrollment enrollment = make_enrollment();
  enrollment.rate_limit = {};
  for (int i = 0; i < 10; ++i) {
    const VerifyOutcome outcome = verify_code(enrollment, "000000", kNow);
    assert_int_equal(outcome.result, VerifyResult::rejected);
    assert_false(outcome.state_changed);
  }
  assert_int_equal(verify_step(enrollment, kStep).result, VerifyResult::accepted);
}

void test_malformed_is_recorded(void**) {
  Enrollment enrollment = make_enrollment();
  for (const char* typed : {"abcdef", "12345", "", "123456789", "12 34 5x"}) {
    enrollment.rate_limit.failures.clear();
    const VerifyOutcome outcome = verify_code(enrollment, typed, kNow);
    assert_int_equal(outcome.result, VerifyResult::malformed);
    assert_true(outcome.state_changed);
    assert_int_equal(enrollment.rate_limit.failures.size(), 1);
  }
}

void test_digits_must_match(void**) {
  Enrollment enrollment;
  enrollment.tokens.push_back(make_token("12345678901234567890", 8));
  const std::string eight = code_for(enrollment.tokens[0], kStep);
  // The last six digits of the right 8-digit code are not a code.
  assert_int_equal(verify_code(enrollment, eight.substr(2), kNow).result, VerifyResult::rejected);
  assert_int_equal(verify_code(enrollment, eight, kNow).result, VerifyResult::accepted);
}

void test_second_token(void**) {
  Enrollment enrollment = make_enrollment();
  Token spare = make_token("another key for the spare phone");
  spare.name = "spare";
  const std::string code = code_for(spare, kStep);
  enrollment.tokens.push_back(std::move(spare));
  const VerifyOutcome outcome = verify_code(enrollment, code, kNow);
  assert_int_equal(outcome.result, VerifyResult::accepted);
  assert_int_equal(outcome.token_index, 1);
  assert_true(enrollment.tokens[1].last_step == kStep);
  assert_false(enrollment.tokens[0].last_step.has_value());
}

void test_hotp_counter(void**) {
  Enrollment enrollment = make_enrollment(1);  // look-ahead 3 counters
  enrollment.tokens[0].kind = TokenKind::hotp;
  // RFC 4226 codes for counters 2, 5, 6, 9.
  VerifyOutcome outcome = verify_code(enrollment, "359152", kNow);
  assert_int_equal(outcome.result, VerifyResult::accepted);
  assert_int_equal(outcome.method, VerifyMethod::hotp);
  assert_true(outcome.state_changed);
  assert_int_equal(enrollment.tokens[0].counter, 3);
  assert_int_equal(verify_code(enrollment, "359152", kNow).result, VerifyResult::rejected);
  assert_int_equal(verify_code(enrollment, "287922", kNow).result, VerifyResult::rejected);  // 6
  assert_int_equal(verify_code(enrollment, "254676", kNow).result, VerifyResult::accepted);  // 5
  assert_int_equal(enrollment.tokens[0].counter, 6);
  assert_int_equal(verify_code(enrollment, "287922", kNow).result, VerifyResult::accepted);
  assert_int_equal(enrollment.tokens[0].counter, 7);
}

// A counter at 2^64-1 used to saturate: the same code was accepted every
// time (4 of 4). The last counter value is never accepted now.
void test_hotp_counter_limit(void**) {
  constexpr std::uint64_t kMax = std::numeric_limits<std::uint64_t>::max();
  Enrollment at_limit = make_enrollment();
  at_limit.tokens[0].kind = TokenKind::hotp;
  at_limit.tokens[0].counter = kMax;
  int accepted = 0;
  for (int i = 0; i < 4; ++i) {
    if (verify_code(at_limit, code_for(at_limit.tokens[0], kMax), kNow).result ==
        VerifyResult::accepted) {
      ++accepted;
    }
  }
  assert_int_equal(accepted, 0);
  assert_true(at_limit.tokens[0].counter == kMax);
  // Just below: the last usable counter works once, then the token is spent.
  Enrollment below = make_enrollment(3);
  below.rate_limit.max_failures = 0;
  below.tokens[0].kind = TokenKind::hotp;
  below.tokens[0].counter = kMax - 2;
  const std::string last = code_for(below.tokens[0], kMax - 1);
  assert_int_equal(verify_code(below, last, kNow).result, VerifyResult::accepted);
  assert_true(below.tokens[0].counter == kMax);
  assert_int_equal(verify_code(below, last, kNow).result, VerifyResult::rejected);
  assert_int_equal(verify_code(below, code_for(below.tokens[0], kMax), kNow).result,
                   VerifyResult::rejected);
}

// Keys under 80 bits are never used, even if a document holds one.
void test_short_keys_refused(void**) {
  Enrollment enrollment;
  enrollment.tokens.push_back(make_token("123456789"));  // 72 bits
  const auto outcome = verify_step(enrollment, kStep);
  assert_int_equal(outcome.result, VerifyResult::rejected);
  Enrollment enough;
  enough.tokens.push_back(make_token("1234567890"));  // 80 bits
  assert_int_equal(verify_step(enough, kStep).result, VerifyResult::accepted);
}

// Per-source counting (issue 19, item 2): strangers share one count of
// max_failures; a source that has logged the user in keeps its own budget,
// which no number of stranger addresses consumes.
void test_rate_limit_per_source(void**) {
  Enrollment enrollment = make_enrollment();  // 3 failures per 60 s
  VerifyOptions stranger;
  stranger.failure_source = rate_limit_source("203.0.113.66");
  VerifyOptions owner;
  owner.failure_source = rate_limit_source("192.0.2.7");
  assert_true(*stranger.failure_source != *owner.failure_source);
  assert_int_equal(stranger.failure_source->size(), 12);
  // The owner's address becomes known with a success.
  assert_int_equal(verify_step(enrollment, kStep - 1, kNow, owner).result, VerifyResult::accepted);
  assert_int_equal(enrollment.rate_limit.known_sources.size(), 1);
  assert_string_equal(enrollment.rate_limit.known_sources[0].c_str(),
                      owner.failure_source->c_str());
  // Strangers from twelve addresses, three guesses each: only three are checked.
  std::size_t checked = 0;
  for (int i = 0; i < 12; ++i) {
    VerifyOptions other;
    other.failure_source = rate_limit_source("198.51.100." + std::to_string(i));
    for (int j = 0; j < 3; ++j) {
      if (verify_code(enrollment, "000000", kNow, other).result == VerifyResult::rejected) {
        ++checked;
      }
    }
  }
  assert_int_equal(checked, 3);
  assert_int_equal(verify_code(enrollment, "000000", kNow, stranger).result,
                   VerifyResult::rate_limited);
  // The owner, from the known address, still gets in, and their success
  // leaves the strangers' count alone.
  assert_int_equal(verify_step(enrollment, kStep, kNow, owner).result, VerifyResult::accepted);
  assert_int_equal(enrollment.rate_limit.failures.size(), 3);
  assert_int_equal(verify_code(enrollment, "000000", kNow, stranger).result,
                   VerifyResult::rate_limited);
  // The known address has its own three; then it waits too.
  for (int i = 0; i < 3; ++i) {
    assert_int_equal(verify_code(enrollment, "000000", kNow, owner).result,
                     VerifyResult::rejected);
  }
  assert_int_equal(verify_step(enrollment, kStep + 1, kNow, owner).result,
                   VerifyResult::rate_limited);
  // Everything expires.
  assert_int_equal(verify_step(enrollment, kStep + 3, kNow + 90, owner).result,
                   VerifyResult::accepted);
  assert_int_equal(verify_code(enrollment, "000000", kNow + 90, stranger).result,
                   VerifyResult::rejected);
  // Without sources (google-authenticator files) one count locks everyone.
  Enrollment global = make_enrollment();
  for (int i = 0; i < 3; ++i) (void)verify_code(global, "000000", kNow);
  assert_int_equal(verify_step(global, kStep).result, VerifyResult::rate_limited);
  assert_true(global.rate_limit.known_sources.empty());
}

// At most kMaxKnownSources known sources, the least recently used dropped;
// the failures kept stay within stored_failure_ceiling().
void test_known_sources_bounded(void**) {
  Enrollment enrollment = make_enrollment();
  const auto source = [](int i) { return rate_limit_source("192.0.2." + std::to_string(i)); };
  for (int i = 0; i < 10; ++i) {
    VerifyOptions from;
    from.failure_source = source(i);
    assert_int_equal(verify_step(enrollment, kStep + static_cast<std::uint64_t>(i), kNow + 30 * i,
                                 from).result,
                     VerifyResult::accepted);
  }
  const auto& known = enrollment.rate_limit.known_sources;
  assert_int_equal(known.size(), kMaxKnownSources);
  assert_string_equal(known.front().c_str(), source(2).c_str());
  assert_string_equal(known.back().c_str(), source(9).c_str());
  // A repeated success moves its source to the end without a duplicate.
  VerifyOptions again;
  again.failure_source = source(2);
  constexpr std::int64_t kLater = kNow + 300;
  assert_int_equal(verify_step(enrollment, kStep + 10, kLater, again).result,
                   VerifyResult::accepted);
  assert_int_equal(known.size(), kMaxKnownSources);
  assert_string_equal(known.back().c_str(), source(2).c_str());
  // Every known source and the strangers fail as often as allowed.
  for (int i = 0; i < 20; ++i) {
    VerifyOptions from;
    from.failure_source = source(i);
    for (int j = 0; j < 4; ++j) (void)verify_code(enrollment, "000000", kLater, from);
  }
  assert_int_equal(stored_failure_ceiling(enrollment.rate_limit), 27);
  assert_int_equal(enrollment.rate_limit.failures.size(), 27);
  assert_int_equal(enrollment.rate_limit.failure_sources.size(), 27);
  // Failures and known sources share the file's 100 entries.
  RateLimit large{11, 60, {}, {}, {}};
  assert_int_equal(stored_failure_ceiling(large), 92);
  assert_int_equal(max_known_sources(large), 8);
  large.max_failures = 95;
  assert_int_equal(stored_failure_ceiling(large), 95);
  assert_int_equal(max_known_sources(large), 5);
  large.max_failures = 100;
  assert_int_equal(max_known_sources(large), 0);
}

// Keyed tags: a different key, a different tag; none without the key.
void test_rate_limit_source_keyed(void**) {
  const std::array<std::uint8_t, 32> key{1, 2, 3};
  std::array<std::uint8_t, 32> other = key;
  other[31] = 9;
  const std::string keyed = rate_limit_source("203.0.113.66", key);
  assert_int_equal(keyed.size(), 12);
  assert_true(keyed != rate_limit_source("203.0.113.66"));
  assert_true(keyed != rate_limit_source("203.0.113.66", other));
  assert_string_equal(keyed.c_str(), rate_limit_source("203.0.113.66", key).c_str());
}

void test_backup_codes_hashed_single_use(void**) {
  Enrollment enrollment = make_enrollment();
  auto codes = generate_backup_codes(enrollment, 5, false);
  assert_true(codes.ok());
  assert_int_equal(codes->size(), 5);
  assert_int_equal(enrollment.backup_codes.size(), 5);
  for (std::size_t i = 0; i < codes->size(); ++i) {
    const SecretBytes& code = (*codes)[i];
    assert_int_equal(code.size(), kBackupCodeDigits);
    for (const char c : code.view()) assert_true(c >= '0' && c <= '9');
    const BackupCode& stored = enrollment.backup_codes[i];
    assert_true(stored.plain.empty());
    assert_int_equal(stored.hash.size(), 7 + 32 + 1 + 64);
    assert_int_equal(stored.hash.rfind("sha256:", 0), 0);
    assert_int_equal(stored.hash.find(code.view()), std::string::npos);
    assert_true(backup_code_matches(stored, code.view()));
  }

  const std::string used((*codes)[2].view());
  const VerifyOutcome outcome = verify_code(enrollment, used, kNow);
  assert_int_equal(outcome.result, VerifyResult::accepted);
  assert_int_equal(outcome.method, VerifyMethod::backup);
  assert_true(outcome.state_changed);
  assert_int_equal(enrollment.backup_codes.size(), 4);
  const VerifyOutcome again = verify_code(enrollment, used, kNow);
  assert_int_equal(again.result, VerifyResult::rejected);
  assert_int_equal(enrollment.backup_codes.size(), 4);
  // The others still work, with spaces as people type them.
  const std::string other((*codes)[0].view());
  const std::string spaced = other.substr(0, 4) + " " + other.substr(4);
  assert_int_equal(verify_code(enrollment, spaced, kNow).result, VerifyResult::accepted);
  assert_int_equal(enrollment.backup_codes.size(), 3);
}

void test_backup_codes_plain_single_use(void**) {
  Enrollment enrollment = make_enrollment();
  auto codes = generate_backup_codes(enrollment, 2, true);
  assert_true(codes.ok());
  assert_int_equal(enrollment.backup_codes.size(), 2);
  assert_true(enrollment.backup_codes[0].hash.empty());
  assert_true(enrollment.backup_codes[0].plain.view() == (*codes)[0].view());

  const std::string code((*codes)[1].view());
  assert_int_equal(verify_code(enrollment, code, kNow).result, VerifyResult::accepted);
  assert_int_equal(enrollment.backup_codes.size(), 1);
  assert_int_equal(verify_code(enrollment, code, kNow).result, VerifyResult::rejected);
}

void test_backup_codes_can_be_disabled(void**) {
  Enrollment enrollment = make_enrollment();
  BackupCode stored;
  stored.plain = SecretBytes::from_string("12345678");
  enrollment.backup_codes.push_back(std::move(stored));
  VerifyOptions options;
  options.allow_backup_codes = false;
  assert_int_equal(verify_code(enrollment, "12345678", kNow, options).result,
                   VerifyResult::rejected);
  assert_int_equal(enrollment.backup_codes.size(), 1);
  assert_int_equal(verify_code(enrollment, "12345678", kNow).result, VerifyResult::accepted);
  assert_true(enrollment.backup_codes.empty());
}

void test_backup_code_hash_format(void**) {
  const std::string a = hash_backup_code("12345678");
  const std::string b = hash_backup_code("12345678");
  assert_true(a != b);  // fresh salt each time
  BackupCode stored;
  stored.hash = a;
  assert_true(backup_code_matches(stored, "12345678"));
  assert_false(backup_code_matches(stored, "12345679"));
  assert_false(backup_code_matches(stored, ""));

  BackupCode tampered;
  tampered.hash = a;
  tampered.hash.back() = tampered.hash.back() == '0' ? '1' : '0';
  assert_false(backup_code_matches(tampered, "12345678"));
  for (const char* bad : {"sha256:", "sha256::", "md5:00:00", "sha256:zz:00", "x"}) {
    BackupCode broken;
    broken.hash = bad;
    assert_false(backup_code_matches(broken, "12345678"));
  }
  // Upper-case hex is read as well.
  BackupCode upper;
  upper.hash = a;
  for (auto& c : upper.hash) c = static_cast<char>(c >= 'a' && c <= 'f' ? c - 'a' + 'A' : c);
  upper.hash.replace(0, 7, "sha256:");
  assert_true(backup_code_matches(upper, "12345678"));

  BackupCode empty;
  assert_false(backup_code_matches(empty, ""));
}

void test_backup_code_limit(void**) {
  Enrollment enrollment = make_enrollment();
  auto too_many = generate_backup_codes(enrollment, kMaxBackupCodes + 1, true);
  assert_false(too_many.ok());
  assert_int_equal(too_many.error().code, ErrorCode::invalid_argument);
  assert_true(enrollment.backup_codes.empty());

  auto some = generate_backup_codes(enrollment, kMaxBackupCodes - 1, true);
  assert_true(some.ok());
  auto last = generate_backup_codes(enrollment, 1, true);  // appends
  assert_true(last.ok());
  assert_int_equal(enrollment.backup_codes.size(), kMaxBackupCodes);
  auto over = generate_backup_codes(enrollment, 1, true);
  assert_false(over.ok());
  assert_int_equal(enrollment.backup_codes.size(), kMaxBackupCodes);
}

void test_backup_codes_look_uniform(void**) {
  // Weak sanity check on the generator: 32 codes, leading digits not all equal.
  Enrollment enrollment;
  auto codes = generate_backup_codes(enrollment, kMaxBackupCodes, true);
  assert_true(codes.ok());
  int distinct_first = 0;
  bool seen[10] = {};
  for (const auto& code : *codes) {
    // Eight digits, never a leading zero: google-authenticator refuses those.
    assert_int_equal(code.size(), kBackupCodeDigits);
    assert_true(code.view()[0] != '0');
    const int first = code.view()[0] - '0';
    if (!seen[first]) ++distinct_first;
    seen[first] = true;
  }
  assert_true(distinct_first >= 3);  // fails with probability < 1e-20
}

void test_names(void**) {
  assert_string_equal(to_string(VerifyResult::accepted), "accepted");
  assert_string_equal(to_string(VerifyResult::rejected), "rejected");
  assert_string_equal(to_string(VerifyResult::replayed), "replayed");
  assert_string_equal(to_string(VerifyResult::rate_limited), "rate_limited");
  assert_string_equal(to_string(VerifyResult::malformed), "malformed");
  assert_string_equal(to_string(VerifyMethod::none), "none");
  assert_string_equal(to_string(VerifyMethod::totp), "totp");
  assert_string_equal(to_string(VerifyMethod::hotp), "hotp");
  assert_string_equal(to_string(VerifyMethod::backup), "backup");
}

void test_token_clone(void**) {
  Token token = make_token();
  token.name = "spare";
  token.last_step = 42;
  token.time_skew_steps = -2;
  token.counter = 7;
  token.algorithm = HashAlgorithm::sha512;
  const Token copy = token.clone();
  assert_string_equal(copy.name.c_str(), "spare");
  assert_true(copy.key.view() == token.key.view());
  assert_ptr_not_equal(copy.key.data(), token.key.data());
  assert_true(copy.last_step == 42);
  assert_int_equal(copy.time_skew_steps, -2);
  assert_int_equal(copy.counter, 7);
  assert_int_equal(copy.algorithm, HashAlgorithm::sha512);
}

}  // namespace

int main() {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_accepts_current_code),
      cmocka_unit_test(test_rfc_code_with_spaces),
      cmocka_unit_test(test_window_edges),
      cmocka_unit_test(test_clock_skew_search_limit),
      cmocka_unit_test(test_window_override),
      cmocka_unit_test(test_time_skew_steps),
      cmocka_unit_test(test_replay_floor),
      cmocka_unit_test(test_replay_protection_off),
      cmocka_unit_test(test_rate_limit_locks_and_expires),
      cmocka_unit_test(test_rate_limit_ignores_future_failures),
      cmocka_unit_test(test_record_failure_bounds),
      cmocka_unit_test(test_rate_limit_off_changes_nothing),
      cmocka_unit_test(test_malformed_is_recorded),
      cmocka_unit_test(test_digits_must_match),
      cmocka_unit_test(test_second_token),
      cmocka_unit_test(test_hotp_counter),
      cmocka_unit_test(test_hotp_counter_limit),
      cmocka_unit_test(test_rate_limit_per_source),
      cmocka_unit_test(test_known_sources_bounded),
      cmocka_unit_test(test_rate_limit_source_keyed),
      cmocka_unit_test(test_short_keys_refused),
      cmocka_unit_test(test_backup_codes_hashed_single_use),
      cmocka_unit_test(test_backup_codes_plain_single_use),
      cmocka_unit_test(test_backup_codes_can_be_disabled),
      cmocka_unit_test(test_backup_code_hash_format),
      cmocka_unit_test(test_backup_code_limit),
      cmocka_unit_test(test_backup_codes_look_uniform),
      cmocka_unit_test(test_names),
      cmocka_unit_test(test_token_clone),
  };
  return cmocka_run_group_tests(tests, nullptr, nullptr);
}
