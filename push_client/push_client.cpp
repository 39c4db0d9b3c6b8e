// libtwostep-push: signed HTTPS requests to the relay (twostep_push.h), one
// at a time, or several on one kept-alive connection through a session.
//
// Transport rules (issue 13, docs/protocol.md section 2): HTTPS, plain HTTP
// only to a loopback address; no redirects; the CA file or a pinned key; an
// explicit proxy or none, environment proxies ignored; connect and total
// timeouts; a response size cap; no signals (CURLOPT_NOSIGNAL), since a PAM
// module must not disturb its host's SIGALRM.
#include "twostep_push.h"

#include <curl/curl.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <memory>
#include <string>
#include <string_view>

#include "twostep/push_protocol.hpp"
#include "twostep/secret.hpp"

namespace {

namespace push = twostep::push;

constexpr long kMaxTimeoutMs = 10 * 60 * 1000;
// A kept-alive connection idle longer than this is not reused: well below
// twostepd's idle timeout (60 s by default), so that the relay has rarely
// closed it when the next request goes out.
constexpr long kMaxIdleReuseS = 5;

struct EasyFree {
  void operator()(CURL* p) const noexcept { curl_easy_cleanup(p); }
};
struct SlistFree {
  void operator()(curl_slist* p) const noexcept { curl_slist_free_all(p); }
};
struct UrlFree {
  void operator()(CURLU* p) const noexcept { curl_url_cleanup(p); }
};
struct CurlStringFree {
  void operator()(char* p) const noexcept { curl_free(p); }
};

void set_message(twostep_push_response* response, std::string_view text) noexcept {
  const std::size_t n = std::min(text.size(), sizeof(response->message) - 1);
  std::memcpy(response->message, text.data(), n);
  response->message[n] = '\0';
}

struct Sink {
  std::string body;
  std::size_t limit = 0;
  bool overflow = false;
};

extern "C" std::size_t write_body(char* data, std::size_t size, std::size_t count,
                                  void* user) noexcept {
  auto* sink = static_cast<Sink*>(user);
  const std::size_t bytes = size * count;
  if (bytes > sink->limit - sink->body.size()) {
    sink->overflow = true;
    return 0;  // aborts the transfer (CURLE_WRITE_ERROR)
  }
  try {
    sink->body.append(data, bytes);
  } catch (...) {
    return 0;
  }
  return bytes;
}

bool is_loopback_host(std::string_view host) {
  if (host == "localhost" || host == "[::1]" || host == "::1") return true;
  // 127.0.0.0/8, as dotted decimal only.
  return host.starts_with("127.") && host.find_first_not_of("0123456789.") == std::string_view::npos;
}

// "https://..." anywhere, "http://..." only to loopback; no user info, query
// or fragment in the base URL.
bool check_relay_url(const char* url, std::string& why) {
  std::unique_ptr<CURLU, UrlFree> parsed(curl_url());
  if (!parsed || curl_url_set(parsed.get(), CURLUPART_URL, url, 0) != CURLUE_OK) {
    why = "relay URL does not parse";
    return false;
  }
  char* raw = nullptr;
  if (curl_url_get(parsed.get(), CURLUPART_SCHEME, &raw, 0) != CURLUE_OK) {
    why = "relay URL has no scheme";
    return false;
  }
  std::unique_ptr<char, CurlStringFree> scheme(raw);
  raw = nullptr;
  if (curl_url_get(parsed.get(), CURLUPART_HOST, &raw, 0) != CURLUE_OK) {
    why = "relay URL has no host";
    return false;
  }
  std::unique_ptr<char, CurlStringFree> host(raw);
  for (const auto part : {CURLUPART_USER, CURLUPART_QUERY, CURLUPART_FRAGMENT}) {
    raw = nullptr;
    if (curl_url_get(parsed.get(), part, &raw, 0) == CURLUE_OK) {
      curl_free(raw);
      why = "relay URL must not have user info, a query or a fragment";
      return false;
    }
  }
  const std::string_view s(scheme.get());
  if (s == "https") return true;
  if (s == "http" && is_loopback_host(host.get())) return true;
  why = "relay URL must be https:// (http:// only to a loopback address)";
  return false;
}

// What one request checks before it touches libcurl; TWOSTEP_PUSH_OK or
// the refusal (with its message set).
int check_request(const twostep_push_settings& settings, const twostep_push_request& request,
                  twostep_push_response* response) {
  if (settings.abi_version != TWOSTEP_PUSH_ABI_VERSION ||
      request.abi_version != TWOSTEP_PUSH_ABI_VERSION) {
    set_message(response, "ABI version mismatch");
    return TWOSTEP_PUSH_INVALID;
  }
  if (!settings.relay_url || !request.method || !request.path ||
      settings.connect_timeout_ms <= 0 || request.total_timeout_ms <= 0 ||
      request.total_timeout_ms > kMaxTimeoutMs || settings.max_response_bytes == 0 ||
      (request.body == nullptr && request.body_len != 0)) {
    set_message(response, "incomplete settings or request");
    return TWOSTEP_PUSH_INVALID;
  }
  const std::string_view method(request.method);
  if (method != "POST" && method != "DELETE" && method != "GET") {
    set_message(response, "unsupported method");
    return TWOSTEP_PUSH_INVALID;
  }
  std::string why;
  if (!check_relay_url(settings.relay_url, why)) {
    set_message(response, why);
    return TWOSTEP_PUSH_INVALID;
  }
  return TWOSTEP_PUSH_OK;
}

class Headers {
 public:
  bool add(const std::string& line) {
    curl_slist* next = curl_slist_append(list_.get(), line.c_str());
    if (!next) return false;
    (void)list_.release();
    list_.reset(next);
    return true;
  }
  curl_slist* get() const { return list_.get(); }

