// --status: what is enrolled, without any secret.
#include <ctime>
#include <string>

#include "exit_codes.hpp"
#include "modes.hpp"
#include "token_display.hpp"
#include "twostep/policy.hpp"
#include "twostep/secret_store.hpp"

namespace twostep::enroll {
namespace {

std::string utc_time(std::int64_t unix_time) {
  const auto seconds = static_cast<std::time_t>(unix_time);
  std::tm parts{};
  if (gmtime_r(&seconds, &parts) == nullptr) return "?";
  char text[32] = {};
  std::strftime(text, sizeof text, "%Y-%m-%d %H:%M:%S UTC", &parts);
  return text;
}

std::string last_use(const Token& token) {
  if (token.kind == TokenKind::hotp) return "next counter " + std::to_string(token.counter);
  if (!token.last_step) return "never used";
  const auto when = static_cast<std::int64_t>(*token.last_step * token.period);
  return "last code accepted " + utc_time(when);
}

std::string rate_limit_line(const RateLimit& limit) {
  if (limit.max_failures == 0) return "off";
  std::string text = std::to_string(limit.max_failures) + " failures per " +
                     std::to_string(limit.interval_s) + " s";
  if (is_rate_limited(limit, std::time(nullptr))) text += " (locked out right now)";
  return text;
}

}  // namespace

int run_status(const Session& session) {
  const Console& console = session.console;
  auto document = read_secret_file(session.location.path, expectations_for(session.location));
  if (!document) return report_file_error(console, document.error());
  const Enrollment& enrollment = document->enrollment;
  console.always("User:          " + session.target.name);
  console.always("Secret file:   " + session.location.path + " (" + to_string(document->format) +
                 " format)");
  console.always("Tokens:        " + std::to_string(enrollment.tokens.size()));
  for (const Token& token : enrollment.tokens) {
    console.always("  " + token.name + ": " + describe_parameters(token) + "; " + last_use(token));
  }
  console.always("Window:        " + std::to_string(enrollment.window) + " step(s) each side");
  console.always(std::string("Replay check:  ") + (enrollment.replay_protection ? "on" : "off"));
  console.always("Rate limit:    " + rate_limit_line(enrollment.rate_limit));
  console.always("Backup codes:  " + std::to_string(enrollment.backup_codes.size()) + " left");
  return kExitOk;
}

}  // namespace twostep::enroll
