// The PostgreSQL store: a small pool of libpq connections, and one more
// connection on its own thread that LISTENs for the changes of other
// instances.
//
// Concurrency between instances (READ COMMITTED plus explicit locks):
// - Every change to the challenges of one (host, user) - create, decide -
//   and every device confirmation for it first takes a transaction-scoped
//   advisory lock on (host, user), so "one pending challenge per (host,
//   user)", the push block and the cooldown are decided one at a time. A
//   partial unique index on pending challenges is the backstop.
// - decide, cancel, register and confirm lock their row (SELECT ... FOR
//   UPDATE) and re-check its status under the lock: decide-once and
//   register-once.
// - expire_due takes the due rows FOR UPDATE SKIP LOCKED and changes only
//   those still pending: each expiry is written by exactly one instance.
// - Serialization failures and deadlocks (40001, 40P01), and a connection
//   lost before COMMIT was sent, are retried on a fresh connection.
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

// Versioned migrations: entry i takes the schema from version i to i + 1.
// The same versions and the same meaning as store_sqlite.cpp's (column
// `user` is `user_name` here: USER is reserved in PostgreSQL). Never edit a
// released entry; append a new one.
constexpr const char* kMigrations[] = {
    // 0 -> 1
    R"sql(
CREATE TABLE hosts (
  host_id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  secret BYTEA NOT NULL,
  created BIGINT NOT NULL,
  removed BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE UNIQUE INDEX hosts_live_name ON hosts(name) WHERE NOT removed;
CREATE TABLE nonces (
  principal TEXT NOT NULL,
  nonce TEXT NOT NULL,
  expires BIGINT NOT NULL,
  PRIMARY KEY (principal, nonce)
);
CREATE INDEX nonces_expires ON nonces(expires);
CREATE TABLE pairings (
  pairing_id TEXT PRIMARY KEY,
  host_id TEXT NOT NULL,
  user_name TEXT NOT NULL,
  confirm_hash BYTEA NOT NULL,
  created BIGINT NOT NULL,
  expires BIGINT NOT NULL,
  status TEXT NOT NULL,
  reg_name TEXT,
  reg_credential_id BYTEA,
  reg_credential_pk BYTEA,
  reg_api_pk BYTEA,
  reg_proof BYTEA,
  reg_api_key_id TEXT,
  device_id TEXT NOT NULL DEFAULT ''
);
CREATE TABLE devices (
  device_id TEXT PRIMARY KEY,
  host_id TEXT NOT NULL,
  user_name TEXT NOT NULL,
  name TEXT NOT NULL,
  credential_id BYTEA NOT NULL,
  credential_pk BYTEA NOT NULL,
  api_key_id TEXT NOT NULL,
  api_pk BYTEA NOT NULL,
  created BIGINT NOT NULL,
  last_used BIGINT NOT NULL DEFAULT 0,
  revoked BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE INDEX devices_api_key ON devices(api_key_id);
CREATE INDEX devices_host_user ON devices(host_id, user_name);
CREATE TABLE challenges (
  challenge_id TEXT PRIMARY KEY,
  host_id TEXT NOT NULL,
  host_name TEXT NOT NULL,
  user_name TEXT NOT NULL,
  service TEXT NOT NULL,
  rhost TEXT NOT NULL,
  tty TEXT NOT NULL,
  nonce TEXT NOT NULL,
  created BIGINT NOT NULL,
  expires BIGINT NOT NULL,
  status TEXT NOT NULL,
  decided_at BIGINT NOT NULL DEFAULT 0,
  decided_by TEXT NOT NULL DEFAULT '',
  decided_by_name TEXT NOT NULL DEFAULT '',
  decided_credential BYTEA,
  a_credential_id BYTEA,
  a_authenticator_data BYTEA,
  a_client_data_json BYTEA,
  a_signature BYTEA,
  seq BIGINT GENERATED ALWAYS AS IDENTITY  -- insertion order (SQLite's rowid)
);
CREATE INDEX challenges_host_user ON challenges(host_id, user_name, status);
CREATE UNIQUE INDEX challenges_one_pending ON challenges(host_id, user_name)
  WHERE status = 'pending';
CREATE INDEX challenges_pending ON challenges(status, expires);
CREATE TABLE challenge_credentials (
  challenge_id TEXT NOT NULL,
  position BIGINT NOT NULL,
  credential_id BYTEA NOT NULL,
  PRIMARY KEY (challenge_id, position)
);
CREATE INDEX challenge_credentials_cred ON challenge_credentials(credential_id);
CREATE TABLE push_blocks (
  host_id TEXT NOT NULL,
  user_name TEXT NOT NULL,
  since BIGINT NOT NULL,
  PRIMARY KEY (host_id, user_name)
);
CREATE TABLE denials (
  host_id TEXT NOT NULL,
  user_name TEXT NOT NULL,
  time BIGINT NOT NULL
);
CREATE INDEX denials_host_user ON denials(host_id, user_name, time);
CREATE TABLE audit (
  seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  time BIGINT NOT NULL,
  event TEXT NOT NULL,
  host TEXT NOT NULL,
  user_name TEXT NOT NULL,
  service TEXT NOT NULL,
  rhost TEXT NOT NULL,
  challenge_id TEXT NOT NULL,
  device TEXT NOT NULL,
  result TEXT NOT NULL,
  ms BIGINT NOT NULL
);
CREATE INDEX audit_user ON audit(user_name, seq);
)sql",
    // 1 -> 2: Web Push (the approver app): relay-wide settings (the VAPID
    // key pair) and the phones' push subscriptions, per API key.
    R"sql(
CREATE TABLE settings (
  name TEXT PRIMARY KEY,
  value BYTEA NOT NULL
);
CREATE TABLE push_subscriptions (
  endpoint TEXT PRIMARY KEY,
  api_key_id TEXT NOT NULL,
  p256dh BYTEA NOT NULL,
  auth BYTEA NOT NULL,
  created BIGINT NOT NULL
);
CREATE INDEX push_subscriptions_key ON push_subscriptions(api_key_id);
)sql",
};
constexpr std::int64_t kSchemaVersion = static_cast<std::int64_t>(std::size(kMigrations));

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

class Params {
 public:
  Params& text(std::string_view v) { return add(std::string(v), kTextOid); }
  Params& bytes(std::string_view v) { return add(std::string(v), kByteaOid); }
  Params& int8(std::int64_t v) {
    std::string be(8, '\0');
    auto u = static_cast<std::uint64_t>(v);
    for (int i = 7; i >= 0; --i) {
      be[static_cast<std::size_t>(i)] = static_cast<char>(u & 0xff);
      u >>= 8;
    }
    return add(std::move(be), kInt8Oid);
  }

  int size() const { return static_cast<int>(values_.size()); }
  const std::vector<std::string>& values() const { return values_; }
  const std::vector<Oid>& types() const { return types_; }

 private:
  Params& add(std::string value, Oid type) {
    values_.push_back(std::move(value));
    types_.push_back(type);
    return *this;
  }
  std::vector<std::string> values_;
  std::vector<Oid> types_;
};

class Rows {
 public:
  explicit Rows(PgResult res) : res_(std::move(res)) {}
  int count() const { return PQntuples(res_.get()); }
  bool empty() const { return count() == 0; }
  bool is_null(int row, int col) const { return PQgetisnull(res_.get(), row, col) == 1; }
  // TEXT and BYTEA columns: the raw bytes.
  std::string bytes(int row, int col) const {
    const char* p = PQgetvalue(res_.get(), row, col);
    const int n = PQgetlength(res_.get(), row, col);
    return p && n > 0 ? std::string(p, static_cast<std::size_t>(n)) : std::string();
  }
  // BIGINT columns (all our integers): 8 bytes, network order.
  std::int64_t int8(int row, int col) const {
    if (PQgetlength(res_.get(), row, col) != 8) return 0;
    const auto* p = reinterpret_cast<const unsigned char*>(PQgetvalue(res_.get(), row, col));
    std::uint64_t u = 0;
    for (int i = 0; i < 8; ++i) u = (u << 8) | p[i];
    return static_cast<std::int64_t>(u);
  }
  bool boolean(int row, int col) const {
    return PQgetlength(res_.get(), row, col) == 1 && PQgetvalue(res_.get(), row, col)[0] != 0;
  }
  std::int64_t affected() const {
    const char* text = PQcmdTuples(res_.get());
    std::int64_t n = 0;
    std::from_chars(text, text + std::strlen(text), n);
    return n;
  }

 private:
  PgResult res_;
};

// One connection for the duration of one store call. Remembers whether the
// last failure may be retried on a fresh connection.
class Session {
 public:
  explicit Session(PGconn* conn) : conn_(conn) {}

  StoreResult<Rows> query(const char* what, const char* sql, const Params& params = {}) {
    const auto n = static_cast<std::size_t>(params.size());
    std::vector<const char*> values(n);
    std::vector<int> lengths(n);
    std::vector<int> formats(n, 1);
    for (std::size_t i = 0; i < n; ++i) {
      values[i] = params.values()[i].data();
      lengths[i] = static_cast<int>(params.values()[i].size());
    }
    PgResult res(PQexecParams(conn_, sql, params.size(), params.types().data(), values.data(),
                              lengths.data(), formats.data(), 1));
    return check(what, std::move(res));
  }

  // Statements without parameters, several at once allowed (migrations).
  StoreResult<Rows> exec(const char* what, const char* sql) {
    return check(what, PgResult(PQexec(conn_, sql)));
  }

  bool retryable() const { return retryable_; }
  bool connection_lost() const { return PQstatus(conn_) != CONNECTION_OK; }
  const std::string& sqlstate() const { return sqlstate_; }
  PGconn* conn() const { return conn_; }

 private:
  StoreResult<Rows> check(const char* what, PgResult res) {
    const ExecStatusType status = res ? PQresultStatus(res.get()) : PGRES_FATAL_ERROR;
    if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) {
      sqlstate_.clear();
      return Rows(std::move(res));
    }
    const char* state = res ? PQresultErrorField(res.get(), PG_DIAG_SQLSTATE) : nullptr;
    sqlstate_ = state ? state : "";
    retryable_ = sqlstate_ == "40001" || sqlstate_ == "40P01" || connection_lost();
    // The primary message only: DETAIL may quote key values.
    const char* primary = res ? PQresultErrorField(res.get(), PG_DIAG_MESSAGE_PRIMARY) : nullptr;
    std::string message = primary ? primary : first_line(PQerrorMessage(conn_));
    return StoreError{StoreErrc::backend, std::string(what) + ": postgresql: " + message};
  }

  PGconn* conn_;
  bool retryable_ = false;
  std::string sqlstate_;
};

