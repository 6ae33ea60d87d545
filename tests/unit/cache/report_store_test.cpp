// SPDX-License-Identifier: Apache-2.0
//
// Tests of policy-cache/sqlite_report_store.cpp against a real SQLite, in
// ":memory:" and in temporary files: the ReportStore contract
// (report_store_contract.hpp, shared with the PostgreSQL store), then what is
// SQLite's own: persistence across a restart, sharing one file with the policy
// cache and with other processes, use from several threads, claims timed by
// the store's clock, pushing the results to a fleet's shared store
// (push_local_results, exactly once), and the failure paths (locked or
// read-only store), which must give CacheIo errors and never a crash or half
// a batch.
#include "tlspolicy/cache/report_store.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <ostream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "tlspolicy/cache/policy_cache.hpp"
#include "tlspolicy/tlsrpt/model.hpp"

#include "cache_test_support.hpp"
#include "report_push.hpp"
#include "report_store_contract.hpp"

namespace tlspolicy::cache {

static void PrintTo(const DayAggregate& d, std::ostream* os) {
  *os << "{" << tlsrpt::format_day(d.day) << " " << d.domain << " ";
  for (const auto& p : d.policies) tlsrpt::PrintTo(p, os);
  *os << "}";
}

namespace {

using namespace contract;  // NOLINT(google-build-using-namespace): the shared builders
using test::RawDb;
using test::TempDir;

// ---- opening -----------------------------------------------------------------

std::unique_ptr<ReportStore> open_or_fail(const std::filesystem::path& path,
                                          int busy_timeout_ms = 5000) {
  return test::opened_or_fail(open_sqlite_report_store(SqliteOptions{path, busy_timeout_ms}),
                              "open_sqlite_report_store", path);
}

std::unique_ptr<ReportStore> open_memory() { return open_or_fail(":memory:"); }

INSTANTIATE_TEST_SUITE_P(SqliteReportStore, ReportStoreContract,
                         ::testing::Values(StoreFactory{"memory", open_memory, {}}), factory_name);

TEST(SqliteReportStore, ReportStateNames) {
  EXPECT_EQ(to_string(ReportState::Pending), "pending");
  EXPECT_EQ(to_string(ReportState::Sent), "sent");
  EXPECT_EQ(to_string(ReportState::Failed), "failed");
  EXPECT_EQ(to_string(ReportState::Skipped), "skipped");
}

TEST(SqliteReportStore, AFailingBatchCountsNothing) {
  TempDir dir;
  const auto path = dir / "store.sqlite";
  auto store = open_or_fail(path);
  ASSERT_NE(store, nullptr);
  {
    // Make the second policy of the batch fail inside the transaction.
    RawDb raw{path};
    raw.exec(
        "CREATE TRIGGER poison BEFORE INSERT ON rpt_policy WHEN NEW.policy_domain = 'poison' "
        "BEGIN SELECT RAISE(ABORT, 'poisoned'); END");
  }
  const auto d = detail(ResultType::CertificateExpired);
  auto r = store->add(batch(at(k_day), {sts_policy(1, 1, {d}), no_policy(1, "poison")}));
  ASSERT_FALSE(r) << "the trigger did not fire";
  EXPECT_EQ(r.error().code, Errc::CacheIo);
  EXPECT_NE(r.error().detail.find("poisoned"), std::string::npos) << r.error().detail;
  EXPECT_TRUE(aggregate_or_fail(*store, k_day).empty()) << "half a batch was counted";
  RawDb raw{path};
  EXPECT_EQ(raw.query("SELECT count(*) FROM rpt_failure"), "0");
  // The store is still usable.
  ASSERT_TRUE(store->add(batch(at(k_day), {sts_policy(1, 1, {d})})));
  EXPECT_EQ(aggregate_or_fail(*store, k_day).size(), 1U);
}

// ---- queries ---------------------------------------------------------------------

// "A restart loses no counted result."
TEST(SqliteReportStore, SurvivesCloseAndReopen) {
  TempDir dir;
  const auto path = dir / "state" / "store.sqlite";
  const auto d = detail(ResultType::StarttlsNotSupported);
  auto row = report("<a@reporter.example>", k_day);
  row.attempts = 1;
  row.last_error = "timeout";
  {
    auto store = open_or_fail(path);
    ASSERT_NE(store, nullptr);
    ASSERT_TRUE(store->add(batch(at(k_day), {sts_policy(5, 1, {d}), no_policy(7)})));
    ASSERT_TRUE(store->create_report(row));
  }
  {
    auto store = open_or_fail(path);
    ASSERT_NE(store, nullptr);
    EXPECT_EQ(aggregate_or_fail(*store, k_day),
              (std::vector{aggregated(sts_policy(5, 1), {{d, 1}}), aggregated(no_policy(7))}));
    auto reports = store->reports({});
    ASSERT_TRUE(reports) << reports.error().detail;
    EXPECT_EQ(*reports, std::vector{row});
    ASSERT_TRUE(store->add(batch(at(k_day), {sts_policy(1, 1, {d})})));
  }
  auto store = open_or_fail(path);
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(aggregate_or_fail(*store, k_day),
            (std::vector{aggregated(sts_policy(6, 2), {{d, 2}}), aggregated(no_policy(7))}));
}

TEST(SqliteReportStore, UsesWalAndCreatesParentDirectories) {
  TempDir dir;
  const auto path = dir / "a" / "b" / "store.sqlite";
  auto store = open_or_fail(path);
  ASSERT_NE(store, nullptr);
  RawDb raw{path};
  EXPECT_EQ(raw.query("PRAGMA journal_mode"), "wal");
  EXPECT_EQ(test::permissions_of(dir / "a" / "b"), 0700U);
}

TEST(SqliteReportStore, EmptyPathIsInvalidArgument) {
  auto store = open_sqlite_report_store(SqliteOptions{"", 100});
  ASSERT_FALSE(store);
  EXPECT_EQ(store.error().code, Errc::InvalidArgument);
}

TEST(SqliteReportStore, BothStoresOpenAtOnceOnOneFile) {
  for (const bool report_store_first : {true, false}) {
    SCOPED_TRACE(report_store_first ? "report store opened first" : "policy cache opened first");
    TempDir dir;
    const auto path = dir / "policies.sqlite";
    std::unique_ptr<ReportStore> store;
    std::unique_ptr<PolicyCache> cache;
    if (report_store_first) store = open_or_fail(path);
    auto opened = open_sqlite_cache(SqliteOptions{path});
    ASSERT_TRUE(opened) << opened.error().detail;
    cache = std::move(*opened);
    if (!report_store_first) store = open_or_fail(path);
    ASSERT_NE(store, nullptr);

    ASSERT_TRUE(cache->put(test::make_policy("example.com")));
    ASSERT_TRUE(store->add(batch(at(k_day), {sts_policy(1, 0)})));
    auto second = open_or_fail(path);  // e.g. `tlspolicy report show` beside the daemon
    ASSERT_NE(second, nullptr);
    EXPECT_EQ(aggregate_or_fail(*second, k_day), (std::vector{aggregated(sts_policy(1, 0))}));
    auto policy = cache->get(test::name("example.com"));
    ASSERT_TRUE(policy && policy->has_value());
    RawDb raw{path};
    EXPECT_EQ(raw.query("PRAGMA user_version"), std::to_string(sqlite_schema_version()));
  }
}

// ---- concurrency -----------------------------------------------------------------

TEST(SqliteReportStore, ConcurrentAddsAreAllCounted) {
  TempDir dir;
  const auto path = dir / "store.sqlite";
  auto shared = open_or_fail(path);
  ASSERT_NE(shared, nullptr);
  auto other_process = open_or_fail(path);  // a second connection, like a second process
  ASSERT_NE(other_process, nullptr);
  constexpr int k_threads = 4;
  constexpr int k_rounds = 50;
  const auto d = detail(ResultType::CertificateExpired);
  std::atomic<int> errors{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < k_threads; ++t) {
    threads.emplace_back([&, t] {
      ReportStore& store = t == 0 ? *other_process : *shared;
      for (int i = 0; i < k_rounds; ++i) {
        if (!store.add(batch(at(k_day, i), {sts_policy(1, 1, {d}), no_policy(2)}))) ++errors;
        if (i % 10 == 0 && !store.days({})) ++errors;
        if (i % 10 == 5 && !store.aggregate(k_day, "example.com")) ++errors;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(errors.load(), 0);
  constexpr std::uint64_t k_batches = k_threads * k_rounds;
  EXPECT_EQ(aggregate_or_fail(*shared, k_day),
            (std::vector{aggregated(sts_policy(k_batches, k_batches), {{d, k_batches}}),
                         aggregated(no_policy(2 * k_batches))}));
}

// ---- failure paths ---------------------------------------------------------------

TEST(SqliteReportStore, LockedByAnotherWriterFailsWritesWithCacheIo) {
  TempDir dir;
  const auto path = dir / "store.sqlite";
  auto store = open_or_fail(path, /*busy_timeout_ms=*/100);
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->add(batch(at(k_day), {sts_policy(1, 0)})));
  auto row = report("<a@reporter.example>", k_day);
  ASSERT_TRUE(store->create_report(row));

  RawDb other{path};
  other.exec("BEGIN IMMEDIATE");  // another process holding the write lock
  auto add = store->add(batch(at(k_day), {sts_policy(1, 0)}));
  ASSERT_FALSE(add) << "add succeeded while another connection held the write lock";
  test::expect_locked(add.error(), path, "add");
  auto create = store->create_report(report("<b@reporter.example>", k_next_day));
  ASSERT_FALSE(create);
  test::expect_locked(create.error(), path, "create_report");
  row.attempts = 1;
  auto update = store->update_report(row);
  ASSERT_FALSE(update);
  test::expect_locked(update.error(), path, "update_report");
  auto purge = store->purge_before(k_next_day);
  ASSERT_FALSE(purge);
  test::expect_locked(purge.error(), path, "purge_before");

  // WAL: readers are not blocked by the writer.
  EXPECT_EQ(aggregate_or_fail(*store, k_day), (std::vector{aggregated(sts_policy(1, 0))}));
  auto due = store->due_reports(row.next_attempt_at);
  ASSERT_TRUE(due) << due.error().detail;
  EXPECT_EQ(due->size(), 1U);

  other.exec("ROLLBACK");
  EXPECT_TRUE(store->add(batch(at(k_day), {sts_policy(1, 0)})));
  EXPECT_EQ(aggregate_or_fail(*store, k_day), (std::vector{aggregated(sts_policy(2, 0))}));
}

// Runs in a death-test child (see test::read_only_store_child).
[[noreturn]] void read_only_store_child(const std::filesystem::path& path) {
  test::read_only_store_child(
      "add",
      [&] {
        return open_sqlite_report_store(SqliteOptions{path, 100});
      },
      [](const ReportStore& store) {
        auto got = store.aggregate(k_day, "example.com");
        return got && got->size() == 1;
      },
      [](ReportStore& store) { return store.add(batch(at(k_day), {sts_policy(1, 0)})); });
}

TEST(SqliteReportStoreDeathTest, ReadOnlyFileFailsAddWithCacheIo) {
  TempDir dir;
  const auto path = dir / "store.sqlite";
  {
    auto store = open_or_fail(path);
    ASSERT_NE(store, nullptr);
    ASSERT_TRUE(store->add(batch(at(k_day), {sts_policy(1, 0)})));
  }
  test::make_read_only(dir, path);
  EXPECT_EXIT(read_only_store_child(path), ::testing::ExitedWithCode(0),
              "read-only ok: sqlite: attempt to write a readonly database");
}

TEST(SqliteReportStore, UnknownStateInDatabaseIsSchemaErrorNotACrash) {
  TempDir dir;
  const auto path = dir / "store.sqlite";
  auto store = open_or_fail(path);
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->create_report(report("<a@reporter.example>", k_day)));
  ASSERT_TRUE(store->add(batch(at(k_day), {sts_policy(1, 0)})));
  {
    RawDb raw{path};
    raw.exec(
        "PRAGMA ignore_check_constraints = ON;"
        "UPDATE rpt_report SET state = 'Pending';"
        "UPDATE rpt_policy SET policy_strings = 'not a list'");
  }
  auto reports = store->reports({});
  ASSERT_FALSE(reports) << "read a report with state 'Pending'";
  EXPECT_EQ(reports.error().code, Errc::CacheSchema);
  EXPECT_NE(reports.error().detail.find("Pending"), std::string::npos) << reports.error().detail;
  auto got = store->aggregate(k_day, "example.com");
  ASSERT_FALSE(got) << "read a policy with policy_strings 'not a list'";
  EXPECT_EQ(got.error().code, Errc::CacheSchema);
  // purge_before() clears bad rows.
  ASSERT_TRUE(store->purge_before(k_next_day));
  EXPECT_TRUE(store->reports({}));
  EXPECT_TRUE(store->aggregate(k_day, "example.com"));
}

// ---- claims ------------------------------------------------------------------------

// Two store objects on one file are two senders (the daemon and `tlspolicy report send`).
TEST(SqliteReportStore, ClaimsHoldAcrossConnectionsUntilTheLeaseRunsOut) {
  TempDir dir;
  const auto path = dir / "store.sqlite";
  auto daemon = open_or_fail(path);
  auto cli = open_or_fail(path);
  ASSERT_NE(daemon, nullptr);
  ASSERT_NE(cli, nullptr);
  const auto row = report("<a@reporter.example>", k_day);
  ASSERT_TRUE(daemon->create_report(row));
  ASSERT_TRUE(claimed(*daemon, row.report_id, "daemon", std::chrono::minutes{10}));
  EXPECT_FALSE(claimed(*cli, row.report_id, "cli"));
  {
    RawDb raw{path};
    // The lease is in the store's clock, Unix seconds from now.
    const auto left = std::stoll(raw.query("SELECT claim_until - unixepoch() FROM rpt_report"));
    EXPECT_GE(left, 599);
    EXPECT_LE(left, 600);
    EXPECT_EQ(raw.query("SELECT claimed_by FROM rpt_report"), "daemon");
    // Ten minutes later, as far as the claim is concerned.
    raw.exec("UPDATE rpt_report SET claim_until = unixepoch() - 1");
  }
  EXPECT_TRUE(claimed(*cli, row.report_id, "cli")) << "the daemon's lease ran out";
  EXPECT_FALSE(claimed(*daemon, row.report_id, "daemon")) << "cli holds it now";
  ReportRow sent = row;
  sent.state = ReportState::Sent;
  sent.sent_at = row.next_attempt_at;
  sent.sent_to = "mailto:tlsrpt@example.com";
  ASSERT_TRUE(cli->update_report(sent));
  RawDb raw{path};
  EXPECT_EQ(raw.query("SELECT count(*) FROM rpt_report WHERE claimed_by IS NULL AND "
                      "claim_until IS NULL"),
            "1")
      << "update_report left the claim";
}

TEST(SqliteReportStore, ClaimWaitsForTheWriteLockAndFailsWithCacheIo) {
  TempDir dir;
  const auto path = dir / "store.sqlite";
  auto store = open_or_fail(path, /*busy_timeout_ms=*/100);
  ASSERT_NE(store, nullptr);
  const auto row = report("<a@reporter.example>", k_day);
  ASSERT_TRUE(store->create_report(row));
  RawDb other{path};
  other.exec("BEGIN IMMEDIATE");
  auto got = store->claim_report(row.report_id, "node-a", std::chrono::minutes{10});
  ASSERT_FALSE(got) << "claimed while another connection held the write lock";
  test::expect_locked(got.error(), path, "claim_report");
  other.exec("ROLLBACK");
  EXPECT_TRUE(claimed(*store, row.report_id, "node-a"));
}

// ---- pushing to the shared store ------------------------------------------------

/// Every push a PushFn received.
struct Received {
  std::int64_t seq = 0;
  std::vector<DayAggregate> days;
};

/// A PushFn that records what it is given into `into` and succeeds, or fails with CacheIo
/// when `fail` is set.
PushFn recorder(std::vector<Received>& into, const bool& fail_it) {
  return
      [&into, &fail_it](std::int64_t seq, const std::vector<DayAggregate>& days) -> Result<void> {
        into.push_back({seq, days});
        if (fail_it) return fail(Errc::CacheIo, Retry::Transient, "store: PostgreSQL is down");
        return {};
      };
}

std::size_t pushed_or_fail(ReportStore& store, const PushFn& push) {
  auto n = push_local_results(store, push);
  if (!n) {
    ADD_FAILURE() << "push_local_results: " << n.error().detail;
    return 0;
  }
  return *n;
}

TEST(SqliteReportStorePush, MovesEverythingExactlyOnce) {
  TempDir dir;
  const auto path = dir / "store.sqlite";
  auto store = open_or_fail(path);
  ASSERT_NE(store, nullptr);
  const auto d = detail(ResultType::CertificateExpired);
  ASSERT_TRUE(store->add(batch(at(k_day), {sts_policy(3, 2, {d, d}), no_policy(4)})));
  ASSERT_TRUE(store->add(batch(at(k_day), {tlsa_policy(1, 0)}, "example.net")));
  ASSERT_TRUE(store->add(batch(at(k_prev_day), {sts_policy(5, 0)})));
  const auto row = report("<a@reporter.example>", k_prev_day);
  ASSERT_TRUE(store->create_report(row));

  std::vector<Received> got;
  const bool down = false;
  EXPECT_EQ(pushed_or_fail(*store, recorder(got, down)), 3U);
  ASSERT_EQ(got.size(), 1U);
  // Ordered by day, then domain; each as aggregate() gives it.
  const std::vector<DayAggregate> want{
      {k_prev_day, "example.com", {aggregated(sts_policy(5, 0))}},
      {k_day, "example.com", {aggregated(sts_policy(3, 2), {{d, 2}}), aggregated(no_policy(4))}},
      {k_day, "example.net", {aggregated(tlsa_policy(1, 0))}},
  };
  EXPECT_EQ(got[0].days, want);
  EXPECT_GT(got[0].seq, 0);

  // Moved: nothing is left to count or push, and the details went too.
  auto days = store->days({});
  ASSERT_TRUE(days) << days.error().detail;
  EXPECT_TRUE(days->empty());
  EXPECT_EQ(pushed_or_fail(*store, recorder(got, down)), 0U);
  EXPECT_EQ(got.size(), 1U) << "push called with nothing to push";
  {
    RawDb raw{path};
    EXPECT_EQ(raw.query("SELECT count(*) FROM rpt_failure"), "0");
    EXPECT_EQ(raw.query("SELECT value FROM meta WHERE key = 'rpt_push_seq'"),
              std::to_string(got[0].seq));
  }
  // Reports stay where they are.
  auto reports = store->reports({});
  ASSERT_TRUE(reports) << reports.error().detail;
  EXPECT_EQ(*reports, std::vector{row});
}

TEST(SqliteReportStorePush, AFailingPushKeepsEverythingAndOffersTheSameSeqAgain) {
  auto store = open_memory();
  ASSERT_NE(store, nullptr);
  const auto d = detail(ResultType::StarttlsNotSupported);
  ASSERT_TRUE(store->add(batch(at(k_day), {sts_policy(1, 1, {d})})));
  std::vector<Received> got;
  bool down = true;
  for (int attempt = 0; attempt < 2; ++attempt) {
    auto r = push_local_results(*store, recorder(got, down));
    ASSERT_FALSE(r) << "a failed push reported success";
    EXPECT_EQ(r.error().code, Errc::CacheIo);
    EXPECT_EQ(r.error().detail, "store: PostgreSQL is down") << "not push's own error";
  }
  ASSERT_EQ(got.size(), 2U);
  EXPECT_EQ(got[1].seq, got[0].seq) << "a retry must offer the same seq";
  EXPECT_EQ(got[1].days, got[0].days);
  EXPECT_EQ(aggregate_or_fail(*store, k_day), (std::vector{aggregated(sts_policy(1, 1), {{d, 1}})}))
      << "a failed push lost results";

  // Counted meanwhile: the retry carries it too, still under the same seq.
  ASSERT_TRUE(store->add(batch(at(k_day), {sts_policy(1, 0)})));
  down = false;
  EXPECT_EQ(pushed_or_fail(*store, recorder(got, down)), 1U);
  ASSERT_EQ(got.size(), 3U);
  EXPECT_EQ(got[2].seq, got[0].seq);
  EXPECT_EQ(got[2].days, (std::vector<DayAggregate>{
                             {k_day, "example.com", {aggregated(sts_policy(2, 1), {{d, 1}})}}}));
  EXPECT_TRUE(aggregate_or_fail(*store, k_day).empty());
}

TEST(SqliteReportStorePush, ResultsCountedAfterAPushGoWithTheNextSeq) {
  TempDir dir;
  const auto path = dir / "store.sqlite";
  std::vector<Received> got;
  const bool down = false;
  {
    auto store = open_or_fail(path);
    ASSERT_NE(store, nullptr);
    ASSERT_TRUE(store->add(batch(at(k_day), {sts_policy(1, 0)})));
    EXPECT_EQ(pushed_or_fail(*store, recorder(got, down)), 1U);
    ASSERT_TRUE(store->add(batch(at(k_day), {sts_policy(2, 0)})));
    EXPECT_EQ(pushed_or_fail(*store, recorder(got, down)), 1U);
  }
  // The counter survives a restart.
  auto store = open_or_fail(path);
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->add(batch(at(k_next_day), {no_policy(7)})));
  EXPECT_EQ(pushed_or_fail(*store, recorder(got, down)), 1U);
  ASSERT_EQ(got.size(), 3U);
  EXPECT_EQ(got[1].seq, got[0].seq + 1);
  EXPECT_EQ(got[2].seq, got[0].seq + 2);
  EXPECT_EQ(got[0].days,
            (std::vector<DayAggregate>{{k_day, "example.com", {aggregated(sts_policy(1, 0))}}}));
  EXPECT_EQ(got[1].days,
            (std::vector<DayAggregate>{{k_day, "example.com", {aggregated(sts_policy(2, 0))}}}));
  EXPECT_EQ(got[2].days,
            (std::vector<DayAggregate>{{k_next_day, "example.com", {aggregated(no_policy(7))}}}));
}

// The counter starts at the Unix time in milliseconds of the first push, so a store made
// anew for the same node (a rebuilt host, a deleted file) does not offer the seq numbers
// its predecessor pushed, which the receiver would take for retries.
TEST(SqliteReportStorePush, TheCounterStartsAtTheTimeOfTheFirstPush) {
  auto store = open_memory();
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->add(batch(at(k_day), {sts_policy(1, 0)})));
  const auto unix_ms = [] {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  };
  std::vector<Received> got;
  const bool down = false;
  const auto before = unix_ms();
  EXPECT_EQ(pushed_or_fail(*store, recorder(got, down)), 1U);
  const auto after = unix_ms();
  ASSERT_EQ(got.size(), 1U);
  EXPECT_GE(got[0].seq, before + 1);
  EXPECT_LE(got[0].seq, after + 1);
}

TEST(SqliteReportStorePush, OtherStoresAreInvalidArgument) {
  class NotSqlite final : public ReportStore {
   public:
    Result<void> add(const tlsrpt::ResultBatch&) override { return {}; }
    Result<std::vector<ReportDaySummary>> days(const ReportFilter&) const override {
      return std::vector<ReportDaySummary>{};
    }
    Result<std::vector<AggregatedPolicy>> aggregate(Day, const std::string&) const override {
      return std::vector<AggregatedPolicy>{};
    }
    Result<ReportRow> create_report(const ReportRow& r) override { return r; }
    Result<std::vector<ReportRow>> reports(const ReportFilter&) const override {
      return std::vector<ReportRow>{};
    }
    Result<std::vector<ReportRow>> due_reports(util::TimePoint) const override {
      return std::vector<ReportRow>{};
    }
    Result<void> update_report(const ReportRow&) override { return {}; }
    Result<bool> claim_report(const std::string&, std::string_view, std::chrono::seconds) override {
      return true;
    }
    Result<std::size_t> purge_before(Day) override { return std::size_t{0}; }
  };
  NotSqlite other;
  std::vector<Received> got;
  const bool down = false;
  auto r = push_local_results(other, recorder(got, down));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::InvalidArgument);
  EXPECT_TRUE(got.empty());
}

// The push holds the write lock: a result counted by another process meanwhile waits,
// and is neither pushed nor deleted with the pushed rows.
TEST(SqliteReportStorePush, AnotherWriterWaitsForThePush) {
  TempDir dir;
  const auto path = dir / "store.sqlite";
  auto store = open_or_fail(path);
  auto other_process = open_or_fail(path, /*busy_timeout_ms=*/100);
  ASSERT_NE(store, nullptr);
  ASSERT_NE(other_process, nullptr);
  ASSERT_TRUE(store->add(batch(at(k_day), {sts_policy(1, 0)})));
  std::vector<Received> got;
  Result<void> during_push;
  const PushFn push = [&](std::int64_t seq, const std::vector<DayAggregate>& days) {
    got.push_back({seq, days});
    during_push = other_process->add(batch(at(k_day), {sts_policy(10, 0)}));
    return Result<void>{};
  };
  EXPECT_EQ(pushed_or_fail(*store, push), 1U);
  ASSERT_FALSE(during_push) << "another process wrote while the push held the store";
  test::expect_locked(during_push.error(), path, "add during a push");
  ASSERT_TRUE(other_process->add(batch(at(k_day), {sts_policy(10, 0)})));
  EXPECT_EQ(aggregate_or_fail(*store, k_day), (std::vector{aggregated(sts_policy(10, 0))}));
}

}  // namespace
}  // namespace tlspolicy::cache
