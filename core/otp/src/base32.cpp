#include "twostep/base32.hpp"

#include <optional>
#include <string>

namespace twostep {
namespace {

constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

bool is_separator(char c) { return c == ' ' || c == '-'; }

// The 5-bit value of one base32 symbol, either case.
std::optional<std::uint8_t> symbol_value(char c) {
  if (c >= 'A' && c <= 'Z') return static_cast<std::uint8_t>(c - 'A');
  if (c >= 'a' && c <= 'z') return static_cast<std::uint8_t>(c - 'a');
  if (c >= '2' && c <= '7') return static_cast<std::uint8_t>(c - '2' + 26);
  return std::nullopt;
}

Error malformed_at(std::size_t index, const char* what) {
  return make_error(ErrorCode::malformed,
                    std::string("base32: ") + what + " at position " +
                        std::to_string(index + 1));
}

// First pass: validates every character and counts the data symbols, without
// copying anything out of the input.
Result<std::size_t> count_symbols(std::string_view text) {
  std::size_t symbols = 0;
  bool in_padding = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (is_separator(c)) continue;
    if (c == '=') {
      in_padding = true;
      continue;
    }
    if (!symbol_value(c)) return malformed_at(i, "invalid character");
    if (in_padding) return malformed_at(i, "data after padding");
    ++symbols;
  }
  return symbols;
}

}  // namespace

Result<SecretBytes> base32_decode(std::string_view text) {
  auto counted = count_symbols(text);
  if (!counted) return counted.error();
  const std::size_t symbols = *counted;
  if (symbols == 0) return make_error(ErrorCode::malformed, "base32: empty");
  // 1, 3 and 6 leftover symbols cannot come from any whole number of bytes.
  const std::size_t rest = symbols % 8;
  if (rest == 1 || rest == 3 || rest == 6) {
    return make_error(ErrorCode::malformed, "base32: impossible length");
  }
  const std::size_t bytes = symbols / 8 * 5 + rest * 5 / 8;
  if (bytes > kMaxSecretBytes) {
    return make_error(ErrorCode::too_large, "base32: secret longer than " +
                                                std::to_string(kMaxSecretBytes) + " bytes");
  }

  SecretBytes out(bytes);
  std::size_t written = 0;
  std::uint32_t buffer = 0;
  unsigned bits = 0;
  for (const char c : text) {
    const auto value = symbol_value(c);
    if (!value) continue;  // separators and padding, already validated
    buffer = ((buffer << 5) | *value) & 0xfffu;
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      out.data()[written++] = static_cast<std::uint8_t>(buffer >> bits);
    }
  }
  return out;
}

SecretBytes base32_encode(std::span<const std::uint8_t> bytes) {
  SecretBytes out;
  std::uint32_t buffer = 0;
  unsigned bits = 0;
  for (const std::uint8_t byte : bytes) {
    buffer = ((buffer << 8) | byte) & 0xfffu;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      out.append(static_cast<std::uint8_t>(kAlphabet[(buffer >> bits) & 0x1fu]));
    }
  }
  if (bits > 0) {
    out.append(static_cast<std::uint8_t>(kAlphabet[(buffer << (5 - bits)) & 0x1fu]));
  }
  return out;
}

SecretBytes base32_group(std::string_view encoded, std::size_t group) {
  SecretBytes out;
  for (std::size_t i = 0; i < encoded.size(); ++i) {
    if (group != 0 && i != 0 && i % group == 0) out.append(static_cast<std::uint8_t>(' '));
    out.append(static_cast<std::uint8_t>(encoded[i]));
  }
  return out;
}

}  // namespace twostep
