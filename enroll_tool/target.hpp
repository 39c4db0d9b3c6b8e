// Whose enrollment, and where its secret file lives.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>

#include "options.hpp"
#include "twostep/account.hpp"
#include "twostep/file_identity.hpp"
#include "twostep/result.hpp"
#include "twostep/secret_store.hpp"

namespace twostep::enroll {

// name, uid, gid, home (looked up with twostep::lookup_account*).
using TargetUser = Account;

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

// Expands --secret-file like pam_twostep's secret= (twostep/secret_path.hpp:
// ~, ${HOME}, %h to the target's home, ${USER}, %u to its name, %% to %), so
// one template names the same file in both; the default is ~/.twostep or
// ~/.google_authenticator. The result must not contain . or .. components.
// Ownership when root writes: --file-owner, or automatically the user for
// files inside their home and root for anything else (a central directory).
Result<SecretLocation> locate_secret_file(const Options& options, const TargetUser& target);

FileExpectations expectations_for(const SecretLocation& location);

// When root manages a user-owned file inside that user's home, every file
// operation runs with the user's filesystem identity (setfsuid/setfsgid), so
// a symlink or directory the user controls cannot point root's writes
// elsewhere (twostep::FileAccessIdentity). Restored on destruction. Does
// nothing in every other case.
class ScopedFilesystemIdentity {
 public:
  ScopedFilesystemIdentity(const TargetUser& target, const SecretLocation& location);
  ScopedFilesystemIdentity(const ScopedFilesystemIdentity&) = delete;
  ScopedFilesystemIdentity& operator=(const ScopedFilesystemIdentity&) = delete;
  bool ok() const noexcept { return ok_; }

 private:
  std::optional<FileAccessIdentity> identity_;  // set while switched
  bool ok_ = true;
};

// Short host name (up to the first dot), "localhost" if unknown.
std::string short_hostname();

}  // namespace twostep::enroll
