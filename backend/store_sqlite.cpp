// The SQLite store: one file, WAL, one connection behind a mutex.
//
// Durability: WAL with synchronous=NORMAL. A commit is in the WAL (in the
// kernel) before the call returns, so killing the process loses nothing; a
// power failure may lose the last commits, which fails closed (a login that
// loses its approval times out).
#include <sqlite3.h>

#include <algorithm>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <utility>

#include "store.hpp"

namespace twostep::relay {
namespace {

// Versioned migrations: entry i takes the schema from version i to i + 1.
// Never edit a released entry; append a new one.
constexpr const char* kMigrations[] = {
    // 0 -> 1
    R"sql(
CREATE TABLE hosts (
  host_id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  secret BLOB NOT NULL,
  created INTEGER NOT NULL,
  removed INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX hosts_live_name ON hosts(name) WHERE removed = 0;
CREATE TABLE nonces (
  principal TEXT NOT NULL,
  nonce TEXT NOT NULL,
  expires INTEGER NOT NULL,
  PRIMARY KEY (principal, nonce)
);
CREATE INDEX nonces_expires ON nonces(expires);
CREATE TABLE pairings (
  pairing_id TEXT PRIMARY KEY,
  host_id TEXT NOT NULL,
  user TEXT NOT NULL,
  confirm_hash BLOB NOT NULL,
  created INTEGER NOT NULL,
  expires INTEGER NOT NULL,
  status TEXT NOT NULL,
  reg_name TEXT,
  reg_credential_id BLOB,
  reg_credential_pk BLOB,
  reg_api_pk BLOB,
  reg_proof BLOB,
  reg_api_key_id TEXT,
  device_id TEXT NOT NULL DEFAULT ''
);
CREATE TABLE devices (
  device_id TEXT PRIMARY KEY,
  host_id TEXT NOT NULL,
  user TEXT NOT NULL,
  name TEXT NOT NULL,
  credential_id BLOB NOT NULL,
  credential_pk BLOB NOT NULL,
  api_key_id TEXT NOT NULL,
  api_pk BLOB NOT NULL,
  created INTEGER NOT NULL,
  last_used INTEGER NOT NULL DEFAULT 0,
  revoked INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX devices_api_key ON devices(api_key_id);
CREATE INDEX devices_host_user ON devices(host_id, user);
CREATE TABLE challenges (
  challenge_id TEXT PRIMARY KEY,
  host_id TEXT NOT NULL,
  host_name TEXT NOT NULL,
  user TEXT NOT NULL,
  service TEXT NOT NULL,
  rhost TEXT NOT NULL,
  tty TEXT NOT NULL,
  nonce TEXT NOT NULL,
  created INTEGER NOT NULL,
  expires INTEGER NOT NULL,
  status TEXT NOT NULL,
  decided_at INTEGER NOT NULL DEFAULT 0,
  decided_by TEXT NOT NULL DEFAULT '',
  decided_by_name TEXT NOT NULL DEFAULT '',
  decided_credential BLOB,
  a_credential_id BLOB,
  a_authenticator_data BLOB,
  a_client_data_json BLOB,
  a_signature BLOB
);
CREATE INDEX challenges_host_user ON challenges(host_id, user, status);
CREATE INDEX challenges_pending ON challenges(status, expires);
CREATE TABLE challenge_credentials (
  challenge_id TEXT NOT NULL,
  position INTEGER NOT NULL,
  credential_id BLOB NOT NULL,
  PRIMARY KEY (challenge_id, position)
);
CREATE INDEX challenge_credentials_cred ON challenge_credentials(credential_id);
CREATE TABLE push_blocks (
  host_id TEXT NOT NULL,
  user TEXT NOT NULL,
  since INTEGER NOT NULL,
  PRIMARY KEY (host_id, user)
);
CREATE TABLE denials (
  host_id TEXT NOT NULL,
  user TEXT NOT NULL,
  time INTEGER NOT NULL
);
CREATE INDEX denials_host_user ON denials(host_id, user, time);
CREATE TABLE audit (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  time INTEGER NOT NULL,
  event TEXT NOT NULL,
  host TEXT NOT NULL,
  user TEXT NOT NULL,
  service TEXT NOT NULL,
  rhost TEXT NOT NULL,
  challenge_id TEXT NOT NULL,
  device TEXT NOT NULL,
  result TEXT NOT NULL,
  ms INTEGER NOT NULL
);
CREATE INDEX audit_user ON audit(user, seq);
)sql",
    // 1 -> 2: Web Push (the approver app): relay-wide settings (the VAPID
    // key pair) and the phones' push subscriptions, per API key.
    R"sql(
CREATE TABLE settings (
  name TEXT PRIMARY KEY,
  value BLOB NOT NULL
);
CREATE TABLE push_subscriptions (
  endpoint TEXT PRIMARY KEY,
  api_key_id TEXT NOT NULL,
  p256dh BLOB NOT NULL,
  auth BLOB NOT NULL,
  created INTEGER NOT NULL
);
CREATE INDEX push_subscriptions_key ON push_subscriptions(api_key_id);
)sql",
};
constexpr int kSchemaVersion = static_cast<int>(std::size(kMigrations));

struct DbCloser {
  void operator()(sqlite3* db) const noexcept { sqlite3_close_v2(db); }
};
using DbHandle = std::unique_ptr<sqlite3, DbCloser>;

// Checkpoints the WAL on a thread and connection of its own. SQLite's
// automatic checkpoint runs inside the COMMIT that takes the WAL past its
// threshold: that request waits for the copy into the database file and two
// fsyncs (at synchronous=NORMAL the only ones WAL mode does). Here, past
// kPages, a PASSIVE checkpoint copies the bulk while writers go on; then a
// second one under the store's lock copies the few frames written meanwhile
// and so completes, which lets the next write start the WAL over. Writers
// wait only for that second, short part. If the thread is behind (kCapPages)
// or cannot work, the hook checkpoints inline, as SQLite would.
// The thread starts on the first signal, so a short-lived admin command
// never has one.
class WalCheckpointer {
 public:
  static constexpr int kPages = 2000;
  static constexpr int kCapPages = 20000;

  explicit WalCheckpointer(std::mutex& store_mu) : store_mu_(store_mu) {}
  WalCheckpointer(const WalCheckpointer&) = delete;
  WalCheckpointer& operator=(const WalCheckpointer&) = delete;
  ~WalCheckpointer() {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
    }
    cv_.notify_one();
    if (thread_.joinable()) thread_.join();
  }

