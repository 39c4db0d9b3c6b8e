// docs/protocol.md sections 2, 3, 6, 7, 8.1: b64u, lp(), canonical requests,
// host HMAC and device ECDSA signatures, the approval digest, pairing proofs
// and comparison codes. Known answers were computed independently with
// Python's hashlib/hmac/base64 and python3-cryptography.
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

std::string hex(std::span<const std::uint8_t> bytes) {
  static const char digits[] = "0123456789abcdef";
  std::string out;
  for (const auto b : bytes) {
    out.push_back(digits[b >> 4]);
    out.push_back(digits[b & 15]);
  }
  return out;
}

Bytes from_hex(std::string_view text) {
  Bytes out;
  for (std::size_t i = 0; i + 1 < text.size(); i += 2) {
    out.push_back(static_cast<std::uint8_t>(std::stoi(std::string(text.substr(i, 2)), nullptr, 16)));
  }
  return out;
}

std::string decode_text(std::string_view text) {
  auto result = b64u_decode(text, 1024);
  assert_true(result.ok());
  return std::string(result->begin(), result->end());
}

void expect_decode_error(std::string_view text, ErrorCode code, std::size_t max = 1024) {
  auto result = b64u_decode(text, max);
  assert_false(result.ok());
  assert_int_equal(result.error().code, code);
}

// --- section 2 -------------------------------------------------------------

void test_b64u_rfc4648_vectors(void**) {
  const std::pair<const char*, const char*> vectors[] = {
      {"", ""},         {"f", "Zg"},         {"fo", "Zm8"},         {"foo", "Zm9v"},
      {"foob", "Zm9vYg"}, {"fooba", "Zm9vYmE"}, {"foobar", "Zm9vYmFy"},
  };
  for (const auto& [plain, encoded] : vectors) {
    assert_string_equal(b64u_encode(as_bytes(plain)).c_str(), encoded);
    assert_string_equal(decode_text(encoded).c_str(), plain);
  }
  // The two characters that differ from standard base64.
  const Bytes high = {0xfb, 0xff, 0xbf};
  assert_string_equal(b64u_encode(high).c_str(), "-_-_");
  assert_true(must(b64u_decode("-_-_", 3)) == high);
}

void test_b64u_refuses_everything_lenient(void**) {
  expect_decode_error("Zg==", ErrorCode::malformed);      // padding
  expect_decode_error("Zm9v\n", ErrorCode::malformed);    // whitespace
  expect_decode_error(" Zm9v", ErrorCode::malformed);
  expect_decode_error("Zm 9v", ErrorCode::malformed);
  expect_decode_error("Zm9v+w", ErrorCode::malformed);    // standard alphabet
  expect_decode_error("Zm9v/w", ErrorCode::malformed);
  expect_decode_error("Zm9vY", ErrorCode::malformed);     // impossible length
  expect_decode_error("Zh", ErrorCode::malformed);        // trailing bits set: "Zg" is canonical
  expect_decode_error("Zm9", ErrorCode::malformed);       // "Zm8" is canonical
  expect_decode_error(std::string("Zm\0v", 4), ErrorCode::malformed);
  expect_decode_error("Zm9v\xc3\xa9", ErrorCode::malformed);
  auto error = b64u_decode("Zm9v!A", 16);
  assert_false(error.ok());
  assert_string_equal(error.error().message.c_str(), "b64u: invalid character at position 5");
}

void test_b64u_limit(void**) {
  assert_true(b64u_decode("Zm9vYmFy", 6).ok());
  expect_decode_error("Zm9vYmFy", ErrorCode::too_large, 5);
  expect_decode_error(std::string(1000000, 'A'), ErrorCode::too_large, 65536);
  auto secret = b64u_decode_secret(b64u_encode(Bytes(32, 7)), kHostSecretBytes);
  assert_true(secret.ok());
  assert_int_equal(secret->size(), 32);
  assert_false(b64u_decode_secret(b64u_encode(Bytes(33, 7)), kHostSecretBytes).ok());
  assert_false(b64u_decode_secret("AA=", 32).ok());
}

