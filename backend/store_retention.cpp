// Retention (twostepd.conf(5)): the store's prune rules, written once over
// the dialect interface (store_rules.hpp says what they lock and why no
// login waits for them).
//
// Each table: one short transaction that deletes at most `batch` of its
// oldest prunable rows. On SQLite the freed pages go to the file's free
// list and the next inserts reuse them, so the file stops growing once
// pruning keeps pace; on PostgreSQL the deleted tuples are dead until
// autovacuum marks their space free, which small batches let it follow.
#include <algorithm>

#include "store_rules.hpp"

namespace twostep::relay::sql {
namespace {

// The cutoff for rows kept `keep` seconds: those older go. 0 keeps all.
bool kept_forever(Seconds keep) { return keep <= 0; }

// Decided challenges (any status but pending) decided before the cutoff
// and past their expiry: the module that asked has its answer or gave up.
// First their credentials, then the challenges that have none left, so a
// skipped row (locked elsewhere) never leaves an orphan behind.
StoreResult<std::int64_t> prune_challenges(Session& s, Seconds cutoff, Seconds now,
                                           std::int64_t batch) {
  auto creds = s.run("prune challenges",
                     "DELETE FROM challenge_credentials WHERE challenge_id IN ("
                     "SELECT challenge_id FROM challenges WHERE decided_at > 0 AND "
                     "decided_at <= ? AND expires <= ? AND status <> 'pending' "
                     "ORDER BY decided_at LIMIT ? {for_update} {skip_locked})",
                     Params().integer(cutoff).integer(now).integer(batch));
  if (!creds) return creds.error();
  return s.run("prune challenges",
               "DELETE FROM challenges WHERE challenge_id IN ("
               "SELECT challenge_id FROM challenges c WHERE decided_at > 0 AND "
               "decided_at <= ? AND expires <= ? AND status <> 'pending' AND NOT EXISTS ("
               "SELECT 1 FROM challenge_credentials cc WHERE cc.challenge_id = c.challenge_id) "
               "ORDER BY decided_at LIMIT ? {for_update} {skip_locked})",
               Params().integer(cutoff).integer(now).integer(batch));
}

StoreResult<std::int64_t> prune_audit(Session& s, Seconds cutoff, std::int64_t batch) {
  return s.run("prune audit",
               "DELETE FROM audit WHERE seq IN ("
               "SELECT seq FROM audit WHERE time < ? ORDER BY time LIMIT ?)",
               Params().integer(cutoff).integer(batch));
}

StoreResult<std::int64_t> prune_nonces(Session& s, Seconds now, std::int64_t batch) {
  return s.run("prune nonces",
               "DELETE FROM nonces WHERE (principal, nonce) IN ("
               "SELECT principal, nonce FROM nonces WHERE expires <= ? ORDER BY expires "
               "LIMIT ? {for_update} {skip_locked})",
               Params().integer(now).integer(batch));
}

// Pairings past their expiry by the retention: open, registered or
// confirmed, none can change any more.
StoreResult<std::int64_t> prune_pairings(Session& s, Seconds cutoff, std::int64_t batch) {
  return s.run("prune pairings",
               "DELETE FROM pairings WHERE pairing_id IN ("
               "SELECT pairing_id FROM pairings WHERE expires < ? ORDER BY expires "
               "LIMIT ? {for_update} {skip_locked})",
               Params().integer(cutoff).integer(batch));
}

// Revoked device records revoked before the cutoff. Those revoked before
// revoked_at existed (0) get the current time first: their retention starts
// now.
StoreResult<std::int64_t> prune_devices(Session& s, Seconds cutoff, Seconds now,
                                        std::int64_t batch) {
  auto stamp = s.run("prune devices",
                     "UPDATE devices SET revoked_at = ? WHERE revoked = {true} AND revoked_at = 0",
                     Params().integer(now));
  if (!stamp) return stamp.error();
  return s.run("prune devices",
               "DELETE FROM devices WHERE device_id IN ("
               "SELECT device_id FROM devices WHERE revoked = {true} AND revoked_at > 0 AND "
               "revoked_at < ? ORDER BY revoked_at LIMIT ? {for_update} {skip_locked})",
               Params().integer(cutoff).integer(batch));
}

// Web Push subscriptions of a phone (API key) with no active device: nothing
// will be sent to them again (a phone that pairs again subscribes again).
StoreResult<std::int64_t> prune_push_subscriptions(Session& s, std::int64_t batch) {
  return s.run("prune push subscriptions",
               "DELETE FROM push_subscriptions WHERE endpoint IN ("
               "SELECT endpoint FROM push_subscriptions ps WHERE NOT EXISTS ("
               "SELECT 1 FROM devices d WHERE d.api_key_id = ps.api_key_id AND "
               "d.revoked = {false}) ORDER BY created LIMIT ? {for_update} {skip_locked})",
               Params().integer(batch));
}

}  // namespace

StoreResult<PruneCounts> SqlStore::prune_batch(const RetentionPolicy& policy, Seconds now) {
  const std::int64_t batch = std::max<std::int64_t>(1, policy.batch);
  PruneCounts out;
  // Each step in its own transaction; a failed one stops the batch.
  auto count = [&](std::int64_t& into, const char* table, auto&& body) -> StoreResult<Done> {
    auto removed = prune_step(policy, table, body);
    if (!removed) return removed.error();
    into = removed.value();
    out.more = out.more || into >= batch;
    return Done{};
  };
  StoreResult<Done> r = count(out.nonces, "nonces",
                              [&](Session& s) { return prune_nonces(s, now, batch); });
  if (r && !kept_forever(policy.challenges)) {
    r = count(out.challenges, "challenges", [&](Session& s) {
      return prune_challenges(s, now - policy.challenges, now, batch);
    });
  }
  if (r && !kept_forever(policy.audit)) {
    r = count(out.audit, "audit",
              [&](Session& s) { return prune_audit(s, now - policy.audit, batch); });
  }
  if (r && !kept_forever(policy.pairings)) {
    r = count(out.pairings, "pairings",
              [&](Session& s) { return prune_pairings(s, now - policy.pairings, batch); });
  }
  if (r && !kept_forever(policy.revoked_devices)) {
    r = count(out.devices, "devices", [&](Session& s) {
      return prune_devices(s, now - policy.revoked_devices, now, batch);
    });
  }
  if (r) {
    r = count(out.push_subscriptions, "push_subscriptions",
              [&](Session& s) { return prune_push_subscriptions(s, batch); });
  }
  if (!r) return r.error();
  return out;
}

}  // namespace twostep::relay::sql
