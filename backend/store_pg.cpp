// The PostgreSQL dialect: a small pool of libpq connections, and one more
// connection on its own thread that LISTENs for the changes of other
// instances. The rules are store_rules.cpp's; their concurrency between
// instances (lock_pair, row locks, SKIP LOCKED) is described in
// store_rules.hpp.
//
// Here: READ COMMITTED transactions; serialization failures and deadlocks
// (40001, 40P01), and a connection lost before COMMIT was sent, are retried
// on a fresh connection. lock_pair is a transaction-scoped advisory lock.
//
// Wake-ups: a transaction that changes a challenge or a pairing also calls
// pg_notify('twostep_changes', '<instance> <c|p> <id>'), delivered by
// PostgreSQL only if it commits. Each instance ignores its own notifications
// (it called its listener after its commit already). When the listen
// connection drops, it reconnects with backoff (0.1 s doubling to 5 s), then
// reports every challenge created or decided in the 30 s before the drop was
// noticed, and every live registered pairing, so no wake-up is lost for long.
#include "store_pg.hpp"

#include <libpq-fe.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <ctime>
#include <mutex>
#include <random>
#include <thread>
#include <utility>
#include <vector>

#include "store_dialect.hpp"

namespace twostep::relay {

bool is_postgresql_url(std::string_view location) noexcept {
  return location.starts_with("postgresql://") || location.starts_with("postgres://");
}

std::string printable_location(std::string_view location) {
  if (!is_postgresql_url(location)) return std::string(location);
  std::string out(location);
  // postgresql://user:PASSWORD@host/...
  const auto authority = out.find("://") + 3;
  const auto end = out.find_first_of("/?", authority);
  const auto at = out.rfind('@', end == std::string::npos ? out.size() : end);
  if (at != std::string::npos && at >= authority) {
    const auto colon = out.find(':', authority);
    if (colon != std::string::npos && colon < at) out.replace(colon + 1, at - colon - 1, "***");
  }
  // ...?password=PASSWORD&...
  for (auto pos = out.find("password="); pos != std::string::npos;
       pos = out.find("password=", pos + 1)) {
    if (pos == 0 || (out[pos - 1] != '?' && out[pos - 1] != '&')) continue;
    const auto value = pos + 9;
    const auto stop = out.find('&', value);
    out.replace(value, (stop == std::string::npos ? out.size() : stop) - value, "***");
  }
  return out;
}

namespace {

using sql::Changes;
using sql::EachRow;
using sql::Params;

// Key of the advisory lock that serialises migrations of one database.
constexpr std::int64_t kMigrationLock = 0x7477'6f73'7465'7001;  // "twostep\x01"
constexpr const char* kChannel = "twostep_changes";
constexpr std::size_t kMaxConnections = 4;
constexpr int kAttempts = 3;
constexpr std::size_t kMaxNotifiedId = 512;  // NOTIFY payloads are capped at 8000 bytes
constexpr Seconds kCatchUpSeconds = 30;      // see catch_up()

// PostgreSQL type OIDs of the parameters we send (pg_type.h is server-side).
constexpr Oid kByteaOid = 17;
constexpr Oid kInt8Oid = 20;
constexpr Oid kTextOid = 25;

// ---- one RAII type per libpq handle -----------------------------------------

struct PgConnCloser {
  void operator()(PGconn* conn) const noexcept { PQfinish(conn); }
};
using PgConn = std::unique_ptr<PGconn, PgConnCloser>;

struct PgResultClearer {
  void operator()(PGresult* res) const noexcept { PQclear(res); }
};
using PgResult = std::unique_ptr<PGresult, PgResultClearer>;

struct PgNotifyFreer {
  void operator()(PGnotify* notify) const noexcept { PQfreemem(notify); }
};
using PgNotification = std::unique_ptr<PGnotify, PgNotifyFreer>;

class EventFd {
 public:
  EventFd() : fd_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {}
  ~EventFd() {
    if (fd_ >= 0) ::close(fd_);
  }
  EventFd(const EventFd&) = delete;
  EventFd& operator=(const EventFd&) = delete;
  int fd() const { return fd_; }
  void signal() const noexcept {
    const std::uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(fd_, &one, sizeof one);
  }