void test_b64u_round_trip(void**) {
  for (std::size_t length = 0; length <= 70; ++length) {
    auto bytes = random_secret(length);
    Bytes plain = length == 0 ? Bytes{} : Bytes(bytes->data(), bytes->data() + length);
    const std::string text = b64u_encode(plain);
    assert_int_equal(text.size(), (length * 4 + 2) / 3);
    auto back = b64u_decode(text, length);
    assert_true(back.ok());
    assert_true(*back == plain);
    assert_true(is_b64u_of_size(text, length));
    assert_false(is_b64u_of_size(text, length + 1));
  }
}

void test_nonce_and_id_shapes(void**) {
  assert_true(is_b64u_of_size("AAECAwQFBgcICQoLDA0ODw", kNonceBytes));
  assert_false(is_b64u_of_size("AAECAwQFBgcICQoLDA0ODx", kNonceBytes));  // trailing bits
  assert_false(is_b64u_of_size("AAECAwQFBgcICQoLDA0OD", kNonceBytes));
  assert_false(is_b64u_of_size("AAECAwQFBgcICQoLDA0OD=", kNonceBytes));
}

void test_timestamp_and_secret_text(void**) {
  assert_int_equal(*parse_timestamp("1764300000"), 1764300000);
  assert_int_equal(*parse_timestamp("0"), 0);
  assert_int_equal(*parse_timestamp("9223372036854775807"), INT64_MAX);
  for (const char* bad : {"", "-1", "+1", " 1", "1 ", "1.5", "0x10", "9223372036854775808",
                          "99999999999999999999"}) {
    assert_false(parse_timestamp(bad).has_value());
  }
  const Bytes secret(32, 0xab);
  const SecretBytes text = b64u_encode_secret(secret);
  assert_string_equal(std::string(text.view()).c_str(), b64u_encode(secret).c_str());
}

void test_random_values(void**) {
  for (const std::size_t n : {kIdBytes, kNonceBytes, std::size_t{32}}) {
    const std::string a = must(random_b64u(n));
    const std::string b = must(random_b64u(n));
    assert_true(is_b64u_of_size(a, n));
    assert_string_not_equal(a.c_str(), b.c_str());
  }
  assert_false(random_b64u(0).ok());
  assert_false(random_b64u(1025).ok());
  // Every number 0..99 shows up, none outside (10,000 draws: a missing value
  // has probability ~100 * 0.99^10000, about 2e-42).
  std::array<int, 100> seen{};
  for (int i = 0; i < 10000; ++i) {
    const unsigned n = must(random_approval_number());
    assert_true(n < 100);
    ++seen[n];
  }
  for (const int count : seen) assert_true(count > 0);
}

void test_lp(void**) {
  Bytes out;
  assert_true(append_lp(out, "ab").ok());
  assert_true(append_lp(out, "").ok());
  const Bytes expected = {0, 0, 0, 2, 'a', 'b', 0, 0, 0, 0};
  assert_true(out == expected);
}

// --- section 3 -------------------------------------------------------------

SignedRequest example_post() {
  SignedRequest r;
  r.method = "POST";
  r.path = "/v1/challenges";
  r.query = "";
  r.body = R"({"user":"alice"})";
  r.timestamp = "1764300000";
  r.nonce = "AAECAwQFBgcICQoLDA0ODw";
  r.key_id = "aG9zdGlkaG9zdGlkaG9zdA";
  return r;
}

SecretBytes example_host_secret() {
  SecretBytes secret(32);
  for (std::size_t i = 0; i < 32; ++i) secret.data()[i] = static_cast<std::uint8_t>(i);
  return secret;
}

