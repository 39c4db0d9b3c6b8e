// RFC 4648 base32, as used by otpauth:// URIs and google-authenticator files.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

#include "twostep/result.hpp"
#include "twostep/secret.hpp"

namespace twostep {

// Upper bound on decoded key material (RFC 4226 recommends 160 bits; SHA512
// keys are 64 bytes). Longer input is refused as too_large.
inline constexpr std::size_t kMaxSecretBytes = 128;

// Decodes case-insensitively; ignores spaces and dashes; tolerates trailing
// '=' padding. Refuses other characters (message names the position, never
// the text), padding in the middle, non-zero trailing bits beyond a whole byte
// are ignored as RFC 4648 readers commonly do. Empty input is malformed.
Result<SecretBytes> base32_decode(std::string_view text);

// Encodes without padding, upper case. The result holds secret material.
SecretBytes base32_encode(std::span<const std::uint8_t> bytes);

// "ABCD EFGH IJKL ..." groups of four for reading aloud / typing by hand.
SecretBytes base32_group(std::string_view encoded, std::size_t group = 4);

}  // namespace twostep
