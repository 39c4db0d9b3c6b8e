// The module's dialogue with the relay for one push (docs/protocol.md 4, 5):
// create the challenge, wait for its decision (long-polls until a deadline),
// cancel it. Every answer is classified once here (docs/protocol.md 4.4):
//  - ok: a 2xx that parses as the protocol says;
//  - refused: a 4xx with its error code (never an outage);
//  - unavailable: nothing came back (connect, TLS, timeout, a closed
//    connection) or 502/503/504 (a proxy or a relay that is down): the only
//    case where the failmode applies;
//  - bad_answer: anything else the relay did send (garbage, an unknown
//    status, "approved" without an assertion, another 5xx, a redirect, a
//    body over the cap). The relay's own doing, so it is refused in every
//    failmode: failmode=safe must not let a hostile relay log anyone in.
#pragma once

#include <chrono>
#include <optional>
#include <string>

#include "push_transport.hpp"
#include "twostep/push_login.hpp"

namespace twostep::pam {

enum class RelayReply { ok, refused, unavailable, bad_answer };

// Time as the relay dialogue sees it, injected so tests need not wait.
class RelayTimer {
 public:
  virtual ~RelayTimer() = default;
  virtual std::chrono::steady_clock::time_point now() = 0;
  virtual void sleep_until(std::chrono::steady_clock::time_point when) = 0;
};
class SystemRelayTimer final : public RelayTimer {
 public:
  std::chrono::steady_clock::time_point now() override;
  void sleep_until(std::chrono::steady_clock::time_point when) override;
};

// Pacing of the long-poll (docs/protocol.md 4.2): a `pending` answer that
// comes before the wait asked for is followed by a pause, 1 s at first and
// doubling up to 4 s while the relay keeps answering early, so a login
// sends at most one wait a second whatever the relay does (max_wait = 0,
// a hostile relay). A wait held for its full length resets the pause.
inline constexpr std::chrono::milliseconds kFirstEarlyPendingPause{1000};
inline constexpr std::chrono::milliseconds kMaxEarlyPendingPause{4000};

struct CreateReply {
  RelayReply reply = RelayReply::unavailable;
  push::IssuedChallenge challenge;
  std::string error;    // refused: the relay's error code (push_blocked, cooldown, ...)
  std::string message;  // unavailable, bad_answer: why (for the log)
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
  RelayClient(PushTransport& transport, RelayTimer& timer,
              std::chrono::milliseconds connect_margin)
      : transport_(transport), timer_(timer), margin_(connect_margin) {}

  CreateReply create(const push::ChallengeRequest& request,
                     std::chrono::steady_clock::time_point deadline);
  // Long-polls until the challenge is decided or `deadline` passes. A
  // shutting-down relay (503 shutting_down) is asked again until then.
  WaitReply wait(const std::string& id, std::chrono::steady_clock::time_point deadline);
  // Best effort, bounded by a few seconds.
  void cancel(const std::string& id);
  // GET /v1/host (docs/protocol.md 4.5): the name the relay registered for
  // `host_id`; nullopt when it does not say (an older relay, an outage, a
  // bad answer). Best effort, bounded like cancel: only a diagnosis uses it.
  std::optional<std::string> registered_host_name(const std::string& host_id);

 private:
  long remaining_ms(std::chrono::steady_clock::time_point deadline);

  PushTransport& transport_;
  RelayTimer& timer_;
  std::chrono::milliseconds margin_;
};

}  // namespace twostep::pam
