// The PostgreSQL store with several instances on one database: what the
// generic suite (test_store.cpp, also run on PostgreSQL) cannot show with
// one Store object.
//
//   test_relay_store_pg <postgresql://... maintenance URL>
//
// (tests/relay/with_postgres.py provides a private cluster.) Each test makes
// its own database and opens two Store objects, A and B, on it: two twostepd
// instances.
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <libpq-fe.h>

#include "pg_test_support.hpp"
#include "store.hpp"
#include "store_pg.hpp"

// cmocka last: its macros (fail, ...) clash with the standard library's names.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
extern "C" {
#include <cmocka.h>
}

using namespace twostep::relay;
using namespace std::chrono_literals;
namespace pgtest = twostep::relay::test;

namespace {

std::string g_admin_url;  // argv[1]
int g_counter = 0;

constexpr Seconds kNow = 1764300000;

std::string fresh_database() {
  auto url = pgtest::create_database(
      g_admin_url, "inst_" + std::to_string(getpid()) + "_" + std::to_string(++g_counter));
  if (url.empty()) fail_msg("cannot create a test database");
  return url;
}

std::unique_ptr<Store> open(const std::string& url) {
  auto s = open_store(url);
  if (!s) fail_msg("open_store: %s", s.error().message.c_str());
  return std::move(s.value());
}

// Records what a change listener heard, from any thread.
class Heard {
 public:
  Store::ChangeListener listener() {
    return [this](ChangeKind kind, const std::string& id) {
      std::lock_guard lock(mu_);
      items_.push_back((kind == ChangeKind::challenge ? "c:" : "p:") + id);
      cv_.notify_all();
    };
  }
  // Waits until `item` was heard at least `times` times.
  bool wait_for(const std::string& item, std::chrono::milliseconds timeout, long times = 1) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [&] {
      return std::count(items_.begin(), items_.end(), item) >= times;
    });
  }
  long count(const std::string& item) {
    std::lock_guard lock(mu_);
    return std::count(items_.begin(), items_.end(), item);
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::string> items_;
};

HostRecord host(const std::string& id, const std::string& name) {
  return HostRecord{id, name, std::string(32, '\x07'), kNow, false};
}

DeviceRecord paired_device(Store& s, const std::string& host_id, const std::string& user,
                           const std::string& cred, Seconds now = kNow) {
  const std::string pid = "pair-" + host_id + user + cred;
  assert_true(s.create_pairing(PairingRecord{pid, host_id, user, std::string(32, 'h'), now,
                                             now + 600, PairingStatus::open, {}, {}}).ok());
  PairingRegistration reg{"Pixel", cred, "cred-spki", "api-spki", std::string(32, 'p'),
                          "key-" + user};
  assert_true(s.register_pairing(pid, reg, now + 1).ok());
  auto d = s.confirm_pairing(pid, "dev-" + user + cred, now + 2);
  if (!d) fail_msg("confirm: %s", d.error().message.c_str());
  return d.value();
}

NewChallenge challenge(const std::string& id, const std::string& user, Seconds expires) {
  return NewChallenge{id, "h1", user, "sshd", "203.0.113.5", "ssh", {"cred-a"},
                      std::string(43, 'n'), expires, ChallengeContext{"sudo ls", "", "this network"}};
}

// A statement that fails unless twostep_schema holds exactly one row and it
// meets `condition` (a query returning no row would succeed).
std::string schema_check(const std::string& condition) {
  return "DO $$ BEGIN IF (SELECT count(*) FROM twostep_schema) <> 1 OR "
         "(SELECT count(*) FROM twostep_schema WHERE " + condition + ") <> 1 THEN "
         "RAISE EXCEPTION 'twostep_schema is not one row with " + condition + "'; END IF; END $$";
}

void a_newer_schema_is_refused_and_state_survives_reopen(void**) {
  const std::string url = fresh_database();
  {
    auto s = open(url);
    assert_true(s->add_host(host("h1", "web1")).ok());
  }
  assert_true(open(url)->find_host("h1").ok());  // migrations run once, data kept
  std::string error;
  assert_true(pgtest::pg_exec(url, "UPDATE twostep_schema SET version = 999", &error));
  auto newer = open_store(url);
  assert_false(newer.ok());
  assert_int_equal(static_cast<int>(newer.error().code), static_cast<int>(StoreErrc::schema_too_new));
  assert_non_null(std::strstr(newer.error().message.c_str(), "newer"));
  // Refused without touching it.
  assert_true(pgtest::pg_exec(url, schema_check("version = 999"), &error));
}

