// The Web Push worker (see push_sender.hpp). libcurl: one multi handle,
// one easy handle per message: pushes are rare (one per login) and the push
// service differs per phone, so connection reuse would buy little.
#include "push_sender.hpp"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <map>

#include "log_field.hpp"
#include "twostep/push_protocol.hpp"

namespace twostep::relay {
namespace {

constexpr const char* kVapidSetting = "vapid_key_v1";
constexpr std::size_t kMaxEndpointBytes = 2048;
constexpr std::size_t kMaxResponseBytes = 4096;
// How long the worker sleeps in curl_multi_poll when nothing wakes it.
constexpr int kPollMs = 1000;

struct CurlFree { void operator()(CURL* c) const noexcept { curl_easy_cleanup(c); } };
struct SlistFree { void operator()(curl_slist* l) const noexcept { curl_slist_free_all(l); } };

// Keeps at most kMaxResponseBytes of the push service's answer (for the log).
std::size_t keep_some(char* data, std::size_t size, std::size_t count, void* user) {
  auto* out = static_cast<std::string*>(user);
  const std::size_t n = size * count;
  if (out->size() < kMaxResponseBytes) out->append(data, std::min(n, kMaxResponseBytes - out->size()));
  return n;
}

std::int64_t wall_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

bool is_loopback_authority(std::string_view authority) {
  const auto colon = authority.rfind(':');
  std::string_view host = authority;
  if (colon != std::string_view::npos && authority.find(']') == std::string_view::npos) {
    host = authority.substr(0, colon);
  } else if (authority.starts_with("[")) {
    host = authority.substr(0, authority.find(']') + 1);
  }
  return host == "127.0.0.1" || host == "localhost" || host == "[::1]";
}

// Push services are on the public Internet. A device chooses its endpoint, so
// without this check it could make the relay POST to a service inside its
// network (SSRF). Loopback, private, link-local and shared addresses are
// refused at connect time (after DNS, so a name cannot hide them).
bool is_internal_v4(const std::uint8_t* a) {
  return a[0] == 0 || a[0] == 10 || a[0] == 127 || (a[0] == 169 && a[1] == 254) ||
         (a[0] == 172 && (a[1] & 0xf0) == 16) || (a[0] == 192 && a[1] == 168) ||
         (a[0] == 100 && (a[1] & 0xc0) == 64) || a[0] >= 224;
}

bool is_internal(const sockaddr* sa) {
  if (sa->sa_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(sa);
    return is_internal_v4(reinterpret_cast<const std::uint8_t*>(&in->sin_addr.s_addr));
  }
  if (sa->sa_family == AF_INET6) {
    const auto* a = reinterpret_cast<const sockaddr_in6*>(sa)->sin6_addr.s6_addr;
    static const std::uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (std::equal(a, a + 12, mapped)) return is_internal_v4(a + 12);
    static const std::uint8_t zero[15] = {};
    if (std::equal(a, a + 15, zero)) return true;                   // :: and ::1
    if ((a[0] & 0xfe) == 0xfc) return true;                          // fc00::/7
    if (a[0] == 0xfe && (a[1] & 0xc0) == 0x80) return true;          // fe80::/10
    if (a[0] == 0xff) return true;                                   // multicast
    return false;
  }
  return true;
}

curl_socket_t open_public_socket(void* allow_internal, curlsocktype, curl_sockaddr* address) {
  if (!*static_cast<bool*>(allow_internal) && is_internal(&address->addr)) return CURL_SOCKET_BAD;
  return ::socket(address->family, address->socktype | SOCK_CLOEXEC, address->protocol);
}

}  // namespace

Result<webpush::VapidKeys> load_or_make_vapid_keys(Store& store) {
  auto stored = store.get_setting(kVapidSetting);
  if (!stored && stored.error().code != StoreErrc::not_found) {
    return make_error(ErrorCode::io, stored.error().message);
  }
  if (!stored) {
    auto made = webpush::make_vapid_keys();
    if (!made) return made.error();
    const SecretBytes blob = webpush::to_stored(made.value());
    const std::string value(reinterpret_cast<const char*>(blob.data()), blob.size());
    stored = store.put_setting_if_absent(kVapidSetting, value);
    if (!stored) return make_error(ErrorCode::io, stored.error().message);
  }
  SecretBytes blob(reinterpret_cast<const std::uint8_t*>(stored->data()), stored->size());
  std::fill(stored->begin(), stored->end(), '\0');
  return webpush::from_stored(blob.span());
}

bool is_acceptable_push_endpoint(std::string_view endpoint, bool allow_http_loopback) {
  if (endpoint.size() > kMaxEndpointBytes) return false;
  for (const char c : endpoint) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f || c == '#') return false;
  }
  const std::string origin = webpush::endpoint_origin(endpoint);
  if (origin.empty()) return false;
  if (origin.starts_with("https://")) return true;
  return allow_http_loopback && is_loopback_authority(std::string_view(origin).substr(7));
}

