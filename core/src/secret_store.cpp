// Safe opening, locking and atomic replacement of secret files.
#include "twostep/secret_store.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <system_error>
#include <thread>
#include <vector>

namespace twostep {
namespace {

// Each retry means another process replaced the file (a finished login), so
// this only bounds pathological churn; lock_timeout bounds the time.
constexpr int kMaxOpenAttempts = 1000;
constexpr std::chrono::milliseconds kLockRetryDelay{2};

// One owner of a file descriptor.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  ~UniqueFd() { reset(); }
  UniqueFd(UniqueFd&& other) noexcept : fd_(other.release()) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) {
      reset();
      fd_ = other.release();
    }
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;

  int get() const noexcept { return fd_; }
  bool valid() const noexcept { return fd_ >= 0; }
  int release() noexcept {
    const int fd = fd_;
    fd_ = -1;
    return fd;
  }
  void reset() noexcept {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
};

// A temp file next to the target; removed unless committed by rename.
class TempFile {
 public:
  TempFile() = default;
  ~TempFile() {
    if (!path_.empty()) ::unlink(path_.c_str());
  }
  TempFile(TempFile&& other) noexcept
      : path_(std::move(other.path_)), fd_(std::move(other.fd_)) {
    other.path_.clear();
  }
  TempFile& operator=(TempFile&&) = delete;
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;

  static Result<TempFile> create_next_to(const std::string& target);
  int fd() const noexcept { return fd_.get(); }
  const std::string& path() const noexcept { return path_; }
  void committed() noexcept { path_.clear(); }  // renamed: nothing to remove
  void close() noexcept { fd_.reset(); }

