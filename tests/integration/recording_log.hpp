// The module's log as tests see it: every line kept, in order (audit lines,
// errors, debug), for test_module_logic and test_push_method.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "conversation.hpp"

namespace twostep::pam::test {

class RecordingLog final : public ModuleLog {
 public:
  void notice(std::string_view line) override { lines.emplace_back(line); }
  void error(std::string_view line) override { lines.emplace_back(line); }
  void debug(std::string_view line) override { lines.emplace_back(line); }
  std::string all() const {
    std::string out;
    for (const auto& line : lines) out += line + "\n";
    return out;
  }
  bool has(std::string_view text) const { return all().find(text) != std::string::npos; }
  std::vector<std::string> lines;
};

}  // namespace twostep::pam::test
