#include "admin.hpp"

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <iostream>
#include <nlohmann/json.hpp>

#include "log_field.hpp"
#include "log_json.hpp"
#include "push_sender.hpp"
#include "relay_crypto.hpp"

namespace twostep::relay {
namespace {

// Where a host keeps its push settings and its secret (twostep-push.conf(5)).
constexpr const char* kHostPushConf = "/etc/twostep/push.conf";
constexpr const char* kHostSecretFile = "/etc/twostep/push.secret";

Seconds now() { return static_cast<Seconds>(std::time(nullptr)); }

std::string iso_time(Seconds t) {
  if (t == 0) return "-";
  const std::time_t tt = static_cast<std::time_t>(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

int fail(const StoreError& e) {
  std::cerr << "twostepd: " << e.message << "\n";
  return 1;
}

bool valid_host_name(const std::string& name) {
  if (name.empty() || name.size() > 64) return false;
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '-' || c == '_';
    if (!ok) return false;
  }
  return true;
}

// A host given by name or id.
StoreResult<HostRecord> resolve_host(Store& store, const std::string& name_or_id) {
  auto hosts = store.list_hosts();
  if (!hosts) return hosts.error();
  for (auto& h : *hosts) {
    if (h.name == name_or_id || h.host_id == name_or_id) return h;
  }
  return StoreError{StoreErrc::not_found, "no host named '" + name_or_id + "'"};
}

void audit_admin(Store& store, const char* event, const std::string& host,
                 const std::string& user, const std::string& device, const char* result) {
  AuditEvent e;
  e.time = now();
  e.event = event;
  e.host = host;
  e.user = user;
  e.device = device;
  e.result = result;
  if (auto r = store.append_audit(e); !r) std::cerr << "twostepd: audit: " << r.error().message << "\n";
}

// The host's two files as twostep-push.conf(5) defines them, each under a
// comment naming its path, owner and mode: push.conf holds only public
// settings (users read it), the secret has a root-only file of its own.
void print_host_files(const RelayConfig& config, const std::string& name,
                      const std::string& host_id, const std::string& secret_b64u) {
  std::cout << "# twostep push configuration for host '" << name << "': write these two\n"
            << "# files on the host (twostep-push.conf(5)). The secret is shown only now:\n"
            << "# clear this terminal afterwards.\n"
            << "\n"
            << "# " << kHostPushConf << " (owner root, mode 0644: users read it)\n"
            << "relay = " << config.public_url << "\n"
            << "host_id = " << host_id << "\n"
            << "host_name = " << name << "\n"
            << "approver_origin = " << config.approver_origin << "\n"
            << "host_secret_file = " << kHostSecretFile << "\n"
            << "\n"
            << "# " << kHostSecretFile << " (owner root, mode 0600: only the module reads it)\n"
            << "host_secret = " << secret_b64u << "\n";
}

}  // namespace

int host_add(Store& store, const RelayConfig& config, const std::string& name) {
  if (!valid_host_name(name)) {
    std::cerr << "twostepd: a host name is 1-64 characters of A-Z a-z 0-9 . - _\n";
    return 2;
  }
  std::string secret = crypto::random_bytes(32);
  HostRecord host{crypto::random_id(), name, secret, now(), false};
  auto added = store.add_host(host);
  if (!added) return fail(added.error());
  audit_admin(store, "host_added", name, "", "", "added");
  std::string shown = crypto::b64u_encode(secret);
  print_host_files(config, name, host.host_id, shown);
  std::fill(shown.begin(), shown.end(), '\0');
  std::fill(secret.begin(), secret.end(), '\0');
  std::fill(host.secret.begin(), host.secret.end(), '\0');
  return 0;
}

int host_list(Store& store) {
  auto hosts = store.list_hosts();
  if (!hosts) return fail(hosts.error());
  std::printf("%-24s %-32s %s\n", "HOST ID", "NAME", "ADDED");
  for (const auto& h : *hosts) {
    std::printf("%-24s %-32s %s\n", log_value(h.host_id).c_str(), log_value(h.name).c_str(),
                iso_time(h.created).c_str());
  }
  return 0;
}

int host_remove(Store& store, const std::string& id_or_name) {
  auto removed = store.remove_host(id_or_name, now());
  if (!removed) return fail(removed.error());
  audit_admin(store, "host_removed", removed->name, "", "", "removed");
  std::cout << "removed host '" << removed->name << "' (" << removed->host_id
            << "); its devices are revoked\n";
  return 0;
}

int device_list(Store& store, const std::string& host, const std::string& user) {
  DeviceFilter filter;
  if (!host.empty()) {
    auto h = resolve_host(store, host);
    if (!h) return fail(h.error());
    filter.host_id = h->host_id;
  }
  filter.user = user;
  auto devices = store.list_devices(filter);
  if (!devices) return fail(devices.error());
  auto hosts = store.list_hosts();
  auto host_name = [&](const std::string& id) -> std::string {
    if (hosts) {
      for (const auto& h : *hosts) {
        if (h.host_id == id) return h.name;
      }
    }
    return "(removed)";
  };
  std::printf("%-24s %-16s %-16s %-20s %-8s %-20s %s\n", "DEVICE ID", "HOST", "USER", "NAME",
              "STATE", "ADDED", "LAST USED");
  for (const auto& d : *devices) {
    // Names and users come from phones and pairings: escaped (log_field.hpp).
    std::printf("%-24s %-16s %-16s %-20s %-8s %-20s %s\n", log_value(d.device_id).c_str(),
                log_value(host_name(d.host_id)).c_str(), log_value(d.user).c_str(),
                log_value(d.name).c_str(),
                d.revoked ? "revoked" : "active", iso_time(d.created).c_str(),
                iso_time(d.last_used).c_str());
  }
  return 0;
}

int device_revoke(Store& store, const std::string& device_id) {
  auto d = store.revoke_device(device_id, now());
  if (!d) return fail(d.error());
  auto host = store.find_host(d->host_id);
  audit_admin(store, "device_revoked", host ? host->name : "", d->user, d->name, "revoked");
  std::cout << "revoked device " << d->device_id << " (name=" << log_value(d->name)
            << " user=" << log_value(d->user) << ")\n";
  return 0;
}

namespace {

// Text: one line per event, every stored field through log_value, so a
// user or device name cannot forge a field or a line. JSON: one object per
// line, non-ASCII as \u escapes (no bidi or escape sequence reaches the
// terminal), invalid UTF-8 replaced.
void print_audit_text(const AuditEvent& e) {
  std::cout << iso_time(e.time) << " " << log_value(e.event) << " host=" << log_value(e.host)
            << " user=" << log_value(e.user) << " service=" << log_value(e.service)
            << " rhost=" << log_value(e.rhost) << " challenge=" << log_value(e.challenge_id)
            << " device=" << log_value(e.device) << " result=" << log_value(e.result)
            << " ms=" << (e.ms >= 0 ? std::to_string(e.ms) : "-") << "\n";
}

void print_audit_json(const AuditEvent& e) {
  nlohmann::json j = audit_object(e);
  j["seq"] = e.seq;
  std::cout << json_line(j) << "\n";
}

}  // namespace

int audit_show(Store& store, const std::string& user, bool json, int limit) {
  auto events = store.list_audit(user, limit);
  if (!events) return fail(events.error());
  for (auto it = events->rbegin(); it != events->rend(); ++it) {  // oldest first
    if (json) print_audit_json(*it);
    else print_audit_text(*it);
  }
  return 0;
}

int audit_export(Store& store, const std::string& user, bool json, std::int64_t since,
                 std::int64_t limit) {
  constexpr int kPage = 1000;
  std::int64_t printed = 0;
  for (;;) {
    const std::int64_t left = limit < 0 ? kPage : std::min<std::int64_t>(kPage, limit - printed);
    if (left <= 0) break;
    auto events = store.audit_after(since, static_cast<int>(left));
    if (!events) return fail(events.error());
    for (const auto& e : *events) {
      since = e.seq;
      if (!user.empty() && e.user != user) continue;
      if (json) print_audit_json(e);
      else print_audit_text(e);
      ++printed;
    }
    if (static_cast<std::int64_t>(events->size()) < left) break;  // caught up
  }
  std::cout.flush();
  return std::cout ? 0 : 1;
}

int unblock(Store& store, const std::string& host, const std::string& user) {
  auto h = resolve_host(store, host);
  if (!h) return fail(h.error());
  auto was = store.unblock(h->host_id, user);
  if (!was) return fail(was.error());
  audit_admin(store, "push_unblocked", h->name, user, "", was.value() ? "cleared" : "none");
  std::cout << (was.value() ? "push unblocked for " : "push was not blocked for ") << user
            << " on " << h->name << "\n";
  return 0;
}

int vapid_show(Store& store) {
  auto keys = load_or_make_vapid_keys(store);
  if (!keys) {
    std::cerr << "twostepd: cannot read or make the VAPID keys: " << keys.error().message << "\n";
    return 1;
  }
  // The public key only (what browsers call applicationServerKey).
  std::cout << crypto::b64u_encode(keys->public_point) << "\n";
  return 0;
}

}  // namespace twostep::relay
