#include "config.hpp"

#include "relay_crypto.hpp"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <sstream>

namespace twostep::relay {
namespace {

constexpr std::size_t kMaxConfigBytes = 64 * 1024;

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

// An integer setting: a field of RelayConfig, or of one of its parts.
template <typename Part>
struct IntSetting {
  std::int64_t Part::*field;
  std::int64_t min;
  std::int64_t max;
};

const std::map<std::string_view, IntSetting<RelayConfig>>& int_settings() {
  static const std::map<std::string_view, IntSetting<RelayConfig>> table = {
      {"max_header_bytes", {&RelayConfig::max_header_bytes, 1024, 1024 * 1024}},
      {"max_body_bytes", {&RelayConfig::max_body_bytes, 4096, 16 * 1024 * 1024}},
      {"header_timeout", {&RelayConfig::header_timeout, 1, 600}},
      {"idle_timeout", {&RelayConfig::idle_timeout, 1, 3600}},
      {"max_connections_per_client", {&RelayConfig::max_connections_per_client, 1, 1000000}},
      {"max_connections", {&RelayConfig::max_connections, 0, 10000000}},
      {"hsts_max_age", {&RelayConfig::hsts_max_age, 0, 63072000}},
      {"push_timeout", {&RelayConfig::push_timeout, 1, 60}},
      {"push_max_in_flight", {&RelayConfig::push_max_in_flight, 1, 1024}},
      {"host_rate", {&RelayConfig::host_rate, 1, 1000000}},
      {"host_burst", {&RelayConfig::host_burst, 1, 1000000}},
      {"device_rate", {&RelayConfig::device_rate, 1, 1000000}},
      {"device_burst", {&RelayConfig::device_burst, 1, 1000000}},
      {"pairings_per_minute", {&RelayConfig::pairings_per_minute, 1, 100000}},
      {"pairings_per_host_per_minute", {&RelayConfig::pairings_per_host_per_minute, 1, 1000000}},
      {"max_wait", {&RelayConfig::max_wait, 0, 600}},
      {"clock_skew", {&RelayConfig::clock_skew, 1, 3600}},
      {"nonce_ttl", {&RelayConfig::nonce_ttl, 2, 7200}},
      {"pairing_ttl", {&RelayConfig::pairing_ttl, 60, 3600}},
      {"max_challenge_ttl", {&RelayConfig::max_challenge_ttl, 10, 3600}},
      {"event_keepalive", {&RelayConfig::event_keepalive, 1, 600}},
      {"worker_threads", {&RelayConfig::worker_threads, 0, 64}},
      {"prune_interval", {&RelayConfig::prune_interval, 1, 86400}},
  };
  return table;
}

// Retention periods in seconds, 0: kept for ever (at most ten years).
const std::map<std::string_view, IntSetting<RetentionPolicy>>& retention_settings() {
  constexpr std::int64_t kMax = 10LL * 366 * 86400;
  static const std::map<std::string_view, IntSetting<RetentionPolicy>> table = {
      {"challenge_retention", {&RetentionPolicy::challenges, 0, kMax}},
      {"audit_retention", {&RetentionPolicy::audit, 0, kMax}},
      {"pairing_retention", {&RetentionPolicy::pairings, 0, kMax}},
      {"revoked_device_retention", {&RetentionPolicy::revoked_devices, 0, kMax}},
      {"prune_batch", {&RetentionPolicy::batch, 10, 100000}},
  };
  return table;
}

// A flag set by one of two words: `off` clears it, `on` sets it.
struct ChoiceSetting {
  bool RelayConfig::*field;
  std::string_view off;
  std::string_view on;
};

const std::map<std::string_view, ChoiceSetting>& choice_settings() {
  static const std::map<std::string_view, ChoiceSetting> table = {
      {"log_format", {&RelayConfig::log_json, "text", "json"}},
      {"log_level", {&RelayConfig::log_debug, "info", "debug"}},
  };
  return table;
}

const std::map<std::string_view, std::string RelayConfig::*>& string_settings() {
  static const std::map<std::string_view, std::string RelayConfig::*> table = {
      {"listen", &RelayConfig::listen},
      {"tls_cert", &RelayConfig::tls_cert},
      {"tls_key", &RelayConfig::tls_key},
      {"public_url", &RelayConfig::public_url},
      {"approver_origin", &RelayConfig::approver_origin},
      {"database", &RelayConfig::database},
      {"metrics_listen", &RelayConfig::metrics_listen},
  };
  return table;
}

std::optional<std::int64_t> parse_int(std::string_view text) {
  std::int64_t v = 0;
  const auto* end = text.data() + text.size();
  const auto [p, ec] = std::from_chars(text.data(), end, v);
  if (ec != std::errc() || p != end || text.empty()) return std::nullopt;
  return v;
}

bool is_loopback_host(std::string_view host) {
  return host == "127.0.0.1" || host == "localhost" || host == "[::1]" || host == "::1" ||
         host.rfind("127.", 0) == 0;
}

}  // namespace

std::int64_t connection_cap(std::int64_t configured, std::int64_t fd_limit) {
  const std::int64_t budget =
      fd_limit > 2 * kFdReserve ? fd_limit - kFdReserve : std::max<std::int64_t>(fd_limit / 2, 1);
  return configured > 0 ? std::min(configured, budget) : budget;
}

namespace {

// One `key = value` line's value into `part` (the config or one of its
// parts); `where` prefixes each message.
template <typename Part>
Status apply_int_setting(Part& part, const IntSetting<Part>& setting, std::string_view key,
                         std::string_view value, const std::string& where) {
  const auto v = parse_int(value);
  if (!v || *v < setting.min || *v > setting.max) {
    return make_error(ErrorCode::malformed, where + std::string(key) + " must be an integer from " +
                                                std::to_string(setting.min) + " to " +
                                                std::to_string(setting.max));
  }
  part.*(setting.field) = *v;
  return {};
}

Status apply_fatigue_setting(RelayConfig& config, std::string_view key, std::string_view value,
                             const std::string& where) {
  const auto v = parse_int(value);
  if (!v || *v < 0 || *v > 86400) {
    return make_error(ErrorCode::malformed,
                      where + std::string(key) + " must be an integer from 0 to 86400");
  }
  if (key == "fatigue_denials") {
    if (*v > 100) return make_error(ErrorCode::malformed, where + "fatigue_denials over 100");
    config.fatigue.denials = static_cast<int>(*v);
  } else if (key == "notifications_per_minute") {
    if (*v > 10000) {
      return make_error(ErrorCode::malformed, where + "notifications_per_minute over 10000");
    }
    config.fatigue.phone_notifications = static_cast<int>(*v);
  } else if (key == "fatigue_window") {
    config.fatigue.window = *v;
  } else {
    config.fatigue.cooldown = *v;
  }
  return {};
}

Status apply_choice_setting(RelayConfig& config, const ChoiceSetting& setting,
                            std::string_view key, std::string_view value,
                            const std::string& where) {
  if (value != setting.off && value != setting.on) {
    return make_error(ErrorCode::malformed, where + std::string(key) + " must be " +
                                                std::string(setting.off) + " or " +
                                                std::string(setting.on));
  }
  config.*(setting.field) = value == setting.on;
  return {};
}

Status apply_setting(RelayConfig& config, std::string_view key, std::string_view value,
                     const std::string& where) {
  if (auto it = int_settings().find(key); it != int_settings().end()) {
    return apply_int_setting(config, it->second, key, value, where);
  }
  if (auto it = retention_settings().find(key); it != retention_settings().end()) {
    return apply_int_setting(config.retention, it->second, key, value, where);
  }
  if (auto it = choice_settings().find(key); it != choice_settings().end()) {
    return apply_choice_setting(config, it->second, key, value, where);
  }
  if (auto it = string_settings().find(key); it != string_settings().end()) {
    if (value.empty()) {
      return make_error(ErrorCode::malformed, where + std::string(key) + " needs a value");
    }
    config.*(it->second) = std::string(value);
    return {};
  }
  if (key == "fatigue_denials" || key == "fatigue_window" || key == "fatigue_cooldown" ||
      key == "notifications_per_minute") {
    return apply_fatigue_setting(config, key, value, where);
  }
  return make_error(ErrorCode::malformed, where + "unknown setting '" + std::string(key) + "'");
}

}  // namespace

Result<RelayConfig> parse_config(std::string_view text) {
  if (text.size() > kMaxConfigBytes) {
    return make_error(ErrorCode::too_large, "config file over 64 KiB");
  }
  RelayConfig config;
  std::set<std::string, std::less<>> seen;
  int line_no = 0;
  while (!text.empty()) {
    ++line_no;
    const auto nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    line = trim(line);
    if (line.empty() || line.front() == '#') continue;
    const std::string where = "line " + std::to_string(line_no) + ": ";
    const auto eq = line.find('=');
    if (eq == std::string_view::npos) {
      return make_error(ErrorCode::malformed, where + "expected 'key = value'");
    }
    const std::string_view key = trim(line.substr(0, eq));
    const std::string_view value = trim(line.substr(eq + 1));
    if (!seen.insert(std::string(key)).second) {
      return make_error(ErrorCode::malformed, where + "'" + std::string(key) + "' set twice");
    }
    if (auto applied = apply_setting(config, key, value, where); !applied) {
      return applied.error();
    }
  }
  return config;
}

Result<RelayConfig> load_config(const std::string& path, bool optional) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    if (optional && errno == ENOENT) return RelayConfig{};
    return make_error(ErrorCode::io, "cannot read " + path + ": " + std::strerror(errno));
  }
  std::string text;
  text.resize(kMaxConfigBytes + 1);
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<std::size_t>(in.gcount()));
  auto config = parse_config(text);
  if (!config) return make_error(config.error().code, path + ": " + config.error().message);
  return config;
}

