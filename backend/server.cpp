// The relay's network front end: one io_context thread, one coroutine per
// connection, long-polls and event streams woken by the store's change
// listener. Each request's answer (signature and assertion checks, store
// transactions: the CPU work) is computed on a pool of worker threads while
// the I/O thread goes on serving the other connections; the coroutine
// resumes on the I/O thread, so all of the server's own state below stays
// single-threaded. Limits of protocol section 9 are enforced here (sizes,
// timeouts, connections per address and in all); the service enforces the
// rest.
#include "server.hpp"

#include <sys/resource.h>

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <deque>
#include <list>
#include <memory>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include "pruner.hpp"
#include "push_sender.hpp"
#include "service.hpp"
#include "tls_files.hpp"

namespace twostep::relay {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = net::ssl;
using tcp = net::ip::tcp;
using net::awaitable;
using net::use_awaitable;
using Clock = std::chrono::steady_clock;

constexpr auto kWriteTimeout = std::chrono::seconds(30);
constexpr auto kShutdownGrace = std::chrono::seconds(10);
// Out of descriptors, accepting pauses this long instead of spinning.
constexpr auto kAcceptPause = std::chrono::milliseconds(100);
// Refused connections are logged in one line per period at most.
constexpr auto kRefusalLogPeriod = std::chrono::seconds(10);
// Where the descriptor limit is raised to when the hard limit is unlimited
// (Linux's default fs.nr_open).
constexpr rlim_t kFdCeiling = rlim_t{1} << 20;

struct FdLimit {
  std::int64_t now = 1024;  // the soft limit in force
  std::int64_t was = 1024;  // before twostepd raised it
  std::string problem;      // why it could not be raised or read
};

// Each connection (a held long-poll, an event stream) is a descriptor, and
// the usual soft limit of 1024 would cap the relay near 1,000 waiting
// logins: raise the soft limit to the hard one. Under the shipped unit
// (LimitNOFILE=) both are already equal and nothing is changed.
FdLimit raise_fd_limit() {
  FdLimit out;
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) != 0) {
    out.problem = std::strerror(errno);
    return out;
  }
  const rlim_t target = rl.rlim_max == RLIM_INFINITY ? kFdCeiling : std::min(rl.rlim_max, kFdCeiling);
  const rlim_t soft = rl.rlim_cur == RLIM_INFINITY ? kFdCeiling : rl.rlim_cur;
  out.now = out.was = static_cast<std::int64_t>(soft);
  if (soft >= target) return out;
  rl.rlim_cur = target;
  if (::setrlimit(RLIMIT_NOFILE, &rl) != 0) {
    out.problem = std::strerror(errno);
    return out;
  }
  out.now = static_cast<std::int64_t>(target);
  return out;
}

bool out_of_descriptors(const boost::system::error_code& ec) {
  return ec == boost::system::errc::too_many_files_open ||
         ec == boost::system::errc::too_many_files_open_in_system ||
         ec == boost::system::errc::no_buffer_space || ec == boost::system::errc::not_enough_memory;
}

std::string hsts_value(const RelayConfig& config) {
  if (config.tls_cert.empty() || config.hsts_max_age <= 0) return {};
  return "max-age=" + std::to_string(config.hsts_max_age);
}

Seconds wall_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Something a held request waits on: a timer whose cancellation means
// "look again".
struct Wakeup {
  explicit Wakeup(net::any_io_executor ex) : timer(ex) {}
  net::steady_timer timer;
  std::deque<std::string> changed;  // event streams: challenge ids to look at
  bool replaced = false;            // event streams: closed for a newer one
  // Long-polls: when this instance learned of the first change (the
  // decision -> answer metric).
  std::optional<Clock::time_point> changed_at;
};

// Event streams (protocol 8.2): a phone needs one; a few more cover
// reconnects that the old connection has not noticed yet. The newest win:
// a device's fifth stream closes its oldest. One address holds at most
// kMaxStreamsPerAddress (429 beyond), so one device or one address cannot
// make every push round wake a thousand streams.
constexpr std::size_t kMaxStreamsPerDevice = 4;
constexpr std::size_t kMaxStreamsPerAddress = 32;

class Server {
 public:
  Server(const RelayConfig& config, Store& store, std::function<void(const std::string&)> log)
      : config_(config),
        store_(store),
        log_(std::move(log)),
        service_(store, config, wall_now, log_),
        workers_(worker_count(config)),
        hsts_(hsts_value(config)),
        acceptor_(ioc_),
        metrics_acceptor_(ioc_),
        spare_(ioc_),
        accept_pause_(ioc_),
        signals_(ioc_, SIGTERM, SIGINT),
        hup_(ioc_, SIGHUP),
        tick_(ioc_) {}