 private:
  std::string path_;
  UniqueFd fd_;
};

std::string errno_text(int error) { return std::generic_category().message(error); }

Error io_error(const std::string& what, const std::string& path, int error) {
  return make_error(ErrorCode::io, what + " " + path + ": " + errno_text(error));
}

std::string directory_of(const std::string& path) {
  const auto slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

std::string basename_of(const std::string& path) {
  const auto slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

Result<TempFile> TempFile::create_next_to(const std::string& target) {
  const std::string name = directory_of(target) + "/." + basename_of(target) + ".XXXXXX";
  std::vector<char> buffer(name.begin(), name.end());
  buffer.push_back('\0');
  // mkostemp: O_CREAT|O_EXCL, mode 0600.
  const int fd = ::mkostemp(buffer.data(), O_CLOEXEC);
  if (fd < 0) return io_error("cannot create a temp file for", target, errno);
  TempFile temp;
  temp.fd_ = UniqueFd(fd);
  temp.path_ = buffer.data();
  return temp;
}

Status write_all(int fd, const SecretBytes& content, const std::string& path) {
  std::size_t done = 0;
  while (done < content.size()) {
    const ssize_t n = ::write(fd, content.data() + done, content.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return io_error("cannot write temp file for", path, errno);
    }
    if (n == 0) return io_error("cannot write temp file for", path, EIO);
    done += static_cast<std::size_t>(n);
  }
  return {};
}

Status fsync_directory(const std::string& path) {
  const std::string dir = directory_of(path);
  UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd.valid()) return io_error("cannot open directory", dir, errno);
  if (::fsync(fd.get()) != 0) return io_error("cannot fsync directory", dir, errno);
  return {};
}

struct Ownership {
  mode_t mode = 0600;
  std::optional<uid_t> uid;
  std::optional<gid_t> gid;
};

// Fills a fresh temp file next to `path` and makes it durable; the caller
// renames it into place.
Result<TempFile> write_temp_file(const std::string& path, const SecretBytes& content,
                                 const Ownership& ownership) {
  auto temp = TempFile::create_next_to(path);
  if (!temp) return temp.error();
  if (::fchmod(temp->fd(), ownership.mode) != 0) {
    return io_error("cannot chmod temp file for", path, errno);
  }
  if (ownership.uid || ownership.gid) {
    const uid_t uid = ownership.uid ? *ownership.uid : static_cast<uid_t>(-1);
    const gid_t gid = ownership.gid ? *ownership.gid : static_cast<gid_t>(-1);
    if (::fchown(temp->fd(), uid, gid) != 0) {
      return io_error("cannot chown temp file for", path, errno);
    }
  }
  auto written = write_all(temp->fd(), content, path);
  if (!written) return written.error();
  if (::fsync(temp->fd()) != 0) return io_error("cannot fsync temp file for", path, errno);
  temp->close();
  return std::move(*temp);
}

// ---- opening and locking ---------------------------------------------------

std::string octal_mode(mode_t mode) {
  std::array<char, 8> text{};
  std::snprintf(text.data(), text.size(), "%04o", static_cast<unsigned>(mode & 07777));
  return text.data();
}

Status check_file(const struct stat& st, const std::string& path,
                  const FileExpectations& expectations) {
  const uid_t owner = expectations.owner.value_or(::geteuid());
  if (!S_ISREG(st.st_mode)) {
    return make_error(ErrorCode::unsafe_file, path + " is not a regular file");
  }
  if (st.st_uid != owner) {
    return make_error(ErrorCode::unsafe_file, path + " is owned by uid " +
                                                  std::to_string(st.st_uid) + ", expected " +
                                                  std::to_string(owner));
  }
  if ((st.st_mode & 077) != 0) {
    return make_error(ErrorCode::unsafe_file,
                      path + " is accessible by group or others (mode " +
                          octal_mode(st.st_mode) + "); it must be 0600 or 0400");
  }
  if (st.st_nlink != 1) {
    return make_error(ErrorCode::unsafe_file,
                      path + " has " + std::to_string(st.st_nlink) + " hard links");
  }
  return {};
}

struct OpenedFile {
  UniqueFd fd;
  struct stat st {};
};

Result<OpenedFile> open_checked(const std::string& path, const FileExpectations& expectations) {
  // O_NONBLOCK: a FIFO planted at the path must not hang the login.
  OpenedFile file;
  file.fd = UniqueFd(
      ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK));
  if (!file.fd.valid()) {
    const int error = errno;
    if (error == ENOENT) return make_error(ErrorCode::not_found, path + " does not exist");
    if (error == ELOOP) return make_error(ErrorCode::unsafe_file, path + " is a symlink");
    return io_error("cannot open", path, error);
  }
  if (::fstat(file.fd.get(), &file.st) != 0) return io_error("cannot stat", path, errno);
  // nlink 0: renamed over since we opened it; the caller notices and retries.
  if (file.st.st_nlink == 0) return file;
  auto checked = check_file(file.st, path, expectations);
  if (!checked) return checked.error();
  return file;
}

Status lock_file(int fd, int operation, const std::string& path,
                 std::chrono::steady_clock::time_point deadline,
                 std::chrono::milliseconds timeout) {
  for (;;) {
    if (::flock(fd, operation | LOCK_NB) == 0) return {};
    const int error = errno;
    if (error == EINTR) continue;
    if (error != EWOULDBLOCK) return io_error("cannot lock", path, error);
    if (std::chrono::steady_clock::now() >= deadline) {
      return make_error(ErrorCode::lock_timeout,
                        path + " is locked by another process (waited " +
                            std::to_string(timeout.count()) + " ms)");
    }
    std::this_thread::sleep_for(kLockRetryDelay);
  }
}

// True when `path` still names the inode we hold open and locked.
bool still_at_path(const std::string& path, const struct stat& opened) {
  struct stat now {};
  if (::lstat(path.c_str(), &now) != 0) return false;
  return now.st_dev == opened.st_dev && now.st_ino == opened.st_ino;
}

// Opens, checks and locks; retries when a concurrent writer renamed a new
// file over the path between our open and our lock. The whole wait, retries
// included, is bounded by lock_timeout.
Result<OpenedFile> open_and_lock(const std::string& path, const FileExpectations& expectations,
                                 int operation) {
  const auto deadline = std::chrono::steady_clock::now() + expectations.lock_timeout;
  for (int attempt = 0; attempt < kMaxOpenAttempts; ++attempt) {
    auto file = open_checked(path, expectations);
    if (!file) return file.error();
    auto locked =
        lock_file(file->fd.get(), operation, path, deadline, expectations.lock_timeout);
    if (!locked) return locked.error();
    if (!still_at_path(path, file->st)) continue;
    // Checked again under the lock: a link may have been added meanwhile.
    if (::fstat(file->fd.get(), &file->st) != 0) return io_error("cannot stat", path, errno);
    auto checked = check_file(file->st, path, expectations);
    if (!checked) return checked.error();
    return file;
  }
  return make_error(ErrorCode::io, path + " kept being replaced while locking it");
}

Result<SecretBytes> read_limited(int fd, const std::string& path) {
  SecretBytes content;
  std::array<std::uint8_t, 4096> buffer{};
  for (;;) {
    const ssize_t n = ::read(fd, buffer.data(), buffer.size());
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      wipe(buffer.data(), buffer.size());
      return io_error("cannot read", path, errno);
    }
    if (n == 0) break;
    content.append(std::string_view(reinterpret_cast<const char*>(buffer.data()),
                                    static_cast<std::size_t>(n)));
    if (content.size() > kMaxSecretFileBytes) {
      wipe(buffer.data(), buffer.size());
      return make_error(ErrorCode::too_large, path + " is larger than " +
                                                  std::to_string(kMaxSecretFileBytes) + " bytes");
    }
  }
  wipe(buffer.data(), buffer.size());
  return content;
}