 private:
  int fd_;
};

// First line of a libpq message, without the trailing newline.
std::string first_line(const char* text) {
  std::string s = text ? text : "";
  if (auto nl = s.find('\n'); nl != std::string::npos) s.resize(nl);
  return s;
}

StoreResult<PgConn> connect(const std::string& url, const char* application) {
  // Keywords before dbname are defaults the URL may override. The daemon
  // calls the store from its I/O thread, so nothing may block for long: a
  // server that vanishes without closing the TCP connection is noticed by
  // keepalives and tcp_user_timeout (within ~20 s, also on the idle listen
  // connection), and a statement that waits longer than 10 s fails.
  const char* const keys[] = {"application_name", "connect_timeout",   "client_encoding",
                              "keepalives",       "keepalives_idle",   "keepalives_interval",
                              "keepalives_count", "tcp_user_timeout",  "options",
                              "dbname",           nullptr};
  const char* const values[] = {application, "10", "UTF8",  "1",
                                "10",        "5",  "2",     "20000",
                                "-c statement_timeout=10000", url.c_str(), nullptr};
  PgConn conn(PQconnectdbParams(keys, values, 1));
  if (!conn) return StoreError{StoreErrc::backend, "postgresql: out of memory"};
  if (PQstatus(conn.get()) != CONNECTION_OK) {
    return StoreError{StoreErrc::backend,
                      "cannot connect to PostgreSQL: " + first_line(PQerrorMessage(conn.get()))};
  }
  // libpq prints notices ("already exists, skipping", the FATAL of a
  // terminated idle connection) to stderr; failures reach us as results.
  PQsetNoticeProcessor(conn.get(), [](void*, const char*) {}, nullptr);
  return conn;
}


// ---- statements: parameters in, rows out (binary format both ways) ---------

// The parameters in libpq's shape. Integers go as 8 bytes, network order.
class WireParams {
 public:
  explicit WireParams(const Params& params) {
    for (std::size_t i = 0; i < params.size(); ++i) add(params[i], i);
  }
  int size() const { return size_; }
  const Oid* types() const { return types_.data(); }
  const char* const* values() const { return values_.data(); }
  const int* lengths() const { return lengths_.data(); }
  const int* formats() const { return formats_.data(); }

 private:
  void add(const Params::Value& v, std::size_t i) {
    formats_[i] = 1;
    switch (v.kind) {
      case Params::Kind::text: types_[i] = kTextOid; break;
      case Params::Kind::blob: types_[i] = kByteaOid; break;
      case Params::Kind::null: types_[i] = kByteaOid; break;  // only blobs are set to NULL
      case Params::Kind::integer: types_[i] = kInt8Oid; break;
    }
    if (v.kind == Params::Kind::integer) {
      auto u = static_cast<std::uint64_t>(v.integer);
      for (std::size_t b = 8; b-- > 0; u >>= 8) integers_[i][b] = static_cast<char>(u & 0xff);
      values_[i] = integers_[i].data();
      lengths_[i] = 8;
    } else if (v.kind != Params::Kind::null) {
      // Never a null pointer for bytes: libpq would send NULL.
      values_[i] = v.bytes.data() ? v.bytes.data() : "";
      lengths_[i] = static_cast<int>(v.bytes.size());
    }
    size_ = static_cast<int>(i) + 1;
  }

  std::array<Oid, Params::kMax> types_{};
  std::array<const char*, Params::kMax> values_{};
  std::array<int, Params::kMax> lengths_{};
  std::array<int, Params::kMax> formats_{};
  std::array<std::array<char, 8>, Params::kMax> integers_{};
  int size_ = 0;
};

class PgRow final : public sql::Row {
 public:
  PgRow(const PGresult* res, int row) : res_(res), row_(row) {}
  // TEXT and BYTEA columns: the raw bytes.
  std::string text(int col) const override {
    const char* p = PQgetvalue(res_, row_, col);
    const int n = PQgetlength(res_, row_, col);
    return p && n > 0 ? std::string(p, static_cast<std::size_t>(n)) : std::string();
  }
  // BIGINT columns (all our integers): 8 bytes, network order.
  std::int64_t integer(int col) const override {
    if (PQgetlength(res_, row_, col) != 8) return 0;
    const auto* p = reinterpret_cast<const unsigned char*>(PQgetvalue(res_, row_, col));
    std::uint64_t u = 0;
    for (int i = 0; i < 8; ++i) u = (u << 8) | p[i];
    return static_cast<std::int64_t>(u);
  }
  bool flag(int col) const override {
    return PQgetlength(res_, row_, col) == 1 && PQgetvalue(res_, row_, col)[0] != 0;
  }
  bool is_null(int col) const override { return PQgetisnull(res_, row_, col) == 1; }