std::string vapid_subject(std::string_view public_url) {
  if (public_url.starts_with("https://")) return webpush::endpoint_origin(public_url);
  return "mailto:twostepd@localhost";
}

std::string push_payload(std::string_view challenge_id, std::int64_t suppressed) {
  nlohmann::json j{{"type", "challenge"}, {"id", std::string(challenge_id)}};
  if (suppressed > 0) j["suppressed"] = suppressed;
  return j.dump();
}

// One subscription's push: the easy handle and what it points to, alive
// until the transfer ends.
struct PushSender::Send {
  std::unique_ptr<CURL, CurlFree> curl;
  std::unique_ptr<curl_slist, SlistFree> headers;
  std::string body;
  std::string answer;
  std::string endpoint;
  std::string origin;  // the endpoint is a capability URL: only this is logged
  std::string user_key;
  bool allow_internal = false;
};

struct PushSender::Work {
  struct Queued {
    std::string user_key;  // host id and user: whose share the send takes
    PushSubscription to;
    std::string payload;
  };
  std::deque<Queued> waiting;
  std::map<CURL*, std::unique_ptr<Send>> running;
  std::map<std::string, std::size_t> running_per_user;
};

PushSender::PushSender(Store& store, webpush::VapidKeys keys, PushOptions options, LogLine log)
    : store_(store), keys_(std::move(keys)), options_(std::move(options)), log_(std::move(log)) {
  // Once per process, before any other thread uses libcurl.
  static std::once_flag curl_ready;
  std::call_once(curl_ready, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  options_.max_in_flight = std::max<std::size_t>(options_.max_in_flight, 1);
  options_.max_in_flight_per_user = std::max<std::size_t>(options_.max_in_flight_per_user, 1);
  multi_.reset(curl_multi_init());
  if (!multi_) {
    log_("twostepd: push: curl_multi_init failed; Web Push off");
    return;
  }
  worker_ = std::thread([this] { run(); });
}

PushSender::~PushSender() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  if (multi_) curl_multi_wakeup(multi_.get());
  if (worker_.joinable()) worker_.join();
}

void PushSender::notify(const ChallengeRecord& c, const std::vector<PhoneNotice>& phones) {
  {
    std::lock_guard lock(mu_);
    if (stopping_ || !multi_) return;
    if (queue_.size() >= options_.max_queue) {
      log_("twostepd: push: queue full, no notification for challenge=" + log_value(c.challenge_id));
      ended(false);
      return;
    }
    queue_.push_back(Notice{c, phones});
  }
  curl_multi_wakeup(multi_.get());
}

// The worker: take new challenges, start what the caps allow, let libcurl
// run every transfer, collect the finished ones; sleep until a transfer
// has news or notify() wakes it. Stopping drops what has not finished.
void PushSender::run() {
  Work work;
  for (;;) {
    std::deque<Notice> arrived;
    {
      std::lock_guard lock(mu_);
      if (stopping_) break;
      arrived.swap(queue_);
    }
    for (const auto& c : arrived) queue_sends(work, c);
    start_sends(work);
    int still_running = 0;
    curl_multi_perform(multi_.get(), &still_running);
    finish_sends(work);
    curl_multi_poll(multi_.get(), nullptr, 0, kPollMs, nullptr);
  }
  for (auto& [easy, send] : work.running) curl_multi_remove_handle(multi_.get(), easy);
}

void PushSender::queue_sends(Work& work, const Notice& notice) {
  const ChallengeRecord& c = notice.challenge;
  for (const auto& phone : notice.phones) {
    auto subs = store_.push_subscriptions(phone.api_key_id);
    if (!subs) {
      log_("twostepd: push: " + subs.error().message);
      continue;
    }
    const std::string payload = push_payload(c.challenge_id, phone.suppressed_before);
    for (auto& sub : subs.value()) {
      if (work.waiting.size() >= options_.max_queue) {
        log_("twostepd: push: queue full, no notification for challenge=" +
             log_value(c.challenge_id));
        ended(false);
        return;
      }
      work.waiting.push_back({c.host_id + "\n" + c.user, std::move(sub), payload});
    }
  }
}

