#include "pruner.hpp"

#include <algorithm>
#include <chrono>

namespace twostep::relay {
namespace {

std::string retention_line(const RelayConfig& c) {
  auto period = [](Seconds s) { return s > 0 ? std::to_string(s) + " s" : std::string("for ever"); };
  return "twostepd: retention: challenges " + period(c.retention.challenges) + ", audit " +
         period(c.retention.audit) + ", pairings " + period(c.retention.pairings) +
         ", revoked devices " + period(c.retention.revoked_devices) + "; pruned every " +
         std::to_string(c.prune_interval) + " s, " + std::to_string(c.retention.batch) +
         " rows a batch";
}

void add(PruneCounts& sum, const PruneCounts& batch) {
  sum.challenges += batch.challenges;
  sum.audit += batch.audit;
  sum.pairings += batch.pairings;
  sum.devices += batch.devices;
  sum.push_subscriptions += batch.push_subscriptions;
  sum.nonces += batch.nonces;
}

std::string counts_line(const PruneCounts& c, int batches, long ms) {
  return "twostepd: pruned challenges=" + std::to_string(c.challenges) +
         " audit=" + std::to_string(c.audit) + " pairings=" + std::to_string(c.pairings) +
         " devices=" + std::to_string(c.devices) +
         " push_subscriptions=" + std::to_string(c.push_subscriptions) +
         " nonces=" + std::to_string(c.nonces) + " batches=" + std::to_string(batches) +
         " ms=" + std::to_string(ms);
}

}  // namespace

Pruner::Pruner(Store& store, const RelayConfig& config, WallClock now, LogLine log)
    : store_(store),
      policy_(config.retention),
      interval_ms_(static_cast<long>(config.prune_interval) * 1000),
      debug_(config.log_debug),
      now_(std::move(now)),
      log_(std::move(log)) {
  log_(retention_line(config));
  thread_ = std::thread([this] { run(); });
}

Pruner::~Pruner() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

bool Pruner::pause(long ms) {
  std::unique_lock lock(mu_);
  return !cv_.wait_for(lock, std::chrono::milliseconds(ms), [this] { return stopping_; });
}

void Pruner::run() {
  while (prune_all() && pause(interval_ms_)) {
  }
}

bool Pruner::prune_all() {
  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  PruneCounts sum;
  int batches = 0;
  for (;;) {
    const auto t0 = Clock::now();
    auto counts = store_.prune_batch(policy_, now_());
    const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0);
    if (!counts) {
      // The next look tries again; a store that is down is logged by the
      // requests as well.
      log_("twostepd: prune: " + counts.error().message);
      return true;
    }
    ++batches;
    add(sum, counts.value());
    if (!counts->more) break;
    if (!pause(std::max<long>(1, static_cast<long>(took.count())))) return false;
  }
  if (debug_ && sum.total() > 0) {
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
    log_(counts_line(sum, batches, static_cast<long>(ms.count())));
  }
  return true;
}

}  // namespace twostep::relay
