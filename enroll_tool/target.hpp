// Whose enrollment, and where its secret file lives.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>

#include "options.hpp"
#include "twostep/result.hpp"
#include "twostep/secret_store.hpp"

namespace twostep::enroll {

struct TargetUser {
  std::string name;
  uid_t uid = 0;
  gid_t gid = 0;
  std::string home;
};

// The invoking user, or --user NAME (only root may name someone else).
Result<TargetUser> resolve_target_user(const std::optional<std::string>& requested);

struct SecretLocation {
  std::string path;
  FileFormat format = FileFormat::native;
  // Who must own the file (reading) and who gets it (writing as root).
  std::optional<uid_t> owner;
  std::optional<gid_t> group;
  bool in_user_home = false;  // inside the target user's home directory
};

// Expands "~" / "~/" / "${HOME}" to the target's home and "${USER}" / "%u"
// to the target's name; the default is ~/.twostep or ~/.google_authenticator.
// Ownership when root writes: --file-owner, or automatically the user for
// files inside their home and root for anything else (a central directory).
Result<SecretLocation> locate_secret_file(const Options& options, const TargetUser& target);

FileExpectations expectations_for(const SecretLocation& location);

// When root manages a user-owned file inside that user's home, every file
// operation runs with the user's filesystem identity (setfsuid/setfsgid), so
// a symlink or directory the user controls cannot point root's writes
// elsewhere. Restored on destruction. Does nothing in every other case.
class ScopedFilesystemIdentity {
 public:
  ScopedFilesystemIdentity(const TargetUser& target, const SecretLocation& location);
  ~ScopedFilesystemIdentity();
  ScopedFilesystemIdentity(const ScopedFilesystemIdentity&) = delete;
  ScopedFilesystemIdentity& operator=(const ScopedFilesystemIdentity&) = delete;
  bool ok() const noexcept { return ok_; }

 private:
  bool switched_ = false;
  bool ok_ = true;
};

// Short host name (up to the first dot), "localhost" if unknown.
std::string short_hostname();

}  // namespace twostep::enroll
