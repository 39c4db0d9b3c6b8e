#include "image_files.hpp"

#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <optional>

#include "twostep/file_identity.hpp"

namespace twostep::enroll {
namespace {

Error io_error(const std::string& what, const std::string& path) {
  return make_error(ErrorCode::io, what + " " + path + ": " + std::strerror(errno));
}

// Owns a temp file until it is renamed into place.
class TempFile {
 public:
  explicit TempFile(std::string pattern) : path_(std::move(pattern)) {
    fd_ = mkostemp(path_.data(), O_CLOEXEC);  // O_EXCL, mode 0600
    if (fd_ < 0) path_.clear();
  }
  ~TempFile() {
    if (fd_ >= 0) close(fd_);
    if (!path_.empty()) unlink(path_.c_str());
  }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;

  bool ok() const noexcept { return fd_ >= 0; }
  int fd() const noexcept { return fd_; }
  const std::string& path() const noexcept { return path_; }
  int close_fd() noexcept {
    const int rc = close(fd_);
    fd_ = -1;
    return rc;
  }
  void release() noexcept { path_.clear(); }  // renamed: nothing to remove

 private:
  std::string path_;
  int fd_ = -1;
};

bool write_all(int fd, const SecretBytes& content) {
  std::size_t done = 0;
  while (done < content.size()) {
    const ssize_t n = ::write(fd, content.data() + done, content.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<std::size_t>(n);
  }
  return true;
}

// The invoking identity (effective uid/gid) for file system access, while a
// ScopedFilesystemIdentity may have switched to the target user's.
Result<FileAccessIdentity> as_invoker() { return FileAccessIdentity::assume(geteuid(), getegid()); }

}  // namespace

WrittenFiles::~WrittenFiles() {
  if (paths_.empty()) return;
  auto invoker = as_invoker();
  for (const std::string& path : paths_) unlink(path.c_str());
}

Status WrittenFiles::write(const std::string& path, const SecretBytes& content, bool replace) {
  auto invoker = as_invoker();
  if (!invoker) return invoker.error();
  TempFile temp(path + ".XXXXXX");
  if (!temp.ok()) return io_error("cannot create a temporary file next to", path);
  if (fchmod(temp.fd(), 0600) != 0) return io_error("cannot set the mode of", temp.path());
  if (!write_all(temp.fd(), content)) return io_error("cannot write", temp.path());
  if (fsync(temp.fd()) != 0) return io_error("cannot sync", temp.path());
  if (temp.close_fd() != 0) return io_error("cannot close", temp.path());
  const unsigned flags = replace ? 0u : RENAME_NOREPLACE;
  if (renameat2(AT_FDCWD, temp.path().c_str(), AT_FDCWD, path.c_str(), flags) != 0) {
    if (errno == EEXIST) {
      return make_error(ErrorCode::invalid_argument,
                        path + " already exists; use --force to replace it");
    }
    return io_error("cannot rename a temporary file to", path);
  }
  temp.release();
  paths_.push_back(path);
  return {};
}

}  // namespace twostep::enroll
