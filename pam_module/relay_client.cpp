#include "relay_client.hpp"

#include <algorithm>
#include <thread>

namespace twostep::pam {
namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;

std::string describe(const HttpAnswer& answer) {
  if (!answer.answered) {
    const std::string why = answer.message.empty() ? "no answer" : answer.message;
    return answer.status == 0 ? why : why + " (HTTP " + std::to_string(answer.status) + ")";
  }
  return "HTTP " + std::to_string(answer.status);
}

// An answer that is neither a usable 2xx nor a 4xx refusal. An outage only
// when nothing came back, or a gateway in front of the relay says it is
// down (502, 503, 504); whatever else the relay sends is its own doing.
RelayReply unusable(const HttpAnswer& answer) {
  if (!answer.answered) return answer.status == 0 ? RelayReply::unavailable : RelayReply::bad_answer;
  const long status = answer.status;
  return status == 502 || status == 503 || status == 504 ? RelayReply::unavailable
                                                          : RelayReply::bad_answer;
}

}  // namespace

steady_clock::time_point SystemRelayTimer::now() { return steady_clock::now(); }
void SystemRelayTimer::sleep_until(steady_clock::time_point when) {
  std::this_thread::sleep_until(when);
}

long RelayClient::remaining_ms(steady_clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<milliseconds>(deadline - timer_.now());
  return std::max<long>(0, static_cast<long>(left.count()));
}

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
      reply.reply = RelayReply::bad_answer;
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
  reply.reply = unusable(answer);
  reply.message = "create: " + describe(answer);
  return reply;
}

namespace {

// What one long-poll answer means for the wait loop.
enum class PollStep { answer, still_pending, retry_later };

PollStep classify_poll(const HttpAnswer& answer, WaitReply& reply) {
  if (answer.answered && answer.status == 200) {
    auto state = push::parse_challenge_state(answer.body);
    if (!state) {
      reply.reply = RelayReply::bad_answer;
      reply.message = "garbage answer to wait: " + state.error().message;
      return PollStep::answer;
    }
    if (state->status == push::RelayStatus::pending) return PollStep::still_pending;
    reply.reply = RelayReply::ok;
    reply.state = std::move(*state);
    return PollStep::answer;
  }
  if (answer.answered && answer.status >= 400 && answer.status < 500) {
    auto code = push::parse_error_code(answer.body);
    reply.reply = RelayReply::refused;
    reply.error = code ? *code : "http_" + std::to_string(answer.status);
    return PollStep::answer;
  }
  if (answer.answered && answer.status == 503) {
    auto code = push::parse_error_code(answer.body);
    if (code && *code == "shutting_down") return PollStep::retry_later;
  }
  reply.reply = unusable(answer);
  reply.message = "wait: " + describe(answer);
  return PollStep::answer;
}

}  // namespace

WaitReply RelayClient::wait(const std::string& id, steady_clock::time_point deadline) {
  WaitReply reply;
  const std::string path = "/v1/challenges/" + id;
  milliseconds pause = kFirstEarlyPendingPause;
  for (;;) {
    const long left = remaining_ms(deadline);
    if (left <= 0) {
      reply.reply = RelayReply::ok;
      reply.timed_out = true;
      return reply;
    }
    // Ask the relay to hold the poll up to the deadline (at most 55 s), and
    // give the exchange the connect margin on top. Rounded up: a zero-second
    // poll in the last second would spin.
    const long wait_s = std::min<long>(55, (left + 999) / 1000);
    const long budget = wait_s * 1000 + margin_.count();
    const auto asked_at = timer_.now();
    const auto answer = transport_.request("GET", path, "wait=" + std::to_string(wait_s), "",
                                           std::min<long>(budget, left + margin_.count()));
    const PollStep step = classify_poll(answer, reply);
    if (step == PollStep::answer) return reply;
    const auto held = timer_.now() - asked_at;
    if (step == PollStep::still_pending && held >= std::chrono::seconds(wait_s)) {
      pause = kFirstEarlyPendingPause;  // a full long-poll: ask again at once
      continue;
    }
    // Early `pending` or a relay shutting down: pause, doubling, never
    // past the deadline.
    timer_.sleep_until(std::min(timer_.now() + pause, deadline));
    pause = std::min(pause * 2, kMaxEarlyPendingPause);
  }
}

void RelayClient::cancel(const std::string& id) {
  (void)transport_.request("DELETE", "/v1/challenges/" + id, "", "",
                           std::min<long>(3000, margin_.count()));
}

std::optional<std::string> RelayClient::registered_host_name(const std::string& host_id) {
  const auto answer =
      transport_.request("GET", "/v1/host", "", "", std::min<long>(3000, margin_.count()));
  if (!answer.answered || answer.status != 200) return std::nullopt;
  auto name = push::parse_host_view(answer.body, host_id);
  if (!name) return std::nullopt;
  return std::move(*name);
}

}  // namespace twostep::pam
