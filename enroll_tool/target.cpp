#include "target.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <utility>

#include "twostep/secret_path.hpp"

namespace twostep::enroll {
namespace {

// A lookup that found nothing is "no such user"; a failed lookup keeps its
// own message (NSS trouble).
Result<TargetUser> found_or_error(Result<std::optional<Account>> looked_up,
                                  const std::string& what) {
  if (!looked_up) return looked_up.error();
  if (!*looked_up) return make_error(ErrorCode::not_found, "no such user: " + what);
  return std::move(**looked_up);
}

// The template as pam_twostep expands it, with enroll's wording around the
// shared checks' messages.
Result<std::string> expand_secret_file(const std::string& path_template,
                                       const TargetUser& target) {
  if (auto valid = validate_secret_path_template(path_template); !valid) {
    return make_error(ErrorCode::invalid_argument,
                      "invalid secret file " + path_template + ": " + valid.error().message);
  }
  auto path = expand_secret_path(path_template, PathContext{target.name, target.home});
  if (!path) {
    return make_error(ErrorCode::invalid_argument, "cannot expand the secret file " +
                                                       path_template + " for " + target.name +
                                                       ": " + path.error().message);
  }
  return path;
}

// Only whether a name exists (lstat, no following): the file itself is
// opened later with every check.
bool path_exists(const std::string& path) {
  struct stat info {};
  return ::lstat(path.c_str(), &info) == 0;
}

bool has_dot_component(std::string_view path) {
  std::size_t start = 0;
  while (start <= path.size()) {
    const std::size_t end = std::min(path.find('/', start), path.size());
    const std::string_view part = path.substr(start, end - start);
    if (part == "." || part == "..") return true;
    start = end + 1;
  }
  return false;
}

bool inside(const std::string& path, const std::string& directory) {
  if (directory.empty() || directory == "/") return false;
  const std::string prefix = directory.ends_with('/') ? directory : directory + "/";
  return path.starts_with(prefix);
}

}  // namespace

Result<TargetUser> resolve_target_user(const std::optional<std::string>& requested) {
  const uid_t uid = getuid();
  auto self = found_or_error(lookup_account_by_uid(uid), "uid " + std::to_string(uid));
  if (!requested || !self) return self;
  if (*requested == self->name) return self;
  if (geteuid() != 0) {
    return make_error(ErrorCode::invalid_argument,
                      "only root may enroll or manage another user (--user " + *requested + ")");
  }
  return found_or_error(lookup_account(*requested), *requested);
}

Result<SecretLocation> locate_secret_file(const Options& options, const TargetUser& target) {
  SecretLocation location;
  location.format = options.format;
  const char* fallback = options.format == FileFormat::native ? "~/.twostep" : "~/.google_authenticator";
  auto path = expand_secret_file(options.secret_file.value_or(fallback), target);
  if (!path) return path.error();
  location.path = std::move(*path);
  // Managing an existing enrollment without --secret-file: find the file the
  // way pam_twostep does, ~/.twostep, else ~/.google_authenticator.
  if (!options.secret_file && options.mode != Mode::wizard &&
      options.format == FileFormat::native && !path_exists(location.path)) {
    auto ga = expand_secret_file("~/.google_authenticator", target);
    if (ga && path_exists(*ga)) {
      location.path = std::move(*ga);
      location.format = FileFormat::google_authenticator;
    }
  }
  // The shared expansion only yields absolute paths; kept as a last guard,
  // everything below depends on it.
  if (location.path.empty() || location.path.front() != '/') {
    return make_error(ErrorCode::invalid_argument,
                      "the secret file must be an absolute path (or start with ~/): " + location.path);
  }
  // "." and ".." would defeat the inside-the-home test that decides
  // ownership and the identity file operations run with.
  if (has_dot_component(location.path)) {
    return make_error(ErrorCode::invalid_argument,
                      "the secret file path must not contain . or .. components: " + location.path);
  }
  const bool root = geteuid() == 0;
  bool user_owns = target.uid == geteuid();
  if (root) {
    switch (options.file_owner) {
      case FileOwner::user: user_owns = true; break;
      case FileOwner::root: user_owns = false; break;
      case FileOwner::automatic: user_owns = inside(location.path, target.home); break;
    }
  }
  location.in_user_home = inside(location.path, target.home);
  location.owner = user_owns ? target.uid : 0;
  location.group = user_owns ? target.gid : 0;
  return location;
}

FileExpectations expectations_for(const SecretLocation& location) {
  FileExpectations expectations;
  expectations.owner = location.owner;
  return expectations;
}

ScopedFilesystemIdentity::ScopedFilesystemIdentity(const TargetUser& target,
                                                   const SecretLocation& location) {
  if (geteuid() != 0 || target.uid == 0 || !location.in_user_home ||
      location.owner != target.uid) {
    return;
  }
  auto assumed = FileAccessIdentity::assume(target.uid, target.gid, target.name);
  if (!assumed) {
    ok_ = false;
    return;
  }
  identity_.emplace(std::move(*assumed));
}

std::string short_hostname() {
  std::array<char, 256> name{};
  if (gethostname(name.data(), name.size() - 1) != 0 || name[0] == '\0') return "localhost";
  std::string host(name.data());
  if (const auto dot = host.find('.'); dot != std::string::npos) host.resize(dot);
  return host.empty() ? "localhost" : host;
}

}  // namespace twostep::enroll
