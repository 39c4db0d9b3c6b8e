// What twostep-check found: each finding says what is wrong and the exact fix.
#pragma once

#include <string>
#include <vector>

namespace twostep::check {

enum class Severity {
  ok,       // checked and fine
  note,     // worth knowing; logins work
  warning,  // logins work, but something is fragile or could not be checked
  problem,  // a login would fail, or the code could be skipped
};

struct Finding {
  Severity severity = Severity::ok;
  std::string what;
  std::string fix;  // empty for ok/note
};

class Report {
 public:
  void section(std::string title);
  void ok(std::string what) { add({Severity::ok, std::move(what), {}}); }
  void note(std::string what) { add({Severity::note, std::move(what), {}}); }
  void warning(std::string what, std::string fix = {}) {
    add({Severity::warning, std::move(what), std::move(fix)});
  }
  void problem(std::string what, std::string fix) {
    add({Severity::problem, std::move(what), std::move(fix)});
  }
  bool has_problems() const noexcept { return problems_ > 0; }
  std::size_t problems() const noexcept { return problems_; }
  std::size_t warnings() const noexcept { return warnings_; }
  // Printed as it goes, so a hanging command shows where it hangs.
  void add(Finding finding);

 private:
  std::size_t problems_ = 0;
  std::size_t warnings_ = 0;
};

}  // namespace twostep::check