void test_canonical_request_known_answer(void**) {
  auto canonical = canonical_request(RequestScheme::host_hmac, example_post());
  assert_true(canonical.ok());
  assert_string_equal(canonical->c_str(),
                      "TWOSTEP-HMAC-SHA256\nPOST\n/v1/challenges\n\n"
                      "a5cd97f8496e61268797de605913bd8a29ac3af68ec6af1bea67fdb50c2c0ebf\n"
                      "1764300000\nAAECAwQFBgcICQoLDA0ODw\naG9zdGlkaG9zdGlkaG9zdA");
  auto device = canonical_request(RequestScheme::device_ecdsa, example_post());
  assert_true(device.ok());
  assert_true(device->starts_with("TWOSTEP-ECDSA-P256-SHA256\nPOST\n"));
  assert_string_equal(device->substr(device->find('\n')).c_str(), canonical->substr(canonical->find('\n')).c_str());
  // An empty body hashes the empty string.
  SignedRequest get = example_post();
  get.body = "";
  assert_true(canonical_request(RequestScheme::host_hmac, get)
                  ->find("\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n") !=
              std::string::npos);
}

void test_canonical_request_refuses_ambiguous_fields(void**) {
  const auto refused = [](SignedRequest r) {
    auto c = canonical_request(RequestScheme::host_hmac, r);
    assert_false(c.ok());
    assert_int_equal(c.error().code, ErrorCode::invalid_argument);
  };
  SignedRequest r = example_post();
  r.method = "post"; refused(r);
  r = example_post(); r.method = ""; refused(r);
  r = example_post(); r.path = "v1/challenges"; refused(r);
  r = example_post(); r.path = "/v1/challenges?wait=1"; refused(r);
  r = example_post(); r.path = "/v1/x\n/y"; refused(r);
  r = example_post(); r.query = "?wait=1"; refused(r);
  r = example_post(); r.query = "a=1\nb"; refused(r);
  r = example_post(); r.timestamp = "-1"; refused(r);
  r = example_post(); r.timestamp = "17643000 0"; refused(r);
  r = example_post(); r.timestamp = ""; refused(r);
  r = example_post(); r.nonce = ""; refused(r);
  r = example_post(); r.key_id = "a\rb"; refused(r);
  r = example_post(); r.key_id = ""; refused(r);
  // The body may hold anything, newlines included: it is hashed.
  r = example_post(); r.body = "\n\r\0"; assert_true(canonical_request(RequestScheme::host_hmac, r).ok());
}

void test_host_signature_known_answers(void**) {
  const SecretBytes secret = example_host_secret();
  auto signature = sign_host_request(secret, example_post());
  assert_true(signature.ok());
  assert_string_equal(signature->c_str(), "OLtmM0z29teU5_qPYys__98P4731TTVygneoheAzsE0");
  SignedRequest get = example_post();
  get.method = "GET";
  get.path = "/v1/challenges/abc";
  get.query = "wait=30";
  get.body = "";
  assert_string_equal(sign_host_request(secret, get)->c_str(), "_riiGuBhMFhAUk4KuSG3EKDslZP7QT54YuXMzUZWGPM");
}

