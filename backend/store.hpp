// The relay's persistent state behind one interface: hosts, devices,
// pairings, challenges, nonces, push blocks and the audit log.
//
// One implementation of the rules (store_rules.cpp, store_challenges.cpp,
// the schema in store_schema.cpp) over a small SQL dialect interface
// (store_dialect.hpp), with two dialects: SQLite (store_sqlite.cpp, the
// embedded default) and PostgreSQL (store_pg.cpp, several instances on one
// database). Both pass the one suite in tests/relay/test_store.cpp, which is
// parameterised by store.
//
// Contract for every implementation:
// - Methods are synchronous and thread-safe: any thread may call any method at
//   any time; the implementation serialises internally (a mutex around one
//   SQLite connection, a pool of libpq connections, ...). The daemon calls them
//   from its I/O thread, so each call must be short (one transaction).
// - Every method that changes a challenge's status, or creates one, and every
//   pairing registration or confirmation, does so in one transaction and,
//   after the commit, calls the change listener with the kind and id.
//   PostgreSQL also delivers the changes made by OTHER instances
//   (LISTEN/NOTIFY) to the listener, from its own thread. The listener must be
//   cheap and thread-safe (the daemon posts to its io_context).
// - Expiry: every read reports a pending challenge past its expiry as
//   `expired` (decided_at = expires); only expire_due writes that status, once
//   per challenge, so that exactly one caller audits each expiry.
// - Domain refusals (not found, already decided, blocked, ...) are StoreError
//   values with their StoreErrc; infrastructure failures use StoreErrc::backend
//   with a message for the log (never a secret).
// - Times are seconds since the Unix epoch, always passed in by the caller, so
//   tests control the clock.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "twostep/result.hpp"

