// SPDX-License-Identifier: Apache-2.0
//
// cache::open_fleet_store against a real PostgreSQL (pg_test_support.hpp): two nodes, each
// with its own local SQLite copy, sharing policies, fetch claims, notifications and TLS-RPT
// results (issue 13; docs/fleet.md). The expected values come from what each test wrote.
#include "tlspolicy/cache/fleet_store.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "pg_connection.hpp"
#include "pg_test_support.hpp"
#include "support/testing.hpp"

namespace tlspolicy::cache {
namespace {

using namespace std::chrono_literals;

test::PgTestServer& server() {
  static test::PgTestServer s;
  return s;
}

/// A fresh database per test, so that tests do not see each other's rows.
std::string fresh_database(const std::string& name) {
  auto c = PgConn::open(server().options("postgres"));
  EXPECT_TRUE(c) << (c ? "" : c.error().detail);
  if (!c) return "";
  (void)(*c)->run("DROP DATABASE IF EXISTS " + name);
  auto r = (*c)->run("CREATE DATABASE " + name);
  EXPECT_TRUE(r) << (r ? "" : r.error().detail);
  return server().url(name);
}

dns::DomainName name(const std::string& d) { return *dns::DomainName::parse(d); }

CachedPolicy policy(const std::string& domain, const std::string& id, util::TimePoint at) {
  CachedPolicy p;
  p.domain = domain;
  p.id = id;
  p.policy_text = "version: STSv1\nmode: enforce\nmx: mx.example.net\nmax_age: 86400\n";
  p.policy.mode = sts::StsMode::Enforce;
  p.policy.mx = {"mx.example.net"};
  p.policy.max_age = 86400s;
  p.fetched_at = at;
  p.expires_at = at + p.policy.max_age;
  return p;
}

util::TimePoint now() {
  return std::chrono::time_point_cast<std::chrono::seconds>(std::chrono::system_clock::now());
}

class FleetStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!server().why_not().empty()) GTEST_SKIP() << server().why_not();
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    std::string db = std::string("fleet_") + info->name();
    for (auto& ch : db) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    url = fresh_database(db);
    a = open("a");
    b = open("b");
  }

  FleetStore open(const std::string& node) {
    FleetOptions o;
    o.url = url;
    o.node = node;
    o.local.path = dir.path() / (node + ".sqlite");
    o.timeout = 5s;
    o.push_every = 200ms;
    auto s = open_fleet_store(o);
    EXPECT_TRUE(s) << (s ? "" : s.error().detail);
    return s ? std::move(*s) : FleetStore{};
  }

  /// The local copy of `node`, opened on its own.
  std::unique_ptr<PolicyCache> local(const std::string& node) {
    auto c = open_sqlite_cache(SqliteOptions{dir.path() / (node + ".sqlite"), 5000});
    EXPECT_TRUE(c);
    return c ? std::move(*c) : nullptr;
  }

  testing::TempDir dir;
  std::string url;
  FleetStore a, b;
};

TEST_F(FleetStoreTest, APolicyFetchedByOneNodeServesTheOtherAndLandsInItsLocalCopy) {
  const auto p = policy("example.net", "id1", now());
  ASSERT_TRUE(a.policies->put(p));
  auto got = b.policies->get(name("example.net"));
  ASSERT_TRUE(got && *got);
  EXPECT_EQ((*got)->id, "id1");
  EXPECT_EQ((*got)->fetched_by, "a");
  EXPECT_EQ((*got)->policy_text, p.policy_text);
  auto copy = local("b")->get(name("example.net"));
  ASSERT_TRUE(copy && *copy);
  EXPECT_EQ((*copy)->id, "id1");
  auto listed = b.policies->list();
  ASSERT_TRUE(listed);
  ASSERT_EQ(listed->size(), 1U);
  EXPECT_EQ((*listed)[0].fetched_by, "a");
  EXPECT_EQ(b.policies->status().backend, "postgresql");
  EXPECT_EQ(b.policies->status().node, "b");
  EXPECT_TRUE(b.policies->status().healthy);
}

TEST_F(FleetStoreTest, AnOlderPolicyNeverReplacesANewerOne) {
  const auto t = now();
  ASSERT_TRUE(a.policies->put(policy("example.net", "new", t)));
  ASSERT_TRUE(b.policies->put(policy("example.net", "old", t - 3600s)));  // a late re-send
  auto got = a.policies->get(name("example.net"));
  ASSERT_TRUE(got && *got);
  EXPECT_EQ((*got)->id, "new");
}