 private:
  const PGresult* res_;
  int row_;
};

std::int64_t affected_rows(const PGresult* res) {
  const char* text = PQcmdTuples(const_cast<PGresult*>(res));
  std::int64_t n = 0;
  std::from_chars(text, text + std::strlen(text), n);
  return n;
}

// One connection for the duration of one store call. Remembers whether the
// last failure may be retried on a fresh connection.
class PgSession final : public sql::Session {
 public:
  using sql::Session::run;

  PgSession(PGconn* conn, const sql::Database& dialect) : conn_(conn), dialect_(dialect) {}

  StoreResult<std::int64_t> run(const char* what, std::string_view neutral, const Params& params,
                                EachRow each_row) override {
    const std::string spelled = sql::translate(neutral, dialect_, true);
    const WireParams wire(params);
    PgResult res(PQexecParams(conn_, spelled.c_str(), wire.size(), wire.types(), wire.values(),
                              wire.lengths(), wire.formats(), 1));
    if (auto failed = check(what, res.get()); !failed) return failed.error();
    const int rows = PQntuples(res.get());
    for (int i = 0; i < rows; ++i) each_row(PgRow(res.get(), i));
    return affected_rows(res.get());
  }

  StoreResult<Done> run_script(const char* what, std::string_view neutral) override {
    return exec(what, sql::translate(neutral, dialect_, false).c_str());
  }

  // Statements without parameters, several at once allowed.
  StoreResult<Done> exec(const char* what, const char* sql) {
    PgResult res(PQexec(conn_, sql));
    return check(what, res.get());
  }

  StoreResult<Done> lock_pair(std::string_view a, std::string_view b) override {
    auto r = run("lock", "SELECT pg_advisory_xact_lock(hashtext(?), hashtext(?))",
                 Params().text(a).text(b));
    if (!r) return r.error();
    return Done{};
  }

  StoreResult<Done> show_in_progress() override {
    auto r = run("append audit", "SELECT pg_current_xact_id()");
    if (!r) return r.error();
    return Done{};
  }
  StoreResult<std::int64_t> settled_audit_seq() override;

  StoreResult<std::int64_t> schema_version() override;
  StoreResult<Done> set_schema_version(std::int64_t version) override;

  bool retryable() const { return retryable_; }
  bool connection_lost() const { return PQstatus(conn_) != CONNECTION_OK; }

 private:
  StoreResult<Done> check(const char* what, const PGresult* res) {
    const ExecStatusType status = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
    if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) return Done{};
    const char* state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : nullptr;
    const std::string sqlstate = state ? state : "";
    retryable_ = sqlstate == "40001" || sqlstate == "40P01" || connection_lost();
    // The primary message only: DETAIL may quote key values.
    const char* primary = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : nullptr;
    StoreError e = sql::backend_failure(what, "postgresql",
                                        primary ? primary : first_line(PQerrorMessage(conn_)));
    if (sqlstate == "23505") e.code = StoreErrc::duplicate;
    return e;
  }

