#include "rate_limit.hpp"

#include <algorithm>
#include <cmath>

namespace twostep::relay {

std::int64_t RateLimiter::take(const std::string& key, std::chrono::steady_clock::time_point now) {
  std::lock_guard lock(mu_);
  forget_full_buckets(now);
  auto [it, fresh] = buckets_.try_emplace(key, Bucket{burst_, now});
  Bucket& b = it->second;
  if (!fresh) {
    const double elapsed = std::chrono::duration<double>(now - b.last).count();
    b.tokens = std::min(burst_, b.tokens + elapsed * rate_);
    b.last = now;
  }
  if (b.tokens >= 1.0) {
    b.tokens -= 1.0;
    return 0;
  }
  const double wait = (1.0 - b.tokens) / rate_;
  return std::max<std::int64_t>(1, static_cast<std::int64_t>(std::ceil(wait)));
}

// A bucket that has refilled completely holds no state worth keeping; sweep
// once a minute so that the map stays as small as the set of active callers.
void RateLimiter::forget_full_buckets(std::chrono::steady_clock::time_point now) {
  if (now - last_sweep_ < std::chrono::seconds(60)) return;
  last_sweep_ = now;
  for (auto it = buckets_.begin(); it != buckets_.end();) {
    const double elapsed = std::chrono::duration<double>(now - it->second.last).count();
    if (it->second.tokens + elapsed * rate_ >= burst_) {
      it = buckets_.erase(it);
    } else {
      ++it;
    }
  }
}

}  // namespace twostep::relay
