// Host side of push login: push.conf, relay messages, approval verification.
#include "twostep/push_login.hpp"

#include "twostep/display_text.hpp"
#include "twostep/secret_store.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <charconv>
#include <nlohmann/json.hpp>

namespace twostep::push {
namespace {

using json = nlohmann::json;

Error config_error(std::size_t line, const std::string& what) {
  return make_error(ErrorCode::malformed, "line " + std::to_string(line) + ": " + what);
}

bool has_control(std::string_view text) {
  for (const char c : text) {
    const auto b = static_cast<unsigned char>(c);
    if (b < 0x20 || b == 0x7f) return true;
  }
  return false;
}

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t' || text.back() == '\r')) {
    text.remove_suffix(1);
  }
  return text;
}

std::optional<std::int64_t> json_int(const json& object, const char* key) {
  const auto it = object.find(key);
  if (it == object.end() || !it->is_number_integer()) return std::nullopt;
  return it->get<std::int64_t>();
}

std::optional<std::string> json_string(const json& object, const char* key,
                                       std::size_t max = 4096) {
  const auto it = object.find(key);
  if (it == object.end() || !it->is_string()) return std::nullopt;
  const auto& text = it->get_ref<const std::string&>();
  if (text.size() > max) return std::nullopt;
  return text;
}

std::optional<json> parse_object(std::string_view body) {
  // A key given twice would let the relay show one value and mean another.
  if (json_has_duplicate_keys(body)) return std::nullopt;
  json value = json::parse(body.begin(), body.end(), nullptr, false);
  if (value.is_discarded() || !value.is_object()) return std::nullopt;
  return value;
}

Error bad_message(const std::string& what) {
  return make_error(ErrorCode::malformed, "relay answer: " + what);
}

// ---- push.conf values ---------------------------------------------------------

Status parse_relay(std::size_t number, std::string value, HostSettings& settings) {
  if (!value.starts_with("https://") && !value.starts_with("http://")) {
    return config_error(number, "relay must be an https:// URL");
  }
  settings.relay_url = std::move(value);
  return {};
}

Status parse_host_id(std::size_t number, std::string value, HostSettings& settings) {
  if (!is_b64u_of_size(value, kIdBytes)) {
    return config_error(number, "host_id must be the 22-character id from twostepd host add");
  }
  settings.host_id = std::move(value);
  return {};
}

Status parse_host_name(std::size_t number, std::string value, HostSettings& settings) {
  if (value.size() > 64) return config_error(number, "host_name longer than 64 bytes");
  settings.host_name = std::move(value);
  return {};
}

Status parse_approver_origin(std::size_t number, std::string value, HostSettings& settings) {
  if (!rp_id_from_origin(value)) {
    return config_error(number,
                        "approver_origin must be https://HOST[:PORT] or http://localhost[:PORT]");
  }
  settings.approver_origin = std::move(value);
  return {};
}

Status parse_ca_file(std::size_t number, std::string value, HostSettings& settings) {
  if (!value.starts_with('/')) return config_error(number, "ca_file must be an absolute path");
  settings.ca_file.emplace() = std::move(value);
  return {};
}

Status parse_pin(std::size_t number, std::string value, HostSettings& settings) {
  if (!value.starts_with("sha256//")) return config_error(number, "pin must be sha256//BASE64");
  settings.pinned_key = std::move(value);
  return {};
}

Status parse_proxy(std::size_t /*number*/, std::string value, HostSettings& settings) {
  settings.proxy = std::move(value);
  return {};
}

Status parse_host_secret_file(std::size_t number, std::string value, HostSettings& settings) {
  if (!value.starts_with('/')) {
    return config_error(number, "host_secret_file must be an absolute path");
  }
  settings.host_secret_file = std::move(value);
  return {};
}

Status parse_location_database(std::size_t number, std::string value, HostSettings& settings) {
  if (!value.starts_with('/')) {
    return config_error(number, "location_database must be an absolute path");
  }
  settings.location_database.emplace() = std::move(value);
  return {};
}

