// base64url without padding (RFC 4648 section 5), strict: one accepted text
// per byte string. Used by the secret-file format (device pins), the push
// protocol and the relay.
#include "twostep/base64url.hpp"

#include <array>
#include <optional>
#include <string>

namespace twostep {
namespace {

constexpr char kB64uAlphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

// The 6-bit value of a b64u symbol, or -1.
int b64u_value(char c) noexcept {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '-') return 62;
  if (c == '_') return 63;
  return -1;
}

// Decoded size of a b64u text, or nullopt for an impossible length.
std::optional<std::size_t> b64u_decoded_size(std::size_t chars) noexcept {
  const std::size_t rest = chars % 4;
  if (rest == 1) return std::nullopt;
  return chars / 4 * 3 + (rest == 0 ? 0 : rest - 1);
}

// Decodes into out (already sized); validates every symbol and the unused
// trailing bits.
Status b64u_decode_into(std::string_view text, std::uint8_t* out) {
  std::uint32_t buffer = 0;
  unsigned bits = 0;
  std::size_t written = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const int value = b64u_value(text[i]);
    if (value < 0) {
      return make_error(ErrorCode::malformed,
                        "b64u: invalid character at position " + std::to_string(i + 1));
    }
    buffer = ((buffer << 6) | static_cast<std::uint32_t>(value)) & 0xffffu;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[written++] = static_cast<std::uint8_t>(buffer >> bits);
    }
  }
  // 2 or 4 leftover bits must be zero, or two texts would decode alike.
  if (bits > 0 && (buffer & ((1u << bits) - 1u)) != 0) {
    return make_error(ErrorCode::malformed, "b64u: non-zero trailing bits");
  }
  return {};
}

Result<std::size_t> checked_decoded_size(std::string_view text, std::size_t max_bytes) {
  const auto size = b64u_decoded_size(text.size());
  if (!size) return make_error(ErrorCode::malformed, "b64u: impossible length");
  if (*size > max_bytes) {
    return make_error(ErrorCode::too_large,
                      "b64u: more than " + std::to_string(max_bytes) + " bytes");
  }
  return *size;
}

}  // namespace

std::string b64u_encode(std::span<const std::uint8_t> bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    const std::uint32_t v = (std::uint32_t{bytes[i]} << 16) | (std::uint32_t{bytes[i + 1]} << 8) |
                            bytes[i + 2];
    out.push_back(kB64uAlphabet[(v >> 18) & 63]);
    out.push_back(kB64uAlphabet[(v >> 12) & 63]);
    out.push_back(kB64uAlphabet[(v >> 6) & 63]);
    out.push_back(kB64uAlphabet[v & 63]);
  }
  const std::size_t rest = bytes.size() - i;
  if (rest == 1) {
    const std::uint32_t v = std::uint32_t{bytes[i]} << 16;
    out.push_back(kB64uAlphabet[(v >> 18) & 63]);
    out.push_back(kB64uAlphabet[(v >> 12) & 63]);
  } else if (rest == 2) {
    const std::uint32_t v = (std::uint32_t{bytes[i]} << 16) | (std::uint32_t{bytes[i + 1]} << 8);
    out.push_back(kB64uAlphabet[(v >> 18) & 63]);
    out.push_back(kB64uAlphabet[(v >> 12) & 63]);
    out.push_back(kB64uAlphabet[(v >> 6) & 63]);
  }
  return out;
}

SecretBytes b64u_encode_secret(std::span<const std::uint8_t> bytes) {
  std::string text = b64u_encode(bytes);
  SecretBytes out(reinterpret_cast<const std::uint8_t*>(text.data()), text.size());
  wipe(text.data(), text.size());
  return out;
}

Result<Bytes> b64u_decode(std::string_view text, std::size_t max_bytes) {
  auto size = checked_decoded_size(text, max_bytes);
  if (!size) return size.error();
  Bytes out(*size);
  if (auto s = b64u_decode_into(text, out.data()); !s) return s.error();
  return out;
}

Result<SecretBytes> b64u_decode_secret(std::string_view text, std::size_t max_bytes) {
  auto size = checked_decoded_size(text, max_bytes);
  if (!size) return size.error();
  SecretBytes out(*size);
  if (auto s = b64u_decode_into(text, out.data()); !s) return s.error();
  return out;
}

bool is_b64u_of_size(std::string_view text, std::size_t bytes) noexcept {
  const auto size = b64u_decoded_size(text.size());
  if (!size || *size != bytes || bytes > 1024) return false;
  std::array<std::uint8_t, 1024> scratch{};
  return b64u_decode_into(text, scratch.data()).ok();
}

}  // namespace twostep
