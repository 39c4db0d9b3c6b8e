// WebAuthn assertion checks of docs/protocol.md section 6 (steps 2-5) and the
// relay's early check (8.3): strict clientDataJSON, authenticatorData, ES256.
// Linked into the PAM module: nothing here lets an exception escape.
#include "twostep/push_protocol.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <charconv>

namespace twostep::push {
namespace {

using nlohmann::json;

constexpr std::size_t kMaxJsonDepth = 8;
constexpr std::size_t kMaxTopLevelMembers = 32;

// A SAX consumer that reads the top level of clientDataJSON and refuses
// anything that a DOM parse would silently accept: duplicate members (the
// last would win), a non-object document, known members of the wrong type.
class ClientDataReader {
 public:
  using number_integer_t = json::number_integer_t;
  using number_unsigned_t = json::number_unsigned_t;
  using number_float_t = json::number_float_t;
  using string_t = json::string_t;
  using binary_t = json::binary_t;

  bool null() { return scalar(); }
  bool boolean(bool value) {
    if (depth_ == 1 && member_ == Member::cross_origin) {
      out_.cross_origin = value;
      member_ = Member::none;
      return true;
    }
    return scalar();
  }
  bool number_integer(number_integer_t) { return scalar(); }
  bool number_unsigned(number_unsigned_t) { return scalar(); }
  bool number_float(number_float_t, const string_t&) { return scalar(); }
  bool binary(binary_t&) { return false; }
  bool string(string_t& value) {
    if (depth_ == 1) {
      switch (member_) {
        case Member::type: out_.type = std::move(value); break;
        case Member::challenge: out_.challenge = std::move(value); break;
        case Member::origin: out_.origin = std::move(value); break;
        case Member::cross_origin: return false;
        case Member::none: break;
      }
      if (member_ != Member::none) ++known_seen_;
      member_ = Member::none;
      return true;
    }
    return depth_ > 1;
  }
  bool start_object(std::size_t) { return open(); }
  bool end_object() { return close(); }
  bool start_array(std::size_t) {
    if (depth_ == 0) return false;  // the document must be an object
    return open();
  }
  bool end_array() { return close(); }
  bool key(string_t& name) {
    if (depth_ != 1) return true;
    if (keys_.size() >= kMaxTopLevelMembers) return false;
    if (std::find(keys_.begin(), keys_.end(), name) != keys_.end()) return false;
    keys_.push_back(name);
    member_ = name == "type"          ? Member::type
              : name == "challenge"   ? Member::challenge
              : name == "origin"      ? Member::origin
              : name == "crossOrigin" ? Member::cross_origin
                                      : Member::none;
    return true;
  }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) { return false; }

  std::optional<ClientData> result() const {
    if (known_seen_ != 3) return std::nullopt;
    return out_;
  }

 private:
  enum class Member { none, type, challenge, origin, cross_origin };

  // A non-string scalar: only valid in unknown members or below the top.
  bool scalar() {
    if (depth_ == 0) return false;
    if (depth_ == 1 && member_ != Member::none) return false;
    member_ = Member::none;
    return true;
  }
  bool open() {
    if (depth_ == 1 && member_ != Member::none) return false;  // known member must be a scalar
    if (depth_ >= kMaxJsonDepth) return false;
    member_ = Member::none;
    ++depth_;
    return true;
  }
  bool close() {
    --depth_;
    return true;
  }

