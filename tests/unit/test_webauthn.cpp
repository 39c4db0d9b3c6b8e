// docs/protocol.md section 6 steps 2-5 and 8.3: every way an assertion is
// refused, each with its own failure, and what is accepted.
#include <string>

#include "push_test_support.hpp"
#include "twostep/push_protocol.hpp"

// After the C++ headers: cmocka defines macros (fail) that clash with them.
#include <cstdarg>
#include <cstddef>
#include <csetjmp>
#include <cstdint>
// cmocka 1.1 has no extern "C" guards of its own.
extern "C" {
#include <cmocka.h>
}

using namespace twostep;
using namespace twostep::push;
using namespace twostep::push::test;

namespace {

// The value of a Result that the test expects to succeed.
template <typename T>
T must(Result<T> result) {
  assert_true(result.ok());
  return std::move(result).value();
}

constexpr const char* kOrigin = "https://approve.example.com";

struct Fixture {
  TestKey key;
  Digest challenge{};
  AssertionSpec spec;

  Fixture() {
    for (std::size_t i = 0; i < challenge.size(); ++i) challenge[i] = static_cast<std::uint8_t>(i * 7 + 1);
    spec.challenge_b64u = b64u_encode(challenge);
    spec.counter = 42;
  }

  // The module's expectations: its own digest, the pinned origin, key, counter.
  AssertionExpectations module_expectations(std::uint32_t pinned = 41) const {
    AssertionExpectations e;
    e.challenge = challenge;
    e.origin = kOrigin;
    e.public_key_spki = key.spki();
    e.pinned_counter = pinned;
    return e;
  }
};

void expect_failure(const AssertionExpectations& e, const BuiltAssertion& a, AssertionFailure failure) {
  const AssertionResult result = verify_assertion(e, a.parts());
  if (result.failure != failure) {
    print_error("expected %s, got %s\n", to_string(failure), to_string(result.failure));
  }
  assert_int_equal(result.failure, failure);
  assert_int_equal(result.ok(), failure == AssertionFailure::none);
}

void expect_spec_failure(const Fixture& f, const AssertionSpec& spec, AssertionFailure failure) {
  expect_failure(f.module_expectations(), make_assertion(f.key, spec), failure);
}

void test_valid_assertion_returns_counter(void**) {
  const Fixture f;
  const BuiltAssertion a = make_assertion(f.key, f.spec);
  const AssertionResult result = verify_assertion(f.module_expectations(), a.parts());
  assert_true(result.ok());
  assert_int_equal(result.failure, AssertionFailure::none);
  assert_int_equal(result.sign_counter, 42);
  // Wire form.
  const AssertionResult wire = verify_assertion_b64u(
      f.module_expectations(), b64u_encode(a.authenticator_data), b64u_encode(a.client_data_json),
      b64u_encode(a.signature));
  assert_true(wire.ok());
  assert_int_equal(wire.sign_counter, 42);
}

void test_known_answer_from_python(void**) {
  // Made by python3-cryptography for the section-6 example digest (number 07).
  Bytes spki;
  const std::string_view hex =
      "3059301306072a8648ce3d020106082a8648ce3d03010703420004471c3e758c4904285bba7e53118ed0f524adeb"
      "0757d25bd2f8e7b0d76dfa714cdd520f7aca8a8b917acc37f51de8f0c9bbe3ad858382e702dc25a12d09f7a858";
  for (std::size_t i = 0; i < hex.size(); i += 2) {
    spki.push_back(static_cast<std::uint8_t>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
  }
  ApprovalContext c;
  c.challenge_id = "Q2hhbGxlbmdlSWQxMjM0NQ";
  c.module_nonce = "bm9uY2Vub25jZW5vbmNlbm9uY2Vub25jZW5vbmNlbm9uY2U";
  c.host = "web1";
  c.user = "alice";
  c.service = "sshd";
  c.rhost = "203.0.113.5";
  c.tty = "ssh";
  c.number = 7;
  c.expires = 1764300090;
  AssertionExpectations e;
  e.challenge = must(approval_digest(c));
  e.origin = kOrigin;
  e.public_key_spki = spki;
  e.pinned_counter = 6;
  const char* ad = "_pgLuHQFPJeFs-A-H3xCq_RfY87Hw7a3L3x4Lr7rEKkFAAAABw";
  const char* cdj =
      "eyJ0eXBlIjoid2ViYXV0aG4uZ2V0IiwiY2hhbGxlbmdlIjoieFpqWW5nYnZmRDZwbUhIZ0pqRFVmR3dDdndnRHdtZkJJWTQxeHdQbWpTbyIs"
      "Im9yaWdpbiI6Imh0dHBzOi8vYXBwcm92ZS5leGFtcGxlLmNvbSIsImNyb3NzT3JpZ2luIjpmYWxzZX0";
  const char* sig =
      "MEQCIBtagafmbAdGKuHJdoRrRunhuE91c4rO-LeoMMowE1JEAiBVBSBAtSL7Uuq72IetXwUPgCYcHOwSSE2nfW-SPRJGQA";
  const AssertionResult ok = verify_assertion_b64u(e, ad, cdj, sig);
  assert_true(ok.ok());
  assert_int_equal(ok.sign_counter, 7);
  // The same assertion with the number the user did not type.
  c.number = 8;
  e.challenge = must(approval_digest(c));
  assert_int_equal(verify_assertion_b64u(e, ad, cdj, sig).failure, AssertionFailure::wrong_challenge);
}

void test_client_data_failures(void**) {
  const Fixture f;
  AssertionSpec s = f.spec;
  s.type = "webauthn.create";
  expect_spec_failure(f, s, AssertionFailure::wrong_type);
  s = f.spec; s.type = "WEBAUTHN.GET";
  expect_spec_failure(f, s, AssertionFailure::wrong_type);

  // Another digest, a digest of the wrong size, a non-b64u challenge.
  s = f.spec; Digest other = f.challenge; other[31] ^= 1; s.challenge_b64u = b64u_encode(other);
  expect_spec_failure(f, s, AssertionFailure::wrong_challenge);
  s = f.spec; s.challenge_b64u = b64u_encode(Bytes(31, 1));
  expect_spec_failure(f, s, AssertionFailure::wrong_challenge);
  s = f.spec; s.challenge_b64u = b64u_encode(Bytes(33, 1));
  expect_spec_failure(f, s, AssertionFailure::wrong_challenge);
  s = f.spec; s.challenge_b64u += "=";
  expect_spec_failure(f, s, AssertionFailure::wrong_challenge);
  s = f.spec; s.challenge_b64u = "";
  expect_spec_failure(f, s, AssertionFailure::wrong_challenge);

  s = f.spec; s.origin = "https://evil.example.com";
  expect_spec_failure(f, s, AssertionFailure::wrong_origin);
  s = f.spec; s.origin = "https://approve.example.com:443";
  expect_spec_failure(f, s, AssertionFailure::wrong_origin);
  s = f.spec; s.origin = "https://approve.example.com/";
  expect_spec_failure(f, s, AssertionFailure::wrong_origin);
  s = f.spec; s.origin = "http://approve.example.com";
  expect_spec_failure(f, s, AssertionFailure::wrong_origin);
  s = f.spec; s.cross_origin_member = false; s.extra_json = R"(,"crossOrigin":true)";
  expect_spec_failure(f, s, AssertionFailure::wrong_origin);
}

void test_client_data_shape(void**) {
  const Fixture f;
  const auto with_json = [&](const std::string& json, AssertionFailure failure) {
    BuiltAssertion a;
    a.authenticator_data = authenticator_data(f.spec);
    a.client_data_json = to_bytes(json);
    a.signature = sign_assertion(f.key, a.authenticator_data, a.client_data_json);
    expect_failure(f.module_expectations(), a, failure);
  };
  const std::string ch = f.spec.challenge_b64u;
  const std::string good = R"({"type":"webauthn.get","challenge":")" + ch + R"(","origin":"https://approve.example.com")";
  // Accepted shapes: without crossOrigin, with unknown members of any type
  // (Chrome adds some), members in any order.
  with_json(good + "}", AssertionFailure::none);
  with_json(good + R"(,"crossOrigin":false,"other_keys_can_be_added_here":"do not compare"})", AssertionFailure::none);
  with_json(good + R"(,"tokenBinding":{"status":"supported"},"x":[1,2.5,null,true]})", AssertionFailure::none);
  with_json(R"({"origin":"https://approve.example.com","challenge":")" + ch + R"(","type":"webauthn.get"})",
            AssertionFailure::none);
  with_json(" \n" + good + "} \n", AssertionFailure::none);

  // Refused shapes.
  with_json(good, AssertionFailure::bad_client_data);                         // truncated
  with_json(good + "}}", AssertionFailure::bad_client_data);                  // trailing
  with_json(good + "} x", AssertionFailure::bad_client_data);
  with_json("[" + good + "}]", AssertionFailure::bad_client_data);           // not an object
  with_json(R"("webauthn.get")", AssertionFailure::bad_client_data);
  with_json(good + R"(,"type":"webauthn.get"})", AssertionFailure::bad_client_data);  // duplicate
  with_json(good + R"(,"origin":"https://approve.example.com"})", AssertionFailure::bad_client_data);
  with_json(good + R"(,"x":1,"x":2})", AssertionFailure::bad_client_data);    // any duplicate
  with_json(good + R"(,"crossOrigin":"false"})", AssertionFailure::bad_client_data);
  with_json(good + R"(,"crossOrigin":0})", AssertionFailure::bad_client_data);
  with_json(R"({"type":"webauthn.get","challenge":")" + ch + R"("})", AssertionFailure::bad_client_data);  // no origin
  with_json(R"({"type":["webauthn.get"],"challenge":")" + ch + R"(","origin":"https://approve.example.com"})",
            AssertionFailure::bad_client_data);
  with_json(R"({"type":"webauthn.get","challenge":null,"origin":"https://approve.example.com"})",
            AssertionFailure::bad_client_data);
  with_json(R"({"type":"webauthn.get","challenge":")" + ch + R"(","origin":{"a":1}})",
            AssertionFailure::bad_client_data);
  with_json("\xef\xbb\xbf" + good + "}", AssertionFailure::bad_client_data);  // BOM
  with_json(good + ",\"x\":\"\xff\"}", AssertionFailure::bad_client_data);      // invalid UTF-8
  with_json(good + R"(,"x":[[[[[[[[[[1]]]]]]]]]]})", AssertionFailure::bad_client_data);  // too deep
  with_json(good + ",}", AssertionFailure::bad_client_data);
  with_json("{}", AssertionFailure::bad_client_data);
  std::string many = good;
  for (int i = 0; i < 40; ++i) many += ",\"k" + std::to_string(i) + "\":1";
  with_json(many + "}", AssertionFailure::bad_client_data);  // too many members
  // Over the size limit: malformed before parsing.
  with_json(good + ",\"pad\":\"" + std::string(kMaxClientDataJson, 'a') + "\"}", AssertionFailure::malformed);
}

void test_parse_client_data(void**) {
  auto parsed = parse_client_data(to_bytes(R"({"type":"t","challenge":"c","origin":"o","crossOrigin":true})"));
  assert_true(parsed.has_value());
  assert_string_equal(parsed->type.c_str(), "t");
  assert_string_equal(parsed->challenge.c_str(), "c");
  assert_string_equal(parsed->origin.c_str(), "o");
  assert_true(parsed->cross_origin);
  // Escapes are decoded (the origin compares as text, not as raw JSON).
  parsed = parse_client_data(to_bytes(R"({"type":"t","challenge":"c","origin":"https:\/\/a\u002eb"})"));
  assert_true(parsed.has_value());
  assert_string_equal(parsed->origin.c_str(), "https://a.b");
  assert_false(parse_client_data(Bytes{}).has_value());
  assert_false(parse_client_data(to_bytes("null")).has_value());
}

void test_authenticator_data_failures(void**) {
  const Fixture f;
  AssertionSpec s = f.spec;
  s.rp_id = "example.com";
  expect_spec_failure(f, s, AssertionFailure::wrong_rp);
  s = f.spec; s.rp_id = "approve.example.com:443";
  expect_spec_failure(f, s, AssertionFailure::wrong_rp);
  s = f.spec; s.flags = kFlagUserVerified;
  expect_spec_failure(f, s, AssertionFailure::no_user_presence);
  s = f.spec; s.flags = kFlagUserPresent;
  expect_spec_failure(f, s, AssertionFailure::no_user_verification);
  s = f.spec; s.flags = 0;
  expect_spec_failure(f, s, AssertionFailure::no_user_presence);
  // Other flag bits (BE/BS 0x08/0x10, AT 0x40, ED 0x80) do not matter.
  s = f.spec; s.flags = 0xff;
  expect_spec_failure(f, s, AssertionFailure::none);

  // Too short or too long: malformed.
  BuiltAssertion a = make_assertion(f.key, f.spec);
  a.authenticator_data.pop_back();
  a.signature = sign_assertion(f.key, a.authenticator_data, a.client_data_json);
  expect_failure(f.module_expectations(), a, AssertionFailure::malformed);
  a = make_assertion(f.key, f.spec);
  a.authenticator_data.resize(kMaxAuthenticatorData + 1, 0);
  a.signature = sign_assertion(f.key, a.authenticator_data, a.client_data_json);
  expect_failure(f.module_expectations(), a, AssertionFailure::malformed);
  // Extension bytes after the 37 are signed like the rest.
  a = make_assertion(f.key, f.spec);
  a.authenticator_data.push_back(0xa0);
  a.signature = sign_assertion(f.key, a.authenticator_data, a.client_data_json);
  expect_failure(f.module_expectations(), a, AssertionFailure::none);
}

void test_signature_failures(void**) {
  const Fixture f;
  const BuiltAssertion good = make_assertion(f.key, f.spec);

  // Every signed byte matters: change one after signing.
  BuiltAssertion a = good;
  a.authenticator_data[36] ^= 0x01;  // counter 42 -> 43, still above the pin
  expect_failure(f.module_expectations(), a, AssertionFailure::bad_signature);
  a = good;
  a.authenticator_data[32] |= 0x08;  // a flag the checks ignore
  expect_failure(f.module_expectations(), a, AssertionFailure::bad_signature);
  a = good;
  a.client_data_json = to_bytes(client_data_json(f.spec) + " ");  // same JSON meaning, other bytes
  expect_failure(f.module_expectations(), a, AssertionFailure::bad_signature);

  // Another key's signature over the same data; the pinned key of another device.
  const TestKey other;
  a = good;
  a.signature = sign_assertion(other, a.authenticator_data, a.client_data_json);
  expect_failure(f.module_expectations(), a, AssertionFailure::bad_signature);
  AssertionExpectations e = f.module_expectations();
  e.public_key_spki = other.spki();
  expect_failure(e, good, AssertionFailure::bad_signature);

  // A flipped bit inside r: bad_signature (or malformed if DER breaks).
  a = good;
  a.signature[a.signature.size() - 1] ^= 0x01;
  expect_failure(f.module_expectations(), a, AssertionFailure::bad_signature);
  // Not DER: P1363, trailing bytes, truncated, empty, oversized.
  a = good;
  a.signature.push_back(0);
  expect_failure(f.module_expectations(), a, AssertionFailure::malformed);
  a = good;
  a.signature.pop_back();
  expect_failure(f.module_expectations(), a, AssertionFailure::malformed);
  a = good;
  a.signature = Bytes(64, 1);
  expect_failure(f.module_expectations(), a, AssertionFailure::malformed);
  a = good;
  a.signature.clear();
  expect_failure(f.module_expectations(), a, AssertionFailure::malformed);
  a = good;
  a.signature.resize(kMaxDerSignature + 1, 0);
  expect_failure(f.module_expectations(), a, AssertionFailure::malformed);
  // BER long-form length for the SEQUENCE: the same numbers, not strict DER.
  a = good;
  Bytes ber = {0x30, 0x81, a.signature[1]};
  ber.insert(ber.end(), a.signature.begin() + 2, a.signature.end());
  a.signature = ber;
  expect_failure(f.module_expectations(), a, AssertionFailure::malformed);
}

void test_counter(void**) {
  const Fixture f;
  AssertionSpec s = f.spec;
  // Above the pin: accepted, returns the new value.
  s.counter = 42;
  assert_int_equal(verify_assertion(f.module_expectations(41), make_assertion(f.key, s).parts()).sign_counter, 42);
  // Equal, lower, or zero against a non-zero pin: regressed.
  expect_failure(f.module_expectations(42), make_assertion(f.key, s), AssertionFailure::counter_regressed);
  expect_failure(f.module_expectations(100), make_assertion(f.key, s), AssertionFailure::counter_regressed);
  s.counter = 0;
  expect_failure(f.module_expectations(1), make_assertion(f.key, s), AssertionFailure::counter_regressed);
  // 0 with a pin of 0: an authenticator without counters.
  const AssertionResult zero = verify_assertion(f.module_expectations(0), make_assertion(f.key, s).parts());
  assert_true(zero.ok());
  assert_int_equal(zero.sign_counter, 0);
  // Once a counter was seen, it must keep rising.
  s.counter = 1;
  assert_true(verify_assertion(f.module_expectations(0), make_assertion(f.key, s).parts()).ok());
  s.counter = 0xffffffffu;
  assert_int_equal(verify_assertion(f.module_expectations(0xfffffffeu), make_assertion(f.key, s).parts()).sign_counter,
                   0xffffffffu);
  expect_failure(f.module_expectations(0xffffffffu), make_assertion(f.key, s), AssertionFailure::counter_regressed);
}

void test_relay_early_check(void**) {
  // 8.3: any 32-byte challenge, no counter; everything else still checked.
  const Fixture f;
  AssertionExpectations relay = f.module_expectations();
  relay.challenge.reset();
  relay.pinned_counter.reset();
  AssertionSpec s = f.spec;
  s.counter = 0;  // would regress against the module's pin; the relay does not check
  assert_true(verify_assertion(relay, make_assertion(f.key, s).parts()).ok());
  s.challenge_b64u = b64u_encode(Bytes(32, 9));
  assert_true(verify_assertion(relay, make_assertion(f.key, s).parts()).ok());
  s.challenge_b64u = b64u_encode(Bytes(16, 9));
  expect_failure(relay, make_assertion(f.key, s), AssertionFailure::wrong_challenge);
  s = f.spec; s.flags = kFlagUserPresent;
  expect_failure(relay, make_assertion(f.key, s), AssertionFailure::no_user_verification);
  s = f.spec; s.type = "webauthn.create";
  expect_failure(relay, make_assertion(f.key, s), AssertionFailure::wrong_type);
  s = f.spec; s.origin = "https://other.example.com";
  expect_failure(relay, make_assertion(f.key, s), AssertionFailure::wrong_origin);
  BuiltAssertion a = make_assertion(f.key, f.spec);
  a.authenticator_data[36] ^= 1;
  expect_failure(relay, a, AssertionFailure::bad_signature);
}

void test_bad_pins_and_wire_form(void**) {
  const Fixture f;
  const BuiltAssertion a = make_assertion(f.key, f.spec);
  AssertionExpectations e = f.module_expectations();
  e.origin = "approve.example.com";
  expect_failure(e, a, AssertionFailure::bad_pin);
  e = f.module_expectations();
  const Bytes no_key;
  e.public_key_spki = no_key;
  expect_failure(e, a, AssertionFailure::bad_pin);

  const AssertionExpectations m = f.module_expectations();
  const std::string ad = b64u_encode(a.authenticator_data);
  const std::string cdj = b64u_encode(a.client_data_json);
  const std::string sig = b64u_encode(a.signature);
  assert_int_equal(verify_assertion_b64u(m, ad + "=", cdj, sig).failure, AssertionFailure::malformed);
  assert_int_equal(verify_assertion_b64u(m, ad, cdj + " ", sig).failure, AssertionFailure::malformed);
  assert_int_equal(verify_assertion_b64u(m, ad, cdj, sig + "+").failure, AssertionFailure::malformed);
  assert_int_equal(verify_assertion_b64u(m, "", cdj, sig).failure, AssertionFailure::malformed);
  assert_int_equal(verify_assertion_b64u(m, ad, std::string(8000, 'A'), sig).failure, AssertionFailure::malformed);
}

void test_rp_id_from_origin(void**) {
  const auto rp = [](std::string_view origin) {
    auto r = rp_id_from_origin(origin);
    return r ? *r : std::string("<malformed>");
  };
  assert_string_equal(rp("https://approve.example.com").c_str(), "approve.example.com");
  assert_string_equal(rp("https://approve.example.com:8443").c_str(), "approve.example.com");
  assert_string_equal(rp("http://localhost:8700").c_str(), "localhost");
  assert_string_equal(rp("http://localhost").c_str(), "localhost");
  assert_string_equal(rp("https://a-b.c9.example").c_str(), "a-b.c9.example");
  for (const char* bad : {"", "https://", "https:///", "approve.example.com", "ftp://a.example",
                          "https://approve.example.com/", "https://approve.example.com/path",
                          "https://Approve.example.com", "https://approve.example.com:443",
                          "http://localhost:80", "https://approve.example.com:0",
                          "https://approve.example.com:65536", "https://approve.example.com:08443",
                          "https://approve.example.com:", "https://a.example:1:2", "http://approve.example.com",
                          "http://127.0.0.1:8700", "https://127.0.0.1", "https://[::1]", "https://user@a.example",
                          "https://a..example", "https://.a.example", "https://a.example.", "https://-a.example",
                          "https://a-.example", "https://a_b.example", "https://a.example?x", "https://a.example#x"}) {
    if (rp_id_from_origin(bad).ok()) print_error("accepted: %s\n", bad);
    assert_false(rp_id_from_origin(bad).ok());
  }
  assert_false(rp_id_from_origin("https://" + std::string(64, 'a') + ".example").ok());
  assert_false(rp_id_from_origin("https://" + std::string(300, 'a')).ok());
}

}  // namespace

int main() {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_valid_assertion_returns_counter),
      cmocka_unit_test(test_known_answer_from_python),
      cmocka_unit_test(test_client_data_failures),
      cmocka_unit_test(test_client_data_shape),
      cmocka_unit_test(test_parse_client_data),
      cmocka_unit_test(test_authenticator_data_failures),
      cmocka_unit_test(test_signature_failures),
      cmocka_unit_test(test_counter),
      cmocka_unit_test(test_relay_early_check),
      cmocka_unit_test(test_bad_pins_and_wire_form),
      cmocka_unit_test(test_rp_id_from_origin),
  };
  return cmocka_run_group_tests(tests, nullptr, nullptr);
}
