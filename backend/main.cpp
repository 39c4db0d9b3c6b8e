// twostepd: the self-hosted push relay. One binary: `serve` and the admin
// subcommands (twostepd(8)).
#include <sys/stat.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <iostream>
#include <limits>
#include <memory>
#include <mutex>
#include <vector>

#include "admin.hpp"
#include "config.hpp"
#include "log_json.hpp"
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

// log_format = json: audit lines come as objects already (log_json.hpp);
// every other line is wrapped in one.
void log_json_line(const std::string& line) {
  if (line.starts_with("{")) return log_line(line);
  log_line(json_log_line(line, std::time(nullptr)));
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

// What the command line chose, filled by CLI11 while it parses.
struct CommandLine {
  std::string config_path;
  std::string db;
  std::string listen;
  std::string host_name;
  std::string host_ref;
  std::string filter_host, filter_user;
  std::string device_id;
  std::string audit_user;
  bool audit_json = false;
  int audit_limit = 1000;
  std::int64_t audit_since = -1;  // -1: not given
  std::string unblock_host, unblock_user;
  // The subcommands, to see which one was parsed.
  CLI::App* serve = nullptr;
  CLI::App* host_add = nullptr;
  CLI::App* host_list = nullptr;
  CLI::App* host_remove = nullptr;
  CLI::App* device_list = nullptr;
  CLI::App* device_revoke = nullptr;
  CLI::App* audit = nullptr;
  CLI::App* unblock = nullptr;
  CLI::App* vapid_show = nullptr;
};

// A positional that takes an id. Ids made before issue 18 may begin with '-',
// which CLI11 2.1 reads as an option: the subcommand keeps such a word as an
// extra, and adopt_leading_dash() takes it as the id. `-- ID` works as well.
// Help is --help only here, or an id such as "-hX..." would print the help.
void add_id_positional(CLI::App* cmd, const std::string& name, std::string& into,
                       const std::string& help) {
  cmd->add_option(name, into, help);
  cmd->allow_extras();
  cmd->set_help_flag("--help", "Print this help message and exit");
}

void define_host_commands(CLI::App& app, CommandLine& cl) {
  auto* host = app.add_subcommand("host", "manage hosts")->require_subcommand(1);
  cl.host_add = host->add_subcommand("add", "add a host and print its push configuration");
  cl.host_add->add_option("NAME", cl.host_name, "the host's name, shown on the phone")->required();
  cl.host_list = host->add_subcommand("list", "list hosts");
  cl.host_remove = host->add_subcommand("remove", "remove a host and revoke its devices");
  add_id_positional(cl.host_remove, "HOST", cl.host_ref, "host name or id");
}

void define_device_commands(CLI::App& app, CommandLine& cl) {
  auto* device = app.add_subcommand("device", "manage devices")->require_subcommand(1);
  cl.device_list = device->add_subcommand("list", "list devices");
  cl.device_list->add_option("--host", cl.filter_host, "only this host (name or id)");
  cl.device_list->add_option("--user", cl.filter_user, "only this user");
  cl.device_revoke = device->add_subcommand("revoke", "revoke a device");
  add_id_positional(cl.device_revoke, "ID", cl.device_id, "device id");
}

void define_commands(CLI::App& app, CommandLine& cl) {
  app.require_subcommand(1);
  app.add_option("-c,--config", cl.config_path, "configuration file (default " +
                                                    std::string(kDefaultConfig) + " if present)");
  app.add_option("--db", cl.db, "database: a SQLite path or a postgresql:// URL (overrides the config)");
  cl.serve = app.add_subcommand("serve", "serve the push API");
  cl.serve->add_option("--listen", cl.listen, "address:port to listen on (overrides the config)");
  define_host_commands(app, cl);
  define_device_commands(app, cl);
  cl.audit = app.add_subcommand("audit", "show the audit log, oldest first");
  cl.audit->add_option("--user", cl.audit_user, "only this user");
  cl.audit->add_flag("--json", cl.audit_json, "one JSON object per line");
  cl.audit->add_option("--limit", cl.audit_limit,
                       "the newest N entries (default 1000); with --since, at most N")
      ->check(CLI::Range(1, 1000000));
  cl.audit->add_option("--since", cl.audit_since,
                       "every event after this seq, oldest first (0: from the oldest kept); "
                       "resume with the last seq seen")
      ->check(CLI::Range(std::int64_t{0}, std::numeric_limits<std::int64_t>::max()));
  cl.unblock = app.add_subcommand("unblock", "clear a push block and denial cooldown");
  cl.unblock->add_option("--host", cl.unblock_host, "host name or id")->required();
  cl.unblock->add_option("--user", cl.unblock_user, "user")->required();
  auto* vapid = app.add_subcommand("vapid", "Web Push keys")->require_subcommand(1);
  cl.vapid_show = vapid->add_subcommand("show", "print the VAPID public key");
}

// The id of a parsed add_id_positional() subcommand: the one word CLI11 left
// over when it begins with '-'. Throws what a required positional would.
void adopt_leading_dash(CLI::App* cmd, const std::string& name, std::string& id) {
  if (!cmd->parsed()) return;
  std::vector<std::string> extras;
  for (auto& word : cmd->remaining()) {
    if (word != "--") extras.push_back(std::move(word));  // CLI11 keeps the "--" it honoured
  }
  if (id.empty() && extras.size() == 1) {
    id = extras.front();
    extras.clear();
  }
  if (!extras.empty()) throw CLI::ExtrasError(extras);
  if (id.empty()) throw CLI::RequiredError(name);
}

// The store named by the config file and the command line, or an exit code.
int open_configured_store(const CommandLine& cl, RelayConfig& config, std::unique_ptr<Store>& store) {
  const bool explicit_config = !cl.config_path.empty();
  auto loaded = load_config(explicit_config ? cl.config_path : kDefaultConfig, !explicit_config);
  if (!loaded) {
    std::cerr << "twostepd: " << loaded.error().message << "\n";
    return 2;
  }
  config = std::move(loaded.value());
  if (!cl.listen.empty()) config.listen = cl.listen;
  if (!cl.db.empty()) config.database = cl.db;
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
  store = std::move(opened.value());
  return 0;
}

int run_command(const CommandLine& cl, const RelayConfig& config, Store& store) {
  if (cl.serve->parsed()) {
    return run_server(config, store, config.log_json ? log_json_line : log_line);
  }
  if (cl.host_add->parsed()) return host_add(store, config, cl.host_name);
  if (cl.host_list->parsed()) return host_list(store);
  if (cl.host_remove->parsed()) return host_remove(store, cl.host_ref);
  if (cl.device_list->parsed()) return device_list(store, cl.filter_host, cl.filter_user);
  if (cl.device_revoke->parsed()) return device_revoke(store, cl.device_id);
  if (cl.audit->parsed() && cl.audit_since >= 0) {
    const bool limited = cl.audit->count("--limit") > 0;
    return audit_export(store, cl.audit_user, cl.audit_json, cl.audit_since,
                        limited ? cl.audit_limit : -1);
  }
  if (cl.audit->parsed()) return audit_show(store, cl.audit_user, cl.audit_json, cl.audit_limit);
  if (cl.unblock->parsed()) return unblock(store, cl.unblock_host, cl.unblock_user);
  if (cl.vapid_show->parsed()) return vapid_show(store);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  ::umask(077);  // the database holds host secrets
  CLI::App app{"twostepd: the twostep push relay (see twostepd(8))"};
  CommandLine cl;
  define_commands(app, cl);
  try {
    app.parse(argc, argv);
    adopt_leading_dash(cl.host_remove, "HOST", cl.host_ref);
    adopt_leading_dash(cl.device_revoke, "ID", cl.device_id);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  RelayConfig config;
  std::unique_ptr<Store> store;
  if (const int failed = open_configured_store(cl, config, store); failed != 0) return failed;
  return run_command(cl, config, *store);
}