  int run() {
    if (!config_.tls_cert.empty() && !load_tls()) return 1;
    size_connections();
    if (!open_acceptor() || !open_metrics_acceptor()) return 1;
    start_push();
    store_.set_call_observer([this](double seconds, bool failed) {
      service_.metrics().store_call(seconds, failed);
    });
    store_.set_change_listener([this](ChangeKind kind, const std::string& id) {
      const auto at = Clock::now();
      net::post(ioc_, [this, kind, id, at] { wake(kind, id, at); });
    });
    signals_.async_wait([this](const beast::error_code& ec, int) {
      if (!ec) begin_shutdown();
    });
    watch_hup();
    net::co_spawn(ioc_, expire_loop(), net::detached);
    net::co_spawn(ioc_, accept_loop(), net::detached);
    if (metrics_acceptor_.is_open()) net::co_spawn(ioc_, metrics_loop(), net::detached);
    // Retention, on a thread of its own (pruner.hpp), until we stop.
    auto pruner = std::make_unique<Pruner>(store_, config_, wall_now, log_);
    ioc_.run();
    workers_.join();  // every request in flight has its answer
    pruner.reset();   // a batch in progress commits first
    store_.set_change_listener(nullptr);
    store_.set_call_observer(nullptr);
    service_.set_push_notifier(nullptr);
    push_.reset();
    log_("twostepd: stopped");
    return 0;
  }

 private:
  // ---- startup ----
  static std::size_t worker_count(const RelayConfig& config) {
    if (config.worker_threads > 0) return static_cast<std::size_t>(config.worker_threads);
    // With the I/O thread, one thread per CPU: on 2 cores, 2 workers measured
    // 13 % slower than 1 (context switches; docs/benchmarks.md).
    const std::size_t cpus = std::thread::hardware_concurrency();
    return std::clamp<std::size_t>(cpus > 1 ? cpus - 1 : 1, 1, 8);
  }