void schema_1_migrates_to_web_push(void**) {
  const std::string url = fresh_database();
  {
    auto s = open(url);
    assert_true(s->add_host(host("h1", "web1")).ok());
  }
  // Make it a version-1 database, as a twostepd without Web Push on
  // PostgreSQL left it.
  std::string error;
  if (!pgtest::pg_exec(url,
                       "DROP TABLE settings; DROP TABLE push_subscriptions; "
                       "DROP TABLE phone_notices; DROP TABLE phone_suppressed; "
                       "DROP TABLE rate_buckets; "
                       "ALTER TABLE challenges DROP COLUMN digest_version, DROP COLUMN command, "
                       "DROP COLUMN target_user, DROP COLUMN location; "
                       "DROP INDEX audit_time; DROP INDEX challenges_decided; "
                       "DROP INDEX pairings_expires; ALTER TABLE devices DROP COLUMN revoked_at; "
                       "UPDATE twostep_schema SET version = 1",
                       &error)) {
    fail_msg("make version 1: %s", error.c_str());
  }
  auto again = open(url);
  assert_true(again->find_host("h1").ok());
  // Migrated past version 1, in one row.
  assert_true(pgtest::pg_exec(url, schema_check("version > 1"), &error));
  auto put = again->put_setting_if_absent("x", "y");
  assert_true(put.ok());
  assert_true(put.value() == "y");
  assert_true(again->push_subscriptions("key-1").ok());
}

void two_instances_agree_on_one_setting(void**) {
  // Two twostepd starting at once on an empty database both make a VAPID
  // key and call put_setting_if_absent: both must use the one stored.
  const std::string url = fresh_database();
  auto a = open(url);
  auto b = open(url);
  constexpr int kThreads = 4;
  constexpr int kNames = 20;
  std::vector<std::vector<std::string>> got(kThreads, std::vector<std::string>(kNames));
  std::atomic<int> ready{0}, failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      Store& s = t % 2 ? *b : *a;
      const std::string mine = std::string("key\0", 4) + static_cast<char>('0' + t);
      ++ready;
      while (ready.load() < kThreads) std::this_thread::yield();
      for (int n = 0; n < kNames; ++n) {
        auto r = s.put_setting_if_absent("vapid_" + std::to_string(n), mine);
        if (r) got[static_cast<std::size_t>(t)][static_cast<std::size_t>(n)] = r.value();
        else ++failures;
      }
    });
  }
  for (auto& th : threads) th.join();
  assert_int_equal(failures.load(), 0);
  for (int n = 0; n < kNames; ++n) {
    auto stored = b->get_setting("vapid_" + std::to_string(n));
    assert_true(stored.ok());
    assert_int_equal(stored->size(), 5);
    for (int t = 0; t < kThreads; ++t) {
      assert_true(got[static_cast<std::size_t>(t)][static_cast<std::size_t>(n)] == stored.value());
    }
  }
}

void a_url_password_never_appears_in_errors(void**) {
  // A refused connection's message must not repeat the URL's password.
  const std::string url =
      pgtest::with_database(g_admin_url, "no_such_db") + "&password=hunter2-secret";
  auto s = open_store(url);
  assert_false(s.ok());
  assert_int_equal(static_cast<int>(s.error().code), static_cast<int>(StoreErrc::backend));
  assert_null(std::strstr(s.error().message.c_str(), "hunter2"));
  // What twostepd prints for a location.
  assert_string_equal(
      printable_location("postgresql://relay:hunter2@db.example/twostep?password=x2&port=5").c_str(),
      "postgresql://relay:***@db.example/twostep?password=***&port=5");
  assert_string_equal(printable_location("postgres://relay@db/t?sslmode=require").c_str(),
                      "postgres://relay@db/t?sslmode=require");
  assert_string_equal(printable_location("/var/lib/twostepd/twostepd.db").c_str(),
                      "/var/lib/twostepd/twostepd.db");
}

