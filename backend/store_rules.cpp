// The store's rules for hosts, nonces, pairings, devices, the audit log and
// Web Push, written once over the dialect interface (store_rules.hpp).
#include "store_rules.hpp"

namespace twostep::relay::sql {
namespace {

constexpr std::string_view kHostColumns = "host_id, name, secret, created, removed";

HostRecord read_host(const Row& r) {
  return HostRecord{r.text(0), r.text(1), r.text(2), r.integer(3), r.flag(4)};
}

constexpr std::string_view kDeviceColumns =
    "device_id, host_id, {user}, name, credential_id, credential_pk, api_key_id, api_pk, "
    "created, last_used, revoked";

DeviceRecord read_device(const Row& r) {
  DeviceRecord d;
  d.device_id = r.text(0);
  d.host_id = r.text(1);
  d.user = r.text(2);
  d.name = r.text(3);
  d.credential_id = r.text(4);
  d.credential_public_key = r.text(5);
  d.api_key_id = r.text(6);
  d.api_public_key = r.text(7);
  d.created = r.integer(8);
  d.last_used = r.integer(9);
  d.revoked = r.flag(10);
  return d;
}

constexpr std::string_view kPairingColumns =
    "pairing_id, host_id, {user}, confirm_hash, created, expires, status, reg_name, "
    "reg_credential_id, reg_credential_pk, reg_api_pk, reg_proof, reg_api_key_id, device_id";

PairingRecord read_pairing(const Row& r) {
  PairingRecord p;
  p.pairing_id = r.text(0);
  p.host_id = r.text(1);
  p.user = r.text(2);
  p.confirm_hash = r.text(3);
  p.created = r.integer(4);
  p.expires = r.integer(5);
  const std::string status = r.text(6);
  p.status = status == "registered"  ? PairingStatus::registered
             : status == "confirmed" ? PairingStatus::confirmed
                                     : PairingStatus::open;
  if (!r.is_null(7)) {
    p.registration =
        PairingRegistration{r.text(7), r.text(8), r.text(9), r.text(10), r.text(11), r.text(12)};
  }
  p.device_id = r.text(13);
  return p;
}

std::string select_from(std::string_view columns, std::string_view rest) {
  std::string sql = "SELECT ";
  sql += columns;
  sql += ' ';
  sql += rest;
  return sql;
}

// The devices a query returns, in its order.
StoreResult<std::vector<DeviceRecord>> devices_of(Session& s, const char* what,
                                                  std::string_view sql, const Params& params) {
  std::vector<DeviceRecord> out;
  auto r = s.run(what, sql, params, [&](const Row& row) { out.push_back(read_device(row)); });
  if (!r) return r.error();
  return out;
}

// The checks of confirm_pairing before it writes.
StoreResult<Done> confirmable(const PairingRecord& p, Seconds now) {
  if (p.status == PairingStatus::confirmed) {
    return StoreError{StoreErrc::already_registered, "pairing already confirmed"};
  }
  if (now >= p.expires) return StoreError{StoreErrc::expired, "pairing expired"};
  if (p.status != PairingStatus::registered || !p.registration) {
    return StoreError{StoreErrc::not_registered, "no device registered yet"};
  }
  return Done{};
}

}  // namespace

StoreResult<std::unique_ptr<Store>> open_sql_store(std::unique_ptr<Database> database) {
  auto store = std::make_unique<SqlStore>(std::move(database));
  if (auto r = store->migrate(); !r) return r.error();
  if (auto r = store->hear_others(); !r) return r.error();
  return std::unique_ptr<Store>(std::move(store));
}

StoreResult<Done> SqlStore::hear_others() {
  return db_->hear_others([this](ChangeKind kind, const std::string& id) { deliver(kind, id); });
}

void SqlStore::set_change_listener(ChangeListener listener) {
  std::lock_guard lock(listener_mu_);
  listener_ = std::move(listener);
}

void SqlStore::deliver(ChangeKind kind, const std::string& id) {
  std::lock_guard lock(listener_mu_);
  if (listener_) listener_(kind, id);
}

// ---- hosts ----

StoreResult<Done> SqlStore::add_host(const HostRecord& host) {
  return autocommit<Done>([&](Session& s) -> StoreResult<Done> {
    auto r = s.run("add host",
                   "INSERT INTO hosts(host_id, name, secret, created, removed) "
                   "VALUES(?, ?, ?, ?, {false})",
                   Params().text(host.host_id).text(host.name).blob(host.secret)
                       .integer(host.created));
    if (!r && r.error().code == StoreErrc::duplicate) {
      return StoreError{StoreErrc::duplicate, "a host named '" + host.name + "' exists"};
    }
    if (!r) return r.error();
    return Done{};
  });
}

StoreResult<HostRecord> SqlStore::find_host(std::string_view host_id) {
  static const std::string sql = select_from(kHostColumns, "FROM hosts WHERE host_id = ?");
  return autocommit<HostRecord>([&](Session& s) -> StoreResult<HostRecord> {
    std::optional<HostRecord> host;
    auto r = s.run("find host", sql, Params().text(host_id),
                   [&](const Row& row) { host = read_host(row); });
    if (!r) return r.error();
    if (!host) return StoreError{StoreErrc::not_found, "no such host"};
    return std::move(*host);
  });
}

StoreResult<std::vector<HostRecord>> SqlStore::list_hosts() {
  static const std::string sql =
      select_from(kHostColumns, "FROM hosts WHERE removed = {false} ORDER BY name");
  return autocommit<std::vector<HostRecord>>(
      [&](Session& s) -> StoreResult<std::vector<HostRecord>> {
        std::vector<HostRecord> out;
        auto r = s.run("list hosts", sql, {},
                       [&](const Row& row) { out.push_back(read_host(row)); });
        if (!r) return r.error();
        return out;
      });
}

StoreResult<HostRecord> SqlStore::remove_host(std::string_view id_or_name, Seconds now) {
  static const std::string sql = select_from(
      kHostColumns,
      "FROM hosts WHERE removed = {false} AND (host_id = ? OR name = ?) "
      "ORDER BY host_id LIMIT 1 {for_update}");
  return transact<HostRecord>([&](Session& s, Changes&) -> StoreResult<HostRecord> {
    std::optional<HostRecord> host;
    auto r = s.run("remove host", sql, Params().text(id_or_name).text(id_or_name),
                   [&](const Row& row) { host = read_host(row); });
    if (!r) return r.error();
    if (!host) return StoreError{StoreErrc::not_found, "no such host"};
    host->removed = true;
    if (auto u = s.run("remove host", "UPDATE hosts SET removed = {true} WHERE host_id = ?",
                       Params().text(host->host_id));
        !u) {
      return u.error();
    }
    // revoked_at starts a revoked record's retention; an earlier revocation
    // keeps its own.
    if (auto d = s.run("remove host",
                       "UPDATE devices SET revoked = {true}, revoked_at = CASE WHEN revoked_at = 0 "
                       "THEN ? ELSE revoked_at END WHERE host_id = ?",
                       Params().integer(now).text(host->host_id));
        !d) {
      return d.error();
    }
    return std::move(*host);
  });
}

// ---- nonces ----

StoreResult<bool> SqlStore::remember_nonce(std::string_view principal, std::string_view nonce,
                                           Seconds now, Seconds ttl) {
  return autocommit<bool>([&](Session& s) -> StoreResult<bool> {
    return remember_nonce_in(s, principal, nonce, now, ttl);
  });
}

StoreResult<bool> SqlStore::remember_nonce_in(Session& s, std::string_view principal,
                                              std::string_view nonce, Seconds now, Seconds ttl) {
  // Expired entries are removed by prune_batch, off the request path; the
  // upsert below treats one not yet removed as new.
  // One statement decides, even against another instance: a row is written
  // only if it is new or its old entry was forgotten.
  auto r = s.run("remember nonce",
                 "INSERT INTO nonces(principal, nonce, expires) VALUES(?, ?, ?) "
                 "ON CONFLICT (principal, nonce) DO UPDATE SET expires = excluded.expires "
                 "WHERE nonces.expires <= ?",
                 Params().text(principal).text(nonce).integer(now + ttl).integer(now));
  if (!r) return r.error();
  return r.value() == 1;
}

// The first and the last step of a change's transaction (ChangeRecords).
StoreResult<Done> SqlStore::record_nonce_in(Session& s, const ChangeRecords& records,
                                            Seconds now) {
  if (records.nonce_principal.empty()) return Done{};
  auto fresh =
      remember_nonce_in(s, records.nonce_principal, records.nonce, now, records.nonce_ttl);
  if (!fresh) return fresh.error();
  if (!fresh.value()) return StoreError{StoreErrc::replayed_nonce, "nonce already used"};
  return Done{};
}

StoreResult<Done> SqlStore::append_audit_in(Session& s, const AuditEvent& e) {
  // audit_after's settled point needs the transaction to show as in
  // progress before it takes a seq. A change that recorded a nonce has
  // written already; the callers of this overload have not.
  if (auto shown = s.show_in_progress(); !shown) return shown;
  return insert_audit_in(s, e);
}

StoreResult<Done> SqlStore::insert_audit_in(Session& s, const AuditEvent& e) {
  auto r = s.run("append audit",
                 "INSERT INTO audit(time, event, host, {user}, service, rhost, challenge_id, "
                 "device, result, ms) VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                 Params().integer(e.time).text(e.event).text(e.host).text(e.user)
                     .text(e.service).text(e.rhost).text(e.challenge_id).text(e.device)
                     .text(e.result).integer(e.ms));
  if (!r) return r.error();
  return Done{};
}

StoreResult<Done> SqlStore::append_audit_in(Session& s, const ChangeRecords& records) {
  if (records.audit.empty()) return Done{};
  // The nonce's row, written first in the same transaction, showed it.
  if (records.nonce_principal.empty()) {
    if (auto shown = s.show_in_progress(); !shown) return shown;
  }
  for (const auto& e : records.audit) {
    if (auto done = insert_audit_in(s, e); !done) return done;
  }
  return Done{};
}

// ---- pairings ----

StoreResult<Done> SqlStore::create_pairing(const PairingRecord& p) {
  return autocommit<Done>([&](Session& s) -> StoreResult<Done> {
    auto r = s.run("create pairing",
                   "INSERT INTO pairings(pairing_id, host_id, {user}, confirm_hash, created, "
                   "expires, status) VALUES(?, ?, ?, ?, ?, ?, 'open')",
                   Params().text(p.pairing_id).text(p.host_id).text(p.user)
                       .blob(p.confirm_hash).integer(p.created).integer(p.expires));
    if (!r) return r.error();
    return Done{};
  });
}

StoreResult<PairingRecord> SqlStore::find_pairing_in(Session& s, std::string_view pairing_id,
                                                     bool for_update) {
  static const std::string sql[2] = {
      select_from(kPairingColumns, "FROM pairings WHERE pairing_id = ?"),
      select_from(kPairingColumns, "FROM pairings WHERE pairing_id = ? {for_update}")};
  std::optional<PairingRecord> pairing;
  auto r = s.run("find pairing", sql[for_update ? 1 : 0], Params().text(pairing_id),
                 [&](const Row& row) { pairing = read_pairing(row); });
  if (!r) return r.error();
  if (!pairing) return StoreError{StoreErrc::not_found, "no such pairing"};
  return std::move(*pairing);
}

StoreResult<PairingRecord> SqlStore::find_pairing(std::string_view pairing_id) {
  return autocommit<PairingRecord>(
      [&](Session& s) { return find_pairing_in(s, pairing_id, false); });
}

StoreResult<PairingRecord> SqlStore::register_pairing(std::string_view pairing_id,
                                                      const PairingRegistration& reg,
                                                      Seconds now) {
  return transact<PairingRecord>([&](Session& s, Changes& changes) -> StoreResult<PairingRecord> {
    auto p = find_pairing_in(s, pairing_id, true);
    if (!p) return p.error();
    if (p->status != PairingStatus::open) {
      return StoreError{StoreErrc::already_registered, "pairing already has a device"};
    }
    if (now >= p->expires) return StoreError{StoreErrc::expired, "pairing expired"};
    auto u = s.run("register pairing",
                   "UPDATE pairings SET status = 'registered', reg_name = ?, "
                   "reg_credential_id = ?, reg_credential_pk = ?, reg_api_pk = ?, "
                   "reg_proof = ?, reg_api_key_id = ? WHERE pairing_id = ?",
                   Params().text(reg.name).blob(reg.credential_id)
                       .blob(reg.credential_public_key).blob(reg.api_public_key)
                       .blob(reg.proof).text(reg.api_key_id).text(pairing_id));
    if (!u) return u.error();
    p->status = PairingStatus::registered;
    p->registration = reg;
    changes.push_back({ChangeKind::pairing, p->pairing_id});
    return p;
  });
}

StoreResult<DeviceRecord> SqlStore::confirm_pairing(std::string_view pairing_id,
                                                    std::string_view device_id, Seconds now) {
  return transact<DeviceRecord>([&](Session& s, Changes& changes) -> StoreResult<DeviceRecord> {
    auto p = find_pairing_in(s, pairing_id, true);
    if (!p) return p.error();
    if (auto ready = confirmable(p.value(), now); !ready) return ready.error();
    if (auto l = s.lock_pair(p->host_id, p->user); !l) return l.error();
    const PairingRegistration& reg = *p->registration;
    auto active = active_device_in(s, p->host_id, p->user, reg.credential_id);
    if (!active) return active.error();
    // One phone pinned in a second secret file (sshd's and sudo's) keeps its
    // one record; the same credential under another key is refused.
    std::optional<DeviceRecord> kept = std::move(active.value());
    if (kept && (kept->api_key_id != reg.api_key_id ||
                 kept->credential_public_key != reg.credential_public_key)) {
      return StoreError{StoreErrc::duplicate, "this credential is already active for the user"};
    }
    auto d = kept ? StoreResult<DeviceRecord>(std::move(*kept))
                  : insert_device_in(s, p.value(), device_id, now);
    if (!d) return d;
    auto up = s.run("confirm pairing",
                    "UPDATE pairings SET status = 'confirmed', device_id = ? WHERE pairing_id = ?",
                    Params().text(d->device_id).text(pairing_id));
    if (!up) return up.error();
    changes.push_back({ChangeKind::pairing, p->pairing_id});
    return d;
  });
}

// ---- devices ----

StoreResult<bool> SqlStore::credential_active_in(Session& s, std::string_view host_id,
                                                 std::string_view user,
                                                 std::string_view credential_id) {
  auto r = s.run("find credential",
                 "SELECT 1 FROM devices WHERE host_id = ? AND {user} = ? AND credential_id = ? "
                 "AND revoked = {false}",
                 Params().text(host_id).text(user).blob(credential_id));
  if (!r) return r.error();
  return r.value() > 0;
}

StoreResult<std::optional<DeviceRecord>> SqlStore::active_device_in(
    Session& s, std::string_view host_id, std::string_view user, std::string_view credential_id) {
  static const std::string sql = select_from(
      kDeviceColumns,
      "FROM devices WHERE host_id = ? AND {user} = ? AND credential_id = ? AND revoked = {false}");
  std::optional<DeviceRecord> device;
  auto r = s.run("find active credential", sql,
                 Params().text(host_id).text(user).blob(credential_id),
                 [&](const Row& row) { device = read_device(row); });
  if (!r) return r.error();
  return device;
}

// The active device record a confirmed pairing makes.
StoreResult<DeviceRecord> SqlStore::insert_device_in(Session& s, const PairingRecord& pairing,
                                                     std::string_view device_id, Seconds now) {
  const PairingRegistration& reg = *pairing.registration;
  DeviceRecord d;
  d.device_id = std::string(device_id);
  d.host_id = pairing.host_id;
  d.user = pairing.user;
  d.name = reg.name;
  d.credential_id = reg.credential_id;
  d.credential_public_key = reg.credential_public_key;
  d.api_key_id = reg.api_key_id;
  d.api_public_key = reg.api_public_key;
  d.created = now;
  auto ins = s.run("insert device",
                   "INSERT INTO devices(device_id, host_id, {user}, name, credential_id, "
                   "credential_pk, api_key_id, api_pk, created) VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?)",
                   Params().text(d.device_id).text(d.host_id).text(d.user).text(d.name)
                       .blob(d.credential_id).blob(d.credential_public_key).text(d.api_key_id)
                       .blob(d.api_public_key).integer(d.created));
  if (!ins && ins.error().code == StoreErrc::duplicate) {
    return StoreError{StoreErrc::duplicate, "device id in use"};
  }
  if (!ins) return ins.error();
  return d;
}

StoreResult<DeviceRecord> SqlStore::find_device_in(Session& s, std::string_view device_id,
                                                   bool for_update) {
  static const std::string sql[2] = {
      select_from(kDeviceColumns, "FROM devices WHERE device_id = ?"),
      select_from(kDeviceColumns, "FROM devices WHERE device_id = ? {for_update}")};
  std::optional<DeviceRecord> device;
  auto r = s.run("find device", sql[for_update ? 1 : 0], Params().text(device_id),
                 [&](const Row& row) { device = read_device(row); });
  if (!r) return r.error();
  if (!device) return StoreError{StoreErrc::not_found, "no such device"};
  return std::move(*device);
}

StoreResult<std::vector<DeviceRecord>> SqlStore::list_devices(const DeviceFilter& filter) {
  static const std::string sql =
      select_from(kDeviceColumns,
                  "FROM devices WHERE (? = '' OR host_id = ?) AND (? = '' OR {user} = ?) "
                  "ORDER BY created, device_id");
  return autocommit<std::vector<DeviceRecord>>([&](Session& s) {
    return devices_of(s, "list devices", sql,
                      Params().text(filter.host_id).text(filter.host_id).text(filter.user)
                          .text(filter.user));
  });
}

StoreResult<DeviceRecord> SqlStore::find_device(std::string_view device_id) {
  return autocommit<DeviceRecord>(
      [&](Session& s) { return find_device_in(s, device_id, false); });
}

StoreResult<std::vector<DeviceRecord>> SqlStore::devices_by_api_key(std::string_view api_key_id) {
  static const std::string sql =
      select_from(kDeviceColumns, "FROM devices WHERE api_key_id = ? ORDER BY created, device_id");
  return autocommit<std::vector<DeviceRecord>>([&](Session& s) {
    return devices_of(s, "devices by key", sql, Params().text(api_key_id));
  });
}

StoreResult<DeviceRecord> SqlStore::revoke_device(std::string_view device_id, Seconds now) {
  return transact<DeviceRecord>([&](Session& s, Changes&) -> StoreResult<DeviceRecord> {
    auto d = find_device_in(s, device_id, true);
    if (!d) return d;
    if (d->revoked) return d;  // its revocation time stays the first one
    auto u = s.run("revoke device",
                   "UPDATE devices SET revoked = {true}, revoked_at = ? WHERE device_id = ?",
                   Params().integer(now).text(device_id));
    if (!u) return u.error();
    d->revoked = true;
    return d;
  });
}

StoreResult<DeviceRecord> SqlStore::rename_device(std::string_view device_id,
                                                  std::string_view name) {
  return transact<DeviceRecord>([&](Session& s, Changes&) -> StoreResult<DeviceRecord> {
    auto d = find_device_in(s, device_id, true);
    if (!d) return d;
    auto u = s.run("rename device", "UPDATE devices SET name = ? WHERE device_id = ?",
                   Params().text(name).text(device_id));
    if (!u) return u.error();
    d->name = std::string(name);
    return d;
  });
}

// ---- audit ----

StoreResult<Done> SqlStore::append_audit(const AuditEvent& e) {
  // A transaction: show_in_progress must hold until the insert commits.
  return transact<Done>([&](Session& s, Changes&) { return append_audit_in(s, e); });
}

namespace {

constexpr std::string_view kAuditColumns =
    "seq, time, event, host, {user}, service, rhost, challenge_id, device, result, ms";

AuditEvent read_audit(const Row& row) {
  return AuditEvent{row.integer(0), row.integer(1), row.text(2), row.text(3),
                    row.text(4),    row.text(5),    row.text(6), row.text(7),
                    row.text(8),    row.text(9),    row.integer(10)};
}

}  // namespace

StoreResult<std::vector<AuditEvent>> SqlStore::list_audit(std::string_view user, int limit) {
  static const std::string sql = select_from(
      kAuditColumns, "FROM audit WHERE (? = '' OR {user} = ?) ORDER BY seq DESC LIMIT ?");
  return autocommit<std::vector<AuditEvent>>(
      [&](Session& s) -> StoreResult<std::vector<AuditEvent>> {
        std::vector<AuditEvent> out;
        auto r = s.run("list audit", sql, Params().text(user).text(user).integer(limit),
                       [&](const Row& row) { out.push_back(read_audit(row)); });
        if (!r) return r.error();
        return out;
      });
}

StoreResult<std::vector<AuditEvent>> SqlStore::audit_after(std::int64_t after, int limit) {
  static const std::string sql = select_from(
      kAuditColumns, "FROM audit WHERE seq > ? AND seq <= ? ORDER BY seq LIMIT ?");
  return autocommit<std::vector<AuditEvent>>(
      [&](Session& s) -> StoreResult<std::vector<AuditEvent>> {
        auto settled = s.settled_audit_seq();
        if (!settled) return settled.error();
        std::vector<AuditEvent> out;
        if (settled.value() <= after) return out;
        auto r = s.run("export audit", sql,
                       Params().integer(after).integer(settled.value()).integer(limit),
                       [&](const Row& row) { out.push_back(read_audit(row)); });
        if (!r) return r.error();
        return out;
      });
}

// ---- Web Push ----

StoreResult<std::string> SqlStore::read_setting_in(Session& s, std::string_view name) {
  std::optional<std::string> value;
  auto r = s.run("get setting", "SELECT value FROM settings WHERE name = ?", Params().text(name),
                 [&](const Row& row) { value = row.text(0); });
  if (!r) return r.error();
  if (!value) return StoreError{StoreErrc::not_found, "no such setting"};
  return std::move(*value);
}

StoreResult<std::string> SqlStore::put_setting_if_absent(std::string_view name,
                                                         std::string_view value) {
  return autocommit<std::string>([&](Session& s) -> StoreResult<std::string> {
    // Two statements, each committed on its own: an instance that loses the
    // race waits in the INSERT for the winner's commit, and then its SELECT
    // sees the winner's row.
    if (auto r = s.run("put setting",
                       "INSERT INTO settings(name, value) VALUES(?, ?) "
                       "ON CONFLICT (name) DO NOTHING",
                       Params().text(name).blob(value));
        !r) {
      return r.error();
    }
    return read_setting_in(s, name);
  });
}

StoreResult<std::string> SqlStore::get_setting(std::string_view name) {
  return autocommit<std::string>([&](Session& s) { return read_setting_in(s, name); });
}

StoreResult<Done> SqlStore::put_push_subscription(const PushSubscription& sub) {
  return autocommit<Done>([&](Session& s) -> StoreResult<Done> {
    // Replaces by endpoint, every column.
    auto r = s.run("put push subscription",
                   "INSERT INTO push_subscriptions(endpoint, api_key_id, p256dh, auth, created) "
                   "VALUES(?, ?, ?, ?, ?) ON CONFLICT (endpoint) DO UPDATE SET "
                   "api_key_id = excluded.api_key_id, p256dh = excluded.p256dh, "
                   "auth = excluded.auth, created = excluded.created",
                   Params().text(sub.endpoint).text(sub.api_key_id).blob(sub.p256dh)
                       .blob(sub.auth).integer(sub.created));
    if (!r) return r.error();
    return Done{};
  });
}

StoreResult<std::vector<PushSubscription>> SqlStore::push_subscriptions(
    std::string_view api_key_id) {
  return autocommit<std::vector<PushSubscription>>(
      [&](Session& s) -> StoreResult<std::vector<PushSubscription>> {
        std::vector<PushSubscription> out;
        auto r = s.run("list push subscriptions",
                       "SELECT api_key_id, endpoint, p256dh, auth, created FROM push_subscriptions "
                       "WHERE api_key_id = ? ORDER BY created, endpoint",
                       Params().text(api_key_id), [&](const Row& row) {
                         out.push_back(PushSubscription{row.text(0), row.text(1), row.text(2),
                                                        row.text(3), row.integer(4)});
                       });
        if (!r) return r.error();
        return out;
      });
}

StoreResult<std::int64_t> SqlStore::delete_push_subscription(std::string_view endpoint) {
  return autocommit<std::int64_t>([&](Session& s) {
    return s.run("delete push subscription", "DELETE FROM push_subscriptions WHERE endpoint = ?",
                 Params().text(endpoint));
  });
}

StoreResult<std::int64_t> SqlStore::delete_push_subscriptions(std::string_view api_key_id) {
  return autocommit<std::int64_t>([&](Session& s) {
    return s.run("delete push subscriptions",
                 "DELETE FROM push_subscriptions WHERE api_key_id = ?", Params().text(api_key_id));
  });
}

}  // namespace twostep::relay::sql
