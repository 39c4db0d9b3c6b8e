// Method "code": TOTP and HOTP codes from the user's tokens (RFC 6238,
// RFC 4226), checked by core's check_token_code inside the one locked
// attempt for a typed code (typed_code.cpp).
#include "methods/method.hpp"

namespace twostep::pam {
namespace {

bool has_tokens(const Config&, const Enrollment& enrollment) {
  return !enrollment.tokens.empty();
}

void token_code_lengths(const Enrollment& enrollment, std::set<std::size_t>& lengths) {
  for (const Token& token : enrollment.tokens) lengths.insert(token.digits);
}

}  // namespace

const Method kCodeMethod{VerifyMethod::totp, &has_tokens, &check_token_code,
                         &token_code_lengths, nullptr};

}  // namespace twostep::pam
