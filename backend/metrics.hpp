// The relay's Prometheus metrics (docs/admin-guide.md, "Metrics"): counts
// and latencies the daemon keeps while it serves, written in the Prometheus
// text format (version 0.0.4) for `metrics_listen`. No label holds a user,
// a host name, an address or an id: the routes are the protocol's
// patterns, so the number of series is fixed by the code, not by callers.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace twostep::relay {

// One histogram: cumulative buckets with fixed upper bounds (seconds).
class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds);
  void observe(double value);
  // The histogram's lines (_bucket, _sum, _count) for `name`.
  void render(std::string& out, std::string_view name) const;

 private:
  std::vector<double> bounds_;
  mutable std::mutex mu_;
  std::vector<std::uint64_t> counts_;  // per bucket, not cumulative; +Inf last
  double sum_ = 0;
  std::uint64_t count_ = 0;
};

class Metrics {
 public:
  Metrics();

  // One answered request: the route's pattern in the protocol
  // (service.cpp's table; "static" for the app's files, "unmatched" for
  // any other path, "invalid" for a request refused before it was read),
  // its method (GET, POST, PATCH, DELETE, other) and the status sent.
  void request(std::string_view route, std::string_view method, unsigned status);
  void challenge_created() { ++challenges_created_; }
  // A device's decision: approved, denied or reported.
  void decision(std::string_view result);
  void challenge_to_decision(double seconds) { challenge_to_decision_.observe(seconds); }
  // This instance learned of a decision (its own commit, or another
  // instance's notification) -> the long-poll's answer written.
  void decision_to_answer(double seconds) { decision_to_answer_.observe(seconds); }
  void long_polls(std::int64_t delta) { long_polls_ += delta; }
  void event_streams(std::int64_t delta) { event_streams_ += delta; }
  void push(bool sent) { ++(sent ? pushes_sent_ : pushes_failed_); }
  // A request refused by a rate limit: host, device, pairing_address,
  // pairing_user, pairing_host.
  void rate_limited(std::string_view limit);
  // A challenge refused for push fatigue: cooldown or push_blocked.
  void fatigue_refused(std::string_view reason);
  void store_call(double seconds, bool failed);

  // Every metric, in the text format.
  std::string render() const;

 private:
  // Counters with one label; the values known up front are there from the start (0).
  struct LabelledCounter {
    std::string label;
    std::map<std::string, std::uint64_t, std::less<>> values;
  };
  static void count(LabelledCounter& c, std::string_view value, std::mutex& mu);
  void render_counters(std::string& out) const;
  void render_histograms(std::string& out) const;

  mutable std::mutex mu_;  // the maps below
  std::map<std::string, std::uint64_t, std::less<>> requests_;  // labels -> count
  LabelledCounter decisions_;
  LabelledCounter rate_limited_;
  LabelledCounter fatigue_;
  std::atomic<std::uint64_t> challenges_created_{0};
  std::atomic<std::uint64_t> pushes_sent_{0};
  std::atomic<std::uint64_t> pushes_failed_{0};
  std::atomic<std::uint64_t> store_errors_{0};
  std::atomic<std::int64_t> long_polls_{0};
  std::atomic<std::int64_t> event_streams_{0};
  Histogram challenge_to_decision_;
  Histogram decision_to_answer_;
  Histogram store_seconds_;
};

}  // namespace twostep::relay
