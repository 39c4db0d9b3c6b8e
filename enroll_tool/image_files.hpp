// QR image files (--png, --svg). They hold the secret, so they are written
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
