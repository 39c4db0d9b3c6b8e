// The user's secret file for one login, in one pass: one switch to the file
// owner's identity (their primary group; their supplementary groups, one
// NSS lookup, only where a path refused that), one directory walk, one read and
// parse (the snapshot), then the locked check-and-record on the same
// directory and descriptor, which re-reads only if another login changed
// the file in between.
#pragma once

#include <sys/types.h>

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "twostep/file_identity.hpp"
#include "twostep/result.hpp"
#include "twostep/secret_store.hpp"

namespace twostep::pam {

// Whose file it is: the identity the file is opened, read and replaced with.
struct FileOwner {
  uid_t uid = 0;
  gid_t gid = 0;
  std::string name;  // for the supplementary groups
};

class LoginFile {
 public:
  // Switches to the owner's file system identity (kept until this object
  // ends) and looks for the first of `candidates` that exists.
  static LoginFile open(const std::vector<std::string>& candidates, const FileOwner& owner,
                        bool strict_modes);

  // Why the identity could not be switched (nothing else was tried then).
  const std::optional<Error>& identity_error() const noexcept { return identity_error_; }
  const std::optional<Error>& unsafe_directory() const noexcept { return search_.unsafe_directory; }
  const std::optional<Error>& file_error() const noexcept { return search_.file_error; }
  bool exists() const noexcept { return search_.snapshot || search_.file_error; }
  // The file found (or the first candidate when none exists).
  const std::string& path() const noexcept { return search_.path; }
  uid_t owner_uid() const noexcept { return owner_.uid; }
  // The file as read before the prompt; nullptr when it could not be read.
  const SecretDocument* snapshot() const noexcept {
    return search_.snapshot ? search_.snapshot->document() : nullptr;
  }
  // The format, fixed when the file was read (updates keep it).
  FileFormat format() const noexcept { return format_; }

  // Locks, re-checks against the snapshot, runs `check`, writes when it asks.
  // A file that could not be read reports the same error here.
  Status check_and_record(const std::function<UpdateDecision(SecretDocument&)>& check);

  // Runs `work` with the module's own file system identity (push reads the
  // root-only host secret), then switches back to the owner's.
  Status with_module_identity(const std::function<void()>& work);

 private:
  explicit LoginFile(FileOwner owner) : owner_(std::move(owner)) {}
  Status assume_owner();
  void search(const std::vector<std::string>& candidates, bool strict_modes);

  FileOwner owner_;
  // The groups the owner's identity carries: the primary group, or all of
  // the owner's groups when that was not enough (looked up once).
  std::optional<std::vector<gid_t>> owner_groups_;
  std::optional<FileAccessIdentity> identity_;
  std::optional<Error> identity_error_;
  SecretFileSearch search_;
  FileFormat format_ = FileFormat::native;
};

}  // namespace twostep::pam
