#include "relay_client.hpp"

#include <algorithm>
#include <thread>

namespace twostep::pam {
namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;

long remaining_ms(steady_clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<milliseconds>(deadline - steady_clock::now());
  return std::max<long>(0, static_cast<long>(left.count()));
}

std::string describe(const HttpAnswer& answer) {
  if (!answer.answered) return answer.message.empty() ? "no answer" : answer.message;
  return "HTTP " + std::to_string(answer.status);
}

}  // namespace

CreateReply RelayClient::create(const push::ChallengeRequest& request,
                                steady_clock::time_point deadline) {
  CreateReply reply;
  const long budget = remaining_ms(deadline);
  if (budget <= 0) {
    reply.message = "no time left";
    return reply;
  }
  const auto answer = transport_.request("POST", "/v1/challenges", "",
                                         push::challenge_request_json(request), budget);
  if (answer.answered && answer.status == 201) {
    auto created = push::parse_challenge_created(answer.body);
    if (created) {
      reply.reply = RelayReply::ok;
      reply.challenge = std::move(*created);
    } else {
      reply.message = "garbage answer to create: " + created.error().message;
    }
    return reply;
  }
  if (answer.answered && answer.status >= 400 && answer.status < 500) {
    auto code = push::parse_error_code(answer.body);
    reply.reply = RelayReply::refused;
    reply.error = code ? *code : "http_" + std::to_string(answer.status);
    return reply;
  }
  reply.message = "create: " + describe(answer);
  return reply;
}

WaitReply RelayClient::wait(const std::string& id, steady_clock::time_point deadline) {
  WaitReply reply;
  const std::string path = "/v1/challenges/" + id;
  for (;;) {
    const long left = remaining_ms(deadline);
    if (left <= 0) {
      reply.reply = RelayReply::ok;
      reply.timed_out = true;
      return reply;
    }
    // Ask the relay to hold the poll up to the deadline (at most 55 s), and
    // give the exchange the connect margin on top.
    // Rounded up: a zero-second poll in the last second would spin.
    const long wait_s = std::min<long>(55, (left + 999) / 1000);
    const long budget = wait_s * 1000 + margin_.count();
    const auto answer = transport_.request("GET", path, "wait=" + std::to_string(wait_s), "",
                                           std::min<long>(budget, left + margin_.count()));
    if (answer.answered && answer.status == 200) {
      auto state = push::parse_challenge_state(answer.body);
      if (!state) {
        reply.message = "garbage answer to wait: " + state.error().message;
        return reply;
      }
      if (state->status != push::RelayStatus::pending) {
        reply.reply = RelayReply::ok;
        reply.state = std::move(*state);
        return reply;
      }
      continue;  // still pending: poll again until the deadline
    }
    if (answer.answered && answer.status >= 400 && answer.status < 500) {
      auto code = push::parse_error_code(answer.body);
      reply.reply = RelayReply::refused;
      reply.error = code ? *code : "http_" + std::to_string(answer.status);
      return reply;
    }
    if (answer.answered && answer.status == 503) {
      auto code = push::parse_error_code(answer.body);
      if (code && *code == "shutting_down") {
        std::this_thread::sleep_for(milliseconds(std::min<long>(500, remaining_ms(deadline))));
        continue;
      }
    }
    reply.message = "wait: " + describe(answer);
    return reply;
  }
}

void RelayClient::cancel(const std::string& id) {
  (void)transport_.request("DELETE", "/v1/challenges/" + id, "", "",
                           std::min<long>(3000, margin_.count()));
}

}  // namespace twostep::pam
