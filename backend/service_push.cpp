// The relay's Web Push endpoints (docs/protocol.md section 8.4):
//   GET    /v1/push/key       the VAPID public key (no authentication)
//   POST   /v1/device/push    {"endpoint", "p256dh", "auth"}: this phone's subscription
//   DELETE /v1/device/push    forget this phone's subscriptions
#include <nlohmann/json.hpp>

#include "push_notifier.hpp"
#include "relay_crypto.hpp"
#include "service.hpp"
#include "twostep/display_text.hpp"
#include "webpush.hpp"

namespace twostep::relay {
namespace {

using json = nlohmann::json;

HttpResponse push_off() {
  return error_response(404, "not_found", "Web Push is not available on this relay");
}

}  // namespace

Outcome RelayService::push_key(const Call&) {
  if (!push_) return push_off();
  return HttpResponse{200, json{{"vapid_public_key", crypto::b64u_encode(push_->public_key())}}.dump()};
}

Outcome RelayService::unsubscribe_push(const Call& call) {
  if (!push_) return push_off();
  auto removed = store_.delete_push_subscriptions(call.device->api_key_id);
  if (!removed) return store_error(removed.error());
  return HttpResponse{200, json{{"removed", removed.value()}}.dump()};
}

// Any other method: a relay without Web Push says so first.
Outcome RelayService::push_other_method(const Call&) {
  if (!push_) return push_off();
  return error_response(404, "not_found", "no such resource");
}

Outcome RelayService::subscribe_push(const Call& call) {
  if (!push_) return push_off();
  const json body = json::parse(call.r.body, nullptr, false);
  if (!body.is_object() || twostep::json_has_duplicate_keys(call.r.body) || body.size() != 3 || !body.contains("endpoint") ||
      !body.contains("p256dh") || !body.contains("auth") || !body["endpoint"].is_string() ||
      !body["p256dh"].is_string() || !body["auth"].is_string()) {
    return error_response(400, "bad_request",
                          "the body must be {\"endpoint\", \"p256dh\", \"auth\"} (strings)");
  }
  const std::string endpoint = body["endpoint"].get<std::string>();
  if (!push_->accepts(endpoint)) {
    return error_response(400, "bad_request",
                          "'endpoint' must be an https URL (http to loopback only for a "
                          "relay on plain http)");
  }
  auto p256dh = crypto::b64u_decode(body["p256dh"].get<std::string>());
  auto secret = crypto::b64u_decode(body["auth"].get<std::string>());
  if (!p256dh || !secret ||
      !webpush::check_subscription_keys(webpush::SubscriptionKeys{*p256dh, *secret})) {
    return error_response(400, "bad_request",
                          "'p256dh' must be a P-256 point and 'auth' 16 bytes (base64url)");
  }
  // One subscription per phone: a new one replaces the old (a browser has
  // one per service worker, and this also caps what a key can store).
  if (auto removed = store_.delete_push_subscriptions(call.device->api_key_id); !removed) {
    return store_error(removed.error());
  }
  PushSubscription sub{call.device->api_key_id, endpoint, *p256dh, *secret, now_()};
  if (auto put = store_.put_push_subscription(sub); !put) return store_error(put.error());
  return HttpResponse{200, json{{"subscribed", true}}.dump()};
}

}  // namespace twostep::relay