void test_host_signature_verify_and_tamper(void**) {
  const SecretBytes secret = example_host_secret();
  const std::string good = "OLtmM0z29teU5_qPYys__98P4731TTVygneoheAzsE0";
  assert_int_equal(must(verify_host_request(secret, example_post(), good)), SignatureVerdict::valid);

  // Every covered field changes the verdict.
  const auto rejected = [&](const SignedRequest& r) {
    auto v = verify_host_request(secret, r, good);
    assert_true(v.ok());
    assert_int_equal(*v, SignatureVerdict::bad_signature);
  };
  SignedRequest r = example_post();
  r.method = "PUT"; rejected(r);
  r = example_post(); r.path = "/v1/challenge"; rejected(r);
  r = example_post(); r.query = "x"; rejected(r);
  r = example_post(); r.body = R"({"user":"bob"})"; rejected(r);
  r = example_post(); r.timestamp = "1764300001"; rejected(r);
  r = example_post(); r.nonce = "AAECAwQFBgcICQoLDA0OEA"; rejected(r);
  r = example_post(); r.key_id = "aG9zdGlkaG9zdGlkaG9zdB"; rejected(r);

  SecretBytes other = example_host_secret();
  other.data()[31] ^= 1;
  assert_int_equal(must(verify_host_request(other, example_post(), good)), SignatureVerdict::bad_signature);

  std::string flipped = good;
  flipped[10] = flipped[10] == 'A' ? 'B' : 'A';
  assert_int_equal(must(verify_host_request(secret, example_post(), flipped)), SignatureVerdict::bad_signature);
  // Malformed: wrong length, padding, non-canonical trailing bits.
  assert_int_equal(must(verify_host_request(secret, example_post(), good.substr(0, 42))), SignatureVerdict::malformed);
  assert_int_equal(must(verify_host_request(secret, example_post(), good + "=")), SignatureVerdict::malformed);
  assert_int_equal(must(verify_host_request(secret, example_post(), "")), SignatureVerdict::malformed);
  std::string bad_tail = good;
  bad_tail.back() = 'F';  // 'E' -> 'F' sets an unused bit
  assert_int_equal(must(verify_host_request(secret, example_post(), bad_tail)), SignatureVerdict::malformed);

  // A secret of the wrong size is the caller's error.
  assert_false(verify_host_request(SecretBytes(16), example_post(), good).ok());
  assert_false(sign_host_request(SecretBytes(31), example_post()).ok());
}

// --- section 8.1 -----------------------------------------------------------

constexpr std::string_view kFixedSpkiHex =
    "3059301306072a8648ce3d020106082a8648ce3d03010703420004471c3e758c4904285bba7e53118ed0f524adeb"
    "0757d25bd2f8e7b0d76dfa714cdd520f7aca8a8b917acc37f51de8f0c9bbe3ad858382e702dc25a12d09f7a858";

SignedRequest example_device_get(std::string_view key_id) {
  SignedRequest r;
  r.method = "GET";
  r.path = "/v1/device/challenges";
  r.timestamp = "1764300000";
  r.nonce = "AAECAwQFBgcICQoLDA0ODw";
  r.key_id = key_id;
  return r;
}

void test_device_key_id_and_known_signature(void**) {
  const Bytes spki = from_hex(kFixedSpkiHex);
  assert_true(check_p256_spki(spki).ok());
  auto id = device_key_id(spki);
  assert_true(id.ok());
  assert_string_equal(id->c_str(), "xNkRQyMNMweAkO2JwgceuA");
  // Signed by python3-cryptography (RFC 6979 is not used: a fixed KAT of a
  // randomized signature).
  const std::string signature =
      "hCZbC5cp3N4kuKDmbLBcTUiMkonCaGygVPxqHT_fHniBDLyribl0QdEKIlixjZ_V-dvchwz7s40razXSrScIBA";
  assert_int_equal(must(verify_device_request(spki, example_device_get(*id), signature)), SignatureVerdict::valid);
  SignedRequest other = example_device_get(*id);
  other.timestamp = "1764300001";
  assert_int_equal(must(verify_device_request(spki, other, signature)), SignatureVerdict::bad_signature);
  // A key id that is not this key's: the caller's mix-up, not a verdict.
  assert_false(verify_device_request(spki, example_device_get("AAAAAAAAAAAAAAAAAAAAAA"), signature).ok());
}