// At most kMaxConnections, opened on demand; a broken one is dropped.
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

struct Change {
  ChangeKind kind;
  std::string id;
};

constexpr const char* kChallengeColumns =
    "challenge_id, host_id, host_name, user_name, service, rhost, tty, nonce, created, expires, "
    "status, decided_at, decided_by, decided_by_name, decided_credential, a_credential_id, "
    "a_authenticator_data, a_client_data_json, a_signature";

constexpr const char* kDeviceColumns =
    "device_id, host_id, user_name, name, credential_id, credential_pk, api_key_id, api_pk, "
    "created, last_used, revoked";

constexpr const char* kPairingColumns =
    "pairing_id, host_id, user_name, confirm_hash, created, expires, status, reg_name, "
    "reg_credential_id, reg_credential_pk, reg_api_pk, reg_proof, reg_api_key_id, device_id";

DeviceRecord read_device(const Rows& r, int row) {
  DeviceRecord d;
  d.device_id = r.bytes(row, 0);
  d.host_id = r.bytes(row, 1);
  d.user = r.bytes(row, 2);
  d.name = r.bytes(row, 3);
  d.credential_id = r.bytes(row, 4);
  d.credential_public_key = r.bytes(row, 5);
  d.api_key_id = r.bytes(row, 6);
  d.api_public_key = r.bytes(row, 7);
  d.created = r.int8(row, 8);
  d.last_used = r.int8(row, 9);
  d.revoked = r.boolean(row, 10);
  return d;
}

PairingRecord read_pairing(const Rows& r, int row) {
  PairingRecord p;
  p.pairing_id = r.bytes(row, 0);
  p.host_id = r.bytes(row, 1);
  p.user = r.bytes(row, 2);
  p.confirm_hash = r.bytes(row, 3);
  p.created = r.int8(row, 4);
  p.expires = r.int8(row, 5);
  const std::string status = r.bytes(row, 6);
  p.status = status == "registered"  ? PairingStatus::registered
             : status == "confirmed" ? PairingStatus::confirmed
                                     : PairingStatus::open;
  if (!r.is_null(row, 7)) {
    p.registration = PairingRegistration{r.bytes(row, 7),  r.bytes(row, 8),  r.bytes(row, 9),
                                         r.bytes(row, 10), r.bytes(row, 11), r.bytes(row, 12)};
  }
  p.device_id = r.bytes(row, 13);
  return p;
}

ChallengeRecord read_challenge(const Rows& r, int row) {
  ChallengeRecord c;
  c.challenge_id = r.bytes(row, 0);
  c.host_id = r.bytes(row, 1);
  c.host_name = r.bytes(row, 2);
  c.user = r.bytes(row, 3);
  c.service = r.bytes(row, 4);
  c.rhost = r.bytes(row, 5);
  c.tty = r.bytes(row, 6);
  c.nonce = r.bytes(row, 7);
  c.created = r.int8(row, 8);
  c.expires = r.int8(row, 9);
  c.status = challenge_status_from(r.bytes(row, 10)).value_or(ChallengeStatus::expired);
  c.decided_at = r.int8(row, 11);
  c.decided_by = r.bytes(row, 12);
  c.decided_by_name = r.bytes(row, 13);
  c.decided_credential = r.bytes(row, 14);
  if (c.status == ChallengeStatus::approved && !r.is_null(row, 15) && !r.bytes(row, 15).empty()) {
    c.assertion = Assertion{r.bytes(row, 15), r.bytes(row, 16), r.bytes(row, 17), r.bytes(row, 18)};
  }
  return c;
}

