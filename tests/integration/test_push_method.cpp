// The push method in-process: the real login flow (pam_module/login.cpp and
// methods/push.cpp) with a scripted conversation, a fixed clock and a
// scripted relay injected through LoginSeams. Every outcome of a push and
// every failmode, with what the user saw, the audit line and the file.
#include <fcntl.h>
#include <pwd.h>
#include <unistd.h>

#include <cstdarg>
#include <cstddef>
#include <chrono>
#include <csetjmp>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

extern "C" {
#include <cmocka.h>
}

#include "authenticate.hpp"
#include "login_context.hpp"
#include "recording_log.hpp"
#include "push_test_support.hpp"
#include "push_transport.hpp"
#include "relay_client.hpp"
#include "twostep/otp.hpp"
#include "twostep/push_login.hpp"
#include "twostep/secret_file.hpp"
#include "twostep/secret_store.hpp"

using namespace twostep;
using namespace twostep::pam;
using namespace twostep::push::test;
using json = nlohmann::json;

namespace {

constexpr std::int64_t kNow = 30 * 1000000 + 7;  // TOTP step 1000000
std::int64_t fixed_clock() noexcept { return kNow; }
constexpr const char* kChallengeId = "Q2hhbGxlbmdlSWQxMjM0NQ";  // 16 bytes, b64u
constexpr const char* kHostId = "SG9zdElkMTIzNDU2Nzg5MA";     // 16 bytes, b64u
constexpr const char* kOrigin = "https://approve.example.com";
const push::Bytes kCredential = {1, 2, 3, 4};

class ScriptedConversation final : public Conversation {
 public:
  explicit ScriptedConversation(std::vector<std::string> answers) : answers_(std::move(answers)) {}
  std::optional<SecretBytes> prompt(std::string_view text, bool) override {
    shown.emplace_back(text);
    if (next_ >= answers_.size()) return std::nullopt;
    return SecretBytes::from_string(answers_[next_++]);
  }
  void show_error(std::string_view text) override { shown.emplace_back(text); }
  void show_info(std::string_view text) override { shown.emplace_back(text); }
  std::optional<SecretBytes> authtok() override { return std::nullopt; }
  bool set_authtok(const SecretBytes&) override { return true; }
  // The number the terminal showed ("... with the number 07 ..."), if any.
  std::optional<unsigned> number() const {
    for (const auto& text : shown) {
      const auto at = text.find("with the number ");
      if (at != std::string::npos) return std::stoul(text.substr(at + 16, 2));
    }
    return std::nullopt;
  }
  bool saw(std::string_view text) const {
    for (const auto& line : shown) {
      if (line.find(text) != std::string::npos) return true;
    }
    return false;
  }
  std::vector<std::string> shown;

 private:
  std::vector<std::string> answers_;
  std::size_t next_ = 0;
};

using twostep::pam::test::RecordingLog;

// Virtual time: sleeps advance it at once, and the relay can spend it (a
// long-poll held for N seconds).
class VirtualTimer final : public RelayTimer {
 public:
  std::chrono::steady_clock::time_point now() override { return now_; }
  void sleep_until(std::chrono::steady_clock::time_point when) override {
    if (when > now_) now_ = when;
  }
  void advance(std::chrono::milliseconds by) { now_ += by; }
  double seconds() const {
    return std::chrono::duration<double>(now_.time_since_epoch()).count();
  }

 private:
  std::chrono::steady_clock::time_point now_{};
};

// What the phone does once the number is on the terminal.
enum class Phone {
  approve, approve_other_number, approve_unpinned, deny, report, expire, cancel,
  never,  // the relay says `pending` until the module gives up
};

// The relay as the module sees it: answers scripted per test, every request
// recorded. An approval is signed by the test's phone key over the digest
// the module will recompute, with the number read from the conversation.
class ScriptedRelay final : public PushTransport {
 public:
  ScriptedRelay(const TestKey& phone_key, const ScriptedConversation& terminal,
                VirtualTimer& timer)
      : phone_(phone_key), terminal_(terminal), timer_(timer) {}

