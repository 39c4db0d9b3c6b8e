// Cross-check between the C++ core and the Python test device: reads a JSON
// array of cases made by tests/device/test_crosscheck.py (signatures,
// assertions, proofs made by python3-cryptography), checks each with the core
// and writes what the core concluded or computed (verdicts, digests,
// comparison codes, key ids, host signatures) as a JSON array, one result per
// case, for the Python side to compare with its own.
//
//   push_crosscheck CASES.json > RESULTS.json
#include <cstdio>
#include <fstream>
#include <iostream>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "twostep/push_protocol.hpp"

using nlohmann::json;
using namespace twostep;
using namespace twostep::push;

namespace {

template <typename T>
T must(Result<T> result) {
  if (!result) throw std::runtime_error("core: " + result.error().message);
  return std::move(result).value();
}

Bytes bytes_of(const json& c, const char* field) {
  auto decoded = b64u_decode(c.at(field).get<std::string>(), 1 << 16);
  if (!decoded) throw std::runtime_error(std::string("bad b64u in ") + field);
  return std::move(decoded).value();
}

SecretBytes secret_of(const json& c, const char* field) {
  auto decoded = b64u_decode_secret(c.at(field).get<std::string>(), 64);
  if (!decoded) throw std::runtime_error(std::string("bad b64u in ") + field);
  return std::move(decoded).value();
}

std::string hex(std::span<const std::uint8_t> bytes) {
  static const char digits[] = "0123456789abcdef";
  std::string out;
  for (const auto b : bytes) {
    out.push_back(digits[b >> 4]);
    out.push_back(digits[b & 15]);
  }
  return out;
}

Bytes from_hex(const std::string& text) {
  Bytes out;
  for (std::size_t i = 0; i + 1 < text.size(); i += 2) {
    out.push_back(static_cast<std::uint8_t>(std::stoi(text.substr(i, 2), nullptr, 16)));
  }
  return out;
}

std::string verdict_text(const Result<SignatureVerdict>& v) {
  return v ? to_string(v.value()) : std::string("error:") + twostep::to_string(v.error().code);
}

// The request fields live in the case document; views point into `c`.
SignedRequest request_of(const json& c, std::string& method, std::string& path, std::string& query,
                         std::string& body, std::string& timestamp, std::string& nonce, std::string& key_id) {
  method = c.at("method").get<std::string>();
  path = c.at("path").get<std::string>();
  query = c.at("query").get<std::string>();
  body = c.at("body").get<std::string>();
  timestamp = c.at("timestamp").get<std::string>();
  nonce = c.at("nonce").get<std::string>();
  key_id = c.at("key_id").get<std::string>();
  return SignedRequest{method, path, query, body, timestamp, nonce, key_id};
}

// A view's or case's "context" (protocol version 3): absent or null is a
// version 1 digest.
std::optional<SignedContext> context_of(const json& c) {
  if (!c.contains("context") || c.at("context").is_null()) return std::nullopt;
  const json& x = c.at("context");
  return SignedContext{x.at("command").get<std::string>(), x.at("target_user").get<std::string>(),
                       x.at("location").get<std::string>()};
}

json check(const json& c) {
  const std::string kind = c.at("kind").get<std::string>();
  json out = {{"kind", kind}};
  if (kind == "device_request") {
    std::string m, p, q, b, t, n, k;
    const SignedRequest r = request_of(c, m, p, q, b, t, n, k);
    out["verdict"] = verdict_text(verify_device_request(bytes_of(c, "spki"), r, c.at("signature").get<std::string>()));
    out["key_id"] = must(device_key_id(bytes_of(c, "spki")));
  } else if (kind == "host_request") {
    std::string m, p, q, b, t, n, k;
    const SignedRequest r = request_of(c, m, p, q, b, t, n, k);
    const SecretBytes secret = secret_of(c, "secret");
    out["verdict"] = verdict_text(verify_host_request(secret, r, c.at("signature").get<std::string>()));
    out["signature"] = must(sign_host_request(secret, r));
    out["canonical"] = must(canonical_request(RequestScheme::host_hmac, r));
  } else if (kind == "assertion") {
    const Bytes spki = bytes_of(c, "spki");
    AssertionExpectations e;
    if (c.contains("view")) {
      // The core computes the digest itself from a challenge view (8.2) and
      // the number the user typed.
      const json& v = c.at("view");
      ApprovalContext ctx;
      ctx.challenge_id = v.at("id").get<std::string>();
      ctx.module_nonce = v.at("nonce").get<std::string>();
      ctx.host = v.at("host").get<std::string>();
      ctx.user = v.at("user").get<std::string>();
      ctx.service = v.at("service").get<std::string>();
      ctx.rhost = v.at("rhost").get<std::string>();
      ctx.tty = v.at("tty").get<std::string>();
      ctx.number = c.at("number").get<unsigned>();
      ctx.expires = v.at("expires").get<std::int64_t>();
      ctx.context = context_of(v);
      e.challenge = must(approval_digest(ctx));
    } else if (!c.at("challenge_hex").is_null()) {
      const Bytes challenge = from_hex(c.at("challenge_hex").get<std::string>());
      if (challenge.size() != 32) throw std::runtime_error("challenge_hex is not 32 bytes");
      Digest d{};
      std::copy(challenge.begin(), challenge.end(), d.begin());
      e.challenge = d;
    }
    e.origin = c.at("origin").get<std::string>();
    e.public_key_spki = spki;
    if (!c.at("pinned_counter").is_null()) e.pinned_counter = c.at("pinned_counter").get<std::uint32_t>();
    const json& a = c.at("assertion");
    const AssertionResult result = verify_assertion_b64u(
        e, a.at("authenticator_data").get<std::string>(), a.at("client_data_json").get<std::string>(),
        a.at("signature").get<std::string>());
    out["failure"] = to_string(result.failure);
    out["sign_counter"] = result.sign_counter;
  } else if (kind == "digest") {
    ApprovalContext ctx;
    ctx.challenge_id = c.at("id").get<std::string>();
    ctx.module_nonce = c.at("nonce").get<std::string>();
    ctx.host = c.at("host").get<std::string>();
    ctx.user = c.at("user").get<std::string>();
    ctx.service = c.at("service").get<std::string>();
    ctx.rhost = c.at("rhost").get<std::string>();
    ctx.tty = c.at("tty").get<std::string>();
    ctx.number = c.at("number").get<unsigned>();
    ctx.expires = c.at("expires").get<std::int64_t>();
    ctx.context = context_of(c);
    out["digest_hex"] = hex(must(approval_digest(ctx)));
  } else if (kind == "pairing") {
    const SecretBytes secret = secret_of(c, "secret");
    PairingProofInput reg;
    reg.pairing_id = c.at("pairing_id").get<std::string>();
    const json& body = c.at("registration");
    reg.name = body.at("name").get<std::string>();
    reg.credential_id = bytes_of(body, "credential_id");
    reg.credential_spki = bytes_of(body, "credential_public_key");
    reg.api_spki = bytes_of(body, "api_public_key");
    out["verdict"] = verdict_text(verify_pairing_proof(secret, reg, body.at("proof").get<std::string>()));
    out["signature_verdict"] =
        verdict_text(verify_registration_signature(reg, body.at("api_signature").get<std::string>()));
    out["comparison_code"] = must(comparison_code(secret, reg.credential_spki, reg.api_spki));
    out["credential_spki_ok"] = check_p256_spki(reg.credential_spki).ok();
    out["api_spki_ok"] = check_p256_spki(reg.api_spki).ok();
    out["api_key_id"] = must(device_key_id(reg.api_spki));
  } else {
    throw std::runtime_error("unknown case kind " + kind);
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: push_crosscheck CASES.json\n");
    return 2;
  }
  try {
    std::ifstream in(argv[1]);
    const json cases = json::parse(in);
    json results = json::array();
    for (const auto& c : cases) results.push_back(check(c));
    std::cout << results.dump(1) << "\n";
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "push_crosscheck: %s\n", e.what());
    return 2;
  }
}
