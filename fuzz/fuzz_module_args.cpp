// pam_twostep's arguments as libpam passes them (parse_module_arguments,
// pam_module/module_config.cpp): the words after the module's name in a PAM
// file, which an admin writes and twostep-check reads back.
//
// Input: up to 32 arguments separated by NUL bytes.
// Invariants: a refusal names the problem in at most 512 bytes without a
// control character (the message goes to syslog and to twostep-check's
// terminal, and never echoes an argument unbounded or raw); accepted
// settings keep the man page's limits (window <= 10, push_timeout 5..300,
// grace_period <= 30 days, prompt and clock hint 1..200 bytes); the same
// arguments parse to the same settings again.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_check.hpp"
#include "module_config.hpp"
#include "twostep/enrollment.hpp"

using namespace twostep;
using namespace twostep::pam;

namespace {

void check_refusal(const std::string& message) {
  FUZZ_CHECK(!message.empty() && message.size() <= 512);
  for (const char c : message) {
    const auto b = static_cast<unsigned char>(c);
    FUZZ_CHECK(b >= 0x20 && b != 0x7f);
  }
}

void check_settings(const Config& config) {
  FUZZ_CHECK(!config.window || *config.window <= kMaxWindow);
  FUZZ_CHECK(config.push_timeout >= kMinPushTimeout && config.push_timeout <= kMaxPushTimeout);
  FUZZ_CHECK(config.grace_period <= kMaxGracePeriod);
  FUZZ_CHECK(!config.prompt || (!config.prompt->empty() && config.prompt->size() <= kMaxPromptLength));
  FUZZ_CHECK(!config.clock_hint ||
             (!config.clock_hint->empty() && config.clock_hint->size() <= kMaxPromptLength));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::vector<std::string> words;
  std::string_view rest(reinterpret_cast<const char*>(data), size);
  while (!rest.empty() && words.size() < 32) {
    const auto nul = rest.find('\0');
    words.emplace_back(rest.substr(0, nul));
    rest = nul == std::string_view::npos ? std::string_view() : rest.substr(nul + 1);
  }
  std::vector<const char*> args;
  for (const auto& word : words) args.push_back(word.c_str());
  const auto config = parse_module_arguments(args);
  if (!config) {
    check_refusal(config.error().message);
    return 0;
  }
  check_settings(*config);
  const auto again = parse_module_arguments(args);
  FUZZ_CHECK(again.ok() && again->window == config->window && again->push == config->push &&
             again->push_timeout == config->push_timeout && again->secret_path == config->secret_path &&
             again->failmode == config->failmode && again->nullok == config->nullok);
  return 0;
}
