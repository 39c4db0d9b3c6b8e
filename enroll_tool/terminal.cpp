#include "terminal.hpp"

#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>

namespace twostep::enroll {
namespace {

volatile std::sig_atomic_t g_interrupted = 0;

extern "C" void on_interrupt(int /*signal*/) { g_interrupted = 1; }

void write_line(std::FILE* stream, std::string_view prefix, std::string_view line) {
  std::fwrite(prefix.data(), 1, prefix.size(), stream);
  std::fwrite(line.data(), 1, line.size(), stream);
  std::fputc('\n', stream);
}

}  // namespace

void install_interrupt_handlers() {
  struct sigaction action {};
  action.sa_handler = on_interrupt;
  sigemptyset(&action.sa_mask);
  action.sa_flags = 0;  // no SA_RESTART: a blocked read() returns EINTR
  for (const int signal_number : {SIGINT, SIGTERM, SIGHUP}) {
    sigaction(signal_number, &action, nullptr);
  }
}

bool interrupted() noexcept { return g_interrupted != 0; }

Console::Console(bool text_to_stderr, bool quiet)
    : text_(text_to_stderr ? stderr : stdout),
      text_is_tty_(isatty(text_to_stderr ? STDERR_FILENO : STDOUT_FILENO) == 1),
      quiet_(quiet) {}

TerminalSize Console::text_size() const {
  TerminalSize size;
  winsize window{};
  if (text_is_tty_ && ioctl(fileno(text_), TIOCGWINSZ, &window) == 0 && window.ws_col > 0 &&
      window.ws_row > 0) {
    size.columns = window.ws_col;
    size.rows = window.ws_row;
  }
  return size;
}

void Console::info(std::string_view line) const {
  if (!quiet_) write_line(text_, "", line);
}

void Console::always(std::string_view line) const { write_line(text_, "", line); }

void Console::warn(std::string_view line) const {
  std::fflush(text_);
  write_line(stderr, "warning: ", line);
}

void Console::error(std::string_view line) const {
  std::fflush(text_);
  write_line(stderr, "twostep-enroll: ", line);
}

void Console::secret(const SecretBytes& bytes) const {
  std::fwrite(bytes.data(), 1, bytes.size(), text_);
}

void Console::flush() const {
  std::fflush(text_);
  std::fflush(stderr);
}

namespace {

ReadResult read_line_after(const Console& console, std::string_view prompt) {
  ReadResult result;
  std::fwrite(prompt.data(), 1, prompt.size(), console.text());
  console.flush();
  for (;;) {
    if (interrupted()) {
      result.status = ReadStatus::interrupted;
      return result;
    }
    char byte = 0;
    const ssize_t got = read(STDIN_FILENO, &byte, 1);
    if (got < 0 && errno == EINTR) continue;  // the loop head reports the interrupt
    if (got <= 0) {
      result.status = result.line.empty() ? ReadStatus::end_of_input : ReadStatus::line;
      return result;
    }
    if (byte == '\n') {
      result.status = ReadStatus::line;
      return result;
    }
    if (result.line.size() < kMaxInputLine) result.line.append(static_cast<std::uint8_t>(byte));
  }
}

}  // namespace

ReadResult prompt_line(const Console& console, std::string_view prompt) {
  ReadResult result = read_line_after(console, prompt);
  // Input from a pipe is not echoed: end the prompt line ourselves.
  if (result.status == ReadStatus::line && isatty(STDIN_FILENO) != 1) {
    std::fputc('\n', console.text());
  }
  return result;
}

}  // namespace twostep::enroll
