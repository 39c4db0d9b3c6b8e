// otpauth:// Key Uri Format, as read by authenticator apps.
#pragma once

#include <string>
#include <string_view>

#include "twostep/enrollment.hpp"
#include "twostep/result.hpp"
#include "twostep/secret.hpp"

namespace twostep {

struct UriLabel {
  std::string_view issuer;   // may be empty
  std::string_view account;  // required, e.g. "alice@host"
};

// otpauth://totp/Issuer:account?secret=...&issuer=...  plus algorithm, digits,
// period (TOTP) only when not default, counter for HOTP. Labels and issuer are
// UTF-8, percent-encoded (RFC 3986 unreserved kept; ':' inside issuer or
// account is encoded so the one separator stays unambiguous). The result holds
// the secret.
Result<SecretBytes> build_otpauth_uri(const Token& token, const UriLabel& label);

// Percent-encodes a UTF-8 string (exposed for tests).
std::string percent_encode(std::string_view text);

}  // namespace twostep
