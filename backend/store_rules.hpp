// The store's rules, written once over the dialect interface
// (store_dialect.hpp). Definitions: store_rules.cpp (hosts, nonces,
// pairings, devices, audit, Web Push), store_challenges.cpp (challenges),
// store_schema.cpp (the migrations).
//
// Concurrency, the same words for every dialect:
// - A change is one transaction (Database::transaction). With one writer
//   (SQLite) transactions run one at a time. With several (PostgreSQL, READ
//   COMMITTED), every change to the challenges of one (host, user) and every
//   device confirmation for it first locks that pair (Session::lock_pair),
//   so "one pending challenge per (host, user)", the push block and the
//   cooldown are decided one at a time; decide, cancel, register and confirm
//   lock their row ({for_update}) and re-check its status under the lock
//   (decide-once, register-once); expire_due skips rows another transaction
//   holds ({skip_locked}) and writes only those still pending, so each expiry
//   is written once.
// - Lock order: (host, user) first, then rows.
// - Retention (prune_batch) deletes in small batches, one transaction per
//   table, oldest first. It touches only rows no login uses any more
//   (decided challenges past their expiry, expired nonces and pairings,
//   revoked devices, old audit events) and, with several writers, skips any
//   row another transaction holds ({skip_locked}), so it never waits for a
//   login; a login's statements select live rows (pending challenges,
//   active devices) and so never wait for the batch's locks.
// - The listener hears a change after its commit, from the caller's thread;
//   other instances' changes come from the dialect's thread.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "store_dialect.hpp"

namespace twostep::relay::sql {

class SqlStore final : public Store {
 public:
  explicit SqlStore(std::unique_ptr<Database> db) : db_(std::move(db)) {}

  StoreResult<Done> migrate();  // store_schema.cpp
  StoreResult<Done> hear_others();

  void set_change_listener(ChangeListener listener) override;

  StoreResult<Done> add_host(const HostRecord& host) override;
  StoreResult<HostRecord> find_host(std::string_view host_id) override;
  StoreResult<std::vector<HostRecord>> list_hosts() override;
  StoreResult<HostRecord> remove_host(std::string_view id_or_name, Seconds now) override;

  StoreResult<bool> remember_nonce(std::string_view principal, std::string_view nonce,
                                   Seconds now, Seconds ttl) override;

  StoreResult<Done> create_pairing(const PairingRecord& pairing) override;
  StoreResult<PairingRecord> find_pairing(std::string_view pairing_id) override;
  StoreResult<PairingRecord> register_pairing(std::string_view pairing_id,
                                              const PairingRegistration& reg,
                                              Seconds now) override;
  StoreResult<DeviceRecord> confirm_pairing(std::string_view pairing_id,
                                            std::string_view device_id, Seconds now) override;

  StoreResult<std::vector<DeviceRecord>> list_devices(const DeviceFilter& filter) override;
  StoreResult<DeviceRecord> find_device(std::string_view device_id) override;
  StoreResult<std::vector<DeviceRecord>> devices_by_api_key(std::string_view api_key_id) override;
  StoreResult<DeviceRecord> revoke_device(std::string_view device_id, Seconds now) override;
  StoreResult<DeviceRecord> rename_device(std::string_view device_id,
                                          std::string_view name) override;

  using Store::create_challenge;
  using Store::decide_challenge;
  StoreResult<CreatedChallenge> create_challenge(const NewChallenge& challenge,
                                                 const FatiguePolicy& policy, Seconds now,
                                                 const ChangeRecords& records) override;
  StoreResult<ChallengeRecord> find_challenge(std::string_view challenge_id,
                                              Seconds now) override;
  StoreResult<ChallengeRecord> cancel_challenge(std::string_view challenge_id,
                                                Seconds now) override;
  StoreResult<ChallengeRecord> decide_challenge(std::string_view challenge_id,
                                                std::string_view device_id, Decision decision,
                                                const std::optional<Assertion>& assertion,
                                                Seconds now, const ChangeRecords& records) override;
  StoreResult<std::vector<ChallengeRecord>> expire_due(Seconds now) override;
  StoreResult<std::vector<ChallengeRecord>> challenges_for_api_key(std::string_view api_key_id,
                                                                   bool pending_only, int limit,
                                                                   Seconds now) override;
  StoreResult<SuppressedRequests> suppressed_requests(std::string_view api_key_id,
                                                      Seconds now) override;
  StoreResult<bool> unblock(std::string_view host_id, std::string_view user) override;

  StoreResult<Done> append_audit(const AuditEvent& event) override;
  StoreResult<std::vector<AuditEvent>> list_audit(std::string_view user, int limit) override;
  StoreResult<std::vector<AuditEvent>> audit_after(std::int64_t after, int limit) override;

  StoreResult<PruneCounts> prune_batch(const RetentionPolicy& policy, Seconds now) override;

