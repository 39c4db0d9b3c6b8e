// The one rule for a value in a `key=value` log or `twostepd audit` line
// (docs/threat-model.md, "Forged audit output"). Stored text comes from
// strangers (an unauthenticated pairing names its user), so no value may
// look like another field or another line:
//   - a value of printable ASCII other than space, '"', '=' and '\' is
//     written bare;
//   - anything else (empty, or with any of those, a control byte or a byte
//     over 0x7e) is written in double quotes, with '"' and '\' escaped by a
//     backslash and every byte below 0x20 or above 0x7e as \xHH.
// So a reader splits a line on spaces outside quotes and never sees a
// newline, a bidi override or a terminal escape that the stored text held.
#pragma once

#include <string>
#include <string_view>

namespace twostep::relay {

inline bool is_bare_log_byte(unsigned char c) {
  return c > ' ' && c < 0x7f && c != '"' && c != '=' && c != '\\';
}

inline std::string log_value(std::string_view v) {
  bool bare = !v.empty();
  for (const char ch : v) bare = bare && is_bare_log_byte(static_cast<unsigned char>(ch));
  if (bare) return std::string(v);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "\"";
  for (const char ch : v) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += ch;
    } else if (c < 0x20 || c > 0x7e) {
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    } else {
      out += ch;
    }
  }
  out += '"';
  return out;
}

}  // namespace twostep::relay
