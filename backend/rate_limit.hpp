// Token buckets per key (host id, device key, client address), in memory:
// each instance limits what it serves (section 9).
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
