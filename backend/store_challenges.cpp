// The store's rules for challenges (section 4 of docs/protocol.md), written
// once over the dialect interface (store_rules.hpp).
#include <algorithm>
#include <set>

#include "store_rules.hpp"

namespace twostep::relay::sql {
namespace {

constexpr std::string_view kChallengeSelect =
    "SELECT challenge_id, host_id, host_name, {user}, service, rhost, tty, nonce, created, "
    "expires, status, decided_at, decided_by, decided_by_name, decided_credential, "
    "a_credential_id, a_authenticator_data, a_client_data_json, a_signature, digest_version, "
    "command, target_user, location FROM challenges WHERE challenge_id = ?";

ChallengeRecord read_challenge(const Row& r) {
  ChallengeRecord c;
  c.challenge_id = r.text(0);
  c.host_id = r.text(1);
  c.host_name = r.text(2);
  c.user = r.text(3);
  c.service = r.text(4);
  c.rhost = r.text(5);
  c.tty = r.text(6);
  c.nonce = r.text(7);
  c.created = r.integer(8);
  c.expires = r.integer(9);
  c.status = challenge_status_from(r.text(10)).value_or(ChallengeStatus::expired);
  c.decided_at = r.integer(11);
  c.decided_by = r.text(12);
  c.decided_by_name = r.text(13);
  c.decided_credential = r.text(14);
  if (c.status == ChallengeStatus::approved && !r.is_null(15) && !r.text(15).empty()) {
    c.assertion = Assertion{r.text(15), r.text(16), r.text(17), r.text(18)};
  }
  if (r.integer(19) >= 2) c.context = ChallengeContext{r.text(20), r.text(21), r.text(22)};
  return c;
}

// A pending challenge past its expiry reads as expired (expire_due writes it).
void report_expiry(ChallengeRecord& c, Seconds now) {
  if (c.status == ChallengeStatus::pending && now >= c.expires) {
    c.status = ChallengeStatus::expired;
    c.decided_at = c.expires;
  }
}

// The name of a host not removed. {for_share}: a concurrent remove_host
// waits for us, or we for it.
StoreResult<std::string> live_host_name(Session& s, std::string_view host_id) {
  std::optional<std::string> name;
  auto r = s.run("create challenge",
                 "SELECT name FROM hosts WHERE host_id = ? AND removed = {false} {for_share}",
                 Params().text(host_id), [&](const Row& row) { name = row.text(0); });
  if (!r) return r.error();
  if (!name) return StoreError{StoreErrc::not_found, "no such host"};
  return std::move(*name);
}

// push_blocked after "this wasn't me", cooldown after repeated denials.
StoreResult<Done> push_allowed(Session& s, const NewChallenge& c, const FatiguePolicy& policy,
                               Seconds now) {
  auto blocked = s.run("create challenge",
                       "SELECT 1 FROM push_blocks WHERE host_id = ? AND {user} = ?",
                       Params().text(c.host_id).text(c.user));
  if (!blocked) return blocked.error();
  if (blocked.value() > 0) {
    return StoreError{StoreErrc::push_blocked, "push is blocked for this user on this host"};
  }
  if (policy.denials <= 0) return Done{};
  std::vector<Seconds> times;  // newest first
  auto den = s.run("create challenge",
                   "SELECT time FROM denials WHERE host_id = ? AND {user} = ? "
                   "ORDER BY time DESC LIMIT ?",
                   Params().text(c.host_id).text(c.user).integer(policy.denials),
                   [&](const Row& row) { times.push_back(row.integer(0)); });
  if (!den) return den.error();
  // Older ones cannot start a cooldown any more.
  auto old = s.run("create challenge",
                   "DELETE FROM denials WHERE host_id = ? AND {user} = ? AND time < ?",
                   Params().text(c.host_id).text(c.user)
                       .integer(now - policy.window - policy.cooldown));
  if (!old) return old.error();
  if (static_cast<int>(times.size()) == policy.denials &&
      times.front() - times.back() <= policy.window && now < times.front() + policy.cooldown) {
    StoreError e{StoreErrc::cooldown, "too many denials; cooling down"};
    e.retry_after = times.front() + policy.cooldown - now;
    return e;
  }
  return Done{};
}

// The phones (API keys) of the active devices of (host, user) whose
// credential the challenge lists, sorted (the order their locks are taken).
StoreResult<std::vector<std::string>> phones_of(Session& s, const NewChallenge& c) {
  std::set<std::string> keys;
  for (const auto& cred : c.credential_ids) {
    auto r = s.run("create challenge",
                   "SELECT api_key_id FROM devices WHERE host_id = ? AND {user} = ? AND "
                   "credential_id = ? AND revoked = {false}",
                   Params().text(c.host_id).text(c.user).blob(cred),
                   [&](const Row& row) { keys.insert(row.text(0)); });
    if (!r) return r.error();
  }
  return std::vector<std::string>(keys.begin(), keys.end());
}

// Whether `phone` has room for one more notification within the last
// minute; if so, takes it. Locked per phone: creations on several hosts (and
// instances) take from one bound one at a time. wait: when it has room again.
StoreResult<bool> take_notification(Session& s, std::string_view phone, int bound, Seconds now,
                                    Seconds& wait) {
  if (auto l = s.lock_pair("phone", phone); !l) return l.error();
  auto old = s.run("notification bound", "DELETE FROM phone_notices WHERE api_key_id = ? AND time <= ?",
                   Params().text(phone).integer(now - 60));
  if (!old) return old.error();
  Seconds oldest = now;
  auto n = s.run("notification bound",
                 "SELECT time FROM phone_notices WHERE api_key_id = ? ORDER BY time",
                 Params().text(phone), [&](const Row& row) {
                   oldest = std::min(oldest, row.integer(0));
                 });
  if (!n) return n.error();
  if (n.value() >= bound) {
    wait = std::max<Seconds>(1, oldest + 60 - now);
    return false;
  }
  auto ins = s.run("notification bound", "INSERT INTO phone_notices(api_key_id, time) VALUES(?, ?)",
                   Params().text(phone).integer(now));
  if (!ins) return ins.error();
  return true;
}

// One more request suppressed for `phone`; a day without one starts a new
// count.
StoreResult<Done> count_suppressed(Session& s, std::string_view phone, Seconds now) {
  const Seconds stale = now - kSuppressedMemory;
  auto r = s.run("suppressed request",
                 "INSERT INTO phone_suppressed(api_key_id, total, since_time, last_time, unreported) "
                 "VALUES(?, 1, ?, ?, 1) ON CONFLICT(api_key_id) DO UPDATE SET "
                 "total = CASE WHEN phone_suppressed.last_time <= ? THEN 1 "
                 "ELSE phone_suppressed.total + 1 END, "
                 "since_time = CASE WHEN phone_suppressed.last_time <= ? THEN excluded.since_time "
                 "ELSE phone_suppressed.since_time END, "
                 "last_time = excluded.last_time, unreported = phone_suppressed.unreported + 1",
                 Params().text(phone).integer(now).integer(now).integer(stale).integer(stale));
  if (!r) return r.error();
  return Done{};
}

// A notification for `phone`: the requests suppressed since its previous
// one, now told.
StoreResult<PhoneNotice> notice_for(Session& s, std::string phone) {
  PhoneNotice out{std::move(phone), 0};
  auto r = s.run("suppressed request",
                 "SELECT unreported FROM phone_suppressed WHERE api_key_id = ?",
                 Params().text(out.api_key_id),
                 [&](const Row& row) { out.suppressed_before = row.integer(0); });
  if (!r) return r.error();
  if (out.suppressed_before == 0) return out;
  auto u = s.run("suppressed request",
                 "UPDATE phone_suppressed SET unreported = 0 WHERE api_key_id = ?",
                 Params().text(out.api_key_id));
  if (!u) return u.error();
  return out;
}

// The phones a new challenge is notified to: each of `phones` with room in
// its bound; the others count a suppressed request (`over`). cooldown when
// none has room.
StoreResult<std::vector<PhoneNotice>> take_notifications(Session& s,
                                                         const std::vector<std::string>& phones,
                                                         const FatiguePolicy& policy, Seconds now,
                                                         std::vector<std::string>& over) {
  std::vector<PhoneNotice> notify;
  Seconds wait = 0;
  for (const auto& phone : phones) {
    bool room = true;
    if (policy.phone_notifications > 0) {
      auto took = take_notification(s, phone, policy.phone_notifications, now, wait);
      if (!took) return took.error();
      room = took.value();
    }
    if (!room) {
      over.push_back(phone);
      continue;
    }
    auto notice = notice_for(s, phone);
    if (!notice) return notice.error();
    notify.push_back(std::move(notice.value()));
  }
  if (notify.empty()) {
    StoreError e{StoreErrc::cooldown, "every phone of this user has had its notifications"};
    e.retry_after = wait;
    return e;
  }
  for (const auto& phone : over) {
    if (auto n = count_suppressed(s, phone, now); !n) return n.error();
  }
  return notify;
}

// A denied, reported or unanswered challenge of (host, user): one more
// towards the cooldown (push_allowed).
StoreResult<Done> count_towards_cooldown(Session& s, std::string_view host_id,
                                         std::string_view user, Seconds now) {
  auto den = s.run("record denial", "INSERT INTO denials(host_id, {user}, time) VALUES(?, ?, ?)",
                   Params().text(host_id).text(user).integer(now));
  if (!den) return den.error();
  return Done{};
}

// Cancels the pending challenge(s) of (host, user), each unanswered; returns
// their ids.
StoreResult<std::vector<std::string>> supersede(Session& s, std::string_view host_id,
                                                std::string_view user, Seconds now) {
  std::vector<std::string> ids;
  auto pending = s.run("supersede",
                       "SELECT challenge_id FROM challenges WHERE host_id = ? AND {user} = ? "
                       "AND status = 'pending' ORDER BY challenge_id {for_update}",
                       Params().text(host_id).text(user),
                       [&](const Row& row) { ids.push_back(row.text(0)); });
  if (!pending) return pending.error();
  if (ids.empty()) return ids;
  auto cancel = s.run("supersede",
                      "UPDATE challenges SET status = 'cancelled', decided_at = ? "
                      "WHERE host_id = ? AND {user} = ? AND status = 'pending'",
                      Params().integer(now).text(host_id).text(user));
  if (!cancel) return cancel.error();
  for (std::size_t i = 0; i < ids.size(); ++i) {
    if (auto n = count_towards_cooldown(s, host_id, user, now); !n) return n.error();
  }
  return ids;
}

StoreResult<ChallengeRecord> insert_challenge(Session& s, const NewChallenge& c,
                                              std::string host_name, Seconds now) {
  ChallengeRecord r;
  r.challenge_id = c.challenge_id;
  r.host_id = c.host_id;
  r.host_name = std::move(host_name);
  r.user = c.user;
  r.service = c.service;
  r.rhost = c.rhost;
  r.tty = c.tty;
  r.credential_ids = c.credential_ids;
  r.nonce = c.nonce;
  r.created = now;
  r.expires = c.expires;
  r.context = c.context;
  const ChallengeContext none;
  const ChallengeContext& context = c.context ? *c.context : none;
  auto ins = s.run("insert challenge",
                   "INSERT INTO challenges(challenge_id, host_id, host_name, {user}, service, "
                   "rhost, tty, nonce, created, expires, status, digest_version, command, "
                   "target_user, location) "
                   "VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?, ?)",
                   Params().text(r.challenge_id).text(r.host_id).text(r.host_name).text(r.user)
                       .text(r.service).text(r.rhost).text(r.tty).text(r.nonce)
                       .integer(r.created).integer(r.expires).integer(c.context ? 2 : 1)
                       .text(context.command).text(context.target_user).text(context.location));
  if (!ins) return ins.error();
  std::int64_t position = 0;
  for (const auto& cred : c.credential_ids) {
    auto ci = s.run("insert challenge",
                    "INSERT INTO challenge_credentials(challenge_id, position, credential_id) "
                    "VALUES(?, ?, ?)",
                    Params().text(r.challenge_id).integer(position++).blob(cred));
    if (!ci) return ci.error();
  }
  return r;
}

// The checks of decide_challenge on the locked row.
StoreResult<Done> decidable(const ChallengeRecord& c, Seconds now) {
  if (c.status == ChallengeStatus::expired ||
      (c.status == ChallengeStatus::pending && now >= c.expires)) {
    return StoreError{StoreErrc::expired, "challenge expired"};
  }
  if (c.status != ChallengeStatus::pending) {
    return StoreError{StoreErrc::already_decided, "challenge already decided"};
  }
  return Done{};
}

// Writes a decision: the challenge's new status and assertion, the device's
// last use, the denial that counts towards the cooldown, the push block.
StoreResult<Done> write_decision(Session& s, const ChallengeRecord& c, const DeviceRecord& d,
                                 Decision decision, const Assertion* assertion, Seconds now) {
  Params p;
  p.text(to_string(status_of(decision))).integer(now).text(d.device_id).text(d.name)
      .blob(d.credential_id);
  if (assertion) {
    p.blob(assertion->credential_id).blob(assertion->authenticator_data)
        .blob(assertion->client_data_json).blob(assertion->signature);
  } else {
    p.null().null().null().null();
  }
  p.text(c.challenge_id);
  if (auto u = s.run("decide challenge",
                     "UPDATE challenges SET status = ?, decided_at = ?, decided_by = ?, "
                     "decided_by_name = ?, decided_credential = ?, a_credential_id = ?, "
                     "a_authenticator_data = ?, a_client_data_json = ?, a_signature = ? "
                     "WHERE challenge_id = ? AND status = 'pending'",
                     p);
      !u) {
    return u.error();
  }
  if (auto used = s.run("decide challenge", "UPDATE devices SET last_used = ? WHERE device_id = ?",
                        Params().integer(now).text(d.device_id));
      !used) {
    return used.error();
  }
  if (decision != Decision::approve) {
    if (auto n = count_towards_cooldown(s, c.host_id, c.user, now); !n) return n.error();
  }
  if (decision == Decision::report) {
    auto blk = s.run("block push",
                     "INSERT INTO push_blocks(host_id, {user}, since) VALUES(?, ?, ?) "
                     "ON CONFLICT DO NOTHING",
                     Params().text(c.host_id).text(c.user).integer(now));
    if (!blk) return blk.error();
  }
  return Done{};
}

// Locks the (host, user) of a challenge: decide's lock order is
// create_challenge's, (host, user) first, then the row.
StoreResult<Done> lock_owner(Session& s, std::string_view challenge_id) {
  std::optional<std::pair<std::string, std::string>> owner;
  auto who = s.run("decide challenge",
                   "SELECT host_id, {user} FROM challenges WHERE challenge_id = ?",
                   Params().text(challenge_id),
                   [&](const Row& row) { owner.emplace(row.text(0), row.text(1)); });
  if (!who) return who.error();
  if (!owner) return StoreError{StoreErrc::not_found, "no such challenge"};
  return s.lock_pair(owner->first, owner->second);
}

}  // namespace

StoreResult<ChallengeRecord> SqlStore::find_challenge_in(Session& s,
                                                         std::string_view challenge_id,
                                                         bool for_update) {
  static const std::string sql[2] = {std::string(kChallengeSelect),
                                     std::string(kChallengeSelect) + " {for_update}"};
  std::optional<ChallengeRecord> c;
  auto r = s.run("find challenge", sql[for_update ? 1 : 0], Params().text(challenge_id),
                 [&](const Row& row) { c = read_challenge(row); });
  if (!r) return r.error();
  if (!c) return StoreError{StoreErrc::not_found, "no such challenge"};
  auto cc = s.run("find challenge",
                  "SELECT credential_id FROM challenge_credentials WHERE challenge_id = ? "
                  "ORDER BY position",
                  Params().text(challenge_id),
                  [&](const Row& row) { c->credential_ids.push_back(row.text(0)); });
  if (!cc) return cc.error();
  return std::move(*c);
}

StoreResult<CreatedChallenge> SqlStore::create_challenge(const NewChallenge& c,
                                                         const FatiguePolicy& policy, Seconds now,
                                                         const ChangeRecords& records) {
  std::vector<std::string> over;  // phones whose bound refused this challenge
  auto out = transact<CreatedChallenge>(
      [&](Session& s, Changes& changes) -> StoreResult<CreatedChallenge> {
        over.clear();  // a retried transaction starts again
        if (auto n = record_nonce_in(s, records, now); !n) return n.error();
        if (auto l = s.lock_pair(c.host_id, c.user); !l) return l.error();
        auto host_name = live_host_name(s, c.host_id);
        if (!host_name) return host_name.error();
        auto phones = phones_of(s, c);
        if (!phones) return phones.error();
        if (auto allowed = push_allowed(s, c, policy, now); !allowed) {
          // The phones did not see it: counted as suppressed, as below.
          if (allowed.error().code == StoreErrc::cooldown) over = phones.value();
          return allowed.error();
        }
        if (phones->empty()) {
          return StoreError{StoreErrc::no_devices, "no listed device is active for this user"};
        }
        auto notify = take_notifications(s, phones.value(), policy, now, over);
        if (!notify) return notify.error();
        auto superseded = supersede(s, c.host_id, c.user, now);
        if (!superseded) return superseded.error();
        auto inserted = insert_challenge(s, c, std::move(host_name.value()), now);
        if (!inserted) return inserted.error();
        if (auto a = append_audit_in(s, records); !a) return a.error();
        CreatedChallenge made{std::move(inserted.value()), std::move(superseded.value()),
                              std::move(notify.value())};
        for (const auto& id : made.superseded) changes.push_back({ChangeKind::challenge, id});
        changes.push_back({ChangeKind::challenge, made.challenge.challenge_id});
        return made;
      });
  if (!out && !over.empty()) {
    // Refused by a cooldown, or because every phone had its notifications:
    // the refusal rolled back, the count of what the phones did not see is
    // kept.
    auto kept = transact<Done>([&](Session& s, Changes&) -> StoreResult<Done> {
      for (const auto& phone : over) {
        if (auto n = count_suppressed(s, phone, now); !n) return n;
      }
      return Done{};
    });
    if (!kept) return kept.error();
  }
  return out;
}

StoreResult<ChallengeRecord> SqlStore::find_challenge(std::string_view challenge_id,
                                                      Seconds now) {
  return autocommit<ChallengeRecord>([&](Session& s) -> StoreResult<ChallengeRecord> {
    auto c = find_challenge_in(s, challenge_id, false);
    if (c) report_expiry(c.value(), now);
    return c;
  });
}

StoreResult<ChallengeRecord> SqlStore::cancel_challenge(std::string_view challenge_id,
                                                        Seconds now) {
  return transact<ChallengeRecord>(
      [&](Session& s, Changes& changes) -> StoreResult<ChallengeRecord> {
        auto c = find_challenge_in(s, challenge_id, true);
        if (!c) return c;
        if (c->status != ChallengeStatus::pending) return c;
        if (now >= c->expires) {  // expire_due records it, once
          report_expiry(c.value(), now);
          return c;
        }
        auto u = s.run("cancel challenge",
                       "UPDATE challenges SET status = 'cancelled', decided_at = ? "
                       "WHERE challenge_id = ?",
                       Params().integer(now).text(challenge_id));
        if (!u) return u.error();
        if (auto n = count_towards_cooldown(s, c->host_id, c->user, now); !n) return n.error();
        c->status = ChallengeStatus::cancelled;
        c->decided_at = now;
        changes.push_back({ChangeKind::challenge, c->challenge_id});
        return c;
      });
}

StoreResult<ChallengeRecord> SqlStore::decide_challenge(std::string_view challenge_id,
                                                        std::string_view device_id,
                                                        Decision decision,
                                                        const std::optional<Assertion>& assertion,
                                                        Seconds now,
                                                        const ChangeRecords& records) {
  return transact<ChallengeRecord>(
      [&](Session& s, Changes& changes) -> StoreResult<ChallengeRecord> {
        if (auto n = record_nonce_in(s, records, now); !n) return n.error();
        if (auto l = lock_owner(s, challenge_id); !l) return l.error();
        auto c = find_challenge_in(s, challenge_id, true);
        if (!c) return c;
        if (auto open = decidable(c.value(), now); !open) return open.error();
        auto d = find_device_in(s, device_id, false);
        if (!d) return d.error();
        const bool with_assertion = decision == Decision::approve && assertion.has_value();
        const Assertion* kept = with_assertion ? &*assertion : nullptr;
        if (auto w = write_decision(s, c.value(), d.value(), decision, kept, now); !w) {
          return w.error();
        }
        if (auto a = append_audit_in(s, records); !a) return a.error();
        c->status = status_of(decision);
        c->decided_at = now;
        c->decided_by = d->device_id;
        c->decided_by_name = d->name;
        c->decided_credential = d->credential_id;
        if (with_assertion) c->assertion = assertion;
        changes.push_back({ChangeKind::challenge, c->challenge_id});
        return c;
      });
}

StoreResult<std::vector<ChallengeRecord>> SqlStore::expire_due(Seconds now) {
  return transact<std::vector<ChallengeRecord>>(
      [&](Session& s, Changes& changes) -> StoreResult<std::vector<ChallengeRecord>> {
        // {skip_locked}: a row another transaction holds is its to settle; a
        // row it leaves pending is found by the next run.
        std::vector<std::string> due;
        auto r = s.run("expire",
                       "SELECT challenge_id FROM challenges WHERE status = 'pending' AND "
                       "expires <= ? ORDER BY challenge_id {for_update} {skip_locked}",
                       Params().integer(now), [&](const Row& row) { due.push_back(row.text(0)); });
        if (!r) return r.error();
        std::vector<ChallengeRecord> out;
        for (const auto& id : due) {
          auto u = s.run("expire challenge",
                         "UPDATE challenges SET status = 'expired', decided_at = ? "
                         "WHERE challenge_id = ? AND status = 'pending'",
                         Params().integer(now).text(id));
          if (!u) return u.error();
          if (u.value() == 0) continue;
          auto c = find_challenge_in(s, id, false);
          if (!c) return c.error();
          if (auto n = count_towards_cooldown(s, c->host_id, c->user, now); !n) return n.error();
          changes.push_back({ChangeKind::challenge, c->challenge_id});
          out.push_back(std::move(c.value()));
        }
        return out;
      });
}

StoreResult<std::vector<ChallengeRecord>> SqlStore::challenges_for_api_key(
    std::string_view api_key_id, bool pending_only, int limit, Seconds now) {
  // Newest first: creation order, not only the `created` second.
  static const std::string head =
      "SELECT DISTINCT c.challenge_id, c.{insertion_order} FROM challenges c "
      "JOIN challenge_credentials cc ON cc.challenge_id = c.challenge_id "
      "JOIN devices d ON d.credential_id = cc.credential_id AND "
      "d.host_id = c.host_id AND d.{user} = c.{user} "
      "WHERE d.api_key_id = ? AND d.revoked = {false} ";
  static const std::string tail = "ORDER BY c.{insertion_order} DESC LIMIT ?";
  static const std::string any = head + tail;
  static const std::string pending = head + "AND c.status = 'pending' AND c.expires > ? " + tail;
  Params params;
  params.text(api_key_id);
  if (pending_only) params.integer(now);
  params.integer(limit);
  return autocommit<std::vector<ChallengeRecord>>(
      [&](Session& s) -> StoreResult<std::vector<ChallengeRecord>> {
        std::vector<std::string> ids;
        auto r = s.run("challenges for key", pending_only ? pending : any, params,
                       [&](const Row& row) { ids.push_back(row.text(0)); });
        if (!r) return r.error();
        std::vector<ChallengeRecord> out;
        for (const auto& id : ids) {
          auto c = find_challenge_in(s, id, false);
          if (!c) return c.error();
          if (c->status == ChallengeStatus::pending && now >= c->expires) {
            c->status = ChallengeStatus::expired;  // shown as it is; expire_due records it
          }
          out.push_back(std::move(c.value()));
        }
        return out;
      });
}

StoreResult<SuppressedRequests> SqlStore::suppressed_requests(std::string_view api_key_id,
                                                              Seconds now) {
  return autocommit<SuppressedRequests>([&](Session& s) -> StoreResult<SuppressedRequests> {
    SuppressedRequests out;
    auto r = s.run("suppressed requests",
                   "SELECT total, since_time, last_time FROM phone_suppressed "
                   "WHERE api_key_id = ? AND last_time > ?",
                   Params().text(api_key_id).integer(now - kSuppressedMemory),
                   [&](const Row& row) {
                     out = SuppressedRequests{row.integer(0), row.integer(1), row.integer(2)};
                   });
    if (!r) return r.error();
    return out;
  });
}

StoreResult<bool> SqlStore::unblock(std::string_view host_id, std::string_view user) {
  return transact<bool>([&](Session& s, Changes&) -> StoreResult<bool> {
    auto b = s.run("unblock", "DELETE FROM push_blocks WHERE host_id = ? AND {user} = ?",
                   Params().text(host_id).text(user));
    if (!b) return b.error();
    auto d = s.run("unblock", "DELETE FROM denials WHERE host_id = ? AND {user} = ?",
                   Params().text(host_id).text(user));
    if (!d) return d.error();
    return b.value() > 0;
  });
}

}  // namespace twostep::relay::sql
