// The seam over twostep::push: conversions between the relay's byte strings
// and the core's spans, and the parsed public keys it keeps.
#include "relay_crypto.hpp"

#include <cstdlib>
#include <mutex>
#include <unordered_map>

#include "twostep/push_protocol.hpp"
#include "twostep/secret.hpp"

namespace twostep::relay::crypto {
namespace {

std::span<const std::uint8_t> span_of(std::string_view s) { return push::as_bytes(s); }

Verdict verdict_of(const Result<push::SignatureVerdict>& r) {
  if (!r) {
    // invalid_argument: a field the canonical string cannot hold (CR, LF, NUL).
    const bool refused = r.error().code == ErrorCode::malformed ||
                         r.error().code == ErrorCode::invalid_argument;
    return refused ? Verdict::malformed : Verdict::error;
  }
  switch (r.value()) {
    case push::SignatureVerdict::valid: return Verdict::valid;
    case push::SignatureVerdict::malformed: return Verdict::malformed;
    case push::SignatureVerdict::bad_signature: return Verdict::bad_signature;
  }
  return Verdict::error;
}

// Parsed P-256 keys by SPKI: importing a point costs about as much as
// verifying a signature, and every device request and assertion would
// otherwise import its key again. Bounded: emptied when full (a relay has far
// fewer keys than this; a flood of new ones only costs re-parsing).
class KeyCache {
 public:
  static constexpr std::size_t kMaxKeys = 4096;

  std::optional<push::P256PublicKey> get(std::string_view spki) {
    {
      std::lock_guard lock(mu_);
      if (auto it = keys_.find(std::string(spki)); it != keys_.end()) return it->second;
    }
    auto key = push::P256PublicKey::parse(span_of(spki));
    if (!key) return std::nullopt;
    std::lock_guard lock(mu_);
    if (keys_.size() >= kMaxKeys) keys_.clear();
    keys_.emplace(std::string(spki), *key);
    return std::move(key.value());
  }

 private:
  std::mutex mu_;
  std::unordered_map<std::string, push::P256PublicKey> keys_;
};

KeyCache& key_cache() {
  static KeyCache* cache = new KeyCache;  // the daemon's lifetime; never destroyed
  return *cache;
}

push::SignedRequest to_core(const SignedParts& p) {
  return push::SignedRequest{p.method, p.path, p.query, p.body, p.timestamp, p.nonce, p.key_id};
}

}  // namespace

std::string b64u_encode(std::string_view bytes) { return push::b64u_encode(span_of(bytes)); }

std::optional<std::string> b64u_decode(std::string_view text) {
  auto r = push::b64u_decode(text, text.size());
  if (!r) return std::nullopt;
  return std::string(r->begin(), r->end());
}

std::string sha256(std::string_view bytes) {
  auto d = push::sha256(span_of(bytes));
  if (!d) std::abort();  // OpenSSL cannot hash: nothing safe to do
  return std::string(d->begin(), d->end());
}

std::string random_bytes(std::size_t count) {
  auto r = random_secret(count);
  if (!r) std::abort();  // no randomness, no identifiers or secrets
  return std::string(r->view());
}

std::string random_id() {
  // An id that begins with '-' reads as an option on a command line
  // (issue 18). Drawing again keeps the rest uniform; the protocol still
  // accepts such ids, which older relays made.
  for (;;) {
    std::string id = b64u_encode(random_bytes(push::kIdBytes));
    if (id.front() != '-') return id;
  }
}

Verdict verify_host_request(std::string_view secret, const SignedParts& request,
                            std::string_view signature_b64u) {
  const SecretBytes key(reinterpret_cast<const std::uint8_t*>(secret.data()), secret.size());
  return verdict_of(push::verify_host_request(key, to_core(request), signature_b64u));
}

Verdict verify_device_request(std::string_view api_spki_der, const SignedParts& request,
                              std::string_view signature_b64u) {
  const auto key = key_cache().get(api_spki_der);
  if (!key) return Verdict::malformed;
  return verdict_of(push::verify_device_request(*key, to_core(request), signature_b64u));
}

Verdict verify_registration(const RegistrationParts& registration,
                            std::string_view signature_b64u) {
  push::PairingProofInput reg;
  reg.pairing_id = std::string(registration.pairing_id);
  reg.name = std::string(registration.name);
  const auto bytes = [](std::string_view s) {
    const auto span = span_of(s);
    return push::Bytes(span.begin(), span.end());
  };
  reg.credential_id = bytes(registration.credential_id);
  reg.credential_spki = bytes(registration.credential_spki);
  reg.api_spki = bytes(registration.api_spki);
  return verdict_of(push::verify_registration_signature(reg, signature_b64u));
}

bool is_p256_spki(std::string_view spki_der) {
  return push::check_p256_spki(span_of(spki_der)).ok();
}

std::string api_key_id(std::string_view api_spki_der) {
  auto id = push::device_key_id(span_of(api_spki_der));
  return id ? id.value() : std::string();
}

bool is_approver_origin(std::string_view origin) {
  return push::rp_id_from_origin(origin).ok();
}

std::optional<std::string> check_assertion_early(std::string_view credential_spki,
                                                 std::string_view authenticator_data,
                                                 std::string_view client_data_json,
                                                 std::string_view signature_der,
                                                 std::string_view expected_origin) {
  push::AssertionExpectations expect;
  expect.challenge = std::nullopt;  // any 32 bytes: the number is not ours to know
  expect.origin = std::string(expected_origin);
  expect.public_key_spki = span_of(credential_spki);
  const auto key = key_cache().get(credential_spki);
  if (key) expect.public_key = &*key;  // else the check parses and refuses it
  expect.pinned_counter = std::nullopt;
  const push::AssertionParts parts{span_of(authenticator_data), span_of(client_data_json),
                                   span_of(signature_der)};
  const auto result = push::verify_assertion(expect, parts);
  if (result.ok()) return std::nullopt;
  return std::string(push::to_string(result.failure));
}

}  // namespace twostep::relay::crypto