Status parse_connect_timeout(std::size_t number, std::string value, HostSettings& settings) {
  std::uint32_t seconds = 0;
  const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), seconds);
  if (ec != std::errc() || end != value.data() + value.size() || seconds == 0 || seconds > 60) {
    return config_error(number, "connect_timeout must be 1..60 seconds");
  }
  settings.connect_timeout_s = seconds;
  return {};
}

struct ConfigKey {
  std::string_view name;
  Status (*parse)(std::size_t number, std::string value, HostSettings& settings);
};

// The keys of push.conf; the first kRequiredConfigKeys must be present.
constexpr std::array<ConfigKey, 10> kConfigKeys = {{
    {"relay", parse_relay},
    {"host_id", parse_host_id},
    {"host_name", parse_host_name},
    {"approver_origin", parse_approver_origin},
    {"ca_file", parse_ca_file},
    {"pin", parse_pin},
    {"proxy", parse_proxy},
    {"host_secret_file", parse_host_secret_file},
    {"connect_timeout", parse_connect_timeout},
    {"location_database", parse_location_database},
}};
constexpr std::size_t kRequiredConfigKeys = 4;

// One trimmed line of push.conf: blank, a comment, or "key value" /
// "key = value" (as `twostepd host add` prints it), each key at most once.
Status parse_config_line(std::size_t number, std::string_view line,
                         std::array<bool, kConfigKeys.size()>& seen, HostSettings& settings) {
  if (line.empty() || line.front() == '#') return {};
  if (has_control(line)) return config_error(number, "control character");
  const std::size_t blank = line.find_first_of(" \t");
  if (blank == std::string_view::npos) return config_error(number, "expected KEY VALUE");
  const std::string_view key = line.substr(0, blank);
  std::string_view value = trim(line.substr(blank));
  if (value.starts_with('=')) value = trim(value.substr(1));
  if (key == "host_secret") {
    return config_error(number, "host_secret does not belong in this file (users can read "
                                "it): put it into the root-only host_secret_file");
  }
  std::size_t k = 0;
  while (k < kConfigKeys.size() && kConfigKeys[k].name != key) ++k;
  if (k == kConfigKeys.size()) return config_error(number, "unknown key");
  if (seen[k]) return config_error(number, "duplicate " + std::string(key));
  seen[k] = true;
  if (value.empty() || value.find_first_of(" \t") != std::string_view::npos ||
      value.size() > 1024) {
    return config_error(number, std::string(key) + ": one value without blanks expected");
  }
  return kConfigKeys[k].parse(number, std::string(value), settings);
}

}  // namespace

// ---------------------------------------------------------------------------

Result<HostSettings> parse_push_config(std::string_view text) {
  if (text.size() > kMaxPushConfigBytes) {
    return make_error(ErrorCode::too_large, "push config larger than 16 KiB");
  }
  HostSettings settings;
  std::array<bool, kConfigKeys.size()> seen{};
  std::size_t number = 0;
  while (!text.empty()) {
    ++number;
    const std::size_t newline = text.find('\n');
    const std::string_view line = text.substr(0, newline);
    text.remove_prefix(newline == std::string_view::npos ? text.size() : newline + 1);
    auto status = parse_config_line(number, trim(line), seen, settings);
    if (!status) return status.error();
  }
  for (std::size_t required = 0; required < kRequiredConfigKeys; ++required) {
    if (!seen[required]) {
      return make_error(ErrorCode::malformed,
                        "push config: missing " + std::string(kConfigKeys[required].name));
    }
  }
  return settings;
}

Result<HostSettings> read_push_config(const std::string& path) {
  // Whoever can change push.conf picks the relay (and with failmode=safe,
  // whether a login needs a phone): root's, through root's directories only.
  auto text = read_trusted_file(path, TrustedFileRules{"push config", kMaxPushConfigBytes, 022, {}});
  if (!text) return text.error();
  auto parsed = parse_push_config(text->view());
  if (!parsed) return make_error(parsed.error().code, path + ": " + parsed.error().message);
  return parsed;
}

