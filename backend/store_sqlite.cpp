// The SQLite dialect: one file, WAL, one connection behind a mutex; the
// rules are store_rules.cpp's.
//
// Durability: WAL with synchronous=NORMAL. A commit is in the WAL (in the
// kernel) before the call returns, so killing the process loses nothing; a
// power failure may lose the last commits, which fails closed (a login that
// loses its approval times out).
//
// One writer: BEGIN IMMEDIATE takes the database for the transaction, and
// the mutex serialises the store's calls, so no row lock or pair lock is
// needed ({for_update} and the like are spelled as nothing).
#include <sqlite3.h>

#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <utility>

#include "store_dialect.hpp"

namespace twostep::relay {
namespace {

using sql::Changes;
using sql::EachRow;
using sql::Params;

struct DbCloser {
  void operator()(sqlite3* db) const noexcept { sqlite3_close_v2(db); }
};
using DbHandle = std::unique_ptr<sqlite3, DbCloser>;

// The WAL's size once a write starts it over (open_sqlite_store): twice
// the checkpoint threshold below at 4 KiB pages, so a normal cycle is never
// cut.
constexpr long long kWalSizeLimitBytes = 16LL * 1024 * 1024;

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
  return sql::backend_failure(what, "sqlite", sqlite3_errmsg(db));
}

// Hashes std::string keys and std::string_view lookups alike (no copy to
// look one up).
struct SqlHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view sql) const noexcept {
    return std::hash<std::string_view>{}(sql);
  }
};

// Prepared statements, kept for the connection's life: parsing SQL was a
// tenth of the relay's CPU per request. Keyed by neutral SQL, translated
// once when prepared. One user at a time per statement; a statement still
// in use when asked for again is prepared afresh.
class StmtCache {
 public:
  StmtCache(sqlite3* db, const sql::Database& dialect) : db_(db), dialect_(dialect) {}
  ~StmtCache() {
    for (auto& [_, entry] : entries_) sqlite3_finalize(entry.stmt);
  }
  StmtCache(const StmtCache&) = delete;
  StmtCache& operator=(const StmtCache&) = delete;

  // The statement and whether it came from the cache (then give it back).
  std::pair<sqlite3_stmt*, bool> take(std::string_view neutral, int& rc) {
    auto it = entries_.find(neutral);
    if (it != entries_.end() && !it->second.in_use) {
      it->second.in_use = true;
      rc = SQLITE_OK;
      return {it->second.stmt, true};
    }
    const std::string spelled = sql::translate(neutral, dialect_, false);
    sqlite3_stmt* raw = nullptr;
    rc = sqlite3_prepare_v2(db_, spelled.c_str(), -1, &raw, nullptr);
    if (rc != SQLITE_OK || it != entries_.end()) return {raw, false};
    entries_.emplace(std::string(neutral), Entry{raw, true});
    return {raw, true};
  }
  void give_back(std::string_view neutral, sqlite3_stmt* stmt) {
    sqlite3_reset(stmt);
    sqlite3_clear_bindings(stmt);
    entries_.find(neutral)->second.in_use = false;
  }

 private:
  struct Entry {
    sqlite3_stmt* stmt = nullptr;
    bool in_use = false;
  };
  sqlite3* db_;
  const sql::Database& dialect_;
  std::unordered_map<std::string, Entry, SqlHash, std::equal_to<>> entries_;
};

// One statement from the cache, given back (or finalized) at scope exit.
class CachedStmt {
 public:
  CachedStmt(StmtCache& cache, std::string_view neutral) : cache_(cache), neutral_(neutral) {
    auto [stmt, cached] = cache.take(neutral, rc_);
    stmt_ = stmt;
    cached_ = cached;
  }
  ~CachedStmt() {
    if (!stmt_) return;
    if (cached_) cache_.give_back(neutral_, stmt_);
    else sqlite3_finalize(stmt_);
  }
  CachedStmt(const CachedStmt&) = delete;
  CachedStmt& operator=(const CachedStmt&) = delete;

  sqlite3_stmt* get() const { return stmt_; }
  int prepare_rc() const { return rc_; }