// A pending challenge past its expiry reads as expired (expire_due writes it).
void report_expiry(ChallengeRecord& c, Seconds now) {
  if (c.status == ChallengeStatus::pending && now >= c.expires) {
    c.status = ChallengeStatus::expired;
    c.decided_at = c.expires;
  }
}

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

class PgStore final : public Store {
 public:
  explicit PgStore(std::string url)
      : pool_(std::move(url)), instance_(random_instance_token()) {}

  ~PgStore() override {
    stop_.store(true);
    wake_.signal();
    if (listen_thread_.joinable()) listen_thread_.join();
  }
  PgStore(const PgStore&) = delete;
  PgStore& operator=(const PgStore&) = delete;

  StoreResult<Done> migrate() {
    return transact<Done>([&](Session& s, std::vector<Change>&) -> StoreResult<Done> {
      if (auto r = s.query("migrate", "SELECT pg_advisory_xact_lock($1)",
                           Params().int8(kMigrationLock));
          !r) {
        return r.error();
      }
      if (auto r = s.exec("migrate",
                          "CREATE TABLE IF NOT EXISTS twostep_schema ("
                          "  singleton BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (singleton),"
                          "  version BIGINT NOT NULL)");
          !r) {
        return r.error();
      }
      auto v = s.query("migrate", "SELECT version FROM twostep_schema");
      if (!v) return v.error();
      const std::int64_t version = v->empty() ? 0 : v->int8(0, 0);
      if (version > kSchemaVersion) {
        return StoreError{StoreErrc::schema_too_new,
                          "the database's schema version is " + std::to_string(version) +
                              ", newer than this twostepd's " + std::to_string(kSchemaVersion) +
                              ": it was written by a newer twostepd; upgrade twostepd (the "
                              "database was not changed)"};
      }
      for (std::int64_t i = version; i < kSchemaVersion; ++i) {
        if (auto r = s.exec("migrate", kMigrations[i]); !r) return r.error();
      }
      if (auto r = s.query("migrate",
                           "INSERT INTO twostep_schema(singleton, version) VALUES (TRUE, $1) "
                           "ON CONFLICT (singleton) DO UPDATE SET version = EXCLUDED.version",
                           Params().int8(kSchemaVersion));
          !r) {
        return r.error();
      }
      return Done{};
    });
  }

  // Connects and LISTENs now, so that changes committed after open_store
  // returns reach the listener; then hands the connection to the thread.
  StoreResult<Done> start_listening() {
    auto conn = listen_connection();
    if (!conn) return conn.error();
    listen_thread_ = std::thread([this, c = std::move(conn.value())]() mutable {
      listen_loop(std::move(c));
    });
    return Done{};
  }

  void set_change_listener(ChangeListener listener) override {
    std::lock_guard lock(listener_mu_);
    listener_ = std::move(listener);
  }

  // ---- hosts ----
  StoreResult<Done> add_host(const HostRecord& host) override {
    return transact<Done>([&](Session& s, std::vector<Change>&) -> StoreResult<Done> {
      auto r = s.query("add host",
                       "INSERT INTO hosts(host_id, name, secret, created, removed) "
                       "VALUES($1, $2, $3, $4, FALSE)",
                       Params().text(host.host_id).text(host.name).bytes(host.secret)
                           .int8(host.created));
      if (!r && s.sqlstate() == "23505") {
        return StoreError{StoreErrc::duplicate, "a host named '" + host.name + "' exists"};
      }
      if (!r) return r.error();
      return Done{};
    });
  }

  StoreResult<HostRecord> find_host(std::string_view host_id) override {
    return read<HostRecord>([&](Session& s) -> StoreResult<HostRecord> {
      auto r = s.query("find host",
                       "SELECT host_id, name, secret, created, removed FROM hosts "
                       "WHERE host_id = $1",
                       Params().text(host_id));
      if (!r) return r.error();
      if (r->empty()) return StoreError{StoreErrc::not_found, "no such host"};
      return HostRecord{r->bytes(0, 0), r->bytes(0, 1), r->bytes(0, 2), r->int8(0, 3),
                        r->boolean(0, 4)};
    });
  }

  StoreResult<std::vector<HostRecord>> list_hosts() override {
    return read<std::vector<HostRecord>>([&](Session& s) -> StoreResult<std::vector<HostRecord>> {
      auto r = s.query("list hosts",
                       "SELECT host_id, name, secret, created FROM hosts WHERE NOT removed "
                       "ORDER BY name");
      if (!r) return r.error();
      std::vector<HostRecord> out;
      for (int i = 0; i < r->count(); ++i) {
        out.push_back(HostRecord{r->bytes(i, 0), r->bytes(i, 1), r->bytes(i, 2), r->int8(i, 3),
                                 false});
      }
      return out;
    });
  }

  StoreResult<HostRecord> remove_host(std::string_view id_or_name, Seconds) override {
    return transact<HostRecord>([&](Session& s, std::vector<Change>&) -> StoreResult<HostRecord> {
      auto r = s.query("remove host",
                       "SELECT host_id, name, secret, created FROM hosts "
                       "WHERE NOT removed AND (host_id = $1 OR name = $1) "
                       "ORDER BY host_id LIMIT 1 FOR UPDATE",
                       Params().text(id_or_name));
      if (!r) return r.error();
      if (r->empty()) return StoreError{StoreErrc::not_found, "no such host"};
      HostRecord host{r->bytes(0, 0), r->bytes(0, 1), r->bytes(0, 2), r->int8(0, 3), true};
      if (auto u = s.query("remove host", "UPDATE hosts SET removed = TRUE WHERE host_id = $1",
                           Params().text(host.host_id));
          !u) {
        return u.error();
      }
      if (auto d = s.query("remove host", "UPDATE devices SET revoked = TRUE WHERE host_id = $1",
                           Params().text(host.host_id));
          !d) {
        return d.error();
      }
      return host;
    });
  }

  // ---- nonces ----
  StoreResult<bool> remember_nonce(std::string_view principal, std::string_view nonce,
                                   Seconds now, Seconds ttl) override {
    return read<bool>([&](Session& s) -> StoreResult<bool> {
      return remember_nonce_in(s, principal, nonce, now, ttl);
    });
  }

  StoreResult<bool> remember_nonce_in(Session& s, std::string_view principal,
                                      std::string_view nonce, Seconds now, Seconds ttl) {
    // Forgotten entries are purged at most once a second per instance; the
    // insert below treats one not yet purged as new.
    if (nonces_purged_.exchange(now) != now) {
      if (auto p = s.query("purge nonces", "DELETE FROM nonces WHERE expires <= $1",
                           Params().int8(now));
          !p) {
        nonces_purged_.store(0);
        return p.error();
      }
    }
    // One statement decides, even against another instance: a row is
    // written only if it is new or its old entry was forgotten.
    auto r = s.query("remember nonce",
                     "INSERT INTO nonces(principal, nonce, expires) VALUES($1, $2, $3) "
                     "ON CONFLICT (principal, nonce) DO UPDATE SET expires = EXCLUDED.expires "
                     "WHERE nonces.expires <= $4",
                     Params().text(principal).text(nonce).int8(now + ttl).int8(now));
    if (!r) return r.error();
    return r->affected() == 1;
  }

