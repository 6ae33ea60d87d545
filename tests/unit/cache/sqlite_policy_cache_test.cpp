// SPDX-License-Identifier: Apache-2.0
//
// Tests of policy-cache/sqlite_policy_cache.cpp against a real SQLite, in
// ":memory:" and in temporary files: the PolicyCache contract (round trip,
// replace, remove, purge, fetch-failure records), persistence across a
// close and reopen, use from several threads, and the failure paths a mail
// server meets in production (read-only store, store locked by another
// process), which must give CacheIo errors and never a crash.
#include <atomic>
#include <chrono>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "tlspolicy/cache/policy_cache.hpp"
#include "tlspolicy/sts/policy.hpp"

#include "cache_test_support.hpp"

namespace tlspolicy::cache {
namespace {

using test::at;
using test::make_policy;
using test::name;
using test::RawDb;
using test::TempDir;

std::unique_ptr<PolicyCache> open_or_fail(const std::filesystem::path& path,
                                          int busy_timeout_ms = 5000) {
  return test::opened_or_fail(open_sqlite_cache(SqliteOptions{path, busy_timeout_ms}),
                              "open_sqlite_cache", path);
}

std::unique_ptr<PolicyCache> open_memory() { return open_or_fail(":memory:"); }

// ---- the contract, in memory and in a file --------------------------------

TEST(SqlitePolicyCache, GetOfUnknownDomainIsEmpty) {
  auto cache = open_memory();
  ASSERT_NE(cache, nullptr);
  auto got = cache->get(name("example.com"));
  ASSERT_TRUE(got) << got.error().detail;
  EXPECT_FALSE(got->has_value());
}

/// A policy put into `cache` comes back equal.
void expect_round_trip(PolicyCache* cache) {
  ASSERT_NE(cache, nullptr);
  const auto want = make_policy("example.com");
  ASSERT_TRUE(cache->put(want));
  auto got = cache->get(name("example.com"));
  ASSERT_TRUE(got) << got.error().detail;
  ASSERT_TRUE(got->has_value());
  EXPECT_EQ(**got, want);
}

TEST(SqlitePolicyCache, RoundTripInMemory) { expect_round_trip(open_memory().get()); }

TEST(SqlitePolicyCache, RoundTripInTempFile) {
  TempDir dir;
  expect_round_trip(open_or_fail(dir / "policies.sqlite").get());
}

TEST(SqlitePolicyCache, RoundTripKeepsModeNoneWithoutMxAndOddBytes) {
  auto cache = open_memory();
  ASSERT_NE(cache, nullptr);
  auto want = make_policy("none.example", "x", sts::StsMode::None, {}, 0, 0);
  want.policy_text = "version: STSv1\nmode: none\n\n  \t\n";
  want.policy_text += std::string{"a\0b\xff", 4};  // stored as bytes, returned as bytes
  ASSERT_TRUE(cache->put(want));
  auto got = cache->get(name("none.example"));
  ASSERT_TRUE(got) << got.error().detail;
  ASSERT_TRUE(got->has_value());
  EXPECT_EQ(**got, want);
  EXPECT_TRUE((*got)->policy.mx.empty());
}

TEST(SqlitePolicyCache, ReplaceKeepsOneRow) {
  auto cache = open_memory();
  ASSERT_NE(cache, nullptr);
  ASSERT_TRUE(cache->put(make_policy("example.com", "old1")));
  const auto newer = make_policy("example.com", "new2", sts::StsMode::Testing, {"mx.example.com"},
                                 1'717'300'000, 86'400);
  ASSERT_TRUE(cache->put(newer));
  auto all = cache->list();
  ASSERT_TRUE(all) << all.error().detail;
  ASSERT_EQ(all->size(), 1U);
  EXPECT_EQ(all->front(), newer);
  auto got = cache->get(name("example.com"));
  ASSERT_TRUE(got && got->has_value());
  EXPECT_EQ((*got)->id, "new2");
}

TEST(SqlitePolicyCache, ListIsOrderedByDomain) {
  auto cache = open_memory();
  ASSERT_NE(cache, nullptr);
  for (const char* d : {"c.example", "a.example", "b.example"})
    ASSERT_TRUE(cache->put(make_policy(d)));
  auto all = cache->list();
  ASSERT_TRUE(all) << all.error().detail;
  ASSERT_EQ(all->size(), 3U);
  EXPECT_EQ((*all)[0].domain, "a.example");
  EXPECT_EQ((*all)[1].domain, "b.example");
  EXPECT_EQ((*all)[2].domain, "c.example");
}

TEST(SqlitePolicyCache, ListOfEmptyStoreIsEmpty) {
  auto cache = open_memory();
  ASSERT_NE(cache, nullptr);
  auto all = cache->list();
  ASSERT_TRUE(all) << all.error().detail;
  EXPECT_TRUE(all->empty());
}

TEST(SqlitePolicyCache, RemoveReportsWhetherAPolicyWasThere) {
  auto cache = open_memory();
  ASSERT_NE(cache, nullptr);
  ASSERT_TRUE(cache->put(make_policy("example.com")));
  ASSERT_TRUE(cache->put(make_policy("example.net")));
  auto removed = cache->remove(name("example.com"));
  ASSERT_TRUE(removed) << removed.error().detail;
  EXPECT_TRUE(*removed);
  removed = cache->remove(name("example.com"));
  ASSERT_TRUE(removed) << removed.error().detail;
  EXPECT_FALSE(*removed);
  auto got = cache->get(name("example.com"));
  ASSERT_TRUE(got);
  EXPECT_FALSE(got->has_value());
  auto other = cache->get(name("example.net"));
  ASSERT_TRUE(other);
  EXPECT_TRUE(other->has_value()) << "remove() must touch only its domain";
}

TEST(SqlitePolicyCache, RemoveAlsoDropsTheFailureRecord) {
  auto cache = open_memory();
  ASSERT_NE(cache, nullptr);
  ASSERT_TRUE(cache->record_fetch_failure({"example.com", "id1", at(100), "fetch-tls: bad cert"}));
  auto removed = cache->remove(name("example.com"));
  ASSERT_TRUE(removed) << removed.error().detail;
  EXPECT_FALSE(*removed) << "there was no policy, only a failure record";
  auto failure = cache->last_fetch_failure(name("example.com"));
  ASSERT_TRUE(failure) << failure.error().detail;
  EXPECT_FALSE(failure->has_value());
}

TEST(SqlitePolicyCache, PurgeExpiredDeletesOnlyExpiredPolicies) {
  auto cache = open_memory();
  ASSERT_NE(cache, nullptr);
  // expires_at = fetched + max_age: 1000, 2000, 3000.
  ASSERT_TRUE(
      cache->put(make_policy("a.example", "1", sts::StsMode::Enforce, {"mx.a.example"}, 0, 1000)));
  ASSERT_TRUE(
      cache->put(make_policy("b.example", "1", sts::StsMode::Enforce, {"mx.b.example"}, 0, 2000)));
  ASSERT_TRUE(
      cache->put(make_policy("c.example", "1", sts::StsMode::Enforce, {"mx.c.example"}, 0, 3000)));
  auto purged = cache->purge_expired(at(2000));  // expires_at <= now is expired
  ASSERT_TRUE(purged) << purged.error().detail;
  EXPECT_EQ(*purged, 2U);
  auto all = cache->list();
  ASSERT_TRUE(all);
  ASSERT_EQ(all->size(), 1U);
  EXPECT_EQ(all->front().domain, "c.example");
  purged = cache->purge_expired(at(2000));
  ASSERT_TRUE(purged);
  EXPECT_EQ(*purged, 0U);
}

TEST(SqlitePolicyCache, FailureRecordIsStoredAndReplaced) {
  auto cache = open_memory();
  ASSERT_NE(cache, nullptr);
  auto none = cache->last_fetch_failure(name("example.com"));
  ASSERT_TRUE(none) << none.error().detail;
  EXPECT_FALSE(none->has_value());

  const FetchFailure first{"example.com", "id1", at(1000), "fetch-timeout: 10 s"};
  ASSERT_TRUE(cache->record_fetch_failure(first));
  auto got = cache->last_fetch_failure(name("example.com"));
  ASSERT_TRUE(got) << got.error().detail;
  ASSERT_TRUE(got->has_value());
  EXPECT_EQ(**got, first);

  const FetchFailure second{"example.com", "id2", at(2000), "fetch-status: 404"};
  ASSERT_TRUE(cache->record_fetch_failure(second));
  got = cache->last_fetch_failure(name("example.com"));
  ASSERT_TRUE(got && got->has_value());
  EXPECT_EQ(**got, second);
}

TEST(SqlitePolicyCache, PutClearsTheFailureRecord) {
  auto cache = open_memory();
  ASSERT_NE(cache, nullptr);
  ASSERT_TRUE(cache->record_fetch_failure({"example.com", "id1", at(1000), "fetch-tls: x"}));
  ASSERT_TRUE(cache->record_fetch_failure({"example.net", "id1", at(1000), "fetch-tls: y"}));
  ASSERT_TRUE(cache->put(make_policy("example.com")));
  auto got = cache->last_fetch_failure(name("example.com"));
  ASSERT_TRUE(got) << got.error().detail;
  EXPECT_FALSE(got->has_value()) << "a successful fetch ends the back-off";
  auto other = cache->last_fetch_failure(name("example.net"));
  ASSERT_TRUE(other);
  EXPECT_TRUE(other->has_value());
}

TEST(SqlitePolicyCache, RejectsEmptyDomain) {
  auto cache = open_memory();
  ASSERT_NE(cache, nullptr);
  auto put = cache->put(make_policy(""));
  ASSERT_FALSE(put);
  EXPECT_EQ(put.error().code, Errc::InvalidArgument);
}

// ---- persistence and files -------------------------------------------------

TEST(SqlitePolicyCache, SurvivesCloseAndReopen) {
  TempDir dir;
  const auto path = dir / "policies.sqlite";
  const auto policy = make_policy("example.com");
  const FetchFailure failure{"example.net", "id9", at(5000), "fetch-connect: refused"};
  {
    auto cache = open_or_fail(path);
    ASSERT_NE(cache, nullptr);
    ASSERT_TRUE(cache->put(policy));
    ASSERT_TRUE(cache->record_fetch_failure(failure));
  }
  auto cache = open_or_fail(path);
  ASSERT_NE(cache, nullptr);
  auto got = cache->get(name("example.com"));
  ASSERT_TRUE(got) << got.error().detail;
  ASSERT_TRUE(got->has_value()) << "policy lost across restart";
  EXPECT_EQ(**got, policy);
  auto got_failure = cache->last_fetch_failure(name("example.net"));
  ASSERT_TRUE(got_failure && got_failure->has_value()) << "failure record lost across restart";
  EXPECT_EQ(**got_failure, failure);
}

TEST(SqlitePolicyCache, UsesWalForFiles) {
  TempDir dir;
  const auto path = dir / "policies.sqlite";
  auto cache = open_or_fail(path);
  ASSERT_NE(cache, nullptr);
  RawDb raw{path};
  EXPECT_EQ(raw.query("PRAGMA journal_mode"), "wal");
}

TEST(SqlitePolicyCache, CreatesMissingParentDirectoriesPrivate) {
  TempDir dir;
  const auto path = dir / "state" / "tlspolicy" / "policies.sqlite";
  auto cache = open_or_fail(path);
  ASSERT_NE(cache, nullptr);
  ASSERT_TRUE(cache->put(make_policy("example.com")));
  EXPECT_EQ(test::permissions_of(dir / "state" / "tlspolicy"), 0700U);
  EXPECT_EQ(test::permissions_of(dir / "state"), 0700U);
}

TEST(SqlitePolicyCache, EmptyPathIsInvalidArgument) {
  auto cache = open_sqlite_cache(SqliteOptions{"", 100});
  ASSERT_FALSE(cache);
  EXPECT_EQ(cache.error().code, Errc::InvalidArgument);
}

TEST(SqlitePolicyCache, UnknownModeInDatabaseIsSchemaErrorNotACrash) {
  TempDir dir;
  const auto path = dir / "policies.sqlite";
  auto cache = open_or_fail(path);
  ASSERT_NE(cache, nullptr);
  ASSERT_TRUE(cache->put(make_policy("example.com")));
  {
    RawDb raw{path};
    raw.exec(
        "PRAGMA ignore_check_constraints = ON;"
        "UPDATE policies SET mode = 'Enforce' WHERE domain = 'example.com'");
  }
  auto got = cache->get(name("example.com"));
  ASSERT_FALSE(got) << "got a policy, want CacheSchema";
  EXPECT_EQ(got.error().code, Errc::CacheSchema);
  EXPECT_NE(got.error().detail.find("Enforce"), std::string::npos) << got.error().detail;
  auto all = cache->list();
  ASSERT_FALSE(all);
  EXPECT_EQ(all.error().code, Errc::CacheSchema);
  // The bad row is replaceable: a fresh fetch repairs it.
  ASSERT_TRUE(cache->put(make_policy("example.com")));
  EXPECT_TRUE(cache->get(name("example.com")));
}

// ---- concurrency -----------------------------------------------------------

TEST(SqlitePolicyCache, ConcurrentPutAndGetFromFourThreads) {
  TempDir dir;
  auto cache = open_or_fail(dir / "policies.sqlite");
  ASSERT_NE(cache, nullptr);
  constexpr int k_threads = 4;
  constexpr int k_rounds = 100;
  constexpr int k_domains_per_thread = 10;
  std::atomic<int> errors{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < k_threads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < k_rounds; ++i) {
        const std::string domain =
            "t" + std::to_string(t) + "-" + std::to_string(i % k_domains_per_thread) + ".example";
        const auto p = make_policy(domain, "id" + std::to_string(i));
        if (!cache->put(p)) ++errors;
        auto got = cache->get(*dns::DomainName::parse(domain));
        if (!got || !got->has_value() || (*got)->id != p.id) ++errors;
        if (!cache->record_fetch_failure({domain, "x", at(i), "e"})) ++errors;
        if (i % 25 == 0 && !cache->list()) ++errors;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(errors.load(), 0);
  auto all = cache->list();
  ASSERT_TRUE(all) << all.error().detail;
  EXPECT_EQ(all->size(), static_cast<std::size_t>(k_threads * k_domains_per_thread));
}

// ---- failure paths ---------------------------------------------------------

TEST(SqlitePolicyCache, LockedByAnotherWriterFailsPutWithCacheIoAfterBusyTimeout) {
  TempDir dir;
  const auto path = dir / "policies.sqlite";
  auto cache = open_or_fail(path, /*busy_timeout_ms=*/100);
  ASSERT_NE(cache, nullptr);
  ASSERT_TRUE(cache->put(make_policy("example.com")));

  RawDb other{path};
  other.exec("BEGIN IMMEDIATE");  // another process holding the write lock
  const auto start = std::chrono::steady_clock::now();
  auto put = cache->put(make_policy("example.net"));
  const auto waited = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(put) << "put succeeded while another connection held the write lock";
  test::expect_locked(put.error(), path, "put");
  EXPECT_GE(waited, std::chrono::milliseconds{90}) << "did not wait for the busy timeout";

  // WAL: readers are not blocked by the writer.
  auto got = cache->get(name("example.com"));
  ASSERT_TRUE(got) << got.error().detail;
  EXPECT_TRUE(got->has_value());

  other.exec("ROLLBACK");
  EXPECT_TRUE(cache->put(make_policy("example.net")));
}

// Runs in a death-test child (see test::read_only_store_child).
[[noreturn]] void read_only_store_child(const std::filesystem::path& path) {
  test::read_only_store_child(
      "put",
      [&] {
        return open_sqlite_cache(SqliteOptions{path, 100});
      },
      [](const PolicyCache& cache) {
        auto got = cache.get(*dns::DomainName::parse("example.com"));
        return got && got->has_value();
      },
      [](PolicyCache& cache) { return cache.put(make_policy("example.net")); });
}

TEST(SqlitePolicyCacheDeathTest, ReadOnlyFileFailsPutWithCacheIo) {
  TempDir dir;
  const auto path = dir / "policies.sqlite";
  {
    auto cache = open_or_fail(path);
    ASSERT_NE(cache, nullptr);
    ASSERT_TRUE(cache->put(make_policy("example.com")));
  }
  test::make_read_only(dir, path);
  EXPECT_EXIT(read_only_store_child(path), ::testing::ExitedWithCode(0),
              "read-only ok: sqlite: attempt to write a readonly database");
}

}  // namespace
}  // namespace tlspolicy::cache
