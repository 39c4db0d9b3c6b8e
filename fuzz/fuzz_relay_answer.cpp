// The relay's answers as the module and twostep-enroll read them
// (core/push/src/push_login.cpp, docs/protocol.md sections 2, 4, 6, 7), and an
// approval from such an answer checked against pinned devices. A compromised
// relay controls every byte here.
//
// Input layout (see fuzz/corpus/fuzz_relay_answer/):
//   byte 0     mode bits: 1 = sign the assertion with device A's key (the
//              fuzzer holds it, as the phone would) after the steps below,
//              2 = in the decoded clientDataJSON, replace "%C" with the b64u
//              approval digest for the number in byte 1 (so the checks after
//              the challenge are reached; the relay knows every input of the
//              digest, so it can do the same)
//   byte 1     that number (mod 100); the terminal showed kShown
//   the rest   the answer body, given to every parser
//
// Invariants: errors are malformed "relay answer: ..." with no control
// characters (they reach terminals); an error code has the shape of the
// documented codes (snake_case, it is shown on the terminal); accepted answers
// keep the limits (ids of 16 bytes, field sizes, statuses) and agree with
// nlohmann's DOM; an approval is accepted only when the fuzzer signed it with
// device A over the shown number, and then passes section 6 re-checked by
// hand; wrong_number only for a signature by the pinned key; a refused
// approval changes no pin.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "fuzz_check.hpp"
#include "push_test_support.hpp"  // tests/unit: the test signer and assertion builder
#include "twostep/push_login.hpp"

using namespace twostep;
using namespace twostep::push;
using json = nlohmann::json;

