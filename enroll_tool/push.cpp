// --push, --list-devices, --remove-device: pairing a phone for push approval
// (docs/protocol.md section 7) and managing the pins in the secret file.
//
// Nothing is written until the phone registered, its proof verified with the
// pairing secret S (which only the QR code carries), and the user confirmed
// that both screens show the same comparison code. The pin is written with
// the same locked atomic update as every other change; only then is the
// device confirmed at the relay (and the pin taken back if that fails).
#include <chrono>
#include <cstdio>
#include <ctime>
#include <thread>

#include <nlohmann/json.hpp>

#include "exit_codes.hpp"
#include "modes.hpp"
#include "qr.hpp"
#include "token_display.hpp"
#include "twostep/push_login.hpp"
#include "twostep/secret_store.hpp"
#include "twostep_push.h"

namespace twostep::enroll {
namespace {

namespace push = twostep::push;
using json = nlohmann::json;

struct Answer {
  bool answered = false;
  long status = 0;
  std::string body;
  std::string message;
};

Answer relay_request(const push::HostSettings& settings, const char* method,
                     const std::string& path, const std::string& query, const std::string& body,
                     long timeout_ms) {
  const auto c_str = [](const std::optional<std::string>& s) { return s ? s->c_str() : nullptr; };
  twostep_push_settings s{};
  s.abi_version = TWOSTEP_PUSH_ABI_VERSION;
  s.relay_url = settings.relay_url.c_str();
  s.ca_file = c_str(settings.ca_file);
  s.pinned_key = c_str(settings.pinned_key);
  s.proxy = c_str(settings.proxy);
  s.host_id = nullptr;  // pairing needs no host secret (users cannot read it)
  s.connect_timeout_ms = static_cast<long>(settings.connect_timeout_s) * 1000;
  s.max_response_bytes = 64 * 1024;
  twostep_push_request r{};
  r.abi_version = TWOSTEP_PUSH_ABI_VERSION;
  r.method = method;
  r.path = path.c_str();
  r.query = query.empty() ? nullptr : query.c_str();
  r.body = body.empty() ? nullptr : body.c_str();
  r.body_len = body.size();
  r.total_timeout_ms = timeout_ms;
  twostep_push_response response{};
  response.abi_version = TWOSTEP_PUSH_ABI_VERSION;
  Answer answer;
  answer.answered = twostep_push_perform(&s, &r, &response) == TWOSTEP_PUSH_OK;
  answer.status = response.http_status;
  if (response.body) answer.body.assign(response.body, response.body_len);
  answer.message = response.message;
  twostep_push_response_free(&response);
  return answer;
}

std::string relay_problem(const Answer& answer) {
  if (!answer.answered) return "the relay is unavailable (" + answer.message + ")";
  const auto code = push::parse_error_code(answer.body);
  return "the relay refused (HTTP " + std::to_string(answer.status) +
         (code ? ", " + *code : std::string()) + ")";
}

// "ab12 cd34 ef56 7890": the first 8 bytes of SHA-256 of the credential key.
std::string key_fingerprint(const std::vector<std::uint8_t>& spki) {
  auto digest = push::sha256(spki);
  if (!digest) return "?";
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (std::size_t i = 0; i < 8; ++i) {
    if (i > 0 && i % 2 == 0) out += ' ';
    out += kHex[(*digest)[i] >> 4];
    out += kHex[(*digest)[i] & 0xF];
  }
  return out;
}

std::string format_date(std::int64_t time) {
  const std::time_t t = static_cast<std::time_t>(time);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buffer[32];
  std::strftime(buffer, sizeof buffer, "%Y-%m-%d %H:%M UTC", &tm);
  return buffer;
}

// Reads the user's file for push management; prints why not and gives the
// exit code when it cannot be used.
std::optional<int> check_native_file(const Session& session, Result<SecretDocument>& document) {
  const Console& console = session.console;
  if (!document) {
    if (document.error().code == ErrorCode::not_found) {
      console.error("no secret file at " + session.location.path +
                    ": enroll first (twostep-enroll), then pair a phone with --push");
      return kExitNotEnrolled;
    }
    return report_file_error(console, document.error());
  }
  if (document->format != FileFormat::native) {
    console.error(session.location.path +
                  " is a google-authenticator file, which cannot hold push devices. Convert "
                  "it first: enroll again in the native format (twostep-enroll --force "
                  "--secret-file ~/.twostep, then remove the old file), then run --push.");
    return kExitRefused;
  }
  return std::nullopt;
}

}  // namespace

int run_list_devices(const Session& session) {
  const Console& console = session.console;
  auto document = read_secret_file(session.location.path, expectations_for(session.location));
  if (auto code = check_native_file(session, document)) return *code;
  const auto& devices = document->enrollment.devices;
  if (devices.empty()) {
    console.always("No push devices paired (twostep-enroll --push pairs one).");
    return kExitOk;
  }
  for (const Device& d : devices) {
    console.always(d.name + "\tadded " + format_date(d.added) + "\tkey " +
                   key_fingerprint(d.public_key) + "\t" + d.origin);
  }
  return kExitOk;
}

int run_remove_device(const Session& session) {
  const Console& console = session.console;
  const std::string& name = session.options.device_name;
  bool found = false;
  bool native = true;
  auto status = lock_and_update_secret_file(
      session.location.path, expectations_for(session.location), [&](SecretDocument& document) {
        native = document.format == FileFormat::native;
        auto& devices = document.enrollment.devices;
        for (auto it = devices.begin(); it != devices.end(); ++it) {
          if (it->name == name) {
            devices.erase(it);
            found = true;
            return UpdateDecision::write;
          }
        }
        return UpdateDecision::keep;
      });
  if (!native) {
    console.error(session.location.path + " is a google-authenticator file: it has no push devices");
    return kExitRefused;
  }
  if (!found && (status.ok() || status.error().code == ErrorCode::cancelled)) {
    console.error("no push device named \"" + name + "\" (see --list-devices)");
    return kExitRefused;
  }
  if (!status) return report_file_error(console, status.error());
  console.info("Removed push device \"" + name + "\". (Its record at the relay stays until the "
               "phone removes it; it can no longer approve logins here.)");
  return kExitOk;
}

namespace {

// One name for the core type, so that its coming rename touches one line.
using Registration = push::PairingProofInput;

// The secrets of one pairing (7.1): S goes only into the QR code; the relay
// gets the hash of K now and K itself when the user confirmed.
struct PairingSecrets {
  std::string pairing_secret;  // S, b64u
  std::string confirm_token;   // K, b64u
  SecretBytes s_bytes;         // S, decoded
  push::Digest confirm_hash{};
};

// The relay of this host and the pairing open there.
struct RelayPairing {
  const push::HostSettings& settings;
  long request_ms = 0;
  std::string id;  // from POST /v1/pairings
};

// The steps below return the exit code when the pairing stops there (after
// printing why), nullopt to go on.

// Refuses before any relay traffic when the file cannot take another device.
std::optional<int> check_room_for_device(const Session& session) {
  auto document = read_secret_file(session.location.path, expectations_for(session.location));
  if (auto code = check_native_file(session, document)) return *code;
  if (document->enrollment.devices.size() >= kMaxDevices) {
    session.console.error("already " + std::to_string(kMaxDevices) +
                          " push devices; remove one first (--remove-device)");
    return kExitRefused;
  }
  return std::nullopt;
}

std::optional<int> make_pairing_secrets(const Console& console, PairingSecrets& secrets) {
  auto pairing_secret = push::random_b64u(push::kPairingSecretBytes);
  auto confirm_token = push::random_b64u(push::kPairingSecretBytes);
  if (!pairing_secret || !confirm_token) {
    console.error("no randomness");
    return kExitIo;
  }
  auto s_bytes = push::b64u_decode_secret(*pairing_secret, push::kPairingSecretBytes);
  auto k_bytes = push::b64u_decode(*confirm_token, push::kPairingSecretBytes);
  if (!s_bytes || !k_bytes) return kExitIo;
  auto confirm_hash = push::sha256(*k_bytes);
  if (!confirm_hash) return kExitIo;
  secrets.pairing_secret = std::move(*pairing_secret);
  secrets.confirm_token = std::move(*confirm_token);
  secrets.s_bytes = std::move(*s_bytes);
  secrets.confirm_hash = *confirm_hash;
  return std::nullopt;
}

// POST /v1/pairings (7.1): opens the pairing at the relay, which learns the
// host, the user and the hash of K.
std::optional<int> create_pairing(const Session& session, const PairingSecrets& secrets,
                                  RelayPairing& relay) {
  const json create = {{"host_id", relay.settings.host_id},
                       {"user", session.target.name},
                       {"confirm_hash", push::b64u_encode(secrets.confirm_hash)}};
  const auto created_answer =
      relay_request(relay.settings, "POST", "/v1/pairings", "", create.dump(), relay.request_ms);
  if (!created_answer.answered || created_answer.status != 201) {
    session.console.error("cannot start pairing: " + relay_problem(created_answer));
    return kExitIo;
  }
  auto created = push::parse_pairing_created(created_answer.body);
  if (!created) {
    session.console.error("cannot start pairing: " + created.error().message);
    return kExitIo;
  }
  relay.id = created->id;
  return std::nullopt;
}

// The QR code and the link for the phone, then the waiting notice.
void show_pairing_link(const Session& session, const PairingSecrets& secrets,
                       const RelayPairing& relay) {
  const Options& options = session.options;
  const Console& console = session.console;
  // The pairing secret S is in the URL fragment, which the phone's browser
  // never sends to the relay.
  SecretBytes url = SecretBytes::from_string(relay.settings.approver_origin + "/#pair=" +
                                             relay.id + "." + secrets.pairing_secret);
  const QrStyle style = options.qr_explicit ? options.qr : resolve_auto_qr(console.text_is_tty());
  console.always("Scan this with the phone that should approve logins of " + session.target.name +
                 " on " + relay.settings.host_name + ":");
  if (style != QrStyle::none) {
    auto matrix = encode_qr(url);
    if (matrix) render_terminal_qr(*matrix, style, kQuietZoneCompact, console.text());
  }
  console.always("Or open on the phone:");
  console.secret(url);
  console.always("");
  console.always("Waiting for the phone (Ctrl-C to stop)...");
  console.flush();
}

// Polls the relay's pairing wait (7.5) until a phone registered, the user
// interrupted, or --pairing-timeout passed.
std::optional<int> wait_for_registration(const Session& session, const RelayPairing& relay,
                                         std::optional<Registration>& registration,
                                         std::string& proof) {
  const Console& console = session.console;
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(session.options.pairing_timeout);
  while (!registration) {
    if (interrupted()) return report_interrupted(console);
    if (std::chrono::steady_clock::now() >= deadline) {
      console.error("no phone registered in time; nothing was written");
      return kExitRefused;
    }
    const auto answer = relay_request(relay.settings, "GET", "/v1/pairings/" + relay.id, "wait=2",
                                      "", relay.request_ms);
    if (interrupted()) return report_interrupted(console);
    if (!answer.answered || answer.status != 200) {
      console.error("pairing failed: " + relay_problem(answer) + "; nothing was written");
      return kExitIo;
    }
    auto parsed = push::parse_pairing_registration(answer.body, &proof);
    if (!parsed) {
      console.error("pairing failed: " + parsed.error().message + "; nothing was written");
      return kExitIo;
    }
    if (*parsed) {
      registration = std::move(**parsed);
      registration->pairing_id = relay.id;
    }
  }
  return std::nullopt;
}

std::optional<int> ask_same_comparison_code(const Console& console) {
  ReadResult reply = prompt_line(console, "Does the phone show the same comparison code? "
                                          "Type \"yes\" to pair it: ");
  if (reply.status == ReadStatus::interrupted) return report_interrupted(console);
  if (reply.status != ReadStatus::line || reply.line.view() != "yes") {
    console.error("not paired; nothing was written");
    return kExitRefused;
  }
  return std::nullopt;
}

// Checks the phone's proof of S (7.5), shows the comparison code (7.6) and, unless
// --no-confirm, asks the user whether the phone shows the same.
std::optional<int> accept_registration(const Session& session, const PairingSecrets& secrets,
                                       const Registration& registration, const std::string& proof) {
  const Console& console = session.console;
  auto verdict = push::verify_pairing_proof(secrets.s_bytes, registration, proof);
  if (!verdict || *verdict != push::SignatureVerdict::valid) {
    console.error("the phone's registration does not carry a valid proof: the relay may have "
                  "substituted a key. Nothing was written.");
    return kExitRefused;
  }
  auto code =
      push::comparison_code(secrets.s_bytes, registration.credential_spki, registration.api_spki);
  if (!code) return kExitIo;
  console.always("Phone registered: \"" + registration.name + "\"");
  console.always("Key fingerprint: " + key_fingerprint(registration.credential_spki));
  console.always("Comparison code: " + *code);
  if (session.options.confirm) return ask_same_comparison_code(console);
  return std::nullopt;
}

Device device_for(const Registration& registration, const push::HostSettings& settings) {
  Device device;
  device.name = registration.name;
  device.credential_id = registration.credential_id;
  device.public_key = registration.credential_spki;
  device.origin = settings.approver_origin;
  device.sign_counter = 0;
  device.added = static_cast<std::int64_t>(std::time(nullptr));
  return device;
}

// Names are unique in the file: "Pixel 8", "Pixel 8 (2)", ...
void make_name_unique(const std::vector<Device>& devices, std::string& name) {
  const std::string base = name.substr(0, kMaxDeviceNameLength - 4);
  for (int n = 2; n < 100; ++n) {
    bool taken = false;
    for (const Device& other : devices) taken = taken || other.name == name;
    if (!taken) break;
    name = base + " (" + std::to_string(n) + ")";
  }
}

// The rules for a new pin, checked again under the lock: the file may have
// changed while the user scanned the code.
UpdateDecision add_device(SecretDocument& document, Device& device, std::string& refusal) {
  if (document.format != FileFormat::native) {
    refusal = "the file is no longer in the native format";
    return UpdateDecision::keep;
  }
  auto& devices = document.enrollment.devices;
  if (devices.size() >= kMaxDevices) {
    refusal = "too many push devices";
    return UpdateDecision::keep;
  }
  for (const Device& other : devices) {
    if (other.credential_id == device.credential_id) {
      refusal = "this credential is already paired";
      return UpdateDecision::keep;
    }
  }
  make_name_unique(devices, device.name);
  devices.push_back(device);
  return UpdateDecision::write;
}

std::optional<int> pin_device(const Session& session, Device& device) {
  std::string refusal;
  auto written = lock_and_update_secret_file(
      session.location.path, expectations_for(session.location),
      [&](SecretDocument& document) { return add_device(document, device, refusal); });
  if (!refusal.empty()) {
    session.console.error("not paired: " + refusal);
    return kExitRefused;
  }
  if (!written) return report_file_error(session.console, written.error());
  return std::nullopt;
}

// Hands K to the relay (7.6), which then routes logins to the device; takes
// the pin back when the relay does not confirm.
int confirm_pairing(const Session& session, const PairingSecrets& secrets,
                    const RelayPairing& relay, const Device& device) {
  const Console& console = session.console;
  const json confirm = {{"confirm_token", secrets.confirm_token}};
  const auto confirmed = relay_request(relay.settings, "POST",
                                       "/v1/pairings/" + relay.id + "/confirm", "",
                                       confirm.dump(), relay.request_ms);
  if (!confirmed.answered || confirmed.status / 100 != 2) {
    // Take the pin back: a device the relay does not route to is only confusing.
    (void)lock_and_update_secret_file(session.location.path, expectations_for(session.location),
                                      [&](SecretDocument& document) {
                                        auto& devices = document.enrollment.devices;
                                        std::erase_if(devices, [&](const Device& d) {
                                          return d.credential_id == device.credential_id;
                                        });
                                        return UpdateDecision::write;
                                      });
    console.error("the relay did not confirm the pairing (" + relay_problem(confirmed) +
                  "); the device was not kept");
    return kExitIo;
  }
  console.always("Paired \"" + device.name + "\". At the code prompt, press Enter for a push.");
  return kExitOk;
}

}  // namespace

int run_push(const Session& session) {
  if (auto code = check_room_for_device(session)) return *code;
  auto settings = push::read_push_config(session.options.push_config);
  if (!settings) {
    session.console.error("push settings: " + settings.error().message);
    return kExitIo;
  }
  PairingSecrets secrets;
  if (auto code = make_pairing_secrets(session.console, secrets)) return *code;
  RelayPairing relay{*settings, static_cast<long>(settings->connect_timeout_s) * 1000 + 10000, {}};
  if (auto code = create_pairing(session, secrets, relay)) return *code;
  show_pairing_link(session, secrets, relay);
  std::optional<Registration> registration;
  std::string proof;
  if (auto code = wait_for_registration(session, relay, registration, proof)) return *code;
  if (auto code = accept_registration(session, secrets, *registration, proof)) return *code;
  Device device = device_for(*registration, *settings);
  if (auto code = pin_device(session, device)) return *code;
  return confirm_pairing(session, secrets, relay, device);
}

}  // namespace twostep::enroll
