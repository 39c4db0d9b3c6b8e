#include "twostep/account.hpp"

#include <grp.h>
#include <pwd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

namespace twostep {

namespace {
// getpw*_r need a caller buffer; grow on ERANGE up to a fixed cap.
constexpr std::size_t kInitialBuffer = 4096;
constexpr std::size_t kMaxBuffer = 1024 * 1024;
// NGROUPS_MAX on Linux is 65536; bounds what getgrouplist may return.
constexpr int kMaxGroups = 65536;

// Runs `query(entry, buffer, size, found)` (a getpw*_r call) with a growing
// buffer and turns its outcome into an Account.
template <typename Query>
Result<std::optional<Account>> lookup_with(Query query) {
  std::vector<char> buffer(kInitialBuffer);
  for (;;) {
    passwd entry{};
    passwd* found = nullptr;
    const int rc = query(&entry, buffer.data(), buffer.size(), &found);
    if (rc == ERANGE && buffer.size() < kMaxBuffer) {
      buffer.resize(buffer.size() * 2);
      continue;
    }
    if (rc != 0) {
      return make_error(ErrorCode::io, std::string("account lookup failed: ") + std::strerror(rc));
    }
    if (found == nullptr) {
      return std::optional<Account>{};
    }
    return std::optional<Account>{Account{entry.pw_name, entry.pw_uid, entry.pw_gid,
                                          entry.pw_dir != nullptr ? entry.pw_dir : ""}};
  }
}

}  // namespace

Result<std::optional<Account>> lookup_account(std::string_view name) {
  if (name.empty() || name.find('\0') != std::string_view::npos) {
    return std::optional<Account>{};
  }
  const std::string name_z(name);
  return lookup_with([&name_z](passwd* entry, char* buffer, std::size_t size, passwd** found) {
    return getpwnam_r(name_z.c_str(), entry, buffer, size, found);
  });
}

Result<std::optional<Account>> lookup_account_by_uid(uid_t uid) {
  return lookup_with([uid](passwd* entry, char* buffer, std::size_t size, passwd** found) {
    return getpwuid_r(uid, entry, buffer, size, found);
  });
}

Result<std::vector<gid_t>> groups_of(std::string_view user_name, gid_t gid) {
  if (user_name.empty()) return std::vector<gid_t>{gid};
  const std::string name(user_name);
  int count = 32;
  std::vector<gid_t> groups;
  for (;;) {
    groups.resize(static_cast<std::size_t>(count));
    int found = count;
    if (::getgrouplist(name.c_str(), gid, groups.data(), &found) >= 0) {
      groups.resize(static_cast<std::size_t>(found));
      return groups;
    }
    if (found <= count || found > kMaxGroups) {
      return make_error(ErrorCode::invalid_argument, "cannot list the groups of " + name);
    }
    count = found;
  }
}

Result<std::optional<gid_t>> lookup_group(std::string_view name) {
  if (name.empty() || name.find('\0') != std::string_view::npos) return std::optional<gid_t>{};
  const std::string name_z(name);
  std::vector<char> buffer(kInitialBuffer);
  for (;;) {
    group entry{};
    group* found = nullptr;
    const int rc = getgrnam_r(name_z.c_str(), &entry, buffer.data(), buffer.size(), &found);
    if (rc == ERANGE && buffer.size() < kMaxBuffer) {
      buffer.resize(buffer.size() * 2);
      continue;
    }
    if (rc != 0) {
      return make_error(ErrorCode::io, std::string("group lookup failed: ") + std::strerror(rc));
    }
    if (found == nullptr) return std::optional<gid_t>{};
    return std::optional<gid_t>{entry.gr_gid};
  }
}

}  // namespace twostep