void test_device_signature_round_trip_and_tamper(void**) {
  const TestKey key;
  const std::string id = must(device_key_id(key.spki()));
  SignedRequest r = example_device_get(id);
  r.method = "POST";
  r.path = "/v1/device/challenges/abc/decision";
  r.body = R"({"decision":"deny"})";
  const std::string canonical = must(canonical_request(RequestScheme::device_ecdsa, r));
  Bytes sig = key.sign_p1363(as_bytes(canonical));
  const std::string sig_text = b64u_encode(sig);
  assert_int_equal(sig_text.size(), kDeviceSignatureChars);
  assert_int_equal(must(verify_device_request(key.spki(), r, sig_text)), SignatureVerdict::valid);

  SignedRequest t = r;
  t.body = R"({"decision":"approve"})";
  assert_int_equal(must(verify_device_request(key.spki(), t, sig_text)), SignatureVerdict::bad_signature);
  t = r; t.nonce = "AAECAwQFBgcICQoLDA0OEA";
  assert_int_equal(must(verify_device_request(key.spki(), t, sig_text)), SignatureVerdict::bad_signature);
  t = r; t.query = "a=b";
  assert_int_equal(must(verify_device_request(key.spki(), t, sig_text)), SignatureVerdict::bad_signature);
  // The HMAC first line is not the ECDSA one.
  const std::string hmac_canonical = must(canonical_request(RequestScheme::host_hmac, r));
  assert_int_equal(must(verify_device_request(key.spki(), r, b64u_encode(key.sign_p1363(as_bytes(hmac_canonical))))),
                   SignatureVerdict::bad_signature);
  // Every bit of r and of s matters.
  for (const std::size_t i : {0u, 31u, 32u, 63u}) {
    Bytes bad = sig;
    bad[i] ^= 0x01;
    assert_int_equal(must(verify_device_request(key.spki(), r, b64u_encode(bad))), SignatureVerdict::bad_signature);
  }
  // Zero r and s, the group order: well-formed, never valid.
  assert_int_equal(must(verify_device_request(key.spki(), r, b64u_encode(Bytes(64, 0)))), SignatureVerdict::bad_signature);
  assert_int_equal(must(verify_device_request(key.spki(), r, b64u_encode(Bytes(64, 0xff)))), SignatureVerdict::bad_signature);
  // A DER signature where P1363 is expected, or the wrong length: malformed.
  assert_int_equal(must(verify_device_request(key.spki(), r, b64u_encode(key.sign_der(as_bytes(canonical))))),
                   SignatureVerdict::malformed);
  assert_int_equal(must(verify_device_request(key.spki(), r, sig_text.substr(0, 85))), SignatureVerdict::malformed);
  assert_int_equal(must(verify_device_request(key.spki(), r, sig_text + "A")), SignatureVerdict::malformed);
  // Another key's signature.
  const TestKey other;
  SignedRequest o = r;
  const std::string other_id = must(device_key_id(other.spki()));
  o.key_id = other_id;
  assert_int_equal(must(verify_device_request(other.spki(), o, sig_text)), SignatureVerdict::bad_signature);
}

void test_spki_strictness(void**) {
  const Bytes spki = from_hex(kFixedSpkiHex);
  assert_true(check_p256_spki(spki).ok());
  Bytes longer = spki;
  longer.push_back(0);
  assert_false(check_p256_spki(longer).ok());
  assert_false(check_p256_spki(Bytes(spki.begin(), spki.end() - 1)).ok());
  assert_false(check_p256_spki(Bytes{}).ok());
  Bytes off_curve = spki;
  off_curve[90] ^= 1;  // y no longer matches x
  assert_false(check_p256_spki(off_curve).ok());
  Bytes compressed_tag = spki;
  compressed_tag[26] = 0x02;  // point tag 04 -> 02 with 64 bytes after it
  assert_false(check_p256_spki(compressed_tag).ok());
  Bytes other_curve = spki;
  other_curve[22] ^= 1;  // the curve OID's last byte: prime256v1 -> prime239v3
  assert_false(check_p256_spki(other_curve).ok());
  auto error = check_p256_spki(longer);
  assert_int_equal(error.error().code, ErrorCode::malformed);
  // Verification with a bad key is an error, not a verdict.
  assert_false(verify_es256_der(off_curve, as_bytes("m"), Bytes(70, 1)).ok());
}