  // The first and the last step of a change's transaction (ChangeRecords).
  StoreResult<Done> record_nonce_in(Session& s, const ChangeRecords& records, Seconds now) {
    if (records.nonce_principal.empty()) return Done{};
    auto fresh = remember_nonce_in(s, records.nonce_principal, records.nonce, now,
                                   records.nonce_ttl);
    if (!fresh) return fresh.error();
    if (!fresh.value()) return StoreError{StoreErrc::replayed_nonce, "nonce already used"};
    return Done{};
  }

  StoreResult<Done> append_audit_in(Session& s, const AuditEvent& e) {
    auto r = s.query("append audit",
                     "INSERT INTO audit(time, event, host, user_name, service, rhost, "
                     "challenge_id, device, result, ms) "
                     "VALUES($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                     Params().int8(e.time).text(e.event).text(e.host).text(e.user)
                         .text(e.service).text(e.rhost).text(e.challenge_id).text(e.device)
                         .text(e.result).int8(e.ms));
    if (!r) return r.error();
    return Done{};
  }

  StoreResult<Done> append_audit_in(Session& s, const ChangeRecords& records) {
    for (const auto& e : records.audit) {
      if (auto done = append_audit_in(s, e); !done) return done;
    }
    return Done{};
  }

  // ---- pairings ----
  StoreResult<Done> create_pairing(const PairingRecord& p) override {
    return transact<Done>([&](Session& s, std::vector<Change>&) -> StoreResult<Done> {
      auto r = s.query("create pairing",
                       "INSERT INTO pairings(pairing_id, host_id, user_name, confirm_hash, "
                       "created, expires, status) VALUES($1, $2, $3, $4, $5, $6, 'open')",
                       Params().text(p.pairing_id).text(p.host_id).text(p.user)
                           .bytes(p.confirm_hash).int8(p.created).int8(p.expires));
      if (!r) return r.error();
      return Done{};
    });
  }

  StoreResult<PairingRecord> find_pairing(std::string_view pairing_id) override {
    return read<PairingRecord>(
        [&](Session& s) { return find_pairing_in(s, pairing_id, false); });
  }

  StoreResult<PairingRecord> register_pairing(std::string_view pairing_id,
                                              const PairingRegistration& reg,
                                              Seconds now) override {
    return transact<PairingRecord>(
        [&](Session& s, std::vector<Change>& changes) -> StoreResult<PairingRecord> {
          auto p = find_pairing_in(s, pairing_id, true);
          if (!p) return p.error();
          if (p->status != PairingStatus::open) {
            return StoreError{StoreErrc::already_registered, "pairing already has a device"};
          }
          if (now >= p->expires) return StoreError{StoreErrc::expired, "pairing expired"};
          auto u = s.query("register pairing",
                           "UPDATE pairings SET status = 'registered', reg_name = $1, "
                           "reg_credential_id = $2, reg_credential_pk = $3, reg_api_pk = $4, "
                           "reg_proof = $5, reg_api_key_id = $6 WHERE pairing_id = $7",
                           Params().text(reg.name).bytes(reg.credential_id)
                               .bytes(reg.credential_public_key).bytes(reg.api_public_key)
                               .bytes(reg.proof).text(reg.api_key_id).text(pairing_id));
          if (!u) return u.error();
          p->status = PairingStatus::registered;
          p->registration = reg;
          changes.push_back({ChangeKind::pairing, p->pairing_id});
          return p;
        });
  }

  StoreResult<DeviceRecord> confirm_pairing(std::string_view pairing_id,
                                            std::string_view device_id,
                                            Seconds now) override {
    return transact<DeviceRecord>(
        [&](Session& s, std::vector<Change>& changes) -> StoreResult<DeviceRecord> {
          auto p = find_pairing_in(s, pairing_id, true);
          if (!p) return p.error();
          if (p->status == PairingStatus::confirmed) {
            return StoreError{StoreErrc::already_registered, "pairing already confirmed"};
          }
          if (now >= p->expires) return StoreError{StoreErrc::expired, "pairing expired"};
          if (p->status != PairingStatus::registered || !p->registration) {
            return StoreError{StoreErrc::not_registered, "no device registered yet"};
          }
          if (auto l = lock_host_user(s, p->host_id, p->user); !l) return l.error();
          const PairingRegistration& reg = *p->registration;
          auto dup = s.query("confirm pairing",
                             "SELECT 1 FROM devices WHERE host_id = $1 AND user_name = $2 AND "
                             "credential_id = $3 AND NOT revoked",
                             Params().text(p->host_id).text(p->user).bytes(reg.credential_id));
          if (!dup) return dup.error();
          if (!dup->empty()) {
            return StoreError{StoreErrc::duplicate,
                              "this credential is already active for the user"};
          }
          DeviceRecord d;
          d.device_id = std::string(device_id);
          d.host_id = p->host_id;
          d.user = p->user;
          d.name = reg.name;
          d.credential_id = reg.credential_id;
          d.credential_public_key = reg.credential_public_key;
          d.api_key_id = reg.api_key_id;
          d.api_public_key = reg.api_public_key;
          d.created = now;
          auto ins = s.query("insert device",
                             "INSERT INTO devices(device_id, host_id, user_name, name, "
                             "credential_id, credential_pk, api_key_id, api_pk, created) "
                             "VALUES($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                             Params().text(d.device_id).text(d.host_id).text(d.user).text(d.name)
                                 .bytes(d.credential_id).bytes(d.credential_public_key)
                                 .text(d.api_key_id).bytes(d.api_public_key).int8(d.created));
          if (!ins && s.sqlstate() == "23505") {
            return StoreError{StoreErrc::duplicate, "device id in use"};
          }
          if (!ins) return ins.error();
          auto up = s.query("confirm pairing",
                            "UPDATE pairings SET status = 'confirmed', device_id = $1 "
                            "WHERE pairing_id = $2",
                            Params().text(device_id).text(pairing_id));
          if (!up) return up.error();
          changes.push_back({ChangeKind::pairing, p->pairing_id});
          return d;
        });
  }

  // ---- devices ----
  StoreResult<std::vector<DeviceRecord>> list_devices(const DeviceFilter& filter) override {
    const std::string sql = std::string("SELECT ") + kDeviceColumns +
                            " FROM devices WHERE ($1 = '' OR host_id = $1) AND "
                            "($2 = '' OR user_name = $2) ORDER BY created, device_id";
    return read<std::vector<DeviceRecord>>([&](Session& s) {
      return devices_from(s.query("list devices", sql.c_str(),
                                  Params().text(filter.host_id).text(filter.user)));
    });
  }

