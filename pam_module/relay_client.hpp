// The module's dialogue with the relay for one push (docs/protocol.md 4, 5):
// create the challenge, wait for its decision (long-polls until a deadline),
// cancel it. Every answer is classified once here: an answer (2xx parsed, or
// a 4xx refusal, which is never an outage) or "unavailable" (no answer, a
// 5xx, garbage), which is where the failmode applies.
#pragma once

#include <chrono>
#include <string>

#include "push_transport.hpp"
#include "twostep/push_login.hpp"

namespace twostep::pam {

enum class RelayReply { ok, refused, unavailable };

struct CreateReply {
  RelayReply reply = RelayReply::unavailable;
  push::IssuedChallenge challenge;
  std::string error;    // refused: the relay's error code (push_blocked, cooldown, ...)
  std::string message;  // unavailable: why (for the log)
};

struct WaitReply {
  RelayReply reply = RelayReply::unavailable;
  bool timed_out = false;  // still pending at the deadline
  push::ChallengeState state;
  std::string error;
  std::string message;
};

class RelayClient {
 public:
  explicit RelayClient(PushTransport& transport, std::chrono::milliseconds connect_margin)
      : transport_(transport), margin_(connect_margin) {}

  CreateReply create(const push::ChallengeRequest& request,
                     std::chrono::steady_clock::time_point deadline);
  // Long-polls until the challenge is decided or `deadline` passes. A
  // shutting-down relay (503 shutting_down) is asked again until then.
  WaitReply wait(const std::string& id, std::chrono::steady_clock::time_point deadline);
  // Best effort, bounded by a few seconds.
  void cancel(const std::string& id);

 private:
  PushTransport& transport_;
  std::chrono::milliseconds margin_;
};

}  // namespace twostep::pam