TEST_F(FleetStoreTest, OneNodeHoldsTheClaimOnANewIdUntilItStoresThePolicy) {
  auto first = a.policies->claim_fetch(name("example.net"), {"id2", 30s, std::nullopt});
  ASSERT_TRUE(first);
  EXPECT_TRUE(first->granted);
  auto second = b.policies->claim_fetch(name("example.net"), {"id2", 30s, std::nullopt});
  ASSERT_TRUE(second);
  EXPECT_FALSE(second->granted);
  EXPECT_EQ(second->holder, "a");
  EXPECT_GT(second->left, 20s);
  EXPECT_LE(second->left, 30s);
  // The holder asks again (a second decision on it): still its own.
  EXPECT_TRUE(a.policies->claim_fetch(name("example.net"), {"id2", 30s, std::nullopt})->granted);
  // Another id is another fetch.
  EXPECT_TRUE(b.policies->claim_fetch(name("other.example"), {"id2", 30s, std::nullopt})->granted);
  // The policy stored ends the claim, and nobody fetches that id again: a node that read the
  // store before the put and claims after it is sent to the stored policy.
  ASSERT_TRUE(a.policies->put(policy("example.net", "id2", now())));
  auto late = b.policies->claim_fetch(name("example.net"), {"id2", 30s, std::nullopt});
  ASSERT_TRUE(late);
  EXPECT_FALSE(late->granted);
  EXPECT_EQ(late->holder, "a");
  EXPECT_EQ(late->left, 0ms);
  // The next id is a new fetch.
  EXPECT_TRUE(b.policies->claim_fetch(name("example.net"), {"id3", 30s, std::nullopt})->granted);
}

TEST_F(FleetStoreTest, TwoNodesRacingForTheSameIdsFetchEachOnce) {
  // Each node claims each domain and, when granted, "fetches" (stores) it at once: a claim
  // that arrives while the other node's store commits must be refused, not granted anew.
  constexpr int k_domains = 200;
  std::atomic<int> grants{0};
  const auto run = [&](FleetStore& node) {
    for (int i = 0; i < k_domains; ++i) {
      const std::string d = "d" + std::to_string(i) + ".example";
      auto c = node.policies->claim_fetch(name(d), {"id1", 30s, std::nullopt});
      ASSERT_TRUE(c) << c.error().detail;
      if (!c->granted) continue;
      ++grants;
      ASSERT_TRUE(node.policies->put(policy(d, "id1", now())));
    }
  };
  std::thread ta{[&] { run(a); }};
  std::thread tb{[&] { run(b); }};
  ta.join();
  tb.join();
  EXPECT_EQ(grants.load(), k_domains);
}

TEST_F(FleetStoreTest, ARefreshIsRefusedOnceAnotherNodeRefreshedThePolicy) {
  const auto t = now() - 3600s;
  ASSERT_TRUE(a.policies->put(policy("example.net", "id1", t)));
  // Both nodes' refresh passes saw the policy fetched at t; a refreshes first.
  ASSERT_TRUE(a.policies->claim_fetch(name("example.net"), {"id1", 30s, t})->granted);
  ASSERT_TRUE(a.policies->put(policy("example.net", "id1", now())));
  auto late = b.policies->claim_fetch(name("example.net"), {"id1", 30s, t});
  ASSERT_TRUE(late);
  EXPECT_FALSE(late->granted);
  EXPECT_EQ(late->holder, "a");
  // A refresh of what is stored now (an admin's `cache refresh`) is granted.
  EXPECT_TRUE(b.policies->claim_fetch(name("example.net"), {"id1", 30s, now()})->granted);
}

TEST_F(FleetStoreTest, AClaimOfANodeThatDiedRunsOut) {
  ASSERT_TRUE(a.policies->claim_fetch(name("example.net"), {"id3", 1s, std::nullopt})->granted);
  EXPECT_FALSE(b.policies->claim_fetch(name("example.net"), {"id3", 1s, std::nullopt})->granted);
  std::this_thread::sleep_for(1200ms);
  EXPECT_TRUE(b.policies->claim_fetch(name("example.net"), {"id3", 1s, std::nullopt})->granted);
}

TEST_F(FleetStoreTest, AFailedFetchIsSharedAndEndsTheClaim) {
  ASSERT_TRUE(a.policies->claim_fetch(name("example.net"), {"id4", 30s, std::nullopt})->granted);
  ASSERT_TRUE(
      a.policies->record_fetch_failure(FetchFailure{"example.net", "id4", now(), "fetch-tls: x"}));
  auto seen = b.policies->last_fetch_failure(name("example.net"));
  ASSERT_TRUE(seen && *seen);
  EXPECT_EQ((*seen)->id, "id4");
  EXPECT_EQ((*seen)->error, "fetch-tls: x");
  EXPECT_TRUE(b.policies->claim_fetch(name("example.net"), {"id4", 30s, std::nullopt})->granted);
}

/// Collects the domains a node is told to forget.
struct Invalidations {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::string> domains;
  bool wait_for(const std::string& d, std::chrono::milliseconds limit) {
    std::unique_lock l{mu};
    return cv.wait_for(
        l, limit, [&] { return std::find(domains.begin(), domains.end(), d) != domains.end(); });
  }
  /// What a node's sync thread calls for each domain it is told to forget.
  std::function<void(const std::string&)> listener() {
    return [this](const std::string& d) {
      const std::lock_guard l{mu};
      domains.push_back(d);
      cv.notify_all();
    };
  }
};