  StoreResult<DeviceRecord> find_device(std::string_view device_id) override {
    return read<DeviceRecord>([&](Session& s) { return find_device_in(s, device_id); });
  }

  StoreResult<std::vector<DeviceRecord>> devices_by_api_key(std::string_view api_key_id) override {
    const std::string sql = std::string("SELECT ") + kDeviceColumns +
                            " FROM devices WHERE api_key_id = $1 ORDER BY created, device_id";
    return read<std::vector<DeviceRecord>>([&](Session& s) {
      return devices_from(s.query("devices by key", sql.c_str(), Params().text(api_key_id)));
    });
  }

  StoreResult<DeviceRecord> revoke_device(std::string_view device_id, Seconds) override {
    const std::string sql = std::string("UPDATE devices SET revoked = TRUE WHERE device_id = $1 "
                                        "RETURNING ") + kDeviceColumns;
    return read<DeviceRecord>([&](Session& s) {
      return one_device(s.query("revoke device", sql.c_str(), Params().text(device_id)));
    });
  }

  StoreResult<DeviceRecord> rename_device(std::string_view device_id,
                                          std::string_view name) override {
    const std::string sql = std::string("UPDATE devices SET name = $1 WHERE device_id = $2 "
                                        "RETURNING ") + kDeviceColumns;
    return read<DeviceRecord>([&](Session& s) {
      return one_device(
          s.query("rename device", sql.c_str(), Params().text(name).text(device_id)));
    });
  }

  // ---- challenges ----
  StoreResult<CreatedChallenge> create_challenge(const NewChallenge& c, const FatiguePolicy& policy,
                                                 Seconds now, const ChangeRecords& records) override {
    return transact<CreatedChallenge>(
        [&](Session& s, std::vector<Change>& changes) -> StoreResult<CreatedChallenge> {
          if (auto n = record_nonce_in(s, records, now); !n) return n.error();
          if (auto l = lock_host_user(s, c.host_id, c.user); !l) return l.error();
          // FOR SHARE: a concurrent remove_host waits for us, or we for it.
          auto host = s.query("create challenge",
                              "SELECT name FROM hosts WHERE host_id = $1 AND NOT removed "
                              "FOR SHARE",
                              Params().text(c.host_id));
          if (!host) return host.error();
          if (host->empty()) return StoreError{StoreErrc::not_found, "no such host"};
          const std::string host_name = host->bytes(0, 0);

          auto blocked = s.query("create challenge",
                                 "SELECT 1 FROM push_blocks WHERE host_id = $1 AND user_name = $2",
                                 Params().text(c.host_id).text(c.user));
          if (!blocked) return blocked.error();
          if (!blocked->empty()) {
            return StoreError{StoreErrc::push_blocked,
                              "push is blocked for this user on this host"};
          }
          if (policy.denials > 0) {
            auto den = s.query("create challenge",
                               "SELECT time FROM denials WHERE host_id = $1 AND user_name = $2 "
                               "ORDER BY time DESC LIMIT $3",
                               Params().text(c.host_id).text(c.user).int8(policy.denials));
            if (!den) return den.error();
            if (den->count() == policy.denials) {
              const Seconds newest = den->int8(0, 0);
              const Seconds oldest = den->int8(den->count() - 1, 0);
              if (newest - oldest <= policy.window && now < newest + policy.cooldown) {
                StoreError e{StoreErrc::cooldown, "too many denials; cooling down"};
                e.retry_after = newest + policy.cooldown - now;
                return e;
              }
            }
          }
          bool any_device = false;
          for (const auto& cred : c.credential_ids) {
            auto dev = s.query("create challenge",
                               "SELECT 1 FROM devices WHERE host_id = $1 AND user_name = $2 AND "
                               "credential_id = $3 AND NOT revoked",
                               Params().text(c.host_id).text(c.user).bytes(cred));
            if (!dev) return dev.error();
            if (!dev->empty()) {
              any_device = true;
              break;
            }
          }
          if (!any_device) {
            return StoreError{StoreErrc::no_devices, "no listed device is active for this user"};
          }

          CreatedChallenge out;
          auto pend = s.query("supersede",
                              "UPDATE challenges SET status = 'cancelled', decided_at = $3 "
                              "WHERE host_id = $1 AND user_name = $2 AND status = 'pending' "
                              "RETURNING challenge_id",
                              Params().text(c.host_id).text(c.user).int8(now));
          if (!pend) return pend.error();
          for (int i = 0; i < pend->count(); ++i) out.superseded.push_back(pend->bytes(i, 0));

          ChallengeRecord& r = out.challenge;
          r.challenge_id = c.challenge_id;
          r.host_id = c.host_id;
          r.host_name = host_name;
          r.user = c.user;
          r.service = c.service;
          r.rhost = c.rhost;
          r.tty = c.tty;
          r.credential_ids = c.credential_ids;
          r.nonce = c.nonce;
          r.created = now;
          r.expires = c.expires;
          auto ins = s.query("insert challenge",
                             "INSERT INTO challenges(challenge_id, host_id, host_name, user_name, "
                             "service, rhost, tty, nonce, created, expires, status) "
                             "VALUES($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'pending')",
                             Params().text(r.challenge_id).text(r.host_id).text(r.host_name)
                                 .text(r.user).text(r.service).text(r.rhost).text(r.tty)
                                 .text(r.nonce).int8(r.created).int8(r.expires));
          if (!ins) return ins.error();
          std::int64_t position = 0;
          for (const auto& cred : c.credential_ids) {
            auto ci = s.query("insert challenge",
                              "INSERT INTO challenge_credentials(challenge_id, position, "
                              "credential_id) VALUES($1, $2, $3)",
                              Params().text(r.challenge_id).int8(position++).bytes(cred));
            if (!ci) return ci.error();
          }
          if (auto a = append_audit_in(s, records); !a) return a.error();
          for (const auto& id : out.superseded) changes.push_back({ChangeKind::challenge, id});
          changes.push_back({ChangeKind::challenge, r.challenge_id});
          return out;
        });
  }

  StoreResult<ChallengeRecord> find_challenge(std::string_view challenge_id,
                                              Seconds now) override {
    return read<ChallengeRecord>([&](Session& s) -> StoreResult<ChallengeRecord> {
      auto c = find_challenge_in(s, challenge_id, false);
      if (c) report_expiry(c.value(), now);
      return c;
    });
  }

  StoreResult<ChallengeRecord> cancel_challenge(std::string_view challenge_id,
                                                Seconds now) override {
    return transact<ChallengeRecord>(
        [&](Session& s, std::vector<Change>& changes) -> StoreResult<ChallengeRecord> {
          auto c = find_challenge_in(s, challenge_id, true);
          if (!c) return c;
          if (c->status != ChallengeStatus::pending) return c;
          if (now >= c->expires) {  // expire_due records it, once
            report_expiry(c.value(), now);
            return c;
          }
          auto u = s.query("cancel challenge",
                           "UPDATE challenges SET status = 'cancelled', decided_at = $1 "
                           "WHERE challenge_id = $2",
                           Params().int8(now).text(challenge_id));
          if (!u) return u.error();
          c->status = ChallengeStatus::cancelled;
          c->decided_at = now;
          changes.push_back({ChangeKind::challenge, c->challenge_id});
          return c;
        });
  }

