// The locked, atomic secret-file store: what reaches the disk, what is
// refused, and what happens under failure and concurrency.
#include <algorithm>
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <cstring>
#include <string>
#include <vector>

#include "twostep/otp.hpp"
#include "twostep/policy.hpp"
#include "twostep/secret_store.hpp"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
extern "C" {
#include <cmocka.h>
}

using namespace twostep;

namespace {

constexpr char kKey[] = "12345678901234567890";  // RFC 4226 test key
const std::string kFile =
    "twostep-secret 1\n"
    "# test file\n"
    "token name=phone type=totp secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\n";

struct TestDir {
  std::string path;
  std::string file;
};

int setup_dir(void** state) {
  char name[] = "/tmp/twostep-store-XXXXXX";
  if (::mkdtemp(name) == nullptr) return -1;
  auto* dir = new TestDir{name, std::string(name) + "/secret"};
  *state = dir;
  return 0;
}

int teardown_dir(void** state) {
  auto* dir = static_cast<TestDir*>(*state);
  const std::string command = "rm -rf '" + dir->path + "'";
  const int rc = std::system(command.c_str());
  delete dir;
  return rc == 0 ? 0 : -1;
}

TestDir& dir_of(void** state) { return *static_cast<TestDir*>(*state); }

void write_file(const std::string& path, const std::string& text, mode_t mode = 0600) {
  ::unlink(path.c_str());
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  assert_true(fd >= 0);
  assert_int_equal(::write(fd, text.data(), text.size()), static_cast<ssize_t>(text.size()));
  assert_int_equal(::fchmod(fd, mode), 0);
  ::close(fd);
}

std::string read_file(const std::string& path) {
  std::string text;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  assert_true(fd >= 0);
  char buffer[4096];
  ssize_t n = 0;
  while ((n = ::read(fd, buffer, sizeof buffer)) > 0) text.append(buffer, static_cast<std::size_t>(n));
  ::close(fd);
  return text;
}

std::vector<std::string> dir_entries(const std::string& path) {
  std::vector<std::string> names;
  DIR* dir = ::opendir(path.c_str());
  assert_non_null(dir);
  while (const dirent* entry = ::readdir(dir)) {
    const std::string name = entry->d_name;
    if (name != "." && name != "..") names.push_back(name);
  }
  ::closedir(dir);
  return names;
}

struct stat stat_of(const std::string& path) {
  struct stat st {};
  assert_int_equal(::lstat(path.c_str(), &st), 0);
  return st;
}

void assert_error(const Status& status, ErrorCode code, const char* fragment) {
  if (status.ok()) fail_msg("succeeded; expected %s", to_string(code));
  if (status.error().code != code ||
      status.error().message.find(fragment) == std::string::npos) {
    fail_msg("expected %s containing \"%s\", got %s \"%s\"", to_string(code), fragment,
             to_string(status.error().code), status.error().message.c_str());
  }
}

UpdateDecision set_last_step(SecretDocument& document) {
  document.enrollment.tokens[0].last_step = 99;
  return UpdateDecision::write;
}

void test_update_writes_atomically(void** state) {
  const TestDir& dir = dir_of(state);
  write_file(dir.file, kFile, 0400);
  const struct stat before = stat_of(dir.file);
  assert_true(lock_and_update_secret_file(dir.file, {}, set_last_step).ok());
  const std::string expected =
      "twostep-secret 1\n"
      "# test file\n"
      "token name=phone type=totp algorithm=SHA1 digits=6 period=30 "
      "secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ last-step=99\n";
  assert_string_equal(read_file(dir.file).c_str(), expected.c_str());
  const struct stat after = stat_of(dir.file);
  assert_true(after.st_ino != before.st_ino);  // a new file was renamed in
  assert_int_equal(after.st_mode & 07777, 0400);  // the original mode is kept
  assert_int_equal(after.st_uid, before.st_uid);
  assert_int_equal(after.st_nlink, 1);
  const auto entries = dir_entries(dir.path);
  assert_int_equal(entries.size(), 1);  // no temp file left behind

  auto read = read_secret_file(dir.file, {});
  assert_true(read.ok());
  assert_int_equal(*read->enrollment.tokens[0].last_step, 99);

  // A relative path without a directory part: temp file and fsync in ".".
  char* cwd = ::getcwd(nullptr, 0);
  assert_non_null(cwd);
  assert_int_equal(::chdir(dir.path.c_str()), 0);
  const auto relative = lock_and_update_secret_file("secret", {}, [](SecretDocument& document) {
    document.enrollment.tokens[0].last_step = 100;
    return UpdateDecision::write;
  });
  assert_int_equal(::chdir(cwd), 0);
  std::free(cwd);
  assert_true(relative.ok());
  assert_true(read_file(dir.file).find("last-step=100\n") != std::string::npos);
  assert_int_equal(dir_entries(dir.path).size(), 1);
}

void test_keep_leaves_file_untouched(void** state) {
  const TestDir& dir = dir_of(state);
  write_file(dir.file, kFile);
  const struct stat before = stat_of(dir.file);
  bool called = false;
  const auto status = lock_and_update_secret_file(dir.file, {}, [&](SecretDocument& document) {
    called = true;
    document.enrollment.tokens[0].last_step = 5;  // changed, but not written
    return UpdateDecision::keep;
  });
  assert_true(status.ok());
  assert_true(called);
  const struct stat after = stat_of(dir.file);
  assert_int_equal(after.st_ino, before.st_ino);
  assert_int_equal(after.st_mtim.tv_sec, before.st_mtim.tv_sec);
  assert_int_equal(after.st_mtim.tv_nsec, before.st_mtim.tv_nsec);
  assert_string_equal(read_file(dir.file).c_str(), kFile.c_str());
}

// A write that fails half way (the file-size limit stops it) must leave the
// original byte for byte and no temp file. Root ignores directory
// permissions, so RLIMIT_FSIZE is the way to make the write fail.
void test_failed_write_leaves_original(void** state) {
  const TestDir& dir = dir_of(state);
  write_file(dir.file, kFile);
  const pid_t child = ::fork();
  assert_true(child >= 0);
  if (child == 0) {
    ::signal(SIGXFSZ, SIG_IGN);
    const rlimit limit{kFile.size() + 16, kFile.size() + 16};
    if (::setrlimit(RLIMIT_FSIZE, &limit) != 0) ::_exit(10);
    const auto status = lock_and_update_secret_file(dir.file, {}, [](SecretDocument& document) {
      for (int i = 0; i < 20; ++i) {
        BackupCode code;
        code.hash = "sha256:00112233445566778899aabbccddeeff:" + std::string(63, '0') +
                    static_cast<char>('a' + i % 6);
        document.enrollment.backup_codes.push_back(std::move(code));
      }
      return UpdateDecision::write;
    });
    if (status.ok()) ::_exit(11);
    if (status.error().code != ErrorCode::io) ::_exit(12);
    if (status.error().message.find("File too large") == std::string::npos) ::_exit(13);
    if (status.error().message.find(dir.file) == std::string::npos) ::_exit(14);
    ::_exit(0);
  }
  int wstatus = 0;
  assert_int_equal(::waitpid(child, &wstatus, 0), child);
  assert_true(WIFEXITED(wstatus));
  assert_int_equal(WEXITSTATUS(wstatus), 0);
  assert_string_equal(read_file(dir.file).c_str(), kFile.c_str());
  const auto entries = dir_entries(dir.path);
  assert_int_equal(entries.size(), 1);
  assert_string_equal(entries[0].c_str(), "secret");
}

void test_unsafe_files_refused(void** state) {
  const TestDir& dir = dir_of(state);
  const auto never = [](SecretDocument&) -> UpdateDecision {
    fail_msg("update callback called for an unsafe file");
    return UpdateDecision::keep;
  };
  const std::string target = dir.path + "/target";
  write_file(target, kFile);
  assert_int_equal(::symlink(target.c_str(), dir.file.c_str()), 0);
  assert_error(lock_and_update_secret_file(dir.file, {}, never), ErrorCode::unsafe_file,
               "is a symlink");
  const auto read = read_secret_file(dir.file, {});
  assert_false(read.ok());
  assert_int_equal(static_cast<int>(read.error().code), static_cast<int>(ErrorCode::unsafe_file));
  ::unlink(dir.file.c_str());

  for (const mode_t mode : {mode_t{0644}, mode_t{0640}, mode_t{0604}, mode_t{0620}, mode_t{0602}}) {
    write_file(dir.file, kFile, mode);
    assert_error(lock_and_update_secret_file(dir.file, {}, never), ErrorCode::unsafe_file,
                 "accessible by group or others");
  }
  write_file(dir.file, kFile);
  assert_int_equal(::link(dir.file.c_str(), (dir.path + "/second").c_str()), 0);
  assert_error(lock_and_update_secret_file(dir.file, {}, never), ErrorCode::unsafe_file,
               "has 2 hard links");
  ::unlink((dir.path + "/second").c_str());

  FileExpectations other_owner;
  other_owner.owner = ::geteuid() + 4242;
  assert_error(lock_and_update_secret_file(dir.file, other_owner, never), ErrorCode::unsafe_file,
               "is owned by uid");

  ::unlink(dir.file.c_str());
  assert_int_equal(::mkfifo(dir.file.c_str(), 0600), 0);  // must not hang on open
  assert_error(lock_and_update_secret_file(dir.file, {}, never), ErrorCode::unsafe_file,
               "not a regular file");
  ::unlink(dir.file.c_str());
  assert_int_equal(::mkdir(dir.file.c_str(), 0700), 0);
  assert_error(lock_and_update_secret_file(dir.file, {}, never), ErrorCode::unsafe_file,
               "not a regular file");
  ::rmdir(dir.file.c_str());
  assert_error(lock_and_update_secret_file(dir.file, {}, never), ErrorCode::not_found,
               "does not exist");
  assert_string_equal(read_file(target).c_str(), kFile.c_str());
}

void test_bad_content_refused(void** state) {
  const TestDir& dir = dir_of(state);
  write_file(dir.file, "twostep-secret 1\nwindow 99\n");
  auto read = read_secret_file(dir.file, {});
  assert_false(read.ok());
  assert_int_equal(static_cast<int>(read.error().code), static_cast<int>(ErrorCode::malformed));
  assert_string_equal(read.error().message.c_str(),
                      (dir.file + ": line 2: window must be 0..10").c_str());
  write_file(dir.file, kFile + std::string(70000, '#'));
  read = read_secret_file(dir.file, {});
  assert_false(read.ok());
  assert_int_equal(static_cast<int>(read.error().code), static_cast<int>(ErrorCode::too_large));
}

// Another process holds the lock: we give up after lock_timeout.
void test_lock_timeout(void** state) {
  const TestDir& dir = dir_of(state);
  write_file(dir.file, kFile);
  int locked[2];
  int release[2];
  assert_int_equal(::pipe(locked), 0);
  assert_int_equal(::pipe(release), 0);
  const pid_t child = ::fork();
  assert_true(child >= 0);
  if (child == 0) {
    ::close(locked[0]);
    ::close(release[1]);
    const int fd = ::open(dir.file.c_str(), O_RDONLY);
    if (fd < 0 || ::flock(fd, LOCK_EX) != 0) ::_exit(1);
    if (::write(locked[1], "x", 1) != 1) ::_exit(2);
    char byte;
    (void)!::read(release[0], &byte, 1);  // until the parent closes its end
    ::_exit(0);
  }
  ::close(locked[1]);
  ::close(release[0]);
  char byte;
  assert_int_equal(::read(locked[0], &byte, 1), 1);

  FileExpectations expectations;
  expectations.lock_timeout = std::chrono::milliseconds(200);
  bool called = false;
  const auto start = std::chrono::steady_clock::now();
  const auto status = lock_and_update_secret_file(dir.file, expectations, [&](SecretDocument&) {
    called = true;
    return UpdateDecision::write;
  });
  const auto waited = std::chrono::steady_clock::now() - start;
  assert_error(status, ErrorCode::lock_timeout, "locked by another process");
  assert_false(called);
  assert_true(waited >= std::chrono::milliseconds(200));
  assert_true(waited < std::chrono::milliseconds(2000));
  auto read = read_secret_file(dir.file, expectations);  // shared lock waits too
  assert_false(read.ok());
  assert_int_equal(static_cast<int>(read.error().code), static_cast<int>(ErrorCode::lock_timeout));

  ::close(release[1]);
  int wstatus = 0;
  assert_int_equal(::waitpid(child, &wstatus, 0), child);
  assert_true(WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0);
  ::close(locked[0]);
  // Once released, the update goes through.
  assert_true(lock_and_update_secret_file(dir.file, expectations, set_last_step).ok());
}

// 20 processes released at once submit the same valid TOTP code: exactly one
// is accepted in every round; the others see the replay floor.
enum ChildResult { kAccepted = 0, kReplayed = 1, kOther = 2, kStoreError = 3 };

[[noreturn]] void verify_in_child(const std::string& path, int barrier, const std::string& code,
                                  std::int64_t now) {
  char byte;
  (void)!::read(barrier, &byte, 1);  // blocks until the parent closes the pipe
  VerifyResult result = VerifyResult::malformed;
  const auto status = lock_and_update_secret_file(path, {}, [&](SecretDocument& document) {
    const VerifyOutcome outcome = verify_code(document.enrollment, code, now);
    result = outcome.result;
    return outcome.state_changed ? UpdateDecision::write : UpdateDecision::keep;
  });
  if (!status) {
    std::fprintf(stderr, "child: %s\n", status.error().message.c_str());
    ::_exit(kStoreError);
  }
  if (result == VerifyResult::accepted) ::_exit(kAccepted);
  ::_exit(result == VerifyResult::replayed ? kReplayed : kOther);
}

void test_concurrent_logins_accept_once(void** state) {
  const TestDir& dir = dir_of(state);
  constexpr int kRounds = 20;
  constexpr int kProcesses = 20;
  const SecretBytes key = SecretBytes::from_string(kKey);
  for (int round = 0; round < kRounds; ++round) {
    write_file(dir.file, kFile);
    const std::int64_t now = std::time(nullptr);
    const std::uint64_t step = totp_step(now, 30);
    auto value = hotp(key.span(), step, 6, HashAlgorithm::sha1);
    assert_true(value.ok());
    const std::string code(format_code(*value, 6).view());

    int barrier[2];
    assert_int_equal(::pipe(barrier), 0);
    std::vector<pid_t> children;
    for (int i = 0; i < kProcesses; ++i) {
      const pid_t child = ::fork();
      assert_true(child >= 0);
      if (child == 0) {
        ::close(barrier[1]);
        verify_in_child(dir.file, barrier[0], code, now);
      }
      children.push_back(child);
    }
    ::close(barrier[0]);
    ::close(barrier[1]);  // go
    int counts[4] = {0, 0, 0, 0};
    for (const pid_t child : children) {
      int wstatus = 0;
      assert_int_equal(::waitpid(child, &wstatus, 0), child);
      assert_true(WIFEXITED(wstatus));
      const int rc = WEXITSTATUS(wstatus);
      assert_in_range(rc, 0, 3);
      ++counts[rc];
    }
    if (counts[kAccepted] != 1 || counts[kReplayed] != kProcesses - 1) {
      fail_msg("round %d: accepted %d, replayed %d, other %d, store errors %d", round,
               counts[kAccepted], counts[kReplayed], counts[kOther], counts[kStoreError]);
    }
    auto final_state = read_secret_file(dir.file, {});
    assert_true(final_state.ok());
    assert_int_equal(*final_state->enrollment.tokens[0].last_step, step);
    assert_int_equal(dir_entries(dir.path).size(), 1);
  }
}

SecretDocument sample_document() {
  Enrollment enrollment;
  Token token;
  token.key = SecretBytes::from_string(kKey);
  enrollment.tokens.push_back(std::move(token));
  return make_document(FileFormat::native, std::move(enrollment));
}

// twostep-enroll --force (issue 18 item 8): the new document may take over
// parts of the old one, under its lock, and only from a file trusted as it
// is; a missing or untrusted one is reported, and replaced all the same.
void test_replace_secret_file_takes_over(void** state) {
  const TestDir& dir = dir_of(state);
  const std::string old_file = kFile + "window 3\n";
  struct Seen {
    bool ok = false;
    ErrorCode code = ErrorCode::io;
    std::uint32_t window = 0;
  };
  auto replace = [&](Seen& seen) {
    SecretDocument fresh = sample_document();
    return replace_secret_file(dir.file, fresh,
                               [&](const Result<SecretDocument>& old, SecretDocument& next) {
                                 seen.ok = old.ok();
                                 if (old) {
                                   seen.window = old->enrollment.window;
                                   next.enrollment.window = old->enrollment.window;
                                 } else {
                                   seen.code = old.error().code;
                                 }
                               });
  };
  Seen seen;
  assert_true(replace(seen).ok());  // no file yet
  assert_false(seen.ok);
  assert_int_equal(seen.code, ErrorCode::not_found);

  write_file(dir.file, old_file);
  seen = {};
  assert_true(replace(seen).ok());
  assert_true(seen.ok);
  assert_int_equal(seen.window, 3);
  assert_int_equal(read_secret_file(dir.file, {})->enrollment.window, 3);  // taken over

  write_file(dir.file, old_file, 0644);  // others could have written it
  seen = {};
  assert_true(replace(seen).ok());
  assert_false(seen.ok);
  assert_int_equal(seen.code, ErrorCode::unsafe_file);
  assert_int_equal(read_secret_file(dir.file, {})->enrollment.window, 1);  // nothing taken
  assert_int_equal(stat_of(dir.file).st_mode & 07777, 0600);
}

void test_create_secret_file(void** state) {
  const TestDir& dir = dir_of(state);
  const SecretDocument document = sample_document();
  const std::string expected(serialize_secret_document(document)->view());
  assert_true(create_secret_file(dir.file, document, false).ok());
  assert_string_equal(read_file(dir.file).c_str(), expected.c_str());
  assert_int_equal(stat_of(dir.file).st_mode & 07777, 0600);
  assert_true(read_secret_file(dir.file, {}).ok());

  write_file(dir.file, kFile);
  assert_error(create_secret_file(dir.file, document, false), ErrorCode::invalid_argument,
               "already exists");
  assert_string_equal(read_file(dir.file).c_str(), kFile.c_str());
  assert_true(create_secret_file(dir.file, document, true).ok());
  assert_string_equal(read_file(dir.file).c_str(), expected.c_str());

  ::unlink(dir.file.c_str());
  const std::string target = dir.path + "/target";
  write_file(target, kFile);
  assert_int_equal(::symlink(target.c_str(), dir.file.c_str()), 0);
  assert_error(create_secret_file(dir.file, document, true), ErrorCode::unsafe_file,
               "is a symlink");
  assert_string_equal(read_file(target).c_str(), kFile.c_str());
  ::unlink(dir.file.c_str());
  ::unlink(target.c_str());

  if (::geteuid() == 0) {  // chown only when running as root
    assert_true(create_secret_file(dir.file, document, true, uid_t{65534}, gid_t{65534}).ok());
    const struct stat st = stat_of(dir.file);
    assert_int_equal(st.st_uid, 65534);
    assert_int_equal(st.st_gid, 65534);
    FileExpectations nobody;
    nobody.owner = 65534;
    assert_true(read_secret_file(dir.file, nobody).ok());
    // An update as root keeps that owner.
    assert_true(lock_and_update_secret_file(dir.file, nobody, set_last_step).ok());
    assert_int_equal(stat_of(dir.file).st_uid, 65534);
  }
  assert_int_equal(dir_entries(dir.path).size(), 1);
}

// ---- strict modes -------------------------------------------------------------

constexpr uid_t kOtherUid = 65534;  // another user (nobody)

struct DirCase {
  const char* name;
  mode_t parent_mode;
  uid_t parent_owner;  // kSelf: the test's euid
  mode_t dir_mode;
  uid_t dir_owner;
  bool strict;
  bool safe;
  const char* message_part;  // expected in the refusal
};
constexpr uid_t kSelf = static_cast<uid_t>(-2);
constexpr uid_t kRoot = 0;

// Every case of strict modes: <base>/parent/dir/secret, where <base> is a
// 0700 mkdtemp directory under /tmp (root-owned, sticky: allowed).
const DirCase kDirCases[] = {
    {"private", 0700, kSelf, 0700, kSelf, true, true, ""},
    {"readable", 0755, kSelf, 0755, kSelf, true, true, ""},
    {"dir group-writable", 0755, kSelf, 0775, kSelf, true, false, "writable by group or others"},
    {"dir other-writable", 0755, kSelf, 0757, kSelf, true, false, "writable by group or others"},
    {"dir 0777", 0755, kSelf, 0777, kSelf, true, false, "writable by group or others"},
    {"dir sticky, owner not root", 0755, kSelf, 01777, kSelf, true, false, "writable by group"},
    {"parent group-writable", 0775, kSelf, 0700, kSelf, true, false, "/parent is writable"},
    {"parent 0777", 0777, kSelf, 0700, kSelf, true, false, "/parent is writable"},
    {"relaxed: dir 0777", 0755, kSelf, 0777, kSelf, false, true, ""},
    {"relaxed: parent 0777", 0777, kSelf, 0755, kSelf, false, true, ""},
    // Root only: other owners.
    {"dir root-owned sticky", 0755, kSelf, 01777, kRoot, true, true, ""},
    {"dir root-owned group-writable", 0755, kSelf, 0775, kRoot, true, false, "writable"},
    {"parent root-owned sticky 1777", 01777, kRoot, 0700, kSelf, true, true, ""},
    {"parent root-owned", 0755, kRoot, 0700, kSelf, true, true, ""},
    {"dir owned by another user", 0755, kSelf, 0755, kOtherUid, true, false, "owned by uid 65534"},
    {"parent owned by another user", 0755, kOtherUid, 0700, kSelf, true, false,
     "owned by uid 65534"},
    {"dir other user's, sticky", 0755, kSelf, 01777, kOtherUid, true, false, "owned by uid 65534"},
    {"relaxed: other user's dir", 0755, kSelf, 0777, kOtherUid, false, true, ""},
};

void test_strict_modes_table(void** state) {
  const TestDir& dir = dir_of(state);
  const bool root = ::geteuid() == 0;
  const std::string parent = dir.path + "/parent";
  const std::string inner = parent + "/dir";
  const std::string file = inner + "/secret";
  int run = 0;
  for (const DirCase& c : kDirCases) {
    const uid_t parent_owner = c.parent_owner == kSelf ? ::geteuid() : c.parent_owner;
    const uid_t dir_owner = c.dir_owner == kSelf ? ::geteuid() : c.dir_owner;
    if (!root && (parent_owner != ::geteuid() || dir_owner != ::geteuid())) continue;
    // As root, "self" is root: cases about a non-root owner do not apply.
    if (root && std::strstr(c.name, "owner not root") != nullptr) continue;
    ++run;
    ::mkdir(parent.c_str(), 0700);
    ::mkdir(inner.c_str(), 0700);
    assert_int_equal(::chmod(parent.c_str(), 0700), 0);
    assert_int_equal(::chmod(inner.c_str(), 0700), 0);
    write_file(file, kFile);
    if (root) {
      assert_int_equal(::chown(inner.c_str(), dir_owner, static_cast<gid_t>(-1)), 0);
      assert_int_equal(::chown(parent.c_str(), parent_owner, static_cast<gid_t>(-1)), 0);
    }
    assert_int_equal(::chmod(inner.c_str(), c.dir_mode), 0);
    assert_int_equal(::chmod(parent.c_str(), c.parent_mode), 0);
    FileExpectations expectations;
    expectations.strict_modes = c.strict;
    const auto checked = check_secret_directories(file, expectations);
    const auto updated = lock_and_update_secret_file(file, expectations, set_last_step);
    const auto read = read_secret_file(file, expectations);
    if (c.safe) {
      if (!checked || !updated || !read.ok()) {
        fail_msg("%s: refused: %s", c.name,
                 (!checked ? checked.error() : !updated ? updated.error() : read.error())
                     .message.c_str());
      }
    } else {
      if (checked) fail_msg("%s: accepted", c.name);
      assert_error(checked, ErrorCode::unsafe_file, c.message_part);
      assert_error(updated, ErrorCode::unsafe_file, c.message_part);
      assert_false(read.ok());
      // Refused before anything was written.
      assert_string_equal(read_file(file).c_str(), kFile.c_str());
    }
    // Back to a state the next case (and teardown) can work with.
    if (root) {
      assert_int_equal(::chown(parent.c_str(), ::geteuid(), static_cast<gid_t>(-1)), 0);
      assert_int_equal(::chown(inner.c_str(), ::geteuid(), static_cast<gid_t>(-1)), 0);
    }
    assert_int_equal(::chmod(parent.c_str(), 0700), 0);
    assert_int_equal(::chmod(inner.c_str(), 0700), 0);
  }
  assert_true(run >= 10);
  // create_secret_file (twostep-enroll) checks the same way.
  assert_int_equal(::chmod(inner.c_str(), 0777), 0);
  ::unlink(file.c_str());
  assert_error(create_secret_file(file, parse_secret_document(kFile).value(), false),
               ErrorCode::unsafe_file, "writable by group or others");
  assert_int_equal(::chmod(inner.c_str(), 0700), 0);
}

// A symlink in a directory others can write: realpath alone would check only
// the link's (safe) target, not the writable directory holding the link.
void test_strict_modes_see_directory_holding_a_symlink(void** state) {
  const TestDir& dir = dir_of(state);
  const std::string shared = dir.path + "/shared";
  const std::string safe = dir.path + "/safe";
  assert_int_equal(::mkdir(shared.c_str(), 0700), 0);
  assert_int_equal(::mkdir(safe.c_str(), 0700), 0);
  write_file(safe + "/secret", kFile);
  assert_int_equal(::symlink(safe.c_str(), (shared + "/user").c_str()), 0);
  const std::string file = shared + "/user/secret";
  assert_true(check_secret_directories(file, {}).ok());  // a symlinked path is fine ...
  assert_int_equal(::chmod(shared.c_str(), 0777), 0);    // ... unless others can relink it
  assert_error(check_secret_directories(file, {}), ErrorCode::unsafe_file,
               "/shared is writable by group or others");
  assert_error(lock_and_update_secret_file(file, {}, set_last_step), ErrorCode::unsafe_file,
               "/shared is writable");
  // Pointed at a safe directory without the file: still refused, so nullok
  // cannot take it for "not enrolled".
  assert_int_equal(::unlink((safe + "/secret").c_str()), 0);
  assert_error(check_secret_directories(file, {}), ErrorCode::unsafe_file, "/shared");
  assert_int_equal(::chmod(shared.c_str(), 0700), 0);
}

// ---- one locked writer ---------------------------------------------------------

// A login that holds the lock for 500 ms and then writes back what it read
// (its state change: here a new replay floor on the old key).
pid_t start_slow_login(const std::string& path) {
  int ready[2];
  assert_int_equal(::pipe(ready), 0);
  const pid_t child = ::fork();
  assert_true(child >= 0);
  if (child == 0) {
    ::close(ready[0]);
    const auto status = lock_and_update_secret_file(path, {}, [&](SecretDocument& document) {
      const char byte = 1;
      if (::write(ready[1], &byte, 1) != 1) ::_exit(3);
      ::usleep(500 * 1000);
      document.enrollment.tokens[0].last_step = 7;
      return UpdateDecision::write;
    });
    ::_exit(status.ok() ? 0 : 2);
  }
  ::close(ready[1]);
  char byte = 0;
  assert_int_equal(::read(ready[0], &byte, 1), 1);  // the login holds the lock now
  ::close(ready[0]);
  return child;
}

int wait_for(pid_t child) {
  int wstatus = 0;
  assert_int_equal(::waitpid(child, &wstatus, 0), child);
  assert_true(WIFEXITED(wstatus));
  return WEXITSTATUS(wstatus);
}

SecretDocument document_with_key(const char* key) {
  Enrollment enrollment;
  Token token;
  token.key = SecretBytes::from_string(key);
  enrollment.tokens.push_back(std::move(token));
  return make_document(FileFormat::native, std::move(enrollment));
}

// twostep-enroll --force during a login: the new key must win. (Before, the
// login wrote the old key back over the re-enrollment.)
void test_replace_during_login_wins(void** state) {
  const TestDir& dir = dir_of(state);
  for (int round = 0; round < 3; ++round) {
    write_file(dir.file, kFile);
    const pid_t login = start_slow_login(dir.file);
    assert_true(create_secret_file(dir.file, document_with_key("new-key-new-key-new-key"), true).ok());
    (void)wait_for(login);  // it may fail or retry; it must not undo the enrollment
    auto now = read_secret_file(dir.file, {});
    assert_true(now.ok());
    assert_string_equal(std::string(now->enrollment.tokens[0].key.view()).c_str(),
                        "new-key-new-key-new-key");
    assert_int_equal(dir_entries(dir.path).size(), 1);
  }
}

// twostep-enroll --remove during a login: the file stays gone.
void test_remove_during_login_wins(void** state) {
  const TestDir& dir = dir_of(state);
  for (int round = 0; round < 3; ++round) {
    write_file(dir.file, kFile);
    const pid_t login = start_slow_login(dir.file);
    assert_true(remove_secret_file(dir.file, {}).ok());
    (void)wait_for(login);
    struct stat info {};
    assert_int_equal(::lstat(dir.file.c_str(), &info), -1);
    assert_int_equal(errno, ENOENT);
    assert_int_equal(dir_entries(dir.path).size(), 0);
  }
  assert_error(remove_secret_file(dir.file, {}), ErrorCode::not_found, "does not exist");
  // What --remove did before (a bare unlink while the login held the lock)
  // loses the race: the login brings the file back. This is what the test
  // above guards against.
  write_file(dir.file, kFile);
  const pid_t login = start_slow_login(dir.file);
  assert_int_equal(::unlink(dir.file.c_str()), 0);
  assert_int_equal(wait_for(login), 0);
  struct stat info {};
  assert_int_equal(::lstat(dir.file.c_str(), &info), 0);
}

// ---- the directory is resolved once ----------------------------------------

// secret=${HOME}/sub/%u: `sub` swapped for a symlink to another directory
// while the login runs. The update must land in the directory it opened;
// the other directory's file stays untouched and gets no temp files.
void test_directory_swap_mid_update(void** state) {
  const TestDir& dir = dir_of(state);
  const std::string sub = dir.path + "/sub";
  const std::string elsewhere = dir.path + "/elsewhere";
  assert_int_equal(::mkdir(sub.c_str(), 0700), 0);
  assert_int_equal(::mkdir(elsewhere.c_str(), 0700), 0);
  const std::string decoy = "twostep-secret 1\n# someone else's file\n"
                            "token name=phone type=totp secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\n";
  write_file(sub + "/secret", kFile);
  write_file(elsewhere + "/secret", decoy);
  const auto status = lock_and_update_secret_file(sub + "/secret", {}, [&](SecretDocument& doc) {
    assert_int_equal(::rename(sub.c_str(), (dir.path + "/sub-old").c_str()), 0);
    assert_int_equal(::symlink(elsewhere.c_str(), sub.c_str()), 0);
    doc.enrollment.tokens[0].last_step = 42;
    return UpdateDecision::write;
  });
  assert_true(status.ok());
  assert_string_equal(read_file(elsewhere + "/secret").c_str(), decoy.c_str());
  assert_int_equal(dir_entries(elsewhere).size(), 1);
  assert_true(read_file(dir.path + "/sub-old/secret").find("last-step=42") != std::string::npos);
  assert_int_equal(dir_entries(dir.path + "/sub-old").size(), 1);
}

// ---- killed writers --------------------------------------------------------------

// Logins killed at random points (SIGKILL, and SIGTERM as sshd sends when
// the client goes away) used to leave ".<name>.XXXXXX" copies of the seed.
// Now the content has no name until complete, and then one fixed update name
// that the next login replaces under the lock (no directory listing per
// login); the tool's replace also removes older versions' random names. The
// file itself is always whole.
void test_killed_writers_leave_no_temp_files(void** state) {
  const TestDir& dir = dir_of(state);
  write_file(dir.file, kFile);
  // A leftover from an older version, to be removed too.
  write_file(dir.path + "/.secret.Ab12Cd", kFile);
  std::srand(12345);
  for (int round = 0; round < 200; ++round) {
    const pid_t child = ::fork();
    assert_true(child >= 0);
    if (child == 0) {
      for (std::uint64_t i = 0;; ++i) {
        (void)lock_and_update_secret_file(dir.file, {}, [&](SecretDocument& document) {
          document.enrollment.tokens[0].last_step = i;
          return UpdateDecision::write;
        });
      }
    }
    ::usleep(static_cast<useconds_t>(200 + std::rand() % 3000));
    ::kill(child, round % 2 == 0 ? SIGKILL : SIGTERM);
    int wstatus = 0;
    assert_int_equal(::waitpid(child, &wstatus, 0), child);
    assert_true(read_secret_file(dir.file, {}).ok());
  }
  // A killed writer's copy under the update name, as a kill between link
  // and rename leaves it: the next login replaces it.
  write_file(dir.path + "/.secret.twostep-new", kFile);
  assert_true(lock_and_update_secret_file(dir.file, {}, set_last_step).ok());
  auto entries = dir_entries(dir.path);
  if (entries.size() != 2 || std::find(entries.begin(), entries.end(), ".secret.Ab12Cd") ==
                                 entries.end()) {
    fail_msg("%zu entries left after a login, e.g. %s", entries.size(), entries[0].c_str());
  }
  // The tool's replace (twostep-enroll --force) sweeps the older name too.
  auto document = read_secret_file(dir.file, {});
  assert_true(document.ok());
  assert_true(create_secret_file(dir.file, *document, true).ok());
  entries = dir_entries(dir.path);
  if (entries.size() != 1) fail_msg("%zu entries left, e.g. %s", entries.size(), entries[0].c_str());
}

// ---- SELinux label and ACL ---------------------------------------------------------

// A POSIX ACL in its xattr form: user::rw-, user:65534:---, group::---,
// mask::---, other::---. (The mask keeps group bits 0, as the file checks
// require.)
std::vector<unsigned char> sample_acl() {
  std::vector<unsigned char> acl;
  auto put16 = [&](unsigned v) {
    acl.push_back(static_cast<unsigned char>(v & 0xff));
    acl.push_back(static_cast<unsigned char>(v >> 8));
  };
  auto put32 = [&](unsigned v) {
    put16(v & 0xffff);
    put16(v >> 16);
  };
  put32(2);  // version
  const unsigned entries[][3] = {{0x01, 6, 0xffffffffu}, {0x02, 0, 65534},
                                 {0x04, 0, 0xffffffffu}, {0x10, 0, 0xffffffffu},
                                 {0x20, 0, 0xffffffffu}};
  for (const auto& e : entries) {
    put16(e[0]);
    put16(e[1]);
    put32(e[2]);
  }
  return acl;
}

std::string attribute_of(const std::string& path, const char* name) {
  std::vector<char> value(4096);
  const ssize_t n = ::getxattr(path.c_str(), name, value.data(), value.size());
  return n < 0 ? std::string("<none>") : std::string(value.data(), static_cast<std::size_t>(n));
}

void test_security_attributes_kept(void** state) {
  const TestDir& dir = dir_of(state);
  write_file(dir.file, kFile);
  const auto acl = sample_acl();
  int kept = 0;
  if (::setxattr(dir.file.c_str(), "system.posix_acl_access", acl.data(), acl.size(), 0) == 0) {
    assert_int_equal(stat_of(dir.file).st_mode & 077, 0);
    ++kept;
  }
  // Without SELinux loaded, root may still store a label as an attribute.
  const char label[] = "system_u:object_r:user_home_t:s0";
  if (::setxattr(dir.file.c_str(), "security.selinux", label, sizeof label, 0) == 0) ++kept;
  if (kept == 0) skip();
  const std::string acl_before = attribute_of(dir.file, "system.posix_acl_access");
  const std::string label_before = attribute_of(dir.file, "security.selinux");
  assert_true(lock_and_update_secret_file(dir.file, {}, set_last_step).ok());
  assert_true(attribute_of(dir.file, "system.posix_acl_access") == acl_before);
  assert_true(attribute_of(dir.file, "security.selinux") == label_before);
  assert_true(read_file(dir.file).find("last-step=99") != std::string::npos);
}

// ---- what a file may hold ----------------------------------------------------------

// A one-byte key (secret=AE) was accepted; one observed code recovers it.
void test_short_keys_refused_in_files(void** state) {
  const TestDir& dir = dir_of(state);
  const std::vector<std::string> short_files = {
      "twostep-secret 1\ntoken name=phone type=totp secret=AE\n",
      "twostep-secret 1\ntoken name=phone type=totp secret=GEZDGNBVGY3TQOI\n",  // 72 bits
      "AE\n\" TOTP_AUTH\n",
  };
  for (const auto& text : short_files) {
    write_file(dir.file, text);
    bool called = false;
    const auto status = lock_and_update_secret_file(dir.file, {}, [&](SecretDocument&) {
      called = true;
      return UpdateDecision::keep;
    });
    assert_error(status, ErrorCode::malformed, "key shorter than 80 bits");
    assert_false(called);
  }
  auto document = parse_secret_document(kFile).value();
  document.enrollment.tokens[0].key = SecretBytes::from_string("short");
  ::unlink(dir.file.c_str());
  assert_error(create_secret_file(dir.file, document, false), ErrorCode::invalid_argument,
               "key shorter than 80 bits");
}

// rate-failures entries may carry a source tag (TIME@HEX); kept byte for
// byte, and strictly parsed.
void test_rate_failure_sources_in_native_files(void** /*state*/) {
  const std::string text =
      "twostep-secret 1\nrate-limit 3 60\nrate-failures 1700000000@0a1b2c3d4e5f 1700000001\n"
      "token name=phone type=totp secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\n";
  auto document = parse_secret_document(text);
  assert_true(document.ok());
  const auto& limit = document->enrollment.rate_limit;
  assert_int_equal(limit.failures.size(), 2);
  assert_int_equal(limit.failure_sources.size(), 2);
  assert_string_equal(limit.failure_sources[0].c_str(), "0a1b2c3d4e5f");
  assert_true(limit.failure_sources[1].empty());
  auto written = serialize_secret_document(*document);
  assert_true(written.ok());
  assert_string_equal(std::string(written->view()).c_str(), text.c_str());
  for (const char* bad : {"1700000000@", "1700000000@XYZ", "1700000000@0a1b2c3d4e5f0a1b2",
                          "1700000000@203.0.113.9", "@0a"}) {
    const std::string line = std::string("rate-failures ") + bad;
    auto refused = parse_secret_document(
        "twostep-secret 1\nrate-limit 3 60\n" + line +
        "\ntoken name=phone type=totp secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\n");
    assert_false(refused.ok());
  }
}

// A google-authenticator HOTP file at the last counter: its code was
// accepted 3 of 3 times. Now never.
void test_spent_hotp_counter_in_ga_file(void** state) {
  const TestDir& dir = dir_of(state);
  write_file(dir.file,
             "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\n\" HOTP_COUNTER 18446744073709551615\n");
  const SecretBytes key = SecretBytes::from_string(kKey);
  auto value = hotp(key.span(), UINT64_MAX, 6, HashAlgorithm::sha1);
  assert_true(value.ok());
  const std::string code(format_code(*value, 6).view());
  int accepted = 0;
  for (int i = 0; i < 3; ++i) {
    assert_true(lock_and_update_secret_file(dir.file, {}, [&](SecretDocument& document) {
      const auto outcome = verify_code(document.enrollment, code, std::time(nullptr));
      if (outcome.result == VerifyResult::accepted) ++accepted;
      return outcome.state_changed ? UpdateDecision::write : UpdateDecision::keep;
    }).ok());
  }
  assert_int_equal(accepted, 0);
}

}  // namespace