Result<SecretBytes> read_host_secret(const std::string& path, uid_t owner) {
  auto text = read_trusted_file(path, TrustedFileRules{"host secret", 256, 077, owner});
  if (!text) return text.error();
  return parse_host_secret(text->view(), path);
}

Result<SecretBytes> parse_host_secret(std::string_view text, const std::string& path) {
  std::string_view content = trim(text.substr(0, text.find('\n')));
  // The bare value, or the `host_secret = VALUE` line twostepd host add prints.
  // The key only with a blank or '=' after it: a bare b64u value may itself
  // begin with the letters "host_secret".
  constexpr std::string_view kKey = "host_secret";
  if (content.starts_with(kKey) && content.size() > kKey.size() &&
      std::string_view(" \t=").find(content[kKey.size()]) != std::string_view::npos) {
    content = trim(content.substr(kKey.size()));
    if (content.starts_with('=')) content = trim(content.substr(1));
  }
  auto secret = b64u_decode_secret(content, kHostSecretBytes);
  if (!secret || secret->size() != kHostSecretBytes) {
    return make_error(ErrorCode::malformed,
                      "host secret " + path + ": must be one line, b64u of 32 bytes");
  }
  return secret;
}

// ---------------------------------------------------------------------------

std::optional<std::string> parse_error_code(std::string_view body) {
  const auto value = parse_object(body);
  if (!value) return std::nullopt;
  auto code = json_string(*value, "error", 64);
  // Terminals show the code: only the shape of the documented ones (section 2).
  if (!code || code->empty() ||
      code->find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789_") != std::string::npos) {
    return std::nullopt;
  }
  return code;
}

std::string relay_text(std::string_view value) { return safe_display_text(value); }

std::string challenge_request_json(const ChallengeRequest& request) {
  json body = {{"user", request.user},     {"service", request.service},
               {"rhost", request.rhost},   {"tty", request.tty},
               {"devices", request.devices}, {"nonce", request.nonce},
               {"expires", request.expires},
               {"context",
                {{"command", request.context.command},
                 {"target_user", request.context.target_user},
                 {"location", request.context.location}}}};
  // Names and hosts are not always UTF-8; replace rather than throw.
  return body.dump(-1, ' ', false, json::error_handler_t::replace);
}

Result<IssuedChallenge> parse_challenge_created(std::string_view body) {
  const auto value = parse_object(body);
  if (!value) return bad_message("not a JSON object");
  auto id = json_string(*value, "id");
  auto expires = json_int(*value, "expires");
  if (!id || !is_b64u_of_size(*id, kIdBytes) || !expires) return bad_message("no id/expires");
  return IssuedChallenge{std::move(*id), *expires};
}

Result<std::string> parse_host_view(std::string_view body, std::string_view expected_host_id) {
  const auto value = parse_object(body);
  if (!value) return bad_message("not a JSON object");
  const auto host_id = json_string(*value, "host_id", kIdBytes * 2);
  auto name = json_string(*value, "name", 64);
  if (!host_id || *host_id != expected_host_id) return bad_message("not this host's view");
  if (!name || name->empty()) return bad_message("no host name");
  return std::move(*name);
}

