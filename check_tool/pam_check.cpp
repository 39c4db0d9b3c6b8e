// The PAM part: the service's auth stack, each pam_twostep line's arguments
// (validated by the module's own parser) and stacks that cannot work.
#include <sys/stat.h>

#include <array>
#include <string_view>

#include "checks.hpp"

namespace twostep::check {
namespace {

constexpr std::string_view kModule = "pam_twostep.so";

// Auth modules that are no first factor: they neither ask for nor check a
// password, key or token of their own.
constexpr std::array<std::string_view, 27> kNotAFactor{
    "pam_twostep.so",  "pam_permit.so",   "pam_deny.so",      "pam_env.so",
    "pam_faildelay.so", "pam_faillock.so", "pam_nologin.so",  "pam_securetty.so",
    "pam_succeed_if.so", "pam_group.so",  "pam_cap.so",       "pam_shells.so",
    "pam_listfile.so", "pam_time.so",     "pam_access.so",    "pam_echo.so",
    "pam_warn.so",     "pam_motd.so",     "pam_mail.so",      "pam_lastlog.so",
    "pam_keyinit.so",  "pam_loginuid.so", "pam_limits.so",    "pam_selinux.so",
    "pam_systemd.so",  "pam_rootok.so",   "pam_google_authenticator.so"};

// Modules that never make an auth stack succeed for an ordinary user.
constexpr std::array<std::string_view, 9> kNeverSucceeds{
    "pam_twostep.so", "pam_deny.so",    "pam_env.so",    "pam_warn.so",  "pam_echo.so",
    "pam_faildelay.so", "pam_nologin.so", "pam_rootok.so", "pam_securetty.so"};

template <std::size_t N>
bool listed(const std::array<std::string_view, N>& names, const std::string& module) {
  const std::string base = module_basename(module);
  for (const auto name : names) {
    if (base == name) return true;
  }
  return false;
}

bool is_twostep(const PamLine& line) { return module_basename(line.module) == kModule; }

std::string describe(const PamLine& line) {
  std::string text = line.origin + ": auth " + line.control + " " + line.module;
  for (const auto& arg : line.args) {
    text += " " + (arg.find(' ') != std::string::npos ? "[" + arg + "]" : arg);
  }
  return text;
}

std::string module_path(const CheckOptions& options, const std::string& module) {
  return !module.empty() && module.front() == '/' ? module : options.module_dir + "/" + module;
}

void check_module_file(const CheckOptions& options, const PamLine& line, Report& report) {
  const std::string path = module_path(options, line.module);
  struct stat info {};
  if (::stat(path.c_str(), &info) == 0 && S_ISREG(info.st_mode)) return;
  report.problem(line.origin + ": " + path + " does not exist: " +
                     (line.optional_module ? "libpam skips the line, so no code is asked"
                                           : "libpam fails every login through this service"),
                 "install the module (sudo cmake --install build/release --strip) or correct "
                 "the path");
}

// What happens on a wrong code, a right code, and PAM_IGNORE (nullok).
void check_control(const std::vector<PamLine>& stack, std::size_t index, Report& report) {
  const PamLine& line = stack[index];
  const std::string on_failure = control_action(line.control, "auth_err");
  if (on_failure != "bad" && on_failure != "die") {
    report.problem(line.origin + ": control " + line.control + " lets a login continue after a "
                       "wrong code (auth_err=" + on_failure + ")",
                   "use `auth required pam_twostep.so ...` (or [... default=die])");
  }
  if (control_action(line.control, "success") == "done") {
    for (std::size_t i = index + 1; i < stack.size(); ++i) {
      if (!listed(kNotAFactor, stack[i].module)) {
        report.problem(line.origin + ": control " + line.control + " ends the stack on a right "
                           "code, so " + module_basename(stack[i].module) + " (" +
                           stack[i].origin + ") is skipped: the code alone logs in",
                       "use `auth required pam_twostep.so ...`, after the password module");
        break;
      }
    }
  }
}

// pam_twostep with nullok returns PAM_IGNORE for users without a secret file;
// if no other module can succeed, libpam refuses them.
void check_nullok_trap(const std::vector<PamLine>& stack, const PamLine& line, Report& report) {
  for (const PamLine& other : stack) {
    if (&other != &line && !listed(kNeverSucceeds, other.module)) return;
  }
  report.problem(line.origin + ": nullok, but pam_twostep is the only auth module that can "
                     "succeed: its PAM_IGNORE is no success, so users without a secret file "
                     "are refused",
                 "add `auth required pam_permit.so` on the line after it (key + code: keep "
                 "AuthenticationMethods publickey,keyboard-interactive in sshd)");
}

void check_forward_pass(const std::vector<PamLine>& stack, std::size_t index, Report& report) {
  for (std::size_t i = index + 1; i < stack.size(); ++i) {
    if (listed(kNotAFactor, stack[i].module)) continue;
    for (const auto& arg : stack[i].args) {
      if (arg == "use_first_pass" || arg == "try_first_pass") return;
    }
    report.warning(stack[index].origin + ": forward_pass hands the password on, but " +
                       stack[i].origin + " (" + module_basename(stack[i].module) +
                       ") asks for it again",
                   "add use_first_pass to " + module_basename(stack[i].module) + " there");
    return;
  }
  report.problem(stack[index].origin + ": forward_pass, but no password module follows: the "
                     "password part of the answer is never checked",
                 "add `auth required pam_unix.so use_first_pass` after it");
}

std::optional<pam::Config> check_arguments(const PamLine& line, Report& report) {
  std::vector<const char*> argv;
  argv.reserve(line.args.size());
  for (const auto& arg : line.args) argv.push_back(arg.c_str());
  auto config = pam::parse_module_arguments(std::span<const char* const>(argv.data(), argv.size()));
  if (!config) {
    report.problem(line.origin + ": bad module arguments: " + config.error().message +
                       " (the module returns PAM_SERVICE_ERR: every login fails)",
                   "correct the arguments (pam_twostep(8) lists them)");
    return std::nullopt;
  }
  std::string summary = "arguments valid";
  if (config->nullok) summary += "; nullok: users without a secret file get in without a code";
  report.ok(describe(line) + " (" + summary + ")");
  // pam_google_authenticator's arguments: what the module will log, and the
  // two that let a login through without a recorded code.
  for (const auto& notice : config->notices) report.note(line.origin + ": " + notice);
  if (config->grace_period != 0) {
    report.note(line.origin + ": grace_period=" + std::to_string(config->grace_period) +
                ": a login from the same remote host within that time needs no code");
  }
  if (config->allow_readonly) {
    report.note(line.origin + ": allow_readonly: a right code is let through even when it "
                "cannot be recorded (it can then be used again); logged at error level");
  }
  return std::move(*config);
}

}  // namespace

StackFacts check_pam_stack(const CheckOptions& options, Report& report) {
  const bool is_path = options.service.find('/') != std::string::npos;
  report.section("PAM service " + options.service + " (" +
                 (is_path ? options.service : options.pam_dir + "/" + options.service) +
                 ", includes followed from " + options.pam_dir + ")");
  StackFacts facts;
  auto stack = read_auth_stack(options.pam_dir, options.service);
  if (!stack) {
    report.problem(stack.error().message, "check the service name (--service) and its files");
    return facts;
  }
  facts.readable = true;
  for (std::size_t i = 0; i < stack->size(); ++i) {
    const PamLine& line = (*stack)[i];
    if (!listed(kNotAFactor, line.module)) facts.has_first_factor = true;
    if (!is_twostep(line)) continue;
    facts.twostep_lines.push_back(line);
    check_module_file(options, line, report);
    auto config = check_arguments(line, report);
    check_control(*stack, i, report);
    if (!config) continue;
    if (config->nullok) check_nullok_trap(*stack, line, report);
    if (config->code_source == pam::CodeSource::forward_pass) check_forward_pass(*stack, i, report);
    if (!facts.config) {
      facts.config = std::move(*config);
      facts.module_path = module_path(options, line.module);
    }
  }
  if (facts.twostep_lines.empty()) {
    report.problem("no auth line in " + options.service + " calls pam_twostep.so: no code is asked",
                   "add `auth required pam_twostep.so nullok` (layouts: docs/admin-guide.md)");
  } else if (facts.twostep_lines.size() > 1) {
    report.warning("pam_twostep.so runs " + std::to_string(facts.twostep_lines.size()) +
                   " times: users are asked for a code more than once");
  }
  if (facts.has_first_factor) {
    report.note("first factor in the stack: yes (a password or similar module runs too)");
  } else {
    report.note("first factor in the stack: none (the code is the only thing PAM asks)");
  }
  return facts;
}

}  // namespace twostep::check