// Oldest first, skipping a user whose share is taken (they wait for their
// own sends, not for everyone's).
void PushSender::start_sends(Work& work) {
  for (auto it = work.waiting.begin();
       it != work.waiting.end() && work.running.size() < options_.max_in_flight;) {
    std::size_t& mine = work.running_per_user[it->user_key];
    if (mine >= options_.max_in_flight_per_user) {
      ++it;
      continue;
    }
    auto send = prepare(it->to, it->payload);
    if (send) {
      send->user_key = it->user_key;
      CURL* easy = send->curl.get();
      if (curl_multi_add_handle(multi_.get(), easy) == CURLM_OK) {
        ++mine;
        work.running.emplace(easy, std::move(send));
      } else {
        log_("twostepd: push: to " + log_value(send->origin) + ": cannot start the transfer");
        ended(false);
      }
    }
    if (mine == 0) work.running_per_user.erase(it->user_key);
    it = work.waiting.erase(it);
  }
}

void PushSender::finish_sends(Work& work) {
  int left = 0;
  while (CURLMsg* msg = curl_multi_info_read(multi_.get(), &left)) {
    if (msg->msg != CURLMSG_DONE) continue;
    CURL* easy = msg->easy_handle;
    const CURLcode rc = msg->data.result;
    curl_multi_remove_handle(multi_.get(), easy);
    auto found = work.running.find(easy);
    if (found == work.running.end()) continue;
    std::unique_ptr<Send> send = std::move(found->second);
    work.running.erase(found);
    if (auto user = work.running_per_user.find(send->user_key);
        user != work.running_per_user.end() && --user->second == 0) {
      work.running_per_user.erase(user);
    }
    finish(*send, static_cast<int>(rc));
  }
}

// The easy handle for one push, or null (logged) if it cannot be made.
std::unique_ptr<PushSender::Send> PushSender::prepare(const PushSubscription& to,
                                                      const std::string& payload) {
  auto send = std::make_unique<Send>();
  send->endpoint = to.endpoint;
  send->origin = webpush::endpoint_origin(to.endpoint);
  auto fail = [&](const std::string& why) {
    log_("twostepd: push: to " + log_value(send->origin) + ": " + why);
    ended(false);
    return nullptr;
  };
  if (!accepts(to.endpoint)) return fail("endpoint refused");
  auto body = webpush::encrypt(payload, webpush::SubscriptionKeys{to.p256dh, to.auth});
  if (!body) return fail(body.error().message);
  send->body = std::move(body.value());
  // Push services refuse a JWT that lives longer than 24 h; 12 h is usual.
  auto authorization =
      webpush::vapid_authorization(keys_, send->origin, wall_seconds() + 12 * 3600, options_.subject);
  if (!authorization) return fail(authorization.error().message);
  send->curl.reset(curl_easy_init());
  if (!send->curl) return fail("curl_easy_init failed");
  for (const std::string& h :
       {std::string("Content-Type: application/octet-stream"),
        std::string("Content-Encoding: aes128gcm"), "TTL: " + std::to_string(options_.ttl_seconds),
        std::string("Urgency: high"), "Authorization: " + authorization.value()}) {
    curl_slist* next = curl_slist_append(send->headers.get(), h.c_str());
    if (!next) return fail("out of memory");
    (void)send->headers.release();
    send->headers.reset(next);
  }
  CURL* h = send->curl.get();
  curl_easy_setopt(h, CURLOPT_URL, send->endpoint.c_str());
  curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(h, CURLOPT_PROXY, "");  // no proxy from the environment
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  send->allow_internal = options_.allow_http_loopback;  // development: everything is local
  curl_easy_setopt(h, CURLOPT_OPENSOCKETFUNCTION, open_public_socket);
  curl_easy_setopt(h, CURLOPT_OPENSOCKETDATA, &send->allow_internal);
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, options_.connect_timeout_ms);
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, options_.total_timeout_ms);
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, send->headers.get());
  curl_easy_setopt(h, CURLOPT_POSTFIELDS, send->body.data());
  curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, static_cast<long>(send->body.size()));
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, keep_some);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &send->answer);
  return send;
}

// Logs the push service's answer; prunes a subscription that is gone.
void PushSender::finish(Send& send, int curl_code) {
  const std::string origin = log_value(send.origin);
  const auto rc = static_cast<CURLcode>(curl_code);
  if (rc != CURLE_OK) {
    log_("twostepd: push: to " + origin + ": " + curl_easy_strerror(rc));
    ended(false);
    return;
  }
  long status = 0;
  curl_easy_getinfo(send.curl.get(), CURLINFO_RESPONSE_CODE, &status);
  ended(status >= 200 && status <= 299);
  if (status == 404 || status == 410) {
    auto removed = store_.delete_push_subscription(send.endpoint);
    log_("twostepd: push: to " + origin + ": HTTP " + std::to_string(status) +
         ", subscription gone" + (removed ? ", removed" : ": " + removed.error().message));
  } else if (status < 200 || status > 299) {
    log_("twostepd: push: to " + origin + ": HTTP " + std::to_string(status));
  }
}

}  // namespace twostep::relay
