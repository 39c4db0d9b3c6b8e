// Internal: an HMAC context keyed once and reused for many counters, so a
// verification that checks dozens of steps does not fetch and key the MAC
// each time. Not part of the public API.
#pragma once

#include <openssl/evp.h>

#include <cstdint>
#include <memory>
#include <span>

#include "twostep/otp.hpp"
#include "twostep/result.hpp"

namespace twostep::detail {

struct EvpMacDeleter {
  void operator()(EVP_MAC* mac) const noexcept { EVP_MAC_free(mac); }
};
struct EvpMacCtxDeleter {
  void operator()(EVP_MAC_CTX* ctx) const noexcept { EVP_MAC_CTX_free(ctx); }
};
using EvpMacPtr = std::unique_ptr<EVP_MAC, EvpMacDeleter>;
using EvpMacCtxPtr = std::unique_ptr<EVP_MAC_CTX, EvpMacCtxDeleter>;

class OtpGenerator {
 public:
  // Validates digits (6..8) and key (non-empty) like hotp().
  static Result<OtpGenerator> create(std::span<const std::uint8_t> key, unsigned digits,
                                     HashAlgorithm algorithm);
  // The HOTP value for `counter`, already reduced to `digits` digits.
  Result<std::uint32_t> code(std::uint64_t counter);
  unsigned digits() const noexcept { return digits_; }

 private:
  OtpGenerator(EvpMacCtxPtr ctx, unsigned digits) : ctx_(std::move(ctx)), digits_(digits) {}
  EvpMacCtxPtr ctx_;
  unsigned digits_;
};

}  // namespace twostep::detail