 private:
  std::unique_ptr<curl_slist, SlistFree> list_;
};

// The request's headers, signed as a host request (protocol section 3)
// when the settings name a host; TWOSTEP_PUSH_OK or the refusal.
int make_headers(const twostep_push_settings& settings, const twostep_push_request& request,
                 std::string_view query, std::string_view body, Headers& headers,
                 twostep_push_response* response) {
  bool ok = headers.add("Content-Type: application/json") &&
            headers.add("Accept: application/json") && headers.add("Expect:");
  if (settings.host_id) {
    if (!settings.host_secret || settings.host_secret_len != push::kHostSecretBytes) {
      set_message(response, "host secret must be 32 bytes");
      return TWOSTEP_PUSH_INVALID;
    }
    auto nonce = push::random_b64u(push::kNonceBytes);
    if (!nonce) {
      set_message(response, "no randomness for the request nonce");
      return TWOSTEP_PUSH_UNAVAILABLE;
    }
    const std::string timestamp = std::to_string(static_cast<long long>(std::time(nullptr)));
    const twostep::SecretBytes secret(settings.host_secret, settings.host_secret_len);
    const push::SignedRequest signed_request{request.method, request.path, query, body,
                                             timestamp,      *nonce,       settings.host_id};
    auto signature = push::sign_host_request(secret, signed_request);
    if (!signature) {
      set_message(response, "cannot sign the request: " + signature.error().message);
      return TWOSTEP_PUSH_INVALID;
    }
    ok = ok && headers.add(std::string("X-Twostep-Host: ") + settings.host_id) &&
         headers.add("X-Twostep-Timestamp: " + timestamp) &&
         headers.add("X-Twostep-Nonce: " + *nonce) &&
         headers.add("X-Twostep-Signature: " + *signature);
  }
  if (!ok) {
    set_message(response, "out of memory");
    return TWOSTEP_PUSH_UNAVAILABLE;
  }
  return TWOSTEP_PUSH_OK;
}

// One request's state on a handle: the body so far, and how many times
// libcurl sent the request (it sends it again, with the same headers, on a
// fresh connection when a reused one dies before any answer).
struct Transfer {
  Sink sink;
  int attempts = 0;
};

extern "C" int count_attempt(void* user, char*, char*, int, int) noexcept {
  ++static_cast<Transfer*>(user)->attempts;
  return CURL_PREREQFUNC_OK;
}

// Every option, from libcurl's defaults (the handle was reset): only the
// kept-alive connection carries over from the request before.
bool set_options(CURL* e, const twostep_push_settings& settings,
                 const twostep_push_request& request, const std::string& url,
                 std::string_view body, const Headers& headers, Transfer& transfer) {
  bool set = true;
  auto opt = [&](CURLcode code) { set = set && code == CURLE_OK; };
  opt(curl_easy_setopt(e, CURLOPT_URL, url.c_str()));
  opt(curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "https,http"));
  opt(curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L));
  opt(curl_easy_setopt(e, CURLOPT_MAXREDIRS, 0L));
  opt(curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L));
  // "" disables every proxy, including http_proxy/https_proxy/ALL_PROXY.
  opt(curl_easy_setopt(e, CURLOPT_PROXY, settings.proxy ? settings.proxy : ""));
  opt(curl_easy_setopt(e, CURLOPT_NOPROXY, settings.proxy ? "" : "*"));
  opt(curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, settings.connect_timeout_ms));
  opt(curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, request.total_timeout_ms));
  opt(curl_easy_setopt(e, CURLOPT_MAXAGE_CONN, kMaxIdleReuseS));
  opt(curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L));
  opt(curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L));
  if (settings.ca_file) opt(curl_easy_setopt(e, CURLOPT_CAINFO, settings.ca_file));
  if (settings.pinned_key) opt(curl_easy_setopt(e, CURLOPT_PINNEDPUBLICKEY, settings.pinned_key));
  opt(curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE,
                       static_cast<curl_off_t>(settings.max_response_bytes)));
  opt(curl_easy_setopt(e, CURLOPT_HTTPHEADER, headers.get()));
  opt(curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, &write_body));
  opt(curl_easy_setopt(e, CURLOPT_WRITEDATA, &transfer.sink));
  opt(curl_easy_setopt(e, CURLOPT_PREREQFUNCTION, &count_attempt));
  opt(curl_easy_setopt(e, CURLOPT_PREREQDATA, &transfer));
  opt(curl_easy_setopt(e, CURLOPT_USERAGENT, "libtwostep-push/1"));
  const std::string_view method(request.method);
  if (method == "POST") {
    opt(curl_easy_setopt(e, CURLOPT_POST, 1L));
    opt(curl_easy_setopt(e, CURLOPT_POSTFIELDS, body.data()));
    opt(curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size())));
  } else if (method == "DELETE") {
    opt(curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, "DELETE"));
  }
  return set;
}

