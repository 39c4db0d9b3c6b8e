// The clock part: TOTP codes are computed from the time, so an unsynchronised
// server refuses right codes. Asks timedatectl, then chronyc, then ntpq.
#include "checks.hpp"
#include "command.hpp"

namespace twostep::check {
namespace {

std::string trimmed(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  return text;
}

enum class Sync { yes, no, unknown };

Sync from_timedatectl() {
  const auto result = run_command({"timedatectl", "show", "--property=NTPSynchronized", "--value"});
  if (!result || result->exit_status != 0) return Sync::unknown;
  const std::string value = trimmed(result->out);
  if (value == "yes") return Sync::yes;
  if (value == "no") return Sync::no;
  return Sync::unknown;
}

Sync from_chrony() {
  const auto result = run_command({"chronyc", "-n", "tracking"});
  if (!result || result->exit_status != 0) return Sync::unknown;
  if (result->out.find("Leap status     : Normal") != std::string::npos) return Sync::yes;
  if (result->out.find("Not synchronised") != std::string::npos) return Sync::no;
  return Sync::unknown;
}

Sync from_ntpq() {
  const auto result = run_command({"ntpq", "-pn"});
  if (!result || result->exit_status != 0) return Sync::unknown;
  // The peer ntpd synchronises to is marked with '*' in the first column.
  return result->out.find("\n*") != std::string::npos ? Sync::yes : Sync::no;
}

}  // namespace

void check_clock(Report& report) {
  report.section("clock");
  const struct Source {
    const char* name;
    Sync (*ask)();
  } sources[] = {{"timedatectl", from_timedatectl}, {"chronyc", from_chrony}, {"ntpq", from_ntpq}};
  for (const auto& source : sources) {
    const Sync sync = source.ask();
    if (sync == Sync::yes) {
      report.ok(std::string("system clock synchronised (") + source.name + ")");
      return;
    }
    if (sync == Sync::no) {
      report.warning(std::string("system clock not synchronised (") + source.name +
                         "): if it drifts, right codes are refused",
                     "enable time sync: timedatectl set-ntp true (or start chrony/ntpd)");
      return;
    }
  }
  report.warning("cannot tell whether the system clock is synchronised (no timedatectl, "
                 "chronyc or ntpq answered)",
                 "install and enable systemd-timesyncd or chrony");
}

}  // namespace twostep::check
