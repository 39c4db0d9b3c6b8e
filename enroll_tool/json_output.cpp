#include "json_output.hpp"

#include <array>

namespace twostep::enroll {
namespace {

// A JSON string (RFC 8259): '"' and '\' escaped, control characters as
// \u00XX; other bytes (UTF-8) as they are.
void append_string(SecretBytes& out, std::string_view text) {
  constexpr std::string_view kHex = "0123456789abcdef";
  out.append(std::uint8_t{'"'});
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out.append(std::uint8_t{'\\'});
      out.append(static_cast<std::uint8_t>(byte));
    } else if (byte < 0x20) {
      const std::array<char, 6> escaped{'\\', 'u', '0', '0', kHex[byte >> 4], kHex[byte & 0xF]};
      out.append(std::string_view(escaped.data(), escaped.size()));
    } else {
      out.append(static_cast<std::uint8_t>(byte));
    }
  }
  out.append(std::uint8_t{'"'});
}

void append_member(SecretBytes& out, std::string_view name, std::string_view value, bool last) {
  append_string(out, name);
  out.append(std::uint8_t{':'});
  append_string(out, value);
  if (!last) out.append(std::uint8_t{','});
}

}  // namespace

SecretBytes render_enrollment_json(const EnrollmentJson& result) {
  SecretBytes out;
  out.append(std::uint8_t{'{'});
  append_member(out, "otpauth_uri", result.otpauth_uri.view(), false);
  append_member(out, "manual_key", result.manual_key.view(), false);
  append_string(out, "backup_codes");
  out.append(std::string_view(":["));
  for (std::size_t i = 0; i < result.backup_codes.size(); ++i) {
    if (i != 0) out.append(std::uint8_t{','});
    append_string(out, result.backup_codes[i].view());
  }
  out.append(std::string_view("],"));
  append_member(out, "secret_file", result.secret_file, false);
  append_member(out, "format", result.format, true);
  out.append(std::string_view("}\n"));
  return out;
}

}  // namespace twostep::enroll
