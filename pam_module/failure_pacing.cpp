#include "failure_pacing.hpp"

#include <openssl/evp.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <ctime>

#include "twostep/base64url.hpp"
#include "twostep/secret_store.hpp"

namespace twostep::pam {
namespace {

constexpr std::size_t kMaxModuleKeyFileBytes = 256;
// Used when no module key can be read (none made, or a PAM client that
// does not run as root): public, so the per-user times can be computed
// by anyone, but each user's failures still all take the same time.
constexpr std::string_view kPublicFallbackKey = "twostep: no module key";
// Domain separation from the address tags made with the same key.
constexpr std::string_view kFailTimeLabel = "twostep fail-time v1\n";

TrustedFileRules module_key_rules() {
  return TrustedFileRules{"module key", kMaxModuleKeyFileBytes, 077, 0};
}

Result<SecretBytes> parse_module_key(const SecretBytes& text, const std::string& path) {
  std::string_view line = text.view();
  line = line.substr(0, line.find('\n'));
  auto key = b64u_decode_secret(line, kModuleKeyBytes);
  if (!key || key->size() != kModuleKeyBytes) {
    return make_error(ErrorCode::malformed, "module key " + path + ": must be one line, b64u of " +
                                                std::to_string(kModuleKeyBytes) + " bytes");
  }
  return key;
}

}  // namespace

Result<SecretBytes> load_module_key(const std::string& path) {
  // Root's alone: a PAM client that is not root (a screen locker) goes on
  // without it, quietly.
  if (::geteuid() != 0) return make_error(ErrorCode::not_found, "module key: not root");
  auto text = read_trusted_file(path, module_key_rules());
  if (!text) return text.error();
  return parse_module_key(*text, path);
}

std::chrono::microseconds user_fail_time(std::span<const std::uint8_t> key,
                                         std::string_view user, std::uint32_t base_ms) {
  if (key.empty()) {
    key = std::span(reinterpret_cast<const std::uint8_t*>(kPublicFallbackKey.data()),
                    kPublicFallbackKey.size());
  }
  std::string message(kFailTimeLabel);
  message.append(user);
  std::array<std::uint8_t, 32> digest{};
  std::size_t length = 0;
  std::uint32_t fraction = 0;  // of base, in 2^-32
  if (EVP_Q_mac(nullptr, "HMAC", nullptr, "SHA256", nullptr, key.data(), key.size(),
                reinterpret_cast<const unsigned char*>(message.data()), message.size(),
                digest.data(), digest.size(), &length) != nullptr &&
      length == digest.size()) {
    fraction = (std::uint32_t{digest[0]} << 24) | (std::uint32_t{digest[1]} << 16) |
               (std::uint32_t{digest[2]} << 8) | std::uint32_t{digest[3]};
  }
  const std::uint64_t base_us = std::uint64_t{base_ms} * 1000;
  return std::chrono::microseconds(base_us + ((base_us * fraction) >> 32));
}

std::chrono::nanoseconds padding_after(std::chrono::nanoseconds work,
                                       std::chrono::nanoseconds floor) {
  if (floor <= std::chrono::nanoseconds::zero()) return std::chrono::nanoseconds::zero();
  const auto since = std::max(work.count(), std::chrono::nanoseconds::rep{1});
  const auto multiples = (since + floor.count() - 1) / floor.count();  // at least 1
  return floor * multiples - std::max(work, std::chrono::nanoseconds::zero());
}

void FailurePacing::pad_failure() const noexcept {
  if (!floor_) return;
  const auto work = std::chrono::duration_cast<std::chrono::nanoseconds>(
      Clock::now() - start_ - waited_);
  const auto padding = padding_after(work, *floor_);
  if (padding <= std::chrono::nanoseconds::zero()) return;
  // An absolute deadline on the monotonic clock: a signal does not restart
  // the wait from the beginning.
  timespec deadline{};
  ::clock_gettime(CLOCK_MONOTONIC, &deadline);
  const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(padding);
  deadline.tv_sec += static_cast<time_t>(seconds.count());
  deadline.tv_nsec += static_cast<long>((padding - seconds).count());
  if (deadline.tv_nsec >= 1000000000L) {
    deadline.tv_sec += 1;
    deadline.tv_nsec -= 1000000000L;
  }
  while (::clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &deadline, nullptr) == EINTR) {
  }
}

std::optional<SecretBytes> PacedConversation::prompt(std::string_view text, bool echo) {
  const auto start = FailurePacing::Clock::now();
  auto answer = inner_.prompt(text, echo);
  pacing_.exclude(FailurePacing::Clock::now() - start);
  return answer;
}

void PacedConversation::show_error(std::string_view text) {
  const auto start = FailurePacing::Clock::now();
  inner_.show_error(text);
  pacing_.exclude(FailurePacing::Clock::now() - start);
}

void PacedConversation::show_push_outcome(std::string_view text) {
  const auto start = FailurePacing::Clock::now();
  inner_.show_push_outcome(text);
  pacing_.exclude(FailurePacing::Clock::now() - start);
}

void PacedConversation::show_info(std::string_view text) {
  const auto start = FailurePacing::Clock::now();
  inner_.show_info(text);
  pacing_.exclude(FailurePacing::Clock::now() - start);
}

}  // namespace twostep::pam