  // The wal hook (sqlite3_wal_hook), after each commit on the store's
  // connection, with the store's lock held.
  static int hook(void* self, sqlite3* db, const char* schema, int pages) {
    if (pages < kPages) return SQLITE_OK;
    auto& c = *static_cast<WalCheckpointer*>(self);
    std::unique_lock lock(c.mu_);
    if (c.failed_ || pages >= kCapPages) {
      lock.unlock();
      sqlite3_wal_checkpoint_v2(db, schema, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
      return SQLITE_OK;
    }
    if (!c.thread_.joinable()) {
      const char* file = sqlite3_db_filename(db, schema);
      c.path_ = file ? file : "";
      c.thread_ = std::thread([&c] { c.run(); });
    }
    c.wanted_ = true;
    lock.unlock();
    c.cv_.notify_one();
    return SQLITE_OK;
  }

 private:
  void run() {
    sqlite3* raw = nullptr;
    const int rc = sqlite3_open_v2(path_.c_str(), &raw, SQLITE_OPEN_READWRITE, nullptr);
    DbHandle db(raw);
    sqlite3_busy_timeout(raw, 1000);
    std::unique_lock lock(mu_);
    // A checkpoint on a connection that has not read the database yet finds
    // no WAL (it does nothing): read the schema once first.
    if (rc != SQLITE_OK || path_.empty() ||
        sqlite3_exec(raw, "SELECT count(*) FROM sqlite_master", nullptr, nullptr, nullptr) !=
            SQLITE_OK) {
      failed_ = true;
      return;
    }
    for (;;) {
      cv_.wait(lock, [this] { return wanted_ || stopping_; });
      if (stopping_) return;
      wanted_ = false;
      lock.unlock();
      sqlite3_wal_checkpoint_v2(raw, nullptr, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
      {
        std::lock_guard writers_wait(store_mu_);
        sqlite3_wal_checkpoint_v2(raw, nullptr, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
      }
      lock.lock();
    }
  }

  std::mutex& store_mu_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::thread thread_;
  std::string path_;
  bool wanted_ = false;
  bool stopping_ = false;
  bool failed_ = false;
};

StoreError backend_error(sqlite3* db, const char* what) {
  return StoreError{StoreErrc::backend, std::string(what) + ": " + sqlite3_errmsg(db)};
}

// Prepared statements, kept for the connection's life: parsing SQL was a
// tenth of the relay's CPU per request. One user at a time per statement;
// a statement still in use when asked for again is prepared afresh.
class StmtCache {
 public:
  explicit StmtCache(sqlite3* db) : db_(db) {}
  ~StmtCache() {
    for (auto& [_, entry] : entries_) sqlite3_finalize(entry.stmt);
  }
  StmtCache(const StmtCache&) = delete;
  StmtCache& operator=(const StmtCache&) = delete;

  // The statement and whether it came from the cache (then give it back).
  std::pair<sqlite3_stmt*, bool> take(const char* sql, int& rc) {
    auto it = entries_.find(sql);
    if (it != entries_.end() && !it->second.in_use) {
      it->second.in_use = true;
      rc = SQLITE_OK;
      return {it->second.stmt, true};
    }
    sqlite3_stmt* raw = nullptr;
    rc = sqlite3_prepare_v2(db_, sql, -1, &raw, nullptr);
    if (rc != SQLITE_OK || it != entries_.end()) return {raw, false};
    entries_.emplace(sql, Entry{raw, true});
    return {raw, true};
  }
  void give_back(const char* sql, sqlite3_stmt* stmt) {
    sqlite3_reset(stmt);
    sqlite3_clear_bindings(stmt);
    entries_[sql].in_use = false;
  }
  sqlite3* db() const { return db_; }

 private:
  struct Entry {
    sqlite3_stmt* stmt = nullptr;
    bool in_use = false;
  };
  sqlite3* db_;
  std::unordered_map<std::string, Entry> entries_;
};

// One prepared statement with positional binding and typed column reads.
class Stmt {
 public:
  Stmt(StmtCache& cache, const char* sql) : cache_(cache), sql_(sql) {
    auto [stmt, cached] = cache.take(sql, rc_);
    stmt_ = stmt;
    cached_ = cached;
  }
  Stmt(StmtCache& cache, const std::string& sql) : Stmt(cache, sql.c_str()) {}
  ~Stmt() {
    if (!stmt_) return;
    if (cached_) cache_.give_back(sql_.c_str(), stmt_);
    else sqlite3_finalize(stmt_);
  }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;

  Stmt& bind(std::string_view text) {
    sqlite3_bind_text(stmt_, ++index_, text.data(), static_cast<int>(text.size()),
                      SQLITE_TRANSIENT);
    return *this;
  }
  Stmt& bind_blob(std::string_view bytes) {
    sqlite3_bind_blob(stmt_, ++index_, bytes.data(), static_cast<int>(bytes.size()),
                      SQLITE_TRANSIENT);
    return *this;
  }
  Stmt& bind(std::int64_t value) {
    sqlite3_bind_int64(stmt_, ++index_, value);
    return *this;
  }
  Stmt& bind(int value) { return bind(static_cast<std::int64_t>(value)); }

  // SQLITE_ROW, SQLITE_DONE or an error code.
  int step() { return rc_ = sqlite3_step(stmt_); }
  bool row() const { return rc_ == SQLITE_ROW; }
  bool failed() const { return rc_ != SQLITE_ROW && rc_ != SQLITE_DONE && rc_ != SQLITE_OK; }

  std::string text(int col) const {
    const auto* p = sqlite3_column_blob(stmt_, col);
    const int n = sqlite3_column_bytes(stmt_, col);
    return p ? std::string(static_cast<const char*>(p), static_cast<std::size_t>(n)) : std::string();
  }
  std::int64_t integer(int col) const { return sqlite3_column_int64(stmt_, col); }
  bool is_null(int col) const { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }

 private:
  StmtCache& cache_;
  std::string sql_;
  sqlite3_stmt* stmt_ = nullptr;
  bool cached_ = false;
  int rc_ = SQLITE_OK;
  int index_ = 0;
};

constexpr const char* kChallengeColumns =
    "challenge_id, host_id, host_name, user, service, rhost, tty, nonce, created, expires, "
    "status, decided_at, decided_by, decided_by_name, decided_credential, a_credential_id, "
    "a_authenticator_data, a_client_data_json, a_signature";

constexpr const char* kDeviceColumns =
    "device_id, host_id, user, name, credential_id, credential_pk, api_key_id, api_pk, "
    "created, last_used, revoked";

constexpr const char* kPairingColumns =
    "pairing_id, host_id, user, confirm_hash, created, expires, status, reg_name, "
    "reg_credential_id, reg_credential_pk, reg_api_pk, reg_proof, reg_api_key_id, device_id";

DeviceRecord read_device(const Stmt& s) {
  DeviceRecord d;
  d.device_id = s.text(0);
  d.host_id = s.text(1);
  d.user = s.text(2);
  d.name = s.text(3);
  d.credential_id = s.text(4);
  d.credential_public_key = s.text(5);
  d.api_key_id = s.text(6);
  d.api_public_key = s.text(7);
  d.created = s.integer(8);
  d.last_used = s.integer(9);
  d.revoked = s.integer(10) != 0;
  return d;
}

PairingRecord read_pairing(const Stmt& s) {
  PairingRecord p;
  p.pairing_id = s.text(0);
  p.host_id = s.text(1);
  p.user = s.text(2);
  p.confirm_hash = s.text(3);
  p.created = s.integer(4);
  p.expires = s.integer(5);
  const std::string status = s.text(6);
  p.status = status == "registered"  ? PairingStatus::registered
             : status == "confirmed" ? PairingStatus::confirmed
                                     : PairingStatus::open;
  if (!s.is_null(7)) {
    p.registration =
        PairingRegistration{s.text(7), s.text(8), s.text(9), s.text(10), s.text(11), s.text(12)};
  }
  p.device_id = s.text(13);
  return p;
}

class SqliteStore final : public Store {
 public:
  explicit SqliteStore(DbHandle db) : db_(std::move(db)), cache_(db_.get()), checkpointer_(mu_) {
    // Replaces SQLite's automatic checkpoint (WalCheckpointer).
    sqlite3_wal_hook(db_.get(), &WalCheckpointer::hook, &checkpointer_);
  }
  ~SqliteStore() override { sqlite3_wal_hook(db_.get(), nullptr, nullptr); }
  SqliteStore(const SqliteStore&) = delete;
  SqliteStore& operator=(const SqliteStore&) = delete;

  StoreResult<Done> migrate() {
    if (auto r = exec("PRAGMA journal_mode=WAL"); !r) return r;
    if (auto r = exec("PRAGMA synchronous=NORMAL"); !r) return r;
    if (auto r = exec("PRAGMA foreign_keys=ON"); !r) return r;
    if (auto r = exec("BEGIN IMMEDIATE"); !r) return r;
    Stmt v(cache_, "PRAGMA user_version");
    v.step();
    const int version = v.row() ? static_cast<int>(v.integer(0)) : 0;
    if (version > kSchemaVersion) {
      rollback();
      return StoreError{StoreErrc::schema_too_new,
                        "the database's schema version is " + std::to_string(version) +
                            ", newer than this twostepd's " + std::to_string(kSchemaVersion) +
                            ": it was written by a newer twostepd; upgrade twostepd (the "
                            "database was not changed)"};
    }
    for (int i = version; i < kSchemaVersion; ++i) {
      if (auto r = exec(kMigrations[i]); !r) {
        rollback();
        return r;
      }
    }
    if (auto r = exec(("PRAGMA user_version=" + std::to_string(kSchemaVersion)).c_str()); !r) {
      rollback();
      return r;
    }
    return exec("COMMIT");
  }

  void set_change_listener(ChangeListener listener) override {
    std::lock_guard lock(mu_);
    listener_ = std::move(listener);
  }

  // ---- hosts ----
  StoreResult<Done> add_host(const HostRecord& host) override {
    std::lock_guard lock(mu_);
    Stmt s(cache_, "INSERT INTO hosts(host_id, name, secret, created, removed) VALUES(?,?,?,?,0)");
    s.bind(host.host_id).bind(host.name).bind_blob(host.secret).bind(host.created);
    if (s.step() == SQLITE_CONSTRAINT ||
        sqlite3_extended_errcode(db()) == SQLITE_CONSTRAINT_UNIQUE) {
      return StoreError{StoreErrc::duplicate, "a host named '" + host.name + "' exists"};
    }
    if (s.failed()) return backend_error(db(), "add host");
    return Done{};
  }

  StoreResult<HostRecord> find_host(std::string_view host_id) override {
    std::lock_guard lock(mu_);
    Stmt s(cache_, "SELECT host_id, name, secret, created, removed FROM hosts WHERE host_id=?");
    s.bind(host_id);
    s.step();
    if (s.failed()) return backend_error(db(), "find host");
    if (!s.row()) return StoreError{StoreErrc::not_found, "no such host"};
    return HostRecord{s.text(0), s.text(1), s.text(2), s.integer(3), s.integer(4) != 0};
  }

  StoreResult<std::vector<HostRecord>> list_hosts() override {
    std::lock_guard lock(mu_);
    Stmt s(cache_, "SELECT host_id, name, secret, created, removed FROM hosts WHERE removed=0 "
                 "ORDER BY name");
    std::vector<HostRecord> out;
    while (s.step() == SQLITE_ROW) {
      out.push_back(HostRecord{s.text(0), s.text(1), s.text(2), s.integer(3), false});
    }
    if (s.failed()) return backend_error(db(), "list hosts");
    return out;
  }

  StoreResult<HostRecord> remove_host(std::string_view id_or_name, Seconds now) override {
    std::lock_guard lock(mu_);
    (void)now;
    Transaction tx(*this);
    if (!tx) return backend_error(db(), "begin");
    Stmt s(cache_, "SELECT host_id, name, secret, created, removed FROM hosts "
                 "WHERE removed=0 AND (host_id=? OR name=?)");
    s.bind(id_or_name).bind(id_or_name);
    s.step();
    if (s.failed()) return backend_error(db(), "remove host");
    if (!s.row()) return StoreError{StoreErrc::not_found, "no such host"};
    HostRecord host{s.text(0), s.text(1), s.text(2), s.integer(3), true};
    Stmt u(cache_, "UPDATE hosts SET removed=1 WHERE host_id=?");
    u.bind(host.host_id);
    Stmt d(cache_, "UPDATE devices SET revoked=1 WHERE host_id=?");
    d.bind(host.host_id);
    if (u.step() != SQLITE_DONE || d.step() != SQLITE_DONE) return backend_error(db(), "remove host");
    if (!tx.commit()) return backend_error(db(), "commit");
    return host;
  }

  // ---- nonces ----
  StoreResult<bool> remember_nonce(std::string_view principal, std::string_view nonce,
                                   Seconds now, Seconds ttl) override {
    std::lock_guard lock(mu_);
    Transaction tx(*this);
    if (!tx) return backend_error(db(), "begin");
    auto fresh = remember_nonce_locked(principal, nonce, now, ttl);
    if (!fresh || !fresh.value()) return fresh;
    if (!tx.commit()) return backend_error(db(), "commit");
    return true;
  }

  // ---- pairings ----
  StoreResult<Done> create_pairing(const PairingRecord& p) override {
    std::lock_guard lock(mu_);
    Stmt s(cache_, "INSERT INTO pairings(pairing_id, host_id, user, confirm_hash, created, expires, "
                 "status) VALUES(?,?,?,?,?,?,'open')");
    s.bind(p.pairing_id).bind(p.host_id).bind(p.user).bind_blob(p.confirm_hash)
        .bind(p.created).bind(p.expires);
    if (s.step() != SQLITE_DONE) return backend_error(db(), "create pairing");
    return Done{};
  }

  StoreResult<PairingRecord> find_pairing(std::string_view pairing_id) override {
    std::lock_guard lock(mu_);
    return find_pairing_locked(pairing_id);
  }

  StoreResult<PairingRecord> register_pairing(std::string_view pairing_id,
                                              const PairingRegistration& reg,
                                              Seconds now) override {
    std::unique_lock lock(mu_);
    Transaction tx(*this);
    if (!tx) return backend_error(db(), "begin");
    auto p = find_pairing_locked(pairing_id);
    if (!p) return p.error();
    if (p->status != PairingStatus::open) {
      return StoreError{StoreErrc::already_registered, "pairing already has a device"};
    }
    if (now >= p->expires) return StoreError{StoreErrc::expired, "pairing expired"};
    Stmt s(cache_, "UPDATE pairings SET status='registered', reg_name=?, reg_credential_id=?, "
                 "reg_credential_pk=?, reg_api_pk=?, reg_proof=?, reg_api_key_id=? WHERE pairing_id=?");
    s.bind(reg.name).bind_blob(reg.credential_id).bind_blob(reg.credential_public_key)
        .bind_blob(reg.api_public_key).bind_blob(reg.proof).bind(reg.api_key_id).bind(pairing_id);
    if (s.step() != SQLITE_DONE) return backend_error(db(), "register pairing");
    if (!tx.commit()) return backend_error(db(), "commit");
    p->status = PairingStatus::registered;
    p->registration = reg;
    notify(lock, ChangeKind::pairing, p->pairing_id);
    return p;
  }

  StoreResult<DeviceRecord> confirm_pairing(std::string_view pairing_id,
                                            std::string_view device_id,
                                            Seconds now) override {
    std::unique_lock lock(mu_);
    Transaction tx(*this);
    if (!tx) return backend_error(db(), "begin");
    auto p = find_pairing_locked(pairing_id);
    if (!p) return p.error();
    if (p->status == PairingStatus::confirmed) {
      return StoreError{StoreErrc::already_registered, "pairing already confirmed"};
    }
    if (now >= p->expires) return StoreError{StoreErrc::expired, "pairing expired"};
    if (p->status != PairingStatus::registered || !p->registration) {
      return StoreError{StoreErrc::not_registered, "no device registered yet"};
    }
    const PairingRegistration& reg = *p->registration;
    Stmt dup(cache_, "SELECT 1 FROM devices WHERE host_id=? AND user=? AND credential_id=? "
                   "AND revoked=0");
    dup.bind(p->host_id).bind(p->user).bind_blob(reg.credential_id);
    dup.step();
    if (dup.failed()) return backend_error(db(), "confirm pairing");
    if (dup.row()) {
      return StoreError{StoreErrc::duplicate, "this credential is already active for the user"};
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
    Stmt ins(cache_, "INSERT INTO devices(device_id, host_id, user, name, credential_id, "
                   "credential_pk, api_key_id, api_pk, created) VALUES(?,?,?,?,?,?,?,?,?)");
    ins.bind(d.device_id).bind(d.host_id).bind(d.user).bind(d.name).bind_blob(d.credential_id)
        .bind_blob(d.credential_public_key).bind(d.api_key_id).bind_blob(d.api_public_key)
        .bind(d.created);
    if (ins.step() != SQLITE_DONE) return backend_error(db(), "insert device");
    Stmt up(cache_, "UPDATE pairings SET status='confirmed', device_id=? WHERE pairing_id=?");
    up.bind(device_id).bind(pairing_id);
    if (up.step() != SQLITE_DONE) return backend_error(db(), "confirm pairing");
    if (!tx.commit()) return backend_error(db(), "commit");
    notify(lock, ChangeKind::pairing, p->pairing_id);
    return d;
  }

  // ---- devices ----
  StoreResult<std::vector<DeviceRecord>> list_devices(const DeviceFilter& filter) override {
    std::lock_guard lock(mu_);
    std::string sql = std::string("SELECT ") + kDeviceColumns +
                      " FROM devices WHERE (?='' OR host_id=?) AND (?='' OR user=?) "
                      "ORDER BY created, device_id";
    Stmt s(cache_, sql.c_str());
    s.bind(filter.host_id).bind(filter.host_id).bind(filter.user).bind(filter.user);
    std::vector<DeviceRecord> out;
    while (s.step() == SQLITE_ROW) out.push_back(read_device(s));
    if (s.failed()) return backend_error(db(), "list devices");
    return out;
  }

  StoreResult<DeviceRecord> find_device(std::string_view device_id) override {
    std::lock_guard lock(mu_);
    return find_device_locked(device_id);
  }

  StoreResult<std::vector<DeviceRecord>> devices_by_api_key(std::string_view api_key_id) override {
    std::lock_guard lock(mu_);
    std::string sql = std::string("SELECT ") + kDeviceColumns +
                      " FROM devices WHERE api_key_id=? ORDER BY created, device_id";
    Stmt s(cache_, sql.c_str());
    s.bind(api_key_id);
    std::vector<DeviceRecord> out;
    while (s.step() == SQLITE_ROW) out.push_back(read_device(s));
    if (s.failed()) return backend_error(db(), "devices by key");
    return out;
  }

  StoreResult<DeviceRecord> revoke_device(std::string_view device_id, Seconds now) override {
    std::lock_guard lock(mu_);
    (void)now;
    auto d = find_device_locked(device_id);
    if (!d) return d;
    Stmt s(cache_, "UPDATE devices SET revoked=1 WHERE device_id=?");
    s.bind(device_id);
    if (s.step() != SQLITE_DONE) return backend_error(db(), "revoke device");
    d->revoked = true;
    return d;
  }

  StoreResult<DeviceRecord> rename_device(std::string_view device_id,
                                          std::string_view name) override {
    std::lock_guard lock(mu_);
    auto d = find_device_locked(device_id);
    if (!d) return d;
    Stmt s(cache_, "UPDATE devices SET name=? WHERE device_id=?");
    s.bind(name).bind(device_id);
    if (s.step() != SQLITE_DONE) return backend_error(db(), "rename device");
    d->name = std::string(name);
    return d;
  }

  // ---- challenges ----
  StoreResult<CreatedChallenge> create_challenge(const NewChallenge& c, const FatiguePolicy& policy,
                                                 Seconds now, const ChangeRecords& records) override {
    std::unique_lock lock(mu_);
    Transaction tx(*this);
    if (!tx) return backend_error(db(), "begin");
    if (auto n = record_nonce_locked(records, now); !n) return n.error();
    Stmt host(cache_, "SELECT name FROM hosts WHERE host_id=? AND removed=0");
    host.bind(c.host_id);
    host.step();
    if (host.failed()) return backend_error(db(), "create challenge");
    if (!host.row()) return StoreError{StoreErrc::not_found, "no such host"};
    const std::string host_name = host.text(0);

    Stmt blocked(cache_, "SELECT 1 FROM push_blocks WHERE host_id=? AND user=?");
    blocked.bind(c.host_id).bind(c.user);
    blocked.step();
    if (blocked.failed()) return backend_error(db(), "create challenge");
    if (blocked.row()) {
      return StoreError{StoreErrc::push_blocked, "push is blocked for this user on this host"};
    }
    if (policy.denials > 0) {
      Stmt den(cache_, "SELECT time FROM denials WHERE host_id=? AND user=? ORDER BY time DESC "
                     "LIMIT ?");
      den.bind(c.host_id).bind(c.user).bind(policy.denials);
      std::vector<Seconds> times;
      while (den.step() == SQLITE_ROW) times.push_back(den.integer(0));
      if (den.failed()) return backend_error(db(), "create challenge");
      if (static_cast<int>(times.size()) == policy.denials &&
          times.front() - times.back() <= policy.window && now < times.front() + policy.cooldown) {
        StoreError e{StoreErrc::cooldown, "too many denials; cooling down"};
        e.retry_after = times.front() + policy.cooldown - now;
        return e;
      }
    }
    bool any_device = false;
    for (const auto& cred : c.credential_ids) {
      Stmt dev(cache_, "SELECT 1 FROM devices WHERE host_id=? AND user=? AND credential_id=? "
                     "AND revoked=0");
      dev.bind(c.host_id).bind(c.user).bind_blob(cred);
      dev.step();
      if (dev.failed()) return backend_error(db(), "create challenge");
      if (dev.row()) {
        any_device = true;
        break;
      }
    }
    if (!any_device) {
      return StoreError{StoreErrc::no_devices, "no listed device is active for this user"};
    }

    CreatedChallenge out;
    Stmt pend(cache_, "SELECT challenge_id FROM challenges WHERE host_id=? AND user=? AND "
                    "status='pending'");
    pend.bind(c.host_id).bind(c.user);
    while (pend.step() == SQLITE_ROW) out.superseded.push_back(pend.text(0));
    if (pend.failed()) return backend_error(db(), "create challenge");
    for (const auto& id : out.superseded) {
      Stmt cancel(cache_, "UPDATE challenges SET status='cancelled', decided_at=? WHERE "
                        "challenge_id=?");
      cancel.bind(now).bind(id);
      if (cancel.step() != SQLITE_DONE) return backend_error(db(), "supersede");
    }

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
    Stmt ins(cache_, "INSERT INTO challenges(challenge_id, host_id, host_name, user, service, rhost, "
                   "tty, nonce, created, expires, status) VALUES(?,?,?,?,?,?,?,?,?,?,'pending')");
    ins.bind(r.challenge_id).bind(r.host_id).bind(r.host_name).bind(r.user).bind(r.service)
        .bind(r.rhost).bind(r.tty).bind(r.nonce).bind(r.created).bind(r.expires);
    if (ins.step() != SQLITE_DONE) return backend_error(db(), "insert challenge");
    int position = 0;
    for (const auto& cred : c.credential_ids) {
      Stmt ci(cache_, "INSERT INTO challenge_credentials(challenge_id, position, credential_id) "
                    "VALUES(?,?,?)");
      ci.bind(r.challenge_id).bind(position++).bind_blob(cred);
      if (ci.step() != SQLITE_DONE) return backend_error(db(), "insert challenge");
    }
    if (auto a = append_audit_locked(records); !a) return a.error();
    if (!tx.commit()) return backend_error(db(), "commit");
    for (const auto& id : out.superseded) notify(lock, ChangeKind::challenge, id);
    notify(lock, ChangeKind::challenge, r.challenge_id);
    return out;
  }

  StoreResult<ChallengeRecord> find_challenge(std::string_view challenge_id,
                                              Seconds now) override {
    std::lock_guard lock(mu_);
    auto c = find_challenge_locked(challenge_id);
    if (!c) return c;
    if (c->status == ChallengeStatus::pending && now >= c->expires) {
      c->status = ChallengeStatus::expired;  // expire_due records it, once
      c->decided_at = c->expires;
    }
    return c;
  }

  StoreResult<ChallengeRecord> cancel_challenge(std::string_view challenge_id,
                                                Seconds now) override {
    std::unique_lock lock(mu_);
    Transaction tx(*this);
    if (!tx) return backend_error(db(), "begin");
    auto c = find_challenge_locked(challenge_id);
    if (!c) return c;
    if (c->status != ChallengeStatus::pending) return c;
    if (now >= c->expires) {  // expire_due records it, once
      c->status = ChallengeStatus::expired;
      c->decided_at = c->expires;
      return c;
    }
    Stmt s(cache_, "UPDATE challenges SET status='cancelled', decided_at=? WHERE challenge_id=?");
    s.bind(now).bind(challenge_id);
    if (s.step() != SQLITE_DONE) return backend_error(db(), "cancel challenge");
    if (!tx.commit()) return backend_error(db(), "commit");
    c->status = ChallengeStatus::cancelled;
    c->decided_at = now;
    notify(lock, ChangeKind::challenge, c->challenge_id);
    return c;
  }

  StoreResult<ChallengeRecord> decide_challenge(std::string_view challenge_id,
                                                std::string_view device_id, Decision decision,
                                                const std::optional<Assertion>& assertion,
                                                Seconds now, const ChangeRecords& records) override {
    std::unique_lock lock(mu_);
    Transaction tx(*this);
    if (!tx) return backend_error(db(), "begin");
    if (auto n = record_nonce_locked(records, now); !n) return n.error();
    auto c = find_challenge_locked(challenge_id);
    if (!c) return c;
    if (c->status == ChallengeStatus::expired ||
        (c->status == ChallengeStatus::pending && now >= c->expires)) {
      return StoreError{StoreErrc::expired, "challenge expired"};
    }
    if (c->status != ChallengeStatus::pending) {
      return StoreError{StoreErrc::already_decided, "challenge already decided"};
    }
    auto d = find_device_locked(device_id);
    if (!d) return d.error();
    const ChallengeStatus status = status_of(decision);
    const bool with_assertion = decision == Decision::approve && assertion.has_value();
    Stmt s(cache_, "UPDATE challenges SET status=?, decided_at=?, decided_by=?, decided_by_name=?, "
                 "decided_credential=?, a_credential_id=?, a_authenticator_data=?, "
                 "a_client_data_json=?, a_signature=? WHERE challenge_id=? AND status='pending'");
    s.bind(to_string(status)).bind(now).bind(d->device_id).bind(d->name).bind_blob(d->credential_id);
    if (with_assertion) {
      s.bind_blob(assertion->credential_id).bind_blob(assertion->authenticator_data)
          .bind_blob(assertion->client_data_json).bind_blob(assertion->signature);
    } else {
      s.bind_blob({}).bind_blob({}).bind_blob({}).bind_blob({});
    }
    s.bind(challenge_id);
    if (s.step() != SQLITE_DONE) return backend_error(db(), "decide challenge");
    Stmt used(cache_, "UPDATE devices SET last_used=? WHERE device_id=?");
    used.bind(now).bind(device_id);
    if (used.step() != SQLITE_DONE) return backend_error(db(), "decide challenge");
    if (decision != Decision::approve) {
      Stmt den(cache_, "INSERT INTO denials(host_id, user, time) VALUES(?,?,?)");
      den.bind(c->host_id).bind(c->user).bind(now);
      if (den.step() != SQLITE_DONE) return backend_error(db(), "record denial");
    }
    if (decision == Decision::report) {
      Stmt blk(cache_, "INSERT OR IGNORE INTO push_blocks(host_id, user, since) VALUES(?,?,?)");
      blk.bind(c->host_id).bind(c->user).bind(now);
      if (blk.step() != SQLITE_DONE) return backend_error(db(), "block push");
    }
    if (auto a = append_audit_locked(records); !a) return a.error();
    if (!tx.commit()) return backend_error(db(), "commit");
    c->status = status;
    c->decided_at = now;
    c->decided_by = d->device_id;
    c->decided_by_name = d->name;
    c->decided_credential = d->credential_id;
    if (with_assertion) c->assertion = assertion;
    notify(lock, ChangeKind::challenge, c->challenge_id);
    return c;
  }

  StoreResult<std::vector<ChallengeRecord>> expire_due(Seconds now) override {
    std::unique_lock lock(mu_);
    Transaction tx(*this);
    if (!tx) return backend_error(db(), "begin");
    std::vector<std::string> ids;
    {
      Stmt s(cache_, "SELECT challenge_id FROM challenges WHERE status='pending' AND expires<=?");
      s.bind(now);
      while (s.step() == SQLITE_ROW) ids.push_back(s.text(0));
      if (s.failed()) return backend_error(db(), "expire");
    }
    std::vector<ChallengeRecord> out;
    for (const auto& id : ids) {
      if (auto r = mark_expired(id, now); !r) return r.error();
      auto c = find_challenge_locked(id);
      if (!c) return c.error();
      out.push_back(std::move(c.value()));
    }
    if (!tx.commit()) return backend_error(db(), "commit");
    for (const auto& c : out) notify(lock, ChangeKind::challenge, c.challenge_id);
    return out;
  }

  StoreResult<std::vector<ChallengeRecord>> challenges_for_api_key(std::string_view api_key_id,
                                                                   bool pending_only, int limit,
                                                                   Seconds now) override {
    std::lock_guard lock(mu_);
    std::string sql = std::string("SELECT DISTINCT c.challenge_id, c.rowid FROM challenges c ") +
                      "JOIN challenge_credentials cc ON cc.challenge_id=c.challenge_id "
                      "JOIN devices d ON d.credential_id=cc.credential_id AND "
                      "d.host_id=c.host_id AND d.user=c.user "
                      "WHERE d.api_key_id=? AND d.revoked=0 " +
                      (pending_only ? "AND c.status='pending' AND c.expires>? " : "AND ?=? ") +
                      "ORDER BY c.rowid DESC LIMIT ?";
    Stmt s(cache_, sql.c_str());
    s.bind(api_key_id);
    if (pending_only) s.bind(now); else s.bind(0).bind(0);
    s.bind(limit);
    std::vector<std::string> ids;
    while (s.step() == SQLITE_ROW) ids.push_back(s.text(0));
    if (s.failed()) return backend_error(db(), "challenges for key");
    std::vector<ChallengeRecord> out;
    for (const auto& id : ids) {
      auto c = find_challenge_locked(id);
      if (!c) return c.error();
      if (c->status == ChallengeStatus::pending && now >= c->expires) {
        c->status = ChallengeStatus::expired;  // shown as it is; expire_due records it
      }
      out.push_back(std::move(c.value()));
    }
    return out;
  }

  StoreResult<bool> unblock(std::string_view host_id, std::string_view user) override {
    std::lock_guard lock(mu_);
    Transaction tx(*this);
    if (!tx) return backend_error(db(), "begin");
    Stmt s(cache_, "DELETE FROM push_blocks WHERE host_id=? AND user=?");
    s.bind(host_id).bind(user);
    if (s.step() != SQLITE_DONE) return backend_error(db(), "unblock");
    const bool was = sqlite3_changes(db()) > 0;
    Stmt den(cache_, "DELETE FROM denials WHERE host_id=? AND user=?");
    den.bind(host_id).bind(user);
    if (den.step() != SQLITE_DONE) return backend_error(db(), "unblock");
    if (!tx.commit()) return backend_error(db(), "commit");
    return was;
  }

  // ---- audit ----
  StoreResult<Done> append_audit(const AuditEvent& e) override {
    std::lock_guard lock(mu_);
    return append_audit_locked(e);
  }

  StoreResult<std::vector<AuditEvent>> list_audit(std::string_view user, int limit) override {
    std::lock_guard lock(mu_);
    Stmt s(cache_, "SELECT seq, time, event, host, user, service, rhost, challenge_id, device, "
                 "result, ms FROM audit WHERE (?='' OR user=?) ORDER BY seq DESC LIMIT ?");
    s.bind(user).bind(user).bind(limit);
    std::vector<AuditEvent> out;
    while (s.step() == SQLITE_ROW) {
      out.push_back(AuditEvent{s.integer(0), s.integer(1), s.text(2), s.text(3), s.text(4),
                               s.text(5), s.text(6), s.text(7), s.text(8), s.text(9),
                               s.integer(10)});
    }
    if (s.failed()) return backend_error(db(), "list audit");
    return out;
  }

  // ---- Web Push ----
  StoreResult<std::string> put_setting_if_absent(std::string_view name,
                                                 std::string_view value) override {
    std::lock_guard lock(mu_);
    Stmt ins(cache_, "INSERT OR IGNORE INTO settings(name, value) VALUES(?,?)");
    ins.bind(name).bind_blob(value);
    if (ins.step(); ins.failed()) return backend_error(db(), "put setting");
    return read_setting(name);
  }

  StoreResult<std::string> get_setting(std::string_view name) override {
    std::lock_guard lock(mu_);
    return read_setting(name);
  }

  StoreResult<Done> put_push_subscription(const PushSubscription& sub) override {
    std::lock_guard lock(mu_);
    Stmt s(cache_, "INSERT OR REPLACE INTO push_subscriptions(endpoint, api_key_id, p256dh, auth, "
                 "created) VALUES(?,?,?,?,?)");
    s.bind(sub.endpoint).bind(sub.api_key_id).bind_blob(sub.p256dh).bind_blob(sub.auth)
        .bind(sub.created);
    if (s.step(); s.failed()) return backend_error(db(), "put push subscription");
    return Done{};
  }

  StoreResult<std::vector<PushSubscription>> push_subscriptions(
      std::string_view api_key_id) override {
    std::lock_guard lock(mu_);
    Stmt s(cache_, "SELECT api_key_id, endpoint, p256dh, auth, created FROM push_subscriptions "
                 "WHERE api_key_id=? ORDER BY created");
    s.bind(api_key_id);
    std::vector<PushSubscription> out;
    while (s.step() == SQLITE_ROW) {
      out.push_back(PushSubscription{s.text(0), s.text(1), s.text(2), s.text(3), s.integer(4)});
    }
    if (s.failed()) return backend_error(db(), "list push subscriptions");
    return out;
  }

  StoreResult<std::int64_t> delete_push_subscription(std::string_view endpoint) override {
    std::lock_guard lock(mu_);
    Stmt s(cache_, "DELETE FROM push_subscriptions WHERE endpoint=?");
    s.bind(endpoint);
    if (s.step(); s.failed()) return backend_error(db(), "delete push subscription");
    return static_cast<std::int64_t>(sqlite3_changes(db()));
  }

  StoreResult<std::int64_t> delete_push_subscriptions(std::string_view api_key_id) override {
    std::lock_guard lock(mu_);
    Stmt s(cache_, "DELETE FROM push_subscriptions WHERE api_key_id=?");
    s.bind(api_key_id);
    if (s.step(); s.failed()) return backend_error(db(), "delete push subscriptions");
    return static_cast<std::int64_t>(sqlite3_changes(db()));
  }

 private:
  StoreResult<std::string> read_setting(std::string_view name) {
    Stmt s(cache_, "SELECT value FROM settings WHERE name=?");
    s.bind(name);
    s.step();
    if (s.failed()) return backend_error(db(), "get setting");
    if (!s.row()) return StoreError{StoreErrc::not_found, "no such setting"};
    return s.text(0);
  }

  // Inside a transaction: true if new (and now remembered), false if seen.
  StoreResult<bool> remember_nonce_locked(std::string_view principal, std::string_view nonce,
                                          Seconds now, Seconds ttl) {
    if (now != nonces_purged_) {  // at most once a second
      Stmt purge(cache_, "DELETE FROM nonces WHERE expires<=?");
      purge.bind(now);
      if (purge.step() != SQLITE_DONE) return backend_error(db(), "purge nonces");
      nonces_purged_ = now;
    }
    Stmt seen(cache_, "SELECT expires FROM nonces WHERE principal=? AND nonce=?");
    seen.bind(principal).bind(nonce);
    seen.step();
    if (seen.failed()) return backend_error(db(), "remember nonce");
    if (seen.row() && seen.integer(0) > now) return false;
    // A forgotten entry not yet purged is replaced.
    Stmt s(cache_, "INSERT OR REPLACE INTO nonces(principal, nonce, expires) VALUES(?,?,?)");
    s.bind(principal).bind(nonce).bind(now + ttl);
    if (s.step() != SQLITE_DONE) return backend_error(db(), "remember nonce");
    return true;
  }

  // The first and the last step of a change's transaction (ChangeRecords).
  StoreResult<Done> record_nonce_locked(const ChangeRecords& records, Seconds now) {
    if (records.nonce_principal.empty()) return Done{};
    auto fresh = remember_nonce_locked(records.nonce_principal, records.nonce, now,
                                       records.nonce_ttl);
    if (!fresh) return fresh.error();
    if (!fresh.value()) return StoreError{StoreErrc::replayed_nonce, "nonce already used"};
    return Done{};
  }

  StoreResult<Done> append_audit_locked(const AuditEvent& e) {
    Stmt s(cache_, "INSERT INTO audit(time, event, host, user, service, rhost, challenge_id, device, "
                 "result, ms) VALUES(?,?,?,?,?,?,?,?,?,?)");
    s.bind(e.time).bind(e.event).bind(e.host).bind(e.user).bind(e.service).bind(e.rhost)
        .bind(e.challenge_id).bind(e.device).bind(e.result).bind(e.ms);
    if (s.step() != SQLITE_DONE) return backend_error(db(), "append audit");
    return Done{};
  }

  StoreResult<Done> append_audit_locked(const ChangeRecords& records) {
    for (const auto& e : records.audit) {
      if (auto done = append_audit_locked(e); !done) return done;
    }
    return Done{};
  }

  // BEGIN IMMEDIATE ... COMMIT, rolled back unless committed.
  class Transaction {
   public:
    explicit Transaction(SqliteStore& store) : store_(store) {
      ok_ = static_cast<bool>(store_.exec("BEGIN IMMEDIATE"));
    }
    ~Transaction() {
      if (ok_ && !done_) store_.rollback();
    }
    Transaction(const Transaction&) = delete;
    Transaction& operator=(const Transaction&) = delete;
    explicit operator bool() const { return ok_; }
    bool commit() {
      done_ = true;
      if (store_.exec("COMMIT")) return true;
      store_.rollback();
      return false;
    }

   private:
    SqliteStore& store_;
    bool ok_ = false;
    bool done_ = false;
  };

  sqlite3* db() const { return db_.get(); }

  void rollback() noexcept { sqlite3_exec(db(), "ROLLBACK", nullptr, nullptr, nullptr); }

  StoreResult<Done> exec(const char* sql) {
    char* err = nullptr;
    if (sqlite3_exec(db(), sql, nullptr, nullptr, &err) != SQLITE_OK) {
      std::string msg = err ? err : sqlite3_errmsg(db());
      sqlite3_free(err);
      return StoreError{StoreErrc::backend, "sqlite: " + msg};
    }
    return Done{};
  }

  // Called with the lock held; releases it around the listener so that a
  // listener may call back into the store.
  void notify(std::unique_lock<std::mutex>& lock, ChangeKind kind, const std::string& id) {
    ChangeListener listener = listener_;
    if (!listener) return;
    lock.unlock();
    listener(kind, id);
    lock.lock();
  }

  StoreResult<Done> mark_expired(const std::string& id, Seconds now) {
    Stmt s(cache_, "UPDATE challenges SET status='expired', decided_at=? WHERE challenge_id=? AND "
                 "status='pending'");
    s.bind(now).bind(id);
    if (s.step() != SQLITE_DONE) return backend_error(db(), "expire challenge");
    return Done{};
  }

  StoreResult<PairingRecord> find_pairing_locked(std::string_view pairing_id) {
    std::string sql = std::string("SELECT ") + kPairingColumns + " FROM pairings WHERE pairing_id=?";
    Stmt s(cache_, sql.c_str());
    s.bind(pairing_id);
    s.step();
    if (s.failed()) return backend_error(db(), "find pairing");
    if (!s.row()) return StoreError{StoreErrc::not_found, "no such pairing"};
    return read_pairing(s);
  }

  StoreResult<DeviceRecord> find_device_locked(std::string_view device_id) {
    std::string sql = std::string("SELECT ") + kDeviceColumns + " FROM devices WHERE device_id=?";
    Stmt s(cache_, sql.c_str());
    s.bind(device_id);
    s.step();
    if (s.failed()) return backend_error(db(), "find device");
    if (!s.row()) return StoreError{StoreErrc::not_found, "no such device"};
    return read_device(s);
  }

  StoreResult<ChallengeRecord> find_challenge_locked(std::string_view challenge_id) {
    std::string sql =
        std::string("SELECT ") + kChallengeColumns + " FROM challenges WHERE challenge_id=?";
    Stmt s(cache_, sql.c_str());
    s.bind(challenge_id);
    s.step();
    if (s.failed()) return backend_error(db(), "find challenge");
    if (!s.row()) return StoreError{StoreErrc::not_found, "no such challenge"};
    ChallengeRecord c;
    c.challenge_id = s.text(0);
    c.host_id = s.text(1);
    c.host_name = s.text(2);
    c.user = s.text(3);
    c.service = s.text(4);
    c.rhost = s.text(5);
    c.tty = s.text(6);
    c.nonce = s.text(7);
    c.created = s.integer(8);
    c.expires = s.integer(9);
    c.status = challenge_status_from(s.text(10)).value_or(ChallengeStatus::expired);
    c.decided_at = s.integer(11);
    c.decided_by = s.text(12);
    c.decided_by_name = s.text(13);
    c.decided_credential = s.text(14);
    if (c.status == ChallengeStatus::approved && !s.is_null(15) && !s.text(15).empty()) {
      c.assertion = Assertion{s.text(15), s.text(16), s.text(17), s.text(18)};
    }
    Stmt cc(cache_, "SELECT credential_id FROM challenge_credentials WHERE challenge_id=? "
                  "ORDER BY position");
    cc.bind(challenge_id);
    while (cc.step() == SQLITE_ROW) c.credential_ids.push_back(cc.text(0));
    if (cc.failed()) return backend_error(db(), "find challenge");
    return c;
  }
  DbHandle db_;
  StmtCache cache_;  // after db_: finalized before the connection closes
  std::mutex mu_;
  // After db_ and mu_: stopped, and its connection closed, before the
  // store's own connection closes (the last one out checkpoints and removes
  // the WAL).
  WalCheckpointer checkpointer_;
  Seconds nonces_purged_ = 0;
  ChangeListener listener_;
};

}  // namespace

StoreResult<std::unique_ptr<Store>> open_sqlite_store(const std::string& path) {
  sqlite3* raw = nullptr;
  const int rc = sqlite3_open_v2(path.c_str(), &raw,
                                 SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                                     SQLITE_OPEN_FULLMUTEX,
                                 nullptr);
  DbHandle db(raw);
  if (rc != SQLITE_OK) {
    return StoreError{StoreErrc::backend,
                      "cannot open " + path + ": " + (raw ? sqlite3_errmsg(raw) : "out of memory")};
  }
  sqlite3_busy_timeout(raw, 5000);
  auto store = std::make_unique<SqliteStore>(std::move(db));
  if (auto r = store->migrate(); !r) return r.error();
  return std::unique_ptr<Store>(std::move(store));
}

}  // namespace twostep::relay