void a_change_through_one_instance_wakes_the_other(void**) {
  const std::string url = fresh_database();
  Heard heard_a, heard_b;  // outlive the stores (their threads call in)
  auto a = open(url);
  auto b = open(url);
  a->set_change_listener(heard_a.listener());
  b->set_change_listener(heard_b.listener());

  assert_true(a->add_host(host("h1", "web1")).ok());
  auto dev = paired_device(*a, "h1", "alice", "cred-a");
  assert_true(heard_b.wait_for("p:pair-h1alicecred-a", 5s, 2));  // registered, confirmed

  assert_true(a->create_challenge(challenge("c1", "alice", kNow + 90), {}, kNow).ok());
  assert_true(heard_b.wait_for("c:c1", 5s));
  // B decides; A (waiting in its long-poll) hears it.
  const auto decided = std::chrono::steady_clock::now();
  assert_true(b->decide_challenge("c1", dev.device_id, Decision::approve,
                                  Assertion{"cred-a", "ad", "cd", "sig"}, kNow + 1).ok());
  assert_true(heard_a.wait_for("c:c1", 5s, 2));
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::steady_clock::now() - decided).count();
  std::printf("decision through B heard by A after %lld ms\n", static_cast<long long>(ms));
  assert_true(ms < 1000);
  assert_int_equal(a->find_challenge("c1", kNow + 2)->status,
                   static_cast<int>(ChallengeStatus::approved));

  // Each instance hears its own change once (after its commit), not again
  // through NOTIFY.
  std::this_thread::sleep_for(300ms);
  assert_int_equal(heard_a.count("c:c1"), 2);  // created (own), decided (B's)
  assert_int_equal(heard_b.count("c:c1"), 2);  // created (A's), decided (own)
}

void only_one_instance_decides_a_challenge(void**) {
  const std::string url = fresh_database();
  auto a = open(url);
  auto b = open(url);
  assert_true(a->add_host(host("h1", "web1")).ok());
  auto dev = paired_device(*a, "h1", "alice", "cred-a");
  for (int round = 0; round < 10; ++round) {
    const std::string id = "d" + std::to_string(round);
    const FatiguePolicy no_cooldown{0, 600, 600, 0};  // half the threads deny; 10 notices
    assert_true(
        a->create_challenge(challenge(id, "alice", kNow + 900), no_cooldown, kNow + round).ok());
    std::atomic<int> ok{0}, already{0}, other{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
      threads.emplace_back([&, t] {
        Store& s = t % 2 ? *b : *a;
        auto r = s.decide_challenge(id, dev.device_id, t < 2 ? Decision::approve : Decision::deny,
                                    std::nullopt, kNow + round);
        if (r.ok()) ++ok;
        else if (r.error().code == StoreErrc::already_decided) ++already;
        else ++other;
      });
    }
    for (auto& th : threads) th.join();
    assert_int_equal(ok.load(), 1);
    assert_int_equal(already.load(), 3);
    assert_int_equal(other.load(), 0);
  }
}

// Issue 19 item 6: the notification bound of one phone holds across hosts
// and instances: 40 creations at once through two instances, 6 made.
void a_phones_bound_holds_across_instances(void**) {
  const std::string url = fresh_database();
  auto a = open(url);
  auto b = open(url);
  assert_true(a->add_host(host("h1", "web1")).ok());
  assert_true(a->add_host(host("h2", "web2")).ok());
  paired_device(*a, "h1", "alice", "cred-a");  // one phone (key-alice), two hosts
  paired_device(*a, "h2", "alice", "cred-b");
  const FatiguePolicy bound{0, 600, 600, 6};
  std::atomic<int> made{0}, refused{0}, other{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      Store& s = t % 2 ? *b : *a;
      for (int i = 0; i < 10; ++i) {
        const bool first = (t + i) % 2 == 0;
        NewChallenge c{"b" + std::to_string(t) + "-" + std::to_string(i), first ? "h1" : "h2",
                       "alice", "sshd", "203.0.113.5", "ssh", {first ? "cred-a" : "cred-b"},
                       std::string(43, 'n'), kNow + 900, std::nullopt};
        auto r = s.create_challenge(c, bound, kNow);
        if (r.ok()) ++made;
        else if (r.error().code == StoreErrc::cooldown) ++refused;
        else ++other;
      }
    });
  }
  for (auto& th : threads) th.join();
  assert_int_equal(made.load(), 6);
  assert_int_equal(refused.load(), 34);
  assert_int_equal(other.load(), 0);
  assert_int_equal(b->suppressed_requests("key-alice", kNow + 1)->count, 34);
}