Result<ChallengeState> parse_challenge_state(std::string_view body) {
  const auto value = parse_object(body);
  if (!value) return bad_message("not a JSON object");
  const auto status = json_string(*value, "status", 16);
  if (!status) return bad_message("no status");
  ChallengeState state;
  constexpr std::array<std::pair<std::string_view, RelayStatus>, 6> kStatuses = {{
      {"pending", RelayStatus::pending},   {"approved", RelayStatus::approved},
      {"denied", RelayStatus::denied},     {"reported", RelayStatus::reported},
      {"expired", RelayStatus::expired},   {"cancelled", RelayStatus::cancelled}}};
  bool known = false;
  for (const auto& [name, code] : kStatuses) {
    if (*status == name) {
      state.status = code;
      known = true;
    }
  }
  if (!known) return bad_message("unknown status");
  const auto device = value->find("device");
  if (device != value->end() && device->is_object()) {
    if (auto name = json_string(*device, "name", 256)) state.device_name = std::move(*name);
  }
  if (state.status == RelayStatus::approved) {
    const auto a = value->find("assertion");
    if (a == value->end() || !a->is_object()) return bad_message("approved without assertion");
    auto cred = json_string(*a, "credential_id", 2048);
    auto auth = json_string(*a, "authenticator_data", 2048);
    auto cdj = json_string(*a, "client_data_json", 8192);
    auto sig = json_string(*a, "signature", 256);
    if (!cred || !auth || !cdj || !sig) return bad_message("incomplete assertion");
    state.assertion = WireAssertion{std::move(*cred), std::move(*auth), std::move(*cdj),
                                    std::move(*sig)};
  }
  return state;
}

Result<CreatedPairing> parse_pairing_created(std::string_view body) {
  const auto value = parse_object(body);
  if (!value) return bad_message("not a JSON object");
  auto id = json_string(*value, "id");
  auto expires = json_int(*value, "expires");
  if (!id || !is_b64u_of_size(*id, kIdBytes) || !expires) return bad_message("no id/expires");
  return CreatedPairing{std::move(*id), *expires};
}

Result<std::optional<PairingProofInput>> parse_pairing_registration(std::string_view body,
                                                                      std::string* proof_b64u) {
  const auto value = parse_object(body);
  if (!value) return bad_message("not a JSON object");
  const auto status = json_string(*value, "status", 32);
  if (!status) return bad_message("no status");
  if (*status == "open") return std::optional<PairingProofInput>{};
  // Not echoed: the enroll tool prints this message on the user's terminal.
  if (*status != "registered") return bad_message("pairing status neither open nor registered");
  auto id = json_string(*value, "id");
  auto name = json_string(*value, "name", 64);
  auto cred = json_string(*value, "credential_id", 2048);
  auto cred_key = json_string(*value, "credential_public_key", 256);
  auto api_key = json_string(*value, "api_public_key", 256);
  auto proof = json_string(*value, "proof", 64);
  if (!name || name->empty() || !cred || !cred_key || !api_key || !proof) {
    return bad_message("incomplete registration");
  }
  PairingProofInput reg;
  reg.pairing_id = id ? *id : std::string();
  reg.name = std::move(*name);
  auto cred_bytes = b64u_decode(*cred, kMaxCredentialIdBytes);
  auto cred_spki = b64u_decode(*cred_key, kP256SpkiBytes);
  auto api_spki = b64u_decode(*api_key, kP256SpkiBytes);
  if (!cred_bytes || cred_bytes->empty() || !cred_spki || !api_spki ||
      !check_p256_spki(*cred_spki) || !check_p256_spki(*api_spki)) {
    return bad_message("registration with malformed keys");
  }
  reg.credential_id = std::move(*cred_bytes);
  reg.credential_spki = std::move(*cred_spki);
  reg.api_spki = std::move(*api_spki);
  if (proof_b64u) *proof_b64u = std::move(*proof);
  return std::optional<PairingProofInput>(std::move(reg));
}

// ---------------------------------------------------------------------------

const char* to_string(PushVerdict verdict) noexcept {
  switch (verdict) {
    case PushVerdict::approved: return "approved";
    case PushVerdict::unpinned_device: return "unpinned_device";
    case PushVerdict::wrong_number: return "wrong_number";
    case PushVerdict::wrong_challenge: return "wrong_challenge";
    case PushVerdict::bad_signature: return "bad_signature";
    case PushVerdict::replayed: return "replayed";
    case PushVerdict::bad_assertion: return "bad_assertion";
    case PushVerdict::internal: return "internal";
  }
  return "internal";
}

