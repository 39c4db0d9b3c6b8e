// Running the system tools twostep-check asks (sshd -T, timedatectl, chronyc,
// ntpq): no shell, bounded output, bounded time.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace twostep::check {

struct CommandOutput {
  int exit_status = -1;  // -1: killed (timeout) or did not exit normally
  std::string out;
  std::string err;
};

inline constexpr std::size_t kMaxCommandOutput = 256 * 1024;
inline constexpr int kCommandTimeoutMs = 10000;

// nullopt: the program could not be started (not installed).
std::optional<CommandOutput> run_command(const std::vector<std::string>& argv);

}  // namespace twostep::check
