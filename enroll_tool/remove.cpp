// --remove: delete the enrollment file after confirmation.
#include <sys/stat.h>

#include <cerrno>
#include <cstring>

#include "exit_codes.hpp"
#include "modes.hpp"
#include "twostep/secret_store.hpp"

namespace twostep::enroll {
namespace {

enum class Answer { yes, no, interrupted };

Answer ask_removal(const Session& session) {
  const Console& console = session.console;
  console.always("This removes the second factor of " + session.target.name + " (" +
                 session.location.path + "). Logins that require it will fail until " +
                 session.target.name + " enrolls again.");
  ReadResult reply = prompt_line(console, "Type \"yes\" to remove it: ");
  if (reply.status == ReadStatus::interrupted) return Answer::interrupted;
  return reply.status == ReadStatus::line && reply.line.view() == "yes" ? Answer::yes : Answer::no;
}

}  // namespace

int run_remove(const Session& session) {
  const Options& options = session.options;
  const Console& console = session.console;
  const std::string& path = session.location.path;
  struct stat info {};
  if (lstat(path.c_str(), &info) != 0) {
    console.error(path + ": " + std::strerror(errno));
    return errno == ENOENT ? kExitNotEnrolled : kExitIo;
  }
  if (!S_ISREG(info.st_mode)) {
    console.error(path + " is not a regular file; not removing it");
    return kExitRefused;
  }
  // A file that does not pass the usual checks (owner, mode, syntax) is
  // removed only with --force, so a typo in --secret-file cannot delete an
  // unrelated file.
  if (auto checked = read_secret_file(path, expectations_for(session.location));
      !checked && !options.force) {
    console.error(checked.error().message + "; use --force to remove it anyway");
    return kExitRefused;
  }
  if (options.confirm && !options.force) {
    switch (ask_removal(session)) {
      case Answer::yes: break;
      case Answer::interrupted: return report_interrupted(console);
      case Answer::no:
        console.error("not removed");
        return kExitRefused;
    }
  }
  // Under the file's exclusive lock, so a login in progress cannot write the
  // file back after it is gone.
  const ExistingFileCheck check = options.force ? ExistingFileCheck::regular_file
                                                : ExistingFileCheck::full;
  if (auto removed = remove_secret_file(path, expectations_for(session.location), check);
      !removed) {
    console.error("cannot remove " + path + ": " + removed.error().message);
    return removed.error().code == ErrorCode::not_found ? kExitNotEnrolled : kExitIo;
  }
  console.info("Removed " + path + ".");
  return kExitOk;
}

}  // namespace twostep::enroll