namespace {

// The enrolled device whose credential id the assertion names, or null.
Device* pinned_device(Enrollment& enrollment, const std::string& credential_id_b64u) {
  auto credential = b64u_decode(credential_id_b64u, kMaxCredentialIdBytes);
  if (!credential) return nullptr;
  Device* device = nullptr;
  for (Device& d : enrollment.devices) {
    if (d.credential_id == *credential) device = &d;
  }
  return device;
}

// What an assertion that verifies over this challenge with another number
// (failing as `failure`) says about the login.
PushVerdict verdict_for_other_number(AssertionFailure failure) {
  // A typo only if the pinned key signed it (the relay can compute every
  // digest itself).
  if (failure == AssertionFailure::none || failure == AssertionFailure::counter_regressed) {
    return PushVerdict::wrong_number;
  }
  if (failure == AssertionFailure::bad_signature) return PushVerdict::bad_signature;
  if (failure != AssertionFailure::internal) return PushVerdict::bad_assertion;
  return PushVerdict::internal;
}

// The assertion was not over this challenge: signed for this very challenge
// with another number (the user typed a different one on the phone), or for
// something else entirely.
PushVerdict classify_wrong_challenge(const ApprovalContext& context,
                                     AssertionExpectations expect,
                                     const WireAssertion& assertion) {
  ApprovalContext other = context;
  for (unsigned n = 0; n <= 99; ++n) {
    if (n == context.number) continue;
    other.number = n;
    auto alt = approval_digest(other);
    if (!alt) break;
    expect.challenge = *alt;
    const AssertionFailure failure =
        verify_assertion_b64u(expect, assertion.authenticator_data, assertion.client_data_json,
                              assertion.signature)
            .failure;
    if (failure == AssertionFailure::wrong_challenge) continue;
    return verdict_for_other_number(failure);
  }
  return PushVerdict::wrong_challenge;
}

}  // namespace

PushCheck verify_push_approval(Enrollment& enrollment, const ApprovalContext& context,
                               const WireAssertion& assertion) {
  PushCheck check;
  Device* device = pinned_device(enrollment, assertion.credential_id);
  if (!device) {
    check.verdict = PushVerdict::unpinned_device;
    return check;
  }
  check.device_name = device->name;
  auto digest = approval_digest(context);
  if (!digest) return check;
  AssertionExpectations expect;
  expect.challenge = *digest;
  expect.origin = device->origin;
  expect.public_key_spki = device->public_key;
  expect.pinned_counter = device->sign_counter;
  // Parsed once for the up to 100 checks of the wrong-number search.
  auto key = P256PublicKey::parse(device->public_key);
  if (key) expect.public_key = &*key;
  const AssertionResult result = verify_assertion_b64u(
      expect, assertion.authenticator_data, assertion.client_data_json, assertion.signature);
  switch (result.failure) {
    case AssertionFailure::none:
      check.verdict = PushVerdict::approved;
      if (result.sign_counter != device->sign_counter) {
        device->sign_counter = result.sign_counter;
        check.state_changed = true;
      }
      return check;
    case AssertionFailure::wrong_challenge:
      check.verdict = classify_wrong_challenge(context, expect, assertion);
      return check;
    case AssertionFailure::bad_signature: check.verdict = PushVerdict::bad_signature; return check;
    case AssertionFailure::counter_regressed: check.verdict = PushVerdict::replayed; return check;
    case AssertionFailure::internal: check.verdict = PushVerdict::internal; return check;
    default: check.verdict = PushVerdict::bad_assertion; return check;
  }
}

bool signed_for_host_name(std::vector<Device> pins, ApprovalContext context,
                          std::string host_name, const WireAssertion& assertion) {
  if (host_name == context.host) return false;
  Enrollment copy;
  copy.devices = std::move(pins);
  context.host = std::move(host_name);
  const PushVerdict verdict = verify_push_approval(copy, context, assertion).verdict;
  return verdict == PushVerdict::approved || verdict == PushVerdict::wrong_number;
}

}  // namespace twostep::push
