// Opening, reading and writing a user's secret file with that user's file
// system identity (Linux setfsuid/setfsgid, plus the user's supplementary
// groups as pam_modutil_drop_priv and OpenSSH's uidswap set them), so a root
// process cannot be tricked into touching files the user could not touch.
// fsuid/fsgid are per thread; the supplementary group list is per process
// (glibc's setgroups applies it to every thread), and is restored too.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string_view>
#include <vector>

#include "twostep/result.hpp"

namespace twostep {

class FileAccessIdentity {
 public:
  // Switches fsuid/fsgid to uid/gid and the supplementary groups to those
  // of `user_name` (getgrouplist; just `gid` when no name is given), so
  // groups of the calling process (for su and sudo: the invoking user's)
  // grant nothing. A no-op when fsuid and fsgid already are uid/gid. Fails
  // when the kernel refuses (not privileged and not the same ids).
  static Result<FileAccessIdentity> assume(uid_t uid, gid_t gid,
                                           std::string_view user_name = {});
  // The same, with `user_name`'s groups looked up at most once: `groups` is
  // filled by the first call that switches and reused by later ones. (A
  // login switches twice, and each lookup goes through NSS: in a fresh
  // process ~100 system calls and ~150 k instructions after the first.)
  static Result<FileAccessIdentity> assume(uid_t uid, gid_t gid, std::string_view user_name,
                                           std::optional<std::vector<gid_t>>& groups);

  FileAccessIdentity(FileAccessIdentity&& other) noexcept;
  FileAccessIdentity& operator=(FileAccessIdentity&&) = delete;
  FileAccessIdentity(const FileAccessIdentity&) = delete;
  FileAccessIdentity& operator=(const FileAccessIdentity&) = delete;
  ~FileAccessIdentity();  // restores the previous fsuid/fsgid and groups

 private:
  FileAccessIdentity(uid_t previous_uid, gid_t previous_gid, std::vector<gid_t> previous_groups,
                     bool switched) noexcept
      : previous_uid_(previous_uid), previous_gid_(previous_gid),
        previous_groups_(std::move(previous_groups)), switched_(switched) {}
  uid_t previous_uid_;
  gid_t previous_gid_;
  std::vector<gid_t> previous_groups_;
  bool switched_;  // false after a move or when nothing had to change
};

}  // namespace twostep