  StoreResult<std::string> put_setting_if_absent(std::string_view name,
                                                 std::string_view value) override;
  StoreResult<std::string> get_setting(std::string_view name) override;
  StoreResult<Done> put_push_subscription(const PushSubscription& subscription) override;
  StoreResult<std::vector<PushSubscription>> push_subscriptions(
      std::string_view api_key_id) override;
  StoreResult<std::int64_t> delete_push_subscription(std::string_view endpoint) override;
  StoreResult<std::int64_t> delete_push_subscriptions(std::string_view api_key_id) override;

  // store_limits.cpp: buckets in the database where several instances write.
  bool shares_rate_limits() const override { return db_->several_writers(); }
  StoreResult<std::int64_t> take_token(std::string_view bucket, double rate, double burst,
                                       std::int64_t now_ms) override;
  StoreResult<std::int64_t> forget_full_buckets(std::int64_t now_ms) override;
  void set_call_observer(CallObserver observer) override { observer_ = std::move(observer); }

 private:
  // Tells the observer (if any) how long one store call took, and whether
  // it failed in the database (not a rule's answer such as not_found).
  class CallTimer {
   public:
    explicit CallTimer(const CallObserver& observer)
        : observer_(observer), start_(std::chrono::steady_clock::now()) {}
    void finish(const StoreResult<Done>& done) const {
      if (!observer_) return;
      const bool failed = !done && (done.error().code == StoreErrc::backend ||
                                    done.error().code == StoreErrc::schema_too_new);
      observer_(std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count(),
                failed);
    }

   private:
    const CallObserver& observer_;
    std::chrono::steady_clock::time_point start_;
  };

  // One transaction around `body(Session&, Changes&)`; the listener hears
  // its changes after the commit.
  template <typename T, typename Body>
  StoreResult<T> transact(Body&& body) {
    const CallTimer timer(observer_);
    std::optional<StoreResult<T>> out;
    Changes committed;
    auto done = db_->transaction(
        [&](Session& s, Changes& changes) -> StoreResult<Done> {
          out.emplace(body(s, changes));
          if (!out->ok()) return out->error();
          return Done{};
        },
        committed);
    timer.finish(done);
    if (!done) return done.error();
    for (const auto& change : committed) deliver(change.kind, change.id);
    return std::move(*out);
  }

  // `body(Session&)` outside a transaction (reads, one-statement writes).
  template <typename T, typename Body>
  StoreResult<T> autocommit(Body&& body) {
    const CallTimer timer(observer_);
    std::optional<StoreResult<T>> out;
    auto done = db_->autocommit([&](Session& s) -> StoreResult<Done> {
      out.emplace(body(s));
      if (!out->ok()) return out->error();
      return Done{};
    });
    timer.finish(done);
    if (!done) return done.error();
    return std::move(*out);
  }

  void deliver(ChangeKind kind, const std::string& id);

  // Steps inside a call's session.
  StoreResult<bool> remember_nonce_in(Session& s, std::string_view principal,
                                      std::string_view nonce, Seconds now, Seconds ttl);
  StoreResult<Done> record_nonce_in(Session& s, const ChangeRecords& records, Seconds now);
  static StoreResult<Done> append_audit_in(Session& s, const AuditEvent& event);
  static StoreResult<Done> append_audit_in(Session& s, const ChangeRecords& records);
  static StoreResult<Done> insert_audit_in(Session& s, const AuditEvent& event);
  // One table's prune (store_retention.cpp): `body` in its own transaction,
  // then the policy's test seam, then the commit.
  template <typename Body>
  StoreResult<std::int64_t> prune_step(const RetentionPolicy& policy, const char* table,
                                       Body&& body) {
    return transact<std::int64_t>([&](Session& s, Changes&) -> StoreResult<std::int64_t> {
      auto removed = body(s);
      if (removed && policy.in_batch) policy.in_batch(table);
      return removed;
    });
  }
  static StoreResult<PairingRecord> find_pairing_in(Session& s, std::string_view pairing_id,
                                                    bool for_update);
  static StoreResult<DeviceRecord> find_device_in(Session& s, std::string_view device_id,
                                                  bool for_update);
  static StoreResult<bool> credential_active_in(Session& s, std::string_view host_id,
                                                std::string_view user,
                                                std::string_view credential_id);
  // The active record of that credential for (host, user), if any.
  static StoreResult<std::optional<DeviceRecord>> active_device_in(Session& s,
                                                                   std::string_view host_id,
                                                                   std::string_view user,
                                                                   std::string_view credential_id);
  static StoreResult<DeviceRecord> insert_device_in(Session& s, const PairingRecord& pairing,
                                                    std::string_view device_id, Seconds now);
  static StoreResult<ChallengeRecord> find_challenge_in(Session& s,
                                                        std::string_view challenge_id,
                                                        bool for_update);
  static StoreResult<std::string> read_setting_in(Session& s, std::string_view name);

  std::unique_ptr<Database> db_;
  // Held while the listener runs: once set_change_listener returns, the old
  // one is not running any more (the daemon resets it before its io_context
  // goes away). Recursive: a listener may call back into the store.
  std::recursive_mutex listener_mu_;
  ChangeListener listener_;
  CallObserver observer_;
};

}  // namespace twostep::relay::sql
