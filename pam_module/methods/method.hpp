// One authentication method of the module: code (TOTP/HOTP), backup code,
// push. Each lives in its own file in this folder and is one entry of the
// method table (login.cpp), as openssh-portable's auth2.c lists its
// Authmethods. A new method adds a file and a table entry; it adds no branch
// to the others.
//
// Two ways in, matching how the user answers the one prompt:
//  - a typed code: every available method with a `check_typed_code` takes
//    part in ONE locked attempt (core verify_typed_code), in table order, so
//    a wrong code is recorded once, whichever method it was meant for;
//  - an empty answer: the available method with `start` runs (push).
#pragma once

#include <cstddef>
#include <set>
#include <span>
#include <string_view>

#include "login.hpp"
#include "twostep/policy.hpp"

namespace twostep::pam {

struct Method {
  VerifyMethod id;
  // Whether this user can use it: the module arguments and the file as read.
  bool (*available)(const Config& config, const Enrollment& enrollment);
  // Typed codes: this method's part of the locked attempt, and the code
  // lengths it takes (forward_pass splits password+code by them).
  CodeChecker check_typed_code;
  void (*typed_code_lengths)(const Enrollment& enrollment, std::set<std::size_t>& lengths);
  // Started by an empty answer at the prompt.
  MethodEnd (*start)(Login& login);
};

// The table (login.cpp), in the order typed codes are tried.
std::span<const Method* const> method_table() noexcept;

extern const Method kCodeMethod;        // methods/code.cpp
extern const Method kBackupCodeMethod;  // methods/backup_code.cpp
extern const Method kPushMethod;        // methods/push.cpp

}  // namespace twostep::pam
