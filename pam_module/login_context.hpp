// What the phone shows besides the PAM items, and signs (docs/protocol.md
// section 6): for sudo the command line it is authorising, for su the
// account it switches to, and where the client address is. Read only when a
// push is sent, so a login by code pays nothing for it.
#pragma once

#include <string>
#include <string_view>

#include "authenticate.hpp"
#include "push_transport.hpp"
#include "twostep/push_protocol.hpp"

namespace twostep::pam {

// The process the module runs in, as /proc shows it: the file it executes
// and its argument vector. `proc_self` is /proc/self (tests pass another).
struct RunningProgram {
  std::string executable;              // readlink(exe); "" when unreadable
  std::vector<std::string> arguments;  // cmdline, at most kMaxCmdlineBytes read
};
inline constexpr std::size_t kMaxCmdlineBytes = 64 * 1024;
RunningProgram running_program(const std::string& proc_self = "/proc/self");

// The arguments as one line, each quoted the way a shell would need it
// ('it'\''s'), so that "a b" and "a" "b" do not look alike.
std::string shell_words(const std::vector<std::string>& arguments);

// The context of this login: command when the program is sudo (or
// sudoedit), target_user when it is su, location from the push client for
// an rhost that is an IP address. Every field is display text
// (push::relay_text) within the protocol's limits; a long command is cut in
// the middle, visibly.
push::SignedContext login_context(const AuthRequest& request, const RunningProgram& program,
                                  PushTransport& transport);

}  // namespace twostep::pam
