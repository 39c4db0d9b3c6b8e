// Exit statuses of twostep-enroll; documented in twostep-enroll(1) and --help.
#pragma once

namespace twostep::enroll {

enum ExitCode : int {
  kExitOk = 0,
  kExitUsage = 1,          // bad option, incompatible options, not allowed
  kExitRefused = 2,        // enrollment exists (no --force), removal declined
  kExitConfirmFailed = 3,  // the code from the app did not match
  kExitIo = 4,             // reading/writing/parsing a file, randomness
  kExitNotEnrolled = 5,    // no secret file for --show/--status/...
  kExitInterrupted = 130,  // SIGINT/SIGTERM/SIGHUP at a prompt
};

inline constexpr const char* kExitCodeHelp =
    "Exit status: 0 ok, 1 usage error, 2 refused (exists or declined), "
    "3 confirmation failed,\n4 I/O or file error, 5 not enrolled, 130 interrupted.";

}  // namespace twostep::enroll