  bool load_tls() {
    // Each file opened first as twostepd itself: a refusal then names the
    // file, the errno and an owner and mode that would work (tls_files.hpp).
    for (const auto& problem : {tls_file_problem("tls_cert", config_.tls_cert, false),
                                tls_file_problem("tls_key", config_.tls_key, true)}) {
      if (!problem.empty()) {
        log_("twostepd: " + problem);
        return false;
      }
    }
    try {
      auto ctx = std::make_shared<ssl::context>(ssl::context::tls_server);
      ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                       ssl::context::no_sslv3 | ssl::context::no_tlsv1 |
                       ssl::context::no_tlsv1_1 | ssl::context::single_dh_use);
      ctx->use_certificate_chain_file(config_.tls_cert);
      ctx->use_private_key_file(config_.tls_key, ssl::context::pem);
      tls_ = std::move(ctx);
      return true;
    } catch (const std::exception& e) {
      log_("twostepd: cannot load TLS certificate/key (" + config_.tls_cert + ", " +
           config_.tls_key + "): " + e.what());
      return false;
    }
  }

  // The global connection cap, below the descriptor limit (config.hpp).
  void size_connections() {
    const FdLimit fds = raise_fd_limit();
    max_connections_ = connection_cap(config_.max_connections, fds.now);
    std::string line = "twostepd: file descriptors: " + std::to_string(fds.now);
    if (fds.now != fds.was) line += " (soft limit raised from " + std::to_string(fds.was) + ")";
    if (!fds.problem.empty()) line += " (could not raise the soft limit: " + fds.problem + ")";
    line += "; at most " + std::to_string(max_connections_) + " connections";
    if (config_.max_connections > max_connections_) {
      line += " (max_connections " + std::to_string(config_.max_connections) +
              " is over the descriptor budget)";
    }
    log_(line);
  }

  // Web Push (push_sender.hpp): keys made on first start; a store without
  // push tables leaves push off, which no login depends on.
  void start_push() {
    auto keys = load_or_make_vapid_keys(store_);
    if (!keys) {
      log_("twostepd: Web Push off: " + keys.error().message);
      return;
    }
    PushOptions options;
    options.subject = vapid_subject(config_.public_url);
    options.total_timeout_ms = config_.push_timeout * 1000;
    options.connect_timeout_ms = std::min<long>(5000, options.total_timeout_ms);
    options.max_in_flight = static_cast<std::size_t>(config_.push_max_in_flight);
    // One (host, user) gets half of the slots, at most 8: a slow service of
    // theirs (or many logins) leaves the rest to everyone else.
    options.max_in_flight_per_user =
        std::clamp<std::size_t>(options.max_in_flight / 2, 1, 8);
    options.allow_http_loopback = config_.public_url.rfind("http://", 0) == 0;  // development
    options.on_result = [this](bool sent) { service_.metrics().push(sent); };
    push_ = std::make_unique<PushSender>(store_, std::move(keys.value()), std::move(options), log_);
    service_.set_push_notifier(push_.get());
  }

  void watch_hup() {
    hup_.async_wait([this](const beast::error_code& ec, int) {
      if (ec) return;
      if (!config_.tls_cert.empty()) {
        if (load_tls()) log_("twostepd: SIGHUP: TLS certificate and key reloaded");
        else log_("twostepd: SIGHUP: reload failed; keeping the previous certificate");
      }
      watch_hup();
    });
  }

  // host:port (checked by finish_config) as an endpoint; `setting` names it
  // in the log line if the host is not an IP address.
  std::optional<tcp::endpoint> endpoint_of(const std::string& listen, const char* setting) {
    std::string host = listen.substr(0, listen.rfind(':'));
    const std::string port = listen.substr(listen.rfind(':') + 1);
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
      host = host.substr(1, host.size() - 2);
    }
    if (host == "localhost") host = "127.0.0.1";
    beast::error_code ec;
    const auto address = net::ip::make_address(host, ec);
    if (ec) {
      log_(std::string("twostepd: ") + setting + ": '" + host + "' is not an IP address");
      return std::nullopt;
    }
    return tcp::endpoint(address, static_cast<unsigned short>(std::stoi(port)));
  }

  static std::string shown(const tcp::endpoint& bound) {
    const std::string address = bound.address().is_v6() ? "[" + bound.address().to_string() + "]"
                                                        : bound.address().to_string();
    return address + ":" + std::to_string(bound.port());
  }

  bool open_acceptor() {
    const auto at = endpoint_of(config_.listen, "listen");
    if (!at) return false;
    const tcp::endpoint endpoint = *at;
    beast::error_code ec;
    acceptor_.open(endpoint.protocol(), ec);
    if (!ec) acceptor_.set_option(net::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_.bind(endpoint, ec);
    if (!ec) acceptor_.listen(net::socket_base::max_listen_connections, ec);
    // Non-blocking, so that pause_accepting()'s accept never waits.
    if (!ec) acceptor_.non_blocking(true, ec);
    // The spare descriptor that pause_accepting() trades for a connection.
    if (!ec) spare_.open(endpoint.protocol(), ec);
    if (ec) {
      log_("twostepd: cannot listen on " + config_.listen + ": " + ec.message());
      return false;
    }
    log_("twostepd: listening on " + shown(acceptor_.local_endpoint()) +
         (tls_ ? " (TLS)" : " (plain HTTP, loopback)") + ", public URL " + config_.public_url);
    return true;
  }

  // metrics_listen: plain HTTP, GET /metrics only (none if not set).
  bool open_metrics_acceptor() {
    if (config_.metrics_listen.empty()) return true;
    const auto at = endpoint_of(config_.metrics_listen, "metrics_listen");
    if (!at) return false;
    beast::error_code ec;
    metrics_acceptor_.open(at->protocol(), ec);
    if (!ec) metrics_acceptor_.set_option(net::socket_base::reuse_address(true), ec);
    if (!ec) metrics_acceptor_.bind(*at, ec);
    if (!ec) metrics_acceptor_.listen(net::socket_base::max_listen_connections, ec);
    if (ec) {
      log_("twostepd: cannot listen on " + config_.metrics_listen + " (metrics_listen): " +
           ec.message());
      return false;
    }
    log_("twostepd: metrics on http://" + shown(metrics_acceptor_.local_endpoint()) + "/metrics");
    return true;
  }

  // ---- wake-ups ----
  static std::string key(ChangeKind kind, const std::string& id) {
    return (kind == ChangeKind::challenge ? "c:" : "p:") + id;
  }

  void wake(ChangeKind kind, const std::string& id, Clock::time_point at) {
    if (auto it = waiters_.find(key(kind, id)); it != waiters_.end()) {
      for (Wakeup* w : it->second) {
        if (!w->changed_at) w->changed_at = at;
        w->timer.cancel();
      }
    }
    if (kind == ChangeKind::challenge && !streams_.empty()) {
      // Only the streams of the devices the challenge was sent to.
      for (const std::string& api_key : service_.stream_targets(id)) {
        auto it = streams_by_key_.find(api_key);
        if (it == streams_by_key_.end()) continue;
        for (Wakeup* s : it->second) {
          s->changed.push_back(id);
          s->timer.cancel();
        }
      }
    }
  }

  // Registered for the lifetime of one held request.
  class WaitRegistration {
   public:
    WaitRegistration(Server& server, std::string k, Wakeup* w)
        : server_(server), key_(std::move(k)), w_(w) {
      server_.waiters_[key_].push_back(w_);
      server_.service_.metrics().long_polls(1);
    }
    ~WaitRegistration() {
      server_.service_.metrics().long_polls(-1);
      auto it = server_.waiters_.find(key_);
      if (it == server_.waiters_.end()) return;
      auto& v = it->second;
      v.erase(std::remove(v.begin(), v.end(), w_), v.end());
      if (v.empty()) server_.waiters_.erase(it);
    }
    WaitRegistration(const WaitRegistration&) = delete;
    WaitRegistration& operator=(const WaitRegistration&) = delete;

   private:
    Server& server_;
    std::string key_;
    Wakeup* w_;
  };

  // ---- shutdown ----
  void begin_shutdown() {
    if (stopping_) return;
    stopping_ = true;
    log_("twostepd: stopping: no new connections; pending long-polls get 503 shutting_down");
    beast::error_code ec;
    acceptor_.close(ec);
    metrics_acceptor_.close(ec);
    accept_pause_.cancel();
    hup_.cancel();
    tick_.cancel();
    for (auto& [_, list] : waiters_) {
      for (Wakeup* w : list) w->timer.cancel();
    }
    for (Wakeup* s : streams_) s->timer.cancel();
    for (auto* idle : idle_) idle->cancel();
    // Whatever still runs after the grace period is cut off.
    auto grace = std::make_shared<net::steady_timer>(ioc_, kShutdownGrace);
    grace->async_wait([this, grace](const beast::error_code&) { ioc_.stop(); });
    grace_ = grace;
    maybe_finish();
  }

  void maybe_finish() {
    if (stopping_ && sessions_ == 0 && grace_) {
      grace_->cancel();
      grace_.reset();
      signals_.cancel();
    }
  }

  awaitable<void> expire_loop() {
    while (!stopping_) {
      tick_.expires_after(std::chrono::seconds(1));
      beast::error_code ec;
      co_await tick_.async_wait(net::redirect_error(use_awaitable, ec));
      if (stopping_) break;
      service_.expire_tick();
    }
  }

  // ---- accept ----
  awaitable<void> accept_loop() {
    while (!stopping_) {
      beast::error_code ec;
      tcp::socket socket = co_await acceptor_.async_accept(net::redirect_error(use_awaitable, ec));
      if (ec) {
        if (stopping_ || ec == net::error::operation_aborted) break;
        if (out_of_descriptors(ec)) co_await pause_accepting(ec);
        continue;  // ECONNABORTED and friends: keep serving the others
      }
      admit(std::move(socket));
    }
  }

  // A connection over a cap is closed at once (protocol section 9): its
  // client sees the close, and the relay spends one accept and one close.
  void admit(tcp::socket socket) {
    beast::error_code ec;
    if (sessions_ >= max_connections_) {
      socket.close(ec);
      note_refused("at most " + std::to_string(max_connections_) + " connections (max_connections)");
      return;
    }
    const auto remote = socket.remote_endpoint(ec);
    if (ec) return;
    std::string address = remote.address().to_string();
    auto& count = per_address_[address];
    if (count >= config_.max_connections_per_client) {
      socket.close(ec);
      note_refused("at most " + std::to_string(config_.max_connections_per_client) +
                   " connections from " + address + " (max_connections_per_client)");
      return;
    }
    ++count;
    ++sessions_;
    socket.set_option(tcp::no_delay(true), ec);
    if (tls_) {
      net::co_spawn(ioc_, tls_session(std::move(socket), tls_, address), net::detached);
    } else {
      net::co_spawn(ioc_, plain_session(std::move(socket), address), net::detached);
    }
  }

  // Out of descriptors (the cap leaves a reserve, but pushes and the store
  // share it): the connection stays in the backlog, the listening socket
  // stays readable, and accepting again at once would spin a core. Trade
  // the spare descriptor for one pending connection and close it, so its
  // client is not left hanging, then pause accepting a moment.
  awaitable<void> pause_accepting(const beast::error_code& why) {
    note_refused("out of file descriptors (" + why.message() + ")");
    beast::error_code ec;
    spare_.close(ec);
    tcp::socket dropped = acceptor_.accept(ec);  // non-blocking: never waits
    dropped.close(ec);
    spare_.open(acceptor_.local_endpoint(ec).protocol(), ec);
    accept_pause_.expires_after(kAcceptPause);
    co_await accept_pause_.async_wait(net::redirect_error(use_awaitable, ec));
  }

  // One log line per kRefusalLogPeriod at most, however fast refusals come.
  void note_refused(const std::string& why) {
    ++refused_;
    const auto now = Clock::now();
    if (now < next_refusal_log_) return;
    log_("twostepd: connections refused: " + std::to_string(refused_) +
         " since the last such line; now: " + why);
    refused_ = 0;
    next_refusal_log_ = now + kRefusalLogPeriod;
  }

  void session_ended(const std::string& address) {
    if (auto it = per_address_.find(address); it != per_address_.end()) {
      if (--it->second <= 0) per_address_.erase(it);
    }
    --sessions_;
    maybe_finish();
  }

  // An exception ends its connection and is logged here, once, with the
  // request it interrupted ("-": between requests).
  void log_exception(const std::string& address, const std::string& request_id,
                     std::string_view what) {
    log_("twostepd: request " + request_id + " from " + address +
         ": connection closed by an exception: " + std::string(what));
  }

  awaitable<void> plain_session(tcp::socket socket, std::string address) {
    beast::tcp_stream stream(std::move(socket));
    std::string request_id = "-";
    try {
      co_await serve(stream, address, request_id);
    } catch (const std::exception& e) {
      log_exception(address, request_id, e.what());
    } catch (...) {
      log_exception(address, request_id, "not a std::exception");
    }
    beast::error_code ec;
    stream.socket().shutdown(tcp::socket::shutdown_send, ec);
    session_ended(address);
  }

  awaitable<void> tls_session(tcp::socket socket, std::shared_ptr<ssl::context> ctx,
                              std::string address) {
    beast::ssl_stream<beast::tcp_stream> stream(beast::tcp_stream(std::move(socket)), *ctx);
    std::string request_id = "-";
    try {
      beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(config_.header_timeout));
      beast::error_code ec;
      co_await stream.async_handshake(ssl::stream_base::server,
                                      net::redirect_error(use_awaitable, ec));
      if (!ec) {
        co_await serve(stream, address, request_id);
        beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(2));
        co_await stream.async_shutdown(net::redirect_error(use_awaitable, ec));
      }
    } catch (const std::exception& e) {
      log_exception(address, request_id, e.what());
    } catch (...) {
      log_exception(address, request_id, "not a std::exception");
    }
    session_ended(address);
  }

  // ---- metrics_listen ----
  // A scrape is one GET /metrics per connection; a few at once at most, each
  // within header_timeout, so that the port costs the relay nothing more.
  static constexpr std::int64_t kMaxMetricsSessions = 8;

  awaitable<void> metrics_loop() {
    while (!stopping_) {
      beast::error_code ec;
      tcp::socket socket =
          co_await metrics_acceptor_.async_accept(net::redirect_error(use_awaitable, ec));
      if (ec) {
        if (stopping_ || ec == net::error::operation_aborted) break;
        net::steady_timer pause(ioc_, kAcceptPause);  // out of descriptors, or the like
        co_await pause.async_wait(net::redirect_error(use_awaitable, ec));
        continue;
      }
      if (metrics_sessions_ >= kMaxMetricsSessions) continue;  // closed as it goes
      ++metrics_sessions_;
      net::co_spawn(ioc_, metrics_session(std::move(socket)), net::detached);
    }
  }

  awaitable<void> metrics_session(tcp::socket socket) {
    beast::tcp_stream stream(std::move(socket));
    beast::error_code ec;
    try {
      stream.expires_after(std::chrono::seconds(config_.header_timeout));
      beast::flat_buffer buffer(8192);
      http::request_parser<http::empty_body> parser;
      parser.header_limit(8192);
      co_await http::async_read(stream, buffer, parser, net::redirect_error(use_awaitable, ec));
      if (!ec) co_await send(stream, metrics_answer(parser.get()), false, parser.get().version());
    } catch (const std::exception& e) {
      log_exception("metrics", "-", e.what());
    }
    stream.socket().shutdown(tcp::socket::shutdown_send, ec);
    --metrics_sessions_;
  }

  HttpResponse metrics_answer(const http::request<http::empty_body>& req) {
    const std::string_view target = req.target();
    if (target != "/metrics" && !target.starts_with("/metrics?")) {
      return error_response(404, "not_found", "metrics are at /metrics");
    }
    if (req.method() != http::verb::get) {
      return error_response(405, "method_not_allowed", "GET /metrics");
    }
    HttpResponse r{200, service_.metrics().render()};
    r.content_type = "text/plain; version=0.0.4; charset=utf-8";
    return r;
  }

  // ---- one connection ----
  // Requests one after another on a kept-alive connection; `request_id`
  // names the one being served, for log lines.
  template <class Stream>
  awaitable<void> serve(Stream& stream, const std::string& address, std::string& request_id) {
    auto& lowest = beast::get_lowest_layer(stream);
    beast::flat_buffer buffer(static_cast<std::size_t>(config_.max_header_bytes +
                                                       config_.max_body_bytes + 4096));
    bool first = true;
    while (!stopping_) {
      request_id = "-";
      beast::error_code ec;
      if (!first && buffer.size() == 0) {
        // Idle keep-alive: wait for the next request's first bytes.
        lowest.expires_after(std::chrono::seconds(config_.idle_timeout));
        idle_.insert(&lowest);
        const std::size_t n = co_await stream.async_read_some(
            buffer.prepare(1024), net::redirect_error(use_awaitable, ec));
        idle_.erase(&lowest);
        if (ec || stopping_) co_return;
        buffer.commit(n);
      }
      first = false;
      http::request_parser<http::string_body> parser;
      if (!co_await read_request(stream, buffer, parser)) co_return;
      request_id = std::to_string(++requests_);
      const auto& req = parser.get();
      const HttpRequest in = service_request(req, address, request_id);
      const bool keep_alive = req.keep_alive();
      const unsigned version = req.version();

      // On a worker; `in` and `route` live in this frame until the answer is back.
      std::string_view route;
      Outcome outcome = co_await net::co_spawn(
          workers_,
          [this, &in, &route]() -> awaitable<Outcome> { co_return service_.handle(in, &route); },
          use_awaitable);
      unsigned status = 0;
      bool go_on = false;
      if (auto* response = std::get_if<HttpResponse>(&outcome)) {
        status = response->status;
        go_on = co_await send(stream, *response, keep_alive, version);
      } else if (auto* wait = std::get_if<LongPoll>(&outcome)) {
        go_on = co_await hold(stream, *wait, keep_alive, version, status);
      } else {
        co_await event_stream(stream, std::get<EventStream>(outcome), version, address, status);
      }
      service_.metrics().request(route, in.method, status);
      if (!go_on || !keep_alive) co_return;
    }
  }

  // A request refused before the service saw it (too large, malformed):
  // answered, counted under the route "invalid", and the connection closes.
  template <class Stream>
  awaitable<void> refuse(Stream& stream, const HttpResponse& r, unsigned version) {
    service_.metrics().request("invalid", "other", r.status);
    co_await send(stream, r, false, version);
  }

  // Reads one request within the limits of section 9; false: the
  // connection ends (after an error answer, where one is due).
  template <class Stream>
  awaitable<bool> read_request(Stream& stream, beast::flat_buffer& buffer,
                               http::request_parser<http::string_body>& parser) {
    auto& lowest = beast::get_lowest_layer(stream);
    beast::error_code ec;
    lowest.expires_after(std::chrono::seconds(config_.header_timeout));
    parser.header_limit(static_cast<std::uint32_t>(config_.max_header_bytes));
    parser.body_limit(static_cast<std::uint64_t>(config_.max_body_bytes));
    co_await http::async_read_header(stream, buffer, parser,
                                     net::redirect_error(use_awaitable, ec));
    if (ec == http::error::header_limit) {
      co_await refuse(stream, error_response(413, "too_large", "request headers over the limit"), 11);
      co_return false;
    }
    if (ec == http::error::body_limit) {  // Content-Length over the limit
      co_await refuse(stream, error_response(413, "too_large", "body over the limit"), 11);
      co_return false;
    }
    if (ec == http::error::end_of_stream) co_return false;
    if (ec && (ec == beast::error::timeout || ec == net::error::operation_aborted ||
               ec == net::error::eof || ec == net::error::connection_reset)) {
      co_return false;
    }
    if (ec) {
      co_await refuse(stream, error_response(400, "bad_request", "malformed HTTP request"), 11);
      co_return false;
    }
    const auto length = parser.content_length();
    if (length && *length > static_cast<std::uint64_t>(config_.max_body_bytes)) {
      co_await refuse(stream, error_response(413, "too_large", "body over the limit"), parser.get().version());
      co_return false;
    }
    // curl sends "Expect: 100-continue" with larger bodies and waits a
    // second for this before sending the body.
    if (beast::iequals(parser.get()[http::field::expect], "100-continue")) {
      http::response<http::empty_body> go_on{http::status::continue_, parser.get().version()};
      lowest.expires_after(kWriteTimeout);
      co_await http::async_write(stream, go_on, net::redirect_error(use_awaitable, ec));
      if (ec) co_return false;
      lowest.expires_after(std::chrono::seconds(config_.header_timeout));
    }
    co_await http::async_read(stream, buffer, parser, net::redirect_error(use_awaitable, ec));
    if (ec == http::error::body_limit) {
      co_await refuse(stream, error_response(413, "too_large", "body over the limit"), parser.get().version());
      co_return false;
    }
    if (ec == http::error::partial_message) {
      co_await refuse(stream, error_response(400, "bad_request", "truncated body"), parser.get().version());
      co_return false;
    }
    co_return !ec;
  }

  static HttpRequest service_request(const http::request<http::string_body>& req,
                                     const std::string& address, const std::string& request_id) {
    HttpRequest in;
    in.method = std::string(req.method_string());
    in.target = std::string(req.target());
    in.body = req.body();
    in.has_content_length = req.find(http::field::content_length) != req.end();
    in.content_type = std::string(req[http::field::content_type]);
    auto header = [&](const char* name, std::string& out, bool* present) {
      auto it = req.find(name);
      if (it == req.end()) return;
      out = std::string(it->value());
      if (present) *present = true;
    };
    header("X-Twostep-Host", in.auth_host, &in.has_auth_host);
    header("X-Twostep-Device", in.auth_device, &in.has_auth_device);
    header("X-Twostep-Timestamp", in.auth_timestamp, nullptr);
    header("X-Twostep-Nonce", in.auth_nonce, nullptr);
    header("X-Twostep-Signature", in.auth_signature, nullptr);
    in.client_address = address;
    in.request_id = request_id;
    return in;
  }

  template <class Stream>
  awaitable<bool> send(Stream& stream, const HttpResponse& r, bool keep_alive, unsigned version) {
    http::response<http::string_body> res{static_cast<http::status>(r.status), version};
    res.set(http::field::server, "twostepd");
    res.set(http::field::content_type, r.content_type);
    res.set(http::field::cache_control, "no-store");
    res.set("X-Content-Type-Options", "nosniff");
    res.set("Referrer-Policy", "no-referrer");
    if (!hsts_.empty()) res.set(http::field::strict_transport_security, hsts_);
    for (const auto& [name, value] : r.headers) res.set(name, value);  // the app's files
    if (r.retry_after > 0) res.set(http::field::retry_after, std::to_string(r.retry_after));
    res.keep_alive(keep_alive && !stopping_);
    res.body() = r.body;
    res.prepare_payload();
    beast::get_lowest_layer(stream).expires_after(kWriteTimeout);
    beast::error_code ec;
    co_await http::async_write(stream, res, net::redirect_error(use_awaitable, ec));
    co_return !ec && keep_alive && !stopping_;
  }

  // A long-poll: look, wait for a wake-up or the deadline, look again.
  template <class Stream>
  awaitable<bool> hold(Stream& stream, const LongPoll& wait, bool keep_alive, unsigned version,
                       unsigned& status) {
    Wakeup wakeup(ioc_.get_executor());
    WaitRegistration registration(*this, key(wait.kind, wait.id), &wakeup);
    auto& lowest = beast::get_lowest_layer(stream);
    lowest.expires_never();
    for (;;) {
      if (stopping_) {
        status = 503;
        co_return co_await send(stream,
                                error_response(503, "shutting_down",
                                               "the relay is stopping; repeat the wait"),
                                false, version);
      }
      const bool final = Clock::now() >= wait.deadline;
      if (auto r = service_.poll(wait, final)) {
        status = r->status;
        const bool sent = co_await send(stream, *r, keep_alive, version);
        if (r->decided && wakeup.changed_at) {
          service_.metrics().decision_to_answer(
              std::chrono::duration<double>(Clock::now() - *wakeup.changed_at).count());
        }
        co_return sent;
      }
      wakeup.timer.expires_at(wait.deadline);
      beast::error_code ec;
      co_await wakeup.timer.async_wait(net::redirect_error(use_awaitable, ec));
    }
  }

  // Registered for the lifetime of one event stream: by device (for the
  // wake-ups and the per-device cap) and by address.
  class StreamRegistration {
   public:
    StreamRegistration(Server& server, std::string key, std::string address, Wakeup* w)
        : server_(server), key_(std::move(key)), address_(std::move(address)), w_(w) {
      server_.streams_.insert(w_);
      server_.service_.metrics().event_streams(1);
      auto& mine = server_.streams_by_key_[key_];
      if (mine.size() >= kMaxStreamsPerDevice) {  // oldest first
        mine.front()->replaced = true;
        mine.front()->timer.cancel();
        mine.erase(mine.begin());
      }
      mine.push_back(w_);
      ++server_.streams_per_address_[address_];
    }
    ~StreamRegistration() {
      server_.service_.metrics().event_streams(-1);
      server_.streams_.erase(w_);
      if (auto it = server_.streams_by_key_.find(key_); it != server_.streams_by_key_.end()) {
        auto& v = it->second;
        v.erase(std::remove(v.begin(), v.end(), w_), v.end());
        if (v.empty()) server_.streams_by_key_.erase(it);
      }
      if (--server_.streams_per_address_[address_] == 0) server_.streams_per_address_.erase(address_);
    }
    StreamRegistration(const StreamRegistration&) = delete;
    StreamRegistration& operator=(const StreamRegistration&) = delete;

   private:
    Server& server_;
    std::string key_, address_;
    Wakeup* w_;
  };

  // SSE: the body runs until the connection closes (no Content-Length, no
  // chunking), so every client reads plain event-stream lines. Ends at
  // shutdown, on a write error, when the key has no live device left, or
  // when a newer stream of the same device replaced it.
  template <class Stream>
  awaitable<void> event_stream(Stream& stream, const EventStream& es, unsigned version,
                               const std::string& address, unsigned& status) {
    status = 200;
    if (auto it = streams_per_address_.find(address);
        it != streams_per_address_.end() && it->second >= static_cast<std::int64_t>(kMaxStreamsPerAddress)) {
      status = 429;
      co_await send(stream,
                    error_response(429, "rate_limited", "too many event streams from this address", 10),
                    false, version);
      co_return;
    }
    Wakeup wakeup(ioc_.get_executor());
    StreamRegistration registration(*this, es.api_key_id, address, &wakeup);

    auto& lowest = beast::get_lowest_layer(stream);
    http::response<http::empty_body> res{http::status::ok, version};
    res.set(http::field::server, "twostepd");
    res.set(http::field::content_type, "text/event-stream");
    res.set(http::field::cache_control, "no-store");
    if (!hsts_.empty()) res.set(http::field::strict_transport_security, hsts_);
    res.keep_alive(false);
    http::response_serializer<http::empty_body> sr{res};
    beast::error_code ec;
    lowest.expires_after(kWriteTimeout);
    co_await http::async_write_header(stream, sr, net::redirect_error(use_awaitable, ec));
    if (ec) co_return;
    auto write_event = [&](const std::string& data) -> awaitable<bool> {
      lowest.expires_after(kWriteTimeout);
      beast::error_code wec;
      co_await net::async_write(stream, net::buffer(data), net::redirect_error(use_awaitable, wec));
      co_return !wec;
    };
    for (const auto& event : service_.stream_start(es)) {
      if (!co_await write_event(event)) co_return;
    }
    while (!stopping_ && !wakeup.replaced) {
      while (!wakeup.changed.empty()) {
        const std::string id = std::move(wakeup.changed.front());
        wakeup.changed.pop_front();
        if (auto event = service_.stream_event(es, id)) {
          if (!co_await write_event(*event)) co_return;
        }
      }
      if (!service_.stream_allowed(es)) break;
      wakeup.timer.expires_after(std::chrono::seconds(config_.event_keepalive));
      co_await wakeup.timer.async_wait(net::redirect_error(use_awaitable, ec));
      if (!ec && wakeup.changed.empty() && !wakeup.replaced) {
        if (!co_await write_event(": keep-alive\n\n")) co_return;
      }
    }
  }

  const RelayConfig& config_;
  Store& store_;
  std::function<void(const std::string&)> log_;
  RelayService service_;
  net::thread_pool workers_;
  const std::string hsts_;  // Strict-Transport-Security value; empty: none
  net::io_context ioc_{1};
  tcp::acceptor acceptor_;
  tcp::acceptor metrics_acceptor_;  // metrics_listen; closed when not set
  std::int64_t metrics_sessions_ = 0;
  tcp::socket spare_;  // a descriptor held back for drop-and-close (pause_accepting)
  net::steady_timer accept_pause_;
  net::signal_set signals_;
  net::signal_set hup_;
  net::steady_timer tick_;
  std::shared_ptr<ssl::context> tls_;
  std::unique_ptr<PushSender> push_;
  std::shared_ptr<net::steady_timer> grace_;
  bool stopping_ = false;
  std::int64_t sessions_ = 0;
  std::uint64_t requests_ = 0;  // the last request id given out
  std::int64_t max_connections_ = 0;  // size_connections()
  std::int64_t refused_ = 0;          // since the last note_refused line
  Clock::time_point next_refusal_log_{};
  std::unordered_map<std::string, std::int64_t> per_address_;
  std::unordered_map<std::string, std::vector<Wakeup*>> waiters_;
  std::unordered_set<Wakeup*> streams_;
  std::unordered_map<std::string, std::vector<Wakeup*>> streams_by_key_;  // by API key id
  std::unordered_map<std::string, std::int64_t> streams_per_address_;
  std::unordered_set<beast::tcp_stream*> idle_;
};

}  // namespace

int run_server(const RelayConfig& config, Store& store,
               const std::function<void(const std::string&)>& log) {
  Server server(config, store, log);
  return server.run();
}

}  // namespace twostep::relay
