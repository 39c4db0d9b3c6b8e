// The user part: the secret file the module would use for this user, checked
// the way the module checks it. Never prints the secret.
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <ctime>

#include "checks.hpp"
#include "scope.hpp"
#include "twostep/account.hpp"
#include "twostep/policy.hpp"
#include "twostep/secret_path.hpp"
#include "twostep/secret_store.hpp"

namespace twostep::check {
namespace {

std::string octal(mode_t mode) {
  char text[8] = {};
  std::snprintf(text, sizeof text, "%04o", static_cast<unsigned>(mode & 07777));
  return text;
}

std::string parent_of(const std::string& path) {
  const auto slash = path.rfind('/');
  if (slash == std::string::npos || slash == 0) return "/";
  return path.substr(0, slash);
}

// The module's candidates: secret= (default ~/.twostep), then, for the
// default only, ~/.google_authenticator (authenticate.cpp resolve_target).
std::vector<std::string> candidates(const pam::Config& config, const Account& user,
                                    Report& report) {
  std::vector<std::string> paths;
  const PathContext context{user.name, user.home};
  auto primary = expand_secret_path(config.secret_path, context);
  if (!primary) {
    report.problem("secret=" + config.secret_path + " cannot be expanded for " + user.name + ": " +
                       primary.error().message,
                   "fix the user's name or home directory, or the secret= template");
    return paths;
  }
  paths.push_back(std::move(*primary));
  if (config.secret_path_is_default) {
    auto fallback = expand_secret_path(pam::kGoogleAuthenticatorPath, context);
    if (fallback) paths.push_back(std::move(*fallback));
  }
  return paths;
}

// Every directory from the file's up to /, as the module checks them (strict
// modes, core's check_secret_directories): a failure makes every login fail,
// nullok included, unless the service line says no_strict_modes.
void check_directories(const std::string& path, uid_t owner, bool strict_modes, Report& report) {
  FileExpectations expectations;
  expectations.owner = owner;
  auto checked = check_secret_directories(path, expectations);
  if (checked || checked.error().code == ErrorCode::not_found) return;
  const std::string fix =
      "chmod go-w the directory (and chown it to root if another account owns it), or add "
      "no_strict_modes to the pam_twostep line";
  if (strict_modes) {
    report.problem("the module refuses " + path + " (even with nullok): " + checked.error().message,
                   fix);
  } else {
    report.warning(checked.error().message + "; no_strict_modes lets the module use it anyway",
                   fix);
  }
}

// The new state is written to a temp file next to the secret file and
// renamed over it, as the owner: the directory must be writable by them.
void check_writable_directory(const std::string& path, uid_t owner, gid_t group, Report& report) {
  const std::string dir = parent_of(path);
  struct stat info {};
  if (::stat(dir.c_str(), &info) != 0) return;
  const bool writable = owner == 0 || (info.st_uid == owner && (info.st_mode & S_IWUSR)) ||
                        (info.st_gid == group && (info.st_mode & S_IWGRP)) ||
                        (info.st_mode & S_IWOTH);
  if (!writable) {
    report.problem("directory " + dir + " is not writable by uid " + std::to_string(owner) +
                       ": the module cannot store the new state, so every code is refused",
                   "chown " + std::to_string(owner) + " " + dir + " && chmod u+w " + dir);
  }
}

// A word the shell passes on as is: the template's ~, ${HOME} and %u are
// twostep-enroll's to expand for the target user, not the shell's.
std::string shell_word(const std::string& text) {
  const bool plain = !text.empty() && text.find_first_not_of(
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789/_.%+=:@,-") ==
      std::string::npos;
  if (plain) return text;
  std::string quoted = "'";
  for (const char c : text) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return quoted + "'";
}

// The twostep-enroll command that works on this user's file as the module
// finds it: the user runs it for ~/.twostep; any other file is root's job,
// with --user and --secret-file (the central, root-owned layout of user=root
// is one the user cannot write), and --file-owner user where the module
// wants the file owned by the user (no user=) although it is outside the
// home, where twostep-enroll would otherwise make it root's.
std::string enroll_command(const pam::Config& config, const std::string& user,
                           const std::string& arguments) {
  std::string command = "as " + user + ": twostep-enroll";
  if (config.file_user || !config.secret_path_is_default) {
    command = "as root: twostep-enroll --user " + user + " --secret-file " +
              shell_word(config.secret_path) + (config.file_user ? "" : " --file-owner user");
  }
  return arguments.empty() ? command : command + " " + arguments;
}

std::string token_summary(const Token& token) {
  std::string text = token.name + ": " + (token.kind == TokenKind::totp ? "TOTP" : "HOTP") + " " +
                     to_string(token.algorithm) + ", " + std::to_string(token.digits) + " digits";
  if (token.kind == TokenKind::totp) text += ", " + std::to_string(token.period) + " s";
  return text;
}

// authenticate.cpp: push is offered only when the file pins a device (the
// snapshot's push_devices_); otherwise the plain code prompt, whatever
// failmode= says (it applies to relay outages only).
void check_push_devices(const SecretDocument& document, const pam::Config& config,
                        const std::string& user, Report& report) {
  const auto& devices = document.enrollment.devices;
  if (!config.push) {
    if (!devices.empty()) {
      report.note(std::to_string(devices.size()) + " push device(s) pinned, but the "
                  "pam_twostep line has no `push`: only codes are asked");
    }
    return;
  }
  if (document.format != FileFormat::native) {
    report.note("push: a google-authenticator file cannot pin devices, so the module never "
                "offers push to " + user + " and asks for a code; to use push, enroll again in "
                "the native format (twostep-enroll --force --secret-file ~/.twostep), then "
                "twostep-enroll --push");
    return;
  }
  if (devices.empty()) {
    report.note("push: " + user + " pins no push device, so the module does not offer push "
                "and asks for a code (failmode= applies to relay outages only); to pair a "
                "phone, " + enroll_command(config, user, "--push"));
    return;
  }
  std::string names;
  for (const Device& device : devices) {
    names += (names.empty() ? "" : ", ") + device.name + " (" + device.origin + ")";
  }
  report.ok("push: " + std::to_string(devices.size()) + " device(s) pinned: " + names +
            "; the prompt offers \"Enter for a push\"");
}

void check_content(const std::string& path, uid_t owner, const pam::Config& config,
                   const std::string& user, Report& report) {
  FileExpectations expectations;
  expectations.owner = owner;
  expectations.strict_modes = config.strict_modes;
  auto document = read_secret_file(path, expectations);
  if (!document) {
    report.problem("the module would refuse " + path + ": " + document.error().message,
                   "re-enroll, " + enroll_command(config, user, "--force") +
                       ", or fix the file (docs/secret-file.md)");
    return;
  }
  const Enrollment& enrollment = document->enrollment;
  report.ok(std::string("format ") + to_string(document->format) + ", " +
            std::to_string(enrollment.tokens.size()) + " token(s), " +
            std::to_string(enrollment.backup_codes.size()) + " backup code(s), window " +
            std::to_string(enrollment.window) + ", " + std::to_string(enrollment.devices.size()) +
            " push device(s)");
  for (const Token& token : enrollment.tokens) report.ok("token " + token_summary(token));
  check_push_devices(*document, config, user, report);
  const RateLimit& limit = enrollment.rate_limit;
  if (is_rate_limited(limit, std::time(nullptr))) {
    report.problem("locked out right now: " + std::to_string(limit.failures.size()) +
                       " failed codes within " + std::to_string(limit.interval_s) + " s",
                   "wait " + std::to_string(limit.interval_s) + " s; logins work again by "
                   "themselves");
  }
  if (enrollment.tokens.empty() && enrollment.backup_codes.empty()) {
    report.problem("no token and no backup code: nothing can log in",
                   enroll_command(config, user, "--force"));
  }
}

void check_file(const std::string& path, uid_t owner, gid_t group, const pam::Config& config,
                const std::string& user, Report& report) {
  const bool strict_modes = config.strict_modes;
  struct stat info {};
  if (::lstat(path.c_str(), &info) != 0) {
    report.problem("cannot stat " + path, "run twostep-check as root");
    return;
  }
  bool safe = true;
  if (S_ISLNK(info.st_mode)) {
    report.problem(path + " is a symlink: the module refuses it", "replace it by the file itself");
    return;
  }
  if (!S_ISREG(info.st_mode)) {
    report.problem(path + " is not a regular file", "remove it and enroll again");
    return;
  }
  if (info.st_uid != owner) {
    safe = false;
    report.problem(path + " is owned by uid " + std::to_string(info.st_uid) + ", the module wants uid " +
                       std::to_string(owner),
                   "chown " + std::to_string(owner) + " " + path);
  }
  if ((info.st_mode & 077) != 0) {
    safe = false;
    report.problem(path + " has mode " + octal(info.st_mode) + ": group/other bits, the module "
                       "refuses it",
                   "chmod 0600 " + path);
  }
  if (info.st_nlink != 1) {
    safe = false;
    report.problem(path + " has " + std::to_string(info.st_nlink) + " hard links: the module "
                       "refuses it",
                   "keep one link (cp it to a new file, then mv it over)");
  }
  if (safe) report.ok(path + ": regular file, owner uid " + std::to_string(owner) + ", mode " + octal(info.st_mode));
  check_directories(path, owner, strict_modes, report);
  check_writable_directory(path, owner, group, report);
  if (safe) check_content(path, owner, config, user, report);
}

// groups= / skip_groups=: says which rule decides for this user, with the
// module's own decision. False: out of scope (nothing else applies to them).
bool user_in_scope(const pam::Config& config, const Account& user, Report& report) {
  if (!pam::has_scope(config)) return true;
  auto scope = pam::decide_scope(config, user);
  if (!scope) {
    report.problem("groups of " + user.name + ": " + scope.error().message +
                       " (the module fails with PAM_SERVICE_ERR)",
                   "check NSS: getent initgroups " + user.name);
    return false;
  }
  if (scope->in_scope) {
    report.ok("scope: " + user.name + " is asked for a second factor: " + scope->why);
    return true;
  }
  report.note("scope: " + user.name + " is out of scope: " + scope->why +
              "; the module answers PAM_IGNORE and the stack's other modules decide");
  return false;
}

}  // namespace

void check_user(const CheckOptions& options, const StackFacts& facts, Report& report) {
  report.section("user " + *options.user);
  if (!facts.config) {
    report.warning("no valid pam_twostep line: the user's file is not checked");
    return;
  }
  const pam::Config& config = *facts.config;
  auto user = lookup_account(*options.user);
  if (!user || !*user) {
    report.problem("no such user: " + *options.user, "check the name (getent passwd NAME)");
    return;
  }
  if (!user_in_scope(config, **user, report)) return;
  uid_t owner = (*user)->uid;
  gid_t group = (*user)->gid;
  if (config.file_user) {
    auto account = lookup_account(*config.file_user);
    if (!account || !*account) {
      report.problem("user=" + *config.file_user + ": no such account (PAM_SERVICE_ERR)",
                     "create the account or correct user=");
      return;
    }
    owner = (*account)->uid;
    group = (*account)->gid;
  }
  const auto paths = candidates(config, **user, report);
  for (const auto& path : paths) {
    struct stat info {};
    if (::lstat(path.c_str(), &info) == 0 || errno != ENOENT) {
      report.ok("secret file: " + path + " (as the module expands " + config.secret_path + ")");
      check_file(path, owner, group, config, *options.user, report);
      return;
    }
  }
  if (paths.empty()) return;
  check_directories(paths.front(), owner, config.strict_modes, report);
  if (config.nullok) {
    report.note("no secret file at " + paths.front() + ": nullok lets " + *options.user +
                " in without a code until they enroll");
  } else {
    report.problem("no secret file at " + paths.front() + " and no nullok: " + *options.user +
                       " cannot log in",
                   enroll_command(config, *options.user, ""));
  }
}

}  // namespace twostep::check
