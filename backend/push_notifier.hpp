// What the service needs of Web Push, without the network code: the
// daemon's PushSender (push_sender.hpp, libcurl) implements it, so the
// protocol library (and its fuzzers) stays free of HTTP clients.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "store.hpp"

namespace twostep::relay {

class PushNotifier {
 public:
  virtual ~PushNotifier() = default;
  // Queues notifications for a new challenge to the phones the store chose
  // (their notification bound; Store::create_challenge); never waits for
  // the network.
  virtual void notify(const ChallengeRecord& challenge, const std::vector<PhoneNotice>& phones) = 0;
  // The VAPID public key: 65 bytes, uncompressed P-256 point.
  virtual const std::string& public_key() const = 0;
  // Whether a device may register this push endpoint.
  virtual bool accepts(std::string_view endpoint) const = 0;
};

}  // namespace twostep::relay
