// WebAuthn assertion checks (docs/protocol.md section 6, 8.3), clientDataJSON,
// authenticatorData, approver origins and the b64u decoder.
//
// Input layout (see fuzz/corpus/fuzz_webauthn_assertion/):
//   byte 0            mode bits: 1 = sign authenticatorData || SHA-256(clientDataJSON)
//                     with the fuzzer's own key (so the checks after the signature
//                     are reached), 2 = relay's early check (no challenge, no
//                     counter), 4 = pass the parts b64u-encoded (wire form)
//   bytes 1-2, ...    big-endian length, then authenticatorData
//   bytes, ...        big-endian length, then clientDataJSON
//   the rest          the DER signature (ignored when mode bit 1 is set)
// The whole input is also given, as text, to the b64u decoder, the
// clientDataJSON parser and the origin parser.
//
// Invariants: what the strict clientDataJSON reader accepts, nlohmann's DOM
// parser reads alike; an accepted assertion satisfies every rule of section 6 when
// re-checked here by hand; a signature the fuzzer did not make never verifies;
// a signature it did make is never called bad; whatever b64u decodes
// re-encodes to the same text.
#include <openssl/evp.h>
#include <openssl/x509.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "fuzz_check.hpp"
#include "twostep/push_protocol.hpp"

using namespace twostep;
using namespace twostep::push;