  HttpAnswer request(std::string_view method, std::string_view path, std::string_view query,
                     std::string_view body, long) override {
    requests.push_back(std::string(method) + " " + std::string(path) +
                       (query.empty() ? "" : "?" + std::string(query)));
    if (method == "POST") {
      if (create_answer) return *create_answer;
      created = json::parse(body);
      return {true, 201, json{{"id", kChallengeId}, {"expires", created["expires"]}}.dump(), ""};
    }
    if (method == "DELETE") return {true, 200, R"({"status":"cancelled"})", ""};
    if (path == "/v1/host") {
      if (!registered_name) return {true, 404, R"({"error":"not_found"})", ""};
      return {true, 200, json{{"host_id", kHostId}, {"name", *registered_name}}.dump(), ""};
    }
    if (wait_answer) return *wait_answer;
    if (phone == Phone::never) {
      // A module that does not pace itself would spin here: stop it.
      if (requests.size() > 1000) return {false, 0, "", "test relay: over 1000 requests"};
      // Held for `hold` of the wait asked for (0: an early answer, as a
      // relay with max_wait = 0 gives), then still pending.
      timer_.advance(hold);
      return {true, 200, json{{"id", kChallengeId}, {"status", "pending"}}.dump(), ""};
    }
    return {true, 200, decision().dump(), ""};
  }
  std::chrono::milliseconds hold{0};

  std::optional<HttpAnswer> create_answer;  // instead of 201
  std::optional<HttpAnswer> wait_answer;    // instead of the phone's decision
  Phone phone = Phone::approve;
  std::uint32_t counter = 7;
  std::string signing_host = "web1";            // the host name the phone signs over
  std::optional<std::string> registered_name;   // GET /v1/host; nullopt: 404 (older relay)
  std::vector<std::string> requests;
  json created;

 private:
  // What the module sent as "context" (protocol 4.1), signed as the phone
  // would; nullopt (digest version 1, which the module must refuse) when
  // it sent none.
  std::optional<push::SignedContext> signed_context() const {
    if (!created.contains("context")) return std::nullopt;
    const json& c = created["context"];
    return push::SignedContext{c["command"].get<std::string>(), c["target_user"].get<std::string>(),
                               c["location"].get<std::string>()};
  }

  json decision() const {
    const json device = {{"name", "Pixel 8"}};
    switch (phone) {
      case Phone::deny: return {{"status", "denied"}, {"device", device}};
      case Phone::report: return {{"status", "reported"}, {"device", device}};
      case Phone::expire: return {{"status", "expired"}};
      case Phone::cancel: return {{"status", "cancelled"}};
      default: break;
    }
    push::ApprovalContext context{kChallengeId,
                                  created["nonce"].get<std::string>(),
                                  signing_host,
                                  created["user"].get<std::string>(),
                                  created["service"].get<std::string>(),
                                  created["rhost"].get<std::string>(),
                                  created["tty"].get<std::string>(),
                                  terminal_.number().value_or(0),
                                  created["expires"].get<std::int64_t>(),
                                  signed_context()};
    if (phone == Phone::approve_other_number) context.number = (context.number + 1) % 100;
    AssertionSpec spec;
    spec.challenge_b64u = push::b64u_encode(digest_of(push::approval_digest(context)));
    spec.counter = counter;
    const auto built = make_assertion(phone_, spec);
    const push::Bytes credential = phone == Phone::approve_unpinned ? push::Bytes{9, 9} : kCredential;
    return {{"status", "approved"},
            {"device", device},
            {"assertion",
             {{"credential_id", push::b64u_encode(credential)},
              {"authenticator_data", push::b64u_encode(built.authenticator_data)},
              {"client_data_json", push::b64u_encode(built.client_data_json)},
              {"signature", push::b64u_encode(built.signature)}}}};
  }
  const TestKey& phone_;
  const ScriptedConversation& terminal_;
  VirtualTimer& timer_;
};

// Hands the login the scripted relay, or a setup error.
class ScriptedConnector final : public PushConnector {
 public:
  explicit ScriptedConnector(ScriptedRelay& relay) : relay_(relay) {}
  Result<PushConnection> connect(const std::string&) override {
    ++connects;
    if (setup_error) return make_error(ErrorCode::io, "cannot load libtwostep-push.so");
    struct Forward final : PushTransport {
      explicit Forward(ScriptedRelay& r) : relay(r) {}
      HttpAnswer request(std::string_view m, std::string_view p, std::string_view q,
                         std::string_view b, long t) override {
        return relay.request(m, p, q, b, t);
      }
      ScriptedRelay& relay;
    };
    push::HostSettings settings;
    settings.host_name = "web1";
    settings.host_id = kHostId;
    settings.relay_url = "https://relay.example.com";
    return PushConnection{settings, std::make_unique<Forward>(relay_)};
  }
  bool setup_error = false;
  int connects = 0;