  PGconn* conn_;
  const sql::Database& dialect_;
  bool retryable_ = false;
};

// The highest seq seen, read with the statement's snapshot; then wait until
// every transaction that snapshot saw in progress has ended. A transaction
// that holds a smaller seq took it after its id (show_in_progress), so it
// was in that snapshot's list: once those have ended, every seq up to the
// one read is committed or never will be. Out of the caller's transaction
// (autocommit): each statement sees what committed before it.
StoreResult<std::int64_t> PgSession::settled_audit_seq() {
  constexpr int kMaxPolls = 10000;  // ~10 s: store transactions are short
  std::int64_t seq = 0;
  std::string snapshot;
  auto r = run("export audit",
               "SELECT coalesce((SELECT max(seq) FROM audit), 0), pg_current_snapshot()::text", {},
               [&](const sql::Row& row) {
                 seq = row.integer(0);
                 snapshot = row.text(1);
               });
  if (!r) return r.error();
  for (int poll = 0; poll < kMaxPolls; ++poll) {
    std::int64_t running = 0;
    auto q = run("export audit",
                 "SELECT count(*) FROM pg_snapshot_xip(?::pg_snapshot) AS x "
                 "WHERE pg_xact_status(x) = 'in progress'",
                 Params().text(snapshot), [&](const sql::Row& row) { running = row.integer(0); });
    if (!q) return q.error();
    if (running == 0) return seq;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return StoreError{StoreErrc::backend,
                    "export audit: postgresql: transactions still in progress after 10 s; "
                    "try again"};
}

// The version lives in a table of its own; an advisory lock serialises the
// migrations of concurrent first starts.
StoreResult<std::int64_t> PgSession::schema_version() {
  if (auto r = run("migrate", "SELECT pg_advisory_xact_lock(?)", Params().integer(kMigrationLock));
      !r) {
    return r.error();
  }
  if (auto r = exec("migrate",
                    "CREATE TABLE IF NOT EXISTS twostep_schema ("
                    "  singleton BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (singleton),"
                    "  version BIGINT NOT NULL)");
      !r) {
    return r.error();
  }
  std::int64_t version = 0;
  auto r = run("migrate", "SELECT version FROM twostep_schema", {},
               [&](const sql::Row& row) { version = row.integer(0); });
  if (!r) return r.error();
  return version;
}

StoreResult<Done> PgSession::set_schema_version(std::int64_t version) {
  auto r = run("migrate",
               "INSERT INTO twostep_schema(singleton, version) VALUES (TRUE, ?) "
               "ON CONFLICT (singleton) DO UPDATE SET version = excluded.version",
               Params().integer(version));
  if (!r) return r.error();
  return Done{};
}

class ConnectionPool {
 public:
  explicit ConnectionPool(std::string url) : url_(std::move(url)) {}

  StoreResult<PgConn> take() {
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return !idle_.empty() || open_ < kMaxConnections; });
      if (!idle_.empty()) {
        PgConn conn = std::move(idle_.back());
        idle_.pop_back();
        return conn;
      }
      ++open_;
    }
    auto conn = connect(url_, "twostepd");
    if (!conn) {
      std::lock_guard lock(mu_);
      --open_;
      cv_.notify_one();
    }
    return conn;
  }

  void give_back(PgConn conn) {
    std::lock_guard lock(mu_);
    const bool reusable = conn && PQstatus(conn.get()) == CONNECTION_OK &&
                          PQtransactionStatus(conn.get()) == PQTRANS_IDLE;
    if (reusable) {
      idle_.push_back(std::move(conn));
    } else {
      --open_;
      // The server probably restarted: the idle ones are as dead.
      open_ -= idle_.size();
      idle_.clear();
    }
    cv_.notify_all();
  }

  const std::string& url() const { return url_; }

 private:
  std::string url_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<PgConn> idle_;
  std::size_t open_ = 0;
};

std::string random_instance_token() {
  std::random_device rd;
  static constexpr char kHex[] = "0123456789abcdef";
  std::string token;
  for (int i = 0; i < 4; ++i) {
    auto v = rd();
    for (int j = 0; j < 4; ++j, v >>= 4) token.push_back(kHex[v & 0xf]);
  }
  return token;
}

Seconds wall_clock() { return static_cast<Seconds>(std::time(nullptr)); }

// One connection from the pool; back to it (or dropped) at scope exit.
class Lease {
 public:
  Lease(ConnectionPool& pool, PgConn conn) : pool_(pool), conn_(std::move(conn)) {}
  ~Lease() { pool_.give_back(std::move(conn_)); }
  Lease(const Lease&) = delete;
  Lease& operator=(const Lease&) = delete;
  PGconn* get() const { return conn_.get(); }

 private:
  ConnectionPool& pool_;
  PgConn conn_;
};

class PgDatabase final : public sql::Database {
 public:
  explicit PgDatabase(std::string url)
      : pool_(std::move(url)), instance_(random_instance_token()) {}

