// Token buckets per key (host id, device key, client address), in memory:
// the limits of one instance on SQLite. Where several instances share a
// PostgreSQL database, the same buckets live in it (Store::take_token) and
// this class only carries their rate and burst (service.cpp).
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>

namespace twostep::relay {

class RateLimiter {
 public:
  // `rate` tokens per `per` seconds, at most `burst` saved up.
  RateLimiter(double rate, double per, double burst) : rate_(rate / per), burst_(burst) {}

  // Takes one token for `key`. 0: allowed; otherwise the seconds to wait
  // (for Retry-After, at least 1).
  std::int64_t take(const std::string& key, std::chrono::steady_clock::time_point now);

  double rate_per_second() const { return rate_; }
  double burst() const { return burst_; }

 private:
  struct Bucket {
    double tokens;
    std::chrono::steady_clock::time_point last;
  };
  void forget_full_buckets(std::chrono::steady_clock::time_point now);

  double rate_;  // tokens per second
  double burst_;
  std::mutex mu_;
  std::unordered_map<std::string, Bucket> buckets_;
  std::chrono::steady_clock::time_point last_sweep_{};
};

}  // namespace twostep::relay
