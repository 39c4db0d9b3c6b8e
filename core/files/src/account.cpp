#include "twostep/account.hpp"

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

}  // namespace twostep
