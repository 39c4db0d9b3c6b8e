// The relay's protocol logic (docs/protocol.md), with no network code: the
// server (server.cpp) turns each HTTP request into an HttpRequest, and the
// service answers it, or tells the server to hold it (long-poll, event
// stream). Everything here is synchronous and thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <variant>
#include <vector>

#include "config.hpp"
#include "metrics.hpp"
#include "rate_limit.hpp"
#include "relay_crypto.hpp"
#include "store.hpp"

#include "push_notifier.hpp"

namespace twostep::relay {

struct HttpRequest {
  std::string method;  // upper case
  std::string target;  // as sent: path, then '?' and the query if any
  std::string body;
  bool has_content_length = false;
  std::string content_type;
  std::string auth_host;       // X-Twostep-Host
  std::string auth_device;     // X-Twostep-Device
  std::string auth_timestamp;  // X-Twostep-Timestamp
  std::string auth_nonce;      // X-Twostep-Nonce
  std::string auth_signature;  // X-Twostep-Signature
  bool has_auth_host = false;
  bool has_auth_device = false;
  std::string client_address;
  std::string request_id;  // the server's, for log lines
};

struct HttpResponse {
  unsigned status = 200;
  std::string body;              // a JSON object (or a static file of the app)
  std::int64_t retry_after = 0;  // > 0: send Retry-After
  // The approver app's files (static_assets.hpp) set these; API answers keep
  // the defaults.
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers{};  // extra headers
  // A long-poll's answer that carries a device's decision (the decision ->
  // answer metric).
  bool decided = false;
};

// Hold the request until the challenge or pairing changes, or `deadline`.
struct LongPoll {
  ChangeKind kind;
  std::string id;
  std::string host_id;  // the caller, for challenges
  std::chrono::steady_clock::time_point deadline;
};

// Answer with an SSE stream of the key's challenges.
struct EventStream {
  std::string api_key_id;
};

using Outcome = std::variant<HttpResponse, LongPoll, EventStream>;

HttpResponse error_response(unsigned status, std::string_view code, std::string_view message,
                            std::int64_t retry_after = 0);

class RelayService {
 public:
  using WallClock = std::function<Seconds()>;
  using LogLine = std::function<void(const std::string&)>;

  RelayService(Store& store, const RelayConfig& config, WallClock now, LogLine log);

  // `route`, if given, is set to the pattern the request matched (the
  // request metric): a route of the table, "static" for the app's files,
  // "unmatched" for anything else.
  Outcome handle(const HttpRequest& request, std::string_view* route = nullptr);

  // The long-poll's answer now if it has one (status changed), or when
  // `final` (deadline reached) the current state.
  std::optional<HttpResponse> poll(const LongPoll& wait, bool final);

  // SSE: the events at connect; the event (if any) this key should see for a
  // changed challenge; whether the key may keep its stream.
  std::vector<std::string> stream_start(const EventStream& stream);
  std::optional<std::string> stream_event(const EventStream& stream,
                                          const std::string& challenge_id);
  bool stream_allowed(const EventStream& stream);
  // The API keys of the devices a challenge was sent to: only their event
  // streams hear of a change to it, so a round costs the same however many
  // other streams are open.
  std::vector<std::string> stream_targets(const std::string& challenge_id);

  // Records the expiry of every pending challenge past its time (audit).
  void expire_tick();

  // Web Push (service_push.cpp): with a sender, each new challenge is pushed
  // to its devices' subscriptions, and the app may subscribe. Without one
  // (a store without push tables), subscribing answers 404 not_found.
  void set_push_notifier(PushNotifier* notifier) { push_ = notifier; }

  // The counts and latencies served on metrics_listen (metrics.hpp).
  Metrics& metrics() { return metrics_; }

 private:
  struct DeviceAuth {
    std::vector<DeviceRecord> records;  // all of the key's records
    std::string api_key_id;
  };

  // What a route needs before its handler runs (the chain in service.cpp:
  // authenticate -> rate limit -> nonce -> query -> handler).
  enum class Auth { none, host, device };  // none, host HMAC, device signature
  enum class Limit { none, per_host, per_device, per_address };
  // at_once: remembered before the handler runs; in_change: the handler
  // records it in its change's transaction (ChangeRecords), and an error
  // answer remembers it afterwards (settle_nonce).
  enum class NonceUse { none, at_once, in_change };
  enum class QueryUse { none, handler };  // none: a query is a 400
  // One request on its way through the chain: what its route matched, and
  // who the authentication step found.
  struct Call {
    const HttpRequest& r;
    std::string_view path;
    std::string_view query;
    std::vector<std::string> ids{};      // the route's {id} segments, in order
    std::optional<HostRecord> host{};    // Auth::host
    std::optional<DeviceAuth> device{};  // Auth::device
    std::string principal{};             // whose nonce; empty without authentication
  };
  struct Route;
  using Handler = Outcome (RelayService::*)(const Call&);
  static const std::vector<Route>& routes();