// The relay saw the first sending of a request that libcurl sent again (a
// reused connection died after the request went out): the second one
// carries the same nonce. Without connection reuse that would have been no
// answer, so it stays one.
bool replay_of_own_retry(const Transfer& transfer, long status) {
  return transfer.attempts > 1 && status == 401 &&
         transfer.sink.body.find("\"replayed_nonce\"") != std::string::npos;
}

// The answer as the caller gets it; TWOSTEP_PUSH_OK or why there is none.
// An answer the relay did give but that cannot be used (a redirect, too
// large, an impossible status) keeps its status in http_status, so the
// caller can tell it from no answer at all (http_status 0): the first is
// the relay's doing, the second may be an outage.
int finish(CURL* e, CURLcode result, const Transfer& transfer, twostep_push_response* response) {
  const Sink& sink = transfer.sink;
  long status = 0;
  curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
  if (result != CURLE_OK) {
    if (sink.overflow || result == CURLE_FILESIZE_EXCEEDED) {
      set_message(response, "response larger than " + std::to_string(sink.limit) + " bytes");
      response->http_status = status;
    } else {
      set_message(response, curl_easy_strerror(result));
    }
    return TWOSTEP_PUSH_UNAVAILABLE;
  }
  if (status >= 300 && status < 400) {
    set_message(response, "the relay answered with a redirect (not followed)");
    response->http_status = status;
    return TWOSTEP_PUSH_UNAVAILABLE;
  }
  if (status < 200 || status > 599) {
    set_message(response, "no valid HTTP status");
    response->http_status = status;
    return TWOSTEP_PUSH_UNAVAILABLE;
  }
  if (replay_of_own_retry(transfer, status)) {
    set_message(response, "the connection to the relay closed before its answer");
    return TWOSTEP_PUSH_UNAVAILABLE;
  }
  auto* copy = static_cast<char*>(std::malloc(sink.body.size() + 1));
  if (!copy) {
    set_message(response, "out of memory");
    return TWOSTEP_PUSH_UNAVAILABLE;
  }
  std::memcpy(copy, sink.body.data(), sink.body.size());
  copy[sink.body.size()] = '\0';
  response->http_status = status;
  response->body = copy;
  response->body_len = sink.body.size();
  return TWOSTEP_PUSH_OK;
}