  ClientData out_;
  std::vector<std::string> keys_;
  std::size_t depth_ = 0;
  std::size_t known_seen_ = 0;
  Member member_ = Member::none;
};

AssertionResult fail(AssertionFailure failure) noexcept { return AssertionResult{failure, 0}; }

AssertionResult verify_assertion_unchecked(const AssertionExpectations& expect, const AssertionParts& parts) {
  // Sizes first: nothing below reads past them.
  if (parts.client_data_json.empty() || parts.client_data_json.size() > kMaxClientDataJson ||
      parts.authenticator_data.size() < kMinAuthenticatorData ||
      parts.authenticator_data.size() > kMaxAuthenticatorData || parts.signature.empty() ||
      parts.signature.size() > kMaxDerSignature) {
    return fail(AssertionFailure::malformed);
  }
  auto rp_id = rp_id_from_origin(expect.origin);
  if (!rp_id) return fail(AssertionFailure::bad_pin);
  // The key parsed once: for the check here and the signature below.
  std::optional<P256PublicKey> parsed;
  if (expect.public_key == nullptr) {
    auto key = P256PublicKey::parse(expect.public_key_spki);
    if (!key) return fail(AssertionFailure::bad_pin);
    parsed = std::move(*key);
  }
  const P256PublicKey& public_key = expect.public_key ? *expect.public_key : *parsed;

  // Step 2: clientDataJSON.
  const auto client = parse_client_data(parts.client_data_json);
  if (!client) return fail(AssertionFailure::bad_client_data);
  if (client->type != "webauthn.get") return fail(AssertionFailure::wrong_type);
  auto challenge = b64u_decode(client->challenge, 64);
  if (!challenge || challenge->size() != 32) return fail(AssertionFailure::wrong_challenge);
  if (expect.challenge && !constant_time_equal(*challenge, *expect.challenge)) {
    return fail(AssertionFailure::wrong_challenge);
  }
  if (client->origin != expect.origin || client->cross_origin) return fail(AssertionFailure::wrong_origin);

  // Step 3: authenticatorData = rpIdHash (32) || flags (1) || counter (4) || ...
  const auto data = parts.authenticator_data;
  auto rp_hash = sha256(as_bytes(*rp_id));
  if (!rp_hash) return fail(AssertionFailure::internal);
  if (!constant_time_equal(data.first(32), *rp_hash)) return fail(AssertionFailure::wrong_rp);
  const std::uint8_t flags = data[32];
  if ((flags & kFlagUserPresent) == 0) return fail(AssertionFailure::no_user_presence);
  if ((flags & kFlagUserVerified) == 0) return fail(AssertionFailure::no_user_verification);
  const std::uint32_t counter = (std::uint32_t{data[33]} << 24) | (std::uint32_t{data[34]} << 16) |
                                (std::uint32_t{data[35]} << 8) | std::uint32_t{data[36]};

  // Step 4: ES256 over authenticatorData || SHA-256(clientDataJSON).
  auto client_hash = sha256(parts.client_data_json);
  if (!client_hash) return fail(AssertionFailure::internal);
  Bytes signed_data(data.begin(), data.end());
  signed_data.insert(signed_data.end(), client_hash->begin(), client_hash->end());
  auto verdict = verify_es256_der(public_key, signed_data, parts.signature);
  if (!verdict) return fail(AssertionFailure::internal);
  if (*verdict == SignatureVerdict::malformed) return fail(AssertionFailure::malformed);
  if (*verdict != SignatureVerdict::valid) return fail(AssertionFailure::bad_signature);

  // Step 5: the counter never goes backwards; 0/0 means "no counter".
  if (expect.pinned_counter) {
    const std::uint32_t pinned = *expect.pinned_counter;
    const bool no_counter = counter == 0 && pinned == 0;
    if (!no_counter && counter <= pinned) return fail(AssertionFailure::counter_regressed);
  }
  return AssertionResult{AssertionFailure::none, counter};
}

}  // namespace

const char* to_string(AssertionFailure failure) noexcept {
  switch (failure) {
    case AssertionFailure::none: return "none";
    case AssertionFailure::malformed: return "malformed";
    case AssertionFailure::bad_client_data: return "bad_client_data";
    case AssertionFailure::wrong_type: return "wrong_type";
    case AssertionFailure::wrong_challenge: return "wrong_challenge";
    case AssertionFailure::wrong_origin: return "wrong_origin";
    case AssertionFailure::wrong_rp: return "wrong_rp";
    case AssertionFailure::no_user_presence: return "no_user_presence";
    case AssertionFailure::no_user_verification: return "no_user_verification";
    case AssertionFailure::bad_signature: return "bad_signature";
    case AssertionFailure::counter_regressed: return "counter_regressed";
    case AssertionFailure::bad_pin: return "bad_pin";
    case AssertionFailure::internal: return "internal";
  }
  return "internal";
}

std::optional<ClientData> parse_client_data(std::span<const std::uint8_t> json_bytes) noexcept {
  try {
    if (json_bytes.empty() || json_bytes.size() > kMaxClientDataJson) return std::nullopt;
    // nlohmann skips a UTF-8 byte order mark; a browser never sends one.
    if (json_bytes.size() >= 3 && json_bytes[0] == 0xef && json_bytes[1] == 0xbb && json_bytes[2] == 0xbf) {
      return std::nullopt;
    }
    ClientDataReader reader;
    const bool parsed = json::sax_parse(json_bytes.begin(), json_bytes.end(), &reader,
                                        json::input_format_t::json, /*strict=*/true);
    if (!parsed) return std::nullopt;
    return reader.result();
  } catch (...) {
    return std::nullopt;
  }
}

AssertionResult verify_assertion(const AssertionExpectations& expect, const AssertionParts& parts) noexcept {
  try {
    return verify_assertion_unchecked(expect, parts);
  } catch (...) {
    return fail(AssertionFailure::internal);
  }
}

AssertionResult verify_assertion_b64u(const AssertionExpectations& expect,
                                      std::string_view authenticator_data_b64u,
                                      std::string_view client_data_json_b64u,
                                      std::string_view signature_b64u) noexcept {
  try {
    auto data = b64u_decode(authenticator_data_b64u, kMaxAuthenticatorData);
    auto client = b64u_decode(client_data_json_b64u, kMaxClientDataJson);
    auto signature = b64u_decode(signature_b64u, kMaxDerSignature);
    if (!data || !client || !signature) return fail(AssertionFailure::malformed);
    return verify_assertion_unchecked(expect, AssertionParts{*data, *client, *signature});
  } catch (...) {
    return fail(AssertionFailure::internal);
  }
}

}  // namespace twostep::push