 private:
  ScriptedRelay& relay_;
};

std::string code_at_step(std::uint64_t step) {
  const auto key = SecretBytes::from_string("12345678901234567890");
  return std::string(format_code(hotp(key.span(), step, 6, HashAlgorithm::sha1).value(), 6).view());
}

struct Fixture {
  std::string dir;
  Config config;
  AuthRequest request;
  TestKey phone;
  VirtualTimer timer;

  Fixture() {
    dir = "/tmp/twostep-push-method.XXXXXX";
    if (mkdtemp(dir.data()) == nullptr) std::abort();
    Enrollment enrollment;
    Token token;
    token.key = SecretBytes::from_string("12345678901234567890");
    enrollment.tokens.push_back(std::move(token));
    Device device;
    device.name = "Pixel 8";
    device.credential_id = kCredential;
    device.public_key = phone.spki();
    device.origin = kOrigin;
    device.sign_counter = 5;
    device.added = kNow - 100;
    enrollment.devices.push_back(device);
    require(create_secret_file(dir + "/secret",
                               make_document(FileFormat::native, std::move(enrollment)), false)
                .ok());
    config.secret_path = dir + "/secret";
    config.secret_path_is_default = false;
    config.push = true;
    config.push_timeout = 5;
    request = AuthRequest{getpwuid(getuid())->pw_name, "sudo", "", "pts/1"};
  }
  ~Fixture() { std::filesystem::remove_all(dir); }

