// Opening, reading and writing a user's secret file with that user's file
// system identity (Linux setfsuid/setfsgid: per thread, leaves the real and
// effective ids of the host process alone), so a root process cannot be
// tricked into touching files the user could not touch.
#pragma once

#include <sys/types.h>

#include "twostep/result.hpp"

namespace twostep {

class FileAccessIdentity {
 public:
  // Switches this thread's fsuid/fsgid to uid/gid (a no-op when they already
  // are). Fails when the kernel refuses (not privileged and not the same ids).
  static Result<FileAccessIdentity> assume(uid_t uid, gid_t gid);

  FileAccessIdentity(FileAccessIdentity&& other) noexcept;
  FileAccessIdentity& operator=(FileAccessIdentity&&) = delete;
  FileAccessIdentity(const FileAccessIdentity&) = delete;
  FileAccessIdentity& operator=(const FileAccessIdentity&) = delete;
  ~FileAccessIdentity();  // restores the previous fsuid/fsgid

 private:
  FileAccessIdentity(uid_t previous_uid, gid_t previous_gid, bool switched) noexcept
      : previous_uid_(previous_uid), previous_gid_(previous_gid), switched_(switched) {}
  uid_t previous_uid_;
  gid_t previous_gid_;
  bool switched_;  // false after a move or when nothing had to change
};

}  // namespace twostep
