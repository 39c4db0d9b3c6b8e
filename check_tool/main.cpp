// twostep-check: before logging out, ask whether a login would work. Reads
// the PAM stack, sshd's effective settings, a user's secret file and the
// clock; prints each problem with its fix. Exit status 0: a login would work
// with the code required; 1: it would not, or the code can be skipped.
// GCC 12 at -O2 reports a false "potential null pointer dereference" inside
// CLI11's string splitting when it is inlined here; the code is CLI11's.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wnull-dereference"
#include <CLI/CLI.hpp>
#pragma GCC diagnostic pop
#include <clocale>
#include <cstdio>
#include <exception>

#include "checks.hpp"
#include "failure_pacing.hpp"

namespace twostep::check {
namespace {

constexpr int kExitOk = 0;
constexpr int kExitProblems = 1;
constexpr int kExitUsage = 2;

int check_all(const CheckOptions& options) {
  Report report;
  const StackFacts facts = check_pam_stack(options, report);
  if (options.check_sshd) check_sshd(options, facts, report);
  if (options.user) check_user(options, facts, report);
  check_push(options, facts, report);
  if (!facts.twostep_lines.empty()) check_module_key(options, report);
  if (options.check_clock) check_clock(report);
  std::printf("\n%s: %zu problem(s), %zu warning(s)\n",
              report.has_problems() ? "NOT READY" : "ready", report.problems(),
              report.warnings());
  return report.has_problems() ? kExitProblems : kExitOk;
}

int run(int argc, char** argv) {
  CLI::App app(
      "Check a twostep setup before you log out: the PAM stack of a service (includes\n"
      "followed, every pam_twostep argument checked with the module's own parser), sshd's\n"
      "effective settings (sshd -T), a user's secret file (never the secret), push\n"
      "(push.conf, the host secret file, one signed request to the relay), the module\n"
      "key and the clock. Each problem comes with its fix.",
      "twostep-check");
  CheckOptions options;
  options.module_dir = TWOSTEP_PAM_MODULE_DIR;
  std::string user;
  bool no_sshd = false, no_clock = false, force_sshd = false, offline = false;
  app.add_option("--service", options.service,
                 "PAM service to check (default sshd), or the path of a service file to check "
                 "before installing it (its includes are read from --pam-dir)")
      ->type_name("NAME");
  app.add_option("--user", user, "Also check this user's secret file")->type_name("NAME");
  app.add_option("--pam-dir", options.pam_dir, "Where the service files are (default /etc/pam.d)")
      ->type_name("DIR");
  app.add_option("--module-dir", options.module_dir,
                 "Where libpam loads pam_twostep.so from (default " TWOSTEP_PAM_MODULE_DIR ")")
      ->type_name("DIR");
  app.add_option("--sshd", options.sshd, "sshd binary (default /usr/sbin/sshd)")->type_name("PATH");
  app.add_option("--sshd-config", options.sshd_config,
                 "Check this sshd config (sshd -T -f FILE) instead of the system's")
      ->type_name("FILE");
  app.add_flag("--with-sshd", force_sshd, "Check sshd even when the service is not sshd");
  app.add_flag("--no-sshd", no_sshd, "Do not check sshd");
  app.add_flag("--no-clock", no_clock, "Do not check the clock");
  options.module_key = std::string(pam::kModuleKeyPath);
  app.add_option("--module-key", options.module_key, "")  // tests only: hidden
      ->group("");
  app.add_flag("--offline", offline,
               "Push services: do not send the one signed request to the relay");
  app.footer(
      "\nExamples:\n"
      "  sudo twostep-check                          sshd's PAM stack, sshd -T, the clock\n"
      "  sudo twostep-check --user alice             ... and alice's secret file\n"
      "  sudo twostep-check --service sudo --user alice\n"
      "\nExit status: 0 a login would work with the code required; 1 a problem was found\n"
      "(a login would fail, or the code could be skipped); 2 usage error.");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    return app.exit(error) == 0 ? kExitOk : kExitUsage;
  }
  if (!user.empty()) options.user = user;
  options.check_sshd = !no_sshd && (force_sshd || options.sshd_config || options.service == "sshd");
  options.check_clock = !no_clock;
  options.contact_relay = !offline;

  return check_all(options);
}

}  // namespace
}  // namespace twostep::check

int main(int argc, char** argv) {
  std::setlocale(LC_CTYPE, "");
  try {
    return twostep::check::run(argc, argv);
  } catch (const std::exception& error) {
    std::fprintf(stderr, "twostep-check: %s\n", error.what());
    return 2;
  }
}
