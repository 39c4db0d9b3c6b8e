#include "target.hpp"

#include <pwd.h>
#include <sys/fsuid.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <vector>

namespace twostep::enroll {
namespace {

Result<TargetUser> from_passwd(const passwd* entry, const std::string& what) {
  if (entry == nullptr) return make_error(ErrorCode::not_found, "no such user: " + what);
  TargetUser user;
  user.name = entry->pw_name;
  user.uid = entry->pw_uid;
  user.gid = entry->pw_gid;
  user.home = entry->pw_dir != nullptr ? entry->pw_dir : "";
  return user;
}

Result<TargetUser> lookup_name(const std::string& name) {
  passwd entry{};
  passwd* found = nullptr;
  std::vector<char> buffer(16384);
  getpwnam_r(name.c_str(), &entry, buffer.data(), buffer.size(), &found);
  return from_passwd(found, name);
}

Result<TargetUser> lookup_uid(uid_t uid) {
  passwd entry{};
  passwd* found = nullptr;
  std::vector<char> buffer(16384);
  getpwuid_r(uid, &entry, buffer.data(), buffer.size(), &found);
  return from_passwd(found, "uid " + std::to_string(uid));
}

void replace_all(std::string& text, std::string_view from, const std::string& to) {
  for (std::size_t at = text.find(from); at != std::string::npos;
       at = text.find(from, at + to.size())) {
    text.replace(at, from.size(), to);
  }
}

std::string expand_path(std::string path, const TargetUser& target) {
  if (path == "~" || path.starts_with("~/")) path = target.home + path.substr(1);
  replace_all(path, "${HOME}", target.home);
  replace_all(path, "${USER}", target.name);
  replace_all(path, "%u", target.name);
  return path;
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
  auto self = lookup_uid(getuid());
  if (!requested || !self) return self;
  if (*requested == self->name) return self;
  if (geteuid() != 0) {
    return make_error(ErrorCode::invalid_argument,
                      "only root may enroll or manage another user (--user " + *requested + ")");
  }
  return lookup_name(*requested);
}

Result<SecretLocation> locate_secret_file(const Options& options, const TargetUser& target) {
  SecretLocation location;
  location.format = options.format;
  const char* fallback = options.format == FileFormat::native ? "~/.twostep" : "~/.google_authenticator";
  location.path = expand_path(options.secret_file.value_or(fallback), target);
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
  switched_ = true;
  // setfsuid/setfsgid report the previous value; reading back with an
  // invalid id (-1) tells whether the switch took effect.
  setfsgid(target.gid);
  setfsuid(target.uid);
  const auto invalid = static_cast<uid_t>(-1);
  ok_ = setfsuid(invalid) == static_cast<int>(target.uid) &&
        setfsgid(static_cast<gid_t>(invalid)) == static_cast<int>(target.gid);
}

ScopedFilesystemIdentity::~ScopedFilesystemIdentity() {
  if (!switched_) return;
  setfsuid(0);
  setfsgid(0);
}

std::string short_hostname() {
  std::array<char, 256> name{};
  if (gethostname(name.data(), name.size() - 1) != 0 || name[0] == '\0') return "localhost";
  std::string host(name.data());
  if (const auto dot = host.find('.'); dot != std::string::npos) host.resize(dot);
  return host.empty() ? "localhost" : host;
}

}  // namespace twostep::enroll