  ~PgDatabase() override {
    stop_.store(true);
    wake_.signal();
    if (listen_thread_.joinable()) listen_thread_.join();
  }

  std::span<const Word> words() const override;
  bool several_writers() const override { return true; }
  StoreResult<Done> transaction(TransactionBody body, Changes& committed) override;
  StoreResult<Done> autocommit(SingleBody body) override;
  StoreResult<Done> hear_others(Deliver deliver) override;

 private:
  StoreResult<Done> send_notifications(PgSession& s, const Changes& changes);
  StoreResult<PgConn> listen_connection();
  bool sleep_unless_stopped(int ms);
  void listen_loop(PgConn conn);
  Seconds listen_until_lost(PGconn* conn);
  void handle_notification(const char* payload);
  void catch_up(PGconn* conn, Seconds lost_at);

  ConnectionPool pool_;
  const std::string instance_;
  Deliver deliver_;  // set before the listen thread starts
  std::atomic<bool> stop_{false};
  EventFd wake_;
  std::thread listen_thread_;
};

std::span<const sql::Database::Word> PgDatabase::words() const {
  static constexpr Word kWords[] = {
      {"user", "user_name"},  // USER is reserved
      {"int", "BIGINT"},
      {"blob", "BYTEA"},
      {"bool", "BOOLEAN"},
      {"true", "TRUE"},
      {"false", "FALSE"},
      {"host_not_removed", "NOT removed"},
      {"serial_key", "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY"},
      {"insertion_order", "seq"},  // SQLite's rowid
      {"insertion_order_column", ",\n  seq BIGINT GENERATED ALWAYS AS IDENTITY"},
      {"for_update", "FOR UPDATE"},
      {"for_share", "FOR SHARE"},
      {"skip_locked", "SKIP LOCKED"},
      {"unlogged", "UNLOGGED"},
  };
  return kWords;
}

// BEGIN, body, pg_notify of its changes, COMMIT; on a domain error or
// failure, ROLLBACK. Retries what is safe to retry (see the top of the file).
StoreResult<Done> PgDatabase::transaction(TransactionBody body, Changes& committed) {
  for (int attempt = 1;; ++attempt) {
    auto conn = pool_.take();
    if (!conn) return conn.error();
    Lease lease(pool_, std::move(conn.value()));
    PgSession s(lease.get(), *this);
    if (auto b = s.exec("begin", "BEGIN ISOLATION LEVEL READ COMMITTED"); !b) {
      if (s.retryable() && attempt < kAttempts) continue;
      return b;
    }
    Changes changes;
    StoreResult<Done> result = body(s, changes);
    if (result.ok()) result = send_notifications(s, changes);
    if (!result.ok()) {
      const bool retry = s.retryable() && attempt < kAttempts;
      if (!s.connection_lost()) (void)s.exec("rollback", "ROLLBACK");
      if (retry) continue;
      return result;
    }
    // A failed COMMIT (even a lost connection) may have committed: no retry.
    if (auto c = s.exec("commit", "COMMIT"); !c) return c;
    committed = std::move(changes);
    return Done{};
  }
}

// Retried on a fresh connection when the one it got had died.
StoreResult<Done> PgDatabase::autocommit(SingleBody body) {
  for (int attempt = 1;; ++attempt) {
    auto conn = pool_.take();
    if (!conn) return conn.error();
    Lease lease(pool_, std::move(conn.value()));
    PgSession s(lease.get(), *this);
    StoreResult<Done> result = body(s);
    if (!result.ok() && s.connection_lost() && attempt < kAttempts) continue;
    return result;
  }
}

StoreResult<Done> PgDatabase::send_notifications(PgSession& s, const Changes& changes) {
  for (const auto& change : changes) {
    if (change.id.size() > kMaxNotifiedId) continue;  // ids are short; never fail a commit
    const std::string payload =
        instance_ + (change.kind == ChangeKind::challenge ? " c " : " p ") + change.id;
    auto r = s.run("notify", "SELECT pg_notify(?, ?)", Params().text(kChannel).text(payload));
    if (!r) return r.error();
  }
  return Done{};
}

// ---- the listen thread ----

