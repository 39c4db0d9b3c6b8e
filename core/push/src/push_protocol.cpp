// Push protocol v1: b64u, lp(), request canonicalization and HMAC signing,
// the approval digest and pairing proofs (docs/protocol.md sections 2, 3, 6, 7).
#include "twostep/push_protocol.hpp"

#include "openssl_handles.hpp"

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/params.h>

#include <charconv>
#include <limits>

namespace twostep::push {
namespace {

bool has_line_break_or_nul(std::string_view text) noexcept {
  return text.find_first_of(std::string_view("\r\n\0", 3)) != std::string_view::npos;
}

bool is_decimal(std::string_view text) noexcept {
  if (text.empty() || text.size() > 20) return false;
  for (const char c : text) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

constexpr char kHexDigits[] = "0123456789abcdef";

std::string lower_hex(std::span<const std::uint8_t> bytes) {
  std::string out;
  out.reserve(bytes.size() * 2);
  for (const std::uint8_t b : bytes) {
    out.push_back(kHexDigits[b >> 4]);
    out.push_back(kHexDigits[b & 0x0f]);
  }
  return out;
}

std::string decimal(std::int64_t value) {
  std::array<char, 24> buffer{};
  const auto [end, ec] = std::to_chars(buffer.data(), buffer.data() + buffer.size(), value);
  (void)ec;  // 24 characters hold any int64
  return std::string(buffer.data(), end);
}

// Appends lp(x) for each field; the first failure wins.
Status append_all_lp(Bytes& out, std::initializer_list<std::span<const std::uint8_t>> fields) {
  for (const auto field : fields) {
    if (auto s = append_lp(out, field); !s) return s;
  }
  return {};
}

// Compares a recomputed MAC with the b64u text the peer sent.
SignatureVerdict compare_mac(const Digest& expected, std::string_view sent_b64u) {
  if (sent_b64u.size() != kHostSignatureChars) return SignatureVerdict::malformed;
  auto sent = b64u_decode(sent_b64u, expected.size());
  if (!sent || sent->size() != expected.size()) return SignatureVerdict::malformed;
  return constant_time_equal(*sent, expected) ? SignatureVerdict::valid
                                              : SignatureVerdict::bad_signature;
}

// A message that starts with its domain-separation label.
Bytes starts_with_label(std::string_view label) { return Bytes(label.begin(), label.end()); }

// Wipes a MAC once it is no longer needed (a proof is a secret-derived value).
struct WipedDigest {
  Digest bytes{};
  ~WipedDigest() { wipe(bytes.data(), bytes.size()); }
};

}  // namespace

// --- section 2 -------------------------------------------------------------

Result<std::string> random_b64u(std::size_t bytes) {
  if (bytes == 0 || bytes > 1024) return make_error(ErrorCode::invalid_argument, "random_b64u: 1..1024 bytes");
  auto random = random_secret(bytes);
  if (!random) return random.error();
  return b64u_encode(random->span());
}

std::optional<std::int64_t> parse_timestamp(std::string_view text) noexcept {
  if (text.empty() || text.size() > 19) return std::nullopt;
  for (const char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
  }
  std::int64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end != text.data() + text.size()) return std::nullopt;
  return value;
}

Status append_lp(Bytes& out, std::span<const std::uint8_t> field) {
  if (field.size() > std::numeric_limits<std::uint32_t>::max()) {
    return make_error(ErrorCode::invalid_argument, "lp: field of 4 GiB or more");
  }
  const auto n = static_cast<std::uint32_t>(field.size());
  out.push_back(static_cast<std::uint8_t>(n >> 24));
  out.push_back(static_cast<std::uint8_t>(n >> 16));
  out.push_back(static_cast<std::uint8_t>(n >> 8));
  out.push_back(static_cast<std::uint8_t>(n));
  out.insert(out.end(), field.begin(), field.end());
  return {};
}

Result<Digest> sha256(std::span<const std::uint8_t> bytes) {
  Digest out{};
  unsigned int size = 0;
  if (EVP_Digest(bytes.data(), bytes.size(), out.data(), &size, EVP_sha256(), nullptr) != 1 ||
      size != out.size()) {
    ERR_clear_error();
    return make_error(ErrorCode::crypto, "EVP_Digest(SHA-256) failed");
  }
  return out;
}

Result<Digest> hmac_sha256(std::span<const std::uint8_t> key, std::span<const std::uint8_t> message) {
  if (key.empty()) return make_error(ErrorCode::invalid_argument, "HMAC: empty key");
  ossl::Ptr<EVP_MAC> mac(EVP_MAC_fetch(nullptr, "HMAC", nullptr));
  if (!mac) return make_error(ErrorCode::crypto, "EVP_MAC_fetch(HMAC) failed");
  ossl::Ptr<EVP_MAC_CTX> ctx(EVP_MAC_CTX_new(mac.get()));
  if (!ctx) return make_error(ErrorCode::crypto, "EVP_MAC_CTX_new failed");
  char digest_name[] = "SHA256";  // OSSL_PARAM wants non-const; only read
  const std::array<OSSL_PARAM, 2> params = {
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest_name, 0),
      OSSL_PARAM_construct_end()};
  Digest out{};
  std::size_t size = 0;
  if (EVP_MAC_init(ctx.get(), key.data(), key.size(), params.data()) != 1 ||
      EVP_MAC_update(ctx.get(), message.data(), message.size()) != 1 ||
      EVP_MAC_final(ctx.get(), out.data(), &size, out.size()) != 1 || size != out.size()) {
    ERR_clear_error();
    return make_error(ErrorCode::crypto, "HMAC-SHA256 failed");
  }
  return out;
}

