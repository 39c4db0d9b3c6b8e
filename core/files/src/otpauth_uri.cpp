#include "twostep/otpauth_uri.hpp"

#include "twostep/base32.hpp"

namespace twostep {
namespace {

bool is_unreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
         c == '-' || c == '.' || c == '_' || c == '~';
}

bool has_control_char(std::string_view text) {
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte == 0x7f) return true;
  }
  return false;
}

Status validate(const Token& token, const UriLabel& label) {
  if (label.account.empty()) {
    return make_error(ErrorCode::invalid_argument, "otpauth URI needs an account name");
  }
  if (has_control_char(label.account) || has_control_char(label.issuer)) {
    return make_error(ErrorCode::invalid_argument, "control character in account or issuer");
  }
  if (token.key.empty()) return make_error(ErrorCode::invalid_argument, "token has no key");
  if (token.digits < kMinDigits || token.digits > kMaxDigits) {
    return make_error(ErrorCode::invalid_argument, "digits must be 6..8");
  }
  if (token.kind == TokenKind::totp && (token.period < kMinPeriod || token.period > kMaxPeriod)) {
    return make_error(ErrorCode::invalid_argument, "period out of range");
  }
  return {};
}

}  // namespace

std::string percent_encode(std::string_view text) {
  constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (is_unreserved(byte)) {
      out.push_back(c);
    } else {
      out.push_back('%');
      out.push_back(kHex[byte >> 4]);
      out.push_back(kHex[byte & 0x0fu]);
    }
  }
  return out;
}

Result<SecretBytes> build_otpauth_uri(const Token& token, const UriLabel& label) {
  if (auto valid = validate(token, label); !valid) return valid.error();
  const bool totp = token.kind == TokenKind::totp;

  SecretBytes uri = SecretBytes::from_string(totp ? "otpauth://totp/" : "otpauth://hotp/");
  if (!label.issuer.empty()) {
    uri.append(percent_encode(label.issuer));
    uri.append(":");
  }
  uri.append(percent_encode(label.account));
  uri.append("?secret=");
  uri.append(base32_encode(token.key.span()).view());
  if (!label.issuer.empty()) {
    uri.append("&issuer=");
    uri.append(percent_encode(label.issuer));
  }
  if (token.algorithm != HashAlgorithm::sha1) {
    uri.append("&algorithm=");
    uri.append(to_string(token.algorithm));
  }
  if (token.digits != 6) {
    uri.append("&digits=");
    uri.append(std::to_string(token.digits));
  }
  if (totp && token.period != 30) {
    uri.append("&period=");
    uri.append(std::to_string(token.period));
  }
  if (!totp) {
    uri.append("&counter=");
    uri.append(std::to_string(token.counter));
  }
  return uri;
}

}  // namespace twostep
