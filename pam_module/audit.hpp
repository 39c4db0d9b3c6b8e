// The one audit line per authentication attempt. Never contains a code.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "twostep/policy.hpp"

namespace twostep::pam {

inline constexpr std::size_t kMaxAuditFieldLength = 128;

struct AuditRecord {
  std::string_view user;
  std::string_view service;
  std::string_view rhost;
  std::string_view tty;
  VerifyMethod method = VerifyMethod::none;
  std::string_view result;  // accepted, rejected, replayed, rate_limited, malformed, ignored, error
  std::string_view reason;  // one short token, e.g. wrong_code, unsafe_file
  // method=push only: the device that decided ("" when none did) and, when
  // the relay could not be used, the failmode taken.
  std::string_view device;
  std::string_view failmode;
};

// "twostep: user=alice service=sshd rhost=1.2.3.4 tty=ssh method=totp
//  result=accepted reason=code_ok". Values come from clients (user, rhost),
// so each is made safe for a log line: printable ASCII other than space, '='
// and '"' kept, everything else '?', at most kMaxAuditFieldLength characters,
// empty shown as "-".
std::string format_audit_line(const AuditRecord& record);
std::string sanitize_log_field(std::string_view value);

// The same record as one JSON object (module argument audit_json;
// docs/admin-guide.md, "Log lines"): {"event":"login","user":...}. Each
// value is cut to kMaxAuditFieldLength bytes, and every byte that is not
// printable ASCII becomes '?', as in the text form; '"' and '\' are escaped
// as JSON says. An empty value is "" (the text form's "-"). device and
// failmode appear for method push only, as in the text form.
std::string format_audit_json(const AuditRecord& record);

}  // namespace twostep::pam
