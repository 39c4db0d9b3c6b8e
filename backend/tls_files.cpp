#include "tls_files.hpp"

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <vector>

namespace twostep::relay {
namespace {

std::string user_name(uid_t uid) {
  std::vector<char> buf(4096);
  passwd pw{};
  passwd* found = nullptr;
  if (getpwuid_r(uid, &pw, buf.data(), buf.size(), &found) == 0 && found != nullptr) {
    return found->pw_name;
  }
  return "uid " + std::to_string(uid);
}

std::string group_name(gid_t gid) {
  std::vector<char> buf(4096);
  group gr{};
  group* found = nullptr;
  if (getgrgid_r(gid, &gr, buf.data(), buf.size(), &found) == 0 && found != nullptr) {
    return found->gr_name;
  }
  return "gid " + std::to_string(gid);
}

std::string errno_text(int err) {
  const char* name = strerrorname_np(err);
  return std::string(std::strerror(err)) + " (" + (name != nullptr ? name : "errno") + " " +
         std::to_string(err) + ")";
}

std::string octal_mode(mode_t mode) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%04o", static_cast<unsigned>(mode & 07777));
  return buf;
}

}  // namespace

std::string tls_file_problem(const char* what, const std::string& path, bool secret) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd >= 0) {
    ::close(fd);
    return {};
  }
  const int err = errno;
  const std::string me = user_name(geteuid());
  const std::string my_group = group_name(getegid());
  std::string line = "cannot read " + std::string(what) + " " + path + ": " + errno_text(err);
  if (err == ENOENT) return line + "; correct " + what + " in the configuration";
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0) {
    line += "; the file is owner " + user_name(st.st_uid) + ":" + group_name(st.st_gid) +
            " mode " + octal_mode(st.st_mode);
  } else {
    line += "; a directory above it is not searchable by " + me;
  }
  line += "; twostepd runs as " + me + " (group " + my_group + "): ";
  if (secret) {
    line += "make it owner root:" + my_group + " mode 0640 (chown root:" + my_group + " " + path +
            "; chmod 0640 " + path + "), or owner " + me + " mode 0600";
  } else {
    line += "make it mode 0644 (chmod 0644 " + path + ")";
  }
  return line + ", and every directory above it searchable (x) by " + me;
}

}  // namespace twostep::relay