namespace twostep::relay {

using Seconds = std::int64_t;  // Unix time or a duration, in seconds

enum class StoreErrc {
  not_found,           // no such host/device/pairing/challenge (for this caller)
  already_decided,     // challenge no longer pending
  already_registered,  // pairing already has a device
  not_registered,      // pairing has no device yet (confirm too early)
  expired,             // challenge or pairing past its expiry
  push_blocked,        // (host, user) blocked after "this wasn't me"
  cooldown,            // repeated denied or unanswered requests, or every phone's
                       // notification bound reached; StoreError::retry_after says when
  no_devices,          // none of the listed credentials is active for the user
  duplicate,           // unique key already present (host name, credential id)
  replayed_nonce,      // the change's request nonce was seen: nothing changed
  schema_too_new,      // the database was written by a newer twostepd
  backend,             // I/O, SQL or connection failure; message for the log
};

const char* to_string(StoreErrc code) noexcept;

struct StoreError {
  StoreErrc code;
  std::string message;     // for the log; never contains a secret
  Seconds retry_after = 0; // set with cooldown
};

template <typename T>
using StoreResult = Expected<T, StoreError>;

struct Done {};  // the value of a StoreResult that carries no data

// ---- records ---------------------------------------------------------------

struct HostRecord {
  std::string host_id;  // b64u of 16 random bytes
  std::string name;     // shown on the phone; unique among hosts not removed
  std::string secret;   // 32 raw bytes (the HMAC key); never logged or printed
  Seconds created = 0;
  bool removed = false;
};

struct DeviceRecord {
  std::string device_id;      // b64u of 16 random bytes, made at confirm
  std::string host_id;
  std::string user;
  std::string name;
  std::string credential_id;          // raw bytes of the WebAuthn credential id
  std::string credential_public_key;  // SPKI DER
  std::string api_key_id;             // b64u(SHA-256(api SPKI)[0..16])
  std::string api_public_key;         // SPKI DER
  Seconds created = 0;
  Seconds last_used = 0;  // 0: never
  bool revoked = false;
};

enum class PairingStatus { open, registered, confirmed };
const char* to_string(PairingStatus status) noexcept;

struct PairingRegistration {  // what the phone sends in section 7 step 4
  std::string name;
  std::string credential_id;          // raw bytes
  std::string credential_public_key;  // SPKI DER
  std::string api_public_key;         // SPKI DER
  std::string proof;                  // 32 raw bytes, checked by the enroll tool
  std::string api_key_id;             // derived by the relay from api_public_key (8.1)
};

struct PairingRecord {
  std::string pairing_id;
  std::string host_id;
  std::string user;
  std::string confirm_hash;  // 32 raw bytes: SHA-256 of the confirm token
  Seconds created = 0;
  Seconds expires = 0;
  PairingStatus status = PairingStatus::open;
  std::optional<PairingRegistration> registration;  // set once registered
  std::string device_id;  // set once confirmed
};

enum class ChallengeStatus { pending, approved, denied, reported, expired, cancelled };
const char* to_string(ChallengeStatus status) noexcept;
std::optional<ChallengeStatus> challenge_status_from(std::string_view text) noexcept;

struct Assertion {  // all raw bytes (the wire form is b64u)
  std::string credential_id;
  std::string authenticator_data;
  std::string client_data_json;
  std::string signature;  // DER ECDSA
};

// What the phone shows besides the PAM items, and signs (protocol section
// 6, digest version 2). A challenge made by an older module has none: its
// phone signs the version 1 digest.
struct ChallengeContext {
  std::string command;      // sudo's command line
  std::string target_user;  // su's target account
  std::string location;     // where the client address is
};

struct ChallengeRecord {
  std::string challenge_id;
  std::string host_id;
  std::string host_name;  // the host's name when the challenge was made
  std::string user;
  std::string service;
  std::string rhost;
  std::string tty;
  std::vector<std::string> credential_ids;  // raw bytes, 1..16
  std::string nonce;                        // the module's nonce, b64u text
  Seconds created = 0;
  Seconds expires = 0;
  ChallengeStatus status = ChallengeStatus::pending;
  Seconds decided_at = 0;          // 0 while pending
  std::string decided_by;          // device_id, empty while pending
  std::string decided_by_name;     // that device's name
  std::string decided_credential;  // its credential id (raw)
  std::optional<Assertion> assertion;  // only with approved
  std::optional<ChallengeContext> context;
};

struct NewChallenge {
  std::string challenge_id;
  std::string host_id;
  std::string user;
  std::string service;
  std::string rhost;
  std::string tty;
  std::vector<std::string> credential_ids;
  std::string nonce;
  Seconds expires = 0;
  std::optional<ChallengeContext> context;
};

// Push-fatigue policy, passed in so the config can change it
// (docs/threat-model.md, "Push bombing", says why these numbers).
struct FatiguePolicy {
  // Denied, reported or unanswered (expired, cancelled, superseded)
  // challenges of one (host, user): this many ...
  int denials = 3;
  Seconds window = 600;     // ... within this window ...
  Seconds cooldown = 600;   // ... refuse new challenges for this long
  // Notifications per phone (API key, across hosts and users) in any 60 s;
  // a challenge over it is not notified to that phone, and refused when no
  // phone it names has room. 0: no bound.
  int phone_notifications = 6;
};

// How long the count of a phone's suppressed requests is kept after the
// last one: a day without any starts a new count.
inline constexpr Seconds kSuppressedMemory = 86400;

// A phone a new challenge is notified to, and how many requests were
// suppressed for it since its previous notification.
struct PhoneNotice {
  std::string api_key_id;
  std::int64_t suppressed_before = 0;
};

struct CreatedChallenge {
  ChallengeRecord challenge;
  std::vector<std::string> superseded;  // ids of pending ones now cancelled
  std::vector<PhoneNotice> notify;      // the phones within their bound, sorted
};

// The requests suppressed for one phone (its notification bound), counted
// from `since` until kSuppressedMemory passes without one.
struct SuppressedRequests {
  std::int64_t count = 0;
  Seconds since = 0;  // 0 with count 0
  Seconds last = 0;
};

enum class Decision { approve, deny, report };
// The status a decision leaves its challenge in.
ChallengeStatus status_of(Decision decision) noexcept;

struct AuditEvent {
  std::int64_t seq = 0;  // assigned by the store
  Seconds time = 0;
  std::string event;     // section 10's event types
  std::string host;      // host name
  std::string user;
  std::string service;
  std::string rhost;
  std::string challenge_id;
  std::string device;    // device name
  std::string result;    // challenge status or outcome
  std::int64_t ms = -1;  // decision time in milliseconds, -1: none
};

// What a change records in its own transaction, all or nothing with it: the
// request's nonce (section 3's replay protection: a seen one refuses the
// change with replayed_nonce) and the change's audit events (section 10).
// One transaction instead of three per request; and no audit event of a
// change that did not happen, nor a change without its audit event.
struct ChangeRecords {
  std::string nonce_principal;  // "host:<id>" or "device:<key id>"; empty: none
  std::string nonce;
  Seconds nonce_ttl = 0;
  std::vector<AuditEvent> audit;
};

// A Web Push subscription of a phone's browser, kept per API key (one phone,
// all its device records). Made by the approver app (PUT /v1/device/push).
struct PushSubscription {
  std::string api_key_id;
  std::string endpoint;  // the push service's URL, https (http only on loopback)
  std::string p256dh;    // 65 raw bytes: the browser's ECDH public point
  std::string auth;      // 16 raw bytes: the browser's auth secret
  Seconds created = 0;
};

// How long what is no longer live is kept (twostepd.conf(5), retention).
// 0: kept for ever. Pruning never removes what a pending login needs: a
// pending challenge (even one past its expiry that expire_due has not
// written yet), its credentials, the active devices, the hosts; a decided
// challenge is kept at least until its expiry has passed, as long as its
// module may still ask for the answer.
struct RetentionPolicy {
  Seconds challenges = 86400;            // decided/expired/cancelled ones, from decided_at
  Seconds audit = 90 * 86400;            // audit events, from their time
  Seconds pairings = 86400;              // pairings, from their expiry
  Seconds revoked_devices = 30 * 86400;  // revoked device records, from their revocation
  std::int64_t batch = 500;              // rows per table per transaction
  // Test seam: called inside each batch's transaction, after its deletes
  // and before its commit, with the table's name.
  std::function<void(const char* table)> in_batch;
};

// Rows one prune_batch call removed, per table.
struct PruneCounts {
  std::int64_t challenges = 0;
  std::int64_t audit = 0;
  std::int64_t pairings = 0;
  std::int64_t devices = 0;
  std::int64_t push_subscriptions = 0;
  std::int64_t nonces = 0;
  // True when some table filled its batch: call again for the rest.
  bool more = false;
  std::int64_t total() const {
    return challenges + audit + pairings + devices + push_subscriptions + nonces;
  }
};

struct DeviceFilter {
  std::string host_id;  // empty: any
  std::string user;     // empty: any
};

// ---- the interface ---------------------------------------------------------

enum class ChangeKind { challenge, pairing };

class Store {
 public:
  virtual ~Store() = default;
  Store() = default;
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  using ChangeListener = std::function<void(ChangeKind kind, const std::string& id)>;
  // Set once before serving; called after every committed challenge creation
  // or status change, and every pairing registration or confirmation (see the
  // contract above).
  virtual void set_change_listener(ChangeListener listener) = 0;

