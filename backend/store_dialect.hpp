// The small SQL dialect interface under the store's rules.
//
// The rules (store_rules.cpp, store_challenges.cpp, store_schema.cpp) are
// written once, in neutral SQL; a dialect (store_sqlite.cpp, store_pg.cpp)
// holds only what differs: connections, statements, binding, transactions,
// cross-instance wake-ups, and the words below.
//
// Neutral SQL is ordinary SQL that both databases accept (SQLite >= 3.24
// speaks PostgreSQL's INSERT ... ON CONFLICT upsert), with
// - `?` for each parameter, in order (PostgreSQL's are numbered: $1, $2, ...);
// - `{word}` for what the two spell differently, looked up in the dialect's
//   vocabulary: column types ({int}, {blob}, {bool}, {serial_key}), boolean
//   values ({true}, {false}), the `user` column (a reserved word in
//   PostgreSQL, so `user_name` there), the insertion order of challenges
//   ({insertion_order}, {insertion_order_column}), the predicate of the
//   partial index of live host names as each first schema spelled it
//   ({host_not_removed}), and row locks
//   ({for_update}, {for_share}, {skip_locked}: nothing where one writer at a
//   time holds the whole database), and {unlogged} for a table whose rows
//   may be lost in a crash (PostgreSQL's UNLOGGED; nothing in SQLite).
// Neither `?` nor `{` may appear in a literal or a comment of neutral SQL.
#pragma once

#include <array>
#include <cassert>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "store.hpp"

namespace twostep::relay::sql {

// Calls a callable it does not own: a std::function without the allocation.
template <typename Signature>
class FunctionRef;

template <typename R, typename... Args>
class FunctionRef<R(Args...)> {
 public:
  template <typename F,
            typename = std::enable_if_t<!std::is_same_v<std::decay_t<F>, FunctionRef>>>
  FunctionRef(F&& f) noexcept  // NOLINT: implicit by design, as std::function
      : object_(const_cast<void*>(static_cast<const void*>(std::addressof(f)))),
        call_([](void* object, Args... args) -> R {
          return (*static_cast<std::remove_reference_t<F>*>(object))(std::forward<Args>(args)...);
        }) {}
  R operator()(Args... args) const { return call_(object_, std::forward<Args>(args)...); }

 private:
  void* object_;
  R (*call_)(void*, Args...);
};

// A statement's parameters, in the order of its `?`. Views: the caller keeps
// the bytes alive until the statement has run (temporaries in the call's
// argument list do).
class Params {
 public:
  enum class Kind { text, blob, integer, null };
  struct Value {
    Kind kind = Kind::null;
    std::string_view bytes;
    std::int64_t integer = 0;
  };
  static constexpr std::size_t kMax = 16;  // the most any statement takes

  Params& text(std::string_view v) { return add(Value{Kind::text, v, 0}); }
  Params& blob(std::string_view v) { return add(Value{Kind::blob, v, 0}); }
  Params& integer(std::int64_t v) { return add(Value{Kind::integer, {}, v}); }
  // SQL NULL, for {blob} columns only (PostgreSQL is told it is a BYTEA).
  Params& null() { return add(Value{Kind::null, {}, 0}); }

  std::size_t size() const { return size_; }
  const Value& operator[](std::size_t i) const { return values_[i]; }

 private:
  Params& add(Value v) {
    assert(size_ < kMax);
    values_[size_++] = v;
    return *this;
  }
  std::array<Value, kMax> values_{};
  std::size_t size_ = 0;
};

// One result row, valid during the call that receives it.
class Row {
 public:
  virtual std::string text(int col) const = 0;  // TEXT or BLOB bytes; "" for NULL
  virtual std::int64_t integer(int col) const = 0;
  virtual bool flag(int col) const = 0;  // a {bool} column
  virtual bool is_null(int col) const = 0;

