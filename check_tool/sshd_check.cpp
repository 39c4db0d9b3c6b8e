// The sshd part: effective settings from `sshd -T` against the PAM stack.
#include <sstream>

#include "checks.hpp"
#include "command.hpp"

namespace twostep::check {
namespace {

constexpr const char* kDropIn = "/etc/ssh/sshd_config.d/10-twostep.conf";

std::string drop_in_fix(const std::string& line) {
  return "put `" + line + "` in " + kDropIn +
         " (sshd keeps the first value it reads; Debian includes sshd_config.d/*.conf at the "
         "top of sshd_config), then sshd -t && systemctl reload ssh";
}

std::string setting(const std::vector<std::pair<std::string, std::string>>& settings,
                    const std::string& key) {
  for (const auto& [name, value] : settings) {
    if (name == key) return value;
  }
  return {};
}

std::vector<std::string> split(const std::string& text, char separator) {
  std::vector<std::string> parts;
  std::string part;
  std::istringstream in(text);
  while (std::getline(in, part, separator)) {
    if (!part.empty()) parts.push_back(part);
  }
  return parts;
}

bool is_kbdint(const std::string& method) { return method.starts_with("keyboard-interactive"); }

// Each space-separated list of AuthenticationMethods is one way in.
void check_methods(const std::string& methods, const StackFacts& facts, bool pubkey_on,
                   Report& report) {
  const std::string fix_key = "AuthenticationMethods publickey,keyboard-interactive";
  const std::string fix_both = facts.has_first_factor ? "AuthenticationMethods keyboard-interactive"
                                                      : fix_key;
  if (methods.empty() || methods == "any") {
    if (pubkey_on) {
      report.problem("sshd: AuthenticationMethods any: a key alone logs in, without a code",
                     drop_in_fix(fix_both));
    }
    if (!facts.has_first_factor) {
      report.problem("sshd: keyboard-interactive alone is enough and the PAM stack asks no "
                     "password: the code is the only factor (with nullok: nothing at all)",
                     drop_in_fix(fix_key));
    }
    if (!pubkey_on && facts.has_first_factor) {
      report.ok("sshd: AuthenticationMethods any, keys off: every way in runs the PAM stack");
    }
    return;
  }
  bool all_fine = true;
  for (const auto& list : split(methods, ' ')) {
    const auto steps = split(list, ',');
    bool kbdint = false, key = false;
    for (const auto& step : steps) {
      kbdint = kbdint || is_kbdint(step);
      key = key || step == "publickey";
    }
    if (!kbdint) {
      all_fine = false;
      report.problem("sshd: AuthenticationMethods " + list +
                         " logs in without keyboard-interactive, so without a code",
                     drop_in_fix(fix_both));
    } else if (!key && !facts.has_first_factor && steps.size() == 1) {
      all_fine = false;
      report.problem("sshd: AuthenticationMethods " + list + " and a PAM stack without a "
                         "password: the code is the only factor (with nullok: nothing at all)",
                     drop_in_fix(fix_key) + ", or keep @include common-auth in the PAM stack");
    } else if (key && facts.has_first_factor) {
      report.note("sshd: " + list + " with a password module in PAM: key, password and code "
                  "are all asked");
    }
  }
  if (all_fine) report.ok("sshd: AuthenticationMethods " + methods + " (every way in asks the code)");
}

}  // namespace

std::vector<std::pair<std::string, std::string>> parse_sshd_settings(const std::string& text) {
  std::vector<std::pair<std::string, std::string>> settings;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    const auto space = line.find(' ');
    if (space == std::string::npos) continue;
    settings.emplace_back(line.substr(0, space), line.substr(space + 1));
  }
  return settings;
}

void check_sshd(const CheckOptions& options, const StackFacts& facts, Report& report) {
  report.section("sshd (" + options.sshd + " -T" +
                 (options.sshd_config ? " -f " + *options.sshd_config : std::string()) + ")");
  std::vector<std::string> argv{options.sshd, "-T"};
  if (options.sshd_config) {
    argv.push_back("-f");
    argv.push_back(*options.sshd_config);
  }
  const auto result = run_command(argv);
  if (!result) {
    report.warning("cannot run " + options.sshd + ": sshd not checked",
                   "install openssh-server, or --no-sshd");
    return;
  }
  if (result->exit_status != 0) {
    std::string message = result->err.substr(0, 400);
    while (!message.empty() && message.back() == '\n') message.pop_back();
    if (message.find("privilege separation directory") != std::string::npos) {
      report.warning("sshd settings not checked: " + message + " (sshd is not running?)",
                     "systemctl start ssh, then run twostep-check again");
      return;
    }
    report.problem("sshd -T fails, so sshd would not start or reload: " + message,
                   message.find("Disabled method") != std::string::npos
                       ? drop_in_fix("KbdInteractiveAuthentication yes")
                       : "fix the configuration until sshd -t passes");
    return;
  }
  const auto settings = parse_sshd_settings(result->out);
  if (setting(settings, "usepam") != "yes") {
    report.problem("sshd: UsePAM no: sshd never runs the PAM stack, so no code is asked",
                   drop_in_fix("UsePAM yes"));
  } else {
    report.ok("sshd: UsePAM yes");
  }
  if (setting(settings, "kbdinteractiveauthentication") != "yes") {
    report.problem("sshd: KbdInteractiveAuthentication no: the code prompt cannot reach ssh "
                   "clients",
                   drop_in_fix("KbdInteractiveAuthentication yes"));
  } else {
    report.ok("sshd: KbdInteractiveAuthentication yes");
  }
  check_methods(setting(settings, "authenticationmethods"), facts,
                setting(settings, "pubkeyauthentication") == "yes", report);
}

}  // namespace twostep::check