 private:
  StmtCache& cache_;
  std::string_view neutral_;  // the caller's, alive for this object's life
  sqlite3_stmt* stmt_ = nullptr;
  bool cached_ = false;
  int rc_ = SQLITE_OK;
};

int bind(sqlite3_stmt* stmt, const Params& params) {
  for (std::size_t i = 0; i < params.size(); ++i) {
    const auto& v = params[i];
    const int at = static_cast<int>(i) + 1;
    // Never a null pointer for bytes: SQLite would bind NULL.
    const char* bytes = v.bytes.data() ? v.bytes.data() : "";
    const int n = static_cast<int>(v.bytes.size());
    int rc = SQLITE_OK;
    switch (v.kind) {
      case Params::Kind::text: rc = sqlite3_bind_text(stmt, at, bytes, n, SQLITE_TRANSIENT); break;
      case Params::Kind::blob: rc = sqlite3_bind_blob(stmt, at, bytes, n, SQLITE_TRANSIENT); break;
      case Params::Kind::integer: rc = sqlite3_bind_int64(stmt, at, v.integer); break;
      case Params::Kind::null: rc = sqlite3_bind_null(stmt, at); break;
    }
    if (rc != SQLITE_OK) return rc;
  }
  return SQLITE_OK;
}

class SqliteRow final : public sql::Row {
 public:
  explicit SqliteRow(sqlite3_stmt* stmt) : stmt_(stmt) {}
  std::string text(int col) const override {
    const auto* p = sqlite3_column_blob(stmt_, col);
    const int n = sqlite3_column_bytes(stmt_, col);
    return p ? std::string(static_cast<const char*>(p), static_cast<std::size_t>(n))
             : std::string();
  }
  std::int64_t integer(int col) const override { return sqlite3_column_int64(stmt_, col); }
  bool flag(int col) const override { return sqlite3_column_int64(stmt_, col) != 0; }
  bool is_null(int col) const override {
    return sqlite3_column_type(stmt_, col) == SQLITE_NULL;
  }

 private:
  sqlite3_stmt* stmt_;
};

StoreResult<Done> exec(sqlite3* db, const char* what, const char* sql) {
  char* err = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : sqlite3_errmsg(db);
    sqlite3_free(err);
    return sql::backend_failure(what, "sqlite", msg);
  }
  return Done{};
}

bool is_unique_violation(sqlite3* db) {
  const int code = sqlite3_extended_errcode(db);
  return code == SQLITE_CONSTRAINT_UNIQUE || code == SQLITE_CONSTRAINT_PRIMARYKEY;
}

// The connection, for one call, with the store's mutex held.
class SqliteSession final : public sql::Session {
 public:
  using sql::Session::run;

  SqliteSession(sqlite3* db, StmtCache& cache, const sql::Database& dialect)
      : db_(db), cache_(cache), dialect_(dialect) {}

  StoreResult<std::int64_t> run(const char* what, std::string_view neutral, const Params& params,
                                EachRow each_row) override {
    CachedStmt stmt(cache_, neutral);
    if (stmt.prepare_rc() != SQLITE_OK) return backend_error(db_, what);
    if (bind(stmt.get(), params) != SQLITE_OK) return backend_error(db_, what);
    const bool returns_rows = sqlite3_column_count(stmt.get()) > 0;
    std::int64_t rows = 0;
    int rc = SQLITE_ROW;
    while ((rc = sqlite3_step(stmt.get())) == SQLITE_ROW) {
      ++rows;
      each_row(SqliteRow(stmt.get()));
    }
    if (rc != SQLITE_DONE) {
      StoreError e = backend_error(db_, what);
      if (is_unique_violation(db_)) e.code = StoreErrc::duplicate;
      return e;
    }
    return returns_rows ? rows : static_cast<std::int64_t>(sqlite3_changes(db_));
  }

  StoreResult<Done> run_script(const char* what, std::string_view neutral) override {
    return exec(db_, what, sql::translate(neutral, dialect_, false).c_str());
  }

  StoreResult<Done> lock_pair(std::string_view, std::string_view) override {
    return Done{};  // BEGIN IMMEDIATE holds the whole database
  }