// Connects and LISTENs now, so that changes committed after open_store
// returns reach the listener; then hands the connection to the thread.
StoreResult<Done> PgDatabase::hear_others(Deliver deliver) {
  auto conn = listen_connection();
  if (!conn) return conn.error();
  deliver_ = std::move(deliver);
  listen_thread_ = std::thread([this, c = std::move(conn.value())]() mutable {
    listen_loop(std::move(c));
  });
  return Done{};
}

StoreResult<PgConn> PgDatabase::listen_connection() {
  auto conn = connect(pool_.url(), "twostepd listen");
  if (!conn) return conn;
  PgSession s(conn->get(), *this);
  const std::string sql = std::string("LISTEN ") + kChannel;
  if (auto r = s.exec("listen", sql.c_str()); !r) return r.error();
  return conn;
}

// Waits up to `ms` unless the store is being destroyed; false then.
bool PgDatabase::sleep_unless_stopped(int ms) {
  pollfd p{wake_.fd(), POLLIN, 0};
  ::poll(&p, 1, ms);
  return !stop_.load();
}

void PgDatabase::listen_loop(PgConn conn) {
  int backoff_ms = 100;
  while (!stop_.load()) {
    const Seconds lost_at = listen_until_lost(conn.get());
    conn.reset();
    while (!stop_.load()) {
      if (!sleep_unless_stopped(backoff_ms)) return;
      backoff_ms = std::min(backoff_ms * 2, 5000);
      auto fresh = listen_connection();
      if (fresh) {
        conn = std::move(fresh.value());
        backoff_ms = 100;
        catch_up(conn.get(), lost_at);
        break;
      }
    }
  }
}

// Delivers notifications until the connection fails or the store stops;
// returns the time the connection was lost.
Seconds PgDatabase::listen_until_lost(PGconn* conn) {
  while (!stop_.load()) {
    // Notifications that arrived with a query's results (LISTEN, the
    // catch-up) are already in libpq's queue: the socket will not say so.
    while (PgNotification note{PQnotifies(conn)}) handle_notification(note->extra);
    pollfd fds[2] = {{PQsocket(conn), POLLIN, 0}, {wake_.fd(), POLLIN, 0}};
    const int n = ::poll(fds, 2, -1);
    if (n < 0 && errno != EINTR) break;
    if (stop_.load()) break;
    if (fds[0].revents == 0) continue;
    if (PQconsumeInput(conn) == 0 || PQstatus(conn) != CONNECTION_OK) break;
  }
  return wall_clock();
}

void PgDatabase::handle_notification(const char* payload) {
  // "<instance> <c|p> <id>"
  const std::string_view text(payload ? payload : "");
  const auto sp1 = text.find(' ');
  if (sp1 == std::string_view::npos || text.size() < sp1 + 3 || text[sp1 + 2] != ' ') return;
  if (text.substr(0, sp1) == instance_) return;  // ours: heard after our commit already
  const char kind = text[sp1 + 1];
  if (kind != 'c' && kind != 'p') return;
  deliver_(kind == 'c' ? ChangeKind::challenge : ChangeKind::pairing,
           std::string(text.substr(sp1 + 3)));
}

// After a reconnect: what may have changed while nobody listened.
void PgDatabase::catch_up(PGconn* conn, Seconds lost_at) {
  PgSession s(conn, *this);
  // A silently dead connection is noticed up to ~20 s late (keepalives,
  // tcp_user_timeout), and instances' clocks differ a little: look back 30 s.
  const Seconds since = lost_at - kCatchUpSeconds;
  (void)s.run("catch up",
              "SELECT challenge_id FROM challenges WHERE created >= ? OR decided_at >= ?",
              Params().integer(since).integer(since),
              [&](const sql::Row& row) { deliver_(ChangeKind::challenge, row.text(0)); });
  (void)s.run("catch up",
              "SELECT pairing_id FROM pairings WHERE status <> 'open' AND expires > ?",
              Params().integer(wall_clock()),
              [&](const sql::Row& row) { deliver_(ChangeKind::pairing, row.text(0)); });
}

}  // namespace

StoreResult<std::unique_ptr<Store>> open_postgresql_store(const std::string& url) {
  return sql::open_sql_store(std::make_unique<PgDatabase>(url));
}

}  // namespace twostep::relay