namespace {

constexpr std::string_view kOrigin = "https://approve.example.com";
constexpr std::string_view kRpId = "approve.example.com";
constexpr unsigned kShown = 42;
constexpr std::uint32_t kPinnedCounter = 5;
const Bytes kCredentialA = {1, 2, 3, 4};
const Bytes kCredentialB = {5, 6, 7, 8};

struct Keys {
  test::TestKey a;  // signs when mode bit 1 is set
  test::TestKey b;  // never signs
};

const Keys& keys() {
  static const Keys instance;
  return instance;
}

ApprovalContext context_for(unsigned number) {
  return {"AAECAwQFBgcICQoLDA0ODw", "bm9uY2Vub25jZW5vbmNlbm9uY2Vub25jZW5vbmNlbm8", "web1", "alice",
          "sshd", "203.0.113.5", "ssh", number, 1764300090};
}

std::string challenge_for(unsigned number) {
  return b64u_encode(test::digest_of(approval_digest(context_for(number))));
}

Enrollment pinned_devices() {
  Enrollment e;
  Device a;
  a.name = "Phone A";
  a.credential_id = kCredentialA;
  a.public_key = keys().a.spki();
  a.origin = std::string(kOrigin);
  a.sign_counter = kPinnedCounter;
  Device b = a;
  b.name = "Phone B";
  b.credential_id = kCredentialB;
  b.public_key = keys().b.spki();
  b.sign_counter = 0;
  e.devices = {a, b};
  return e;
}

bool is_error_code_shape(std::string_view code) {
  return !code.empty() && code.size() <= 64 &&
         std::all_of(code.begin(), code.end(),
                     [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'; });
}

bool has_control(std::string_view text) {
  return std::any_of(text.begin(), text.end(), [](char c) {
    const auto b = static_cast<unsigned char>(c);
    return b < 0x20 || b == 0x7f;
  });
}

template <typename T>
void check_refusal(const Result<T>& parsed) {
  if (parsed) return;
  FUZZ_CHECK(parsed.error().code == ErrorCode::malformed);
  FUZZ_CHECK(parsed.error().message.starts_with("relay answer: "));
  FUZZ_CHECK(!has_control(parsed.error().message));
}

// The DOM member `key` as a string, if it is one.
std::optional<std::string> dom_string(const json& object, const char* key) {
  const auto it = object.find(key);
  if (it == object.end() || !it->is_string()) return std::nullopt;
  return it->get<std::string>();
}

template <typename Created>
void check_created(const Result<Created>& created, const json& dom) {
  check_refusal(created);
  if (!created) return;
  // The id goes into request paths: exactly 22 b64u characters.
  FUZZ_CHECK(is_b64u_of_size(created->id, kIdBytes));
  FUZZ_CHECK(dom.is_object() && dom_string(dom, "id") == created->id);
  FUZZ_CHECK(dom.at("expires").is_number_integer() && dom.at("expires").get<std::int64_t>() == created->expires);
}

void check_state(const ChallengeState& state, const json& dom) {
  FUZZ_CHECK(dom.is_object());
  const auto status = dom_string(dom, "status");
  FUZZ_CHECK(status.has_value());
  constexpr std::string_view kNames[] = {"pending", "approved", "denied", "reported", "expired", "cancelled"};
  FUZZ_CHECK(*status == kNames[static_cast<int>(state.status)]);
  FUZZ_CHECK(state.assertion.has_value() == (state.status == RelayStatus::approved));
  FUZZ_CHECK(state.device_name.size() <= 256);
  if (!state.device_name.empty()) FUZZ_CHECK(dom_string(dom.at("device"), "name") == state.device_name);
  if (!state.assertion) return;
  const WireAssertion& a = *state.assertion;
  FUZZ_CHECK(a.credential_id.size() <= 2048 && a.authenticator_data.size() <= 2048);
  FUZZ_CHECK(a.client_data_json.size() <= 8192 && a.signature.size() <= 256);
  const json& wire = dom.at("assertion");
  FUZZ_CHECK(dom_string(wire, "credential_id") == a.credential_id);
  FUZZ_CHECK(dom_string(wire, "authenticator_data") == a.authenticator_data);
  FUZZ_CHECK(dom_string(wire, "client_data_json") == a.client_data_json);
  FUZZ_CHECK(dom_string(wire, "signature") == a.signature);
}

void check_registration(const Result<std::optional<PairingProofInput>>& parsed, const json& dom,
                        const std::string& proof) {
  check_refusal(parsed);
  if (!parsed) return;
  FUZZ_CHECK(dom.is_object());
  if (!parsed.value()) {
    FUZZ_CHECK(dom_string(dom, "status") == "open");
    FUZZ_CHECK(proof == "untouched");
    return;
  }
  const PairingProofInput& reg = *parsed.value();
  FUZZ_CHECK(dom_string(dom, "status") == "registered");
  FUZZ_CHECK(!reg.name.empty() && reg.name.size() <= kMaxDeviceNameLength);
  FUZZ_CHECK(!reg.credential_id.empty() && reg.credential_id.size() <= kMaxCredentialIdBytes);
  FUZZ_CHECK(check_p256_spki(reg.credential_spki).ok() && check_p256_spki(reg.api_spki).ok());
  FUZZ_CHECK(proof != "untouched" && proof.size() <= 64 && dom_string(dom, "proof") == proof);
}

// The harness's part of the phone: fill in a challenge, sign with key A.
WireAssertion as_phone(WireAssertion wire, std::uint8_t mode, unsigned number) {
  auto data = b64u_decode(wire.authenticator_data, kMaxAuthenticatorData);
  auto client = b64u_decode(wire.client_data_json, kMaxClientDataJson);
  if (!data || !client) return wire;
  if ((mode & 2) != 0) {
    std::string text(client->begin(), client->end());
    if (const auto at = text.find("%C"); at != std::string::npos) text.replace(at, 2, challenge_for(number));
    if (text.size() > kMaxClientDataJson) return wire;
    client->assign(text.begin(), text.end());
    wire.client_data_json = b64u_encode(*client);
  }
  if ((mode & 1) != 0) wire.signature = b64u_encode(test::sign_assertion(keys().a, *data, *client));
  return wire;
}

// Section 6 re-checked by hand for an accepted approval.
void check_approved(const WireAssertion& wire, const Enrollment& after) {
  auto client = b64u_decode(wire.client_data_json, kMaxClientDataJson);
  auto data = b64u_decode(wire.authenticator_data, kMaxAuthenticatorData);
  FUZZ_CHECK(client.ok() && data.ok() && data->size() >= kMinAuthenticatorData);
  const auto dom = json::parse(client->begin(), client->end(), nullptr, false);
  FUZZ_CHECK(dom.is_object());
  FUZZ_CHECK(dom_string(dom, "type") == "webauthn.get");
  FUZZ_CHECK(dom_string(dom, "challenge") == challenge_for(kShown));
  FUZZ_CHECK(dom_string(dom, "origin") == kOrigin);
  FUZZ_CHECK(!dom.contains("crossOrigin") || dom.at("crossOrigin") == false);
  const Digest rp_hash = test::digest_of(sha256(as_bytes(kRpId)));
  FUZZ_CHECK(std::equal(rp_hash.begin(), rp_hash.end(), data->begin()));
  FUZZ_CHECK(((*data)[32] & (kFlagUserPresent | kFlagUserVerified)) == (kFlagUserPresent | kFlagUserVerified));
  const std::uint32_t counter = (std::uint32_t{(*data)[33]} << 24) | (std::uint32_t{(*data)[34]} << 16) |
                                (std::uint32_t{(*data)[35]} << 8) | std::uint32_t{(*data)[36]};
  FUZZ_CHECK(counter > kPinnedCounter);
  FUZZ_CHECK(after.devices[0].sign_counter == counter);
}

void check_approval(const WireAssertion& from_relay, std::uint8_t mode, unsigned number) {
  const WireAssertion wire = as_phone(from_relay, mode, number);
  Enrollment enrollment = pinned_devices();
  const PushCheck check = verify_push_approval(enrollment, context_for(kShown), wire);
  FUZZ_CHECK(check.verdict != PushVerdict::internal);

  auto credential = b64u_decode(wire.credential_id, kMaxCredentialIdBytes);
  const bool is_a = credential && *credential == kCredentialA;
  const bool is_b = credential && *credential == kCredentialB;
  FUZZ_CHECK((check.verdict == PushVerdict::unpinned_device) == (!is_a && !is_b));
  if (is_a || is_b) FUZZ_CHECK(check.device_name == (is_a ? "Phone A" : "Phone B"));
  // Only device A's key can have signed, and only when the fuzzer did.
  const bool signed_by_pin = is_a && (mode & 1) != 0;

  if (check.verdict != PushVerdict::approved) {
    FUZZ_CHECK(!check.state_changed);
    FUZZ_CHECK(enrollment.devices[0].sign_counter == kPinnedCounter);
    FUZZ_CHECK(enrollment.devices[1].sign_counter == 0);
  }
  if (signed_by_pin) FUZZ_CHECK(check.verdict != PushVerdict::bad_signature);
  // "Signed for this challenge with another number" (push_login.hpp): a
  // lying relay must not be able to pass its forgery off as a user's typo.
  if (check.verdict == PushVerdict::wrong_number) FUZZ_CHECK(signed_by_pin);
  if (check.verdict == PushVerdict::approved) {
    FUZZ_CHECK(signed_by_pin);
    FUZZ_CHECK(check.state_changed);
    FUZZ_CHECK(enrollment.devices[1].sign_counter == 0);
    check_approved(wire, enrollment);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  const std::uint8_t mode = data[0];
  const unsigned number = data[1] % 100u;
  const std::string_view body(reinterpret_cast<const char*>(data + 2), size - 2);
  const json dom = json::parse(body.begin(), body.end(), nullptr, false);

  if (const auto code = parse_error_code(body)) {
    FUZZ_CHECK(is_error_code_shape(*code));
    FUZZ_CHECK(dom.is_object() && dom_string(dom, "error") == *code);
  }
  check_created(parse_challenge_created(body), dom);
  check_created(parse_pairing_created(body), dom);
  std::string proof = "untouched";
  check_registration(parse_pairing_registration(body, &proof), dom, proof);

  auto state = parse_challenge_state(body);
  check_refusal(state);
  if (!state) return 0;
  check_state(*state, dom);
  if (state->assertion) check_approval(*state->assertion, mode, number);
  return 0;
}
