#include "account.hpp"

#include <pwd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

namespace twostep::pam {

namespace {
// getpwnam_r needs a caller buffer; grow on ERANGE up to a fixed cap.
constexpr std::size_t kInitialBuffer = 4096;
constexpr std::size_t kMaxBuffer = 1024 * 1024;
}  // namespace

Result<std::optional<Account>> lookup_account(std::string_view name) {
  if (name.empty() || name.find('\0') != std::string_view::npos) {
    return std::optional<Account>{};
  }
  const std::string name_z(name);
  std::vector<char> buffer(kInitialBuffer);
  for (;;) {
    passwd entry{};
    passwd* found = nullptr;
    const int rc = getpwnam_r(name_z.c_str(), &entry, buffer.data(), buffer.size(), &found);
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

}  // namespace twostep::pam
