// The confirmation step: the user types a code from the app; the token is
// saved only if it verifies (core verify_code on an in-memory enrollment).
#pragma once

#include "terminal.hpp"
#include "twostep/enrollment.hpp"

namespace twostep::enroll {

enum class ConfirmResult { confirmed, failed, interrupted };

inline constexpr int kConfirmAttempts = 3;

// On success copies the accepted step (TOTP replay floor) or the advanced
// counter (HOTP) into `token`, so the code used to confirm cannot log in.
ConfirmResult confirm_token(const Console& console, Token& token, std::uint32_t window);

}  // namespace twostep::enroll