// A key parsed once verifies exactly as its SPKI does (the relay's path).
void test_parsed_key_matches_spki_path(void**) {
  const Bytes spki = from_hex(kFixedSpkiHex);
  auto key = P256PublicKey::parse(spki);
  assert_true(key.ok());
  assert_string_equal(key->key_id().c_str(), "xNkRQyMNMweAkO2JwgceuA");
  const std::string signature =
      "hCZbC5cp3N4kuKDmbLBcTUiMkonCaGygVPxqHT_fHniBDLyribl0QdEKIlixjZ_V-dvchwz7s40razXSrScIBA";
  assert_int_equal(must(verify_device_request(*key, example_device_get(key->key_id()), signature)),
                   SignatureVerdict::valid);
  SignedRequest other = example_device_get(key->key_id());
  other.timestamp = "1764300001";
  assert_int_equal(must(verify_device_request(*key, other, signature)), SignatureVerdict::bad_signature);
  assert_false(verify_device_request(*key, example_device_get("AAAAAAAAAAAAAAAAAAAAAA"), signature).ok());
  assert_int_equal(must(verify_device_request(*key, example_device_get(key->key_id()),
                                              signature.substr(0, 85))),
                   SignatureVerdict::malformed);
  // The same strictness as check_p256_spki.
  Bytes off_curve = spki;
  off_curve[90] ^= 1;
  assert_false(P256PublicKey::parse(off_curve).ok());
  assert_false(P256PublicKey::parse(Bytes(spki.begin(), spki.end() - 1)).ok());
  // An unparsed (default) key verifies nothing.
  assert_false(verify_es256_der(P256PublicKey{}, as_bytes("m"), Bytes(70, 1)).ok());
}

// --- section 6 -------------------------------------------------------------

ApprovalContext example_context() {
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
  return c;
}

void test_approval_digest_known_answer(void**) {
  auto digest = approval_digest(example_context());
  assert_true(digest.ok());
  assert_string_equal(hex(*digest).c_str(), "c598d89e06ef7c3ea99871e02630d47c6c02bf0803c267c1218e35c703e68d2a");
  assert_string_equal(format_approval_number(7).c_str(), "07");
  assert_string_equal(format_approval_number(0).c_str(), "00");
  assert_string_equal(format_approval_number(99).c_str(), "99");
}

// Version 2 (protocol version 3): the signed context after the tty.
void test_approval_digest_with_context_known_answer(void**) {
  ApprovalContext c = example_context();
  c.context = SignedContext{"sudo systemctl restart nginx", "root", "Berlin, Germany"};
  assert_string_equal(hex(must(approval_digest(c))).c_str(),
                      "bfc87fd0670c679818aef80fd23880f42fd8c33ef8c069a4147d1b78e0da89ad");
  // An empty context is still version 2: never the version 1 digest.
  c.context = SignedContext{};
  assert_false(must(approval_digest(c)) == must(approval_digest(example_context())));
}