  // Hosts. add_host refuses a name in use by a host not removed (duplicate).
  virtual StoreResult<Done> add_host(const HostRecord& host) = 0;
  virtual StoreResult<HostRecord> find_host(std::string_view host_id) = 0;  // removed ones too
  virtual StoreResult<std::vector<HostRecord>> list_hosts() = 0;           // not removed
  // By id or by name; marks it removed and revokes its devices.
  virtual StoreResult<HostRecord> remove_host(std::string_view id_or_name, Seconds now) = 0;

  // Replay protection: true if (principal, nonce) is new, and remembers it
  // until `now + ttl`; false if it was seen and has not been forgotten yet.
  // An expired entry counts as forgotten; prune_batch removes it.
  virtual StoreResult<bool> remember_nonce(std::string_view principal, std::string_view nonce,
                                           Seconds now, Seconds ttl) = 0;

  // Pairings (section 7).
  virtual StoreResult<Done> create_pairing(const PairingRecord& pairing) = 0;
  virtual StoreResult<PairingRecord> find_pairing(std::string_view pairing_id) = 0;
  // open -> registered; not_found, expired, already_registered.
  virtual StoreResult<PairingRecord> register_pairing(std::string_view pairing_id,
                                                      const PairingRegistration& reg,
                                                      Seconds now) = 0;
  // registered -> confirmed, creating the active device record with
  // `device_id`; not_found, expired, not_registered, already_registered
  // (confirmed before), duplicate (credential id already active for the user
  // under another key). The same credential and API key already active for
  // the (host, user) (the phone pinned in a second secret file) confirm onto
  // that record, which is returned as it is.
  virtual StoreResult<DeviceRecord> confirm_pairing(std::string_view pairing_id,
                                                    std::string_view device_id,
                                                    Seconds now) = 0;

