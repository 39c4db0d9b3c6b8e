// The approver web app's files (backend/app), built into twostepd and served
// with strict security headers: a CSP with no inline script and no
// third-party origin, no framing, no referrer, no MIME sniffing.
#pragma once

#include <cstddef>
#include <optional>
#include <string_view>

#include "service.hpp"

namespace twostep::relay {

struct EmbeddedFile {
  const char* name;  // relative to backend/app, e.g. "app.js"
  const unsigned char* data;
  std::size_t size;
};
extern const EmbeddedFile kAppFiles[];  // generated (embed_assets.cmake)
extern const std::size_t kAppFileCount;

// The headers every page and script of the app is served with.
inline constexpr std::string_view kContentSecurityPolicy =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; manifest-src 'self'; worker-src 'self'; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'";

// GET / (index.html), /sw.js (the service worker, scope /), /app/<file>.
// nullopt for any other method or path (the caller answers 404).
std::optional<HttpResponse> static_asset(std::string_view method, std::string_view path);

}  // namespace twostep::relay