void test_approval_digest_every_field_counts(void**) {
  const Digest base = must(approval_digest(example_context()));
  const auto differs = [&](const ApprovalContext& c) {
    auto d = approval_digest(c);
    assert_true(d.ok());
    assert_false(*d == base);
  };
  ApprovalContext c = example_context();
  c.challenge_id += "x"; differs(c);
  c = example_context(); c.module_nonce[0] = 'c'; differs(c);
  c = example_context(); c.host = "web2"; differs(c);
  c = example_context(); c.user = "alicf"; differs(c);
  c = example_context(); c.service = "sudo"; differs(c);
  c = example_context(); c.rhost = ""; differs(c);
  c = example_context(); c.tty = "pts/0"; differs(c);
  c = example_context(); c.number = 70; differs(c);
  c = example_context(); c.number = 8; differs(c);
  c = example_context(); c.expires += 1; differs(c);
  // lp() keeps field boundaries: moving a byte across them changes the digest.
  c = example_context(); c.host = "web1a"; c.user = "lice"; differs(c);
  c = example_context(); c.rhost = "203.0.113.5ssh"; c.tty = ""; differs(c);
  // Each context field counts, and keeps its boundaries.
  const auto with = [](SignedContext context) {
    ApprovalContext a = example_context();
    a.context = std::move(context);
    return a;
  };
  const Digest signed_base = must(approval_digest(with({"sudo ls", "root", "Berlin, Germany"})));
  for (const SignedContext& other :
       {SignedContext{"sudo ls -l", "root", "Berlin, Germany"},
        SignedContext{"sudo ls", "bob", "Berlin, Germany"},
        SignedContext{"sudo ls", "root", "Paris, France"},
        SignedContext{"sudo lsroot", "", "Berlin, Germany"},
        SignedContext{"sudo ls", "rootBerlin, Germany", ""}}) {
    assert_false(must(approval_digest(with(other))) == signed_base);
  }
  // Out of range.
  c = example_context(); c.number = 100;
  assert_int_equal(approval_digest(c).error().code, ErrorCode::invalid_argument);
  c = example_context(); c.expires = -1;
  assert_int_equal(approval_digest(c).error().code, ErrorCode::invalid_argument);
}

// --- section 7 -------------------------------------------------------------

SecretBytes example_pairing_secret() {
  SecretBytes s(32);
  for (std::size_t i = 0; i < 32; ++i) s.data()[i] = 0x5a;
  return s;
}

PairingProofInput example_registration() {
  PairingProofInput reg;
  reg.pairing_id = "UGFpcmluZ0lkUGFpcmluZ0lk";
  reg.name = "Pixel 8";
  reg.credential_id = {1, 2, 3, 4, 5};
  for (std::uint8_t i = 0; i < 91; ++i) reg.credential_spki.push_back(i);
  for (std::uint8_t i = 100; i < 191; ++i) reg.api_spki.push_back(i);
  return reg;
}

void test_pairing_proof_known_answer_and_tamper(void**) {
  const SecretBytes s = example_pairing_secret();
  auto proof = pairing_proof(s, example_registration());
  assert_true(proof.ok());
  const std::string text = b64u_encode(*proof);
  assert_string_equal(text.c_str(), "Bb2FPsievD4I4OWLgC2Wps-sDH-m_9Zh5z3ITWE8z-M");
  assert_int_equal(must(verify_pairing_proof(s, example_registration(), text)), SignatureVerdict::valid);

  const auto rejected = [&](const PairingProofInput& reg) {
    assert_int_equal(must(verify_pairing_proof(s, reg, text)), SignatureVerdict::bad_signature);
  };
  PairingProofInput reg = example_registration();
  reg.pairing_id += "x"; rejected(reg);
  reg = example_registration(); reg.name = "Pixel 9"; rejected(reg);
  reg = example_registration(); reg.credential_id.push_back(6); rejected(reg);
  reg = example_registration(); reg.credential_spki[50] ^= 1; rejected(reg);
  reg = example_registration(); reg.api_spki[0] ^= 1; rejected(reg);
  // A substituted key swapped between the two slots.
  reg = example_registration(); std::swap(reg.credential_spki, reg.api_spki); rejected(reg);
  SecretBytes other = example_pairing_secret();
  other.data()[0] ^= 1;
  assert_int_equal(must(verify_pairing_proof(other, example_registration(), text)), SignatureVerdict::bad_signature);
  assert_int_equal(must(verify_pairing_proof(s, example_registration(), text + "A")), SignatureVerdict::malformed);
  assert_false(pairing_proof(SecretBytes(16), example_registration()).ok());
}