// --- section 3 -------------------------------------------------------------

const char* to_string(SignatureVerdict verdict) noexcept {
  switch (verdict) {
    case SignatureVerdict::valid: return "valid";
    case SignatureVerdict::malformed: return "malformed";
    case SignatureVerdict::bad_signature: return "bad_signature";
  }
  return "bad_signature";
}

Result<std::string> canonical_request(RequestScheme scheme, const SignedRequest& r) {
  for (const std::string_view field : {r.method, r.path, r.query, r.timestamp, r.nonce, r.key_id}) {
    if (has_line_break_or_nul(field)) {
      return make_error(ErrorCode::invalid_argument, "canonical request: line break in a field");
    }
  }
  if (r.method.empty() || r.method.size() > 16) {
    return make_error(ErrorCode::invalid_argument, "canonical request: bad method");
  }
  for (const char c : r.method) {
    if (c < 'A' || c > 'Z') return make_error(ErrorCode::invalid_argument, "canonical request: bad method");
  }
  if (r.path.empty() || r.path.front() != '/' || r.path.find_first_of("?#") != std::string_view::npos) {
    return make_error(ErrorCode::invalid_argument, "canonical request: bad path");
  }
  if (!r.query.empty() && (r.query.front() == '?' || r.query.find('#') != std::string_view::npos)) {
    return make_error(ErrorCode::invalid_argument, "canonical request: bad query");
  }
  if (!is_decimal(r.timestamp)) {
    return make_error(ErrorCode::invalid_argument, "canonical request: bad timestamp");
  }
  if (r.nonce.empty() || r.key_id.empty()) {
    return make_error(ErrorCode::invalid_argument, "canonical request: empty nonce or key id");
  }
  auto body_hash = sha256(as_bytes(r.body));
  if (!body_hash) return body_hash.error();

  const std::string body_hex = lower_hex(*body_hash);
  std::string out = scheme == RequestScheme::host_hmac ? "TWOSTEP-HMAC-SHA256" : "TWOSTEP-ECDSA-P256-SHA256";
  for (const std::string_view line :
       {r.method, r.path, r.query, std::string_view(body_hex), r.timestamp, r.nonce, r.key_id}) {
    out.push_back('\n');
    out.append(line);
  }
  return out;
}

namespace {

// HMAC-SHA256 of the canonical request (3.1) under the host secret: what a
// host sends and what the relay recomputes, in one place.
Result<Digest> host_request_mac(const SecretBytes& host_secret, const SignedRequest& request) {
  if (host_secret.size() != kHostSecretBytes) {
    return make_error(ErrorCode::invalid_argument, "host secret must be 32 bytes");
  }
  auto canonical = canonical_request(RequestScheme::host_hmac, request);
  if (!canonical) return canonical.error();
  return hmac_sha256(host_secret.span(), as_bytes(*canonical));
}

}  // namespace

Result<std::string> sign_host_request(const SecretBytes& host_secret, const SignedRequest& request) {
  auto mac = host_request_mac(host_secret, request);
  if (!mac) return mac.error();
  return b64u_encode(*mac);
}

Result<SignatureVerdict> verify_host_request(const SecretBytes& host_secret,
                                             const SignedRequest& request,
                                             std::string_view signature_b64u) {
  auto mac = host_request_mac(host_secret, request);
  if (!mac) return mac.error();
  return compare_mac(*mac, signature_b64u);
}

// --- section 6 -------------------------------------------------------------

std::string format_approval_number(unsigned number) {
  std::string out(2, '0');
  out[0] = static_cast<char>('0' + (number / 10) % 10);
  out[1] = static_cast<char>('0' + number % 10);
  return out;
}