  StoreResult<ChallengeRecord> decide_challenge(std::string_view challenge_id,
                                                std::string_view device_id, Decision decision,
                                                const std::optional<Assertion>& assertion,
                                                Seconds now, const ChangeRecords& records) override {
    return transact<ChallengeRecord>(
        [&](Session& s, std::vector<Change>& changes) -> StoreResult<ChallengeRecord> {
          if (auto n = record_nonce_in(s, records, now); !n) return n.error();
          // (host, user) first, then the row: the lock order of create_challenge.
          auto who = s.query("decide challenge",
                             "SELECT host_id, user_name FROM challenges WHERE challenge_id = $1",
                             Params().text(challenge_id));
          if (!who) return who.error();
          if (who->empty()) return StoreError{StoreErrc::not_found, "no such challenge"};
          if (auto l = lock_host_user(s, who->bytes(0, 0), who->bytes(0, 1)); !l) {
            return l.error();
          }
          auto c = find_challenge_in(s, challenge_id, true);
          if (!c) return c;
          if (c->status == ChallengeStatus::expired ||
              (c->status == ChallengeStatus::pending && now >= c->expires)) {
            return StoreError{StoreErrc::expired, "challenge expired"};
          }
          if (c->status != ChallengeStatus::pending) {
            return StoreError{StoreErrc::already_decided, "challenge already decided"};
          }
          auto d = find_device_in(s, device_id);
          if (!d) return d.error();
          const ChallengeStatus status = status_of(decision);
          const bool with_assertion = decision == Decision::approve && assertion.has_value();
          Params p;
          p.text(to_string(status)).int8(now).text(d->device_id).text(d->name)
              .bytes(d->credential_id);
          if (with_assertion) {
            p.bytes(assertion->credential_id).bytes(assertion->authenticator_data)
                .bytes(assertion->client_data_json).bytes(assertion->signature);
          } else {
            p.bytes({}).bytes({}).bytes({}).bytes({});
          }
          p.text(challenge_id);
          auto u = s.query("decide challenge",
                           "UPDATE challenges SET status = $1, decided_at = $2, decided_by = $3, "
                           "decided_by_name = $4, decided_credential = $5, a_credential_id = $6, "
                           "a_authenticator_data = $7, a_client_data_json = $8, a_signature = $9 "
                           "WHERE challenge_id = $10 AND status = 'pending'",
                           p);
          if (!u) return u.error();
          auto used = s.query("decide challenge",
                              "UPDATE devices SET last_used = $1 WHERE device_id = $2",
                              Params().int8(now).text(device_id));
          if (!used) return used.error();
          if (decision != Decision::approve) {
            auto den = s.query("record denial",
                               "INSERT INTO denials(host_id, user_name, time) VALUES($1, $2, $3)",
                               Params().text(c->host_id).text(c->user).int8(now));
            if (!den) return den.error();
          }
          if (decision == Decision::report) {
            auto blk = s.query("block push",
                               "INSERT INTO push_blocks(host_id, user_name, since) "
                               "VALUES($1, $2, $3) ON CONFLICT DO NOTHING",
                               Params().text(c->host_id).text(c->user).int8(now));
            if (!blk) return blk.error();
          }
          if (auto a = append_audit_in(s, records); !a) return a.error();
          c->status = status;
          c->decided_at = now;
          c->decided_by = d->device_id;
          c->decided_by_name = d->name;
          c->decided_credential = d->credential_id;
          if (with_assertion) c->assertion = assertion;
          changes.push_back({ChangeKind::challenge, c->challenge_id});
          return c;
        });
  }

