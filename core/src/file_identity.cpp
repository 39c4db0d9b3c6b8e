#include "twostep/file_identity.hpp"

#include <sys/fsuid.h>

#include <string>

namespace twostep {

namespace {

// setfsuid/setfsgid report the previous value and never fail loudly; an
// invalid id (-1) changes nothing, which turns them into a query.
uid_t current_fsuid() noexcept {
  return static_cast<uid_t>(setfsuid(static_cast<uid_t>(-1)));
}
gid_t current_fsgid() noexcept {
  return static_cast<gid_t>(setfsgid(static_cast<gid_t>(-1)));
}

}  // namespace

Result<FileAccessIdentity> FileAccessIdentity::assume(uid_t uid, gid_t gid) {
  const uid_t previous_uid = current_fsuid();
  const gid_t previous_gid = current_fsgid();
  if (previous_uid == uid && previous_gid == gid) {
    return FileAccessIdentity(previous_uid, previous_gid, false);
  }
  // Group first: it is still allowed while the fsuid is privileged.
  setfsgid(gid);
  if (current_fsgid() != gid) {
    return make_error(ErrorCode::invalid_argument,
                      "cannot switch file access to gid " + std::to_string(gid));
  }
  setfsuid(uid);
  if (current_fsuid() != uid) {
    setfsgid(previous_gid);
    return make_error(ErrorCode::invalid_argument,
                      "cannot switch file access to uid " + std::to_string(uid));
  }
  return FileAccessIdentity(previous_uid, previous_gid, true);
}

FileAccessIdentity::FileAccessIdentity(FileAccessIdentity&& other) noexcept
    : previous_uid_(other.previous_uid_),
      previous_gid_(other.previous_gid_),
      switched_(other.switched_) {
  other.switched_ = false;
}

FileAccessIdentity::~FileAccessIdentity() {
  if (switched_) {
    setfsuid(previous_uid_);
    setfsgid(previous_gid_);
  }
}

}  // namespace twostep
