// Web origins (docs/protocol.md section 8): the approver origin pinned with
// each device, whose host is the WebAuthn RP ID. Pure parsing, no I/O.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "twostep/result.hpp"

namespace twostep {

inline constexpr std::size_t kMaxWebOrigin = 255;
inline constexpr std::size_t kMaxDnsHost = 253;

// Lower-case DNS name, labels of 1..63 [a-z0-9-] not starting or ending in
// '-', and not all-numeric (no IPv4 literal).
bool is_dns_host(std::string_view host) noexcept;

// The host of "https://HOST[:PORT]" or, for local development,
// "http://localhost[:PORT]"; HOST as is_dns_host, no IP literals, no path,
// no trailing '/', no default port (browsers drop it from the origin).
// malformed otherwise.
Result<std::string> host_of_web_origin(std::string_view origin);

}  // namespace twostep
