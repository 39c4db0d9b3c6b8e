// Sends Web Push notifications for new challenges, off the I/O thread.
//
// A push only wakes a closed approver app; the open app sees requests on its
// event stream. So a delivery is best effort and never blocks or fails a
// login: notify() only queues (a bounded queue; overflow is dropped and
// logged), and one worker thread runs the sends concurrently on a libcurl
// multi handle: at most `max_in_flight` at once, at most a share of them
// for one (host, user), each under its own timeout. So a slow or silent
// push service delays only its own subscriptions (docs/threat-model.md,
// "One slow push service"). A push service's answer is logged, never
// returned. Subscriptions that answer 404 or 410 (gone) are deleted. The
// payload holds no secret: the type, the challenge id and how many requests
// were suppressed for that phone since its previous notification; the app
// fetches the details with its own signed request.
#pragma once

#include <curl/curl.h>

#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "push_notifier.hpp"
#include "store.hpp"
#include "twostep/result.hpp"
#include "webpush.hpp"

namespace twostep::relay {

// The relay's VAPID keys: read from the store, or made and stored on first
// use (put_setting_if_absent, so concurrent first starts agree).
Result<webpush::VapidKeys> load_or_make_vapid_keys(Store& store);

// An https URL, no user info, no fragment, at most 2048 bytes. Plain http
// only to a loopback address and only with `allow_http_loopback` (a relay
// that itself runs on plain http: development and tests), so that a device
// cannot point the relay at a local plain-http service in production.
bool is_acceptable_push_endpoint(std::string_view endpoint, bool allow_http_loopback);

// VAPID's "sub": the relay's public URL when it is https (push services
// may contact its operator there), else a local mailto:.
std::string vapid_subject(std::string_view public_url);

// The JSON the service worker receives: {"type":"challenge","id":"…"},
// with "suppressed": N when N > 0 requests were suppressed for the phone
// since its previous notification.
std::string push_payload(std::string_view challenge_id, std::int64_t suppressed = 0);

struct PushOptions {
  std::string subject;                // VAPID "sub": mailto: or https: URL
  long connect_timeout_ms = 5000;
  long total_timeout_ms = 10000;
  std::size_t max_queue = 1024;       // pending notifications and sends; more are dropped
  std::size_t max_in_flight = 64;     // sends at once
  // Sends at once for one (host, user): one user's slow push service (or
  // many logins of one user) leaves the other slots to everyone else.
  std::size_t max_in_flight_per_user = 8;
  long ttl_seconds = 300;             // TTL header: a request expires by then anyway
  bool allow_http_loopback = false;   // see is_acceptable_push_endpoint
  // Hears each message's end: accepted by the push service (2xx), or not
  // (not sent, dropped from a full queue, refused). The relay's metrics.
  std::function<void(bool sent)> on_result;
};

class PushSender final : public PushNotifier {
 public:
  using LogLine = std::function<void(const std::string&)>;

  PushSender(Store& store, webpush::VapidKeys keys, PushOptions options, LogLine log);
  ~PushSender() override;  // finishes the message being sent, drops the rest
  PushSender(const PushSender&) = delete;
  PushSender& operator=(const PushSender&) = delete;

  const std::string& public_key() const override { return keys_.public_point; }
  bool accepts(std::string_view endpoint) const override {
    return is_acceptable_push_endpoint(endpoint, options_.allow_http_loopback);
  }

  // Queues a push to every subscription of `phones` (the phones of the
  // devices that may answer `c`, within their notification bound).
  void notify(const ChallengeRecord& c, const std::vector<PhoneNotice>& phones) override;

 private:
  struct Send;  // one subscription's push, on the multi handle (push_sender.cpp)
  struct Work;  // the worker thread's own state

  void run();
  struct Notice {  // a challenge and the phones to tell
    ChallengeRecord challenge;
    std::vector<PhoneNotice> phones;
  };
  void queue_sends(Work& work, const Notice& notice);
  void start_sends(Work& work);
  void finish_sends(Work& work);
  std::unique_ptr<Send> prepare(const PushSubscription& to, const std::string& payload);
  void finish(Send& send, int curl_code);
  void ended(bool sent) const {
    if (options_.on_result) options_.on_result(sent);
  }

  Store& store_;
  webpush::VapidKeys keys_;
  PushOptions options_;
  LogLine log_;
  std::mutex mu_;
  std::deque<Notice> queue_;
  bool stopping_ = false;
  struct MultiFree { void operator()(CURLM* m) const noexcept { curl_multi_cleanup(m); } };
  std::unique_ptr<CURLM, MultiFree> multi_;  // the worker's; notify() wakes it
  std::thread worker_;
};

}  // namespace twostep::relay