Result<unsigned> random_approval_number() {
  // Rejection sampling: bytes 200..255 would make 0..55 likelier than 56..99.
  for (int attempt = 0; attempt < 64; ++attempt) {
    auto byte = random_secret(1);
    if (!byte) return byte.error();
    const unsigned value = byte->data()[0];
    if (value < 200) return value % 100;
  }
  return make_error(ErrorCode::crypto, "random_approval_number: CSPRNG output not usable");
}

Result<Digest> approval_digest(const ApprovalContext& c) {
  if (c.number > 99) return make_error(ErrorCode::invalid_argument, "approval number must be 0..99");
  if (c.expires < 0) return make_error(ErrorCode::invalid_argument, "expires must not be negative");
  const std::string number = format_approval_number(c.number);
  const std::string expires = decimal(c.expires);
  Bytes message = starts_with_label(c.context ? "twostep-approval-v2" : "twostep-approval-v1");
  auto s = append_all_lp(message, {as_bytes(c.challenge_id), as_bytes(c.module_nonce), as_bytes(c.host),
                                   as_bytes(c.user), as_bytes(c.service), as_bytes(c.rhost),
                                   as_bytes(c.tty)});
  if (s && c.context) {
    s = append_all_lp(message, {as_bytes(c.context->command), as_bytes(c.context->target_user),
                                as_bytes(c.context->location)});
  }
  if (s) s = append_all_lp(message, {as_bytes(number), as_bytes(expires)});
  if (!s) return s.error();
  return sha256(message);
}

// --- section 7 -------------------------------------------------------------

namespace {

// The registration's fields under a label: what the proof MACs (S) and what
// the API key signs.
Result<Bytes> labelled_registration(const char* label, const PairingProofInput& reg) {
  Bytes message = starts_with_label(label);
  auto s = append_all_lp(message, {as_bytes(reg.pairing_id), as_bytes(reg.name), reg.credential_id,
                                   reg.credential_spki, reg.api_spki});
  if (!s) return s.error();
  return message;
}

}  // namespace

Result<Digest> pairing_proof(const SecretBytes& pairing_secret, const PairingProofInput& reg) {
  if (pairing_secret.size() != kPairingSecretBytes) {
    return make_error(ErrorCode::invalid_argument, "pairing secret must be 32 bytes");
  }
  auto message = labelled_registration("twostep-pair-v1", reg);
  if (!message) return message.error();
  return hmac_sha256(pairing_secret.span(), *message);
}

Result<Bytes> registration_key_message(const PairingProofInput& reg) {
  return labelled_registration("twostep-pair-key-v1", reg);
}

Result<SignatureVerdict> verify_registration_signature(const PairingProofInput& reg,
                                                       std::string_view signature_b64u) {
  auto message = registration_key_message(reg);
  if (!message) return message.error();
  if (signature_b64u.size() != kDeviceSignatureChars) return SignatureVerdict::malformed;
  auto signature = b64u_decode(signature_b64u, 64);
  if (!signature || signature->size() != 64) return SignatureVerdict::malformed;
  return verify_es256_p1363(reg.api_spki, *message, *signature);
}

Result<SignatureVerdict> verify_pairing_proof(const SecretBytes& pairing_secret,
                                              const PairingProofInput& reg,
                                              std::string_view proof_b64u) {
  auto proof = pairing_proof(pairing_secret, reg);
  if (!proof) return proof.error();
  WipedDigest expected{*proof};
  wipe(proof->data(), proof->size());
  return compare_mac(expected.bytes, proof_b64u);
}

Result<std::string> comparison_code(const SecretBytes& pairing_secret,
                                    std::span<const std::uint8_t> credential_spki,
                                    std::span<const std::uint8_t> api_spki) {
  if (pairing_secret.size() != kPairingSecretBytes) {
    return make_error(ErrorCode::invalid_argument, "pairing secret must be 32 bytes");
  }
  Bytes message = starts_with_label("twostep-compare-v1");
  auto s = append_all_lp(message, {credential_spki, api_spki});
  if (!s) return s.error();
  auto mac = hmac_sha256(pairing_secret.span(), message);
  if (!mac) return mac.error();
  WipedDigest full{*mac};
  wipe(mac->data(), mac->size());
  std::uint32_t value = (std::uint32_t{full.bytes[0]} << 24) | (std::uint32_t{full.bytes[1]} << 16) |
                        (std::uint32_t{full.bytes[2]} << 8) | std::uint32_t{full.bytes[3]};
  value %= 1000000u;
  std::string code(6, '0');
  for (std::size_t i = 6; i > 0; --i) {
    code[i - 1] = static_cast<char>('0' + value % 10);
    value /= 10;
  }
  return code;
}

}  // namespace twostep::push
