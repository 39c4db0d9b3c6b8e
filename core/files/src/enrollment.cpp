#include "twostep/enrollment.hpp"

#include <algorithm>
#include <array>

namespace twostep {
namespace {

// The DER of SubjectPublicKeyInfo { AlgorithmIdentifier { id-ecPublicKey,
// prime256v1 }, BIT STRING (0 unused bits) } up to the point, and the point's
// first byte (0x04: uncompressed); X and Y, 32 bytes each, follow.
constexpr std::array<std::uint8_t, 27> kP256SpkiPrefix = {
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06,
    0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00, 0x04};
static_assert(kP256SpkiPrefix.size() + 64 == kDeviceKeyBytes);

}  // namespace

bool has_p256_spki_shape(std::span<const std::uint8_t> spki) noexcept {
  return spki.size() == kDeviceKeyBytes &&
         std::equal(kP256SpkiPrefix.begin(), kP256SpkiPrefix.end(), spki.begin());
}

Token Token::clone() const {
  Token copy;
  copy.name = name;
  copy.kind = kind;
  copy.key = key.clone();
  copy.algorithm = algorithm;
  copy.digits = digits;
  copy.period = period;
  copy.last_step = last_step;
  copy.time_skew_steps = time_skew_steps;
  copy.counter = counter;
  copy.issuer = issuer;
  copy.label = label;
  return copy;
}

bool is_recordable_rhost(std::string_view rhost) noexcept {
  if (rhost.empty() || rhost.size() > kMaxRhostLength) return false;
  for (const char c : rhost) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == ':' || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

}  // namespace twostep