  StoreResult<std::vector<ChallengeRecord>> expire_due(Seconds now) override {
    return transact<std::vector<ChallengeRecord>>(
        [&](Session& s, std::vector<Change>& changes)
            -> StoreResult<std::vector<ChallengeRecord>> {
          // SKIP LOCKED: a row another transaction holds is its to settle; a
          // row it leaves pending is found by the next run.
          auto due = s.query("expire",
                             "WITH due AS (SELECT challenge_id FROM challenges "
                             "  WHERE status = 'pending' AND expires <= $1 "
                             "  ORDER BY challenge_id FOR UPDATE SKIP LOCKED) "
                             "UPDATE challenges c SET status = 'expired', decided_at = $1 "
                             "FROM due WHERE c.challenge_id = due.challenge_id "
                             "RETURNING c.challenge_id",
                             Params().int8(now));
          if (!due) return due.error();
          std::vector<ChallengeRecord> out;
          for (int i = 0; i < due->count(); ++i) {
            auto c = find_challenge_in(s, due->bytes(i, 0), false);
            if (!c) return c.error();
            changes.push_back({ChangeKind::challenge, c->challenge_id});
            out.push_back(std::move(c.value()));
          }
          std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
            return a.challenge_id < b.challenge_id;
          });
          return out;
        });
  }

  StoreResult<std::vector<ChallengeRecord>> challenges_for_api_key(std::string_view api_key_id,
                                                                   bool pending_only, int limit,
                                                                   Seconds now) override {
    const std::string sql =
        std::string("SELECT DISTINCT c.challenge_id, c.seq FROM challenges c "
                    "JOIN challenge_credentials cc ON cc.challenge_id = c.challenge_id "
                    "JOIN devices d ON d.credential_id = cc.credential_id AND "
                    "d.host_id = c.host_id AND d.user_name = c.user_name "
                    "WHERE d.api_key_id = $1 AND NOT d.revoked ") +
        (pending_only ? "AND c.status = 'pending' AND c.expires > $2 " : "AND $2 = $2 ") +
        "ORDER BY c.seq DESC LIMIT $3";  // newest first, as SQLite's rowid
    return read<std::vector<ChallengeRecord>>(
        [&](Session& s) -> StoreResult<std::vector<ChallengeRecord>> {
          auto ids = s.query("challenges for key", sql.c_str(),
                             Params().text(api_key_id).int8(now).int8(limit));
          if (!ids) return ids.error();
          std::vector<ChallengeRecord> out;
          for (int i = 0; i < ids->count(); ++i) {
            auto c = find_challenge_in(s, ids->bytes(i, 0), false);
            if (!c) return c.error();
            if (c->status == ChallengeStatus::pending && now >= c->expires) {
              c->status = ChallengeStatus::expired;  // shown as it is; expire_due records it
            }
            out.push_back(std::move(c.value()));
          }
          return out;
        });
  }

  StoreResult<bool> unblock(std::string_view host_id, std::string_view user) override {
    return transact<bool>([&](Session& s, std::vector<Change>&) -> StoreResult<bool> {
      auto b = s.query("unblock", "DELETE FROM push_blocks WHERE host_id = $1 AND user_name = $2",
                       Params().text(host_id).text(user));
      if (!b) return b.error();
      auto d = s.query("unblock", "DELETE FROM denials WHERE host_id = $1 AND user_name = $2",
                       Params().text(host_id).text(user));
      if (!d) return d.error();
      return b->affected() > 0;
    });
  }

  // ---- audit ----
  StoreResult<Done> append_audit(const AuditEvent& e) override {
    return read<Done>([&](Session& s) -> StoreResult<Done> { return append_audit_in(s, e); });
  }

  StoreResult<std::vector<AuditEvent>> list_audit(std::string_view user, int limit) override {
    return read<std::vector<AuditEvent>>([&](Session& s) -> StoreResult<std::vector<AuditEvent>> {
      auto r = s.query("list audit",
                       "SELECT seq, time, event, host, user_name, service, rhost, challenge_id, "
                       "device, result, ms FROM audit WHERE ($1 = '' OR user_name = $1) "
                       "ORDER BY seq DESC LIMIT $2",
                       Params().text(user).int8(limit));
      if (!r) return r.error();
      std::vector<AuditEvent> out;
      for (int i = 0; i < r->count(); ++i) {
        out.push_back(AuditEvent{r->int8(i, 0), r->int8(i, 1), r->bytes(i, 2), r->bytes(i, 3),
                                 r->bytes(i, 4), r->bytes(i, 5), r->bytes(i, 6), r->bytes(i, 7),
                                 r->bytes(i, 8), r->bytes(i, 9), r->int8(i, 10)});
      }
      return out;
    });
  }

  // ---- Web Push ----
  StoreResult<std::string> put_setting_if_absent(std::string_view name,
                                                 std::string_view value) override {
    return read<std::string>([&](Session& s) -> StoreResult<std::string> {
      // Two statements, each with its own snapshot: an instance that loses
      // the race waits in the INSERT for the winner's commit, and then its
      // SELECT sees the winner's row. (One statement with a CTE would read
      // a snapshot taken before that commit and find nothing.)
      if (auto r = s.query("put setting",
                           "INSERT INTO settings(name, value) VALUES($1, $2) "
                           "ON CONFLICT (name) DO NOTHING",
                           Params().text(name).bytes(value));
          !r) {
        return r.error();
      }
      return read_setting(s, name);
    });
  }

  StoreResult<std::string> get_setting(std::string_view name) override {
    return read<std::string>(
        [&](Session& s) -> StoreResult<std::string> { return read_setting(s, name); });
  }

  StoreResult<Done> put_push_subscription(const PushSubscription& sub) override {
    return read<Done>([&](Session& s) -> StoreResult<Done> {
      // Replaces by endpoint, every column, as SQLite's INSERT OR REPLACE.
      auto r = s.query("put push subscription",
                       "INSERT INTO push_subscriptions(endpoint, api_key_id, p256dh, auth, created) "
                       "VALUES($1, $2, $3, $4, $5) ON CONFLICT (endpoint) DO UPDATE SET "
                       "api_key_id = EXCLUDED.api_key_id, p256dh = EXCLUDED.p256dh, "
                       "auth = EXCLUDED.auth, created = EXCLUDED.created",
                       Params().text(sub.endpoint).text(sub.api_key_id).bytes(sub.p256dh)
                           .bytes(sub.auth).int8(sub.created));
      if (!r) return r.error();
      return Done{};
    });
  }

  StoreResult<std::vector<PushSubscription>> push_subscriptions(
      std::string_view api_key_id) override {
    return read<std::vector<PushSubscription>>(
        [&](Session& s) -> StoreResult<std::vector<PushSubscription>> {
          auto r = s.query("list push subscriptions",
                           "SELECT api_key_id, endpoint, p256dh, auth, created "
                           "FROM push_subscriptions WHERE api_key_id = $1 "
                           "ORDER BY created, endpoint",
                           Params().text(api_key_id));
          if (!r) return r.error();
          std::vector<PushSubscription> out;
          for (int i = 0; i < r->count(); ++i) {
            out.push_back(PushSubscription{r->bytes(i, 0), r->bytes(i, 1), r->bytes(i, 2),
                                           r->bytes(i, 3), r->int8(i, 4)});
          }
          return out;
        });
  }

  StoreResult<std::int64_t> delete_push_subscription(std::string_view endpoint) override {
    return read<std::int64_t>([&](Session& s) -> StoreResult<std::int64_t> {
      auto r = s.query("delete push subscription",
                       "DELETE FROM push_subscriptions WHERE endpoint = $1",
                       Params().text(endpoint));
      if (!r) return r.error();
      return r->affected();
    });
  }

  StoreResult<std::int64_t> delete_push_subscriptions(std::string_view api_key_id) override {
    return read<std::int64_t>([&](Session& s) -> StoreResult<std::int64_t> {
      auto r = s.query("delete push subscriptions",
                       "DELETE FROM push_subscriptions WHERE api_key_id = $1",
                       Params().text(api_key_id));
      if (!r) return r.error();
      return r->affected();
    });
  }

 private:
  static StoreResult<std::string> read_setting(Session& s, std::string_view name) {
    auto r = s.query("get setting", "SELECT value FROM settings WHERE name = $1",
                     Params().text(name));
    if (!r) return r.error();
    if (r->empty()) return StoreError{StoreErrc::not_found, "no such setting"};
    return r->bytes(0, 0);
  }

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

  // Runs `body` in one READ COMMITTED transaction: BEGIN, body, pg_notify of
  // its changes, COMMIT; on a domain error or failure, ROLLBACK. Retries
  // what is safe to retry (see the top of the file). After the commit the
  // local listener hears the changes.
  template <typename T, typename Body>
  StoreResult<T> transact(Body&& body) {
    for (int attempt = 1;; ++attempt) {
      auto conn = pool_.take();
      if (!conn) return conn.error();
      Lease lease(pool_, std::move(conn.value()));
      Session s(lease.get());
      if (auto b = s.exec("begin", "BEGIN ISOLATION LEVEL READ COMMITTED"); !b) {
        if (s.retryable() && attempt < kAttempts) continue;
        return b.error();
      }
      std::vector<Change> changes;
      StoreResult<T> result = body(s, changes);
      if (result.ok()) {
        if (auto n = send_notifications(s, changes); !n) result = n.error();
      }
      if (!result.ok()) {
        const bool retry = s.retryable() && attempt < kAttempts;
        if (!s.connection_lost()) (void)s.exec("rollback", "ROLLBACK");
        if (retry) continue;
        return result;
      }
      // A failed COMMIT (even a lost connection) may have committed: no retry.
      if (auto c = s.exec("commit", "COMMIT"); !c) return c.error();
      for (const auto& change : changes) deliver(change.kind, change.id);
      return result;
    }
  }

  // A call outside a transaction (reads, single-statement writes); retried
  // on a fresh connection when the one it got had died.
  template <typename T, typename Body>
  StoreResult<T> read(Body&& body) {
    for (int attempt = 1;; ++attempt) {
      auto conn = pool_.take();
      if (!conn) return conn.error();
      Lease lease(pool_, std::move(conn.value()));
      Session s(lease.get());
      StoreResult<T> result = body(s);
      if (!result.ok() && s.connection_lost() && attempt < kAttempts) continue;
      return result;
    }
  }

  StoreResult<Done> send_notifications(Session& s, const std::vector<Change>& changes) {
    for (const auto& change : changes) {
      if (change.id.size() > kMaxNotifiedId) continue;  // ids are short; never fail a commit
      const std::string payload =
          instance_ + (change.kind == ChangeKind::challenge ? " c " : " p ") + change.id;
      auto r = s.query("notify", "SELECT pg_notify($1, $2)",
                       Params().text(kChannel).text(payload));
      if (!r) return r.error();
    }
    return Done{};
  }

  // Called under listener_mu_, so that once set_change_listener returns the
  // old listener is not running on the listen thread any more (the daemon
  // resets it before its io_context goes away). Recursive: a listener may
  // call back into the store from the same thread.
  void deliver(ChangeKind kind, const std::string& id) {
    std::lock_guard lock(listener_mu_);
    if (listener_) listener_(kind, id);
  }

  // Serialises the changes of one (host, user) across instances until the
  // transaction ends.
  static StoreResult<Done> lock_host_user(Session& s, std::string_view host_id,
                                          std::string_view user) {
    auto r = s.query("lock", "SELECT pg_advisory_xact_lock(hashtext($1), hashtext($2))",
                     Params().text(host_id).text(user));
    if (!r) return r.error();
    return Done{};
  }

  static StoreResult<PairingRecord> find_pairing_in(Session& s, std::string_view pairing_id,
                                                    bool for_update) {
    const std::string sql = std::string("SELECT ") + kPairingColumns +
                            " FROM pairings WHERE pairing_id = $1" +
                            (for_update ? " FOR UPDATE" : "");
    auto r = s.query("find pairing", sql.c_str(), Params().text(pairing_id));
    if (!r) return r.error();
    if (r->empty()) return StoreError{StoreErrc::not_found, "no such pairing"};
    return read_pairing(r.value(), 0);
  }

  static StoreResult<DeviceRecord> find_device_in(Session& s, std::string_view device_id) {
    const std::string sql =
        std::string("SELECT ") + kDeviceColumns + " FROM devices WHERE device_id = $1";
    return one_device(s.query("find device", sql.c_str(), Params().text(device_id)));
  }

  static StoreResult<DeviceRecord> one_device(StoreResult<Rows> r) {
    if (!r) return r.error();
    if (r->empty()) return StoreError{StoreErrc::not_found, "no such device"};
    return read_device(r.value(), 0);
  }

  static StoreResult<std::vector<DeviceRecord>> devices_from(StoreResult<Rows> r) {
    if (!r) return r.error();
    std::vector<DeviceRecord> out;
    for (int i = 0; i < r->count(); ++i) out.push_back(read_device(r.value(), i));
    return out;
  }

  static StoreResult<ChallengeRecord> find_challenge_in(Session& s, std::string_view challenge_id,
                                                        bool for_update) {
    const std::string sql = std::string("SELECT ") + kChallengeColumns +
                            " FROM challenges WHERE challenge_id = $1" +
                            (for_update ? " FOR UPDATE" : "");
    auto r = s.query("find challenge", sql.c_str(), Params().text(challenge_id));
    if (!r) return r.error();
    if (r->empty()) return StoreError{StoreErrc::not_found, "no such challenge"};
    ChallengeRecord c = read_challenge(r.value(), 0);
    auto cc = s.query("find challenge",
                      "SELECT credential_id FROM challenge_credentials WHERE challenge_id = $1 "
                      "ORDER BY position",
                      Params().text(challenge_id));
    if (!cc) return cc.error();
    for (int i = 0; i < cc->count(); ++i) c.credential_ids.push_back(cc->bytes(i, 0));
    return c;
  }

  // ---- the listen thread ----

  StoreResult<PgConn> listen_connection() {
    auto conn = connect(pool_.url(), "twostepd listen");
    if (!conn) return conn;
    Session s(conn->get());
    const std::string sql = std::string("LISTEN ") + kChannel;
    if (auto r = s.exec("listen", sql.c_str()); !r) return r.error();
    return conn;
  }

  // Waits up to `ms` unless the store is being destroyed; false then.
  bool sleep_unless_stopped(int ms) {
    pollfd p{wake_.fd(), POLLIN, 0};
    ::poll(&p, 1, ms);
    return !stop_.load();
  }

  void listen_loop(PgConn conn) {
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
  Seconds listen_until_lost(PGconn* conn) {
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

  void handle_notification(const char* payload) {
    // "<instance> <c|p> <id>"
    const std::string_view text(payload ? payload : "");
    const auto sp1 = text.find(' ');
    if (sp1 == std::string_view::npos || text.size() < sp1 + 3 || text[sp1 + 2] != ' ') return;
    if (text.substr(0, sp1) == instance_) return;  // ours: heard after our commit already
    const char kind = text[sp1 + 1];
    if (kind != 'c' && kind != 'p') return;
    deliver(kind == 'c' ? ChangeKind::challenge : ChangeKind::pairing,
            std::string(text.substr(sp1 + 3)));
  }

  // After a reconnect: what may have changed while nobody listened.
  void catch_up(PGconn* conn, Seconds lost_at) {
    Session s(conn);
    // A silently dead connection is noticed up to ~20 s late (keepalives,
    // tcp_user_timeout), and instances' clocks differ a little: look back 30 s.
    const Seconds since = lost_at - kCatchUpSeconds;
    auto c = s.query("catch up",
                     "SELECT challenge_id FROM challenges WHERE created >= $1 OR decided_at >= $1",
                     Params().int8(since));
    if (c) {
      for (int i = 0; i < c->count(); ++i) deliver(ChangeKind::challenge, c->bytes(i, 0));
    }
    auto p = s.query("catch up",
                     "SELECT pairing_id FROM pairings WHERE status <> 'open' AND expires > $1",
                     Params().int8(wall_clock()));
    if (p) {
      for (int i = 0; i < p->count(); ++i) deliver(ChangeKind::pairing, p->bytes(i, 0));
    }
  }

  ConnectionPool pool_;
  const std::string instance_;
  std::recursive_mutex listener_mu_;
  ChangeListener listener_;
  std::atomic<bool> stop_{false};
  std::atomic<Seconds> nonces_purged_{0};
  EventFd wake_;
  std::thread listen_thread_;
};

}  // namespace

StoreResult<std::unique_ptr<Store>> open_postgresql_store(const std::string& url) {
  auto store = std::make_unique<PgStore>(url);
  if (auto r = store->migrate(); !r) return r.error();
  if (auto r = store->start_listening(); !r) return r.error();
  return std::unique_ptr<Store>(std::move(store));
}

}  // namespace twostep::relay
