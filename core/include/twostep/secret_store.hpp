// Safe reading and locked, atomic updating of secret files.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <optional>
#include <string>

#include "twostep/result.hpp"
#include "twostep/secret_file.hpp"

namespace twostep {

struct FileExpectations {
  // The file must be owned by this uid (nullopt: by the effective uid).
  std::optional<uid_t> owner;
  std::chrono::milliseconds lock_timeout{3000};
};

// What the update callback decides after looking at / changing the document.
enum class UpdateDecision { write, keep };

// Opens `path` with O_NOFOLLOW|O_CLOEXEC|O_NOCTTY, checks with fstat (regular
// file, expected owner, no group/other write, no group/other read, nlink == 1),
// takes an exclusive lock on the file itself (bounded wait; re-checks that the
// path still names the locked inode, so a concurrent rename cannot hand two
// processes the same old state), parses it and calls `update`. If the callback
// returns `write`, the new content goes to a temp file (O_EXCL, 0600, same
// owner and directory), is fsynced, renamed over the original, and the
// directory is fsynced. On any failure the original file is left untouched,
// the temp file removed, and an Error returned. Never truncates or deletes
// the original.
Status lock_and_update_secret_file(
    const std::string& path, const FileExpectations& expectations,
    const std::function<UpdateDecision(SecretDocument&)>& update);

// Read-only: same checks, shared lock, parse.
Result<SecretDocument> read_secret_file(const std::string& path,
                                        const FileExpectations& expectations);

// Creates a new file (fails if it exists unless `replace`), atomically, same
// temp+fsync+rename discipline; mode 0600; chowns to `owner` when running as
// root. Used by twostep-enroll.
Status create_secret_file(const std::string& path, const SecretDocument& document,
                          bool replace, std::optional<uid_t> owner = std::nullopt,
                          std::optional<gid_t> group = std::nullopt);

}  // namespace twostep