void only_one_challenge_per_user_stays_pending(void**) {
  const std::string url = fresh_database();
  auto a = open(url);
  auto b = open(url);
  assert_true(a->add_host(host("h1", "web1")).ok());
  paired_device(*a, "h1", "alice", "cred-a");
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  // 60 superseded in a row: no cooldown, no notification bound (tested in
  // test_store.cpp).
  const FatiguePolicy unbounded{0, 600, 600, 0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      Store& s = t % 2 ? *b : *a;
      for (int i = 0; i < 15; ++i) {
        const std::string id = "t" + std::to_string(t) + "-" + std::to_string(i);
        if (!s.create_challenge(challenge(id, "alice", kNow + 900), unbounded, kNow).ok()) {
          ++failures;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  assert_int_equal(failures.load(), 0);
  int pending = 0;
  for (int t = 0; t < 4; ++t) {
    for (int i = 0; i < 15; ++i) {
      auto c = b->find_challenge("t" + std::to_string(t) + "-" + std::to_string(i), kNow);
      assert_true(c.ok());
      if (c->status == ChallengeStatus::pending) ++pending;
      else assert_int_equal(c->status, static_cast<int>(ChallengeStatus::cancelled));
    }
  }
  assert_int_equal(pending, 1);
}

void only_one_instance_registers_a_pairing(void**) {
  const std::string url = fresh_database();
  auto a = open(url);
  auto b = open(url);
  for (int round = 0; round < 10; ++round) {
    const std::string pid = "p" + std::to_string(round);
    assert_true(a->create_pairing(PairingRecord{pid, "h1", "alice", std::string(32, 'h'), kNow,
                                                kNow + 600, PairingStatus::open, {}, {}}).ok());
    std::atomic<int> ok{0}, already{0};
    std::thread ta([&] {
      PairingRegistration reg{"A", "cred-a", "s", "a", std::string(32, 'p'), "ka"};
      auto r = a->register_pairing(pid, reg, kNow + 1);
      if (r.ok()) ++ok;
      else if (r.error().code == StoreErrc::already_registered) ++already;
    });
    std::thread tb([&] {
      PairingRegistration reg{"B", "cred-b", "s", "a", std::string(32, 'p'), "kb"};
      auto r = b->register_pairing(pid, reg, kNow + 1);
      if (r.ok()) ++ok;
      else if (r.error().code == StoreErrc::already_registered) ++already;
    });
    ta.join();
    tb.join();
    assert_int_equal(ok.load(), 1);
    assert_int_equal(already.load(), 1);
  }
}

void each_expiry_is_written_by_one_instance(void**) {
  const std::string url = fresh_database();
  auto a = open(url);
  auto b = open(url);
  assert_true(a->add_host(host("h1", "web1")).ok());
  constexpr int kUsers = 12;
  for (int u = 0; u < kUsers; ++u) {
    const std::string user = "user" + std::to_string(u);
    paired_device(*a, "h1", user, "cred-a");
    assert_true(a->create_challenge(challenge("e" + std::to_string(u), user, kNow + 30), {}, kNow)
                    .ok());
  }
  std::vector<ChallengeRecord> by_a, by_b;
  std::thread ta([&] {
    for (int i = 0; i < 5; ++i) {
      auto r = a->expire_due(kNow + 60);
      if (r) by_a.insert(by_a.end(), r->begin(), r->end());
    }
  });
  std::thread tb([&] {
    for (int i = 0; i < 5; ++i) {
      auto r = b->expire_due(kNow + 60);
      if (r) by_b.insert(by_b.end(), r->begin(), r->end());
    }
  });
  ta.join();
  tb.join();
  std::set<std::string> ids;
  for (const auto& c : by_a) ids.insert(c.challenge_id);
  for (const auto& c : by_b) ids.insert(c.challenge_id);
  assert_int_equal(by_a.size() + by_b.size(), kUsers);
  assert_int_equal(ids.size(), kUsers);
  assert_int_equal(a->expire_due(kNow + 61)->size(), 0);
}

// A flag one thread sets and another waits for, with a bound that only
// turns a hang into a failure.
class Signal {
 public:
  void set() {
    std::lock_guard lock(mu_);
    set_ = true;
    cv_.notify_all();
  }
  bool wait(std::chrono::seconds bound = 60s) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, bound, [&] { return set_; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool set_ = false;
};

// Retention takes no lock a login waits for: while instance A's prune batch
// holds its transaction open, after deleting old decided challenges of
// alice, a whole login of alice through instance B (create, decide, read,
// expiry) completes.
void a_login_does_not_wait_for_a_prune_batch(void**) {
  const std::string url = fresh_database();
  auto a = open(url);
  auto b = open(url);
  assert_true(a->add_host(host("h1", "web1")).ok());
  auto dev = paired_device(*a, "h1", "alice", "cred-a");
  for (int i = 0; i < 3; ++i) {
    const std::string id = "old" + std::to_string(i);
    assert_true(a->create_challenge(challenge(id, "alice", kNow + 90), {}, kNow + i).ok());
    assert_true(a->decide_challenge(id, dev.device_id, Decision::approve, std::nullopt,
                                    kNow + i).ok());
  }
  const Seconds now = kNow + 3 * 86400;
  Signal holding, release, login_done;
  RetentionPolicy policy;
  policy.in_batch = [&](const char* table) {
    if (std::strcmp(table, "challenges") != 0) return;
    holding.set();
    release.wait();
  };
  PruneCounts pruned;
  std::thread pruner([&] {
    auto r = a->prune_batch(policy, now);
    if (r) pruned = r.value();
  });
  assert_true(holding.wait());
  bool login_ok = false;
  std::thread login([&] {
    login_ok = b->create_challenge(challenge("new", "alice", now + 90), {}, now).ok() &&
               b->decide_challenge("new", dev.device_id, Decision::approve, std::nullopt, now + 1)
                   .ok() &&
               b->find_challenge("new", now + 1)->status == ChallengeStatus::approved &&
               b->expire_due(now + 2).ok();
    login_done.set();
  });
  const bool finished = login_done.wait();
  release.set();  // whatever happened, let the batch commit
  pruner.join();
  login.join();
  assert_true(finished);  // the login did not wait for the batch
  assert_true(login_ok);
  assert_int_equal(pruned.challenges, 3);
  assert_false(b->find_challenge("old0", now).ok());
}

// audit_after with two writers: an event whose transaction took its seq
// first but commits last is not skipped. A raw transaction holds seq s1
// uncommitted while instance B commits s2 > s1; the export that starts
// then returns both, in order, once s1 commits.
void the_audit_export_waits_for_a_smaller_seq_in_flight(void**) {
  const std::string url = fresh_database();
  auto a = open(url);
  auto b = open(url);
  PGconn* raw = PQconnectdb(url.c_str());
  assert_int_equal(PQstatus(raw), CONNECTION_OK);
  auto exec = [&](const char* sql) {
    PGresult* r = PQexec(raw, sql);
    const auto st = PQresultStatus(r);
    PQclear(r);
    return st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
  };
  assert_true(exec("BEGIN"));
  assert_true(exec("SELECT pg_current_xact_id()"));
  assert_true(exec("INSERT INTO audit(time, event, host, user_name, service, rhost, "
                   "challenge_id, device, result, ms) VALUES (1, 'challenge_created', 'web1', "
                   "'alice', '', '', 'first', '', '', -1)"));
  AuditEvent second;
  second.time = 2;
  second.event = "challenge_created";
  second.challenge_id = "second";
  assert_true(b->append_audit(second).ok());
  // Commit the first once the export is waiting for it (it shows in
  // pg_stat_activity), or after the bound if it never waits.
  std::atomic<bool> exported{false};
  std::thread committer([&] {
    for (int i = 0; i < 6000 && !exported.load(); ++i) {
      if (pgtest::pg_count(url, "SELECT count(*) FROM pg_stat_activity WHERE "
                                "query LIKE '%pg_xact_status%' AND pid <> pg_backend_pid()") > 0) {
        break;
      }
      std::this_thread::sleep_for(10ms);
    }
    exec("COMMIT");
  });
  auto events = a->audit_after(0, 100);
  exported.store(true);
  committer.join();
  PQfinish(raw);
  if (!events) fail_msg("export: %s", events.error().message.c_str());
  assert_int_equal(events->size(), 2);
  assert_string_equal(events->at(0).challenge_id.c_str(), "first");
  assert_string_equal(events->at(1).challenge_id.c_str(), "second");
}

void challenges_list_newest_first_within_one_second(void**) {
  // store.hpp: creation order, not only the `created` second (ids sort the
  // other way round, so an order by id or by created alone fails).
  auto s = open(fresh_database());
  assert_true(s->add_host(host("h1", "web1")).ok());
  paired_device(*s, "h1", "alice", "cred-a");
  for (const char* id : {"z1", "y2", "x3", "w4"}) {
    assert_true(s->create_challenge(challenge(id, "alice", kNow + 90), {}, kNow).ok());
  }
  auto seen = s->challenges_for_api_key("key-alice", false, 10, kNow);
  assert_int_equal(seen->size(), 4);
  assert_string_equal(seen->at(0).challenge_id.c_str(), "w4");
  assert_string_equal(seen->at(3).challenge_id.c_str(), "z1");
}

void wake_ups_survive_a_dropped_connection(void**) {
  const std::string url = fresh_database();
  Heard heard_b;
  auto a = open(url);
  auto b = open(url);
  b->set_change_listener(heard_b.listener());
  const auto now = static_cast<Seconds>(std::time(nullptr));  // the catch-up uses the clock
  assert_true(a->add_host(host("h1", "web1")).ok());
  auto dev = paired_device(*a, "h1", "alice", "cred-a", now);

  std::string error;
  // Every listen connection and every pooled connection of this database.
  assert_true(pgtest::pg_exec(url,
                              "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE "
                              "datname = current_database() AND pid <> pg_backend_pid() AND "
                              "application_name IN ('twostepd', 'twostepd listen')",
                              &error));
  // A's pool reconnects; B is still reconnecting its listen connection:
  // the change reaches B through the catch-up or the new LISTEN.
  auto created = a->create_challenge(challenge("w1", "alice", now + 90), {}, now);
  if (!created) fail_msg("create after the drop: %s", created.error().message.c_str());
  assert_true(heard_b.wait_for("c:w1", 15s));
  // And later changes arrive the ordinary way.
  assert_true(a->decide_challenge("w1", dev.device_id, Decision::deny, std::nullopt, now + 1).ok());
  assert_true(heard_b.wait_for("c:w1", 15s, 2));
  assert_int_equal(b->find_challenge("w1", now + 2)->status,
                   static_cast<int>(ChallengeStatus::denied));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s postgresql://...\n", argv[0]);
    return 2;
  }
  g_admin_url = argv[1];
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(a_newer_schema_is_refused_and_state_survives_reopen),
      cmocka_unit_test(schema_1_migrates_to_web_push),
      cmocka_unit_test(two_instances_agree_on_one_setting),
      cmocka_unit_test(a_url_password_never_appears_in_errors),
      cmocka_unit_test(a_change_through_one_instance_wakes_the_other),
      cmocka_unit_test(only_one_instance_decides_a_challenge),
      cmocka_unit_test(only_one_challenge_per_user_stays_pending),
      cmocka_unit_test(only_one_instance_registers_a_pairing),
      cmocka_unit_test(each_expiry_is_written_by_one_instance),
      cmocka_unit_test(challenges_list_newest_first_within_one_second),
      cmocka_unit_test(wake_ups_survive_a_dropped_connection),
      cmocka_unit_test(a_phones_bound_holds_across_instances),
      cmocka_unit_test(a_login_does_not_wait_for_a_prune_batch),
      cmocka_unit_test(the_audit_export_waits_for_a_smaller_seq_in_flight),
  };
  return cmocka_run_group_tests(tests, nullptr, nullptr);
}
