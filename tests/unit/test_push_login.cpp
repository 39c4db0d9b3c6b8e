// The host side of push (core/push/include/twostep/push_login.hpp): push.conf
// parsing, relay answers, and verify_push_approval against pinned devices.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

#include "push_test_support.hpp"
#include "twostep/push_login.hpp"

#include <cstdarg>
#include <cstddef>
#include <csetjmp>
#include <cstdint>
extern "C" {
#include <cmocka.h>
}

using namespace twostep;
using namespace twostep::push;
using namespace twostep::push::test;

namespace {

constexpr std::string_view kConf =
    "# comment\n"
    "relay = https://push.example.com:8443\n"
    "host_id = AAECAwQFBgcICQoLDA0ODw\n"
    "host_name web1\n"
    "approver_origin https://approve.example.com\n"
    "proxy http://proxy:3128\n";

void test_push_config(void**) {
  auto settings = parse_push_config(kConf);
  assert_true(settings.ok());
  assert_string_equal(settings->relay_url.c_str(), "https://push.example.com:8443");
  assert_string_equal(settings->host_name.c_str(), "web1");
  assert_string_equal(settings->proxy->c_str(), "http://proxy:3128");
  assert_false(settings->ca_file.has_value());
  assert_string_equal(settings->host_secret_file.c_str(), "/etc/twostep/push.secret");
  assert_int_equal(settings->connect_timeout_s, 5);
  assert_false(settings->location_database.has_value());
  auto located = parse_push_config(std::string(kConf) + "location_database /var/lib/GeoIP/City.mmdb\n");
  assert_true(located.ok());
  assert_string_equal(located->location_database->c_str(), "/var/lib/GeoIP/City.mmdb");
  // http://localhost[:PORT] too (development; twostep-push.conf(5)).
  for (const char* origin : {"http://localhost", "http://localhost:8700"}) {
    std::string text(kConf);
    text.replace(text.find("https://approve.example.com"), 27, origin);
    assert_true(parse_push_config(text).ok());
  }
  const std::vector<std::pair<std::string, std::string>> bad = {
      {std::string(kConf) + "host_secret = x\n", "line 7: host_secret does not belong"},
      {std::string(kConf) + "colour red\n", "line 7: unknown key"},
      {std::string(kConf) + "host_name web2\n", "line 7: duplicate host_name"},
      {std::string(kConf) + "connect_timeout 0\n", "line 7: connect_timeout must be 1..60"},
      {std::string(kConf) + "ca_file relative.pem\n", "line 7: ca_file must be an absolute path"},
      {std::string(kConf) + "location_database City.mmdb\n",
       "line 7: location_database must be an absolute path"},
      {"relay ftp://x\n", "line 1: relay must be an https:// URL"},
      {"host_id short\n", "line 1: host_id must be the 22-character id"},
      {"approver_origin https://approve.example.com/\n", "line 1: approver_origin must be"},
      {"approver_origin http://approve.example.com\n",
       "line 1: approver_origin must be https://HOST[:PORT] or http://localhost[:PORT]"},
      {"relay https://x\n", "push config: missing host_id"},
  };
  for (const auto& [text, message] : bad) {
    auto parsed = parse_push_config(text);
    assert_false(parsed.ok());
    if (parsed.error().message.find(message) != 0) {
      fail_msg("want \"%s\", got \"%s\"", message.c_str(), parsed.error().message.c_str());
    }
  }
}

void test_relay_answers(void**) {
  auto created = parse_challenge_created(R"({"id":"AAECAwQFBgcICQoLDA0ODw","expires":17})");
  assert_true(created.ok());
  assert_int_equal(created->expires, 17);
  assert_false(parse_challenge_created(R"({"id":"x","expires":17})").ok());
  assert_false(parse_challenge_created("<html>").ok());
  auto pending = parse_challenge_state(R"({"id":"a","status":"pending","extra":[1]})");
  assert_true(pending.ok());
  assert_int_equal(pending->status, RelayStatus::pending);
  auto denied = parse_challenge_state(R"({"status":"denied","device":{"name":"Pixel 8"}})");
  assert_true(denied.ok());
  assert_string_equal(denied->device_name.c_str(), "Pixel 8");
  // "approved" without an assertion is garbage, not an approval.
  assert_false(parse_challenge_state(R"({"status":"approved"})").ok());
  assert_false(parse_challenge_state(R"({"status":"maybe"})").ok());
  assert_false(parse_challenge_state(R"({"status":1})").ok());
  // GET /v1/host (protocol 4.5): this host's view only, a name of 1..64 bytes.
  constexpr const char* kHost = "AAECAwQFBgcICQoLDA0ODw";
  auto named = parse_host_view(R"({"host_id":"AAECAwQFBgcICQoLDA0ODw","name":"web1","x":1})", kHost);
  assert_true(named.ok());
  assert_string_equal(named->c_str(), "web1");
  for (const std::string& bad : std::vector<std::string>{
           R"({"host_id":"BAECAwQFBgcICQoLDA0ODw","name":"web1"})",
        R"({"host_id":"AAECAwQFBgcICQoLDA0ODw"})", R"({"host_id":"AAECAwQFBgcICQoLDA0ODw","name":""})",
        R"({"host_id":"AAECAwQFBgcICQoLDA0ODw","name":")" + std::string(65, 'a') + "\"}",
        R"({"host_id":"AAECAwQFBgcICQoLDA0ODw","name":"a","name":"b"})", "[]"}) {
    if (parse_host_view(bad, kHost).ok()) fail_msg("accepted: %s", bad.c_str());
  }
  auto code = parse_error_code(R"({"error":"push_blocked","message":"x"})");
  assert_true(code.has_value());
  assert_string_equal(code->c_str(), "push_blocked");
  assert_false(parse_error_code("nope").has_value());
  // The code is shown on the user's terminal (module and enroll tool): only
  // the shape of the documented codes, never a relay's escape sequence.
  for (const char* body : {R"({"error":"\u001b[2Jgotcha"})", R"({"error":"Push_Blocked"})",
                           R"({"error":"push blocked"})", R"({"error":""})"}) {
    assert_false(parse_error_code(body).has_value());
  }
  // Nor does a refused pairing status come back in the message.
  auto odd = parse_pairing_registration(R"({"status":"\u001b]0;owned\u0007"})", nullptr);
  assert_false(odd.ok());
  assert_int_equal(odd.error().message.find('\x1b'), std::string::npos);
  const std::string body = challenge_request_json(
      {"alice", "sudo", "203.0.113.5", "ssh", {"AQID"}, "nonce", 1764300090,
       SignedContext{"sudo ls", "", "Berlin, Germany"}});
  assert_string_equal(body.c_str(),
                      R"({"context":{"command":"sudo ls","location":"Berlin, Germany",)"
                      R"("target_user":""},"devices":["AQID"],"expires":1764300090,"nonce":"nonce",)"
                      R"("rhost":"203.0.113.5","service":"sudo","tty":"ssh","user":"alice"})");
  // PAM items as the relay takes them: control bytes become '?', the rest
  // (UTF-8 included) is kept.
  assert_string_equal(relay_text(std::string("10.0.0.1\x1b[2J\n\x7f\0x", 16)).c_str(),
                      "10.0.0.1?[2J???x");
  assert_string_equal(relay_text("pts/0 caf\xc3\xa9").c_str(), "pts/0 caf\xc3\xa9");
  assert_string_equal(relay_text("").c_str(), "");
}

