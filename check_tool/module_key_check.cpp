// The module key: without it every user's failure time (fail_time=) and the
// address tags in secret files can be computed by anyone, so timing tells
// which accounts are enrolled. Logins work either way, so a missing or
// unusable key is a warning, with the command that makes one.
#include <unistd.h>

#include "checks.hpp"
#include "failure_pacing.hpp"

namespace twostep::check {
namespace {

std::string make_key_command(const std::string& path) {
  const auto slash = path.rfind('/');
  const std::string dir = slash == std::string::npos || slash == 0 ? "/" : path.substr(0, slash);
  return "make it once, as root: install -d -m 755 " + dir +
         " && (umask 077; head -c 32 /dev/urandom | basenc --base64url | tr -d '=' > " + path +
         ")";
}

}  // namespace

void check_module_key(const CheckOptions& options, Report& report) {
  const std::string& path = options.module_key;
  report.section("module key (" + path + ")");
  if (::geteuid() != 0) {
    report.note("module key " + path + ": not checked (it is root's; run twostep-check as root)");
    return;
  }
  auto key = pam::load_module_key(path);
  if (key) {
    report.ok("module key " + path + ": present (root's, mode 0600): failure times are keyed");
    return;
  }
  const std::string effect =
      ": each user's failure time and the address tags in secret files can be computed by "
      "anyone, so timing tells which accounts are enrolled";
  if (key.error().code == ErrorCode::not_found) {
    report.warning("module key " + path + " is missing" + effect, make_key_command(path));
  } else {
    report.warning(key.error().message + effect,
                   "make it root's with mode 0600 (chown root:root, chmod 600), or replace it: " +
                       make_key_command(path));
  }
}

}  // namespace twostep::check
