#include "twostep/file_identity.hpp"

#include "twostep/account.hpp"

#include <grp.h>
#include <sys/fsuid.h>
#include <unistd.h>

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

Result<std::vector<gid_t>> current_groups() {
  const int count = ::getgroups(0, nullptr);
  if (count < 0) return make_error(ErrorCode::io, "cannot read the supplementary groups");
  std::vector<gid_t> groups(static_cast<std::size_t>(count));
  if (count > 0 && ::getgroups(count, groups.data()) != count) {
    return make_error(ErrorCode::io, "cannot read the supplementary groups");
  }
  return groups;
}

bool set_groups(const std::vector<gid_t>& groups) noexcept {
  return ::setgroups(groups.size(), groups.data()) == 0;
}

}  // namespace

Result<FileAccessIdentity> FileAccessIdentity::assume(uid_t uid, gid_t gid,
                                                      std::string_view user_name) {
  std::optional<std::vector<gid_t>> groups;
  return assume(uid, gid, user_name, groups);
}

Result<FileAccessIdentity> FileAccessIdentity::assume(
    uid_t uid, gid_t gid, std::string_view user_name,
    std::optional<std::vector<gid_t>>& groups) {
  const uid_t previous_uid = current_fsuid();
  const gid_t previous_gid = current_fsgid();
  if (previous_uid == uid && previous_gid == gid) {
    return FileAccessIdentity(previous_uid, previous_gid, {}, false);
  }
  auto previous_groups = current_groups();
  if (!previous_groups) return previous_groups.error();
  if (!groups) {
    auto looked_up = groups_of(user_name, gid);
    if (!looked_up) return looked_up.error();
    groups = std::move(*looked_up);
  }
  // Groups and fsgid first: both still allowed while the fsuid is privileged.
  if (!set_groups(*groups)) {
    return make_error(ErrorCode::invalid_argument,
                      "cannot switch supplementary groups for uid " + std::to_string(uid));
  }
  setfsgid(gid);
  if (current_fsgid() != gid) {
    set_groups(*previous_groups);
    return make_error(ErrorCode::invalid_argument,
                      "cannot switch file access to gid " + std::to_string(gid));
  }
  setfsuid(uid);
  if (current_fsuid() != uid) {
    setfsgid(previous_gid);
    set_groups(*previous_groups);
    return make_error(ErrorCode::invalid_argument,
                      "cannot switch file access to uid " + std::to_string(uid));
  }
  return FileAccessIdentity(previous_uid, previous_gid, std::move(*previous_groups), true);
}

FileAccessIdentity::FileAccessIdentity(FileAccessIdentity&& other) noexcept
    : previous_uid_(other.previous_uid_),
      previous_gid_(other.previous_gid_),
      previous_groups_(std::move(other.previous_groups_)),
      switched_(other.switched_) {
  other.switched_ = false;
}

FileAccessIdentity::~FileAccessIdentity() {
  if (switched_) {
    setfsuid(previous_uid_);
    setfsgid(previous_gid_);
    set_groups(previous_groups_);
  }
}

}  // namespace twostep
