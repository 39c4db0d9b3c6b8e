#include "confirm.hpp"

#include <ctime>
#include <string>

#include "token_display.hpp"
#include "twostep/policy.hpp"

namespace twostep::enroll {
namespace {

// Only this token, no rate limit and no backup codes: a typo during
// enrollment must not lock the user out, and only the app's code counts.
Enrollment probe_for(const Token& token, std::uint32_t window) {
  Enrollment probe;
  probe.tokens.push_back(token.clone());
  probe.window = window;
  probe.replay_protection = true;
  return probe;
}

// "SHA256", "8 digits", "a 60 s period", joined with " or ".
std::string unusual_parameters(const Token& token) {
  std::string text;
  const auto add = [&text](const std::string& part) { text += text.empty() ? part : " or " + part; };
  if (token.algorithm != HashAlgorithm::sha1) add(to_string(token.algorithm));
  if (token.digits != 6) add(std::to_string(token.digits) + " digits");
  if (token.kind == TokenKind::totp && token.period != 30) {
    add("a " + std::to_string(token.period) + " s period");
  }
  return text;
}

void explain_rejection(const Console& console, const Token& token, const VerifyOutcome& outcome) {
  if (outcome.clock_skew_seconds) {
    console.always("That code belongs to a different time: the phone's clock looks off by about " +
                   std::to_string(*outcome.clock_skew_seconds) +
                   " s. Set it to automatic time and try again.");
    return;
  }
  if (outcome.result == VerifyResult::malformed) {
    console.always("That is not a " + std::to_string(token.digits) + "-digit code.");
  } else if (outcome.result == VerifyResult::replayed) {
    console.always("That code was already used; wait for the next one.");
  } else {
    console.always("That code does not match.");
  }
  if (uses_non_default_parameters(token)) {
    console.always("If your app shows a code that doesn't match, it may not support " +
                   unusual_parameters(token) + "; re-run with the defaults.");
  }
}

}  // namespace

ConfirmResult confirm_token(const Console& console, Token& token, std::uint32_t window) {
  Enrollment probe = probe_for(token, window);
  for (int attempt = 1; attempt <= kConfirmAttempts; ++attempt) {
    ReadResult typed = prompt_line(console, "Enter the code from the app to confirm: ");
    if (typed.status == ReadStatus::interrupted) return ConfirmResult::interrupted;
    if (typed.status == ReadStatus::end_of_input) {
      console.always("");
      console.always("No code entered.");
      return ConfirmResult::failed;
    }
    const VerifyOutcome outcome = verify_code(probe, typed.line.view(), std::time(nullptr),
                                              VerifyOptions{std::nullopt, false, std::nullopt});
    if (outcome.result == VerifyResult::accepted) {
      token.last_step = probe.tokens.front().last_step;
      token.counter = probe.tokens.front().counter;
      return ConfirmResult::confirmed;
    }
    explain_rejection(console, token, outcome);
  }
  return ConfirmResult::failed;
}

}  // namespace twostep::enroll