  Outcome run_chain(const Route& route, Call& call);
  void expire_due();  // expire_tick's work
  void sweep_shared_buckets();
  std::optional<HttpResponse> authenticate(Auth auth, Call& call);
  std::optional<HttpResponse> rate_limited(Limit limit, const Call& call);
  // One token for `key` from `bucket`: in this instance's memory, or in the
  // store where several instances share it (`name` then prefixes the key).
  // The 429 (or a store failure's 500) if there is none.
  std::optional<HttpResponse> take_token(RateLimiter& bucket, std::string_view name,
                                         const std::string& key, std::string_view message);
  std::variant<HostRecord, HttpResponse> authenticate_host(const Call& call);
  std::variant<DeviceAuth, HttpResponse> authenticate_device(const Call& call);
  // The refusal of a signed request whose timestamp is too far off, or
  // whose signature `check` did not verify; none if it passes.
  std::optional<HttpResponse> clock_refusal(std::int64_t timestamp);
  std::optional<HttpResponse> verdict_refusal(crypto::Verdict verdict, std::string_view check);
  // A request whose nonce went into its change: if it made none (an error
  // answer), the nonce is remembered now, and a seen one answers
  // replayed_nonce instead.
  Outcome settle_nonce(Outcome outcome, const Call& call);
  // Remembers the request's nonce now: the refusal if seen (or the store failed).
  std::optional<HttpResponse> nonce_refusal(const Call& call);
  ChangeRecords records_for(const Call& call);

  // Handlers (the table in service.cpp names each one's route).
  Outcome no_such_resource(const Call& call);
  Outcome create_challenge(const Call& call);
  std::variant<NewChallenge, HttpResponse> new_challenge(const Call& call);
  Outcome get_challenge(const Call& call);
  Outcome cancel_challenge(const Call& call);
  Outcome own_host(const Call& call);
  Outcome create_pairing(const Call& call);
  Outcome get_pairing(const Call& call);
  Outcome register_pairing(const Call& call);
  Outcome confirm_pairing(const Call& call);
  Outcome open_event_stream(const Call& call);
  Outcome pending_challenges(const Call& call);
  Outcome device_challenge(const Call& call);
  Outcome decide(const Call& call);
  Outcome activity(const Call& call);
  Outcome own_devices(const Call& call);
  Outcome rename_own_device(const Call& call);
  Outcome revoke_own_device(const Call& call);
  Outcome own_device_other(const Call& call);
  Outcome push_key(const Call& call);            // service_push.cpp
  Outcome subscribe_push(const Call& call);      // service_push.cpp
  Outcome unsubscribe_push(const Call& call);    // service_push.cpp
  Outcome push_other_method(const Call& call);   // service_push.cpp

  // The calling key's own device `call.ids[0]`, or 404 / 403 device_revoked.
  std::variant<DeviceRecord, HttpResponse> own_record(const Call& call);
  std::string challenge_list(std::string_view name, const std::vector<ChallengeRecord>& list);

  // The key's live record that may act on `c`; or the error response.
  std::variant<DeviceRecord, HttpResponse> record_for(const DeviceAuth& auth,
                                                      const ChallengeRecord& c);
  std::string device_view(const ChallengeRecord& c);
  HttpResponse host_view(const ChallengeRecord& c);
  HttpResponse pairing_view(const PairingRecord& p);

  // An audit event: appended to the store and logged (audit), or made
  // (audit_event) to go into a change's transaction and logged once it has
  // committed (log_audit).
  void audit(std::string_view event, const ChallengeRecord* c, std::string_view host,
             std::string_view user, std::string_view device, std::string_view result,
             std::int64_t ms);
  AuditEvent audit_event(std::string_view event, const ChallengeRecord* c, std::string_view host,
                         std::string_view user, std::string_view device,
                         std::string_view result, std::int64_t ms);
  void log_audit(const AuditEvent& e);
  // Milliseconds from creation to now; `forget` drops the creation time.
  std::int64_t decision_ms(const ChallengeRecord& c, bool forget = true);
  HttpResponse store_error(const StoreError& e);

  Store& store_;
  const RelayConfig& config_;
  WallClock now_;
  LogLine log_;
  RateLimiter host_limit_;
  RateLimiter device_limit_;
  RateLimiter pairing_by_address_;
  RateLimiter pairing_by_user_;  // per (host, user)
  RateLimiter pairing_by_host_;
  std::mutex created_mu_;
  std::unordered_map<std::string, std::int64_t> created_ms_;  // challenge id -> wall ms
  PushNotifier* push_ = nullptr;
  Metrics metrics_;
  std::atomic<std::int64_t> buckets_swept_ms_{0};  // shared buckets: the last sweep
};

}  // namespace twostep::relay
