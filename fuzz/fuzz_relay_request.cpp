// twostepd's request handling (backend/service.cpp) on arbitrary requests:
// routing, query parsing, JSON bodies and their validation, host
// authentication, pairing. The HTTP framing itself is Beast's.
//
// Input layout (seeds in fuzz/corpus/fuzz_relay_request/):
//   byte 0        bits 0-2: method (GET POST DELETE PATCH PUT HEAD x x);
//                 bit 3: sign as the fixture's host (so the host API's body
//                 checks are reached); bit 4: Content-Type application/json;
//                 bit 5: has Content-Length
//   then          the request target up to the first '\n'
//   the rest      the body
// A fixture store (SQLite in memory) holds one host, so that pairings and
// challenges can be created, read and cancelled by the fuzzer.
//
// Invariants: every answer is a documented status; an error answer is a JSON
// object whose "error" is a documented code; a success answer is a JSON
// object; a held long-poll answers when its deadline is reached.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <string_view>

#include "fuzz_check.hpp"
#include "service.hpp"
#include "store.hpp"
#include "twostep/push_protocol.hpp"
#include "twostep/secret.hpp"

namespace {

using namespace twostep::relay;

constexpr std::int64_t kStart = 1764300000;

struct Fixture {
  std::unique_ptr<Store> store;
  RelayConfig config;
  std::int64_t ticks = 0;
  std::unique_ptr<RelayService> service;
  twostep::SecretBytes secret;
  std::string host_id = "AAAAAAAAAAAAAAAAAAAAAA";

  Fixture() {
    auto opened = open_sqlite_store(":memory:");
    FUZZ_CHECK(opened.ok());
    store = std::move(opened.value());
    config.approver_origin = "https://approve.test";
    config.pairings_per_minute = 100000;
    config.pairings_per_host_per_minute = 1000000;
    config.host_rate = 1000000;
    config.host_burst = 1000000;
    secret = twostep::SecretBytes(32);
    HostRecord host{host_id, "web1", std::string(secret.view()), kStart, false};
    FUZZ_CHECK(store->add_host(host).ok());
    service = std::make_unique<RelayService>(
        *store, config, [this] { return now(); }, [](const std::string&) {});
  }
  std::int64_t now() const { return kStart + ticks / 16; }
};

const std::set<std::string>& documented_codes() {
  static const std::set<std::string> codes = {
      "bad_request",   "missing_auth",       "unknown_host",    "unknown_device",
      "bad_signature", "clock_skew",         "replayed_nonce",  "push_blocked",
      "device_revoked", "not_found",         "already_decided", "already_registered",
      "not_registered", "expired",           "length_required", "too_large",
      "unsupported_media_type", "no_devices", "bad_assertion",  "rate_limited",
      "cooldown",      "shutting_down",      "internal"};
  return codes;
}

void check_response(const HttpResponse& r) {
  static const std::set<unsigned> statuses = {200, 201, 400, 401, 403, 404, 409,
                                              410, 411, 413, 415, 422, 429};
  FUZZ_CHECK(statuses.count(r.status) == 1);
  // The approver app's files (static_assets.cpp) are the only answers that
  // are not JSON, and only ever with 200: every refusal is a JSON error.
  if (r.content_type != "application/json") {
    FUZZ_CHECK(r.status == 200 && !r.content_type.empty());
    return;
  }
  const auto j = nlohmann::json::parse(r.body, nullptr, false);
  FUZZ_CHECK(!j.is_discarded() && j.is_object());
  if (r.status >= 400) {
    FUZZ_CHECK(j.contains("error") && j["error"].is_string());
    FUZZ_CHECK(documented_codes().count(j["error"].get<std::string>()) == 1);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static Fixture* fixture = new Fixture();  // lives for the whole run
  if (size < 1) return 0;
  ++fixture->ticks;
  static const char* const methods[] = {"GET", "POST", "DELETE", "PATCH", "PUT", "HEAD", "GET", "POST"};
  const std::uint8_t flags = data[0];
  std::string_view rest(reinterpret_cast<const char*>(data + 1), size - 1);
  const auto nl = rest.find('\n');
  HttpRequest req;
  req.method = methods[flags & 7];
  req.target = std::string(rest.substr(0, nl));
  req.body = nl == std::string_view::npos ? std::string() : std::string(rest.substr(nl + 1));
  req.content_type = (flags & 16) ? "application/json" : "text/plain";
  req.has_content_length = (flags & 32) != 0;
  req.client_address = "192.0.2.1";
  if (flags & 8) {
    const auto q = req.target.find('?');
    const std::string path = req.target.substr(0, q);
    const std::string query = q == std::string::npos ? std::string() : req.target.substr(q + 1);
    const std::string ts = std::to_string(fixture->now());
    std::uint8_t nonce_bytes[16] = {};
    for (int i = 0; i < 8; ++i) nonce_bytes[i] = static_cast<std::uint8_t>(fixture->ticks >> (8 * i));
    const std::string nonce = twostep::push::b64u_encode({nonce_bytes, 16});
    const twostep::push::SignedRequest signed_request{req.method, path, query, req.body, ts, nonce,
                                                      fixture->host_id};
    auto sig = twostep::push::sign_host_request(fixture->secret, signed_request);
    if (sig) {  // a target with CR/LF/NUL cannot be signed
      req.auth_host = fixture->host_id;
      req.has_auth_host = true;
      req.auth_timestamp = ts;
      req.auth_nonce = nonce;
      req.auth_signature = sig.value();
    }
  }
  Outcome outcome = fixture->service->handle(req);
  if (auto* r = std::get_if<HttpResponse>(&outcome)) {
    check_response(*r);
  } else if (auto* wait = std::get_if<LongPoll>(&outcome)) {
    auto r = fixture->service->poll(*wait, true);
    FUZZ_CHECK(r.has_value());
    check_response(*r);
  }
  return 0;
}
