// base64url without padding (RFC 4648 section 5), strict in both directions.
// No I/O; never throws except std::bad_alloc.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "twostep/result.hpp"
#include "twostep/secret.hpp"

namespace twostep {

using Bytes = std::vector<std::uint8_t>;

std::string b64u_encode(std::span<const std::uint8_t> bytes);
// The same into wiping memory, for secrets shown once (twostepd host add).
SecretBytes b64u_encode_secret(std::span<const std::uint8_t> bytes);

// Strict decoder: refuses padding, whitespace, any non-alphabet character, an
// impossible length (n % 4 == 1) and non-zero unused trailing bits, so every
// byte string has exactly one accepted text. Empty text decodes to no bytes.
// More than max_bytes decoded bytes is too_large (checked before decoding).
Result<Bytes> b64u_decode(std::string_view text, std::size_t max_bytes);
// The same, into wiping memory (host secrets, pairing secret S, confirm token K).
Result<SecretBytes> b64u_decode_secret(std::string_view text, std::size_t max_bytes);

// Identifiers and nonces: strict b64u of exactly `bytes`
// bytes (bytes <= 1024; larger is always false).
bool is_b64u_of_size(std::string_view text, std::size_t bytes) noexcept;

}  // namespace twostep
