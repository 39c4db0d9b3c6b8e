// libtwostep-push sessions: the requests of one login share one kept-alive
// connection. The built library is dlopened as pam_twostep does, and talks
// plain HTTP to a scripted relay on loopback that counts the connections it
// accepts.
#include <arpa/inet.h>
#include <dlfcn.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

extern "C" {
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
}

#include "twostep_push.h"

namespace {

// What the scripted relay does with one request.
enum class Reply {
  keep,   // answers and keeps the connection
  close,  // answers with "Connection: close" and closes
  drop,   // reads the request and closes without an answer
};

struct Step {
  Reply reply;
  int status = 200;
  std::string body = "{}";
};

struct Seen {
  std::string request_line;
  std::string nonce;  // X-Twostep-Nonce
};

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

// The value of header `name` (lower case) in `head`, or "".
std::string header_value(const std::string& head, const std::string& name) {
  const std::string low = lower(head);
  const auto at = low.find("\r\n" + name + ":");
  if (at == std::string::npos) return {};
  auto start = at + 3 + name.size();
  while (start < head.size() && head[start] == ' ') ++start;
  return head.substr(start, head.find("\r\n", start) - start);
}

class LoopbackRelay {
 public:
  explicit LoopbackRelay(std::vector<Step> script) : script_(std::move(script)) {
    listen_fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (listen_fd_ < 0 || bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), len) != 0 ||
        listen(listen_fd_, 8) != 0 ||
        getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      fail_msg("cannot listen on loopback: %s", std::strerror(errno));
    }
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { run(); });
  }

  ~LoopbackRelay() {
    shutdown(listen_fd_, SHUT_RDWR);  // ends the accept
    thread_.join();
    close(listen_fd_);
  }

  LoopbackRelay(const LoopbackRelay&) = delete;
  LoopbackRelay& operator=(const LoopbackRelay&) = delete;

  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  int connections() const { return connections_; }
  std::vector<Seen> seen() {
    std::lock_guard lock(mu_);
    return seen_;
  }

 private:
  void run() {
    for (;;) {
      const int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) return;
      ++connections_;
      timeval limit{10, 0};  // a broken client fails the test instead of hanging it
      setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
      serve(fd);
      close(fd);
    }
  }

  // Requests on one connection until the client or the script closes it.
  void serve(int fd) {
    std::string buffer;
    for (;;) {
      const auto end = read_until_head(fd, buffer);
      if (end == std::string::npos) return;
      const std::string head = buffer.substr(0, end);
      const std::size_t body_len = std::stoul("0" + header_value(head, "content-length"));
      if (!read_at_least(fd, buffer, end + 4 + body_len)) return;
      buffer.erase(0, end + 4 + body_len);
      const Step step = next(head);
      if (step.reply == Reply::drop) return;
      const bool keep = step.reply == Reply::keep;
      const std::string answer = "HTTP/1.1 " + std::to_string(step.status) +
                                 " X\r\nContent-Type: application/json\r\nContent-Length: " +
                                 std::to_string(step.body.size()) +
                                 (keep ? "\r\n\r\n" : "\r\nConnection: close\r\n\r\n") + step.body;
      if (write(fd, answer.data(), answer.size()) != static_cast<ssize_t>(answer.size())) return;
      if (!keep) return;
    }
  }

  Step next(const std::string& head) {
    std::lock_guard lock(mu_);
    seen_.push_back({head.substr(0, head.find("\r\n")), header_value(head, "x-twostep-nonce")});
    if (seen_.size() > script_.size()) return Step{Reply::close, 500, "{}"};
    return script_[seen_.size() - 1];
  }

  static std::size_t read_until_head(int fd, std::string& buffer) {
    for (;;) {
      if (auto end = buffer.find("\r\n\r\n"); end != std::string::npos) return end;
      if (!read_some(fd, buffer)) return std::string::npos;
    }
  }

  static bool read_at_least(int fd, std::string& buffer, std::size_t n) {
    while (buffer.size() < n) {
      if (!read_some(fd, buffer)) return false;
    }
    return true;
  }

  static bool read_some(int fd, std::string& buffer) {
    char chunk[4096];
    const ssize_t n = read(fd, chunk, sizeof chunk);
    if (n <= 0) return false;
    buffer.append(chunk, static_cast<std::size_t>(n));
    return true;
  }

  std::vector<Step> script_;
  int listen_fd_ = -1;
  unsigned short port_ = 0;
  std::thread thread_;
  std::atomic<int> connections_{0};
  std::mutex mu_;
  std::vector<Seen> seen_;
};