namespace {

// The port of `listen` (host:port), or the error finish_config reports
// (naming `setting`).
Result<std::int64_t> listen_port(const std::string& listen, std::string& host,
                                 const std::string& setting = "listen") {
  const auto colon = listen.rfind(':');
  if (colon == std::string::npos || colon == 0) {
    return make_error(ErrorCode::invalid_argument, setting + " must be host:port");
  }
  host = listen.substr(0, colon);
  const auto port = parse_int(std::string_view(listen).substr(colon + 1));
  if (!port || *port < 0 || *port > 65535) {
    return make_error(ErrorCode::invalid_argument, setting + ": bad port in " + listen);
  }
  return *port;
}

// metrics_listen: a bare port means loopback; its own address, never the API's.
Status finish_metrics_listen(RelayConfig& config) {
  if (config.metrics_listen.empty()) return {};
  if (parse_int(config.metrics_listen)) config.metrics_listen = "127.0.0.1:" + config.metrics_listen;
  std::string host;
  const auto port = listen_port(config.metrics_listen, host, "metrics_listen");
  if (!port) return port.error();
  if (config.metrics_listen == config.listen && port.value() != 0) {
    return make_error(ErrorCode::invalid_argument, "metrics_listen must differ from listen");
  }
  return {};
}

// The origin the approver page is served from, derived from public_url.
std::string default_approver_origin(const std::string& public_url) {
  const auto scheme_end = public_url.find("://") + 3;
  const auto path = public_url.find('/', scheme_end);
  const std::string authority = public_url.substr(scheme_end, path - scheme_end);
  // host[:port] or [v6]:port
  const auto bracket = authority.rfind(']');
  auto port_colon = authority.rfind(':');
  if (bracket != std::string::npos && port_colon != std::string::npos && port_colon < bracket) {
    port_colon = std::string::npos;
  }
  const std::string url_host = authority.substr(0, port_colon);
  // WebAuthn needs a DNS name as RP ID; on loopback that is "localhost".
  if (public_url.rfind("http://", 0) == 0 && is_loopback_host(url_host)) {
    return "http://localhost" +
           (port_colon == std::string::npos ? std::string() : authority.substr(port_colon));
  }
  return public_url.substr(0, path);
}

}  // namespace

