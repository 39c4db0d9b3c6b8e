// Terminal I/O: where human-readable text goes, prompts, and interrupts.
// Nothing here changes terminal modes: codes are read with echo on (they are
// single-use and consumed by the replay floor), so an interrupt can never
// leave the terminal without echo.
#pragma once

#include <cstdio>
#include <optional>
#include <string>
#include <string_view>

#include "twostep/secret.hpp"

namespace twostep::enroll {

// Installs SIGINT/SIGTERM/SIGHUP handlers (no SA_RESTART) that only set a
// flag, so a blocked read returns and the caller unwinds normally: RAII
// removes temporary files on the way out.
void install_interrupt_handlers();
bool interrupted() noexcept;

struct TerminalSize {
  unsigned columns = 80;
  unsigned rows = 24;
};

class Console {
 public:
  // Human-readable output goes to stdout, or to stderr when stdout carries
  // machine-readable output (--print-uri).
  Console(bool text_to_stderr, bool quiet);

  std::FILE* text() const noexcept { return text_; }
  bool text_is_tty() const noexcept { return text_is_tty_; }
  TerminalSize text_size() const;
  bool quiet() const noexcept { return quiet_; }

  void info(std::string_view line) const;        // suppressed by --quiet
  void always(std::string_view line) const;      // shown even with --quiet
  void warn(std::string_view line) const;        // stderr, "warning: "
  void error(std::string_view line) const;       // stderr, "twostep-enroll: "
  void secret(const SecretBytes& bytes) const;   // raw, no copy into std::string
  void flush() const;

 private:
  std::FILE* text_;
  bool text_is_tty_;
  bool quiet_;
};

enum class ReadStatus { line, end_of_input, interrupted };

struct ReadResult {
  ReadStatus status = ReadStatus::end_of_input;
  SecretBytes line;  // without the newline; at most kMaxInputLine bytes kept
};

inline constexpr std::size_t kMaxInputLine = 256;

// Writes `prompt` to the console's text stream and reads one line from stdin.
ReadResult prompt_line(const Console& console, std::string_view prompt);

}  // namespace twostep::enroll