// The library's entry points, looked up as the module looks them up.
struct Library {
  void* handle = nullptr;
  twostep_push_perform_fn perform = nullptr;
  twostep_push_response_free_fn release = nullptr;
  twostep_push_session_new_fn session_new = nullptr;
  twostep_push_session_perform_fn session_perform = nullptr;
  twostep_push_session_free_fn session_free = nullptr;
};

Library& library() {
  static Library lib = [] {
    Library l;
    l.handle = dlopen(TWOSTEP_PUSH_LIBRARY, RTLD_NOW | RTLD_LOCAL);
    if (!l.handle) fail_msg("dlopen: %s", dlerror());
    l.perform = reinterpret_cast<twostep_push_perform_fn>(dlsym(l.handle, "twostep_push_perform"));
    l.release = reinterpret_cast<twostep_push_response_free_fn>(
        dlsym(l.handle, "twostep_push_response_free"));
    // The session functions carry their own symbol version.
    l.session_new = reinterpret_cast<twostep_push_session_new_fn>(
        dlvsym(l.handle, "twostep_push_session_new", "TWOSTEP_PUSH_1.1"));
    l.session_perform = reinterpret_cast<twostep_push_session_perform_fn>(
        dlvsym(l.handle, "twostep_push_session_perform", "TWOSTEP_PUSH_1.1"));
    l.session_free = reinterpret_cast<twostep_push_session_free_fn>(
        dlvsym(l.handle, "twostep_push_session_free", "TWOSTEP_PUSH_1.1"));
    return l;
  }();
  return lib;
}

const unsigned char kHostSecret[32] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
                                       17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30,
                                       31, 32};

twostep_push_settings settings_for(const std::string& url) {
  twostep_push_settings s{};
  s.abi_version = TWOSTEP_PUSH_ABI_VERSION;
  s.relay_url = url.c_str();
  s.host_id = "AAAAAAAAAAAAAAAAAAAAAA";
  s.host_secret = kHostSecret;
  s.host_secret_len = sizeof kHostSecret;
  s.connect_timeout_ms = 5000;
  s.max_response_bytes = 4096;
  return s;
}

twostep_push_request request_for(const char* method, const char* path, const char* body) {
  twostep_push_request r{};
  r.abi_version = TWOSTEP_PUSH_ABI_VERSION;
  r.method = method;
  r.path = path;
  r.body = body;
  r.body_len = body ? std::strlen(body) : 0;
  r.total_timeout_ms = 10000;
  return r;
}

struct Answer {
  int rc = -1;
  long status = 0;
  std::string body;
  std::string message;
};

// One request: on `session`, or one-shot when it is null.
Answer call(twostep_push_session* session, const std::string& url, const char* method,
            const char* path, const char* body = nullptr) {
  const auto s = settings_for(url);
  const auto r = request_for(method, path, body);
  twostep_push_response response{};
  response.abi_version = TWOSTEP_PUSH_ABI_VERSION;
  Library& lib = library();
  Answer a;
  a.rc = session ? lib.session_perform(session, &s, &r, &response)
                 : lib.perform(&s, &r, &response);
  a.status = response.http_status;
  if (response.body) a.body.assign(response.body, response.body_len);
  a.message = response.message;
  lib.release(&response);
  return a;
}

// A login's exchange: the create and the long-poll, on one connection.
void session_keeps_one_connection(void**) {
  LoopbackRelay relay({{Reply::keep, 201, R"({"id":"x","expires":1})"},
                       {Reply::keep, 200, R"({"id":"x","status":"pending"})"}});
  Library& lib = library();
  assert_non_null(lib.session_new);
  twostep_push_session* session = lib.session_new();
  assert_non_null(session);
  const Answer created = call(session, relay.url(), "POST", "/v1/challenges", "{}");
  const Answer polled = call(session, relay.url(), "GET", "/v1/challenges/x");
  lib.session_free(session);
  assert_int_equal(created.rc, TWOSTEP_PUSH_OK);
  assert_int_equal(created.status, 201);
  assert_string_equal(created.body.c_str(), R"({"id":"x","expires":1})");
  assert_int_equal(polled.rc, TWOSTEP_PUSH_OK);
  assert_int_equal(polled.status, 200);
  assert_int_equal(relay.seen().size(), 2);
  assert_string_equal(relay.seen()[1].request_line.c_str(), "GET /v1/challenges/x HTTP/1.1");
  assert_int_equal(relay.connections(), 1);
}

// The call without a session is unchanged: one connection per request.
void one_shot_call_connects_each_time(void**) {
  LoopbackRelay relay({{Reply::keep}, {Reply::keep}});
  assert_int_equal(call(nullptr, relay.url(), "POST", "/v1/challenges", "{}").rc, TWOSTEP_PUSH_OK);
  assert_int_equal(call(nullptr, relay.url(), "GET", "/v1/challenges/x").rc, TWOSTEP_PUSH_OK);
  assert_int_equal(relay.connections(), 2);
}

