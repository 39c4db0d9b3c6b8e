// Web origins as twostep stores and compares them (approver origins, the
// WebAuthn RP ID): https://HOST[:PORT], or http://localhost[:PORT].
#include "twostep/web_origin.hpp"

#include <charconv>
#include <system_error>

namespace twostep {
namespace {

bool is_dns_label_char(char c) noexcept {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
}

}  // namespace

bool is_dns_host(std::string_view host) noexcept {
  if (host.empty() || host.size() > kMaxDnsHost) return false;
  bool has_letter = false;
  std::size_t label_start = 0;
  for (std::size_t i = 0; i <= host.size(); ++i) {
    if (i == host.size() || host[i] == '.') {
      const std::size_t len = i - label_start;
      if (len == 0 || len > 63) return false;
      if (host[label_start] == '-' || host[i - 1] == '-') return false;
      label_start = i + 1;
      continue;
    }
    if (!is_dns_label_char(host[i])) return false;
    if (host[i] < '0' || host[i] > '9') has_letter = true;
  }
  return has_letter;
}

Result<std::string> host_of_web_origin(std::string_view origin) {
  auto bad = [] { return make_error(ErrorCode::malformed, "web origin: not https://HOST[:PORT]"); };
  if (origin.size() > kMaxWebOrigin) return bad();
  bool https = true;
  std::string_view rest;
  if (origin.starts_with("https://")) {
    rest = origin.substr(8);
  } else if (origin.starts_with("http://")) {
    https = false;
    rest = origin.substr(7);
  } else {
    return bad();
  }
  std::string_view host = rest;
  const std::size_t colon = rest.find(':');
  if (colon != std::string_view::npos) {
    host = rest.substr(0, colon);
    const std::string_view port = rest.substr(colon + 1);
    unsigned value = 0;
    const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (port.empty() || port.size() > 5 || port.front() == '0' || ec != std::errc{} ||
        end != port.data() + port.size() || value == 0 || value > 65535) {
      return bad();
    }
    // Browsers drop a default port from the origin, so a pin with one could never match.
    if ((https && value == 443) || (!https && value == 80)) return bad();
  }
  if (!is_dns_host(host)) return bad();
  if (!https && host != "localhost") return bad();
  return std::string(host);
}

}  // namespace twostep