  // Devices.
  virtual StoreResult<std::vector<DeviceRecord>> list_devices(const DeviceFilter& filter) = 0;
  virtual StoreResult<DeviceRecord> find_device(std::string_view device_id) = 0;
  // Every record under an API key, revoked ones too (the caller tells
  // unknown_device from device_revoked).
  virtual StoreResult<std::vector<DeviceRecord>> devices_by_api_key(std::string_view api_key_id) = 0;
  virtual StoreResult<DeviceRecord> revoke_device(std::string_view device_id, Seconds now) = 0;
  virtual StoreResult<DeviceRecord> rename_device(std::string_view device_id,
                                                  std::string_view name) = 0;

  // Challenges (section 4). create_challenge does, in one transaction:
  // remember the request's nonce (replayed_nonce); refuse push_blocked,
  // cooldown, no_devices (no listed credential belongs to an active device of
  // (host, user)); take one notification from each phone's bound (cooldown
  // when none has room; the phones over it count a suppressed request, kept
  // also when the challenge is refused); cancel the pending one of
  // (host, user), which counts towards the cooldown; insert the new one as
  // pending; append the audit events.
  virtual StoreResult<CreatedChallenge> create_challenge(const NewChallenge& challenge,
                                                         const FatiguePolicy& policy,
                                                         Seconds now,
                                                         const ChangeRecords& records) = 0;
  StoreResult<CreatedChallenge> create_challenge(const NewChallenge& challenge,
                                                 const FatiguePolicy& policy, Seconds now) {
    return create_challenge(challenge, policy, now, ChangeRecords{});
  }
  // Any status; a pending one past its expiry is returned as expired.
  virtual StoreResult<ChallengeRecord> find_challenge(std::string_view challenge_id,
                                                      Seconds now) = 0;
  // pending -> cancelled, which counts towards the cooldown. A decided (or
  // expired) one is returned unchanged (not an error).
  virtual StoreResult<ChallengeRecord> cancel_challenge(std::string_view challenge_id,
                                                        Seconds now) = 0;
  // pending -> approved/denied/reported by `device_id`; replayed_nonce,
  // not_found, already_decided, expired. deny counts towards the cooldown;
  // report also blocks push for (host, user). `assertion` only with approve.
  // The records are written in the same transaction.
  virtual StoreResult<ChallengeRecord> decide_challenge(std::string_view challenge_id,
                                                        std::string_view device_id,
                                                        Decision decision,
                                                        const std::optional<Assertion>& assertion,
                                                        Seconds now,
                                                        const ChangeRecords& records) = 0;
  StoreResult<ChallengeRecord> decide_challenge(std::string_view challenge_id,
                                                std::string_view device_id, Decision decision,
                                                const std::optional<Assertion>& assertion,
                                                Seconds now) {
    return decide_challenge(challenge_id, device_id, decision, assertion, now, ChangeRecords{});
  }
  // Marks every pending challenge past its expiry expired (each counts
  // towards the cooldown); returns those it changed (each exactly once, even
  // with several instances).
  virtual StoreResult<std::vector<ChallengeRecord>> expire_due(Seconds now) = 0;
  // The challenges a device key may see: (host, user) of one of its
  // non-revoked records, with that record's credential listed. Newest first
  // (creation order, not only the `created` second).
  virtual StoreResult<std::vector<ChallengeRecord>> challenges_for_api_key(
      std::string_view api_key_id, bool pending_only, int limit, Seconds now) = 0;

