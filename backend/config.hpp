// twostepd.conf(5): the relay's settings, every one with a safe default.
#pragma once

#include <cstdint>
#include <string>

#include "store.hpp"
#include "twostep/result.hpp"

namespace twostep::relay {

struct RelayConfig {
  // Network.
  std::string listen = "127.0.0.1:8700";  // host:port; [v6]:port
  std::string tls_cert;  // PEM chain; with tls_key: TLS. Neither: plain HTTP, loopback only
  std::string tls_key;
  std::string public_url;       // how hosts and phones reach us; default from listen
  std::string approver_origin;  // clientDataJSON origin; default: public_url's origin

  // Threads that answer requests (signature checks, store transactions);
  // 0: one per CPU but one (at least 1, at most 8). The network is served on
  // one more thread.
  std::int64_t worker_threads = 0;

  // Store: a SQLite path or a postgresql:// URL.
  std::string database = "/var/lib/twostepd/twostepd.db";

  // Limits (protocol section 9).
  std::int64_t max_header_bytes = 8 * 1024;
  std::int64_t max_body_bytes = 64 * 1024;
  std::int64_t header_timeout = 10;  // seconds
  std::int64_t idle_timeout = 60;
  std::int64_t max_connections_per_client = 256;
  // Open connections in all; 0: the file descriptor limit (raised to its
  // hard limit at start) less kFdReserve for the store, logs and pushes.
  // Never above that: a connection over it is closed at accept.
  std::int64_t max_connections = 0;
  std::int64_t host_rate = 50;  // requests per second per host
  std::int64_t host_burst = 200;
  std::int64_t device_rate = 10;  // per device key
  std::int64_t device_burst = 50;
  // Pairing creation is unauthenticated: limited per client address and per
  // (host, user), so that a stranger cannot stop pairing for a whole host;
  // the bound per host only caps what a host's pairings may cost.
  std::int64_t pairings_per_minute = 10;  // per client address, per (host, user)
  std::int64_t pairings_per_host_per_minute = 600;
  std::int64_t max_wait = 60;             // long-poll clamp, seconds

  // Protocol timings.
  std::int64_t clock_skew = 300;
  std::int64_t nonce_ttl = 600;
  std::int64_t pairing_ttl = 600;
  std::int64_t max_challenge_ttl = 300;
  std::int64_t event_keepalive = 15;

  // TLS: Strict-Transport-Security max-age on every answer (0: no header).
  std::int64_t hsts_max_age = 31536000;  // one year

  // Web Push: how long one send may take, and how many run at once.
  std::int64_t push_timeout = 10;  // seconds, connect included
  std::int64_t push_max_in_flight = 64;

  // Push fatigue: the cooldown and the notification bound per phone
  // (fatigue_*, notifications_per_minute).
  FatiguePolicy fatigue{};

  // Prometheus metrics, plain HTTP on their own address (host:port; a bare
  // port is on 127.0.0.1); empty: not served.
  std::string metrics_listen;
  // log_format: text (key=value lines) or json (one object per line).
  bool log_json = false;

  // Retention (*_retention, prune_batch; store.hpp RetentionPolicy) and how
  // often the pruner looks for rows past it, in seconds.
  RetentionPolicy retention{};
  std::int64_t prune_interval = 60;

  // Log level: "info" (what an operator needs, no line per login) or
  // "debug" (also one audit line per challenge event, and the pruner's work).
  bool log_debug = false;
};

// File descriptors kept out of the connection budget: the store (SQLite's
// three files, PostgreSQL connections), logs, the push sends in flight
// and the accept loop's spare.
inline constexpr std::int64_t kFdReserve = 256;

// The connection cap for a file descriptor limit: `configured` when set
// (0: no setting), never above `fd_limit` less kFdReserve (half the limit
// when the limit is that small).
std::int64_t connection_cap(std::int64_t configured, std::int64_t fd_limit);

// Parses the file's text (strict: unknown, duplicate or malformed settings are
// errors naming the line). Starts from the defaults above.
Result<RelayConfig> parse_config(std::string_view text);
// Reads `path`; a missing file is an error unless `optional` (the default
// path may be absent: then every setting keeps its default).
Result<RelayConfig> load_config(const std::string& path, bool optional);
// Fills the defaults that depend on other settings (public_url,
// approver_origin) and checks the combination (plain HTTP off loopback, ...).
Status finish_config(RelayConfig& config);

}  // namespace twostep::relay
