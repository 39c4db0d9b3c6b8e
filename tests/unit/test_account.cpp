// Account lookups (by name and by uid) and the per-thread file access
// identity, as pam_twostep and twostep-enroll both use them.
#include <cstdarg>
#include <cstddef>
#include <csetjmp>
#include <cstdint>
#include <fcntl.h>
#include <grp.h>
#include <sys/fsuid.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <vector>
// cmocka 1.1 has no extern "C" guards of its own.
extern "C" {
#include <cmocka.h>
}

#include <string>

#include "twostep/account.hpp"
#include "twostep/file_identity.hpp"

using namespace twostep;

namespace {

// Every Linux system has root as uid 0 and a "nobody" account.
void test_lookup_by_name_and_uid_agree(void** /*state*/) {
  auto by_name = lookup_account("root");
  assert_true(by_name.ok());
  assert_true(by_name->has_value());
  assert_int_equal((*by_name)->uid, 0);
  assert_false((*by_name)->home.empty());

  auto by_uid = lookup_account_by_uid(0);
  assert_true(by_uid.ok());
  assert_true(by_uid->has_value());
  assert_string_equal((*by_uid)->name.c_str(), "root");
  assert_string_equal((*by_uid)->home.c_str(), (*by_name)->home.c_str());
  assert_int_equal((*by_uid)->gid, (*by_name)->gid);

  auto nobody = lookup_account("nobody");
  assert_true(nobody.ok());
  assert_true(nobody->has_value());
  auto nobody_by_uid = lookup_account_by_uid((*nobody)->uid);
  assert_true(nobody_by_uid.ok());
  assert_true(nobody_by_uid->has_value());
  assert_string_equal((*nobody_by_uid)->name.c_str(), "nobody");
}

void test_missing_accounts_are_not_errors(void** /*state*/) {
  for (const std::string& name :
       {std::string("no-such-user-twostep"), std::string(), std::string("ro\0ot", 5)}) {
    auto account = lookup_account(name);
    assert_true(account.ok());
    assert_false(account->has_value());
  }
  auto account = lookup_account_by_uid(static_cast<uid_t>(3999999999U));
  assert_true(account.ok());
  assert_false(account->has_value());
}

uid_t fsuid_now() { return static_cast<uid_t>(setfsuid(static_cast<uid_t>(-1))); }
gid_t fsgid_now() { return static_cast<gid_t>(setfsgid(static_cast<gid_t>(-1))); }

void test_file_identity_switches_and_restores(void** /*state*/) {
  const uid_t uid = fsuid_now();
  const gid_t gid = fsgid_now();
  {
    auto same = FileAccessIdentity::assume(uid, gid);
    assert_true(same.ok());
    assert_int_equal(fsuid_now(), uid);
  }
  if (geteuid() != 0) {
    // Unprivileged: switching to anyone else is refused, nothing changes.
    auto refused = FileAccessIdentity::assume(uid + 1, gid + 1);
    assert_false(refused.ok());
    assert_int_equal(fsuid_now(), uid);
    assert_int_equal(fsgid_now(), gid);
    return;
  }
  {
    auto other = FileAccessIdentity::assume(65534, 65534);
    assert_true(other.ok());
    assert_int_equal(fsuid_now(), 65534);
    assert_int_equal(fsgid_now(), 65534);
    auto moved = std::move(*other);  // the moved-from one restores nothing
  }
  assert_int_equal(fsuid_now(), uid);
  assert_int_equal(fsgid_now(), gid);
}

std::vector<gid_t> groups_now() {
  std::vector<gid_t> groups(static_cast<std::size_t>(getgroups(0, nullptr)));
  if (!groups.empty()) assert_int_equal(getgroups(static_cast<int>(groups.size()), groups.data()),
                                        static_cast<int>(groups.size()));
  return groups;
}

// The caller's supplementary groups must grant nothing while the identity
// is switched. Under su or sudo the process carries the invoking user's
// groups; a file readable only by such a group (here 4242, which nobody is
// not in) was readable through a switched fsuid/fsgid alone.
void test_file_identity_drops_callers_groups(void** /*state*/) {
  if (geteuid() != 0) skip();
  const auto saved = groups_now();
  constexpr gid_t kCallersGroup = 4242;
  const gid_t callers[] = {kCallersGroup};
  assert_int_equal(setgroups(1, callers), 0);
  char dir[] = "/tmp/twostep-groups-XXXXXX";
  assert_non_null(mkdtemp(dir));
  const std::string file = std::string(dir) + "/group-only";
  const int fd = open(file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0040);
  assert_true(fd >= 0);
  close(fd);
  assert_int_equal(chmod(dir, 0711), 0);
  assert_int_equal(chown(file.c_str(), 0, kCallersGroup), 0);
  assert_int_equal(chmod(file.c_str(), 0040), 0);
  int opened = -2;
  std::vector<gid_t> during;
  {
    auto nobody = FileAccessIdentity::assume(65534, 65534, "nobody");
    assert_true(nobody.ok());
    during = groups_now();
    opened = open(file.c_str(), O_RDONLY | O_CLOEXEC);
    if (opened >= 0) close(opened);
  }
  const auto after = groups_now();
  std::filesystem::remove_all(dir);
  assert_int_equal(setgroups(saved.size(), saved.data()), 0);
  assert_int_equal(opened, -1);  // the caller's group no longer counts
  for (const gid_t g : during) assert_true(g != kCallersGroup);
  assert_int_equal(after.size(), 1);  // restored
  assert_int_equal(after[0], kCallersGroup);
}

}  // namespace

int main() {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_lookup_by_name_and_uid_agree),
      cmocka_unit_test(test_missing_accounts_are_not_errors),
      cmocka_unit_test(test_file_identity_switches_and_restores),
      cmocka_unit_test(test_file_identity_drops_callers_groups),
  };
  return cmocka_run_group_tests(tests, nullptr, nullptr);
}
