// Safe opening, locking and atomic replacement of secret files.
#include "twostep/secret_store.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <span>
#include <string_view>
#include <system_error>
#include <thread>
#include <vector>

namespace twostep {
namespace {

// Each retry means another process replaced the file (a finished login), so
// this only bounds pathological churn; lock_timeout bounds the time.
constexpr int kMaxOpenAttempts = 1000;
constexpr std::chrono::milliseconds kLockRetryDelay{2};
// Path components walked from / to the file's directory.
constexpr std::size_t kMaxPathComponents = 256;
// Temp names are "." + file name + "." + this many random characters (the
// same shape older versions used, so their leftovers are cleaned up too).
constexpr std::size_t kTempSuffixLength = 6;
constexpr std::size_t kMaxLeftoversRemoved = 1000;
// Extended attributes a replaced file keeps: its SELinux label and its ACL.
constexpr std::array<const char*, 2> kKeptAttributes = {"security.selinux",
                                                        "system.posix_acl_access"};
constexpr std::size_t kMaxAttributeBytes = 64 * 1024;

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

struct DirCloser {
  void operator()(DIR* dir) const noexcept { ::closedir(dir); }
};
using UniqueDir = std::unique_ptr<DIR, DirCloser>;

std::string errno_text(int error) { return errno_message(error); }

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

std::string octal_mode(mode_t mode) {
  std::array<char, 8> text{};
  std::snprintf(text.data(), text.size(), "%04o", static_cast<unsigned>(mode & 07777));
  return text.data();
}

// ---- the directory, opened once ---------------------------------------------

// Strict modes for one directory on the way to the file.
Status check_directory(const struct stat& st, const std::string& shown, uid_t owner) {
  if (!S_ISDIR(st.st_mode)) {
    return make_error(ErrorCode::unsafe_file, shown + " is not a directory");
  }
  if (st.st_uid != 0 && st.st_uid != owner) {
    return make_error(ErrorCode::unsafe_file,
                      "directory " + shown + " is owned by uid " + std::to_string(st.st_uid) +
                          "; only root or uid " + std::to_string(owner) +
                          " may own the directories above a secret file (strict modes)");
  }
  const bool writable_by_others = (st.st_mode & (S_IWGRP | S_IWOTH)) != 0;
  const bool root_sticky = st.st_uid == 0 && (st.st_mode & S_ISVTX) != 0;
  if (writable_by_others && !root_sticky) {
    return make_error(ErrorCode::unsafe_file,
                      "directory " + shown + " is writable by group or others (mode " +
                          octal_mode(st.st_mode) +
                          "), so they could delete, rename or roll back the secret file "
                          "(strict modes)");
  }
  return {};
}

// The file's directory: a descriptor for *at() calls and the name inside it.
struct SecretDirectory {
  UniqueFd fd;       // O_RDONLY|O_DIRECTORY, reached without following symlinks
  std::string name;  // the file's name in it
  std::string path;  // the file's full path, for messages
};

Status walk_error(const std::string& shown, int error) {
  if (error == ENOENT) return make_error(ErrorCode::not_found, shown + " does not exist");
  if (error == ELOOP || error == ENOTDIR) {
    return make_error(ErrorCode::unsafe_file, shown + " changed while it was being opened");
  }
  return io_error("cannot open directory", shown, error);
}

// Strict modes for the directories named in the path as written, up to the
// first symbolic link: realpath() below skips the directory that holds a
// symlink, and whoever can write that directory can point the link
// elsewhere (e.g. at a safe directory without the file, which nullok would
// take for "not enrolled"). The link's target is checked by the walk.
Status check_named_directories(const std::string& parent, uid_t owner) {
  if (parent.empty() || parent.front() != '/') return {};  // relative: the walk covers it
  std::string prefix;
  std::size_t start = 1;
  for (std::size_t components = 0; start < parent.size() && components < kMaxPathComponents;
       ++components) {
    const std::size_t end = std::min(parent.find('/', start), parent.size());
    const std::string component = parent.substr(start, end - start);
    start = end + 1;
    if (component.empty() || component == ".") continue;
    prefix += "/" + component;
    struct stat st {};
    if (::lstat(prefix.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) return {};
    if (auto checked = check_directory(st, prefix, owner); !checked) return checked;
  }
  return {};
}

// Resolves the directory once (realpath, as sshd does, so a symlinked /home
// still works), then opens it component by component from / with
// O_NOFOLLOW, checking each one. A component swapped after realpath makes
// the walk fail; it never makes it follow the swap.
Result<SecretDirectory> open_secret_directory(const std::string& path,
                                              const FileExpectations& expectations) {
  SecretDirectory dir;
  dir.path = path;
  dir.name = basename_of(path);
  if (dir.name.empty() || dir.name == "." || dir.name == "..") {
    return make_error(ErrorCode::invalid_argument, path + " does not name a file");
  }
  const std::string parent = directory_of(path);
  const uid_t owner = expectations.owner.value_or(::geteuid());
  if (expectations.strict_modes) {
    if (auto named = check_named_directories(parent, owner); !named) return named.error();
  }
  std::unique_ptr<char, decltype(&std::free)> resolved(::realpath(parent.c_str(), nullptr),
                                                       &std::free);
  if (!resolved) return walk_error(parent, errno).error();
  const std::string real = resolved.get();

  UniqueFd current(::open("/", O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!current.valid()) return walk_error("/", errno).error();
  std::string shown = "/";
  std::size_t components = 0;
  std::size_t start = 1;
  for (;;) {
    struct stat st {};
    if (::fstat(current.get(), &st) != 0) return io_error("cannot stat", shown, errno);
    if (expectations.strict_modes) {
      if (auto checked = check_directory(st, shown, owner); !checked) return checked.error();
    }
    if (start >= real.size()) break;
    const std::size_t end = std::min(real.find('/', start), real.size());
    const std::string component = real.substr(start, end - start);
    start = end + 1;
    if (component.empty()) continue;
    if (++components > kMaxPathComponents) {
      return make_error(ErrorCode::invalid_argument, path + " has too many components");
    }
    shown = shown == "/" ? "/" + component : shown + "/" + component;
    UniqueFd next(
        ::openat(current.get(), component.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!next.valid()) return walk_error(shown, errno).error();
    current = std::move(next);
  }
  // A readable descriptor: fsync and readdir need one.
  dir.fd = UniqueFd(::openat(current.get(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dir.fd.valid()) return walk_error(shown, errno).error();
  return dir;
}

Status fsync_directory(const SecretDirectory& dir) {
  if (::fsync(dir.fd.get()) != 0) {
    return io_error("cannot fsync directory", directory_of(dir.path), errno);
  }
  return {};
}

// ---- temp files --------------------------------------------------------------

bool is_temp_suffix_char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

Result<std::string> random_temp_name(const std::string& name) {
  constexpr std::string_view kChars =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  std::array<unsigned char, kTempSuffixLength> bytes{};
  if (::getrandom(bytes.data(), bytes.size(), 0) != static_cast<ssize_t>(bytes.size())) {
    return make_error(ErrorCode::io, "getrandom failed");
  }
  std::string temp = "." + name + ".";
  for (const unsigned char b : bytes) temp.push_back(kChars[b % kChars.size()]);
  return temp;
}

bool is_temp_name_for(std::string_view candidate, const std::string& name) {
  const std::size_t prefix = name.size() + 2;
  if (candidate.size() != prefix + kTempSuffixLength) return false;
  if (candidate[0] != '.' || candidate.substr(1, name.size()) != name ||
      candidate[name.size() + 1] != '.') {
    return false;
  }
  for (const char c : candidate.substr(prefix)) {
    if (!is_temp_suffix_char(c)) return false;
  }
  return true;
}

// Removes temp files that killed writers left next to the file. Called only
// with the file's exclusive lock held: every writer of this file takes that
// lock, so none of them can be writing a temp file now. (Creation of a file
// that does not exist yet takes no lock; its temp file has no name while
// O_TMPFILE works, and on the fallback path losing it is reported, not
// silent.)
void remove_leftover_temp_files(const SecretDirectory& dir, uid_t owner) {
  UniqueFd listing(::openat(dir.fd.get(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!listing.valid()) return;
  UniqueDir stream(::fdopendir(listing.get()));
  if (!stream) return;
  listing.release();  // closedir closes it
  std::vector<std::string> leftovers;
  while (const dirent* entry = ::readdir(stream.get())) {
    if (is_temp_name_for(entry->d_name, dir.name)) leftovers.emplace_back(entry->d_name);
    if (leftovers.size() >= kMaxLeftoversRemoved) break;
  }
  for (const auto& leftover : leftovers) {
    struct stat st {};
    if (::fstatat(dir.fd.get(), leftover.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
    if (!S_ISREG(st.st_mode) || st.st_uid != owner) continue;
    ::unlinkat(dir.fd.get(), leftover.c_str(), 0);
  }
}

// New content for the file, without a visible name until it is complete:
// O_TMPFILE, linked in by linkat() once written and fsynced. Where the file
// system has no O_TMPFILE, a named temp file (removed on failure, and as a
// leftover by the next writer under the lock).
class PendingFile {
 public:
  PendingFile(const PendingFile&) = delete;
  PendingFile& operator=(const PendingFile&) = delete;
  PendingFile(PendingFile&& other) noexcept
      : dir_(other.dir_), fd_(std::move(other.fd_)), name_(std::move(other.name_)) {
    other.name_.clear();
  }
  PendingFile& operator=(PendingFile&&) = delete;
  ~PendingFile() {
    if (!name_.empty()) ::unlinkat(dir_->fd.get(), name_.c_str(), 0);
  }

  static Result<PendingFile> create(const SecretDirectory& dir);
  int fd() const noexcept { return fd_.get(); }
  // Moves the content to the file's name: over an existing file, or only if
  // nothing is there (`replace` false: "already exists" otherwise).
  Status publish(bool replace);

 private:
  explicit PendingFile(const SecretDirectory& dir) : dir_(&dir) {}
  Status link_to(const std::string& target);
  const SecretDirectory* dir_;
  UniqueFd fd_;
  std::string name_;  // set while the content has a temp name
};

Result<PendingFile> PendingFile::create(const SecretDirectory& dir) {
  PendingFile file(dir);
  file.fd_ = UniqueFd(::openat(dir.fd.get(), ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600));
  if (file.fd_.valid()) return file;
  const int error = errno;
  if (error != EOPNOTSUPP && error != EISDIR && error != EINVAL && error != ENOENT) {
    return io_error("cannot create a temp file for", dir.path, error);
  }
  for (int attempt = 0; attempt < 100; ++attempt) {
    auto name = random_temp_name(dir.name);
    if (!name) return name.error();
    file.fd_ = UniqueFd(::openat(dir.fd.get(), name->c_str(),
                                 O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
    if (file.fd_.valid()) {
      file.name_ = std::move(*name);
      return file;
    }
    if (errno != EEXIST) return io_error("cannot create a temp file for", dir.path, errno);
  }
  return make_error(ErrorCode::io, "cannot find a free temp file name for " + dir.path);
}

// Gives the unnamed (O_TMPFILE) content the name `target`; fails with
// EEXIST if something is there.
Status PendingFile::link_to(const std::string& target) {
  const std::string proc = "/proc/self/fd/" + std::to_string(fd_.get());
  if (::linkat(AT_FDCWD, proc.c_str(), dir_->fd.get(), target.c_str(), AT_SYMLINK_FOLLOW) == 0) {
    return {};
  }
  int error = errno;
  if (error == ENOENT) {
    // No /proc: AT_EMPTY_PATH works with CAP_DAC_READ_SEARCH (root).
    if (::linkat(fd_.get(), "", dir_->fd.get(), target.c_str(), AT_EMPTY_PATH) == 0) return {};
    error = errno;
  }
  if (error == EEXIST) return make_error(ErrorCode::invalid_argument, dir_->path + " already exists");
  return io_error("cannot link the new content of", dir_->path, error);
}

Status PendingFile::publish(bool replace) {
  const int dirfd = dir_->fd.get();
  const char* target = dir_->name.c_str();
  if (name_.empty()) {
    if (!replace) return link_to(dir_->name);
    // Named only now that it is complete, and renamed over at once.
    auto name = random_temp_name(dir_->name);
    if (!name) return name.error();
    if (auto linked = link_to(*name); !linked) return linked;
    name_ = std::move(*name);
  }
  if (replace) {
    if (::renameat(dirfd, name_.c_str(), dirfd, target) != 0) {
      return io_error("cannot rename temp file over", dir_->path, errno);
    }
    name_.clear();
    return {};
  }
  if (::renameat2(dirfd, name_.c_str(), dirfd, target, RENAME_NOREPLACE) == 0) {
    name_.clear();
    return {};
  }
  int error = errno;
  if (error == EINVAL || error == ENOSYS) {
    // File systems without RENAME_NOREPLACE: link() also refuses to replace.
    if (::linkat(dirfd, name_.c_str(), dirfd, target, 0) == 0) return {};  // temp unlinked by ~
    error = errno;
  }
  if (error == EEXIST) return make_error(ErrorCode::invalid_argument, dir_->path + " already exists");
  return io_error("cannot move temp file to", dir_->path, error);
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

struct Ownership {
  mode_t mode = 0600;
  std::optional<uid_t> uid;
  std::optional<gid_t> gid;
};

// One extended attribute; nullopt when the file has none (or the file
// system has no such attributes).
// Asks for the size first: a buffer of kMaxAttributeBytes for every read
// zero-filled 64 KB three times per write (~200 k instructions, 16 fresh
// pages) on systems where the attributes do not even exist.
Result<std::optional<std::string>> attribute_of(int fd, const char* name,
                                                const std::string& path) {
  // Size first, then the value; a concurrent change (ERANGE) is retried once.
  for (int attempt = 0; attempt < 2; ++attempt) {
    const ssize_t size = ::fgetxattr(fd, name, nullptr, 0);
    if (size < 0) {
      if (errno == ENODATA || errno == ENOTSUP) return std::optional<std::string>();
      return io_error(std::string("cannot read ") + name + " of", path, errno);
    }
    if (static_cast<std::size_t>(size) > kMaxAttributeBytes) {
      return make_error(ErrorCode::too_large, std::string(name) + " of " + path + " is too large");
    }
    std::string value(static_cast<std::size_t>(size), '\0');
    const ssize_t read = ::fgetxattr(fd, name, value.data(), value.size());
    if (read >= 0) {
      value.resize(static_cast<std::size_t>(read));
      return std::optional<std::string>(std::move(value));
    }
    if (errno == ENODATA) return std::optional<std::string>();  // removed meanwhile
    if (errno != ERANGE) return io_error(std::string("cannot read ") + name + " of", path, errno);
  }
  return make_error(ErrorCode::io, std::string(name) + " of " + path + " kept changing");
}

// Under SELinux, new files get the label set here (what libselinux's
// setfscreatecon does, as pam_google_authenticator uses it), so the temp
// file is born with the original's label and needs no relabel permission.
// Without SELinux the write fails and nothing changes; the label is then
// copied as an attribute below. Reset when the scope ends.
class FileCreationLabel {
 public:
  explicit FileCreationLabel(const std::optional<std::string>& label) {
    if (label) active_ = write(*label);
  }
  ~FileCreationLabel() {
    if (active_) (void)write({});
  }
  FileCreationLabel(const FileCreationLabel&) = delete;
  FileCreationLabel& operator=(const FileCreationLabel&) = delete;

 private:
  static bool write(std::string_view label) noexcept {
    // The attribute usually ends in NUL; setfscreatecon writes the bare text.
    while (!label.empty() && label.back() == '\0') label.remove_suffix(1);
    UniqueFd fd(::open("/proc/thread-self/attr/fscreate", O_WRONLY | O_CLOEXEC));
    if (!fd.valid()) return false;
    return ::write(fd.get(), label.data(), label.size()) == static_cast<ssize_t>(label.size());
  }
  bool active_ = false;
};

// The original's SELinux label and ACL on the new content, as the rename
// would otherwise drop them (RHEL relies on the label). Attributes the
// original does not have, or that the file system does not support, are
// skipped; failing to set one that the original has is an error (the
// original then stays as it is).
Status keep_security_attributes(int from, int to, const std::string& path) {
  for (const char* name : kKeptAttributes) {
    auto wanted = attribute_of(from, name, path);
    if (!wanted) return wanted.error();
    if (!*wanted) continue;
    auto present = attribute_of(to, name, path);
    if (present && *present == *wanted) continue;  // born with it
    const std::string& value = **wanted;
    if (::fsetxattr(to, name, value.data(), value.size(), 0) != 0) {
      return io_error(std::string("cannot keep ") + name + " of", path, errno);
    }
  }
  return {};
}

// Writes `content` to a pending file with the given ownership, made durable;
// `original` (if any) lends its security attributes.
Result<PendingFile> write_pending_file(const SecretDirectory& dir, const SecretBytes& content,
                                       const Ownership& ownership, const int* original) {
  std::optional<std::string> label;
  if (original != nullptr) {
    auto read = attribute_of(*original, kKeptAttributes[0], dir.path);
    if (!read) return read.error();
    label = std::move(*read);
  }
  auto pending = [&] {
    const FileCreationLabel creation_label(label);
    return PendingFile::create(dir);
  }();
  if (!pending) return pending.error();
  if (ownership.uid || ownership.gid) {
    const uid_t uid = ownership.uid ? *ownership.uid : static_cast<uid_t>(-1);
    const gid_t gid = ownership.gid ? *ownership.gid : static_cast<gid_t>(-1);
    if (::fchown(pending->fd(), uid, gid) != 0) {
      return io_error("cannot chown temp file for", dir.path, errno);
    }
  }
  if (::fchmod(pending->fd(), ownership.mode) != 0) {
    return io_error("cannot chmod temp file for", dir.path, errno);
  }
  if (original != nullptr) {
    if (auto kept = keep_security_attributes(*original, pending->fd(), dir.path); !kept) {
      return kept.error();
    }
  }
  if (auto written = write_all(pending->fd(), content, dir.path); !written) {
    return written.error();
  }
  if (::fsync(pending->fd()) != 0) return io_error("cannot fsync temp file for", dir.path, errno);
  return pending;
}

// ---- opening and locking ---------------------------------------------------

Status check_file(const struct stat& st, const std::string& path,
                  const FileExpectations& expectations, ExistingFileCheck check) {
  if (!S_ISREG(st.st_mode)) {
    return make_error(ErrorCode::unsafe_file, path + " is not a regular file");
  }
  if (check == ExistingFileCheck::regular_file) return {};
  const uid_t owner = expectations.owner.value_or(::geteuid());
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
  SecretDirectory dir;
  UniqueFd fd;
  struct stat st {};
};

Status open_checked(OpenedFile& file, const FileExpectations& expectations,
                    ExistingFileCheck check) {
  // O_NONBLOCK: a FIFO planted at the path must not hang the login.
  const std::string& path = file.dir.path;
  file.fd = UniqueFd(::openat(file.dir.fd.get(), file.dir.name.c_str(),
                              O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK));
  if (!file.fd.valid()) {
    const int error = errno;
    if (error == ENOENT) return make_error(ErrorCode::not_found, path + " does not exist");
    if (error == ELOOP) return make_error(ErrorCode::unsafe_file, path + " is a symlink");
    return io_error("cannot open", path, error);
  }
  if (::fstat(file.fd.get(), &file.st) != 0) return io_error("cannot stat", path, errno);
  // nlink 0: renamed over since we opened it; the caller notices and retries.
  if (file.st.st_nlink == 0) return {};
  return check_file(file.st, path, expectations, check);
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

// True when the name in the directory still names the inode we hold open
// and locked.
bool still_named(const SecretDirectory& dir, const struct stat& opened) {
  struct stat now {};
  if (::fstatat(dir.fd.get(), dir.name.c_str(), &now, AT_SYMLINK_NOFOLLOW) != 0) return false;
  return now.st_dev == opened.st_dev && now.st_ino == opened.st_ino;
}

// Opens the directory (strict modes), then opens, checks and locks the file;
// retries when a concurrent writer renamed a new file over the name between
// our open and our lock. The whole wait, retries included, is bounded by
// lock_timeout.
Result<OpenedFile> lock_in_directory(SecretDirectory dir, const FileExpectations& expectations,
                                     int operation, ExistingFileCheck check,
                                     std::chrono::steady_clock::time_point deadline) {
  OpenedFile file;
  file.dir = std::move(dir);
  const std::string& path = file.dir.path;
  for (int attempt = 0; attempt < kMaxOpenAttempts; ++attempt) {
    if (auto opened = open_checked(file, expectations, check); !opened) return opened.error();
    auto locked =
        lock_file(file.fd.get(), operation, path, deadline, expectations.lock_timeout);
    if (!locked) return locked.error();
    if (!still_named(file.dir, file.st)) continue;
    // Checked again under the lock: a link may have been added meanwhile.
    if (::fstat(file.fd.get(), &file.st) != 0) return io_error("cannot stat", path, errno);
    if (auto checked = check_file(file.st, path, expectations, check); !checked) {
      return checked.error();
    }
    return file;
  }
  return make_error(ErrorCode::io, path + " kept being replaced while locking it");
}

Result<OpenedFile> open_and_lock(const std::string& path, const FileExpectations& expectations,
                                 int operation, ExistingFileCheck check = ExistingFileCheck::full) {
  const auto deadline = std::chrono::steady_clock::now() + expectations.lock_timeout;
  auto dir = open_secret_directory(path, expectations);
  if (!dir) return dir.error();
  return lock_in_directory(std::move(*dir), expectations, operation, check, deadline);
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

Result<SecretDocument> read_and_parse(const OpenedFile& file) {
  const std::string& path = file.dir.path;
  auto content = read_limited(file.fd.get(), path);
  if (!content) return content.error();
  auto document = parse_secret_document(content->view());
  if (!document) {
    return make_error(document.error().code, path + ": " + document.error().message);
  }
  return document;
}

// Replaces the locked file with `content`; the caller holds the lock on
// `file` until this returns.
Status replace_locked(const OpenedFile& file, const SecretBytes& content,
                      const Ownership& ownership) {
  remove_leftover_temp_files(file.dir, file.st.st_uid);
  const int original = file.fd.get();
  auto pending = write_pending_file(file.dir, content, ownership, &original);
  if (!pending) return pending.error();
  if (auto published = pending->publish(true); !published) return published;
  return fsync_directory(file.dir);
}

Ownership ownership_of(const struct stat& original) {
  Ownership ownership;
  ownership.mode = original.st_mode & 0600;
  if (::geteuid() == 0) {
    ownership.uid = original.st_uid;
    ownership.gid = original.st_gid;
  }
  return ownership;
}

// Runs `update` on the document of the locked `file` and writes the result
// when it asks to; the lock is held by the caller until this returns.
Status update_locked(const OpenedFile& file, SecretDocument& document,
                     const std::function<UpdateDecision(SecretDocument&)>& update) {
  if (update(document) == UpdateDecision::keep) return {};
  auto content = serialize_secret_document(document);
  if (!content) {
    return make_error(content.error().code, file.dir.path + ": " + content.error().message);
  }
  return replace_locked(file, *content, ownership_of(file.st));
}

// The same directory for another file name: the descriptor is duplicated,
// not walked again.
Result<SecretDirectory> same_directory(const SecretDirectory& dir, const std::string& path) {
  SecretDirectory copy;
  copy.fd = UniqueFd(::fcntl(dir.fd.get(), F_DUPFD_CLOEXEC, 0));
  if (!copy.fd.valid()) return io_error("cannot duplicate the directory of", path, errno);
  copy.name = basename_of(path);
  copy.path = path;
  return copy;
}

// True when the locked descriptor still is the file that was read, unchanged:
// the name still points at it, and its size, mtime and ctime (which any
// write, chmod or link moves) are what they were.
bool unchanged_since(const OpenedFile& file, const struct stat& read_at) {
  struct stat now {};
  if (::fstat(file.fd.get(), &now) != 0 || !still_named(file.dir, now)) return false;
  return now.st_dev == read_at.st_dev && now.st_ino == read_at.st_ino &&
         now.st_size == read_at.st_size && now.st_nlink == read_at.st_nlink &&
         now.st_mtim.tv_sec == read_at.st_mtim.tv_sec &&
         now.st_mtim.tv_nsec == read_at.st_mtim.tv_nsec &&
         now.st_ctim.tv_sec == read_at.st_ctim.tv_sec &&
         now.st_ctim.tv_nsec == read_at.st_ctim.tv_nsec;
}

// Opens and reads a file without locking it (writers replace files by
// rename, so what is read is one complete version); nlink 0 means it was
// renamed over meanwhile, and it is opened again.
Result<OpenedFile> open_unlocked(SecretDirectory dir, const FileExpectations& expectations) {
  OpenedFile file;
  file.dir = std::move(dir);
  for (int attempt = 0; attempt < kMaxOpenAttempts; ++attempt) {
    if (auto opened = open_checked(file, expectations, ExistingFileCheck::full); !opened) {
      return opened.error();
    }
    if (file.st.st_nlink != 0) return file;
  }
  return make_error(ErrorCode::io, file.dir.path + " kept being replaced while reading it");
}

}  // namespace

namespace {

// A missing directory: the directories that do exist above it must pass
// strict modes too, or whoever can write one of them could have removed it
// (and with nullok switched the second factor off). `missing` is the walk's
// not_found error, returned when they pass.
Status check_ancestors_of_missing(const std::string& path, const FileExpectations& expectations,
                                  Error missing) {
  std::string existing = directory_of(path);
  for (std::size_t up = 0; up < kMaxPathComponents && existing != "/" && existing != ".";
       ++up) {
    existing = directory_of(existing);
    auto ancestor = open_secret_directory(existing + "/secret", expectations);
    if (ancestor) break;
    if (ancestor.error().code != ErrorCode::not_found) return ancestor.error();
  }
  return missing;
}

}  // namespace

Status check_secret_directories(const std::string& path, const FileExpectations& expectations) {
  auto dir = open_secret_directory(path, expectations);
  if (dir) return {};
  if (dir.error().code != ErrorCode::not_found) return dir.error();
  return check_ancestors_of_missing(path, expectations, dir.error());
}

struct SecretFileSnapshot::State {
  OpenedFile file;                         // directory, descriptor, fstat when read
  std::optional<SecretDocument> document;  // as read; handed to the first update
  FileExpectations expectations;
};

SecretFileSnapshot::SecretFileSnapshot(std::unique_ptr<State> state) : state_(std::move(state)) {}
SecretFileSnapshot::SecretFileSnapshot(SecretFileSnapshot&&) noexcept = default;
SecretFileSnapshot& SecretFileSnapshot::operator=(SecretFileSnapshot&&) noexcept = default;
SecretFileSnapshot::~SecretFileSnapshot() = default;

const SecretDocument* SecretFileSnapshot::document() const noexcept {
  return state_->document ? &*state_->document : nullptr;
}

const std::string& SecretFileSnapshot::path() const noexcept { return state_->file.dir.path; }

Status SecretFileSnapshot::lock_and_update(
    const std::function<UpdateDecision(SecretDocument&)>& update) {
  State& s = *state_;
  const auto deadline = std::chrono::steady_clock::now() + s.expectations.lock_timeout;
  const std::string& path = s.file.dir.path;
  if (s.document && s.file.fd.valid()) {
    auto locked = lock_file(s.file.fd.get(), LOCK_EX, path, deadline, s.expectations.lock_timeout);
    if (!locked) return locked;
    if (unchanged_since(s.file, s.file.st)) {
      SecretDocument document = std::move(*s.document);
      s.document.reset();  // the update may change it: a later call reads again
      const Status updated = update_locked(s.file, document, update);
      s.file.fd.reset();  // unlocks: a later call locks whatever the name holds then
      return updated;
    }
  }
  s.file.fd.reset();
  // Replaced or changed since it was read (or already updated once): open
  // it again in the kept directory, and read it under the lock.
  s.document.reset();
  auto dir = same_directory(s.file.dir, path);
  if (!dir) return dir.error();
  auto file = lock_in_directory(std::move(*dir), s.expectations, LOCK_EX,
                                ExistingFileCheck::full, deadline);
  if (!file) return file.error();
  auto document = read_and_parse(*file);
  if (!document) return document.error();
  return update_locked(*file, *document, update);
}

namespace {

// Walks each distinct directory of `paths` once; stops at the first that
// fails strict modes. Missing directories are kept as nullopt.
Result<std::vector<std::optional<SecretDirectory>>> open_candidate_directories(
    std::span<const std::string> paths, const FileExpectations& expectations) {
  std::vector<std::optional<SecretDirectory>> dirs;
  for (std::size_t i = 0; i < paths.size(); ++i) {
    const std::string& path = paths[i];
    const bool same_as_previous = i > 0 && directory_of(paths[i - 1]) == directory_of(path);
    if (same_as_previous) {
      if (!dirs.back()) {
        dirs.emplace_back();
        continue;
      }
      auto copy = same_directory(*dirs.back(), path);
      if (!copy) return copy.error();
      dirs.emplace_back(std::move(*copy));
      continue;
    }
    auto dir = open_secret_directory(path, expectations);
    if (dir) {
      dirs.emplace_back(std::move(*dir));
      continue;
    }
    if (dir.error().code != ErrorCode::not_found) return dir.error();
    if (auto ancestors = check_ancestors_of_missing(path, expectations, dir.error());
        !ancestors && ancestors.error().code != ErrorCode::not_found) {
      return ancestors.error();
    }
    dirs.emplace_back();
  }
  return dirs;
}

}  // namespace

SecretFileSearch find_secret_file(std::span<const std::string> paths,
                                  const FileExpectations& expectations) {
  SecretFileSearch search;
  if (!paths.empty()) search.path = paths.front();
  auto dirs = open_candidate_directories(paths, expectations);
  if (!dirs) {
    search.unsafe_directory = dirs.error();
    return search;
  }
  for (std::size_t i = 0; i < paths.size(); ++i) {
    if (!(*dirs)[i]) continue;
    auto file = open_unlocked(std::move(*(*dirs)[i]), expectations);
    if (!file && file.error().code == ErrorCode::not_found) continue;
    search.path = paths[i];
    if (!file) {
      search.file_error = file.error();
      return search;
    }
    auto document = read_and_parse(*file);
    if (!document) {
      search.file_error = document.error();
      return search;
    }
    auto state = std::make_unique<SecretFileSnapshot::State>(
        SecretFileSnapshot::State{std::move(*file), std::move(*document), expectations});
    search.snapshot.emplace(SecretFileSnapshot(std::move(state)));
    return search;
  }
  return search;
}

Status lock_and_update_secret_file(
    const std::string& path, const FileExpectations& expectations,
    const std::function<UpdateDecision(SecretDocument&)>& update) {
  auto file = open_and_lock(path, expectations, LOCK_EX);
  if (!file) return file.error();
  auto document = read_and_parse(*file);
  if (!document) return document.error();
  // The lock on the old inode is held (file->fd open) until after the rename.
  return update_locked(*file, *document, update);
}

Result<SecretDocument> read_secret_file(const std::string& path,
                                        const FileExpectations& expectations) {
  auto file = open_and_lock(path, expectations, LOCK_SH);
  if (!file) return file.error();
  return read_and_parse(*file);
}

Status create_secret_file(const std::string& path, const SecretDocument& document, bool replace,
                          std::optional<uid_t> owner, std::optional<gid_t> group) {
  if (auto keys = check_key_lengths(document.enrollment); !keys) {
    return make_error(ErrorCode::invalid_argument, path + ": " + keys.error().message);
  }
  auto content = serialize_secret_document(document);
  if (!content) return content.error();
  Ownership ownership;
  if (::geteuid() == 0) {
    ownership.uid = owner;
    ownership.gid = group;
  }
  FileExpectations expectations;
  expectations.owner = owner;
  expectations.lock_timeout = std::chrono::seconds(10);
  if (replace) {
    auto existing = open_and_lock(path, expectations, LOCK_EX, ExistingFileCheck::regular_file);
    if (existing) return replace_locked(*existing, *content, ownership);
    if (existing.error().code != ErrorCode::not_found) return existing.error();
  }
  auto dir = open_secret_directory(path, expectations);
  if (!dir) return dir.error();
  auto pending = write_pending_file(*dir, *content, ownership, nullptr);
  if (!pending) return pending.error();
  if (auto published = pending->publish(false); !published) return published;
  return fsync_directory(*dir);
}

Status remove_secret_file(const std::string& path, const FileExpectations& expectations,
                          ExistingFileCheck check) {
  auto file = open_and_lock(path, expectations, LOCK_EX, check);
  if (!file) return file.error();
  if (::unlinkat(file->dir.fd.get(), file->dir.name.c_str(), 0) != 0) {
    return io_error("cannot remove", path, errno);
  }
  remove_leftover_temp_files(file->dir, file->st.st_uid);
  return fsync_directory(file->dir);
}

namespace {

Status check_trusted_file(const struct stat& st, const std::string& shown,
                          const TrustedFileRules& rules) {
  if (!S_ISREG(st.st_mode)) return make_error(ErrorCode::unsafe_file, shown + ": not a regular file");
  const uid_t euid = ::geteuid();
  const bool owner_ok = rules.owner ? st.st_uid == *rules.owner
                                    : (st.st_uid == 0 || st.st_uid == euid);
  if (!owner_ok) {
    const std::string expected =
        rules.owner ? "uid " + std::to_string(*rules.owner)
                    : (euid == 0 ? std::string("root") : "root or uid " + std::to_string(euid));
    return make_error(ErrorCode::unsafe_file, shown + ": owned by uid " +
                                                  std::to_string(st.st_uid) + ", not by " +
                                                  expected);
  }
  if ((st.st_mode & rules.forbidden_bits) != 0) {
    return make_error(ErrorCode::unsafe_file,
                      shown + ((rules.forbidden_bits & 044) != 0
                                   ? ": readable or writable by group/others"
                                   : ": writable by group/others"));
  }
  if (static_cast<std::size_t>(st.st_size) > rules.max_bytes) {
    return make_error(ErrorCode::too_large, shown + ": too large");
  }
  return {};
}

}  // namespace

Result<SecretBytes> read_trusted_file(const std::string& path, const TrustedFileRules& rules) {
  const std::string shown = std::string(rules.what) + " " + path;
  FileExpectations expectations;
  expectations.owner = rules.owner.value_or(::geteuid());
  auto dir = open_secret_directory(path, expectations);
  if (!dir) return make_error(dir.error().code, shown + ": " + dir.error().message);
  UniqueFd fd(::openat(dir->fd.get(), dir->name.c_str(),
                       O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK));
  if (!fd.valid()) {
    const int error = errno;
    if (error == ENOENT) return make_error(ErrorCode::not_found, shown + ": cannot open");
    if (error == ELOOP) return make_error(ErrorCode::unsafe_file, shown + ": a symlink");
    return io_error("cannot open", shown, error);
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return io_error("cannot stat", shown, errno);
  if (auto checked = check_trusted_file(st, shown, rules); !checked) return checked.error();
  auto content = read_limited(fd.get(), shown);
  if (!content) return content.error();
  if (content->size() > rules.max_bytes) {
    return make_error(ErrorCode::too_large, shown + ": too large");
  }
  return content;
}

}  // namespace twostep