TEST_F(FleetStoreTest, PutAndPurgeReachEveryNodeWithinASecond) {
  ASSERT_TRUE(a.policies->put(policy("example.net", "id5", now())));
  ASSERT_TRUE(b.policies->get(name("example.net")));  // b has a local copy now
  Invalidations heard;
  b.sync->start(heard.listener());
  ASSERT_TRUE(heard.wait_for("", 5s));  // the first LISTEN: forget everything once
  ASSERT_TRUE(a.policies->put(policy("example.net", "id6", now() + 1s)));
  EXPECT_TRUE(heard.wait_for("example.net", 1s));
  {
    const std::lock_guard l{heard.mu};
    heard.domains.clear();
  }
  auto removed = a.policies->remove(name("example.net"));
  ASSERT_TRUE(removed);
  EXPECT_TRUE(*removed);
  EXPECT_TRUE(heard.wait_for("example.net", 1s));
  // A purge also empties b's local copy.
  for (int i = 0; i < 50 && local("b")->get(name("example.net")).value(); ++i) {
    std::this_thread::sleep_for(20ms);
  }
  EXPECT_FALSE(local("b")->get(name("example.net")).value());
  b.sync->stop();
}

// A node's own put or purge comes back to its LISTEN session too; it must not make the node
// forget what it just decided with that policy (a cold lookup would never be kept).
TEST_F(FleetStoreTest, ANodeDoesNotActOnItsOwnNotifications) {
  Invalidations heard;
  b.sync->start(heard.listener());
  ASSERT_TRUE(heard.wait_for("", 5s));  // the first LISTEN: forget everything once
  ASSERT_TRUE(b.policies->put(policy("own.example", "id1", now())));
  ASSERT_TRUE(b.policies->remove(name("own.example")));
  // Sent after b's: once b heard it, b's own would have been heard before it.
  ASSERT_TRUE(a.policies->put(policy("marker.example", "id1", now())));
  EXPECT_TRUE(heard.wait_for("marker.example", 2s));
  {
    const std::lock_guard l{heard.mu};
    EXPECT_EQ(std::count(heard.domains.begin(), heard.domains.end(), "own.example"), 0)
        << "b acted on its own notification";
  }
  b.sync->stop();
}

tlsrpt::ResultBatch batch(std::uint64_t ok, std::uint64_t failed) {
  tlsrpt::ResultBatch r;
  r.domain = "example.net";
  r.at = now();
  tlsrpt::PolicyResult p;
  p.policy.type = tlsrpt::PolicyType::Sts;
  p.policy.policy_domain = "example.net";
  p.successes = ok;
  p.failures = failed;
  r.policies.push_back(p);
  return r;
}

TEST_F(FleetStoreTest, ResultsOfEveryNodeAddUpOnceInTheSharedStore) {
  ASSERT_TRUE(a.reports->add(batch(3, 1)));
  ASSERT_TRUE(b.reports->add(batch(5, 0)));
  ASSERT_TRUE(b.reports->add(batch(1, 2)));
  // days() pushes the caller's own results first; a's are pushed by its sync thread.
  a.sync->start(nullptr);
  std::vector<ReportDaySummary> days;
  for (int i = 0; i < 100; ++i) {
    auto d = b.reports->days(ReportFilter{});
    ASSERT_TRUE(d) << d.error().detail;
    days = *d;
    if (!days.empty() && days[0].successes == 9) break;
    std::this_thread::sleep_for(50ms);
  }
  a.sync->stop();
  ASSERT_EQ(days.size(), 1U);
  EXPECT_EQ(days[0].domain, "example.net");
  EXPECT_EQ(days[0].successes, 9U);
  EXPECT_EQ(days[0].failures, 3U);
  // Asked again: nothing is counted twice.
  auto again = a.reports->days(ReportFilter{});
  ASSERT_TRUE(again);
  ASSERT_EQ(again->size(), 1U);
  EXPECT_EQ((*again)[0].successes, 9U);
}

TEST(FleetStoreStart, AnUnreachableServerOrABadUrlIsAnErrorNamingTheSetting) {
  testing::TempDir dir;
  FleetOptions o;
  o.node = "a";
  o.local.path = dir.path() / "a.sqlite";
  o.timeout = 1s;
  o.url = "postgresql://nobody@127.0.0.1:1/x";
  auto down = open_fleet_store(o);
  ASSERT_FALSE(down);
  EXPECT_EQ(down.error().code, Errc::CacheIo);
  EXPECT_NE(down.error().detail.find("store.url"), std::string::npos) << down.error().detail;
  o.url = "postgresql://a:secret@host/x";  // a password in the TOML is refused
  auto bad = open_fleet_store(o);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, Errc::ConfigValue);
  EXPECT_NE(bad.error().detail.find("store.url"), std::string::npos) << bad.error().detail;
}

}  // namespace
}  // namespace tlspolicy::cache
