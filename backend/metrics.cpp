#include "metrics.hpp"

#include <algorithm>
#include <cstdio>

namespace twostep::relay {
namespace {

// A number as Prometheus reads it; "+Inf" for the last bucket.
std::string number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}

void header(std::string& out, std::string_view name, std::string_view type,
            std::string_view help) {
  out.append("# HELP ").append(name).append(" ").append(help).append("\n");
  out.append("# TYPE ").append(name).append(" ").append(type).append("\n");
}

void sample(std::string& out, std::string_view name, std::string_view labels,
            const std::string& value) {
  out.append(name);
  if (!labels.empty()) out.append("{").append(labels).append("}");
  out.append(" ").append(value).append("\n");
}

// Label values here come from the code (route patterns, fixed words), but
// are escaped as the format says all the same.
std::string label(std::string_view name, std::string_view value) {
  std::string out(name);
  out += "=\"";
  for (const char c : value) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  out += '"';
  return out;
}

std::string_view known_method(std::string_view m) {
  for (std::string_view known : {"GET", "POST", "PATCH", "DELETE", "PUT", "HEAD", "OPTIONS"}) {
    if (m == known) return known;
  }
  return "other";
}

// Latency bounds: an answer in the relay takes milliseconds; a person
// decides in seconds; a store call in tens of microseconds to seconds.
const std::vector<double> kAnswerBounds = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                           0.05,   0.1,   0.25,   0.5,   1,    2.5};
const std::vector<double> kDecisionBounds = {1, 2, 3, 5, 7.5, 10, 15, 20, 30, 45, 60, 90, 120, 300};
const std::vector<double> kStoreBounds = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                          0.01,   0.025,   0.05,   0.1,   0.25,   1};

}  // namespace

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)), counts_(bounds_.size() + 1, 0) {}

void Histogram::observe(double value) {
  const auto at = std::lower_bound(bounds_.begin(), bounds_.end(), value) - bounds_.begin();
  std::lock_guard lock(mu_);
  ++counts_[static_cast<std::size_t>(at)];
  sum_ += value;
  ++count_;
}

void Histogram::render(std::string& out, std::string_view name) const {
  std::lock_guard lock(mu_);
  const std::string bucket = std::string(name) + "_bucket";
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i <= bounds_.size(); ++i) {
    cumulative += counts_[i];
    const std::string le = i < bounds_.size() ? number(bounds_[i]) : "+Inf";
    sample(out, bucket, label("le", le), std::to_string(cumulative));
  }
  sample(out, std::string(name) + "_sum", "", number(sum_));
  sample(out, std::string(name) + "_count", "", std::to_string(count_));
}

Metrics::Metrics()
    : decisions_{"result", {{"approved", 0}, {"denied", 0}, {"reported", 0}}},
      rate_limited_{"limit",
                    {{"host", 0}, {"device", 0}, {"pairing_address", 0}, {"pairing_user", 0},
                     {"pairing_host", 0}}},
      fatigue_{"reason", {{"cooldown", 0}, {"push_blocked", 0}}},
      challenge_to_decision_(kDecisionBounds),
      decision_to_answer_(kAnswerBounds),
      store_seconds_(kStoreBounds) {}

void Metrics::request(std::string_view route, std::string_view method, unsigned status) {
  std::string key = label("route", route) + "," + label("method", known_method(method)) + "," +
                    label("status", std::to_string(status));
  std::lock_guard lock(mu_);
  ++requests_[key];
}

void Metrics::count(LabelledCounter& c, std::string_view value, std::mutex& mu) {
  std::lock_guard lock(mu);
  auto it = c.values.find(value);
  if (it == c.values.end()) it = c.values.emplace(std::string(value), 0).first;
  ++it->second;
}

void Metrics::decision(std::string_view result) { count(decisions_, result, mu_); }
void Metrics::rate_limited(std::string_view limit) { count(rate_limited_, limit, mu_); }
void Metrics::fatigue_refused(std::string_view reason) { count(fatigue_, reason, mu_); }

void Metrics::store_call(double seconds, bool failed) {
  store_seconds_.observe(seconds);
  if (failed) ++store_errors_;
}

void Metrics::render_counters(std::string& out) const {
  auto labelled = [&](std::string_view name, std::string_view help, const LabelledCounter& c) {
    header(out, name, "counter", help);
    for (const auto& [value, n] : c.values) sample(out, name, label(c.label, value), std::to_string(n));
  };
  auto plain = [&](std::string_view name, std::string_view type, std::string_view help,
                   std::int64_t n) {
    header(out, name, type, help);
    sample(out, name, "", std::to_string(n));
  };
  std::lock_guard lock(mu_);
  header(out, "twostepd_http_requests_total", "counter",
         "HTTP requests answered, by route pattern, method and status.");
  for (const auto& [labels, n] : requests_) {
    sample(out, "twostepd_http_requests_total", labels, std::to_string(n));
  }
  plain("twostepd_challenges_created_total", "counter", "Push challenges created.",
        static_cast<std::int64_t>(challenges_created_.load()));
  labelled("twostepd_decisions_total", "Decisions made by devices, by result.", decisions_);
  plain("twostepd_long_polls_pending", "gauge", "Long-polls held open now.", long_polls_.load());
  plain("twostepd_event_streams_open", "gauge", "Device event streams open now.", event_streams_.load());
  plain("twostepd_pushes_sent_total", "counter", "Web Push messages the push service accepted.",
        static_cast<std::int64_t>(pushes_sent_.load()));
  plain("twostepd_pushes_failed_total", "counter",
        "Web Push messages not sent or refused by the push service.",
        static_cast<std::int64_t>(pushes_failed_.load()));
  labelled("twostepd_rate_limited_total", "Requests refused by a rate limit, by limit.",
           rate_limited_);
  labelled("twostepd_fatigue_refusals_total",
           "Challenges refused for push fatigue, by reason.", fatigue_);
  plain("twostepd_store_errors_total", "counter", "Store calls that failed in the database.",
        static_cast<std::int64_t>(store_errors_.load()));
}

void Metrics::render_histograms(std::string& out) const {
  header(out, "twostepd_challenge_decision_seconds", "histogram",
         "From a challenge's creation to a device's decision.");
  challenge_to_decision_.render(out, "twostepd_challenge_decision_seconds");
  header(out, "twostepd_decision_answer_seconds", "histogram",
         "From this instance learning of a decision to the long-poll's answer written.");
  decision_to_answer_.render(out, "twostepd_decision_answer_seconds");
  header(out, "twostepd_store_call_seconds", "histogram",
         "Store calls (one transaction or statement each).");
  store_seconds_.render(out, "twostepd_store_call_seconds");
}

std::string Metrics::render() const {
  std::string out;
  out.reserve(8192);
  render_counters(out);
  render_histograms(out);
  return out;
}

}  // namespace twostep::relay
