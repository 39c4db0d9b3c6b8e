#include "twostep/result.hpp"

#include <array>
#include <cstring>

namespace twostep {

const char* to_string(ErrorCode code) noexcept {
  switch (code) {
    case ErrorCode::invalid_argument: return "invalid_argument";
    case ErrorCode::malformed: return "malformed";
    case ErrorCode::too_large: return "too_large";
    case ErrorCode::unsafe_file: return "unsafe_file";
    case ErrorCode::not_found: return "not_found";
    case ErrorCode::lock_timeout: return "lock_timeout";
    case ErrorCode::io: return "io";
    case ErrorCode::crypto: return "crypto";
    case ErrorCode::cancelled: return "cancelled";
  }
  return "unknown";
}

std::string errno_message(int error) {
  std::array<char, 128> buffer{};
  // GNU strerror_r returns the message: in `buffer` or a static string.
  return ::strerror_r(error, buffer.data(), buffer.size());
}

}  // namespace twostep