// A relay that closes the connection: the session connects again.
void session_connects_again_after_close(void**) {
  LoopbackRelay relay({{Reply::close}, {Reply::keep, 200, R"({"n":2})"}});
  twostep_push_session* session = library().session_new();
  assert_int_equal(call(session, relay.url(), "GET", "/v1/challenges/x").rc, TWOSTEP_PUSH_OK);
  const Answer second = call(session, relay.url(), "GET", "/v1/challenges/x");
  library().session_free(session);
  assert_int_equal(second.rc, TWOSTEP_PUSH_OK);
  assert_string_equal(second.body.c_str(), R"({"n":2})");
  assert_int_equal(relay.connections(), 2);
}

// The kept connection dies after the request went out (the relay may have
// seen it): libcurl sends it again on a new connection with the same nonce.
// The relay's replayed_nonce is not passed on as a refusal: without the kept
// connection this was no answer, and so it stays.
void resent_request_refused_as_replay_is_no_answer(void**) {
  LoopbackRelay relay(
      {{Reply::keep},
       {Reply::drop},
       {Reply::keep, 401, R"({"error":"replayed_nonce","message":"nonce already used"})"}});
  twostep_push_session* session = library().session_new();
  assert_int_equal(call(session, relay.url(), "POST", "/v1/challenges", "{}").rc, TWOSTEP_PUSH_OK);
  const Answer poll = call(session, relay.url(), "GET", "/v1/challenges/x");
  library().session_free(session);
  assert_int_equal(poll.rc, TWOSTEP_PUSH_UNAVAILABLE);
  assert_string_equal(poll.message.c_str(), "the connection to the relay closed before its answer");
  const auto seen = relay.seen();
  assert_int_equal(seen.size(), 3);
  assert_string_equal(seen[1].nonce.c_str(), seen[2].nonce.c_str());
  assert_int_equal(relay.connections(), 2);
}

// The same when the relay had not seen it (it closed the idle connection):
// the answer on the new connection is the answer.
void resent_request_answered_is_the_answer(void**) {
  LoopbackRelay relay({{Reply::keep}, {Reply::drop}, {Reply::keep, 200, R"({"n":3})"}});
  twostep_push_session* session = library().session_new();
  assert_int_equal(call(session, relay.url(), "GET", "/v1/challenges/x").rc, TWOSTEP_PUSH_OK);
  const Answer poll = call(session, relay.url(), "GET", "/v1/challenges/x");
  library().session_free(session);
  assert_int_equal(poll.rc, TWOSTEP_PUSH_OK);
  assert_string_equal(poll.body.c_str(), R"({"n":3})");
  assert_int_equal(relay.connections(), 2);
}

// A refusal by the relay on a first sending stays a refusal.
void refusal_on_kept_connection_is_an_answer(void**) {
  LoopbackRelay relay({{Reply::keep}, {Reply::keep, 401, R"({"error":"replayed_nonce"})"}});
  twostep_push_session* session = library().session_new();
  assert_int_equal(call(session, relay.url(), "GET", "/v1/challenges/x").rc, TWOSTEP_PUSH_OK);
  const Answer refused = call(session, relay.url(), "GET", "/v1/challenges/x");
  library().session_free(session);
  assert_int_equal(refused.rc, TWOSTEP_PUSH_OK);
  assert_int_equal(refused.status, 401);
  assert_int_equal(relay.connections(), 1);
}

void session_checks_its_arguments(void**) {
  Library& lib = library();
  twostep_push_response response{};
  const std::string url = "http://127.0.0.1:1";
  const auto s = settings_for(url);
  const auto r = request_for("GET", "/v1/challenges/x", nullptr);
  assert_int_equal(lib.session_perform(nullptr, &s, &r, &response), TWOSTEP_PUSH_INVALID);
  assert_string_equal(response.message, "missing session");
  lib.session_free(nullptr);
}

}  // namespace

int main() {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(session_keeps_one_connection),
      cmocka_unit_test(one_shot_call_connects_each_time),
      cmocka_unit_test(session_connects_again_after_close),
      cmocka_unit_test(resent_request_refused_as_replay_is_no_answer),
      cmocka_unit_test(resent_request_answered_is_the_answer),
      cmocka_unit_test(refusal_on_kept_connection_is_an_answer),
      cmocka_unit_test(session_checks_its_arguments),
  };
  return cmocka_run_group_tests(tests, nullptr, nullptr);
}