  // The requests suppressed for a phone by its notification bound.
  virtual StoreResult<SuppressedRequests> suppressed_requests(std::string_view api_key_id,
                                                              Seconds now) = 0;

  // Push blocks. unblock returns whether there was a block.
  virtual StoreResult<bool> unblock(std::string_view host_id, std::string_view user) = 0;

  // Audit log. list_audit: newest first, at most `limit`.
  virtual StoreResult<Done> append_audit(const AuditEvent& event) = 0;
  virtual StoreResult<std::vector<AuditEvent>> list_audit(std::string_view user, int limit) = 0;
  // The events after seq `after`, oldest first, at most `limit`, and only
  // up to the settled point: every event with a smaller seq that will ever
  // commit has committed (with several writers, transactions commit out of
  // seq order). So a reader that resumes after the last seq it saw misses
  // none and sees none twice, as long as pruning has not reached it.
  virtual StoreResult<std::vector<AuditEvent>> audit_after(std::int64_t after, int limit) = 0;

  // Retention: one batch (at most policy.batch rows) of each table, each in
  // its own short transaction, oldest first. Expired nonces go here too.
  // With several writers it skips rows another transaction holds, and takes
  // no lock that a login's transaction waits for (store_rules.hpp).
  virtual StoreResult<PruneCounts> prune_batch(const RetentionPolicy& policy, Seconds now) = 0;

  // ---- Web Push (the approver app, webpush.hpp) ----
  // Both stores implement these. The defaults refuse with StoreErrc::backend,
  // so that a store without them would still build, with Web Push off.
  //
  // Relay-wide settings (the VAPID key pair). put_setting_if_absent stores
  // `value` only if `name` has none and returns the value now stored, so that
  // concurrent first starts agree on one key.
  virtual StoreResult<std::string> put_setting_if_absent(std::string_view name,
                                                         std::string_view value);
  virtual StoreResult<std::string> get_setting(std::string_view name);  // not_found
  // Adds or replaces (by endpoint) a subscription.
  virtual StoreResult<Done> put_push_subscription(const PushSubscription& subscription);
  virtual StoreResult<std::vector<PushSubscription>> push_subscriptions(std::string_view api_key_id);
  // Removes one by endpoint (the push service said 404/410), or all of a key's
  // (the app turned notifications off). Returns how many were removed.
  virtual StoreResult<std::int64_t> delete_push_subscription(std::string_view endpoint);
  virtual StoreResult<std::int64_t> delete_push_subscriptions(std::string_view api_key_id);

  // ---- Rate limits that hold across instances (store_limits.cpp) ----
  // Where several instances write to one database (PostgreSQL), the relay's
  // token buckets live in it, so that N instances give an attacker the
  // budget of one; otherwise each instance keeps them in memory
  // (rate_limit.hpp). The defaults: not shared, and refuse with backend.
  virtual bool shares_rate_limits() const { return false; }
  // Takes one token from `bucket` (refilled at `rate` tokens per second,
  // at most `burst` saved up) at wall time `now_ms`. 0: taken; otherwise
  // the seconds until a token is there (at least 1, for Retry-After).
  virtual StoreResult<std::int64_t> take_token(std::string_view bucket, double rate, double burst,
                                               std::int64_t now_ms);
  // Forgets the buckets that have refilled completely; how many.
  virtual StoreResult<std::int64_t> forget_full_buckets(std::int64_t now_ms);

  // Hears how long each store call took and whether it failed (a backend
  // failure, not an answer such as not_found): the relay's metrics. Set
  // once before serving.
  using CallObserver = std::function<void(double seconds, bool failed)>;
  virtual void set_call_observer(CallObserver) {}
};

// Opens (creating and migrating) the store named by `location`: a path for
// SQLite, or a postgresql:// URL. schema_too_new if the database's schema
// version is newer than this binary's.
StoreResult<std::unique_ptr<Store>> open_store(const std::string& location);

// The SQLite implementation (store_sqlite.cpp).
StoreResult<std::unique_ptr<Store>> open_sqlite_store(const std::string& path);

}  // namespace twostep::relay