// One request on `e`, whose options are reset first; its connection cache
// stays, so a second request to the same relay reuses the connection.
int perform(CURL* e, const twostep_push_settings& settings, const twostep_push_request& request,
            twostep_push_response* response) {
  if (const int refused = check_request(settings, request, response)) return refused;
  std::string base(settings.relay_url);
  while (!base.empty() && base.back() == '/') base.pop_back();
  const std::string_view query = request.query ? request.query : "";
  std::string url = base + request.path;
  if (!query.empty()) url += "?" + std::string(query);
  const std::string_view body(request.body ? request.body : "", request.body_len);
  Headers headers;
  if (const int refused = make_headers(settings, request, query, body, headers, response)) {
    return refused;
  }
  curl_easy_reset(e);
  Transfer transfer;
  transfer.sink.limit = settings.max_response_bytes;
  if (!set_options(e, settings, request, url, body, headers, transfer)) {
    set_message(response, "libcurl refused an option (too old?)");
    return TWOSTEP_PUSH_INVALID;
  }
  const CURLcode result = curl_easy_perform(e);
  const int rc = finish(e, result, transfer, response);
  // The handle keeps no pointer into this frame for the next request.
  curl_easy_reset(e);
  return rc;
}

void clear(twostep_push_response* response) noexcept {
  response->http_status = 0;
  response->body = nullptr;
  response->body_len = 0;
  response->message[0] = '\0';
}

// The entry points' common frame: no exception crosses into C.
template <class Run>
int guarded(const twostep_push_settings* settings, const twostep_push_request* request,
            twostep_push_response* response, Run run) noexcept {
  if (!response) return TWOSTEP_PUSH_INVALID;
  clear(response);
  if (!settings || !request) {
    set_message(response, "missing settings or request");
    return TWOSTEP_PUSH_INVALID;
  }
  try {
    return run();
  } catch (...) {
    set_message(response, "internal error in libtwostep-push");
    return TWOSTEP_PUSH_UNAVAILABLE;
  }
}

}  // namespace

// One libcurl handle for the requests of one login.
struct twostep_push_session {
  std::unique_ptr<CURL, EasyFree> easy;
};

extern "C" {

__attribute__((visibility("default"))) unsigned twostep_push_abi_version(void) {
  return TWOSTEP_PUSH_ABI_VERSION;
}

__attribute__((visibility("default"))) int twostep_push_perform(
    const twostep_push_settings* settings, const twostep_push_request* request,
    twostep_push_response* response) {
  return guarded(settings, request, response, [&] {
    std::unique_ptr<CURL, EasyFree> easy(curl_easy_init());
    if (!easy) {
      set_message(response, "curl_easy_init failed");
      return static_cast<int>(TWOSTEP_PUSH_UNAVAILABLE);
    }
    return perform(easy.get(), *settings, *request, response);
  });
}

__attribute__((visibility("default"))) void twostep_push_response_free(
    twostep_push_response* response) {
  if (!response) return;
  std::free(response->body);
  response->body = nullptr;
  response->body_len = 0;
}

__attribute__((visibility("default"))) twostep_push_session* twostep_push_session_new(void) {
  try {
    std::unique_ptr<CURL, EasyFree> easy(curl_easy_init());
    if (!easy) return nullptr;
    return new twostep_push_session{std::move(easy)};
  } catch (...) {
    return nullptr;
  }
}

__attribute__((visibility("default"))) int twostep_push_session_perform(
    twostep_push_session* session, const twostep_push_settings* settings,
    const twostep_push_request* request, twostep_push_response* response) {
  return guarded(settings, request, response, [&] {
    if (!session || !session->easy) {
      set_message(response, "missing session");
      return static_cast<int>(TWOSTEP_PUSH_INVALID);
    }
    return perform(session->easy.get(), *settings, *request, response);
  });
}

__attribute__((visibility("default"))) void twostep_push_session_free(
    twostep_push_session* session) {
  delete session;  // closes its connections
}

}  // extern "C"