Result<SecretDocument> read_and_parse(const OpenedFile& file, const std::string& path) {
  auto content = read_limited(file.fd.get(), path);
  if (!content) return content.error();
  auto document = parse_secret_document(content->view());
  if (!document) {
    return make_error(document.error().code, path + ": " + document.error().message);
  }
  return document;
}

Status replace_with(const std::string& path, const SecretBytes& content,
                    const struct stat& original) {
  Ownership ownership;
  ownership.mode = original.st_mode & 0600;
  if (::geteuid() == 0) {
    ownership.uid = original.st_uid;
    ownership.gid = original.st_gid;
  }
  auto temp = write_temp_file(path, content, ownership);
  if (!temp) return temp.error();
  if (::rename(temp->path().c_str(), path.c_str()) != 0) {
    return io_error("cannot rename temp file over", path, errno);
  }
  temp->committed();
  return fsync_directory(path);
}

// Moves `temp` to `path` unless something exists there.
Status rename_no_replace(TempFile& temp, const std::string& path) {
  if (::renameat2(AT_FDCWD, temp.path().c_str(), AT_FDCWD, path.c_str(), RENAME_NOREPLACE) ==
      0) {
    temp.committed();
    return {};
  }
  int error = errno;
  if (error == EINVAL || error == ENOSYS) {
    // File systems without RENAME_NOREPLACE: link() also refuses to replace.
    if (::link(temp.path().c_str(), path.c_str()) == 0) return {};  // temp unlinked by owner
    error = errno;
  }
  if (error == EEXIST) {
    return make_error(ErrorCode::invalid_argument, path + " already exists");
  }
  return io_error("cannot move temp file to", path, error);
}

}  // namespace

Status lock_and_update_secret_file(
    const std::string& path, const FileExpectations& expectations,
    const std::function<UpdateDecision(SecretDocument&)>& update) {
  auto file = open_and_lock(path, expectations, LOCK_EX);
  if (!file) return file.error();
  auto document = read_and_parse(*file, path);
  if (!document) return document.error();
  if (update(*document) == UpdateDecision::keep) return {};
  auto content = serialize_secret_document(*document);
  if (!content) return make_error(content.error().code, path + ": " + content.error().message);
  // The lock on the old inode is held (file->fd open) until after the rename.
  return replace_with(path, *content, file->st);
}

Result<SecretDocument> read_secret_file(const std::string& path,
                                        const FileExpectations& expectations) {
  auto file = open_and_lock(path, expectations, LOCK_SH);
  if (!file) return file.error();
  return read_and_parse(*file, path);
}

Status create_secret_file(const std::string& path, const SecretDocument& document, bool replace,
                          std::optional<uid_t> owner, std::optional<gid_t> group) {
  auto content = serialize_secret_document(document);
  if (!content) return content.error();
  struct stat existing {};
  if (::lstat(path.c_str(), &existing) == 0) {
    if (S_ISLNK(existing.st_mode)) {
      return make_error(ErrorCode::unsafe_file, path + " is a symlink");
    }
    if (!replace) return make_error(ErrorCode::invalid_argument, path + " already exists");
  } else if (errno != ENOENT) {
    return io_error("cannot stat", path, errno);
  }
  Ownership ownership;
  if (::geteuid() == 0) {
    ownership.uid = owner;
    ownership.gid = group;
  }
  auto temp = write_temp_file(path, *content, ownership);
  if (!temp) return temp.error();
  if (replace) {
    if (::rename(temp->path().c_str(), path.c_str()) != 0) {
      return io_error("cannot rename temp file over", path, errno);
    }
    temp->committed();
  } else {
    auto moved = rename_no_replace(*temp, path);
    if (!moved) return moved;
  }
  return fsync_directory(path);
}

}  // namespace twostep