// push.conf decides which relay a host trusts (and, with failmode=safe,
// whether a login needs the phone at all): only root may own it, and no one
// else may be able to replace it through its directories. The host secret
// the same, and unreadable by others.
void write_file(const std::string& path, std::string_view text, mode_t mode) {
  std::ofstream(path) << text;
  ::chmod(path.c_str(), mode);
}

void expect_refused(const Result<HostSettings>& read, const char* why) {
  assert_false(read.ok());
  if (read.error().message.find(why) == std::string::npos) {
    fail_msg("want \"%s\" in \"%s\"", why, read.error().message.c_str());
  }
}

void test_push_config_ownership(void**) {
  char tmpl[] = "/tmp/twostep-pushconf.XXXXXX";
  assert_non_null(::mkdtemp(tmpl));
  const std::string dir = tmpl;
  const std::string conf = dir + "/push.conf";
  write_file(conf, kConf, 0644);
  assert_true(read_push_config(conf).ok());  // the admin's own, in a safe place
  write_file(dir + "/push.secret", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8\n", 0600);
  assert_true(read_host_secret(dir + "/push.secret", ::geteuid()).ok());

  ::chmod(conf.c_str(), 0664);
  expect_refused(read_push_config(conf), "writable by group/others");
  ::chmod(conf.c_str(), 0644);
  // A directory on the way that others can write: they could swap the file.
  ::chmod(dir.c_str(), 0777);
  expect_refused(read_push_config(conf), "is writable by group or others");
  ::chmod(dir.c_str(), 0700);
  // A symlink to a good file is not followed.
  assert_int_equal(::symlink(conf.c_str(), (dir + "/link.conf").c_str()), 0);
  expect_refused(read_push_config(dir + "/link.conf"), "a symlink");
  if (::geteuid() == 0) {
    // Owned by someone else than root: that user would choose the relay.
    assert_int_equal(::chown(conf.c_str(), 65534, 65534), 0);
    expect_refused(read_push_config(conf), "owned by uid 65534, not by root");
    // A directory owned by another user, even one only it can write.
    assert_int_equal(::chown(conf.c_str(), 0, 0), 0);
    assert_int_equal(::chown(dir.c_str(), 65534, 65534), 0);
    expect_refused(read_push_config(conf), "is owned by uid 65534");
  } else {
    print_message("SKIP part: ownership by another user needs root\n");
  }
  std::filesystem::remove_all(dir);
}

struct Fixture {
  TestKey key;
  Enrollment enrollment;
  ApprovalContext context{"Q2hhbGxlbmdlSWQxMjM0NQ", "bm9uY2U", "web1", "alice", "sshd",
                          "203.0.113.5", "ssh", 42, 1764300090, std::nullopt};
  Fixture() {
    Device device;
    device.name = "Pixel 8";
    device.credential_id = {1, 2, 3, 4};
    device.public_key = key.spki();
    device.origin = "https://approve.example.com";
    device.sign_counter = 5;
    enrollment.devices.push_back(device);
  }
  WireAssertion assertion(const ApprovalContext& over, std::uint32_t counter,
                          const TestKey* signer = nullptr, Bytes credential = {1, 2, 3, 4}) {
    AssertionSpec spec;
    spec.challenge_b64u = b64u_encode(digest_of(approval_digest(over)));
    spec.counter = counter;
    const auto built = make_assertion(signer ? *signer : key, spec);
    return {b64u_encode(credential), b64u_encode(built.authenticator_data),
            b64u_encode(built.client_data_json), b64u_encode(built.signature)};
  }
};

// The host secret file holds the bare value or `host_secret = VALUE`. A
// bare value that itself begins with the letters "host_secret" (found by
// fuzz_host_secret) was taken for the key form and refused.
void test_host_secret_forms(void**) {
  const std::string bare = "host_secretICQoLDA0ODxAREhst_sYXGBkaGxwdHh0";
  auto plain = parse_host_secret(bare + "\n", "F");
  assert_true(plain.ok());
  assert_int_equal(plain->size(), kHostSecretBytes);
  for (const std::string& form : {"host_secret = " + bare, "host_secret=" + bare + "\r\n",
                                  "host_secret\t" + bare + "\n# more\n", " " + bare + " "}) {
    auto again = parse_host_secret(form, "F");
    assert_true(again.ok());
    assert_memory_equal(again->data(), plain->data(), kHostSecretBytes);
  }
  for (const std::string& bad :
       {std::string("host_secret"), std::string("host_secret = "), std::string("host_secretX"),
        bare + "A"}) {
    auto refused = parse_host_secret(bad, "F");
    assert_false(refused.ok());
    assert_string_equal(refused.error().message.c_str(),
                        "host secret F: must be one line, b64u of 32 bytes");
  }
}

void test_verify_push_approval(void**) {
  Fixture f;
  // Accepted: the counter is raised in the enrollment (the caller writes it).
  auto ok = verify_push_approval(f.enrollment, f.context, f.assertion(f.context, 6));
  assert_int_equal(ok.verdict, PushVerdict::approved);
  assert_true(ok.state_changed);
  assert_string_equal(ok.device_name.c_str(), "Pixel 8");
  assert_int_equal(f.enrollment.devices[0].sign_counter, 6);
  // The same assertion again: its counter is no longer above the pin.
  auto replay = verify_push_approval(f.enrollment, f.context, f.assertion(f.context, 6));
  assert_int_equal(replay.verdict, PushVerdict::replayed);
  assert_false(replay.state_changed);

  ApprovalContext other_number = f.context;
  other_number.number = 43;
  assert_int_equal(
      verify_push_approval(f.enrollment, f.context, f.assertion(other_number, 9)).verdict,
      PushVerdict::wrong_number);
  for (auto bend : {+[](ApprovalContext& c) { c.user = "bob"; },
                    +[](ApprovalContext& c) { c.challenge_id = "other"; },
                    +[](ApprovalContext& c) { c.host = "web2"; },
                    +[](ApprovalContext& c) { c.rhost = "198.51.100.1"; },
                    +[](ApprovalContext& c) { c.expires += 1; }}) {
    ApprovalContext bent = f.context;
    bend(bent);
    assert_int_equal(verify_push_approval(f.enrollment, f.context, f.assertion(bent, 9)).verdict,
                     PushVerdict::wrong_challenge);
  }
  TestKey stranger;
  assert_int_equal(
      verify_push_approval(f.enrollment, f.context, f.assertion(f.context, 9, &stranger)).verdict,
      PushVerdict::bad_signature);
  // Over another number but not signed by the pin (a lying relay can compute
  // every digest): a bad signature, not the user's typo.
  assert_int_equal(
      verify_push_approval(f.enrollment, f.context, f.assertion(other_number, 9, &stranger)).verdict,
      PushVerdict::bad_signature);
  assert_int_equal(verify_push_approval(f.enrollment, f.context,
                                        f.assertion(f.context, 9, &stranger, {9, 9}))
                       .verdict,
                   PushVerdict::unpinned_device);
  assert_int_equal(f.enrollment.devices[0].sign_counter, 6);
}

}  // namespace

int main() {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_push_config),
      cmocka_unit_test(test_push_config_ownership),
      cmocka_unit_test(test_relay_answers),
      cmocka_unit_test(test_verify_push_approval),
      cmocka_unit_test(test_host_secret_forms),
  };
  return cmocka_run_group_tests(tests, nullptr, nullptr);
}