  std::uint32_t pinned_counter() {
    FileExpectations expectations;
    auto document = read_secret_file(dir + "/secret", expectations);
    require(document.ok());
    return document->enrollment.devices.at(0).sign_counter;
  }
};

struct Run {
  AuthStatus status;
  std::string audit;  // the last log line
};

Run login(Fixture& f, ScriptedConversation& terminal, ScriptedRelay&,
          ScriptedConnector& connector) {
  RecordingLog log;
  const AuthStatus status = authenticate(f.config, f.request, terminal, log,
                                        LoginSeams{&fixed_clock, &connector, &f.timer, {}});
  assert_false(log.lines.empty());
  return {status, log.lines.back()};
}

void expect_audit(const Run& run, const char* tail) {
  if (!run.audit.ends_with(tail)) fail_msg("audit line: %s\nexpected end: %s", run.audit.c_str(), tail);
}

// ---- the phone's answers ----------------------------------------------------

void test_approved_with_the_right_number(void**) {
  Fixture f;
  ScriptedConversation terminal({""});
  ScriptedRelay relay(f.phone, terminal, f.timer);
  ScriptedConnector connector(relay);
  const Run run = login(f, terminal, relay, connector);
  assert_int_equal(run.status, AuthStatus::success);
  expect_audit(run, "method=push result=accepted reason=approved device=Pixel?8");
  assert_string_equal(terminal.shown[0].c_str(), "Verification code, or Enter for a push: ");
  assert_true(terminal.number().has_value());
  assert_int_equal(f.pinned_counter(), 7);  // recorded under the lock
  // The number never goes to the relay; the digest covers what it was sent.
  assert_true(relay.created.dump().find("number") == std::string::npos);
  assert_int_equal(relay.requests.size(), 2);
  assert_string_equal(relay.requests[0].c_str(), "POST /v1/challenges");
  assert_true(relay.requests[1].starts_with(std::string("GET /v1/challenges/") + kChallengeId));
}

void test_approval_replayed_is_refused(void**) {
  Fixture f;
  for (int round = 0; round < 2; ++round) {
    ScriptedConversation terminal({""});
    ScriptedRelay relay(f.phone, terminal, f.timer);
    ScriptedConnector connector(relay);
    relay.counter = 7;  // the second round reuses a counter the pin already holds
    const Run run = login(f, terminal, relay, connector);
    assert_int_equal(run.status, round == 0 ? AuthStatus::success : AuthStatus::auth_failed);
    if (round == 1) expect_audit(run, "result=rejected reason=replayed device=Pixel?8");
  }
}

void test_outcomes_that_refuse(void**) {
  struct Case {
    Phone phone;
    const char* shown;  // what the user reads, or nullptr
    const char* audit;
  };
  const Case cases[] = {
      {Phone::approve_other_number, "The number entered on the phone was not the one shown here.",
       "result=rejected reason=wrong_number device=Pixel?8"},
      {Phone::approve_unpinned, nullptr, "result=rejected reason=unpinned_device device=Pixel?8"},
      {Phone::deny, "The login was denied on the phone.",
       "result=rejected reason=denied device=Pixel?8"},
      {Phone::report, "The login was reported on the phone.",
       "result=rejected reason=reported device=Pixel?8"},
      {Phone::expire, "No answer from the phone in time.",
       "result=rejected reason=timeout device=-"},
      {Phone::cancel, "The push was cancelled before the phone answered.",
       "result=rejected reason=cancelled device=-"},
  };
  for (const Case& c : cases) {
    Fixture f;
    ScriptedConversation terminal({""});
    ScriptedRelay relay(f.phone, terminal, f.timer);
    ScriptedConnector connector(relay);
    relay.phone = c.phone;
    const Run run = login(f, terminal, relay, connector);
    assert_int_equal(run.status, AuthStatus::auth_failed);
    expect_audit(run, c.audit);
    if (c.shown != nullptr && !terminal.saw(c.shown)) fail_msg("not shown: %s", c.shown);
    assert_int_equal(f.pinned_counter(), 5);  // nothing recorded
  }
}

// Issue 18 item 9: the phone signed the relay's name for the host, push.conf
// says another. Named only when the pinned key's signature verifies over the
// relay's name; a relay that merely claims a name gets the generic message.
void test_wrong_challenge_names_a_host_name_mismatch(void**) {
  struct Case {
    const char* signed_host;
    std::optional<std::string> registered;
    const char* shown;
    const char* audit;
  };
  const Case cases[] = {
      {"web9", "web9",
       "The phone approved this login for host \"web9\", but this host is set up as \"web1\"; "
       "refused. Ask your admin to correct host_name in the push settings.",
       "result=rejected reason=host_name_mismatch device=Pixel?8"},
      {"web9", "web7", "The approval was not for this login; the push was refused.",
       "result=rejected reason=wrong_challenge device=Pixel?8"},
      {"web9", std::nullopt, "The approval was not for this login; the push was refused.",
       "result=rejected reason=wrong_challenge device=Pixel?8"},
      {"web9", "web1", "The approval was not for this login; the push was refused.",
       "result=rejected reason=wrong_challenge device=Pixel?8"},
  };
  for (const Case& c : cases) {
    Fixture f;
    ScriptedConversation terminal({""});
    ScriptedRelay relay(f.phone, terminal, f.timer);
    ScriptedConnector connector(relay);
    relay.signing_host = c.signed_host;
    relay.registered_name = c.registered;
    const Run run = login(f, terminal, relay, connector);
    assert_int_equal(run.status, AuthStatus::auth_failed);
    expect_audit(run, c.audit);
    if (!terminal.saw(c.shown)) fail_msg("not shown: %s", c.shown);
    assert_int_equal(f.pinned_counter(), 5);  // nothing recorded
    assert_string_equal(relay.requests.back().c_str(), "GET /v1/host");
  }
}

void test_refused_at_create(void**) {
  Fixture f;
  ScriptedConversation terminal({""});
  ScriptedRelay relay(f.phone, terminal, f.timer);
  ScriptedConnector connector(relay);
  relay.create_answer = HttpAnswer{true, 409, R"({"error":"no_devices"})", ""};
  const Run run = login(f, terminal, relay, connector);
  assert_int_equal(run.status, AuthStatus::auth_failed);
  expect_audit(run, "result=rejected reason=no_devices device=-");
  assert_true(terminal.saw("The push was refused (no_devices)."));
}

// The relay's cooldown (denied or unanswered pushes, or the phone's
// notification bound) and its rate limit refuse the push, not the user: the
// code is asked for in the same login.
void test_push_cooldown_asks_for_a_code(void**) {
  for (const char* error : {"cooldown", "rate_limited"}) {
    Fixture f;
    ScriptedConversation terminal({"", code_at_step(1000000)});
    ScriptedRelay relay(f.phone, terminal, f.timer);
    ScriptedConnector connector(relay);
    relay.create_answer =
        HttpAnswer{true, 429, std::string(R"({"error":")") + error + R"("})", ""};
    RecordingLog log;
    const AuthStatus status = authenticate(f.config, f.request, terminal, log,
                                           LoginSeams{&fixed_clock, &connector, &f.timer, {}});
    assert_int_equal(status, AuthStatus::success);
    assert_true(terminal.saw("Type a code instead."));
    assert_string_equal(terminal.shown.back().c_str(), "Verification code: ");
    assert_true(log.has(std::string("method=push result=rejected reason=") + error));
    assert_true(log.lines.back().ends_with("method=totp result=accepted reason=code_ok"));
  }
}

// After "This wasn't me": the code that still works is asked for at once.
void test_blocked_push_asks_for_a_code(void**) {
  Fixture f;
  ScriptedConversation terminal({"", code_at_step(1000000)});
  ScriptedRelay relay(f.phone, terminal, f.timer);
  ScriptedConnector connector(relay);
  relay.create_answer = HttpAnswer{true, 403, R"({"error":"push_blocked"})", ""};
  RecordingLog log;
  const AuthStatus status = authenticate(f.config, f.request, terminal, log,
                                         LoginSeams{&fixed_clock, &connector, &f.timer, {}});
  assert_int_equal(status, AuthStatus::success);
  assert_true(terminal.saw("Push is blocked for this account after a report; ask your admin. "
                           "Type a code instead."));
  assert_string_equal(terminal.shown.back().c_str(), "Verification code: ");
  assert_true(log.has("method=push result=rejected reason=push_blocked"));
  assert_true(log.lines.back().ends_with("method=totp result=accepted reason=code_ok"));
}

void test_refused_while_waiting(void**) {
  Fixture f;
  ScriptedConversation terminal({""});
  ScriptedRelay relay(f.phone, terminal, f.timer);
  ScriptedConnector connector(relay);
  relay.wait_answer = HttpAnswer{true, 404, R"({"error":"not_found"})", ""};
  const Run run = login(f, terminal, relay, connector);
  assert_int_equal(run.status, AuthStatus::auth_failed);
  expect_audit(run, "result=rejected reason=not_found device=-");
  assert_true(terminal.saw("The push was refused (not_found)."));
}

// ---- the wait: paced whatever the relay does --------------------------------

// A relay that answers `pending` at once (max_wait = 0, or hostile): the
// module pauses, 1 s then up to 4 s, so a 60 s push sends a handful of
// waits, not thousands; it ends with the no-answer message and a cancel.
void test_early_pending_is_paced(void**) {
  Fixture f;
  f.config.push_timeout = 60;
  ScriptedConversation terminal({""});
  ScriptedRelay relay(f.phone, terminal, f.timer);
  ScriptedConnector connector(relay);
  relay.phone = Phone::never;
  const double start = f.timer.seconds();
  const Run run = login(f, terminal, relay, connector);
  assert_int_equal(run.status, AuthStatus::auth_failed);
  expect_audit(run, "result=rejected reason=timeout device=-");
  assert_true(terminal.saw("No answer from the phone in time."));
  std::size_t waits = 0;
  for (const auto& r : relay.requests) waits += r.starts_with("GET ") ? 1u : 0u;
  // 1 + 2 + 4 + 4 + ... seconds of pauses over 60 s: 17 waits; never more
  // than one a second.
  assert_in_range(waits, 10, 20);
  assert_true(f.timer.seconds() - start >= 60.0);
  assert_true(relay.requests.back().starts_with("DELETE "));
}

// A relay that holds each wait for its full length is asked again at once:
// the pause is only for early answers.
void test_full_long_polls_are_not_paused(void**) {
  Fixture f;
  f.config.push_timeout = 120;
  ScriptedConversation terminal({""});
  ScriptedRelay relay(f.phone, terminal, f.timer);
  ScriptedConnector connector(relay);
  relay.phone = Phone::never;
  relay.hold = std::chrono::seconds(55);
  const Run run = login(f, terminal, relay, connector);
  expect_audit(run, "result=rejected reason=timeout device=-");
  std::vector<std::string> waits;
  for (const auto& r : relay.requests) {
    if (r.starts_with("GET ")) waits.push_back(r.substr(r.find('?') + 1));
  }
  // 120 s: wait=55, wait=55 (held), then the 10 s left.
  assert_int_equal(waits.size(), 3);
  assert_string_equal(waits[0].c_str(), "wait=55");
  assert_string_equal(waits[1].c_str(), "wait=55");
  assert_string_equal(waits[2].c_str(), "wait=10");
}

// ---- the relay unavailable, in each failmode --------------------------------

// Unavailable (docs/protocol.md 4.4): nothing came back, or a gateway says
// the relay is down. Only then does the failmode apply.
void test_unavailable_in_each_failmode(void**) {
  const HttpAnswer outages[] = {
      {false, 0, "", "connection refused"},
      {true, 502, "<html>bad gateway</html>", ""},
      {true, 503, "{}", ""},
      {true, 504, "", ""},
  };
  for (const HttpAnswer& outage : outages) {
    for (const bool at_create : {true, false}) {
      for (const PushFailmode mode : {PushFailmode::secure, PushFailmode::safe, PushFailmode::totp}) {
        Fixture f;
        f.config.failmode = mode;
        // failmode=totp asks for a code next: the right one.
        ScriptedConversation terminal({"", code_at_step(1000000)});
        ScriptedRelay relay(f.phone, terminal, f.timer);
        ScriptedConnector connector(relay);
        (at_create ? relay.create_answer : relay.wait_answer) = outage;
        const Run run = login(f, terminal, relay, connector);
        switch (mode) {
          case PushFailmode::secure:
            assert_int_equal(run.status, AuthStatus::auth_failed);
            expect_audit(run, "result=error reason=backend_unavailable device=- failmode=secure");
            assert_true(terminal.saw("Push is not available right now; log in with a code."));
            break;
          case PushFailmode::safe:
            assert_int_equal(run.status, AuthStatus::success);
            expect_audit(run, "result=accepted reason=backend_unavailable device=- failmode=safe");
            break;
          case PushFailmode::totp:
            assert_int_equal(run.status, AuthStatus::success);
            expect_audit(run, "method=totp result=accepted reason=code_ok");
            assert_true(terminal.saw("Push is not available right now."));
            break;
        }
      }
    }
  }
}

// Whatever else the relay sends is its own doing: refused in every
// failmode, so failmode=safe cannot be used by a hostile relay to log
// anyone in (issue 18 item 4: it took {"status":"approved"}, an unknown
// status, or a 500).
void test_bad_answers_are_refused_in_every_failmode(void**) {
  struct Bad {
    bool at_create;
    HttpAnswer answer;
  };
  const Bad bad[] = {
      {false, {true, 200, R"({"status":"approved"})", ""}},  // no assertion
      {false, {true, 200, R"({"status":"granted"})", ""}},
      {false, {true, 200, "not json", ""}},
      {false, {true, 500, "{}", ""}},
      {false, {false, 302, "", "the relay answered with a redirect (not followed)"}},
      {false, {false, 200, "", "response larger than 65536 bytes"}},
      {true, {true, 201, "{}", ""}},
      {true, {true, 200, R"({"id":"x"})", ""}},
      {true, {true, 500, "", ""}},
  };
  for (const Bad& b : bad) {
    for (const PushFailmode mode : {PushFailmode::secure, PushFailmode::safe, PushFailmode::totp}) {
      Fixture f;
      f.config.failmode = mode;
      ScriptedConversation terminal({"", code_at_step(1000000)});
      ScriptedRelay relay(f.phone, terminal, f.timer);
      ScriptedConnector connector(relay);
      (b.at_create ? relay.create_answer : relay.wait_answer) = b.answer;
      const Run run = login(f, terminal, relay, connector);
      assert_int_equal(run.status, AuthStatus::auth_failed);
      expect_audit(run, "method=push result=rejected reason=bad_relay_answer device=-");
      assert_true(terminal.saw("The relay's answer was not valid; the push was refused."));
      assert_int_equal(terminal.shown.size(), b.at_create ? 2 : 3);  // no code prompt after it
    }
  }
}

void test_broken_installation_is_no_outage(void**) {
  for (const PushFailmode mode : {PushFailmode::secure, PushFailmode::safe, PushFailmode::totp}) {
    Fixture f;
    f.config.failmode = mode;
    ScriptedConversation terminal({"", code_at_step(1000000)});
    ScriptedRelay relay(f.phone, terminal, f.timer);
    ScriptedConnector connector(relay);
    connector.setup_error = true;
    const Run run = login(f, terminal, relay, connector);
    if (mode == PushFailmode::totp) {
      assert_int_equal(run.status, AuthStatus::success);  // the code asked next
      assert_true(terminal.saw("Push is not available on this host."));
    } else {
      // Never allowed, not even with failmode=safe.
      assert_int_equal(run.status, AuthStatus::service_error);
      expect_audit(run, "result=error reason=push_config_error device=-");
    }
    assert_true(relay.requests.empty());
  }
}

// ---- the terminal side -------------------------------------------------------

void test_code_typed_at_the_push_prompt_over_ssh(void**) {
  Fixture f;
  f.request.service = "sshd";
  f.request.tty = "ssh";
  ScriptedConversation terminal({"", code_at_step(1000000)});
  ScriptedRelay relay(f.phone, terminal, f.timer);
  ScriptedConnector connector(relay);
  const Run run = login(f, terminal, relay, connector);
  assert_int_equal(run.status, AuthStatus::success);
  expect_audit(run, "method=totp result=accepted reason=code_ok");
  // The number travelled inside the prompt, and the push was cancelled.
  assert_true(terminal.shown[1].starts_with("Push sent. On your phone, approve with the number "));
  assert_true(terminal.shown[1].ends_with(", then press Enter here (or type a code): "));
  assert_string_equal(relay.requests.back().c_str(),
                      (std::string("DELETE /v1/challenges/") + kChallengeId).c_str());
}

void test_code_at_the_first_prompt_sends_no_push(void**) {
  Fixture f;
  ScriptedConversation terminal({code_at_step(1000000)});
  ScriptedRelay relay(f.phone, terminal, f.timer);
  ScriptedConnector connector(relay);
  const Run run = login(f, terminal, relay, connector);
  assert_int_equal(run.status, AuthStatus::success);
  assert_int_equal(connector.connects, 0);  // a TOTP login never loads the push client
  assert_true(relay.requests.empty());
}

// Codes limited by strangers (issue 19 item 2): the paired phone is still
// offered, and approving logs the owner in.
void test_push_offered_while_codes_are_limited(void**) {
  Fixture f;
  FileExpectations expectations;
  require(lock_and_update_secret_file(f.dir + "/secret", expectations, [](SecretDocument& d) {
            d.enrollment.rate_limit = RateLimit{3, 60, {kNow - 5, kNow - 4, kNow - 3},
                                                {"0a", "0b", "0c"}, {}};
            return UpdateDecision::write;
          }).ok());
  ScriptedConversation terminal({""});
  ScriptedRelay relay(f.phone, terminal, f.timer);
  ScriptedConnector connector(relay);
  const Run run = login(f, terminal, relay, connector);
  assert_int_equal(run.status, AuthStatus::success);
  expect_audit(run, "method=push result=accepted reason=approved device=Pixel?8");
  assert_string_equal(terminal.shown[0].c_str(),
                      "Too many failed attempts; try again later.\n"
                      "Verification code, or Enter for a push: ");
}

void test_no_pinned_device_no_push(void**) {
  Fixture f;
  f.config.push = false;  // the file pins a device, but push is not offered
  ScriptedConversation terminal({""});
  ScriptedRelay relay(f.phone, terminal, f.timer);
  ScriptedConnector connector(relay);
  const Run run = login(f, terminal, relay, connector);
  assert_int_equal(run.status, AuthStatus::auth_failed);
  expect_audit(run, "result=malformed reason=not_a_code");
  assert_string_equal(terminal.shown[0].c_str(), "Verification code: ");
  assert_int_equal(connector.connects, 0);
}

// The context the phone signs (issue 20): sudo's command line from the
// process's own /proc entry, quoted and cut visibly; su's target; the
// location from the push client, only for an address.
class LocatingTransport final : public PushTransport {
 public:
  HttpAnswer request(std::string_view, std::string_view, std::string_view, std::string_view,
                     long) override {
    return {};
  }
  std::string locate(const std::string& address) override {
    asked.push_back(address);
    return address == "203.0.113.5" ? "Berlin, Germany" : "Somewhere\x1b[2J";
  }
  std::vector<std::string> asked;
};

RunningProgram fake_process(const std::string& dir, const std::string& exe, std::string cmdline) {
  std::filesystem::create_directories(dir);
  std::filesystem::remove(dir + "/exe");
  std::filesystem::create_symlink(exe, dir + "/exe");
  const int fd = ::open((dir + "/cmdline").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  assert_true(fd >= 0);
  assert_int_equal(::write(fd, cmdline.data(), cmdline.size()),
                   static_cast<ssize_t>(cmdline.size()));
  ::close(fd);
  return running_program(dir);
}

void test_login_context(void**) {
  char templ[] = "/tmp/twostep-context-XXXXXX";
  assert_non_null(::mkdtemp(templ));
  const std::string dir = templ;
  LocatingTransport transport;
  const AuthRequest request{"alice", "sudo", "203.0.113.5", "/dev/pts/1"};
  // sudo: the argument vector, argv[0] as its file name, quoted for a shell.
  using namespace std::string_literals;
  auto program = fake_process(dir + "/sudo", "/usr/bin/sudo",
                              "/usr/bin/sudo\0-u\0www-data\0/bin/sh\0-c\0echo 'hi'; ls\0"s);
  assert_string_equal(program.executable.c_str(), "/usr/bin/sudo");
  push::SignedContext c = login_context(request, program, transport);
  assert_string_equal(c.command.c_str(), "sudo -u www-data /bin/sh -c 'echo '\\''hi'\\''; ls'");
  assert_string_equal(c.target_user.c_str(), "");
  assert_string_equal(c.location.c_str(), "Berlin, Germany");
  // A long one with a control character: '?' and cut in the middle.
  program = fake_process(dir + "/long", "/usr/bin/sudo",
                         "sudo\0/bin/echo\0\x1b"s + std::string(400, 'x') + "\0the-end\0"s);
  c = login_context(request, program, transport);
  assert_true(c.command.size() <= push::kMaxCommandBytes);
  assert_true(c.command.starts_with("sudo /bin/echo '?xxx"));
  assert_true(c.command.ends_with("xxx' the-end"));
  assert_true(c.command.find(" \xe2\x80\xa6 ") != std::string::npos);
  // su: the target user; no command. A host name is not looked up.
  program = fake_process(dir + "/su", "/usr/bin/su", "su\0-\0alice\0"s);
  c = login_context(AuthRequest{"alice", "su", "", ""}, program, transport);
  assert_string_equal(c.command.c_str(), "");
  assert_string_equal(c.target_user.c_str(), "alice");
  assert_string_equal(c.location.c_str(), "");
  c = login_context(AuthRequest{"alice", "sshd", "client.example.com", "ssh"},
                    fake_process(dir + "/sshd", "/usr/sbin/sshd", "sshd: alice\0"s), transport);
  assert_string_equal(c.command.c_str(), "");
  assert_string_equal(c.location.c_str(), "");
  // What the push client says is display text too.
  c = login_context(AuthRequest{"alice", "sshd", "2001:db8::1", "ssh"}, program, transport);
  assert_string_equal(c.location.c_str(), "Somewhere?[2J");
  assert_true(transport.asked == (std::vector<std::string>{"203.0.113.5", "203.0.113.5", "2001:db8::1"}));
  std::filesystem::remove_all(dir);
}

// The module sends the context with the challenge and signs over it: the
// scripted phone signs what it was sent, and the login goes through.
void test_context_sent_and_signed(void**) {
  Fixture f;
  ScriptedConversation terminal({""});
  ScriptedRelay relay(f.phone, terminal, f.timer);
  ScriptedConnector connector(relay);
  const Run run = login(f, terminal, relay, connector);
  assert_int_equal(run.status, AuthStatus::success);
  assert_true(relay.created.contains("context"));
  assert_true(relay.created["context"] ==
              (json{{"command", ""}, {"target_user", ""}, {"location", ""}}));
}

}  // namespace

int main() {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_approved_with_the_right_number),
      cmocka_unit_test(test_approval_replayed_is_refused),
      cmocka_unit_test(test_outcomes_that_refuse),
      cmocka_unit_test(test_wrong_challenge_names_a_host_name_mismatch),
      cmocka_unit_test(test_refused_at_create),
      cmocka_unit_test(test_push_cooldown_asks_for_a_code),
      cmocka_unit_test(test_blocked_push_asks_for_a_code),
      cmocka_unit_test(test_refused_while_waiting),
      cmocka_unit_test(test_early_pending_is_paced),
      cmocka_unit_test(test_full_long_polls_are_not_paused),
      cmocka_unit_test(test_unavailable_in_each_failmode),
      cmocka_unit_test(test_bad_answers_are_refused_in_every_failmode),
      cmocka_unit_test(test_broken_installation_is_no_outage),
      cmocka_unit_test(test_code_typed_at_the_push_prompt_over_ssh),
      cmocka_unit_test(test_code_at_the_first_prompt_sends_no_push),
      cmocka_unit_test(test_push_offered_while_codes_are_limited),
      cmocka_unit_test(test_no_pinned_device_no_push),
      cmocka_unit_test(test_login_context),
      cmocka_unit_test(test_context_sent_and_signed),
  };
  return cmocka_run_group_tests(tests, nullptr, nullptr);
}
