// One test suite for every Store implementation (backend/store.hpp).
//
//   test_relay_store sqlite:<directory>     a fresh SQLite file per test
//   test_relay_store <postgresql://...>     (relay-pg) a fresh schema per test
//
// Each test states one observable behaviour of the interface's contract.
#include <sqlite3.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include <sys/stat.h>
#include <unistd.h>

#include "pg_test_support.hpp"
#include "store.hpp"

// cmocka last: its macros (fail, ...) clash with the standard library's names.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
extern "C" {
#include <cmocka.h>
}

using namespace twostep::relay;

namespace {

std::string g_location;  // argv[1]
int g_counter = 0;
std::string g_last_sqlite_path;
std::string g_last_pg_url;

std::unique_ptr<Store> fresh_store() {
  std::string location;
  if (g_location.rfind("sqlite:", 0) == 0) {
    g_last_sqlite_path =
        g_location.substr(7) + "/store-" + std::to_string(++g_counter) + ".db";
    std::remove(g_last_sqlite_path.c_str());
    location = g_last_sqlite_path;
  } else {  // a fresh database per test on the suite's PostgreSQL cluster
    location = twostep::relay::test::create_database(
        g_location, "store_" + std::to_string(getpid()) + "_" + std::to_string(++g_counter));
    if (location.empty()) fail_msg("cannot create a test database");
    g_last_pg_url = location;
  }
  auto s = open_store(location);
  if (!s) fail_msg("open_store: %s", s.error().message.c_str());
  return std::move(s.value());
}

bool is_sqlite() { return g_location.rfind("sqlite:", 0) == 0; }

constexpr Seconds kNow = 1764300000;

HostRecord host(const std::string& id, const std::string& name) {
  return HostRecord{id, name, std::string(32, '\x07'), kNow, false};
}

// A host with one confirmed device for alice; returns the device.
DeviceRecord paired_device(Store& s, const std::string& host_id, const std::string& cred,
                           const std::string& api_key = "key-1") {
  const std::string pid = "pair-" + host_id + cred;
  assert_true(s.create_pairing(PairingRecord{pid, host_id, "alice", std::string(32, 'h'), kNow,
                                             kNow + 600, PairingStatus::open, {}, {}}).ok());
  PairingRegistration reg{"Pixel", cred, "cred-spki", "api-spki", std::string(32, 'p'), api_key};
  assert_true(s.register_pairing(pid, reg, kNow + 1).ok());
  auto d = s.confirm_pairing(pid, "dev-" + cred, kNow + 2);
  if (!d) fail_msg("confirm: %s", d.error().message.c_str());
  return d.value();
}

NewChallenge challenge(const std::string& id, const std::string& host_id,
                       std::vector<std::string> creds, Seconds expires = kNow + 90) {
  return NewChallenge{id, host_id, "alice", "sshd", "203.0.113.5", "ssh",
                      std::move(creds), std::string(43, 'n'), expires, std::nullopt};
}

void hosts_are_added_found_listed_and_removed(void**) {
  auto s = fresh_store();
  assert_true(s->add_host(host("h1", "web1")).ok());
  auto dup = s->add_host(host("h2", "web1"));
  assert_false(dup.ok());
  assert_int_equal(static_cast<int>(dup.error().code), static_cast<int>(StoreErrc::duplicate));
  auto found = s->find_host("h1");
  assert_true(found.ok());
  assert_string_equal(found->name.c_str(), "web1");
  assert_true(found->secret == std::string(32, '\x07'));
  assert_int_equal(s->list_hosts()->size(), 1);
  auto removed = s->remove_host("web1", kNow);
  assert_true(removed.ok());
  assert_true(s->find_host("h1")->removed);
  assert_int_equal(s->list_hosts()->size(), 0);
  // The name is free again once the old host is removed.
  assert_true(s->add_host(host("h3", "web1")).ok());
  assert_int_equal(static_cast<int>(s->find_host("nope").error().code),
                   static_cast<int>(StoreErrc::not_found));
}

void a_nonce_is_accepted_once_until_forgotten(void**) {
  auto s = fresh_store();
  assert_true(s->remember_nonce("host:h1", "n1", kNow, 600).value());
  assert_false(s->remember_nonce("host:h1", "n1", kNow + 599, 600).value());
  assert_true(s->remember_nonce("host:h2", "n1", kNow, 600).value());  // per principal
  assert_true(s->remember_nonce("host:h1", "n1", kNow + 600, 600).value());
}

void pairing_registers_once_and_confirms_once(void**) {
  auto s = fresh_store();
  assert_true(s->add_host(host("h1", "web1")).ok());
  assert_true(s->create_pairing(PairingRecord{"p1", "h1", "alice", std::string(32, 'h'), kNow,
                                              kNow + 600, PairingStatus::open, {}, {}}).ok());
  auto early = s->confirm_pairing("p1", "d1", kNow);
  assert_int_equal(static_cast<int>(early.error().code), static_cast<int>(StoreErrc::not_registered));
  PairingRegistration reg{"Pixel 8", "cred\x01", "cspki", "aspki", std::string(32, 'p'), "kid"};
  auto r = s->register_pairing("p1", reg, kNow + 10);
  assert_true(r.ok());
  assert_int_equal(static_cast<int>(r->status), static_cast<int>(PairingStatus::registered));
  auto again = s->register_pairing("p1", reg, kNow + 11);
  assert_int_equal(static_cast<int>(again.error().code),
                   static_cast<int>(StoreErrc::already_registered));
  auto found = s->find_pairing("p1");
  assert_true(found->registration.has_value());
  assert_true(found->registration->credential_id == std::string("cred\x01"));
  auto d = s->confirm_pairing("p1", "d1", kNow + 12);
  assert_true(d.ok());
  assert_string_equal(d->api_key_id.c_str(), "kid");
  assert_false(d->revoked);
  auto twice = s->confirm_pairing("p1", "d2", kNow + 13);
  assert_int_equal(static_cast<int>(twice.error().code),
                   static_cast<int>(StoreErrc::already_registered));
  assert_int_equal(s->devices_by_api_key("kid")->size(), 1);
}

// One phone pinned in a second secret file of the same (host, user): the
// second pairing confirms onto the first record; the same credential under
// another API key is refused.
void the_same_phone_confirms_onto_its_record(void**) {
  auto s = fresh_store();
  assert_true(s->add_host(host("h1", "web1")).ok());
  const DeviceRecord first = paired_device(*s, "h1", "cred-a", "key-1");
  const auto pairing = [&](const std::string& pid, const std::string& api_key) {
    assert_true(s->create_pairing(PairingRecord{pid, "h1", "alice", std::string(32, 'h'), kNow,
                                                kNow + 600, PairingStatus::open, {}, {}}).ok());
    PairingRegistration reg{"Pixel", "cred-a", "cred-spki", "api-spki", std::string(32, 'p'),
                            api_key};
    assert_true(s->register_pairing(pid, reg, kNow + 1).ok());
    return s->confirm_pairing(pid, "dev-new-" + pid, kNow + 2);
  };
  auto again = pairing("p2", "key-1");
  if (!again) fail_msg("confirm: %s", again.error().message.c_str());
  assert_string_equal(again->device_id.c_str(), first.device_id.c_str());
  assert_int_equal(static_cast<int>(s->find_pairing("p2")->status),
                   static_cast<int>(PairingStatus::confirmed));
  assert_int_equal(s->devices_by_api_key("key-1")->size(), 1);
  auto other = pairing("p3", "key-2");
  assert_int_equal(static_cast<int>(other.error().code), static_cast<int>(StoreErrc::duplicate));
  assert_int_equal(s->devices_by_api_key("key-2")->size(), 0);
}

void an_expired_pairing_refuses_registration(void**) {
  auto s = fresh_store();
  assert_true(s->create_pairing(PairingRecord{"p1", "h1", "alice", std::string(32, 'h'), kNow,
                                              kNow + 600, PairingStatus::open, {}, {}}).ok());
  PairingRegistration reg{"Pixel", "c", "s", "a", std::string(32, 'p'), "kid"};
  auto r = s->register_pairing("p1", reg, kNow + 600);
  assert_int_equal(static_cast<int>(r.error().code), static_cast<int>(StoreErrc::expired));
  assert_int_equal(static_cast<int>(s->register_pairing("nope", reg, kNow).error().code),
                   static_cast<int>(StoreErrc::not_found));
}

void a_challenge_needs_an_active_listed_device(void**) {
  auto s = fresh_store();
  assert_true(s->add_host(host("h1", "web1")).ok());
  auto none = s->create_challenge(challenge("c1", "h1", {"cred-a"}), {}, kNow);
  assert_int_equal(static_cast<int>(none.error().code), static_cast<int>(StoreErrc::no_devices));
  auto dev = paired_device(*s, "h1", "cred-a");
  auto ok = s->create_challenge(challenge("c1", "h1", {"other", "cred-a"}), {}, kNow);
  assert_true(ok.ok());
  assert_string_equal(ok->challenge.host_name.c_str(), "web1");
  assert_int_equal(ok->challenge.credential_ids.size(), 2);
  assert_true(s->revoke_device(dev.device_id, kNow).ok());
  auto revoked = s->create_challenge(challenge("c2", "h1", {"cred-a"}), {}, kNow);
  assert_int_equal(static_cast<int>(revoked.error().code), static_cast<int>(StoreErrc::no_devices));
}

void a_new_challenge_cancels_the_pending_one(void**) {
  auto s = fresh_store();
  assert_true(s->add_host(host("h1", "web1")).ok());
  paired_device(*s, "h1", "cred-a");
  assert_true(s->create_challenge(challenge("c1", "h1", {"cred-a"}), {}, kNow).ok());
  auto second = s->create_challenge(challenge("c2", "h1", {"cred-a"}), {}, kNow + 1);
  assert_true(second.ok());
  assert_int_equal(second->superseded.size(), 1);
  assert_string_equal(second->superseded[0].c_str(), "c1");
  assert_int_equal(static_cast<int>(s->find_challenge("c1", kNow + 2)->status),
                   static_cast<int>(ChallengeStatus::cancelled));
  assert_int_equal(static_cast<int>(s->find_challenge("c2", kNow + 2)->status),
                   static_cast<int>(ChallengeStatus::pending));
}

// The signed context (protocol version 3) is kept as sent; a challenge
// without one (an older module's) reads back without one.
void a_challenge_keeps_its_context(void**) {
  auto s = fresh_store();
  assert_true(s->add_host(host("h1", "web1")).ok());
  paired_device(*s, "h1", "cred-a");
  assert_true(s->create_challenge(challenge("c1", "h1", {"cred-a"}), {}, kNow).ok());
  assert_false(s->find_challenge("c1", kNow + 1)->context.has_value());
  NewChallenge with = challenge("c2", "h1", {"cred-a"});
  with.context = ChallengeContext{"sudo ls -l", "root", "this network"};
  assert_true(s->create_challenge(with, {}, kNow + 1).ok());
  const auto c = s->find_challenge("c2", kNow + 2);
  assert_true(c->context.has_value());
  assert_string_equal(c->context->command.c_str(), "sudo ls -l");
  assert_string_equal(c->context->target_user.c_str(), "root");
  assert_string_equal(c->context->location.c_str(), "this network");
}

void an_approval_is_stored_with_its_assertion_once(void**) {
  auto s = fresh_store();
  assert_true(s->add_host(host("h1", "web1")).ok());
  auto dev = paired_device(*s, "h1", "cred-a");
  assert_true(s->create_challenge(challenge("c1", "h1", {"cred-a"}), {}, kNow).ok());
  Assertion a{"cred-a", std::string(37, 'A'), "{\"type\":\"webauthn.get\"}", "sig"};
  auto d = s->decide_challenge("c1", dev.device_id, Decision::approve, a, kNow + 5);
  assert_true(d.ok());
  auto c = s->find_challenge("c1", kNow + 6);
  assert_int_equal(static_cast<int>(c->status), static_cast<int>(ChallengeStatus::approved));
  assert_true(c->assertion.has_value());
  assert_true(c->assertion->authenticator_data == std::string(37, 'A'));
  assert_string_equal(c->decided_by_name.c_str(), "Pixel");
  assert_int_equal(c->decided_at, kNow + 5);
  auto twice = s->decide_challenge("c1", dev.device_id, Decision::deny, std::nullopt, kNow + 7);
  assert_int_equal(static_cast<int>(twice.error().code),
                   static_cast<int>(StoreErrc::already_decided));
  assert_int_equal(s->find_device(dev.device_id)->last_used, kNow + 5);
}

void an_expired_challenge_refuses_decisions(void**) {
  auto s = fresh_store();
  assert_true(s->add_host(host("h1", "web1")).ok());
  auto dev = paired_device(*s, "h1", "cred-a");
  assert_true(s->create_challenge(challenge("c1", "h1", {"cred-a"}, kNow + 30), {}, kNow).ok());
  auto late = s->decide_challenge("c1", dev.device_id, Decision::deny, std::nullopt, kNow + 30);
  assert_int_equal(static_cast<int>(late.error().code), static_cast<int>(StoreErrc::expired));
  assert_int_equal(static_cast<int>(s->find_challenge("c1", kNow + 31)->status),
                   static_cast<int>(ChallengeStatus::expired));
  assert_true(s->create_challenge(challenge("c2", "h1", {"cred-a"}, kNow + 30), {}, kNow).ok());
  // c1 was superseded by c2 (cancelled); c2 expires through expire_due, once.
  auto due = s->expire_due(kNow + 40);
  assert_int_equal(due->size(), 1);
  assert_string_equal(due->at(0).challenge_id.c_str(), "c2");
  assert_int_equal(static_cast<int>(s->find_challenge("c1", kNow + 41)->status),
                   static_cast<int>(ChallengeStatus::cancelled));
  assert_int_equal(s->expire_due(kNow + 41)->size(), 0);
}

void cancel_changes_only_a_pending_challenge(void**) {
  auto s = fresh_store();
  assert_true(s->add_host(host("h1", "web1")).ok());
  auto dev = paired_device(*s, "h1", "cred-a");
  assert_true(s->create_challenge(challenge("c1", "h1", {"cred-a"}), {}, kNow).ok());
  assert_int_equal(static_cast<int>(s->cancel_challenge("c1", kNow + 1)->status),
                   static_cast<int>(ChallengeStatus::cancelled));
  assert_true(s->create_challenge(challenge("c2", "h1", {"cred-a"}), {}, kNow).ok());
  assert_true(s->decide_challenge("c2", dev.device_id, Decision::deny, std::nullopt, kNow + 1).ok());
  assert_int_equal(static_cast<int>(s->cancel_challenge("c2", kNow + 2)->status),
                   static_cast<int>(ChallengeStatus::denied));
  assert_int_equal(static_cast<int>(s->cancel_challenge("zz", kNow).error().code),
                   static_cast<int>(StoreErrc::not_found));
}

void a_report_blocks_push_until_unblocked(void**) {
  auto s = fresh_store();
  assert_true(s->add_host(host("h1", "web1")).ok());
  auto dev = paired_device(*s, "h1", "cred-a");
  assert_true(s->create_challenge(challenge("c1", "h1", {"cred-a"}), {}, kNow).ok());
  assert_true(s->decide_challenge("c1", dev.device_id, Decision::report, std::nullopt, kNow).ok());
  auto blocked = s->create_challenge(challenge("c2", "h1", {"cred-a"}), {}, kNow + 1);
  assert_int_equal(static_cast<int>(blocked.error().code), static_cast<int>(StoreErrc::push_blocked));
  assert_true(s->unblock("h1", "alice").value());
  assert_false(s->unblock("h1", "alice").value());
  assert_true(s->create_challenge(challenge("c3", "h1", {"cred-a"}), {}, kNow + 2).ok());
}

void three_denials_start_a_cooldown(void**) {
  auto s = fresh_store();
  assert_true(s->add_host(host("h1", "web1")).ok());
  auto dev = paired_device(*s, "h1", "cred-a");
  const FatiguePolicy policy{3, 600, 600};
  for (int i = 0; i < 3; ++i) {
    const std::string id = "c" + std::to_string(i);
    assert_true(s->create_challenge(challenge(id, "h1", {"cred-a"}, kNow + i * 100 + 90), policy,
                                    kNow + i * 100).ok());
    assert_true(s->decide_challenge(id, dev.device_id, Decision::deny, std::nullopt,
                                    kNow + i * 100 + 1).ok());
  }
  auto cool = s->create_challenge(challenge("c9", "h1", {"cred-a"}), policy, kNow + 250);
  assert_int_equal(static_cast<int>(cool.error().code), static_cast<int>(StoreErrc::cooldown));
  assert_int_equal(cool.error().retry_after, 201 + 600 - 250);
  assert_true(
      s->create_challenge(challenge("c9", "h1", {"cred-a"}, kNow + 900), policy, kNow + 801).ok());
}

// Issue 19 item 6: an unanswered push (cancelled by its host, superseded by
// a new one, expired) counts towards the cooldown as a denial does.
void unanswered_challenges_start_a_cooldown(void**) {
  auto s = fresh_store();
  assert_true(s->add_host(host("h1", "web1")).ok());
  paired_device(*s, "h1", "cred-a");
  const FatiguePolicy policy{3, 600, 600, 0};
  assert_true(s->create_challenge(challenge("c1", "h1", {"cred-a"}, kNow + 30), policy, kNow).ok());
  assert_int_equal(s->expire_due(kNow + 30)->size(), 1);                   // expired: 1
  assert_true(s->create_challenge(challenge("c2", "h1", {"cred-a"}), policy, kNow + 31).ok());
  assert_true(s->cancel_challenge("c2", kNow + 32).ok());                  // cancelled: 2
  assert_true(s->create_challenge(challenge("c3", "h1", {"cred-a"}), policy, kNow + 33).ok());
  assert_true(s->create_challenge(challenge("c4", "h1", {"cred-a"}), policy, kNow + 34).ok());
  // c3 superseded: 3 within the window.
  auto cool = s->create_challenge(challenge("c5", "h1", {"cred-a"}), policy, kNow + 35);
  assert_int_equal(static_cast<int>(cool.error().code), static_cast<int>(StoreErrc::cooldown));
  assert_int_equal(cool.error().retry_after, 34 + 600 - 35);
  // The refused request counts as suppressed for the phone.
  assert_int_equal(s->suppressed_requests("key-1", kNow + 36)->count, 1);
}

// Issue 19 item 6: one phone gets at most its bound of notifications a
// minute, across hosts; over it a challenge is refused (cooldown) when no
// phone it names has room, and the suppressed requests are counted and told.
void a_phone_gets_at_most_its_bound_across_hosts(void**) {
  auto s = fresh_store();
  assert_true(s->add_host(host("h1", "web1")).ok());
  assert_true(s->add_host(host("h2", "web2")).ok());
  paired_device(*s, "h1", "cred-a", "key-1");
  paired_device(*s, "h2", "cred-b", "key-1");
  const FatiguePolicy policy{0, 600, 600, 3};
  for (int i = 0; i < 3; ++i) {
    const bool first = i % 2 == 0;
    auto made = s->create_challenge(challenge("c" + std::to_string(i), first ? "h1" : "h2",
                                              {first ? "cred-a" : "cred-b"}),
                                    policy, kNow + i);
    assert_true(made.ok());
    assert_int_equal(made->notify.size(), 1);
    assert_string_equal(made->notify[0].api_key_id.c_str(), "key-1");
  }
  for (int i = 3; i < 5; ++i) {
    auto over = s->create_challenge(challenge("c" + std::to_string(i), i % 2 ? "h2" : "h1",
                                              {i % 2 ? "cred-b" : "cred-a"}),
                                    policy, kNow + 10);
    assert_int_equal(static_cast<int>(over.error().code), static_cast<int>(StoreErrc::cooldown));
    assert_int_equal(over.error().retry_after, 50);
  }
  auto counted = s->suppressed_requests("key-1", kNow + 11);
  assert_int_equal(counted->count, 2);
  assert_int_equal(counted->since, kNow + 10);
  assert_int_equal(counted->last, kNow + 10);
  assert_int_equal(s->suppressed_requests("key-2", kNow + 11)->count, 0);
  // A minute after the first, room for one: its notification tells the two.
  auto later = s->create_challenge(challenge("c9", "h1", {"cred-a"}), policy, kNow + 60);
  assert_true(later.ok());
  assert_int_equal(later->notify.at(0).suppressed_before, 2);
  auto again = s->create_challenge(challenge("c10", "h2", {"cred-b"}), policy, kNow + 61);
  assert_true(again.ok());
  assert_int_equal(again->notify.at(0).suppressed_before, 0);
  // The count stays for the app until a day passes without one.
  assert_int_equal(s->suppressed_requests("key-1", kNow + 62)->count, 2);
  assert_int_equal(s->suppressed_requests("key-1", kNow + 10 + kSuppressedMemory)->count, 0);
}

// A phone over its bound does not keep the user's other phone from hearing.
void a_phone_over_its_bound_leaves_the_other_phone_notified(void**) {
  auto s = fresh_store();
  assert_true(s->add_host(host("h1", "web1")).ok());
  assert_true(s->add_host(host("h2", "web2")).ok());
  paired_device(*s, "h1", "cred-a", "key-1");
  paired_device(*s, "h1", "cred-c", "key-2");
  paired_device(*s, "h2", "cred-b", "key-1");
  const FatiguePolicy policy{0, 600, 600, 2};
  assert_true(s->create_challenge(challenge("c1", "h2", {"cred-b"}), policy, kNow).ok());
  assert_true(s->create_challenge(challenge("c2", "h2", {"cred-b"}), policy, kNow).ok());
  auto both = s->create_challenge(challenge("c3", "h1", {"cred-a", "cred-c"}), policy, kNow + 1);
  assert_true(both.ok());
  assert_int_equal(both->notify.size(), 1);
  assert_string_equal(both->notify[0].api_key_id.c_str(), "key-2");
  assert_int_equal(s->suppressed_requests("key-1", kNow + 2)->count, 1);
}

void a_device_key_sees_its_users_challenges(void**) {
  auto s = fresh_store();
  assert_true(s->add_host(host("h1", "web1")).ok());
  assert_true(s->add_host(host("h2", "web2")).ok());
  paired_device(*s, "h1", "cred-a", "key-1");
  paired_device(*s, "h2", "cred-b", "key-2");
  assert_true(s->create_challenge(challenge("c1", "h1", {"cred-a"}), {}, kNow).ok());
  assert_true(s->create_challenge(challenge("c2", "h2", {"cred-b"}), {}, kNow).ok());
  auto mine = s->challenges_for_api_key("key-1", true, 100, kNow + 1);
  assert_int_equal(mine->size(), 1);
  assert_string_equal(mine->at(0).challenge_id.c_str(), "c1");
  assert_int_equal(s->challenges_for_api_key("key-1", true, 100, kNow + 91)->size(), 0);
  assert_int_equal(s->challenges_for_api_key("key-1", false, 100, kNow + 91)->size(), 1);
}

void the_listener_hears_every_status_change(void**) {
  auto s = fresh_store();
  std::vector<std::string> heard;
  s->set_change_listener([&](ChangeKind kind, const std::string& id) {
    heard.push_back((kind == ChangeKind::challenge ? "c:" : "p:") + id);
  });
  assert_true(s->add_host(host("h1", "web1")).ok());
  auto dev = paired_device(*s, "h1", "cred-a");
  heard.clear();
  assert_true(s->create_challenge(challenge("c1", "h1", {"cred-a"}), {}, kNow).ok());
  assert_true(s->decide_challenge("c1", dev.device_id, Decision::deny, std::nullopt, kNow).ok());
  assert_int_equal(heard.size(), 2);
  assert_string_equal(heard[0].c_str(), "c:c1");
  assert_string_equal(heard[1].c_str(), "c:c1");
}

void devices_are_listed_renamed_and_revoked(void**) {
  auto s = fresh_store();
  assert_true(s->add_host(host("h1", "web1")).ok());
  auto dev = paired_device(*s, "h1", "cred-a");
  assert_int_equal(s->list_devices({"h1", "alice"})->size(), 1);
  assert_int_equal(s->list_devices({"h1", "bob"})->size(), 0);
  assert_int_equal(s->list_devices({})->size(), 1);
  assert_string_equal(s->rename_device(dev.device_id, "Work phone")->name.c_str(), "Work phone");
  assert_true(s->revoke_device(dev.device_id, kNow)->revoked);
  assert_true(s->devices_by_api_key("key-1")->at(0).revoked);
  assert_int_equal(static_cast<int>(s->revoke_device("nope", kNow).error().code),
                   static_cast<int>(StoreErrc::not_found));
}

void removing_a_host_revokes_its_devices(void**) {
  auto s = fresh_store();
  assert_true(s->add_host(host("h1", "web1")).ok());
  auto dev = paired_device(*s, "h1", "cred-a");
  assert_true(s->remove_host("h1", kNow).ok());
  assert_true(s->find_device(dev.device_id)->revoked);
}

void audit_lists_newest_first_by_user(void**) {
  auto s = fresh_store();
  for (int i = 0; i < 5; ++i) {
    AuditEvent e;
    e.time = kNow + i;
    e.event = "challenge_created";
    e.host = "web1";
    e.user = i % 2 ? "bob" : "alice";
    e.ms = i;
    assert_true(s->append_audit(e).ok());
  }
  auto all = s->list_audit("", 100);
  assert_int_equal(all->size(), 5);
  assert_int_equal(all->at(0).time, kNow + 4);
  auto bob = s->list_audit("bob", 100);
  assert_int_equal(bob->size(), 2);
  assert_int_equal(s->list_audit("", 2)->size(), 2);
}

ChangeRecords records(const std::string& nonce, const std::string& event) {
  ChangeRecords r;
  r.nonce_principal = "host:h1";
  r.nonce = nonce;
  r.nonce_ttl = 600;
  AuditEvent e;
  e.time = kNow;
  e.event = event;
  e.host = "web1";
  e.user = "alice";
  e.challenge_id = nonce;
  r.audit.push_back(e);
  return r;
}

// ChangeRecords: the nonce and the audit events commit with the change, or
// not at all.
void a_change_records_its_nonce_and_audit_all_or_nothing(void**) {
  auto s = fresh_store();
  assert_true(s->add_host(host("h1", "web1")).ok());
  auto dev = paired_device(*s, "h1", "cred-a");
  assert_true(s->create_challenge(challenge("c1", "h1", {"cred-a"}), {}, kNow,
                                  records("n1", "challenge_created")).ok());
  assert_int_equal(s->list_audit("alice", 10)->size(), 1);
  assert_false(s->remember_nonce("host:h1", "n1", kNow + 1, 600).value());  // remembered

  // A seen nonce: replayed_nonce, no challenge, no audit event.
  assert_true(s->remember_nonce("host:h1", "n2", kNow, 600).value());
  auto replay = s->create_challenge(challenge("c2", "h1", {"cred-a"}), {}, kNow + 1,
                                    records("n2", "challenge_created"));
  assert_int_equal(static_cast<int>(replay.error().code),
                   static_cast<int>(StoreErrc::replayed_nonce));
  assert_int_equal(static_cast<int>(s->find_challenge("c2", kNow + 1).error().code),
                   static_cast<int>(StoreErrc::not_found));
  assert_int_equal(static_cast<int>(s->find_challenge("c1", kNow + 1)->status),
                   static_cast<int>(ChallengeStatus::pending));  // not superseded
  assert_int_equal(s->list_audit("alice", 10)->size(), 1);

  // A refused change keeps neither its nonce nor its event.
  auto refused = s->create_challenge(challenge("c3", "h1", {"other"}), {}, kNow + 1,
                                     records("n3", "challenge_created"));
  assert_int_equal(static_cast<int>(refused.error().code),
                   static_cast<int>(StoreErrc::no_devices));
  assert_true(s->remember_nonce("host:h1", "n3", kNow + 1, 600).value());
  assert_int_equal(s->list_audit("alice", 10)->size(), 1);

  // Decisions alike.
  assert_true(s->remember_nonce("host:h1", "n4", kNow, 600).value());
  auto replayed_decision = s->decide_challenge("c1", dev.device_id, Decision::deny, std::nullopt,
                                               kNow + 2, records("n4", "challenge_decided"));
  assert_int_equal(static_cast<int>(replayed_decision.error().code),
                   static_cast<int>(StoreErrc::replayed_nonce));
  assert_int_equal(static_cast<int>(s->find_challenge("c1", kNow + 2)->status),
                   static_cast<int>(ChallengeStatus::pending));
  assert_true(s->decide_challenge("c1", dev.device_id, Decision::deny, std::nullopt, kNow + 2,
                                  records("n5", "challenge_decided")).ok());
  auto events = s->list_audit("alice", 10);
  assert_int_equal(events->size(), 2);
  assert_string_equal(events->at(0).event.c_str(), "challenge_decided");
  assert_false(s->remember_nonce("host:h1", "n5", kNow + 3, 600).value());
}

// The number of rows of `table` matching `where` in the last fresh store's
// database (a statement of its own, beside the store's connection).
long rows_where(const std::string& table, const std::string& where) {
  const std::string query = "SELECT count(*) FROM " + table + " WHERE " + where;
  if (is_sqlite()) {
    sqlite3* db = nullptr;
    assert_int_equal(sqlite3_open_v2(g_last_sqlite_path.c_str(), &db, SQLITE_OPEN_READONLY,
                                     nullptr), SQLITE_OK);
    sqlite3_stmt* st = nullptr;
    assert_int_equal(sqlite3_prepare_v2(db, query.c_str(), -1, &st, nullptr), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    const long n = static_cast<long>(sqlite3_column_int64(st, 0));
    sqlite3_finalize(st);
    sqlite3_close(db);
    return n;
  }
  const long n = twostep::relay::test::pg_count(g_last_pg_url, query);
  if (n < 0) fail_msg("cannot count %s", table.c_str());
  return n;
}

void audit_event_at(Store& s, Seconds time, const std::string& id) {
  AuditEvent e;
  e.time = time;
  e.event = "challenge_created";
  e.host = "web1";
  e.user = "alice";
  e.challenge_id = id;
  assert_true(s.append_audit(e).ok());
}

// Retention: what is past it goes, in batches; what is recent stays, and so
// does every row a pending login needs, however old: a pending challenge
// (also one past its expiry that expire_due has not written yet), its
// credentials, its host and active device, and a decided challenge whose
// expiry has not passed (its module may still ask for the answer).
void prune_removes_old_rows_and_keeps_what_logins_need(void**) {
  auto s = fresh_store();
  for (const char* h : {"h1", "h2", "h3", "h4"}) {
    assert_true(s->add_host(host(h, std::string("web-") + h)).ok());
  }
  auto d1 = paired_device(*s, "h1", "c1", "key-1");
  auto d2 = paired_device(*s, "h2", "c2", "key-2");
  auto d3 = paired_device(*s, "h3", "c3", "key-3");
  auto d4 = paired_device(*s, "h4", "c4", "key-4");
  auto gone = paired_device(*s, "h1", "c5", "key-5");
  assert_true(s->revoke_device(gone.device_id, kNow + 20).ok());
  assert_true(s->put_push_subscription({"key-1", "https://push.example/1", "p", "a", kNow}).ok());
  assert_true(s->put_push_subscription({"key-5", "https://push.example/5", "p", "a", kNow}).ok());

  const Seconds now = kNow + 3 * 86400;
  // Old and decided: goes. Old, pending, past its expiry: stays.
  assert_true(s->create_challenge(challenge("old", "h1", {"c1"}), {}, kNow + 10).ok());
  assert_true(s->decide_challenge("old", d1.device_id, Decision::approve, std::nullopt,
                                  kNow + 11).ok());
  assert_true(s->create_challenge(challenge("stale", "h2", {"c2"}, kNow + 100), {}, kNow + 10).ok());
  // Old decision, expiry not passed: stays. Recent decision: stays.
  assert_true(s->create_challenge(challenge("long", "h3", {"c3"}, now + 100), {}, kNow + 30).ok());
  assert_true(s->decide_challenge("long", d3.device_id, Decision::deny, std::nullopt,
                                  kNow + 40).ok());
  assert_true(s->create_challenge(challenge("recent", "h4", {"c4"}, now - 50), {}, now - 100).ok());
  assert_true(s->decide_challenge("recent", d4.device_id, Decision::approve, std::nullopt,
                                  now - 90).ok());
  for (int i = 0; i < 5; ++i) audit_event_at(*s, kNow + i, "old-" + std::to_string(i));
  audit_event_at(*s, now - 10, "recent");
  assert_true(s->create_pairing(PairingRecord{"p-new", "h1", "alice", std::string(32, 'h'),
                                              now - 10, now + 590, PairingStatus::open, {}, {}})
                  .ok());
  assert_true(s->remember_nonce("host:h1", "n-old", kNow, 600).value());
  assert_true(s->remember_nonce("host:h1", "n-live", now - 5, 600).value());

  RetentionPolicy policy;  // challenges and pairings: 1 day (the defaults)
  policy.audit = 86400;
  policy.revoked_devices = 86400;
  policy.batch = 2;
  int batches = 0;
  PruneCounts sum;
  for (bool more = true; more; ++batches) {
    auto c = s->prune_batch(policy, now);
    if (!c) fail_msg("prune: %s", c.error().message.c_str());
    sum.challenges += c->challenges;
    sum.audit += c->audit;
    sum.pairings += c->pairings;
    sum.devices += c->devices;
    sum.push_subscriptions += c->push_subscriptions;
    sum.nonces += c->nonces;
    more = c->more;
    assert_true(batches < 20);
  }
  assert_true(batches > 1);  // 5 old audit events, 2 a batch
  assert_int_equal(sum.challenges, 1);
  assert_int_equal(sum.audit, 5);
  assert_int_equal(sum.pairings, 5);  // the five paired_device pairings
  assert_int_equal(sum.devices, 1);
  assert_int_equal(sum.push_subscriptions, 1);
  assert_int_equal(sum.nonces, 1);

  assert_int_equal(static_cast<int>(s->find_challenge("old", now).error().code),
                   static_cast<int>(StoreErrc::not_found));
  assert_int_equal(rows_where("challenge_credentials", "challenge_id = 'old'"), 0);
  for (const char* kept : {"stale", "long", "recent"}) {
    auto c = s->find_challenge(kept, now);
    if (!c) fail_msg("%s was pruned", kept);
    assert_int_equal(c->credential_ids.size(), 1);
  }
  // The stale one is still pending in the store: its expiry is audited once.
  auto expired = s->expire_due(now);
  assert_int_equal(expired->size(), 1);
  assert_string_equal(expired->at(0).challenge_id.c_str(), "stale");
  auto events = s->list_audit("", 100);
  assert_int_equal(events->size(), 1);
  assert_string_equal(events->at(0).challenge_id.c_str(), "recent");
  assert_true(s->find_pairing("p-new").ok());
  assert_false(s->find_pairing("pair-h1c1").ok());
  for (const auto& d : {d1, d2, d3, d4}) assert_true(s->find_device(d.device_id).ok());
  assert_false(s->find_device(gone.device_id).ok());
  assert_int_equal(s->push_subscriptions("key-1")->size(), 1);
  assert_int_equal(s->push_subscriptions("key-5")->size(), 0);
  assert_false(s->remember_nonce("host:h1", "n-live", now, 600).value());
  assert_int_equal(rows_where("nonces", "nonce = 'n-old'"), 0);
  // A login after the prune works as before.
  assert_true(s->create_challenge(challenge("next", "h1", {"c1"}, now + 90), {}, now).ok());
  assert_true(s->decide_challenge("next", d1.device_id, Decision::approve, std::nullopt,
                                  now + 1).ok());
}

// 0 keeps for ever; a device revoked before revoked_at existed (0) starts
// its retention at the first prune.
void prune_keeps_for_ever_with_zero(void**) {
  auto s = fresh_store();
  assert_true(s->add_host(host("h1", "web1")).ok());
  auto d = paired_device(*s, "h1", "c1");
  assert_true(s->revoke_device(d.device_id, kNow).ok());
  audit_event_at(*s, kNow, "a");
  RetentionPolicy forever;
  forever.challenges = forever.audit = forever.pairings = forever.revoked_devices = 0;
  auto c = s->prune_batch(forever, kNow + 100 * 86400);
  assert_true(c.ok());
  assert_int_equal(c->total(), 0);
  assert_int_equal(s->list_audit("", 10)->size(), 1);
  assert_true(s->find_device(d.device_id).ok());
}

// audit_after: oldest first after the seq given, so a reader resumes where
// it stopped; the pruned ones are simply no longer there.
void audit_after_resumes_after_the_last_seq_seen(void**) {
  auto s = fresh_store();
  for (int i = 0; i < 5; ++i) audit_event_at(*s, kNow + i, "e" + std::to_string(i));
  auto first = s->audit_after(0, 2);
  assert_int_equal(first->size(), 2);
  assert_string_equal(first->at(0).challenge_id.c_str(), "e0");
  assert_string_equal(first->at(1).challenge_id.c_str(), "e1");
  auto rest = s->audit_after(first->back().seq, 100);
  assert_int_equal(rest->size(), 3);
  assert_string_equal(rest->at(0).challenge_id.c_str(), "e2");
  assert_true(rest->at(0).seq > first->back().seq);
  assert_int_equal(s->audit_after(rest->back().seq, 100)->size(), 0);
  RetentionPolicy policy;
  policy.audit = 86400;
  assert_true(s->prune_batch(policy, kNow + 3 + 86400).ok());  // e0..e2 go
  auto kept = s->audit_after(0, 100);
  assert_int_equal(kept->size(), 2);
  assert_string_equal(kept->at(0).challenge_id.c_str(), "e3");
}

void sqlite_checkpoints_the_wal_while_open(void**) {
  if (!is_sqlite()) skip();
  auto s = fresh_store();
  struct stat before {};
  assert_int_equal(stat(g_last_sqlite_path.c_str(), &before), 0);
  // Well past the 1000-page threshold; only a checkpoint writes the main
  // file (the rows go to the WAL), and the store's connection stays open.
  for (int i = 0; i < 1500; ++i) {
    AuditEvent e;
    e.time = kNow;
    e.event = "challenge_created";
    e.user = "alice";
    e.device = std::string(3000, static_cast<char>('a' + i % 26));
    assert_true(s->append_audit(e).ok());
  }
  struct stat after {};
  for (int waited = 0; waited < 100; ++waited) {  // the checkpointer's thread: <= 10 s
    assert_int_equal(stat(g_last_sqlite_path.c_str(), &after), 0);
    if (after.st_size > before.st_size + 1000 * 4096) break;
    usleep(100 * 1000);
  }
  assert_true(after.st_size > before.st_size + 1000 * 4096);
  assert_int_equal(s->list_audit("alice", 2000)->size(), 1500);
}

long long file_size(const std::string& path) {
  struct stat info {};
  return stat(path.c_str(), &info) == 0 ? static_cast<long long>(info.st_size) : -1;
}

void append_big_events(Store& s, int count) {
  for (int i = 0; i < count; ++i) {
    AuditEvent e;
    e.time = kNow;
    e.event = "challenge_created";
    e.user = "alice";
    e.device = std::string(3000, static_cast<char>('a' + i % 26));
    assert_true(s.append_audit(e).ok());
  }
}

// A reader that holds a snapshot (a backup, `twostepd audit`) keeps the
// checkpoints from starting the WAL over, so it grows; once the reader is
// gone the WAL goes back to journal_size_limit (16 MiB) instead of keeping
// its largest size for ever.
void sqlite_wal_shrinks_back_after_a_reader_held_it(void**) {
  if (!is_sqlite()) skip();
  auto s = fresh_store();
  const std::string wal = g_last_sqlite_path + "-wal";
  constexpr long long kLimit = 16LL * 1024 * 1024;
  sqlite3* reader = nullptr;
  assert_int_equal(sqlite3_open_v2(g_last_sqlite_path.c_str(), &reader, SQLITE_OPEN_READONLY,
                                   nullptr), SQLITE_OK);
  assert_int_equal(sqlite3_exec(reader, "BEGIN; SELECT count(*) FROM audit;", nullptr, nullptr,
                                nullptr), SQLITE_OK);
  append_big_events(*s, 7000);  // about 21 MiB of WAL frames
  assert_true(file_size(wal) > kLimit);
  assert_int_equal(sqlite3_exec(reader, "COMMIT", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(reader);
  // The next checkpoint completes; the write after it starts the WAL over
  // and cuts the file. Bounded, so that never is a failure, not a hang.
  for (int round = 0; round < 60 && file_size(wal) > kLimit; ++round) {
    append_big_events(*s, 100);
    usleep(50 * 1000);
  }
  assert_true(file_size(wal) <= kLimit);
}

void sqlite_state_survives_reopen_and_newer_schema_is_refused(void**) {
  if (!is_sqlite()) skip();
  std::string path;
  {
    auto s = fresh_store();
    path = g_last_sqlite_path;
    assert_true(s->add_host(host("h1", "web1")).ok());
  }
  {
    auto again = open_store(path);
    assert_true(again.ok());
    assert_true(again.value()->find_host("h1").ok());
  }
  sqlite3* db = nullptr;
  assert_int_equal(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  assert_int_equal(sqlite3_exec(db, "PRAGMA user_version=999", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
  auto newer = open_store(path);
  assert_false(newer.ok());
  assert_int_equal(static_cast<int>(newer.error().code), static_cast<int>(StoreErrc::schema_too_new));
  assert_non_null(std::strstr(newer.error().message.c_str(), "newer"));
}

void a_setting_keeps_the_first_value_written(void**) {
  auto s = fresh_store();
  auto none = s->get_setting("vapid_key_v1");
  assert_false(none.ok());
  assert_int_equal(static_cast<int>(none.error().code), static_cast<int>(StoreErrc::not_found));
  const std::string first("\x00\x01secret", 8);
  auto put = s->put_setting_if_absent("vapid_key_v1", first);
  assert_true(put.ok());
  assert_true(put.value() == first);
  // A second first start (another instance) gets the stored value back.
  auto again = s->put_setting_if_absent("vapid_key_v1", "other");
  assert_true(again.ok());
  assert_true(again.value() == first);
  assert_true(s->get_setting("vapid_key_v1").value() == first);
}

void push_subscriptions_are_kept_per_key_and_deleted(void**) {
  auto s = fresh_store();
  const std::string p256dh(65, '\x04'), auth(16, 'a');
  assert_true(s->put_push_subscription(PushSubscription{"key-1", "https://push.example/a", p256dh, auth, kNow}).ok());
  assert_true(s->put_push_subscription(PushSubscription{"key-1", "https://push.example/b", p256dh, auth, kNow + 1}).ok());
  assert_true(s->put_push_subscription(PushSubscription{"key-2", "https://push.example/c", p256dh, auth, kNow}).ok());
  // The same endpoint again replaces (a browser re-subscribing).
  assert_true(s->put_push_subscription(PushSubscription{"key-1", "https://push.example/a", p256dh, auth, kNow + 2}).ok());
  auto k1 = s->push_subscriptions("key-1");
  assert_true(k1.ok());
  assert_int_equal(k1->size(), 2);
  assert_true(k1->at(0).endpoint == "https://push.example/b");  // oldest first
  assert_true(k1->at(1).p256dh == p256dh && k1->at(1).auth == auth && k1->at(1).created == kNow + 2);
  assert_int_equal(s->delete_push_subscription("https://push.example/b").value(), 1);
  assert_int_equal(s->delete_push_subscription("https://push.example/b").value(), 0);
  assert_int_equal(s->delete_push_subscriptions("key-1").value(), 1);
  assert_int_equal(s->push_subscriptions("key-1")->size(), 0);
  assert_int_equal(s->push_subscriptions("key-2")->size(), 1);
}

// Issue 20 part 4: the token buckets that several instances share. Both
// stores keep them (the suite runs on each); only where several instances
// write is the relay told to use them.
void token_buckets_refill_at_their_rate_and_are_forgotten_when_full(void**) {
  auto s = fresh_store();
  assert_true(s->shares_rate_limits() == !is_sqlite());
  const std::int64_t t0 = kNow * 1000;
  auto take = [&](const char* bucket, double rate, double burst, std::int64_t at) {
    auto r = s->take_token(bucket, rate, burst, at);
    if (!r) fail_msg("take_token: %s", r.error().message.c_str());
    return r.value();
  };
  for (int i = 0; i < 3; ++i) assert_int_equal(take("a", 1, 3, t0), 0);
  assert_int_equal(take("a", 1, 3, t0), 1);        // empty: one second to the next token
  assert_int_equal(take("a", 1, 3, t0 + 500), 1);  // half a token is not one
  assert_int_equal(take("a", 1, 3, t0 + 1000), 0);
  assert_int_equal(take("a", 1, 3, t0 + 1000), 1);
  assert_int_equal(take("a", 1, 3, t0 + 400), 1);  // a clock behind refills nothing
  // Another bucket is another budget; 10 a minute: the third waits 6 s.
  assert_int_equal(take("m", 10.0 / 60, 2, t0), 0);
  assert_int_equal(take("m", 10.0 / 60, 2, t0), 0);
  assert_int_equal(take("m", 10.0 / 60, 2, t0), 6);
  // Long unused: full again, never more than the burst.
  const std::int64_t later = t0 + 1000LL * 86400 * 365 * 50;
  for (int i = 0; i < 3; ++i) assert_int_equal(take("a", 1, 3, later), 0);
  assert_int_equal(take("a", 1, 3, later), 1);
  // Full buckets are forgotten, the others kept.
  auto forgotten = s->forget_full_buckets(later);
  assert_true(forgotten.ok());
  assert_int_equal(forgotten.value(), 1);  // "m"; "a" is empty at `later`
  assert_int_equal(take("m", 10.0 / 60, 2, later), 0);
  assert_int_equal(take("a", 1, 3, later), 1);
}

void sqlite_schema_1_migrates_to_web_push(void**) {
  if (!is_sqlite()) skip();
  std::string path;
  {
    auto s = fresh_store();
    path = g_last_sqlite_path;
    assert_true(s->add_host(host("h1", "web1")).ok());
  }
  // Make it a version-1 database, as the first twostepd left it.
  sqlite3* db = nullptr;
  assert_int_equal(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  assert_int_equal(sqlite3_exec(db, "DROP TABLE settings; DROP TABLE push_subscriptions; DROP TABLE phone_notices; "
                                "DROP TABLE phone_suppressed; DROP TABLE rate_buckets; "
                                "ALTER TABLE challenges DROP COLUMN digest_version; "
                                "ALTER TABLE challenges DROP COLUMN command; "
                                "ALTER TABLE challenges DROP COLUMN target_user; "
                                "ALTER TABLE challenges DROP COLUMN location; "
                                "DROP INDEX audit_time; DROP INDEX challenges_decided; DROP INDEX pairings_expires; "
                                "ALTER TABLE devices DROP COLUMN revoked_at; PRAGMA user_version=1",
                                nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
  auto again = open_store(path);
  assert_true(again.ok());
  assert_true(again.value()->find_host("h1").ok());
  assert_true(again.value()->put_setting_if_absent("x", "y").ok());
  assert_true(again.value()->push_subscriptions("key-1").ok());
  // And on to the newest version: challenges keep a context.
  paired_device(*again.value(), "h1", "cred-a");
  NewChallenge with = challenge("c1", "h1", {"cred-a"});
  with.context = ChallengeContext{"sudo ls", "", ""};
  assert_true(again.value()->create_challenge(with, {}, kNow).ok());
  assert_string_equal(again.value()->find_challenge("c1", kNow + 1)->context->command.c_str(), "sudo ls");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s sqlite:<dir> | postgresql://...\n", argv[0]);
    return 2;
  }
  g_location = argv[1];
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(hosts_are_added_found_listed_and_removed),
      cmocka_unit_test(a_nonce_is_accepted_once_until_forgotten),
      cmocka_unit_test(pairing_registers_once_and_confirms_once),
      cmocka_unit_test(the_same_phone_confirms_onto_its_record),
      cmocka_unit_test(an_expired_pairing_refuses_registration),
      cmocka_unit_test(a_challenge_needs_an_active_listed_device),
      cmocka_unit_test(a_new_challenge_cancels_the_pending_one),
      cmocka_unit_test(a_challenge_keeps_its_context),
      cmocka_unit_test(an_approval_is_stored_with_its_assertion_once),
      cmocka_unit_test(an_expired_challenge_refuses_decisions),
      cmocka_unit_test(cancel_changes_only_a_pending_challenge),
      cmocka_unit_test(a_report_blocks_push_until_unblocked),
      cmocka_unit_test(three_denials_start_a_cooldown),
      cmocka_unit_test(unanswered_challenges_start_a_cooldown),
      cmocka_unit_test(a_phone_gets_at_most_its_bound_across_hosts),
      cmocka_unit_test(a_phone_over_its_bound_leaves_the_other_phone_notified),
      cmocka_unit_test(a_device_key_sees_its_users_challenges),
      cmocka_unit_test(the_listener_hears_every_status_change),
      cmocka_unit_test(devices_are_listed_renamed_and_revoked),
      cmocka_unit_test(removing_a_host_revokes_its_devices),
      cmocka_unit_test(audit_lists_newest_first_by_user),
      cmocka_unit_test(a_change_records_its_nonce_and_audit_all_or_nothing),
      cmocka_unit_test(prune_removes_old_rows_and_keeps_what_logins_need),
      cmocka_unit_test(prune_keeps_for_ever_with_zero),
      cmocka_unit_test(audit_after_resumes_after_the_last_seq_seen),
      cmocka_unit_test(sqlite_checkpoints_the_wal_while_open),
      cmocka_unit_test(sqlite_wal_shrinks_back_after_a_reader_held_it),
      cmocka_unit_test(sqlite_state_survives_reopen_and_newer_schema_is_refused),
      cmocka_unit_test(a_setting_keeps_the_first_value_written),
      cmocka_unit_test(push_subscriptions_are_kept_per_key_and_deleted),
      cmocka_unit_test(sqlite_schema_1_migrates_to_web_push),
      cmocka_unit_test(token_buckets_refill_at_their_rate_and_are_forgotten_when_full),
  };
  return cmocka_run_group_tests(tests, nullptr, nullptr);
}
