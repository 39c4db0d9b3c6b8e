// Token buckets in the database (Store::take_token), for the rate limits
// that must hold across instances (docs/protocol.md, section 9). The rule
// is one statement, so that concurrent takes from one bucket, on any
// instance, are serialised by its row lock and none is lost.
//
// Integers only, the same in both dialects: a token is 1,000,000 units,
// the rate is units per second, time is wall-clock milliseconds. The
// refill is computed only up to the time the bucket is full, so that the
// product of the elapsed time and the rate cannot overflow however long a
// bucket sat unused. A clock that went backwards (another instance's)
// refills nothing.
#include <cmath>

#include "store_rules.hpp"

namespace twostep::relay {

StoreResult<std::int64_t> Store::take_token(std::string_view, double, double, std::int64_t) {
  return StoreError{StoreErrc::backend, "this store keeps no rate limits"};
}

StoreResult<std::int64_t> Store::forget_full_buckets(std::int64_t) {
  return StoreError{StoreErrc::backend, "this store keeps no rate limits"};
}

namespace sql {
namespace {

constexpr std::int64_t kUnitsPerToken = 1000000;

// The bucket's units at the new time, before taking: the stored units plus
// what the elapsed time refilled, at most the burst.
#define ELAPSED "(excluded.at_ms - rate_buckets.at_ms)"
#define REFILLED                                                                  \
  "(CASE WHEN " ELAPSED " <= 0 THEN rate_buckets.units "                         \
  "WHEN " ELAPSED " > (excluded.burst - rate_buckets.units) * 1000 / excluded.rate " \
  "THEN excluded.burst "                                                          \
  "ELSE rate_buckets.units + " ELAPSED " * excluded.rate / 1000 END)"

constexpr std::string_view kTake =
    "INSERT INTO rate_buckets(bucket, units, at_ms, rate, burst, granted) "
    "VALUES(?, ?, ?, ?, ?, 1) ON CONFLICT(bucket) DO UPDATE SET "
    "units = CASE WHEN " REFILLED " >= 1000000 THEN " REFILLED " - 1000000 ELSE " REFILLED " END, "
    "granted = CASE WHEN " REFILLED " >= 1000000 THEN 1 ELSE 0 END, "
    "at_ms = CASE WHEN " ELAPSED " > 0 THEN excluded.at_ms ELSE rate_buckets.at_ms END, "
    "rate = excluded.rate, burst = excluded.burst "
    "RETURNING units, granted";

#undef REFILLED
#undef ELAPSED

// A bucket that would be full by now holds nothing worth keeping.
constexpr std::string_view kForget =
    "DELETE FROM rate_buckets WHERE ? - at_ms > (burst - units) * 1000 / rate";

std::int64_t units(double tokens) {
  return std::max<std::int64_t>(1, std::llround(tokens * kUnitsPerToken));
}

}  // namespace

StoreResult<std::int64_t> SqlStore::take_token(std::string_view bucket, double rate, double burst,
                                               std::int64_t now_ms) {
  const std::int64_t per_second = units(rate);
  const std::int64_t most = std::max(kUnitsPerToken, units(burst));
  return autocommit<std::int64_t>([&](Session& s) -> StoreResult<std::int64_t> {
    std::int64_t left = 0;
    bool granted = false;
    auto r = s.run("rate limit", kTake,
                   Params().text(bucket).integer(most - kUnitsPerToken).integer(now_ms)
                       .integer(per_second).integer(most),
                   [&](const Row& row) {
                     left = row.integer(0);
                     granted = row.integer(1) != 0;
                   });
    if (!r) return r.error();
    if (granted) return std::int64_t{0};
    // Whole seconds until the missing units have refilled, at least 1.
    const std::int64_t missing = kUnitsPerToken - left;
    return std::max<std::int64_t>(1, (missing + per_second - 1) / per_second);
  });
}

StoreResult<std::int64_t> SqlStore::forget_full_buckets(std::int64_t now_ms) {
  return autocommit<std::int64_t>([&](Session& s) -> StoreResult<std::int64_t> {
    return s.run("rate limit", kForget, Params().integer(now_ms));
  });
}

}  // namespace sql
}  // namespace twostep::relay
