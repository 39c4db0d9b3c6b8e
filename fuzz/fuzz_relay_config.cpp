// twostepd's configuration file (twostepd.conf(5)) as parse_config and
// finish_config read it (backend/config.cpp).
//
// Invariants: only a file over 64 KiB is too_large; every other refusal is
// malformed and names a line of the file ("line N: ", 1 <= N <= lines);
// accepted settings, written back one `key = value` line each in another
// order, parse to the very same settings; finish_config either refuses or
// leaves a public_url that starts with https:// or http:// and has no
// trailing '/', an approver origin of protocol section 6, TLS files as a
// pair, plain HTTP on loopback only, and nonce_ttl >= 2 * clock_skew.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config.hpp"
#include "fuzz_check.hpp"
#include "relay_crypto.hpp"

using namespace twostep;
using namespace twostep::relay;

namespace {

using IntField = std::pair<const char*, std::int64_t RelayConfig::*>;
using TextField = std::pair<const char*, std::string RelayConfig::*>;

const std::vector<IntField>& int_fields() {
  static const std::vector<IntField> fields = {
      {"max_header_bytes", &RelayConfig::max_header_bytes}, {"max_body_bytes", &RelayConfig::max_body_bytes},
      {"header_timeout", &RelayConfig::header_timeout}, {"idle_timeout", &RelayConfig::idle_timeout},
      {"max_connections_per_client", &RelayConfig::max_connections_per_client},
      {"max_connections", &RelayConfig::max_connections}, {"hsts_max_age", &RelayConfig::hsts_max_age},
      {"push_timeout", &RelayConfig::push_timeout}, {"push_max_in_flight", &RelayConfig::push_max_in_flight},
      {"host_rate", &RelayConfig::host_rate}, {"host_burst", &RelayConfig::host_burst},
      {"device_rate", &RelayConfig::device_rate}, {"device_burst", &RelayConfig::device_burst},
      {"pairings_per_minute", &RelayConfig::pairings_per_minute}, {"max_wait", &RelayConfig::max_wait},
      {"clock_skew", &RelayConfig::clock_skew}, {"nonce_ttl", &RelayConfig::nonce_ttl},
      {"pairing_ttl", &RelayConfig::pairing_ttl}, {"max_challenge_ttl", &RelayConfig::max_challenge_ttl},
      {"event_keepalive", &RelayConfig::event_keepalive}, {"worker_threads", &RelayConfig::worker_threads},
  };
  return fields;
}

const std::vector<TextField>& text_fields() {
  static const std::vector<TextField> fields = {
      {"listen", &RelayConfig::listen}, {"tls_cert", &RelayConfig::tls_cert},
      {"tls_key", &RelayConfig::tls_key}, {"public_url", &RelayConfig::public_url},
      {"approver_origin", &RelayConfig::approver_origin}, {"database", &RelayConfig::database},
  };
  return fields;
}

std::size_t line_count(std::string_view text) {
  return static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n')) +
         (text.empty() || text.back() == '\n' ? 0 : 1);
}

void check_refusal(const Error& error, std::string_view text) {
  if (text.size() > 64 * 1024) {
    FUZZ_CHECK(error.code == ErrorCode::too_large);
    return;
  }
  FUZZ_CHECK(error.code == ErrorCode::malformed);
  const std::string& message = error.message;
  FUZZ_CHECK(message.starts_with("line "));
  std::size_t number = 0;
  std::size_t i = 5;
  while (i < message.size() && message[i] >= '0' && message[i] <= '9') number = number * 10 + (message[i++] - '0');
  FUZZ_CHECK(i > 5 && message.compare(i, 2, ": ") == 0);
  FUZZ_CHECK(number >= 1 && number <= line_count(text));
}

// Every setting back as text, the last one first (order must not matter).
std::string written_back(const RelayConfig& config) {
  std::vector<std::string> lines;
  for (const auto& [key, field] : int_fields()) lines.push_back(std::string(key) + " = " + std::to_string(config.*field));
  for (const auto& [key, field] : text_fields()) {
    if (!(config.*field).empty()) lines.push_back(std::string(key) + " = " + config.*field);
  }
  lines.push_back("fatigue_denials = " + std::to_string(config.fatigue.denials));
  lines.push_back("fatigue_window = " + std::to_string(config.fatigue.window));
  lines.push_back("fatigue_cooldown = " + std::to_string(config.fatigue.cooldown));
  std::reverse(lines.begin(), lines.end());
  std::string text = "# written back\n";
  for (const auto& line : lines) text += line + "\n";
  return text;
}

bool same(const RelayConfig& a, const RelayConfig& b) {
  for (const auto& [key, field] : int_fields()) {
    if (a.*field != b.*field) return false;
  }
  for (const auto& [key, field] : text_fields()) {
    if (a.*field != b.*field) return false;
  }
  return a.fatigue.denials == b.fatigue.denials && a.fatigue.window == b.fatigue.window &&
         a.fatigue.cooldown == b.fatigue.cooldown;
}

void check_finished(RelayConfig config) {
  if (!finish_config(config)) return;
  const std::string& url = config.public_url;
  FUZZ_CHECK(url.starts_with("https://") || url.starts_with("http://"));
  FUZZ_CHECK(!url.ends_with('/'));
  FUZZ_CHECK(crypto::is_approver_origin(config.approver_origin));
  FUZZ_CHECK(config.tls_cert.empty() == config.tls_key.empty());
  FUZZ_CHECK(config.nonce_ttl >= 2 * config.clock_skew);
  if (config.tls_cert.empty()) {
    const std::string host = config.listen.substr(0, config.listen.rfind(':'));
    FUZZ_CHECK(host == "127.0.0.1" || host == "localhost" || host == "[::1]" || host == "::1" ||
               host.starts_with("127."));
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const auto parsed = parse_config(text);
  if (!parsed) {
    check_refusal(parsed.error(), text);
    return 0;
  }
  const std::string back = written_back(*parsed);
  if (back.size() <= 64 * 1024) {  // the fixed lines can push a full file over the limit
    const auto again = parse_config(back);
    FUZZ_CHECK(again.ok() && same(*again, *parsed));
  }
  check_finished(*parsed);
  return 0;
}
