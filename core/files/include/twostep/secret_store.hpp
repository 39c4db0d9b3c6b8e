// Safe reading and locked, atomic updating of secret files.
//
// Every change to a secret file, from the PAM module or from twostep-enroll,
// goes through this file: it takes the exclusive lock on the existing file,
// checks that the path still names the locked file, and renames or unlinks
// while it holds the lock. All file operations are relative to the file's
// directory, opened once (O_DIRECTORY|O_NOFOLLOW, every component walked
// without following symlinks), so swapping a directory mid-login cannot
// redirect them.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include "twostep/result.hpp"
#include "twostep/secret_file.hpp"

namespace twostep {

struct FileExpectations {
  // The file must be owned by this uid (nullopt: by the effective uid).
  std::optional<uid_t> owner;
  std::chrono::milliseconds lock_timeout{3000};
  // Strict modes (as sshd's StrictModes): the file's directory and each of
  // its parents up to / must be owned by root or by `owner`, and must not be
  // writable by group or others unless root-owned with the sticky bit (/tmp).
  // Someone who can write the directory can delete, rename or roll back the
  // file. pam_twostep's no_strict_modes argument turns this off.
  bool strict_modes = true;
};

// What the update callback decides after looking at / changing the document.
enum class UpdateDecision { write, keep };

// How much of the existing file a replacing or removing writer checks.
enum class ExistingFileCheck {
  full,          // owner, mode, nlink, as for reading
  regular_file,  // only that it is a regular file (twostep-enroll --force)
};

// Strict modes alone (see FileExpectations::strict_modes), for the
// directory that holds `path`, whether or not the file exists. Used by the
// PAM module before it decides that a missing file means "not enrolled".
// Errors: unsafe_file (message names the directory and why), not_found (a
// directory is missing), io.
Status check_secret_directories(const std::string& path, const FileExpectations& expectations);

// ---- One login's pass over one file (pam_twostep) ----------------------------

// A secret file read once: its directory (walked once, strict modes) and the
// file descriptor stay open, so the locked update needs no second walk and,
// when nothing changed in between, no second read or parse.
class SecretFileSnapshot {
 public:
  struct State;  // opaque
  explicit SecretFileSnapshot(std::unique_ptr<State> state);
  SecretFileSnapshot(SecretFileSnapshot&&) noexcept;
  SecretFileSnapshot& operator=(SecretFileSnapshot&&) noexcept;
  ~SecretFileSnapshot();

  // The document as read; nullptr once an update has used it.
  const SecretDocument* document() const noexcept;
  const std::string& path() const noexcept;

  // As lock_and_update_secret_file, in the kept directory: takes the
  // exclusive lock on the descriptor that was read; if the path still names
  // it and its size, mtime and ctime are unchanged, the document read before
  // is handed to `update` (no second read); otherwise (another login wrote
  // it meanwhile, or this is a second update) the file is opened, locked and
  // parsed again. Same checks, same atomic write, same errors.
  Status lock_and_update(const std::function<UpdateDecision(SecretDocument&)>& update);

 private:
  std::unique_ptr<State> state_;
};

// Where the first existing file of `paths` is (a login's secret= path, then
// the google-authenticator fallback; paths in one directory share one walk).
struct SecretFileSearch {
  std::optional<SecretFileSnapshot> snapshot;  // read and parsed (no lock taken)
  std::string path;                            // the file found, else paths[0]
  // Strict modes refused a directory (or it could not be walked); checked
  // for every candidate before any file is looked at, since a missing file
  // in a directory others can write may have been deleted by them.
  std::optional<Error> unsafe_directory;
  // The file exists but is unsafe, unreadable or malformed.
  std::optional<Error> file_error;
};
// Nothing of the three set: no file exists (every directory passed).
SecretFileSearch find_secret_file(std::span<const std::string> paths,
                                  const FileExpectations& expectations);

// ---- Configuration the module trusts (push.conf, the host secret) ----------------

struct TrustedFileRules {
  const char* what = "file";  // for messages: "push config", "host secret"
  std::size_t max_bytes = 0;
  mode_t forbidden_bits = 022;  // 022: not writable by others; 077: no access at all
  // The file's owner: root, or this process's effective uid (a non-root
  // caller such as twostep-enroll may also read its own files).
  std::optional<uid_t> owner;   // set: exactly this uid instead
};
// Reads a small file whose content decides who logs in: strict modes for
// every directory from / (owned by root or the effective uid, not writable
// by group or others unless root-owned and sticky), O_NOFOLLOW, a regular
// file, the owner and mode above, at most max_bytes. Errors name the file,
// what it is, and why (unsafe_file, not_found, too_large, io).
Result<SecretBytes> read_trusted_file(const std::string& path, const TrustedFileRules& rules);

// ---- Single operations (twostep-enroll, tests) ---------------------------------

// Opens `path` with O_NOFOLLOW|O_CLOEXEC|O_NOCTTY relative to its directory,
// checks with fstat (regular file, expected owner, no group/other access,
// nlink == 1), takes an exclusive lock on the file itself (bounded wait;
// re-checks that the path still names the locked inode, so a concurrent
// rename cannot hand two processes the same old state), parses it and calls
// `update`. If the callback returns `write`, the new content goes to an
// unnamed temp file (O_TMPFILE; a named one where the file system lacks it)
// with the same owner, mode, SELinux label and ACL, is fsynced, given a name
// only once complete, renamed over the original while the lock is held, and
// the directory is fsynced. Temp files left by killed writers are removed
// under the lock. On any failure the original file is left untouched and an
// Error returned. Never truncates or deletes the original.
Status lock_and_update_secret_file(
    const std::string& path, const FileExpectations& expectations,
    const std::function<UpdateDecision(SecretDocument&)>& update);

// Read-only: same checks, shared lock, parse.
Result<SecretDocument> read_secret_file(const std::string& path,
                                        const FileExpectations& expectations);

// Creates a new file, atomically, with the same temp+fsync+link discipline;
// mode 0600; chowns to `owner`/`group` when running as root. Fails if the
// file exists unless `replace`; with `replace`, an existing file is replaced
// under its exclusive lock like an update (only its being a regular file is
// checked), so a login in progress cannot write the old key back. Strict
// modes apply to the directory (expected owner: `owner`, else the euid).
// Used by twostep-enroll.
Status create_secret_file(const std::string& path, const SecretDocument& document,
                          bool replace, std::optional<uid_t> owner = std::nullopt,
                          std::optional<gid_t> group = std::nullopt);

// Deletes the file under its exclusive lock (twostep-enroll --remove), so a
// login that holds the lock cannot bring it back. not_found if it does not
// exist.
Status remove_secret_file(const std::string& path, const FileExpectations& expectations,
                          ExistingFileCheck check = ExistingFileCheck::full);

}  // namespace twostep
