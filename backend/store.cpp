// Store helpers shared by every implementation, and the factory.
#include "store.hpp"
#include "store_pg.hpp"

namespace twostep::relay {

const char* to_string(StoreErrc code) noexcept {
  switch (code) {
    case StoreErrc::not_found: return "not_found";
    case StoreErrc::already_decided: return "already_decided";
    case StoreErrc::already_registered: return "already_registered";
    case StoreErrc::not_registered: return "not_registered";
    case StoreErrc::expired: return "expired";
    case StoreErrc::push_blocked: return "push_blocked";
    case StoreErrc::cooldown: return "cooldown";
    case StoreErrc::no_devices: return "no_devices";
    case StoreErrc::duplicate: return "duplicate";
    case StoreErrc::replayed_nonce: return "replayed_nonce";
    case StoreErrc::schema_too_new: return "schema_too_new";
    case StoreErrc::backend: return "backend";
  }
  return "backend";
}

const char* to_string(PairingStatus status) noexcept {
  switch (status) {
    case PairingStatus::open: return "open";
    case PairingStatus::registered: return "registered";
    case PairingStatus::confirmed: return "confirmed";
  }
  return "open";
}

const char* to_string(ChallengeStatus status) noexcept {
  switch (status) {
    case ChallengeStatus::pending: return "pending";
    case ChallengeStatus::approved: return "approved";
    case ChallengeStatus::denied: return "denied";
    case ChallengeStatus::reported: return "reported";
    case ChallengeStatus::expired: return "expired";
    case ChallengeStatus::cancelled: return "cancelled";
  }
  return "pending";
}

ChallengeStatus status_of(Decision decision) noexcept {
  switch (decision) {
    case Decision::approve: return ChallengeStatus::approved;
    case Decision::deny: return ChallengeStatus::denied;
    case Decision::report: break;
  }
  return ChallengeStatus::reported;
}

std::optional<ChallengeStatus> challenge_status_from(std::string_view text) noexcept {
  for (auto s : {ChallengeStatus::pending, ChallengeStatus::approved, ChallengeStatus::denied,
                 ChallengeStatus::reported, ChallengeStatus::expired, ChallengeStatus::cancelled}) {
    if (text == to_string(s)) return s;
  }
  return std::nullopt;
}

StoreResult<std::unique_ptr<Store>> open_store(const std::string& location) {
  if (is_postgresql_url(location)) return open_postgresql_store(location);
  return open_sqlite_store(location);
}

}  // namespace twostep::relay
