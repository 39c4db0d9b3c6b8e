// QR image files (--png, --svg) and any other output file the admin names.
// They are written (and removed again) with the INVOKING identity, not the
// target user's: the admin chose the path (`--user alice --png
// /root/alice.png` as root writes a root-owned file there), while the secret
// file itself is still written as the target user (ScopedFilesystemIdentity).
// They hold the secret, so they are written
// mode 0600 through an O_EXCL temp file and an atomic rename that refuses to
// replace an existing file unless --force. They are written before the
// confirmation (the user may need them to scan) and removed again unless
// the enrollment completes: an aborted, failed or interrupted run leaves
// nothing behind.
#pragma once

#include <string>
#include <vector>

#include "twostep/result.hpp"
#include "twostep/secret.hpp"

namespace twostep::enroll {

class WrittenFiles {
 public:
  WrittenFiles() = default;
  ~WrittenFiles();
  WrittenFiles(const WrittenFiles&) = delete;
  WrittenFiles& operator=(const WrittenFiles&) = delete;

  Status write(const std::string& path, const SecretBytes& content, bool replace);
  void keep() noexcept { paths_.clear(); }  // the enrollment succeeded

 private:
  std::vector<std::string> paths_;
};

}  // namespace twostep::enroll