Status finish_config(RelayConfig& config) {
  std::string host;
  const auto port = listen_port(config.listen, host);
  if (!port) return port.error();
  if (config.nonce_ttl < 2 * config.clock_skew) {
    // A nonce must be remembered for the whole window in which its
    // timestamp is accepted (+-clock_skew), or a request could be replayed.
    return make_error(ErrorCode::invalid_argument,
                      "nonce_ttl must be at least twice clock_skew");
  }
  if (auto metrics = finish_metrics_listen(config); !metrics) return metrics;
  if (config.tls_cert.empty() != config.tls_key.empty()) {
    return make_error(ErrorCode::invalid_argument, "tls_cert and tls_key go together");
  }
  const bool tls = !config.tls_cert.empty();
  if (!tls && !is_loopback_host(host)) {
    return make_error(ErrorCode::invalid_argument,
                      "plain HTTP is served on loopback only (" + config.listen +
                          "): set tls_cert and tls_key, or listen on 127.0.0.1 behind a "
                          "reverse proxy");
  }
  if (config.public_url.empty()) {
    // Port 0 (a free port, for tests) cannot be named in advance: no port.
    config.public_url = std::string(tls ? "https://" : "http://") +
                        (port.value() == 0 ? host : config.listen);
  }
  while (!config.public_url.empty() && config.public_url.back() == '/') config.public_url.pop_back();
  if (config.public_url.rfind("https://", 0) != 0 && config.public_url.rfind("http://", 0) != 0) {
    return make_error(ErrorCode::invalid_argument, "public_url must start with https:// or http://");
  }
  if (config.approver_origin.empty()) {
    config.approver_origin = default_approver_origin(config.public_url);
  }
  if (!crypto::is_approver_origin(config.approver_origin)) {
    return make_error(ErrorCode::invalid_argument,
                      "approver_origin '" + config.approver_origin +
                          "' is not https://HOST[:PORT] or http://localhost[:PORT] "
                          "(protocol section 6)");
  }
  return {};
}

}  // namespace twostep::relay
