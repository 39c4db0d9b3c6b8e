// Protocol v1 (docs/protocol.md): routing, authentication, validation,
// views and audit. The section numbers in comments are the document's.
#include "service.hpp"

#include "log_field.hpp"
#include "log_json.hpp"
#include "twostep/display_text.hpp"

#include "static_assets.hpp"

#include <algorithm>
#include <charconv>
#include <nlohmann/json.hpp>

#include "relay_crypto.hpp"
#include "twostep/secret.hpp"

namespace twostep::relay {

using nlohmann::json;

namespace {

constexpr std::size_t kMaxJsonDepth = 16;

std::string dump(const json& j) {
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

json null_if_zero(Seconds v) { return v == 0 ? json(nullptr) : json(v); }

bool is_b64u_id(std::string_view s, std::size_t chars) {
  if (s.size() != chars) return false;
  return crypto::b64u_decode(s).has_value();
}

std::vector<std::string> split_path(std::string_view path) {
  std::vector<std::string> out;
  std::size_t start = 1;  // path starts with '/'
  while (start <= path.size()) {
    const auto slash = path.find('/', start);
    const auto end = slash == std::string_view::npos ? path.size() : slash;
    out.emplace_back(path.substr(start, end - start));
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  return out;
}

// Bracket depth outside strings, so a 64 KiB body of '[' is refused before
// the parser builds it.
bool json_depth_ok(std::string_view body) {
  std::size_t depth = 0;
  bool in_string = false;
  bool escaped = false;
  for (char c : body) {
    if (in_string) {
      if (escaped) escaped = false;
      else if (c == '\\') escaped = true;
      else if (c == '"') in_string = false;
      continue;
    }
    if (c == '"') in_string = true;
    else if (c == '[' || c == '{') {
      if (++depth > kMaxJsonDepth) return false;
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return true;
}

// A request body: a JSON object with exactly the allowed fields.
struct Body {
  json value;
  std::string problem;  // non-empty: bad_request with this message
};

Body parse_body(std::string_view text, std::initializer_list<std::string_view> required,
                std::initializer_list<std::string_view> optional = {}) {
  Body b;
  if (!json_depth_ok(text)) {
    b.problem = "JSON nested too deeply";
    return b;
  }
  b.value = json::parse(text, nullptr, false);
  if (b.value.is_discarded()) {
    b.problem = "body is not valid JSON";
    return b;
  }
  // A key given twice: parsers keep one of them silently (which one is
  // theirs to choose), so signer and reader could see different values.
  if (twostep::json_has_duplicate_keys(text)) {
    b.problem = "body has a key twice";
    return b;
  }
  if (!b.value.is_object()) {
    b.problem = "body is not a JSON object";
    return b;
  }
  for (const auto& [key, _] : b.value.items()) {
    const bool known = std::find(required.begin(), required.end(), key) != required.end() ||
                       std::find(optional.begin(), optional.end(), key) != optional.end();
    if (!known) {
      b.problem = "unknown field '" + key + "'";
      return b;
    }
  }
  for (auto key : required) {
    if (!b.value.contains(key)) {
      b.problem = "missing field '" + std::string(key) + "'";
      return b;
    }
  }
  return b;
}

// A string field of `min`..`max` bytes that passes the one display-text
// rule (twostep/display_text.hpp: no C0/C1 controls, no bidirectional
// formatting characters), or nullopt (with `problem` set). Every such field
// is stored as text and most are shown on the phone or written to the log:
// a NUL cannot be stored by PostgreSQL, a newline or an escape sequence
// could fake lines on a screen, a bidi override shows a host or an address
// reversed. Invalid UTF-8 never gets here: the JSON parser refuses it.
std::optional<std::string> string_field(const json& obj, std::string_view key, std::size_t min,
                                        std::size_t max, std::string& problem) {
  const auto it = obj.find(key);
  if (it == obj.end() || !it->is_string()) {
    problem = "'" + std::string(key) + "' must be a string";
    return std::nullopt;
  }
  const auto& s = it->get_ref<const std::string&>();
  if (s.size() < min || s.size() > max) {
    problem = "'" + std::string(key) + "' must be " + std::to_string(min) + " to " +
              std::to_string(max) + " bytes";
    return std::nullopt;
  }
  if (const auto why = twostep::display_text_problem(s)) {
    problem = "'" + std::string(key) + "' must not contain " + std::string(*why) +
              " (control characters U+0000 to U+001F, U+007F to U+009F, bidirectional "
              "formatting characters)";
    return std::nullopt;
  }
  return s;
}

// A challenge's "context" (section 4.1): exactly its three text fields.
std::optional<ChallengeContext> context_field(const json& context, std::string& problem) {
  if (!context.is_object() || context.size() != 3) {
    problem = "'context' must be an object of 'command', 'target_user' and 'location'";
    return std::nullopt;
  }
  auto command = string_field(context, "command", 0, 255, problem);
  auto target = command ? string_field(context, "target_user", 0, 64, problem) : std::nullopt;
  auto location = target ? string_field(context, "location", 0, 255, problem) : std::nullopt;
  if (!location) {
    problem = "context: " + problem;
    return std::nullopt;
  }
  return ChallengeContext{std::move(*command), std::move(*target), std::move(*location)};
}

// A b64u field decoding to `min`..`max` bytes.
std::optional<std::string> bytes_field(const json& obj, std::string_view key, std::size_t min,
                                       std::size_t max, std::string& problem) {
  const auto it = obj.find(key);
  if (it == obj.end() || !it->is_string()) {
    problem = "'" + std::string(key) + "' must be a base64url string";
    return std::nullopt;
  }
  auto raw = crypto::b64u_decode(it->get_ref<const std::string&>());
  if (!raw) {
    problem = "'" + std::string(key) + "' is not base64url without padding";
    return std::nullopt;
  }
  if (raw->size() < min || raw->size() > max) {
    problem = "'" + std::string(key) + "' must decode to " + std::to_string(min) + " to " +
              std::to_string(max) + " bytes";
    return std::nullopt;
  }
  return raw;
}

std::optional<std::int64_t> parse_decimal(std::string_view s) {
  if (s.empty() || s.size() > 18) return std::nullopt;
  std::int64_t v = 0;
  const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || v < 0) return std::nullopt;
  return v;
}

// The query's parameters: only those in `allowed`, each once, decimal.
struct Query {
  std::unordered_map<std::string, std::int64_t> values;
  std::string problem;
};

Query parse_query(std::string_view query, std::initializer_list<std::string_view> allowed) {
  Query q;
  while (!query.empty()) {
    const auto amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    const auto eq = pair.find('=');
    const std::string name(pair.substr(0, eq));
    if (std::find(allowed.begin(), allowed.end(), name) == allowed.end()) {
      q.problem = "unknown query parameter '" + name + "'";
      return q;
    }
    const auto v = eq == std::string_view::npos ? std::nullopt : parse_decimal(pair.substr(eq + 1));
    if (!v) {
      q.problem = "query parameter '" + name + "' must be a decimal number";
      return q;
    }
    if (!q.values.emplace(name, *v).second) {
      q.problem = "query parameter '" + name + "' given twice";
      return q;
    }
  }
  return q;
}

// Whose nonces (section 3 and 8.1): one namespace per host and per device key.
std::string host_principal(std::string_view host_id) { return "host:" + std::string(host_id); }
std::string device_principal(std::string_view key_id) { return "device:" + std::string(key_id); }

}  // namespace

HttpResponse error_response(unsigned status, std::string_view code, std::string_view message,
                            std::int64_t retry_after) {
  json j = {{"error", code}, {"message", message}};
  return HttpResponse{status, dump(j), retry_after};
}

namespace {
HttpResponse bad_request(std::string_view message) {
  return error_response(400, "bad_request", message);
}
HttpResponse not_found() { return error_response(404, "not_found", "no such resource"); }
HttpResponse ok_json(const json& j, unsigned status = 200) { return HttpResponse{status, dump(j)}; }
}  // namespace

RelayService::RelayService(Store& store, const RelayConfig& config, WallClock now, LogLine log)
    : store_(store),
      config_(config),
      now_(std::move(now)),
      log_(std::move(log)),
      host_limit_(static_cast<double>(config.host_rate), 1.0,
                  static_cast<double>(config.host_burst)),
      device_limit_(static_cast<double>(config.device_rate), 1.0,
                    static_cast<double>(config.device_burst)),
      pairing_by_address_(static_cast<double>(config.pairings_per_minute), 60.0,
                          static_cast<double>(config.pairings_per_minute)),
      pairing_by_user_(static_cast<double>(config.pairings_per_minute), 60.0,
                       static_cast<double>(config.pairings_per_minute)),
      pairing_by_host_(static_cast<double>(config.pairings_per_host_per_minute), 60.0,
                       static_cast<double>(config.pairings_per_host_per_minute)) {}

HttpResponse RelayService::store_error(const StoreError& e) {
  switch (e.code) {
    case StoreErrc::not_found: return not_found();
    case StoreErrc::already_decided:
      return error_response(409, "already_decided", "the challenge is no longer pending");
    case StoreErrc::already_registered:
      return error_response(409, "already_registered", "the pairing already has a device");
    case StoreErrc::duplicate:
      return error_response(409, "already_registered", "this credential is already active");
    case StoreErrc::not_registered:
      return error_response(409, "not_registered", "no device has registered yet");
    case StoreErrc::expired: return error_response(410, "expired", "expired");
    case StoreErrc::push_blocked:
      return error_response(403, "push_blocked",
                            "a request was reported for this user; an admin must clear it");
    case StoreErrc::cooldown:
      return error_response(429, "cooldown",
                            "too many denied, unanswered or suppressed push requests; retry later",
                            std::max<std::int64_t>(1, e.retry_after));
    case StoreErrc::no_devices:
      return error_response(422, "no_devices", "none of the devices is active for this user");
    case StoreErrc::replayed_nonce:
      return error_response(401, "replayed_nonce", "nonce already used");
    case StoreErrc::schema_too_new:
    case StoreErrc::backend: break;
  }
  log_("twostepd: store error: " + e.message);
  return error_response(500, "internal", "internal error");
}

// ---- routing ----------------------------------------------------------------

struct RelayService::Route {
  std::string_view method;   // "*": any
  std::string_view pattern;  // segments; {id}: a 22-character id; *: any one; **: the rest
  Auth auth;
  Limit limit;
  NonceUse nonce;
  QueryUse query;
  Handler handler;
};

// The protocol's resources, first match wins. A path that is not here is a
// 404 before any authentication; the catch-all lines keep the order of
// checks of protocol sections 4, 7 and 8 (who may learn what) for paths that
// are under an authenticated prefix but name no resource.
// long-function: the route table, one line per resource of the protocol.
const std::vector<RelayService::Route>& RelayService::routes() {
  using A = Auth;
  using L = Limit;
  using N = NonceUse;
  using Q = QueryUse;
  using S = RelayService;
  static const std::vector<Route> table{
      // Host API (section 4).
      {"POST", "/v1/challenges", A::host, L::per_host, N::in_change, Q::none, &S::create_challenge},
      {"GET", "/v1/challenges/{id}", A::host, L::per_host, N::at_once, Q::handler, &S::get_challenge},
      {"DELETE", "/v1/challenges/{id}", A::host, L::per_host, N::at_once, Q::none,
       &S::cancel_challenge},
      {"GET", "/v1/challenges/*", A::host, L::per_host, N::at_once, Q::handler,
       &S::no_such_resource},
      {"DELETE", "/v1/challenges/*", A::host, L::per_host, N::at_once, Q::handler,
       &S::no_such_resource},
      {"GET", "/v1/host", A::host, L::per_host, N::at_once, Q::none, &S::own_host},
      // Web Push: the relay's VAPID public key, for the app's subscribe().
      {"GET", "/v1/push/key", A::none, L::none, N::none, Q::none, &S::push_key},
      // Pairing (section 7): no authentication.
      {"POST", "/v1/pairings", A::none, L::per_address, N::none, Q::none, &S::create_pairing},
      {"GET", "/v1/pairings/{id}", A::none, L::none, N::none, Q::handler, &S::get_pairing},
      {"POST", "/v1/pairings/{id}/device", A::none, L::none, N::none, Q::none,
       &S::register_pairing},
      {"POST", "/v1/pairings/{id}/confirm", A::none, L::none, N::none, Q::none,
       &S::confirm_pairing},
      {"*", "/v1/pairings/{id}", A::none, L::none, N::none, Q::none, &S::no_such_resource},
      {"*", "/v1/pairings/{id}/**", A::none, L::none, N::none, Q::none, &S::no_such_resource},
      // Device API (section 8).
      {"GET", "/v1/device/events", A::device, L::per_device, N::at_once, Q::none,
       &S::open_event_stream},
      {"GET", "/v1/device/challenges", A::device, L::per_device, N::at_once, Q::none,
       &S::pending_challenges},
      {"GET", "/v1/device/challenges/{id}", A::device, L::per_device, N::at_once, Q::none,
       &S::device_challenge},
      {"POST", "/v1/device/challenges/{id}/decision", A::device, L::per_device, N::in_change,
       Q::none, &S::decide},
      {"GET", "/v1/device/activity", A::device, L::per_device, N::at_once, Q::handler,
       &S::activity},
      {"GET", "/v1/device/self", A::device, L::per_device, N::at_once, Q::none, &S::own_devices},
      {"PATCH", "/v1/device/self/{id}", A::device, L::per_device, N::at_once, Q::none,
       &S::rename_own_device},
      {"DELETE", "/v1/device/self/{id}", A::device, L::per_device, N::at_once, Q::none,
       &S::revoke_own_device},
      {"*", "/v1/device/self/{id}", A::device, L::per_device, N::at_once, Q::none,
       &S::own_device_other},
      {"POST", "/v1/device/push", A::device, L::per_device, N::at_once, Q::none,
       &S::subscribe_push},
      {"DELETE", "/v1/device/push", A::device, L::per_device, N::at_once, Q::none,
       &S::unsubscribe_push},
      {"*", "/v1/device/push", A::device, L::per_device, N::at_once, Q::none,
       &S::push_other_method},
      // The activity's query is checked by its handler, so not here either.
      {"*", "/v1/device/activity", A::device, L::per_device, N::at_once, Q::handler,
       &S::no_such_resource},
      {"*", "/v1/device/activity/**", A::device, L::per_device, N::at_once, Q::handler,
       &S::no_such_resource},
      {"*", "/v1/device/**", A::device, L::per_device, N::at_once, Q::none, &S::no_such_resource},
  };
  return table;
}

namespace {

// Whether `segments` (of a path, "v1" first) fit `pattern`; the {id}
// segments go to `ids`.
bool match_route(std::string_view pattern, const std::vector<std::string>& segments,
                 std::vector<std::string>& ids) {
  ids.clear();
  std::size_t i = 0;
  for (std::string_view rest = pattern.substr(1); ; ++i) {
    const auto slash = rest.find('/');
    const std::string_view part = rest.substr(0, slash);
    if (part == "**") return i < segments.size();
    if (i >= segments.size()) return false;
    if (part == "{id}") {
      if (!is_b64u_id(segments[i], 22)) return false;
      ids.push_back(segments[i]);
    } else if (part != "*" && part != segments[i]) {
      return false;
    }
    if (slash == std::string_view::npos) return i + 1 == segments.size();
    rest.remove_prefix(slash + 1);
  }
}

// A POST or PATCH anywhere under /v1/ has a JSON body of a known length.
std::optional<HttpResponse> body_refusal(const HttpRequest& r) {
  if (r.method != "POST" && r.method != "PATCH") return std::nullopt;
  if (!r.has_content_length) {
    return error_response(411, "length_required", "a body needs Content-Length");
  }
  std::string_view type = r.content_type;
  type = type.substr(0, type.find(';'));
  while (!type.empty() && type.back() == ' ') type.remove_suffix(1);
  std::string lower(type);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (lower != "application/json") {
    return error_response(415, "unsupported_media_type", "the body must be application/json");
  }
  return std::nullopt;
}

std::optional<HttpResponse> limited(std::int64_t wait, std::string_view message) {
  if (wait == 0) return std::nullopt;
  return error_response(429, "rate_limited", message, wait);
}

}  // namespace

Outcome RelayService::handle(const HttpRequest& r, std::string_view* route_out) {
  std::string_view unused;
  std::string_view& matched = route_out ? *route_out : unused;
  matched = "unmatched";
  const auto qpos = r.target.find('?');
  const std::string_view target(r.target);
  const std::string_view path = target.substr(0, qpos);
  const std::string_view query =
      qpos == std::string::npos ? std::string_view() : target.substr(qpos + 1);
  if (path.empty() || path.front() != '/') return bad_request("bad request target");
  // The approver app's files (static_assets.cpp): /, /app/...
  if (!path.starts_with("/v1/")) {
    if (auto asset = static_asset(r.method, path)) {
      matched = "static";
      return *asset;
    }
  }
  const auto segments = split_path(path);
  if (segments.size() < 2 || segments[0] != "v1") return not_found();
  if (auto refused = body_refusal(r)) return *refused;
  Call call{r, path, query};
  for (const Route& route : routes()) {
    if (route.method != "*" && route.method != r.method) continue;
    if (match_route(route.pattern, segments, call.ids)) {
      matched = route.pattern;
      return run_chain(route, call);
    }
  }
  return not_found();
}

// The one chain of every request: authenticate -> rate limit -> nonce ->
// query -> handler. A refused request's nonce is remembered too, so that a
// replay of it is told so.
Outcome RelayService::run_chain(const Route& route, Call& call) {
  if (auto refused = authenticate(route.auth, call)) return *refused;
  if (auto refused = rate_limited(route.limit, call)) {
    return route.nonce == NonceUse::none ? Outcome(*refused) : settle_nonce(*refused, call);
  }
  if (route.nonce == NonceUse::at_once) {
    if (auto refused = nonce_refusal(call)) return *refused;
  }
  Outcome out = route.query == QueryUse::none && !call.query.empty()
                    ? Outcome(bad_request("no query parameters here"))
                    : (this->*route.handler)(call);
  return route.nonce == NonceUse::in_change ? settle_nonce(std::move(out), call) : out;
}

Outcome RelayService::no_such_resource(const Call&) { return not_found(); }

std::optional<HttpResponse> RelayService::rate_limited(Limit limit, const Call& call) {
  switch (limit) {
    case Limit::none: return std::nullopt;
    case Limit::per_host:
      return take_token(host_limit_, "host", call.host->host_id, "too many requests from this host");
    case Limit::per_device:
      return take_token(device_limit_, "device", call.device->api_key_id,
                        "too many requests from this device");
    case Limit::per_address:
      return take_token(pairing_by_address_, "pairing_address", call.r.client_address,
                        "too many pairings from this address");
  }
  return std::nullopt;
}

// Fail closed: a store that cannot say whether a token is left refuses.
std::optional<HttpResponse> RelayService::take_token(RateLimiter& bucket, std::string_view name,
                                                     const std::string& key,
                                                     std::string_view message) {
  std::int64_t wait = 0;
  if (store_.shares_rate_limits()) {
    auto taken = store_.take_token(std::string(name) + ":" + key, bucket.rate_per_second(),
                                   bucket.burst(), wall_ms());
    if (!taken) return store_error(taken.error());
    wait = taken.value();
  } else {
    wait = bucket.take(key, std::chrono::steady_clock::now());
  }
  if (wait == 0) return std::nullopt;
  metrics_.rate_limited(name);
  return limited(wait, message);
}

// ---- authentication (sections 3 and 8.1) --------------------------------------

namespace {
struct AuthHeaders {
  std::int64_t timestamp = 0;
};

// Common header checks; empty string: well-formed.
std::string check_auth_headers(const HttpRequest& r, std::size_t signature_chars,
                               AuthHeaders& out) {
  const auto ts = parse_decimal(r.auth_timestamp);
  if (!ts) return "X-Twostep-Timestamp missing or not decimal";
  out.timestamp = *ts;
  if (!is_b64u_id(r.auth_nonce, 22)) return "X-Twostep-Nonce must be 22 base64url characters";
  if (!is_b64u_id(r.auth_signature, signature_chars)) {
    return "X-Twostep-Signature must be " + std::to_string(signature_chars) +
           " base64url characters";
  }
  return {};
}
}  // namespace

std::optional<HttpResponse> RelayService::authenticate(Auth auth, Call& call) {
  if (auth == Auth::host) {
    auto host = authenticate_host(call);
    if (auto* refused = std::get_if<HttpResponse>(&host)) return *refused;
    call.host = std::move(std::get<HostRecord>(host));
    call.principal = host_principal(call.host->host_id);
  } else if (auth == Auth::device) {
    auto device = authenticate_device(call);
    if (auto* refused = std::get_if<HttpResponse>(&device)) return *refused;
    call.device = std::move(std::get<DeviceAuth>(device));
    call.principal = device_principal(call.device->api_key_id);
  }
  return std::nullopt;
}

std::optional<HttpResponse> RelayService::clock_refusal(std::int64_t timestamp) {
  const Seconds now = now_();
  if (timestamp > now + config_.clock_skew || timestamp < now - config_.clock_skew) {
    return error_response(401, "clock_skew", "timestamp too far from the relay's clock");
  }
  return std::nullopt;
}

std::optional<HttpResponse> RelayService::verdict_refusal(crypto::Verdict verdict,
                                                          std::string_view check) {
  if (verdict == crypto::Verdict::error) {
    return store_error({StoreErrc::backend, std::string(check) + " failed"});
  }
  if (verdict != crypto::Verdict::valid) {
    return error_response(401, "bad_signature", "the signature does not verify");
  }
  return std::nullopt;
}

std::variant<HostRecord, HttpResponse> RelayService::authenticate_host(const Call& call) {
  const HttpRequest& r = call.r;
  if (!r.has_auth_host || !is_b64u_id(r.auth_host, 22)) {
    return error_response(401, "missing_auth", "X-Twostep-Host missing or malformed");
  }
  AuthHeaders h;
  if (auto problem = check_auth_headers(r, 43, h); !problem.empty()) {
    return error_response(401, "missing_auth", problem);
  }
  auto host = store_.find_host(r.auth_host);
  if (!host) {
    if (host.error().code == StoreErrc::not_found) {
      return error_response(401, "unknown_host", "no such host");
    }
    return store_error(host.error());
  }
  if (host->removed) return error_response(401, "unknown_host", "no such host");
  if (auto refused = clock_refusal(h.timestamp)) return *refused;
  const crypto::SignedParts parts{r.method,         call.path,    call.query, r.body,
                                  r.auth_timestamp, r.auth_nonce, r.auth_host};
  const auto verdict = crypto::verify_host_request(host->secret, parts, r.auth_signature);
  if (auto refused = verdict_refusal(verdict, "HMAC")) return *refused;
  return std::move(host.value());
}

std::variant<RelayService::DeviceAuth, HttpResponse> RelayService::authenticate_device(
    const Call& call) {
  const HttpRequest& r = call.r;
  if (!r.has_auth_device || !is_b64u_id(r.auth_device, 22)) {
    return error_response(401, "missing_auth", "X-Twostep-Device missing or malformed");
  }
  AuthHeaders h;
  if (auto problem = check_auth_headers(r, 86, h); !problem.empty()) {
    return error_response(401, "missing_auth", problem);
  }
  auto records = store_.devices_by_api_key(r.auth_device);
  if (!records) return store_error(records.error());
  const auto live = std::find_if(records->begin(), records->end(),
                                 [](const DeviceRecord& d) { return !d.revoked; });
  if (live == records->end()) return error_response(401, "unknown_device", "no such device key");
  if (auto refused = clock_refusal(h.timestamp)) return *refused;
  const crypto::SignedParts parts{r.method,         call.path,    call.query, r.body,
                                  r.auth_timestamp, r.auth_nonce, r.auth_device};
  const auto verdict = crypto::verify_device_request(live->api_public_key, parts, r.auth_signature);
  if (auto refused = verdict_refusal(verdict, "ECDSA")) return *refused;
  return DeviceAuth{std::move(records.value()), r.auth_device};
}

std::optional<HttpResponse> RelayService::nonce_refusal(const Call& call) {
  auto fresh = store_.remember_nonce(call.principal, call.r.auth_nonce, now_(), config_.nonce_ttl);
  if (!fresh) return store_error(fresh.error());
  if (!fresh.value()) return error_response(401, "replayed_nonce", "nonce already used");
  return std::nullopt;
}

ChangeRecords RelayService::records_for(const Call& call) {
  ChangeRecords records;
  records.nonce_principal = call.principal;
  records.nonce = call.r.auth_nonce;
  records.nonce_ttl = config_.nonce_ttl;
  return records;
}

Outcome RelayService::settle_nonce(Outcome outcome, const Call& call) {
  const auto* response = std::get_if<HttpResponse>(&outcome);
  if (response == nullptr || response->status < 400) return outcome;  // committed with it
  if (auto refused = nonce_refusal(call)) return *refused;
  return outcome;
}

// ---- challenges (section 4) ---------------------------------------------------

std::variant<NewChallenge, HttpResponse> RelayService::new_challenge(const Call& call) {
  auto body = parse_body(call.r.body,
                         {"user", "service", "rhost", "tty", "devices", "nonce", "expires"},
                         {"context"});
  if (!body.problem.empty()) return bad_request(body.problem);
  const json& j = body.value;
  std::string problem;
  auto user = string_field(j, "user", 1, 64, problem);
  auto service = user ? string_field(j, "service", 1, 32, problem) : std::nullopt;
  auto rhost = service ? string_field(j, "rhost", 0, 255, problem) : std::nullopt;
  auto tty = rhost ? string_field(j, "tty", 0, 255, problem) : std::nullopt;
  auto nonce = tty ? string_field(j, "nonce", 43, 43, problem) : std::nullopt;
  if (!nonce) return bad_request(problem);
  if (!crypto::b64u_decode(*nonce)) return bad_request("'nonce' is not base64url");
  const auto& devices = j["devices"];
  if (!devices.is_array() || devices.empty() || devices.size() > 16) {
    return bad_request("'devices' must be an array of 1 to 16 credential ids");
  }
  std::vector<std::string> creds;
  for (const auto& d : devices) {
    json wrapper = {{"id", d}};
    auto raw = bytes_field(wrapper, "id", 1, 1023, problem);
    if (!raw) return bad_request("devices: " + problem);
    creds.push_back(std::move(*raw));
  }
  const auto& expires = j["expires"];
  if (!expires.is_number_integer()) return bad_request("'expires' must be an integer");
  const Seconds now = now_();
  const auto exp = expires.get<std::int64_t>();
  if (exp < now || exp > now + config_.max_challenge_ttl) {
    return bad_request("'expires' must be from now to " +
                       std::to_string(config_.max_challenge_ttl) + " s ahead");
  }
  std::optional<ChallengeContext> context;
  if (j.contains("context")) {
    context = context_field(j["context"], problem);
    if (!context) return bad_request(problem);
  }
  return NewChallenge{crypto::random_id(), call.host->host_id, *user,  *service, *rhost,
                      *tty,                std::move(creds),    *nonce, exp, std::move(context)};
}

Outcome RelayService::create_challenge(const Call& call) {
  auto made = new_challenge(call);
  if (auto* refused = std::get_if<HttpResponse>(&made)) return *refused;
  const NewChallenge& nc = std::get<NewChallenge>(made);
  const HostRecord& host = *call.host;
  const Seconds now = now_();
  const std::int64_t started = wall_ms();
  ChangeRecords records = records_for(call);
  ChallengeRecord shown;  // what the audit event names
  shown.challenge_id = nc.challenge_id;
  shown.host_name = host.name;
  shown.user = nc.user;
  shown.service = nc.service;
  shown.rhost = nc.rhost;
  records.audit.push_back(audit_event("challenge_created", &shown, "", "", "", "pending", -1));
  auto created = store_.create_challenge(nc, config_.fatigue, now, records);
  if (!created) {
    if (created.error().code == StoreErrc::push_blocked) {
      metrics_.fatigue_refused("push_blocked");
      audit("push_blocked", nullptr, host.name, nc.user, "", "refused", -1);
    }
    if (created.error().code == StoreErrc::cooldown) metrics_.fatigue_refused("cooldown");
    if (created.error().code == StoreErrc::not_found) {
      return error_response(401, "unknown_host", "no such host");
    }
    return store_error(created.error());
  }
  for (const auto& old : created->superseded) {
    auto c = store_.find_challenge(old, now);
    if (c) audit("challenge_cancelled", &c.value(), "", "", "", "superseded", decision_ms(*c));
  }
  const ChallengeRecord& c = created->challenge;
  {
    std::lock_guard lock(created_mu_);
    created_ms_[c.challenge_id] = started;
  }
  for (const auto& e : records.audit) log_audit(e);
  metrics_.challenge_created();
  if (push_) push_->notify(c, created->notify);  // queued; never waits for the push service
  return ok_json({{"id", c.challenge_id}, {"expires", c.expires}}, 201);
}

HttpResponse RelayService::host_view(const ChallengeRecord& c) {
  json j = {{"id", c.challenge_id}, {"status", to_string(c.status)}};
  if (!c.decided_by.empty()) {
    j["device"] = {{"credential_id", crypto::b64u_encode(c.decided_credential)},
                   {"name", c.decided_by_name}};
  }
  if (c.status == ChallengeStatus::approved && c.assertion) {
    j["assertion"] = {
        {"credential_id", crypto::b64u_encode(c.assertion->credential_id)},
        {"authenticator_data", crypto::b64u_encode(c.assertion->authenticator_data)},
        {"client_data_json", crypto::b64u_encode(c.assertion->client_data_json)},
        {"signature", crypto::b64u_encode(c.assertion->signature)},
    };
  }
  return ok_json(j);
}

Outcome RelayService::get_challenge(const Call& call) {
  auto q = parse_query(call.query, {"wait"});
  if (!q.problem.empty()) return bad_request(q.problem);
  const std::string& id = call.ids[0];
  const Seconds now = now_();
  auto c = store_.find_challenge(id, now);
  if (!c) return store_error(c.error());
  if (c->host_id != call.host->host_id) return not_found();
  const std::int64_t wait = std::min(q.values.count("wait") ? q.values["wait"] : 0,
                                     config_.max_wait);
  if (c->status != ChallengeStatus::pending || wait == 0) return host_view(*c);
  // Wake no later than the challenge's expiry (then it reads `expired`).
  const Seconds until_expiry = std::max<Seconds>(0, c->expires - now);
  const auto span = std::chrono::seconds(std::min(wait, until_expiry)) +
                    (wait > until_expiry ? std::chrono::milliseconds(50)
                                         : std::chrono::milliseconds(0));
  return LongPoll{ChangeKind::challenge, id, call.host->host_id,
                  std::chrono::steady_clock::now() + span};
}

// Section 4.5: the name the relay registered for the calling host, which
// is what the phone shows and signs (section 6); twostep-check compares it
// with push.conf's host_name.
Outcome RelayService::own_host(const Call& call) {
  return ok_json({{"host_id", call.host->host_id}, {"name", call.host->name}});
}

Outcome RelayService::cancel_challenge(const Call& call) {
  const std::string& id = call.ids[0];
  const Seconds now = now_();
  auto c = store_.find_challenge(id, now);
  if (!c) return store_error(c.error());
  if (c->host_id != call.host->host_id) return not_found();
  const bool was_pending = c->status == ChallengeStatus::pending;
  auto after = store_.cancel_challenge(id, now);
  if (!after) return store_error(after.error());
  if (was_pending && after->status == ChallengeStatus::cancelled) {
    audit("challenge_cancelled", &after.value(), "", "", "", "cancelled", decision_ms(*after));
  }
  return host_view(*after);
}

std::optional<HttpResponse> RelayService::poll(const LongPoll& wait, bool final) {
  const Seconds now = now_();
  if (wait.kind == ChangeKind::challenge) {
    auto c = store_.find_challenge(wait.id, now);
    if (!c) return store_error(c.error());
    if (c->status == ChallengeStatus::pending && !final) return std::nullopt;
    HttpResponse r = host_view(*c);
    r.decided = c->status == ChallengeStatus::approved || c->status == ChallengeStatus::denied ||
                c->status == ChallengeStatus::reported;
    return r;
  }
  auto p = store_.find_pairing(wait.id);
  if (!p) return store_error(p.error());
  if (p->status == PairingStatus::open && now < p->expires && !final) return std::nullopt;
  return pairing_view(*p);
}

// ---- pairing (section 7) ------------------------------------------------------

HttpResponse RelayService::pairing_view(const PairingRecord& p) {
  const Seconds now = now_();
  if (p.status != PairingStatus::confirmed && now >= p.expires) {
    return error_response(410, "expired", "the pairing has expired");
  }
  auto host = store_.find_host(p.host_id);
  if (!host) return store_error(host.error());
  if (host->removed) return not_found();
  json j = {{"id", p.pairing_id},
            {"host", host->name},
            {"user", p.user},
            {"expires", p.expires},
            {"status", to_string(p.status)}};
  // The registration is shown only while the enroll tool needs it: once
  // confirmed, the keys and the proof are nobody's business (the pairing id
  // is no credential, and a reader of it could name the keys elsewhere).
  if (p.registration && p.status == PairingStatus::registered) {
    const auto& reg = *p.registration;
    j["name"] = reg.name;
    j["credential_id"] = crypto::b64u_encode(reg.credential_id);
    j["credential_public_key"] = crypto::b64u_encode(reg.credential_public_key);
    j["api_public_key"] = crypto::b64u_encode(reg.api_public_key);
    j["proof"] = crypto::b64u_encode(reg.proof);
  }
  return ok_json(j);
}

// The route limits pairings per client address; this per (host, user),
// then per host (a high bound: the host id is public, so a low one would let
// anyone stop pairing for every user of the host), once the host is known.
Outcome RelayService::create_pairing(const Call& call) {
  auto body = parse_body(call.r.body, {"host_id", "user", "confirm_hash"});
  if (!body.problem.empty()) return bad_request(body.problem);
  std::string problem;
  auto host_id = string_field(body.value, "host_id", 22, 22, problem);
  auto user = host_id ? string_field(body.value, "user", 1, 64, problem) : std::nullopt;
  auto hash = user ? bytes_field(body.value, "confirm_hash", 32, 32, problem) : std::nullopt;
  if (!hash) return bad_request(problem);
  auto host = store_.find_host(*host_id);
  if (!host && host.error().code != StoreErrc::not_found) return store_error(host.error());
  if (!host || host->removed) return error_response(401, "unknown_host", "no such host");
  if (auto refused = take_token(pairing_by_user_, "pairing_user", *host_id + "\n" + *user,
                                "too many pairings for this user")) {
    return *refused;
  }
  if (auto refused = take_token(pairing_by_host_, "pairing_host", *host_id,
                                "too many pairings for this host")) {
    return *refused;
  }
  const Seconds now = now_();
  PairingRecord p{crypto::random_id(), *host_id, *user, *hash, now, now + config_.pairing_ttl,
                  PairingStatus::open, std::nullopt, {}};
  if (auto done = store_.create_pairing(p); !done) return store_error(done.error());
  audit("pairing_created", nullptr, host->name, p.user, "", "open", -1);
  return ok_json({{"id", p.pairing_id}, {"expires", p.expires}}, 201);
}

Outcome RelayService::get_pairing(const Call& call) {
  auto q = parse_query(call.query, {"wait"});
  if (!q.problem.empty()) return bad_request(q.problem);
  const std::string& id = call.ids[0];
  auto p = store_.find_pairing(id);
  if (!p) return store_error(p.error());
  const Seconds now = now_();
  const std::int64_t wait = std::min(q.values.count("wait") ? q.values["wait"] : 0,
                                     config_.max_wait);
  if (p->status != PairingStatus::open || wait == 0 || now >= p->expires) {
    return pairing_view(*p);
  }
  const Seconds until_expiry = p->expires - now;
  const auto span = std::chrono::seconds(std::min(wait, until_expiry));
  return LongPoll{ChangeKind::pairing, id, {}, std::chrono::steady_clock::now() + span};
}

Outcome RelayService::register_pairing(const Call& call) {
  // api_signature is required; optional here only so that its absence (a
  // version 1 client) gets its own message below.
  auto body = parse_body(call.r.body,
                         {"name", "credential_id", "credential_public_key", "api_public_key", "proof"},
                         {"api_signature"});
  if (!body.problem.empty()) return bad_request(body.problem);
  const json& j = body.value;
  std::string problem;
  auto name = string_field(j, "name", 1, 64, problem);
  auto cred = name ? bytes_field(j, "credential_id", 1, 1023, problem) : std::nullopt;
  auto cred_pk = cred ? bytes_field(j, "credential_public_key", 1, 1024, problem) : std::nullopt;
  auto api_pk = cred_pk ? bytes_field(j, "api_public_key", 1, 1024, problem) : std::nullopt;
  auto proof = api_pk ? bytes_field(j, "proof", 32, 32, problem) : std::nullopt;
  if (proof && !j.contains("api_signature")) {
    // A version 1 client: it does not prove that it holds the key (7, step 4).
    return bad_request("'api_signature' is missing: registrations are signed with the API key "
                       "since protocol version 2");
  }
  auto signature = proof ? string_field(j, "api_signature", 86, 86, problem) : std::nullopt;
  if (!signature) return bad_request(problem);
  if (!crypto::is_p256_spki(*cred_pk)) {
    return bad_request("'credential_public_key' is not a P-256 SubjectPublicKeyInfo");
  }
  if (!crypto::is_p256_spki(*api_pk)) {
    return bad_request("'api_public_key' is not a P-256 SubjectPublicKeyInfo");
  }
  // Proof of possession: a registration cannot name an API key (so route
  // someone else's phone to this pairing's user) that its sender lacks.
  const auto verdict = crypto::verify_registration({call.ids[0], *name, *cred, *cred_pk, *api_pk},
                                                   *signature);
  if (verdict == crypto::Verdict::error) return *verdict_refusal(verdict, "registration check");
  if (verdict != crypto::Verdict::valid) {
    return error_response(401, "bad_signature",
                          "'api_signature' is not the API key's signature of this registration");
  }
  PairingRegistration reg{*name, *cred, *cred_pk, *api_pk, *proof, crypto::api_key_id(*api_pk)};
  auto p = store_.register_pairing(call.ids[0], reg, now_());
  if (!p) return store_error(p.error());
  auto host = store_.find_host(p->host_id);
  audit("device_registered", nullptr, host ? host->name : "", p->user, reg.name, "registered", -1);
  return pairing_view(*p);
}

Outcome RelayService::confirm_pairing(const Call& call) {
  auto body = parse_body(call.r.body, {"confirm_token"});
  const std::string& id = call.ids[0];
  if (!body.problem.empty()) return bad_request(body.problem);
  std::string problem;
  auto token = bytes_field(body.value, "confirm_token", 32, 32, problem);
  if (!token) return bad_request(problem);
  auto p = store_.find_pairing(id);
  if (!p) return store_error(p.error());
  if (!twostep::constant_time_equal(crypto::sha256(*token), p->confirm_hash)) {
    return error_response(401, "bad_signature", "the confirm token does not match");
  }
  auto device = store_.confirm_pairing(id, crypto::random_id(), now_());
  if (!device) return store_error(device.error());
  auto host = store_.find_host(device->host_id);
  audit("device_confirmed", nullptr, host ? host->name : "", device->user, device->name,
        "active", -1);
  return ok_json({{"status", "confirmed"}, {"device_id", device->device_id}});
}

// ---- device API (section 8) ---------------------------------------------------

std::variant<DeviceRecord, HttpResponse> RelayService::record_for(const DeviceAuth& auth,
                                                                  const ChallengeRecord& c) {
  bool revoked_match = false;
  for (const auto& d : auth.records) {
    if (d.host_id != c.host_id || d.user != c.user) continue;
    if (std::find(c.credential_ids.begin(), c.credential_ids.end(), d.credential_id) ==
        c.credential_ids.end()) {
      continue;
    }
    if (!d.revoked) return d;
    revoked_match = true;
  }
  if (revoked_match) return error_response(403, "device_revoked", "this device is revoked");
  return not_found();
}

std::string RelayService::device_view(const ChallengeRecord& c) {
  json creds = json::array();
  for (const auto& id : c.credential_ids) creds.push_back(crypto::b64u_encode(id));
  json j = {{"id", c.challenge_id},
            {"host", c.host_name},
            {"user", c.user},
            {"service", c.service},
            {"rhost", c.rhost},
            {"tty", c.tty},
            {"nonce", c.nonce},
            {"created", c.created},
            {"expires", c.expires},
            {"status", to_string(c.status)},
            {"credential_ids", creds},
            {"decided_at", c.status == ChallengeStatus::pending ? json(nullptr)
                                                                : null_if_zero(c.decided_at)},
            {"decided_by", c.decided_by_name.empty() ? json(nullptr) : json(c.decided_by_name)}};
  // null: a challenge of an older module, whose phone signs digest version 1.
  j["context"] = c.context ? json{{"command", c.context->command},
                                  {"target_user", c.context->target_user},
                                  {"location", c.context->location}}
                           : json(nullptr);
  return dump(j);
}

namespace {

// One of the key's devices as the phone sees it in its list.
json own_device_entry(Store& store, const DeviceRecord& d) {
  auto host = store.find_host(d.host_id);
  return json{{"device_id", d.device_id},
              {"host", host ? host->name : std::string()},
              {"user", d.user},
              {"name", d.name},
              {"created", d.created},
              {"last_used", null_if_zero(d.last_used)}};
}

// A decision's body (section 8.3): the decision, and with approve only, its
// assertion.
struct DecisionBody {
  Decision decision = Decision::deny;
  std::optional<Assertion> assertion;
};

std::variant<Assertion, HttpResponse> parse_assertion(const json& a) {
  if (!a.is_object()) return bad_request("'assertion' must be an object");
  for (const auto& [key, _] : a.items()) {
    if (key != "credential_id" && key != "authenticator_data" && key != "client_data_json" &&
        key != "signature") {
      return bad_request("assertion: unknown field '" + key + "'");
    }
  }
  std::string problem;
  auto cred = bytes_field(a, "credential_id", 1, 1023, problem);
  auto data = cred ? bytes_field(a, "authenticator_data", 37, 4096, problem) : std::nullopt;
  auto client = data ? bytes_field(a, "client_data_json", 2, 8192, problem) : std::nullopt;
  auto sig = client ? bytes_field(a, "signature", 8, 80, problem) : std::nullopt;
  if (!sig) return bad_request("assertion: " + problem);
  return Assertion{*cred, *data, *client, *sig};
}

std::variant<DecisionBody, HttpResponse> parse_decision(std::string_view text) {
  auto body = parse_body(text, {"decision"}, {"assertion"});
  if (!body.problem.empty()) return bad_request(body.problem);
  const json& j = body.value;
  const auto& decision_text = j["decision"];
  if (!decision_text.is_string()) return bad_request("'decision' must be a string");
  DecisionBody out;
  if (decision_text == "approve") out.decision = Decision::approve;
  else if (decision_text == "deny") out.decision = Decision::deny;
  else if (decision_text == "report") out.decision = Decision::report;
  else return bad_request("'decision' must be approve, deny or report");
  if ((out.decision == Decision::approve) != j.contains("assertion")) {
    return bad_request("an assertion goes with approve, and only with it");
  }
  if (out.decision == Decision::approve) {
    auto assertion = parse_assertion(j["assertion"]);
    if (auto* refused = std::get_if<HttpResponse>(&assertion)) return *refused;
    out.assertion = std::move(std::get<Assertion>(assertion));
  }
  return out;
}

}  // namespace

std::string RelayService::challenge_list(std::string_view name,
                                         const std::vector<ChallengeRecord>& list) {
  std::string out = "{\"";
  out.append(name);
  out += "\":[";
  for (std::size_t i = 0; i < list.size(); ++i) {
    if (i) out += ',';
    out += device_view(list[i]);
  }
  out += "]}";
  return out;
}

Outcome RelayService::open_event_stream(const Call& call) {
  return EventStream{call.device->api_key_id};
}

// The pending challenges, and how many requests the notification bound kept
// from this phone (section 8.2).
Outcome RelayService::pending_challenges(const Call& call) {
  const Seconds now = now_();
  auto list = store_.challenges_for_api_key(call.device->api_key_id, true, 100, now);
  if (!list) return store_error(list.error());
  auto suppressed = store_.suppressed_requests(call.device->api_key_id, now);
  if (!suppressed) return store_error(suppressed.error());
  std::string out = challenge_list("challenges", *list);
  json s = {{"count", suppressed->count}};
  s["since"] = suppressed->count ? json(suppressed->since) : json(nullptr);
  s["last"] = suppressed->count ? json(suppressed->last) : json(nullptr);
  out.pop_back();  // the list's closing brace
  out += ",\"suppressed\":" + dump(s) + "}";
  return HttpResponse{200, std::move(out)};
}

Outcome RelayService::activity(const Call& call) {
  auto q = parse_query(call.query, {"limit"});
  if (!q.problem.empty()) return bad_request(q.problem);
  const std::int64_t limit = q.values.count("limit") ? q.values["limit"] : 20;
  if (limit < 1 || limit > 100) return bad_request("'limit' must be 1 to 100");
  auto list = store_.challenges_for_api_key(call.device->api_key_id, false,
                                            static_cast<int>(limit), now_());
  if (!list) return store_error(list.error());
  return HttpResponse{200, challenge_list("activity", *list)};
}

Outcome RelayService::device_challenge(const Call& call) {
  auto c = store_.find_challenge(call.ids[0], now_());
  if (!c) return store_error(c.error());
  auto rec = record_for(*call.device, *c);
  if (auto* e = std::get_if<HttpResponse>(&rec)) return *e;
  return HttpResponse{200, device_view(*c)};
}

Outcome RelayService::decide(const Call& call) {
  auto parsed = parse_decision(call.r.body);
  if (auto* refused = std::get_if<HttpResponse>(&parsed)) return *refused;
  const auto& [decision, assertion] = std::get<DecisionBody>(parsed);
  const std::string& id = call.ids[0];
  const Seconds now = now_();
  auto c = store_.find_challenge(id, now);
  if (!c) return store_error(c.error());
  auto rec = record_for(*call.device, *c);
  if (auto* e = std::get_if<HttpResponse>(&rec)) return *e;
  const auto& device = std::get<DeviceRecord>(rec);
  if (c->status == ChallengeStatus::expired) return store_error({StoreErrc::expired, ""});
  if (c->status != ChallengeStatus::pending) return store_error({StoreErrc::already_decided, ""});

  if (assertion) {
    // Section 8.3: reject garbage early; the module checks everything again.
    if (assertion->credential_id != device.credential_id) {
      return error_response(422, "bad_assertion", "the credential is not this device's");
    }
    const auto check = crypto::check_assertion_early(
        device.credential_public_key, assertion->authenticator_data,
        assertion->client_data_json, assertion->signature, config_.approver_origin);
    if (check) return error_response(422, "bad_assertion", "assertion refused: " + *check);
  }
  const ChallengeStatus status = status_of(decision);
  const std::int64_t ms = decision_ms(*c, false);
  ChangeRecords records = records_for(call);
  records.audit.push_back(audit_event("challenge_decided", &c.value(), "", "", device.name,
                                      to_string(status), ms));
  if (decision == Decision::report) {
    records.audit.push_back(
        audit_event("push_blocked", &c.value(), "", "", device.name, "blocked", -1));
  }
  auto decided = store_.decide_challenge(id, device.device_id, decision, assertion, now, records);
  if (!decided) return store_error(decided.error());
  decision_ms(*decided);  // forgets the creation time
  for (const auto& e : records.audit) log_audit(e);
  metrics_.decision(to_string(status));
  if (ms >= 0) metrics_.challenge_to_decision(static_cast<double>(ms) / 1000);
  return HttpResponse{200, device_view(*decided)};
}

// ---- the key's own devices (section 8.5) ------------------------------------------

Outcome RelayService::own_devices(const Call& call) {
  json list = json::array();
  for (const auto& d : call.device->records) {
    if (!d.revoked) list.push_back(own_device_entry(store_, d));
  }
  return ok_json({{"devices", list}});
}

std::variant<DeviceRecord, HttpResponse> RelayService::own_record(const Call& call) {
  const auto& records = call.device->records;
  const auto it = std::find_if(records.begin(), records.end(),
                               [&](const DeviceRecord& d) { return d.device_id == call.ids[0]; });
  if (it == records.end()) return not_found();
  if (it->revoked) return error_response(403, "device_revoked", "this device is revoked");
  return *it;
}

Outcome RelayService::rename_own_device(const Call& call) {
  auto own = own_record(call);
  if (auto* refused = std::get_if<HttpResponse>(&own)) return *refused;
  auto body = parse_body(call.r.body, {"name"});
  if (!body.problem.empty()) return bad_request(body.problem);
  std::string problem;
  auto name = string_field(body.value, "name", 1, 64, problem);
  if (!name) return bad_request(problem);
  auto d = store_.rename_device(std::get<DeviceRecord>(own).device_id, *name);
  if (!d) return store_error(d.error());
  return ok_json(own_device_entry(store_, *d));
}

Outcome RelayService::revoke_own_device(const Call& call) {
  auto own = own_record(call);
  if (auto* refused = std::get_if<HttpResponse>(&own)) return *refused;
  auto d = store_.revoke_device(std::get<DeviceRecord>(own).device_id, now_());
  if (!d) return store_error(d.error());
  auto host = store_.find_host(d->host_id);
  audit("device_revoked", nullptr, host ? host->name : "", d->user, d->name, "revoked", -1);
  json j = own_device_entry(store_, *d);
  j["revoked"] = true;
  return ok_json(j);
}

// Another method on one of the key's devices: a revoked one still says so.
Outcome RelayService::own_device_other(const Call& call) {
  auto own = own_record(call);
  if (auto* refused = std::get_if<HttpResponse>(&own)) return *refused;
  return not_found();
}

// ---- event stream ---------------------------------------------------------------

namespace {
std::string sse(std::string_view event, std::string_view data) {
  std::string out = "event: ";
  out.append(event);
  out += "\ndata: ";
  out.append(data);  // compact JSON: no newline inside
  out += "\n\n";
  return out;
}
}  // namespace

std::vector<std::string> RelayService::stream_start(const EventStream& stream) {
  std::vector<std::string> out;
  auto list = store_.challenges_for_api_key(stream.api_key_id, true, 100, now_());
  if (!list) return out;
  for (auto it = list->rbegin(); it != list->rend(); ++it) {  // oldest first
    out.push_back(sse("challenge", device_view(*it)));
  }
  return out;
}

std::optional<std::string> RelayService::stream_event(const EventStream& stream,
                                                      const std::string& challenge_id) {
  auto c = store_.find_challenge(challenge_id, now_());
  if (!c) return std::nullopt;
  auto records = store_.devices_by_api_key(stream.api_key_id);
  if (!records) return std::nullopt;
  DeviceAuth auth{std::move(records.value()), stream.api_key_id};
  if (!std::holds_alternative<DeviceRecord>(record_for(auth, *c))) return std::nullopt;
  return sse(c->status == ChallengeStatus::pending ? "challenge" : "update", device_view(*c));
}

std::vector<std::string> RelayService::stream_targets(const std::string& challenge_id) {
  auto c = store_.find_challenge(challenge_id, now_());
  if (!c) return {};
  auto devices = store_.list_devices(DeviceFilter{c->host_id, c->user});
  if (!devices) return {};
  std::vector<std::string> keys;
  for (const auto& d : *devices) {
    const bool named = std::find(c->credential_ids.begin(), c->credential_ids.end(),
                                 d.credential_id) != c->credential_ids.end();
    if (named && !d.revoked) keys.push_back(d.api_key_id);
  }
  return keys;
}

bool RelayService::stream_allowed(const EventStream& stream) {
  auto records = store_.devices_by_api_key(stream.api_key_id);
  if (!records) return false;
  return std::any_of(records->begin(), records->end(),
                     [](const DeviceRecord& d) { return !d.revoked; });
}

// ---- expiry and audit -----------------------------------------------------------

// The server calls this from a loop that an exception would end for good,
// with no log line: it is logged here, and the next tick tries again.
void RelayService::expire_tick() {
  try {
    expire_due();
  } catch (const std::exception& e) {
    log_("twostepd: expiry: " + log_value(e.what()));
  }
}

void RelayService::expire_due() {
  sweep_shared_buckets();
  auto expired = store_.expire_due(now_());
  if (!expired) {
    log_("twostepd: store error: " + expired.error().message);
    return;
  }
  for (const auto& c : *expired) {
    audit("challenge_expired", &c, "", "", "", "expired", decision_ms(c));
  }
}

// Shared buckets that have refilled completely are forgotten once a
// minute (each instance sweeps; a sweep finds little after another's).
void RelayService::sweep_shared_buckets() {
  if (!store_.shares_rate_limits()) return;
  const std::int64_t now = wall_ms();
  std::int64_t last = buckets_swept_ms_.load();
  if (now - last < 60000 || !buckets_swept_ms_.compare_exchange_strong(last, now)) return;
  if (auto swept = store_.forget_full_buckets(now); !swept) {
    log_("twostepd: store error: " + swept.error().message);
  }
}

std::int64_t RelayService::decision_ms(const ChallengeRecord& c, bool forget) {
  {
    std::lock_guard lock(created_mu_);
    auto it = created_ms_.find(c.challenge_id);
    if (it != created_ms_.end()) {
      const std::int64_t ms = wall_ms() - it->second;
      if (forget) created_ms_.erase(it);
      return std::max<std::int64_t>(0, ms);
    }
  }
  // Made by another instance (or before a restart): whole seconds only.
  return c.decided_at > 0 ? (c.decided_at - c.created) * 1000 : -1;
}

AuditEvent RelayService::audit_event(std::string_view event, const ChallengeRecord* c,
                                     std::string_view host, std::string_view user,
                                     std::string_view device, std::string_view result,
                                     std::int64_t ms) {
  AuditEvent e;
  e.time = now_();
  e.event = std::string(event);
  e.host = std::string(c ? std::string_view(c->host_name) : host);
  e.user = std::string(c ? std::string_view(c->user) : user);
  if (c) {
    e.service = c->service;
    e.rhost = c->rhost;
    e.challenge_id = c->challenge_id;
  }
  e.device = std::string(device);
  e.result = std::string(result);
  e.ms = ms;
  return e;
}

void RelayService::audit(std::string_view event, const ChallengeRecord* c, std::string_view host,
                         std::string_view user, std::string_view device,
                         std::string_view result, std::int64_t ms) {
  const AuditEvent e = audit_event(event, c, host, user, device, result, ms);
  if (auto done = store_.append_audit(e); !done) {
    log_("twostepd: store error (audit): " + done.error().message);
  }
  log_audit(e);
}

// The events of every login (challenge_*) are logged at debug only: one
// line per login is too many at the default level. They are all in the
// audit table (`twostepd audit`); the rare ones (blocks, pairings, devices,
// hosts) are logged at every level.
void RelayService::log_audit(const AuditEvent& e) {
  if (!config_.log_debug && e.event.starts_with("challenge_")) return;
  if (config_.log_json) {
    log_(json_audit_line(e));
    return;
  }
  log_("twostepd: audit event=" + log_value(e.event) + " host=" + log_value(e.host) +
       " user=" + log_value(e.user) + " service=" + log_value(e.service) +
       " rhost=" + log_value(e.rhost) + " challenge=" + log_value(e.challenge_id) +
       " device=" + log_value(e.device) + " result=" + log_value(e.result) +
       " ms=" + (e.ms >= 0 ? std::to_string(e.ms) : std::string("-")));
}

}  // namespace twostep::relay
