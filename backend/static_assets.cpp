// Serving the approver app (see static_assets.hpp).
#include "static_assets.hpp"

#include <string>

namespace twostep::relay {
namespace {

std::string_view content_type_of(std::string_view name) {
  auto ends = [&](std::string_view ext) { return name.ends_with(ext); };
  if (ends(".html")) return "text/html; charset=utf-8";
  if (ends(".js")) return "text/javascript; charset=utf-8";
  if (ends(".css")) return "text/css; charset=utf-8";
  if (ends(".svg")) return "image/svg+xml";
  if (ends(".png")) return "image/png";
  if (ends(".webmanifest")) return "application/manifest+json";
  return "application/octet-stream";
}

const EmbeddedFile* find(std::string_view name) {
  for (std::size_t i = 0; i < kAppFileCount; ++i) {
    if (name == kAppFiles[i].name) return &kAppFiles[i];
  }
  return nullptr;
}

}  // namespace

std::optional<HttpResponse> static_asset(std::string_view method, std::string_view path) {
  if (method != "GET") return std::nullopt;
  std::string_view name;
  if (path == "/") name = "index.html";
  else if (path == "/sw.js") name = "sw.js";
  else if (path.starts_with("/app/") && path != "/app/index.html" && path != "/app/sw.js") {
    name = path.substr(5);
  } else {
    return std::nullopt;
  }
  const EmbeddedFile* file = find(name);
  if (!file) return std::nullopt;
  HttpResponse r;
  r.status = 200;
  r.body.assign(reinterpret_cast<const char*>(file->data), file->size);
  r.content_type = std::string(content_type_of(name));
  // The service worker keeps the shell for offline starts; the network copy
  // is always revalidated so an upgraded twostepd is picked up.
  r.headers = {
      {"Content-Security-Policy", std::string(kContentSecurityPolicy)},
      {"X-Frame-Options", "DENY"},
      {"Cross-Origin-Opener-Policy", "same-origin"},
      {"Cross-Origin-Resource-Policy", "same-origin"},
      {"Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=()"},
      {"Cache-Control", "no-cache"},
  };
  return r;
}

}  // namespace twostep::relay
