// twostepd: the self-hosted push relay. One binary: `serve` and the admin
// subcommands (twostepd(8)).
#include <sys/stat.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <cstring>
#include <iostream>
#include <mutex>

#include "admin.hpp"
#include "config.hpp"
#include "server.hpp"
#include "store.hpp"
#include "store_pg.hpp"

namespace {

using namespace twostep::relay;

constexpr const char* kDefaultConfig = "/etc/twostep/twostepd.conf";

void log_line(const std::string& line) {
  static std::mutex mu;
  std::lock_guard lock(mu);
  std::cerr << line << std::endl;  // one flushed line each (journald)
}

// The SQLite file's directory, made if missing (root-only).
bool ensure_parent(const std::string& location) {
  if (location.rfind("postgres", 0) == 0) return true;
  const auto slash = location.rfind('/');
  if (slash == std::string::npos || slash == 0) return true;
  const std::string dir = location.substr(0, slash);
  if (::mkdir(dir.c_str(), 0700) == 0 || errno == EEXIST) return true;
  std::cerr << "twostepd: cannot create " << dir << ": " << std::strerror(errno) << "\n";
  return false;
}

}  // namespace

int main(int argc, char** argv) {
  ::umask(077);  // the database holds host secrets
  CLI::App app{"twostepd: the twostep push relay (see twostepd(8))"};
  app.require_subcommand(1);
  std::string config_path;
  std::string db;
  app.add_option("-c,--config", config_path, "configuration file (default " +
                                                 std::string(kDefaultConfig) + " if present)");
  app.add_option("--db", db, "database: a SQLite path or a postgresql:// URL (overrides the config)");

  auto* serve = app.add_subcommand("serve", "serve the push API");
  std::string listen;
  serve->add_option("--listen", listen, "address:port to listen on (overrides the config)");

  auto* host = app.add_subcommand("host", "manage hosts")->require_subcommand(1);
  auto* host_add_cmd = host->add_subcommand("add", "add a host and print its push configuration");
  std::string host_name;
  host_add_cmd->add_option("NAME", host_name, "the host's name, shown on the phone")->required();
  auto* host_list_cmd = host->add_subcommand("list", "list hosts");
  auto* host_remove_cmd = host->add_subcommand("remove", "remove a host and revoke its devices");
  std::string host_ref;
  host_remove_cmd->add_option("HOST", host_ref, "host name or id")->required();

  auto* device = app.add_subcommand("device", "manage devices")->require_subcommand(1);
  auto* device_list_cmd = device->add_subcommand("list", "list devices");
  std::string filter_host, filter_user;
  device_list_cmd->add_option("--host", filter_host, "only this host (name or id)");
  device_list_cmd->add_option("--user", filter_user, "only this user");
  auto* device_revoke_cmd = device->add_subcommand("revoke", "revoke a device");
  std::string device_id;
  device_revoke_cmd->add_option("ID", device_id, "device id")->required();

  auto* audit = app.add_subcommand("audit", "show the audit log, oldest first");
  std::string audit_user;
  bool audit_json = false;
  int audit_limit = 1000;
  audit->add_option("--user", audit_user, "only this user");
  audit->add_flag("--json", audit_json, "one JSON object per line");
  audit->add_option("--limit", audit_limit, "the newest N entries (default 1000)")
      ->check(CLI::Range(1, 1000000));

  auto* unblock_cmd = app.add_subcommand("unblock", "clear a push block and denial cooldown");
  std::string unblock_host, unblock_user;
  unblock_cmd->add_option("--host", unblock_host, "host name or id")->required();
  unblock_cmd->add_option("--user", unblock_user, "user")->required();

  auto* vapid = app.add_subcommand("vapid", "Web Push keys")->require_subcommand(1);
  auto* vapid_show_cmd = vapid->add_subcommand("show", "print the VAPID public key");

  CLI11_PARSE(app, argc, argv);

  const bool explicit_config = !config_path.empty();
  auto loaded = load_config(explicit_config ? config_path : kDefaultConfig, !explicit_config);
  if (!loaded) {
    std::cerr << "twostepd: " << loaded.error().message << "\n";
    return 2;
  }
  RelayConfig config = std::move(loaded.value());
  if (!listen.empty()) config.listen = listen;
  if (!db.empty()) config.database = db;
  if (auto done = finish_config(config); !done) {
    std::cerr << "twostepd: " << done.error().message << "\n";
    return 2;
  }
  if (!ensure_parent(config.database)) return 1;
  auto opened = open_store(config.database);
  if (!opened) {
    std::cerr << "twostepd: " << printable_location(config.database) << ": "
              << opened.error().message << "\n";
    return 1;
  }
  Store& store = *opened.value();

  if (serve->parsed()) return run_server(config, store, log_line);
  if (host_add_cmd->parsed()) return host_add(store, config, host_name);
  if (host_list_cmd->parsed()) return host_list(store);
  if (host_remove_cmd->parsed()) return host_remove(store, host_ref);
  if (device_list_cmd->parsed()) return device_list(store, filter_host, filter_user);
  if (device_revoke_cmd->parsed()) return device_revoke(store, device_id);
  if (audit->parsed()) return audit_show(store, audit_user, audit_json, audit_limit);
  if (unblock_cmd->parsed()) return unblock(store, unblock_host, unblock_user);
  if (vapid_show_cmd->parsed()) return vapid_show(store);
  return 2;
}