// Proof of possession (7.4): the documented message, then a signature by the
// registered key only, over this registration only.
void test_registration_signature(void**) {
  const Bytes message = must(registration_key_message(example_registration()));
  assert_string_equal(hex(must(sha256(message))).c_str(),
                      "d14a6586657f8f03bca68eb12f0b6290fd1e49deb4d124b71d886e1eedcd0529");
  const TestKey key;
  const TestKey other;
  PairingProofInput reg = example_registration();
  reg.api_spki = key.spki();
  const std::string sig = b64u_encode(key.sign_p1363(must(registration_key_message(reg))));
  assert_int_equal(must(verify_registration_signature(reg, sig)), SignatureVerdict::valid);
  const auto rejected = [&](const PairingProofInput& changed, const std::string& text) {
    assert_int_equal(must(verify_registration_signature(changed, text)), SignatureVerdict::bad_signature);
  };
  PairingProofInput changed = reg;
  changed.pairing_id = "T3RoZXJQYWlyaW5nSWQxMjM"; rejected(changed, sig);
  changed = reg; changed.name = "Pixel 9"; rejected(changed, sig);
  changed = reg; changed.credential_spki[50] ^= 1; rejected(changed, sig);
  // Another key's public half, signed by this key (what a thief can do).
  changed = reg; changed.api_spki = other.spki();
  rejected(changed, b64u_encode(key.sign_p1363(must(registration_key_message(changed)))));
  assert_int_equal(must(verify_registration_signature(reg, sig + "A")), SignatureVerdict::malformed);
  assert_int_equal(must(verify_registration_signature(reg, sig.substr(1))), SignatureVerdict::malformed);
}

void test_comparison_code(void**) {
  const SecretBytes s = example_pairing_secret();
  const PairingProofInput reg = example_registration();
  auto code = comparison_code(s, reg.credential_spki, reg.api_spki);
  assert_true(code.ok());
  assert_string_equal(code->c_str(), "575532");
  assert_string_not_equal(comparison_code(s, reg.api_spki, reg.credential_spki)->c_str(), "575532");
  // Always six digits, leading zeros kept.
  for (int i = 0; i < 200; ++i) {
    auto random = random_secret(32);
    auto c = comparison_code(*random, reg.credential_spki, reg.api_spki);
    assert_int_equal(c->size(), 6);
    for (const char ch : *c) assert_true(ch >= '0' && ch <= '9');
  }
  assert_false(comparison_code(SecretBytes(31), reg.credential_spki, reg.api_spki).ok());
}

}  // namespace

int main() {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_b64u_rfc4648_vectors),
      cmocka_unit_test(test_b64u_refuses_everything_lenient),
      cmocka_unit_test(test_b64u_limit),
      cmocka_unit_test(test_b64u_round_trip),
      cmocka_unit_test(test_nonce_and_id_shapes),
      cmocka_unit_test(test_timestamp_and_secret_text),
      cmocka_unit_test(test_random_values),
      cmocka_unit_test(test_lp),
      cmocka_unit_test(test_canonical_request_known_answer),
      cmocka_unit_test(test_canonical_request_refuses_ambiguous_fields),
      cmocka_unit_test(test_host_signature_known_answers),
      cmocka_unit_test(test_host_signature_verify_and_tamper),
      cmocka_unit_test(test_device_key_id_and_known_signature),
      cmocka_unit_test(test_device_signature_round_trip_and_tamper),
      cmocka_unit_test(test_spki_strictness),
      cmocka_unit_test(test_parsed_key_matches_spki_path),
      cmocka_unit_test(test_approval_digest_known_answer),
      cmocka_unit_test(test_approval_digest_with_context_known_answer),
      cmocka_unit_test(test_approval_digest_every_field_counts),
      cmocka_unit_test(test_pairing_proof_known_answer_and_tamper),
      cmocka_unit_test(test_registration_signature),
      cmocka_unit_test(test_comparison_code),
  };
  return cmocka_run_group_tests(tests, nullptr, nullptr);
}