namespace {

constexpr std::string_view kOrigin = "https://approve.example.com";
constexpr std::string_view kRpId = "approve.example.com";
constexpr std::uint32_t kPinnedCounter = 5;

struct PkeyFree {
  void operator()(EVP_PKEY* p) const noexcept { EVP_PKEY_free(p); }
};
struct MdCtxFree {
  void operator()(EVP_MD_CTX* p) const noexcept { EVP_MD_CTX_free(p); }
};

struct Signer {
  std::unique_ptr<EVP_PKEY, PkeyFree> key{EVP_EC_gen("P-256")};
  Bytes spki;
  Signer() {
    FUZZ_CHECK(key != nullptr);
    unsigned char* raw = nullptr;
    const int len = i2d_PUBKEY(key.get(), &raw);
    FUZZ_CHECK(len > 0);
    spki.assign(raw, raw + len);
    OPENSSL_free(raw);
  }
  Bytes sign(std::span<const std::uint8_t> message) const {
    std::unique_ptr<EVP_MD_CTX, MdCtxFree> ctx(EVP_MD_CTX_new());
    FUZZ_CHECK(ctx && EVP_DigestSignInit_ex(ctx.get(), nullptr, "SHA256", nullptr, nullptr, key.get(),
                                            nullptr) == 1);
    std::size_t len = 0;
    FUZZ_CHECK(EVP_DigestSign(ctx.get(), nullptr, &len, message.data(), message.size()) == 1);
    Bytes sig(len);
    FUZZ_CHECK(EVP_DigestSign(ctx.get(), sig.data(), &len, message.data(), message.size()) == 1);
    sig.resize(len);
    return sig;
  }
};

const Signer& signer() {
  static const Signer instance;
  return instance;
}

Digest expected_challenge() {
  Digest d{};
  for (std::size_t i = 0; i < d.size(); ++i) d[i] = static_cast<std::uint8_t>(i);
  return d;
}

// Takes a 2-byte length and that many bytes (fewer if the input ends).
std::span<const std::uint8_t> take(std::span<const std::uint8_t>& in) {
  if (in.size() < 2) {
    in = {};
    return {};
  }
  const std::size_t n = std::min<std::size_t>((std::size_t{in[0]} << 8) | in[1], in.size() - 2);
  const auto out = in.subspan(2, n);
  in = in.subspan(2 + n);
  return out;
}

void check_text_parsers(std::string_view text) {
  auto decoded = b64u_decode(text, 4096);
  if (decoded) {
    FUZZ_CHECK(b64u_encode(*decoded) == text);
    FUZZ_CHECK(is_b64u_of_size(text, decoded->size()) || decoded->size() > 1024);
  } else {
    FUZZ_CHECK(decoded.error().code == ErrorCode::malformed || decoded.error().code == ErrorCode::too_large);
  }
  // Differential: whatever the strict reader accepts, nlohmann's DOM parser
  // reads as an object with the same members.
  if (const auto client = parse_client_data(as_bytes(text))) {
    const auto dom = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
    FUZZ_CHECK(dom.is_object());
    FUZZ_CHECK(dom.at("type").get<std::string>() == client->type);
    FUZZ_CHECK(dom.at("challenge").get<std::string>() == client->challenge);
    FUZZ_CHECK(dom.at("origin").get<std::string>() == client->origin);
    FUZZ_CHECK(dom.value("crossOrigin", false) == client->cross_origin);
  }
  auto rp = rp_id_from_origin(text);
  if (rp) {
    FUZZ_CHECK(!rp->empty());
    FUZZ_CHECK(text.starts_with("https://" + *rp) || text.starts_with("http://" + *rp));
  }
}

// Re-checks an accepted assertion rule by rule, independently of the code
// under test where it can.
void check_accepted(bool relay_mode, const AssertionParts& parts, const AssertionResult& result) {
  const auto client = parse_client_data(parts.client_data_json);
  FUZZ_CHECK(client.has_value());
  FUZZ_CHECK(client->type == "webauthn.get");
  FUZZ_CHECK(client->origin == kOrigin);
  FUZZ_CHECK(!client->cross_origin);
  auto challenge = b64u_decode(client->challenge, 64);
  FUZZ_CHECK(challenge.ok() && challenge->size() == 32);
  if (!relay_mode) {
    const Digest want = expected_challenge();
    FUZZ_CHECK(std::equal(want.begin(), want.end(), challenge->begin()));
  }
  const auto data = parts.authenticator_data;
  FUZZ_CHECK(data.size() >= kMinAuthenticatorData && data.size() <= kMaxAuthenticatorData);
  auto rp_hash = sha256(as_bytes(kRpId));
  FUZZ_CHECK(std::equal(rp_hash->begin(), rp_hash->end(), data.begin()));
  FUZZ_CHECK((data[32] & (kFlagUserPresent | kFlagUserVerified)) == (kFlagUserPresent | kFlagUserVerified));
  const std::uint32_t counter = (std::uint32_t{data[33]} << 24) | (std::uint32_t{data[34]} << 16) |
                                (std::uint32_t{data[35]} << 8) | std::uint32_t{data[36]};
  FUZZ_CHECK(result.sign_counter == counter);
  if (!relay_mode) FUZZ_CHECK(counter > kPinnedCounter);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  check_text_parsers({reinterpret_cast<const char*>(data), size});
  if (size < 1) return 0;

  const std::uint8_t mode = data[0];
  const bool sign = (mode & 1) != 0;
  const bool relay_mode = (mode & 2) != 0;
  const bool wire = (mode & 4) != 0;
  std::span<const std::uint8_t> in(data + 1, size - 1);
  const auto auth_data = take(in);
  const auto client_json = take(in);
  Bytes signature(in.begin(), in.end());
  if (sign) {
    auto client_hash = sha256(client_json);
    FUZZ_CHECK(client_hash.ok());
    Bytes message(auth_data.begin(), auth_data.end());
    message.insert(message.end(), client_hash->begin(), client_hash->end());
    signature = signer().sign(message);
  }

  AssertionExpectations expect;
  if (!relay_mode) {
    expect.challenge = expected_challenge();
    expect.pinned_counter = kPinnedCounter;
  }
  expect.origin = std::string(kOrigin);
  expect.public_key_spki = signer().spki;
  const AssertionParts parts{auth_data, client_json, signature};

  const AssertionResult result =
      wire ? verify_assertion_b64u(expect, b64u_encode(auth_data), b64u_encode(client_json), b64u_encode(signature))
           : verify_assertion(expect, parts);
  FUZZ_CHECK(result.failure != AssertionFailure::internal);
  FUZZ_CHECK(result.failure != AssertionFailure::bad_pin);
  if (sign) FUZZ_CHECK(result.failure != AssertionFailure::bad_signature);
  if (result.ok()) {
    FUZZ_CHECK(sign);  // nobody else holds the key
    check_accepted(relay_mode, parts, result);
  } else {
    FUZZ_CHECK(result.sign_counter == 0);
  }
  return 0;
}