int main() {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_update_writes_atomically, setup_dir, teardown_dir),
      cmocka_unit_test_setup_teardown(test_keep_leaves_file_untouched, setup_dir, teardown_dir),
      cmocka_unit_test_setup_teardown(test_failed_write_leaves_original, setup_dir, teardown_dir),
      cmocka_unit_test_setup_teardown(test_unsafe_files_refused, setup_dir, teardown_dir),
      cmocka_unit_test_setup_teardown(test_bad_content_refused, setup_dir, teardown_dir),
      cmocka_unit_test_setup_teardown(test_lock_timeout, setup_dir, teardown_dir),
      cmocka_unit_test_setup_teardown(test_concurrent_logins_accept_once, setup_dir,
                                      teardown_dir),
      cmocka_unit_test_setup_teardown(test_create_secret_file, setup_dir, teardown_dir),
      cmocka_unit_test_setup_teardown(test_replace_secret_file_takes_over, setup_dir,
                                      teardown_dir),
      cmocka_unit_test_setup_teardown(test_strict_modes_table, setup_dir, teardown_dir),
      cmocka_unit_test_setup_teardown(test_strict_modes_see_directory_holding_a_symlink, setup_dir,
                                      teardown_dir),
      cmocka_unit_test_setup_teardown(test_replace_during_login_wins, setup_dir, teardown_dir),
      cmocka_unit_test_setup_teardown(test_remove_during_login_wins, setup_dir, teardown_dir),
      cmocka_unit_test_setup_teardown(test_directory_swap_mid_update, setup_dir, teardown_dir),
      cmocka_unit_test_setup_teardown(test_killed_writers_leave_no_temp_files, setup_dir,
                                      teardown_dir),
      cmocka_unit_test_setup_teardown(test_security_attributes_kept, setup_dir, teardown_dir),
      cmocka_unit_test_setup_teardown(test_short_keys_refused_in_files, setup_dir, teardown_dir),
      cmocka_unit_test_setup_teardown(test_spent_hotp_counter_in_ga_file, setup_dir,
                                      teardown_dir),
      cmocka_unit_test(test_rate_failure_sources_in_native_files),
  };
  return cmocka_run_group_tests(tests, nullptr, nullptr);
}