  StoreResult<std::int64_t> settled_audit_seq() override {
    std::int64_t seq = 0;
    auto r = run("export audit", "SELECT coalesce(max(seq), 0) FROM audit", {},
                 [&](const sql::Row& row) { seq = row.integer(0); });
    if (!r) return r.error();
    return seq;
  }

  StoreResult<std::int64_t> schema_version() override {
    std::int64_t version = 0;
    auto r = run("schema version", "PRAGMA user_version", {},
                 [&](const sql::Row& row) { version = row.integer(0); });
    if (!r) return r.error();
    return version;
  }

  StoreResult<Done> set_schema_version(std::int64_t version) override {
    return exec(db_, "schema version", ("PRAGMA user_version=" + std::to_string(version)).c_str());
  }

 private:
  sqlite3* db_;
  StmtCache& cache_;
  const sql::Database& dialect_;
};

class SqliteDatabase final : public sql::Database {
 public:
  explicit SqliteDatabase(DbHandle db)
      : db_(std::move(db)), cache_(db_.get(), *this), checkpointer_(mu_) {
    // Replaces SQLite's automatic checkpoint (WalCheckpointer).
    sqlite3_wal_hook(db_.get(), &WalCheckpointer::hook, &checkpointer_);
  }
  ~SqliteDatabase() override { sqlite3_wal_hook(db_.get(), nullptr, nullptr); }

  std::span<const Word> words() const override;
  bool several_writers() const override { return false; }

  StoreResult<Done> transaction(TransactionBody body, Changes& committed) override {
    std::lock_guard lock(mu_);
    if (auto b = exec(db_.get(), "begin", "BEGIN IMMEDIATE"); !b) return b;
    SqliteSession session(db_.get(), cache_, *this);
    Changes changes;
    auto result = body(session, changes);
    if (result) result = exec(db_.get(), "commit", "COMMIT");
    if (!result) {
      sqlite3_exec(db_.get(), "ROLLBACK", nullptr, nullptr, nullptr);
      return result;
    }
    committed = std::move(changes);
    return Done{};
  }

  StoreResult<Done> autocommit(SingleBody body) override {
    std::lock_guard lock(mu_);
    SqliteSession session(db_.get(), cache_, *this);
    return body(session);
  }

  StoreResult<Done> hear_others(Deliver) override { return Done{}; }  // no others

 private:
  DbHandle db_;
  StmtCache cache_;  // after db_: finalized before the connection closes
  std::mutex mu_;
  // After db_ and mu_: stopped, and its connection closed, before the
  // store's own connection closes (the last one out checkpoints and removes
  // the WAL).
  WalCheckpointer checkpointer_;
};

std::span<const sql::Database::Word> SqliteDatabase::words() const {
  static constexpr Word kWords[] = {
      {"user", "user"},
      {"int", "INTEGER"},
      {"blob", "BLOB"},
      {"bool", "INTEGER"},
      {"true", "1"},
      {"false", "0"},
      {"host_not_removed", "removed = 0"},
      {"serial_key", "INTEGER PRIMARY KEY AUTOINCREMENT"},
      {"insertion_order", "rowid"},
      {"insertion_order_column", ""},
      {"for_update", ""},
      {"for_share", ""},
      {"skip_locked", ""},
      {"unlogged", ""},
  };
  return kWords;
}

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
  // journal_size_limit: a WAL that grew while a reader held back the
  // checkpoints (a backup, `twostepd audit`, a slow disk) is cut back to
  // this size when the next write starts it over, instead of keeping its
  // largest size for ever (issue 21: the database stops growing).
  const std::string size_limit = "PRAGMA journal_size_limit=" + std::to_string(kWalSizeLimitBytes);
  for (const char* pragma : {"PRAGMA journal_mode=WAL", "PRAGMA synchronous=NORMAL",
                             "PRAGMA foreign_keys=ON", size_limit.c_str()}) {
    if (auto r = exec(raw, "open", pragma); !r) return r.error();
  }
  return sql::open_sql_store(std::make_unique<SqliteDatabase>(std::move(db)));
}

}  // namespace twostep::relay
