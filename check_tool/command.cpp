#include "command.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <chrono>

extern char** environ;

namespace twostep::check {
namespace {

// One pipe end, closed on scope exit.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { reset(); }
  int get() const noexcept { return fd_; }
  void adopt(int fd) noexcept {
    reset();
    fd_ = fd;
  }
  void reset() noexcept {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
};

struct Pipe {
  Fd read;
  Fd write;
  bool open() {
    std::array<int, 2> fds{};
    if (::pipe2(fds.data(), O_CLOEXEC) != 0) return false;
    read.adopt(fds[0]);
    write.adopt(fds[1]);
    return true;
  }
};

class SpawnActions {
 public:
  SpawnActions() { posix_spawn_file_actions_init(&actions_); }
  SpawnActions(const SpawnActions&) = delete;
  SpawnActions& operator=(const SpawnActions&) = delete;
  ~SpawnActions() { posix_spawn_file_actions_destroy(&actions_); }
  posix_spawn_file_actions_t* get() { return &actions_; }

 private:
  posix_spawn_file_actions_t actions_{};
};

// Reads both pipes until they close or the deadline passes.
bool drain(Fd& out_fd, Fd& err_fd, CommandOutput& output) {
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::milliseconds(kCommandTimeoutMs);
  std::array<char, 4096> buffer{};
  while (out_fd.get() >= 0 || err_fd.get() >= 0) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    std::array<pollfd, 2> fds{pollfd{out_fd.get(), POLLIN, 0}, pollfd{err_fd.get(), POLLIN, 0}};
    if (::poll(fds.data(), fds.size(), static_cast<int>(left.count())) < 0) return false;
    for (std::size_t i = 0; i < fds.size(); ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      Fd& fd = i == 0 ? out_fd : err_fd;
      std::string& text = i == 0 ? output.out : output.err;
      const ssize_t got = ::read(fd.get(), buffer.data(), buffer.size());
      if (got <= 0) {
        fd.reset();
        continue;
      }
      if (text.size() < kMaxCommandOutput) text.append(buffer.data(), static_cast<std::size_t>(got));
    }
  }
  return true;
}

}  // namespace

std::optional<CommandOutput> run_command(const std::vector<std::string>& argv) {
  if (argv.empty()) return std::nullopt;
  Pipe out, err;
  if (!out.open() || !err.open()) return std::nullopt;
  SpawnActions actions;
  posix_spawn_file_actions_adddup2(actions.get(), out.write.get(), 1);
  posix_spawn_file_actions_adddup2(actions.get(), err.write.get(), 2);
  posix_spawn_file_actions_addopen(actions.get(), 0, "/dev/null", O_RDONLY, 0);
  std::vector<char*> args;
  args.reserve(argv.size() + 1);
  for (const auto& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));  // NOLINT
  args.push_back(nullptr);
  pid_t pid = 0;
  if (::posix_spawnp(&pid, args[0], actions.get(), nullptr, args.data(), environ) != 0) {
    return std::nullopt;
  }
  out.write.reset();
  err.write.reset();
  CommandOutput output;
  if (!drain(out.read, err.read, output)) ::kill(pid, SIGKILL);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  output.exit_status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  if (output.exit_status == 127 && output.out.empty()) return std::nullopt;  // not found
  return output;
}

}  // namespace twostep::check
