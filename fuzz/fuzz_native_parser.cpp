// Native secret files: parsing never misbehaves; a file that parses is
// written back byte-identical; after a state change (what a login does) the
// output still parses and is stable under another parse/serialize.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_check.hpp"
#include "twostep/policy.hpp"
#include "twostep/secret_file.hpp"

using namespace twostep;

namespace {

// What verify_code may change: replay floor, counter, failures, backup codes.
void change_state(Enrollment& e, std::uint8_t how) {
  // grace_period=: a login from one of a few hosts (updates, adds, or
  // replaces the oldest of ten).
  if ((how & 0x08) != 0) {
    record_recent_login(e, "192.0.2." + std::to_string(how & 0x7), 1700000000 + how);
  }
  Token& token = e.tokens[how % e.tokens.size()];
  if (token.kind == TokenKind::totp) {
    token.last_step = token.last_step.value_or(0) + 1;
  } else {
    token.counter += 1;
  }
  if ((how & 0x10) != 0 && !e.backup_codes.empty()) e.backup_codes.erase(e.backup_codes.begin());
  if ((how & 0x20) != 0 && e.rate_limit.failures.size() < kMaxRateLimitAttempts) {
    e.rate_limit.failures.push_back(1700000000 + how);
  }
  if ((how & 0x40) != 0) e.rate_limit.failures.clear();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto parsed = fuzz::parse_and_check(parse_native, text);
  if (!parsed) return 0;
  change_state(parsed->enrollment, size > 0 ? data[size - 1] : 0);
  fuzz::check_rewrite_stable(parse_native, *parsed);
  return 0;
}
