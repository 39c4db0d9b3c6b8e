#include "login_context.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <arpa/inet.h>

#include <array>

#include "twostep/display_text.hpp"
#include "twostep/push_login.hpp"

namespace twostep::pam {
namespace {

std::string base_name(std::string_view path) {
  const auto slash = path.rfind('/');
  return std::string(slash == std::string_view::npos ? path : path.substr(slash + 1));
}

std::string read_link(const std::string& path) {
  std::array<char, 4096> buffer{};
  const ssize_t n = ::readlink(path.c_str(), buffer.data(), buffer.size());
  if (n <= 0 || static_cast<std::size_t>(n) >= buffer.size()) return {};
  return std::string(buffer.data(), static_cast<std::size_t>(n));
}

// The NUL-separated argument vector; a vector cut at the cap keeps its
// whole arguments and marks the cut.
std::vector<std::string> read_cmdline(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) return {};
  std::string bytes;
  std::array<char, 4096> buffer{};
  while (bytes.size() < kMaxCmdlineBytes) {
    const ssize_t n = ::read(fd, buffer.data(), buffer.size());
    if (n <= 0) break;
    bytes.append(buffer.data(), static_cast<std::size_t>(n));
  }
  ::close(fd);
  const bool cut = bytes.size() > kMaxCmdlineBytes;
  if (cut) bytes.resize(kMaxCmdlineBytes);
  std::vector<std::string> arguments;
  std::size_t start = 0;
  while (start < bytes.size()) {
    const auto end = bytes.find('\0', start);
    if (end == std::string::npos) break;  // the partial last one of a cut vector
    arguments.push_back(bytes.substr(start, end - start));
    start = end + 1;
  }
  if (cut) arguments.push_back("\xe2\x80\xa6");
  return arguments;
}

bool needs_quotes(std::string_view word) {
  if (word.empty()) return true;
  for (const char c : word) {
    const bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                       std::string_view("-_./=:,+@%").find(c) != std::string_view::npos ||
                       (static_cast<unsigned char>(c) & 0x80) != 0;
    if (!plain) return true;
  }
  return false;
}

// "this computer" and "this network" need no database; the rest is the
// push client's lookup (libmaxminddb), only for an address literal.
bool is_address(const std::string& rhost) {
  std::array<unsigned char, 16> bytes{};
  return ::inet_pton(AF_INET, rhost.c_str(), bytes.data()) == 1 ||
         ::inet_pton(AF_INET6, rhost.c_str(), bytes.data()) == 1;
}

}  // namespace

RunningProgram running_program(const std::string& proc_self) {
  return RunningProgram{read_link(proc_self + "/exe"), read_cmdline(proc_self + "/cmdline")};
}

std::string shell_words(const std::vector<std::string>& arguments) {
  std::string line;
  for (const std::string& word : arguments) {
    if (!line.empty()) line += ' ';
    if (!needs_quotes(word) || word == "\xe2\x80\xa6") {
      line += word;
      continue;
    }
    line += '\'';
    for (const char c : word) line += c == '\'' ? std::string("'\\''") : std::string(1, c);
    line += '\'';
  }
  return line;
}

push::SignedContext login_context(const AuthRequest& request, const RunningProgram& program,
                                  PushTransport& transport) {
  push::SignedContext context;
  const std::string name = base_name(program.executable);
  if (name == "sudo" && !program.arguments.empty()) {
    // argv[0] as its file name: "sudoedit" behaves differently from "sudo".
    std::vector<std::string> words = program.arguments;
    words.front() = base_name(words.front());
    context.command = cut_display_text(push::relay_text(shell_words(words)), push::kMaxCommandBytes);
  } else if (name == "su") {
    context.target_user = cut_display_text(push::relay_text(request.user), push::kMaxTargetUserBytes);
  }
  if (is_address(request.rhost)) {
    context.location =
        cut_display_text(push::relay_text(transport.locate(request.rhost)), push::kMaxLocationBytes);
  }
  return context;
}

}  // namespace twostep::pam
