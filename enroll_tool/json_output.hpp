// --json: the result of an enrollment as one JSON object on stdout, for
// configuration management (Ansible, Salt). Built straight into a wiping
// buffer, since it holds the secret and the backup codes. The format is
// documented in docs/enrollment.md ("Provisioning with --json").
#pragma once

#include <string_view>
#include <vector>

#include "twostep/secret.hpp"

namespace twostep::enroll {

struct EnrollmentJson {
  const SecretBytes& otpauth_uri;
  const SecretBytes& manual_key;  // base32, no spaces
  const std::vector<SecretBytes>& backup_codes;
  std::string_view secret_file;
  std::string_view format;        // "native" or "google-authenticator"
};

// {"otpauth_uri":"...","manual_key":"...","backup_codes":["...",...],
//  "secret_file":"...","format":"..."} and a newline.
SecretBytes render_enrollment_json(const EnrollmentJson& result);

}  // namespace twostep::enroll
