// The store's schema: one list of migrations, in neutral SQL
// (store_dialect.hpp), for every dialect.
#include <iterator>

#include "store_rules.hpp"

namespace twostep::relay::sql {
namespace {

// Which databases a step is for.
enum class Scope {
  every_database,
  several_writers,  // a backstop that only concurrent instances need
};

struct Step {
  std::int64_t to_version;
  Scope scope;
  const char* sql;
};

// Versioned migrations: the steps with to_version v take the schema from
// version v - 1 to v. Never edit a released step; append a new one. The
// spellings each dialect gave its released schema are its {words}: a
// database made by an earlier twostepd is the one these steps make.
constexpr Step kSteps[] = {
    {1, Scope::every_database, R"sql(
CREATE TABLE hosts (
  host_id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  secret {blob} NOT NULL,
  created {int} NOT NULL,
  removed {bool} NOT NULL DEFAULT {false}
);
CREATE UNIQUE INDEX hosts_live_name ON hosts(name) WHERE {host_not_removed};
CREATE TABLE nonces (
  principal TEXT NOT NULL,
  nonce TEXT NOT NULL,
  expires {int} NOT NULL,
  PRIMARY KEY (principal, nonce)
);
CREATE INDEX nonces_expires ON nonces(expires);
CREATE TABLE pairings (
  pairing_id TEXT PRIMARY KEY,
  host_id TEXT NOT NULL,
  {user} TEXT NOT NULL,
  confirm_hash {blob} NOT NULL,
  created {int} NOT NULL,
  expires {int} NOT NULL,
  status TEXT NOT NULL,
  reg_name TEXT,
  reg_credential_id {blob},
  reg_credential_pk {blob},
  reg_api_pk {blob},
  reg_proof {blob},
  reg_api_key_id TEXT,
  device_id TEXT NOT NULL DEFAULT ''
);
CREATE TABLE devices (
  device_id TEXT PRIMARY KEY,
  host_id TEXT NOT NULL,
  {user} TEXT NOT NULL,
  name TEXT NOT NULL,
  credential_id {blob} NOT NULL,
  credential_pk {blob} NOT NULL,
  api_key_id TEXT NOT NULL,
  api_pk {blob} NOT NULL,
  created {int} NOT NULL,
  last_used {int} NOT NULL DEFAULT 0,
  revoked {bool} NOT NULL DEFAULT {false}
);
CREATE INDEX devices_api_key ON devices(api_key_id);
CREATE INDEX devices_host_user ON devices(host_id, {user});
CREATE TABLE challenges (
  challenge_id TEXT PRIMARY KEY,
  host_id TEXT NOT NULL,
  host_name TEXT NOT NULL,
  {user} TEXT NOT NULL,
  service TEXT NOT NULL,
  rhost TEXT NOT NULL,
  tty TEXT NOT NULL,
  nonce TEXT NOT NULL,
  created {int} NOT NULL,
  expires {int} NOT NULL,
  status TEXT NOT NULL,
  decided_at {int} NOT NULL DEFAULT 0,
  decided_by TEXT NOT NULL DEFAULT '',
  decided_by_name TEXT NOT NULL DEFAULT '',
  decided_credential {blob},
  a_credential_id {blob},
  a_authenticator_data {blob},
  a_client_data_json {blob},
  a_signature {blob}{insertion_order_column}
);
CREATE INDEX challenges_host_user ON challenges(host_id, {user}, status);
CREATE INDEX challenges_pending ON challenges(status, expires);
CREATE TABLE challenge_credentials (
  challenge_id TEXT NOT NULL,
  position {int} NOT NULL,
  credential_id {blob} NOT NULL,
  PRIMARY KEY (challenge_id, position)
);
CREATE INDEX challenge_credentials_cred ON challenge_credentials(credential_id);
CREATE TABLE push_blocks (
  host_id TEXT NOT NULL,
  {user} TEXT NOT NULL,
  since {int} NOT NULL,
  PRIMARY KEY (host_id, {user})
);
CREATE TABLE denials (
  host_id TEXT NOT NULL,
  {user} TEXT NOT NULL,
  time {int} NOT NULL
);
CREATE INDEX denials_host_user ON denials(host_id, {user}, time);
CREATE TABLE audit (
  seq {serial_key},
  time {int} NOT NULL,
  event TEXT NOT NULL,
  host TEXT NOT NULL,
  {user} TEXT NOT NULL,
  service TEXT NOT NULL,
  rhost TEXT NOT NULL,
  challenge_id TEXT NOT NULL,
  device TEXT NOT NULL,
  result TEXT NOT NULL,
  ms {int} NOT NULL
);
CREATE INDEX audit_user ON audit({user}, seq);
)sql"},
    // One pending challenge per (host, user) is decided under lock_pair;
    // with several instances this index is the backstop.
    {1, Scope::several_writers, R"sql(
CREATE UNIQUE INDEX challenges_one_pending ON challenges(host_id, {user})
  WHERE status = 'pending';
)sql"},
    // Web Push (the approver app): relay-wide settings (the VAPID key pair)
    // and the phones' push subscriptions, per API key.
    {2, Scope::every_database, R"sql(
CREATE TABLE settings (
  name TEXT PRIMARY KEY,
  value {blob} NOT NULL
);
CREATE TABLE push_subscriptions (
  endpoint TEXT PRIMARY KEY,
  api_key_id TEXT NOT NULL,
  p256dh {blob} NOT NULL,
  auth {blob} NOT NULL,
  created {int} NOT NULL
);
CREATE INDEX push_subscriptions_key ON push_subscriptions(api_key_id);
)sql"},
    // The per-phone notification bound (FatiguePolicy::phone_notifications):
    // the notifications of the last minute, at most the bound per phone, and
    // the requests suppressed over it.
    {3, Scope::every_database, R"sql(
CREATE TABLE phone_notices (
  api_key_id TEXT NOT NULL,
  time {int} NOT NULL
);
CREATE INDEX phone_notices_key ON phone_notices(api_key_id, time);
CREATE TABLE phone_suppressed (
  api_key_id TEXT PRIMARY KEY,
  total {int} NOT NULL,
  since_time {int} NOT NULL,
  last_time {int} NOT NULL,
  unreported {int} NOT NULL
);
)sql"},
    // Signed context (protocol version 3): what the phone shows besides the
    // PAM items, and which approval digest its challenge asks for (1: made
    // by an older module, without context).
    {4, Scope::every_database, R"sql(
ALTER TABLE challenges ADD COLUMN digest_version {int} NOT NULL DEFAULT 1;
ALTER TABLE challenges ADD COLUMN command TEXT NOT NULL DEFAULT '';
ALTER TABLE challenges ADD COLUMN target_user TEXT NOT NULL DEFAULT '';
ALTER TABLE challenges ADD COLUMN location TEXT NOT NULL DEFAULT '';
)sql"},
    // The relay's rate limits where several instances share the database
    // (store_limits.cpp): one token bucket per row. Unlogged on PostgreSQL:
    // no WAL and no flush for a counter that may be lost in a crash (every
    // bucket then starts full again), and not copied to replicas.
    {5, Scope::every_database, R"sql(
CREATE {unlogged} TABLE rate_buckets (
  bucket TEXT PRIMARY KEY,
  units {int} NOT NULL,
  at_ms {int} NOT NULL,
  rate {int} NOT NULL,
  burst {int} NOT NULL,
  granted {int} NOT NULL
);
)sql"},
    // Retention (prune_batch): when a device was revoked (0: before this
    // step, or not revoked), and indexes to find the oldest rows of each
    // pruned table without a scan.
    {6, Scope::every_database, R"sql(
ALTER TABLE devices ADD COLUMN revoked_at {int} NOT NULL DEFAULT 0;
CREATE INDEX audit_time ON audit(time);
CREATE INDEX challenges_decided ON challenges(decided_at);
CREATE INDEX pairings_expires ON pairings(expires);
)sql"},
};
constexpr std::int64_t kSchemaVersion = std::end(kSteps)[-1].to_version;

StoreError too_new(std::int64_t version) {
  return StoreError{StoreErrc::schema_too_new,
                    "the database's schema version is " + std::to_string(version) +
                        ", newer than this twostepd's " + std::to_string(kSchemaVersion) +
                        ": it was written by a newer twostepd; upgrade twostepd (the "
                        "database was not changed)"};
}

}  // namespace

StoreResult<Done> SqlStore::migrate() {
  const bool several = db_->several_writers();
  Changes none;
  return db_->transaction(
      [&](Session& s, Changes&) -> StoreResult<Done> {
        auto version = s.schema_version();
        if (!version) return version.error();
        if (version.value() > kSchemaVersion) return too_new(version.value());
        for (const Step& step : kSteps) {
          if (step.to_version <= version.value()) continue;
          if (step.scope == Scope::several_writers && !several) continue;
          if (auto r = s.run_script("migrate", step.sql); !r) return r;
        }
        return s.set_schema_version(kSchemaVersion);
      },
      none);
}

}  // namespace twostep::relay::sql