 protected:
  virtual ~Row() = default;
};

using EachRow = FunctionRef<void(const Row&)>;

// One connection for the duration of one store call.
class Session {
 public:
  // Runs one statement of neutral SQL, calling `each_row` for every row it
  // returns. The count: rows changed (INSERT, UPDATE, DELETE) or returned
  // (SELECT). A unique or primary key violation is StoreErrc::duplicate;
  // any other failure is StoreErrc::backend, "<what>: <dialect>: <message>".
  virtual StoreResult<std::int64_t> run(const char* what, std::string_view sql,
                                        const Params& params, EachRow each_row) = 0;
  StoreResult<std::int64_t> run(const char* what, std::string_view sql,
                                const Params& params = {}) {
    return run(what, sql, params, [](const Row&) {});
  }
  // Several statements of neutral SQL without parameters (the migrations).
  virtual StoreResult<Done> run_script(const char* what, std::string_view sql) = 0;

  // Until the transaction ends, serialises it with every other transaction
  // that locks the same (a, b): with several writers (PostgreSQL) the rules
  // of one (host, user) are decided one at a time. One writer at a time
  // (SQLite) needs nothing.
  virtual StoreResult<Done> lock_pair(std::string_view a, std::string_view b) = 0;

  // Called before a statement takes an audit seq: with several writers,
  // makes the transaction show as in progress (PostgreSQL: gives it its
  // transaction id) first, which settled_audit_seq relies on. One writer:
  // nothing.
  virtual StoreResult<Done> show_in_progress() { return Done{}; }
  // The highest audit seq at or below which every event that will ever
  // commit has committed. One writer commits in seq order: the highest
  // seq. Several: the highest seen, once every transaction that was in
  // progress when it was read has ended.
  virtual StoreResult<std::int64_t> settled_audit_seq() = 0;

  // The schema version, read under a lock that holds until the transaction
  // ends (concurrent first starts migrate one at a time), and written.
  virtual StoreResult<std::int64_t> schema_version() = 0;
  virtual StoreResult<Done> set_schema_version(std::int64_t version) = 0;

 protected:
  virtual ~Session() = default;
};

// A change that the listener hears about once its transaction committed.
struct Change {
  ChangeKind kind;
  std::string id;
};
using Changes = std::vector<Change>;

// The dialect: one database behind its connection(s), and its words.
class Database {
 public:
  virtual ~Database() = default;
  Database() = default;
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  // The dialect's vocabulary: each {word} of neutral SQL and its spelling.
  struct Word {
    std::string_view name;
    std::string_view spelled;  // maybe empty
  };
  virtual std::span<const Word> words() const = 0;
  // The spelling of one word; nullopt: not in the vocabulary.
  std::optional<std::string_view> word(std::string_view name) const {
    for (const auto& w : words()) {
      if (w.name == name) return w.spelled;
    }
    return std::nullopt;
  }
  // True where several instances write at once (PostgreSQL): the schema then
  // also has the steps kept for that case (store_schema.cpp).
  virtual bool several_writers() const = 0;

  // One transaction: `body`, then commit. Retried where that is safe (the
  // dialect says when): `body` may run again, each time with an empty change
  // list. `committed` gets the changes of the run that committed.
  using TransactionBody = FunctionRef<StoreResult<Done>(Session&, Changes&)>;
  virtual StoreResult<Done> transaction(TransactionBody body, Changes& committed) = 0;
  // Outside a transaction: each statement commits on its own.
  using SingleBody = FunctionRef<StoreResult<Done>(Session&)>;
  virtual StoreResult<Done> autocommit(SingleBody body) = 0;

  // From now on, `deliver` hears the changes other instances commit (from a
  // thread of the dialect's). One writer: nothing to hear.
  using Deliver = std::function<void(ChangeKind kind, const std::string& id)>;
  virtual StoreResult<Done> hear_others(Deliver deliver) = 0;
};

// Neutral SQL in a dialect's spelling: `?` numbered or not, {words} looked
// up. An unknown word stays as it is, and the database refuses the statement.
std::string translate(std::string_view neutral, const Database& dialect, bool numbered);

// "<what>: <dialect>: <message>", the one shape of a backend failure.
StoreError backend_failure(const char* what, std::string_view dialect, std::string_view message);

// The Store over a dialect: migrates the schema (schema_too_new if the
// database is newer), then starts hearing other instances.
StoreResult<std::unique_ptr<Store>> open_sql_store(std::unique_ptr<Database> database);

}  // namespace twostep::relay::sql
