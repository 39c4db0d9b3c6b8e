// google-authenticator files: parsing never misbehaves; a file that parses
// is written back byte-identical, re-parses, and re-serializes identically,
// also after the state changes a login makes.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "fuzz_check.hpp"
#include "twostep/secret_file.hpp"

using namespace twostep;

namespace {

void change_state(Enrollment& e, std::uint8_t how) {
  Token& token = e.tokens[0];
  if (token.kind == TokenKind::totp) {
    token.last_step = token.last_step.value_or(0) + 1 + (how & 0x3);
  } else {
    token.counter += 1;
  }
  if ((how & 0x10) != 0 && !e.backup_codes.empty()) e.backup_codes.erase(e.backup_codes.begin());
  if ((how & 0x20) != 0 && e.rate_limit.max_failures != 0) {
    e.rate_limit.failures.push_back(1700000000 + how);
  }
  if ((how & 0x40) != 0) token.time_skew_steps = (how & 0x80) != 0 ? -1 : 1;
}

void check_stable(const SecretDocument& document) {
  auto written = serialize_secret_document(document);
  FUZZ_CHECK(written.ok());
  auto reparsed = parse_google_authenticator(written->view());
  FUZZ_CHECK(reparsed.ok());
  auto again = serialize_secret_document(*reparsed);
  FUZZ_CHECK(again.ok());
  FUZZ_CHECK(again->view() == written->view());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto parsed = parse_google_authenticator(text);
  if (!parsed) {
    FUZZ_CHECK(parsed.error().code == ErrorCode::malformed ||
               parsed.error().code == ErrorCode::too_large);
    FUZZ_CHECK(parsed.error().message.starts_with("line "));
    return 0;
  }
  auto same = serialize_secret_document(*parsed);
  FUZZ_CHECK(same.ok());
  FUZZ_CHECK(same->view() == text);
  check_stable(*parsed);
  change_state(parsed->enrollment, size > 0 ? data[size - 1] : 0);
  check_stable(*parsed);
  return 0;
}
