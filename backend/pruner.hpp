// Retention, off the request path: a thread of its own that calls
// Store::prune_batch until nothing is left past the retention, then waits
// `prune_interval` and looks again. Between two batches it pauses as long
// as the last one took, so it holds the store (SQLite's one writer) at most
// half of the time while it catches up, and requests go first.
#pragma once

#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "config.hpp"
#include "store.hpp"

namespace twostep::relay {

class Pruner {
 public:
  using LogLine = std::function<void(const std::string&)>;
  using WallClock = std::function<Seconds()>;

  // Starts the thread; its first look is at once.
  Pruner(Store& store, const RelayConfig& config, WallClock now, LogLine log);
  ~Pruner();  // stops it (a batch in progress finishes first)
  Pruner(const Pruner&) = delete;
  Pruner& operator=(const Pruner&) = delete;

 private:
  void run();
  // One look: batches until none is full. False when stopping.
  bool prune_all();
  // Waits `ms`, or less when stopping; false when stopping.
  bool pause(long ms);

  Store& store_;
  const RetentionPolicy policy_;
  const long interval_ms_;
  const bool debug_;
  WallClock now_;
  LogLine log_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread thread_;  // last: starts once the members above are set
};

}  // namespace twostep::relay
