// SPDX-License-Identifier: Apache-2.0
//
// Integration tests of policy-cache/pg_report_store.cpp against a REAL
// PostgreSQL started for this test binary (pg_test_support.hpp): the
// ReportStore contract the SQLite store passes too (report_store_contract.hpp),
// then what a fleet adds: bytes PostgreSQL text cannot hold (NUL, invalid
// UTF-8) round-tripping exactly, pushes of a node's local results counted
// exactly once (add_pushed, and push_local_results from a real SQLite store),
// claims between two nodes on two connections (one wins; the other wins once
// the lease ran out on the server's clock), two nodes racing to make and
// claim the same report, two nodes adding the same policies in opposite
// orders (no deadlock, nothing lost), and a transaction that fails half-way
// counting nothing. Each test starts from empty TLS-RPT tables.
#include "pg_report_store.hpp"

#include <array>
#include <atomic>
#include <barrier>
#include <chrono>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "tlspolicy/cache/policy_cache.hpp"
#include "tlspolicy/cache/report_store.hpp"
#include "tlspolicy/tlsrpt/model.hpp"

#include "pg_connection.hpp"
#include "pg_test_support.hpp"
#include "report_push.hpp"
#include "unit/cache/report_store_contract.hpp"

namespace tlspolicy::cache {
namespace {

using namespace contract;  // NOLINT(google-build-using-namespace): the shared builders
using namespace std::chrono_literals;

/// The server of this test binary, started at first use, stopped at exit.
test::PgTestServer& server() {
  static test::PgTestServer s;
  return s;
}

/// Migrates the test database (pg_migrate, as every node does at start) and empties the
/// TLS-RPT tables; "" when done, else what failed.
std::string fresh_tables() {
  if (!server().why_not().empty()) return server().why_not();
  auto c = PgConn::open(server().options());
  if (!c) return "connect: " + c.error().detail;
  if (auto m = pg_migrate(**c); !m) return "pg_migrate: " + m.error().detail;
  if (auto t = (*c)->run("DROP TRIGGER IF EXISTS poison ON rpt_policy;"
                         "TRUNCATE rpt_failure, rpt_policy, rpt_report, rpt_push");
      !t) {
    return "truncate: " + t.error().detail;
  }
  return "";
}

/// One fleet node's store: a PgReportStore over a PgLink (a connection) of its own.
class NodeStore final : public ReportStore {
 public:
  explicit NodeStore(PgOptions options) : m_link(std::move(options)), m_store(m_link) {}

  [[nodiscard]] PgReportStore& pg() noexcept { return m_store; }

  Result<void> add(const tlsrpt::ResultBatch& b) override { return m_store.add(b); }
  Result<std::vector<ReportDaySummary>> days(const ReportFilter& f) const override {
    return m_store.days(f);
  }
  Result<std::vector<AggregatedPolicy>> aggregate(Day d, const std::string& domain) const override {
    return m_store.aggregate(d, domain);
  }
  Result<ReportRow> create_report(const ReportRow& row) override {
    return m_store.create_report(row);
  }
  Result<std::vector<ReportRow>> reports(const ReportFilter& f) const override {
    return m_store.reports(f);
  }
  Result<std::vector<ReportRow>> due_reports(util::TimePoint now) const override {
    return m_store.due_reports(now);
  }
  Result<void> update_report(const ReportRow& row) override { return m_store.update_report(row); }
  Result<bool> claim_report(const std::string& id, std::string_view node,
                            std::chrono::seconds lease) override {
    return m_store.claim_report(id, node, lease);
  }
  Result<std::size_t> purge_before(Day before) override { return m_store.purge_before(before); }

 private:
  PgLink m_link;
  PgReportStore m_store;
};

std::unique_ptr<NodeStore> open_node() { return std::make_unique<NodeStore>(server().options()); }

/// A store on empty tables, for the contract tests.
std::unique_ptr<ReportStore> open_contract_store() {
  if (const auto failed = fresh_tables(); !failed.empty()) {
    ADD_FAILURE() << failed;
    return nullptr;
  }
  return open_node();
}

std::string why_no_server() { return server().why_not(); }

INSTANTIATE_TEST_SUITE_P(PgReportStore, ReportStoreContract,
                         ::testing::Values(StoreFactory{"postgresql", open_contract_store,
                                                        why_no_server}),
                         factory_name);

class PgReportStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!server().why_not().empty()) GTEST_SKIP() << server().why_not();
    const auto failed = fresh_tables();
    ASSERT_TRUE(failed.empty()) << failed;
    node_a = open_node();
    node_b = open_node();
  }

  /// The first column of the first row of `sql` on a connection of its own ("" if none).
  std::string query(const std::string& sql) {
    auto c = PgConn::open(server().options());
    if (!c) {
      ADD_FAILURE() << c.error().detail;
      return {};
    }
    auto rows = (*c)->exec(sql, {});
    if (!rows) {
      ADD_FAILURE() << rows.error().detail << "\nin: " << sql;
      return {};
    }
    return rows->size() == 0 ? std::string{} : std::string(rows->text(0, 0));
  }

  /// Runs `sql` (several statements allowed) on a connection of its own.
  void execute(const std::string& sql) {
    auto c = PgConn::open(server().options());
    if (!c) {
      ADD_FAILURE() << c.error().detail;
      return;
    }
    if (auto r = (*c)->run(sql); !r) ADD_FAILURE() << r.error().detail << "\nin: " << sql;
  }

  std::unique_ptr<NodeStore> node_a;  ///< two fleet nodes, two connections
  std::unique_ptr<NodeStore> node_b;
};

// ---- bytes ---------------------------------------------------------------------------

// Datagrams and the JSON op may carry any bytes in these fields (JSON "\u0000"); the
// shared store keeps them exactly, and equal bytes still meet in one row.
TEST_F(PgReportStoreTest, BytesTextCannotHoldRoundTripExactly) {
  const std::string nul{"a\0b", 3};
  const std::string bad_utf8 = "\xff\xfe \xc3\x28 \xed\xa0\x80 not utf-8";
  FailureDetail d;
  d.result_type = ResultType::ValidationFailure;
  d.sending_mta_ip = nul;
  d.receiving_mx_hostname = bad_utf8;
  d.receiving_mx_helo = std::string{"\0", 1};
  d.receiving_ip = "quote ' backslash \\ percent % hex \\x00";
  d.additional_information = "caf\xc3\xa9 \x01\x1f\x7f";
  d.failure_reason_code = nul + bad_utf8;
  const FailureDetail d2 = with(d, &FailureDetail::sending_mta_ip, std::string{"a\0c", 3});
  auto p = sts_policy(1, 2, {d, d2}, std::string{"pol\0icy\xff", 8},
                      {nul, bad_utf8, "", "[\"json\"]"}, {std::string{"\0", 1}, "\x80"});
  ASSERT_TRUE(node_a->add(batch(at(k_day), {p})));
  ASSERT_TRUE(node_b->add(batch(at(k_day), {p})));
  const auto got = aggregate_or_fail(*node_a, k_day);
  ASSERT_EQ(got.size(), 1U) << "equal bytes were not matched";
  EXPECT_EQ(got[0], aggregated(sts_policy(2, 4, {}, p.policy.policy_domain, p.policy.policy_strings,
                                          p.policy.mx_hosts),
                               {{d, 2}, {d2, 2}}));

  // A report's last error and rua (a peer's answer, a URI from DNS) too.
  auto row = report("<a@reporter.example>", k_day);
  ASSERT_TRUE(node_a->create_report(row));
  row.last_error = bad_utf8 + nul;
  row.sent_to = "mailto:" + nul + "@\xff";
  row.state = ReportState::Sent;
  row.sent_at = row.next_attempt_at;
  ASSERT_TRUE(node_a->update_report(row));
  auto reports = node_b->reports({});
  ASSERT_TRUE(reports) << reports.error().detail;
  EXPECT_EQ(*reports, std::vector{row});
}

// What must be text in PostgreSQL is refused with InvalidArgument, never cut at a NUL.
TEST_F(PgReportStoreTest, ReportDomainsAndNodesThatAreNotTextAreInvalidArgument) {
  auto r = node_a->add(batch(at(k_day), {sts_policy(1, 0)}, std::string{"a\0.example", 10}));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::InvalidArgument);
  r = node_a->add(batch(at(k_day), {sts_policy(1, 0)}, "\xff.example"));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::InvalidArgument);
  auto created = node_a->create_report(report("<a@reporter.example>", k_day, "\xc3.example"));
  ASSERT_FALSE(created);
  EXPECT_EQ(created.error().code, Errc::InvalidArgument);
  ASSERT_TRUE(node_a->create_report(report("<a@reporter.example>", k_day)));
  auto claim = node_a->claim_report("<a@reporter.example>", std::string{"node\0a", 6}, 10min);
  ASSERT_FALSE(claim);
  EXPECT_EQ(claim.error().code, Errc::InvalidArgument);
  EXPECT_EQ(query("SELECT count(*) FROM rpt_policy"), "0");
  EXPECT_EQ(query("SELECT count(*) FROM rpt_report WHERE claimed_by IS NOT NULL"), "0");
}

// ---- pushes ----------------------------------------------------------------------------

TEST_F(PgReportStoreTest, AddPushedCountsEachNodesPushOnce) {
  const auto d = detail(ResultType::CertificateExpired);
  const std::vector<DayAggregate> push{
      {k_prev_day, "example.com", {aggregated(sts_policy(5, 3), {{d, 3}})}},
      {k_day, "example.net", {aggregated(tlsa_policy(2, 0)), aggregated(no_policy(1))}},
  };
  auto first = node_a->pg().add_pushed("node-a", 41, push);
  ASSERT_TRUE(first) << first.error().detail;
  EXPECT_TRUE(*first);
  // The same push again (its answer was lost): recognised, nothing added.
  auto again = node_b->pg().add_pushed("node-a", 41, push);
  ASSERT_TRUE(again) << again.error().detail;
  EXPECT_FALSE(*again) << "a retried push was counted twice";
  EXPECT_EQ(aggregate_or_fail(*node_a, k_prev_day),
            (std::vector{aggregated(sts_policy(5, 3), {{d, 3}})}));
  EXPECT_EQ(aggregate_or_fail(*node_a, k_day, "example.net"),
            (std::vector{aggregated(tlsa_policy(2, 0)), aggregated(no_policy(1))}));

  // Another node's push with the same seq, and node-a's next push, both count; so do
  // results added directly, into the same rows.
  auto other = node_b->pg().add_pushed("node-b", 41, push);
  ASSERT_TRUE(other && *other);
  auto next = node_a->pg().add_pushed("node-a", 42, {push[0]});
  ASSERT_TRUE(next && *next);
  ASSERT_TRUE(node_b->add(batch(at(k_prev_day), {sts_policy(1, 1, {d})})));
  EXPECT_EQ(aggregate_or_fail(*node_a, k_prev_day),
            (std::vector{aggregated(sts_policy(16, 10), {{d, 10}})}));
  auto days = node_a->days({});
  ASSERT_TRUE(days) << days.error().detail;
  EXPECT_EQ(*days, (std::vector<ReportDaySummary>{{k_prev_day, "example.com", 16, 10},
                                                  {k_day, "example.net", 6, 0}}));
  EXPECT_EQ(query("SELECT count(*) FROM rpt_push"), "3");
}

TEST_F(PgReportStoreTest, AddPushedSaturatesAndRejectsBadPushesWhole) {
  constexpr std::uint64_t k_max = std::numeric_limits<std::int64_t>::max();
  const auto d = detail(ResultType::DaneRequired);
  ASSERT_TRUE(node_a->pg().add_pushed(
      "node-a", 1, {{k_day, "example.com", {aggregated(sts_policy(k_max - 1, 1), {{d, k_max}})}}}));
  ASSERT_TRUE(node_a->pg().add_pushed(
      "node-a", 2, {{k_day, "example.com", {aggregated(sts_policy(5, 1), {{d, 5}})}}}));
  EXPECT_EQ(aggregate_or_fail(*node_a, k_day),
            (std::vector{aggregated(sts_policy(k_max, 2), {{d, k_max}})}));
  // One bad aggregate: nothing of the push is added, and its seq is not used up.
  const std::vector<DayAggregate> bad{
      {k_day, "example.net", {aggregated(no_policy(1))}},
      {k_day, "example.org", {aggregated(sts_policy(k_max + 1, 0))}},
  };
  auto r = node_a->pg().add_pushed("node-a", 3, bad);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::InvalidArgument);
  EXPECT_TRUE(aggregate_or_fail(*node_a, k_day, "example.net").empty());
  auto empty_node = node_a->pg().add_pushed("", 3, {bad[0]});
  ASSERT_FALSE(empty_node);
  EXPECT_EQ(empty_node.error().code, Errc::InvalidArgument);
  auto good = node_a->pg().add_pushed("node-a", 3, {bad[0]});
  ASSERT_TRUE(good && *good) << "seq 3 was used up by a rejected push";
}

// The whole path of issue 13 §5: a node's results, counted locally in SQLite, reach the
// shared store once, even when the answer to a push that PostgreSQL committed is lost.
TEST_F(PgReportStoreTest, LocalResultsArePushedExactlyOnceThroughALostAnswer) {
  auto local = open_sqlite_report_store(SqliteOptions{":memory:"});
  ASSERT_TRUE(local) << local.error().detail;
  const auto d = detail(ResultType::StarttlsNotSupported);
  ASSERT_TRUE((*local)->add(batch(at(k_day), {sts_policy(2, 1, {d}), no_policy(3)})));
  ASSERT_TRUE((*local)->add(batch(at(k_prev_day), {tlsa_policy(4, 0)}, "example.net")));

  std::vector<std::int64_t> seqs;
  std::vector<bool> fresh;
  bool lose_answer = true;
  const PushFn push = [&](std::int64_t seq, const std::vector<DayAggregate>& days) {
    seqs.push_back(seq);
    auto added = node_a->pg().add_pushed("node-a", seq, days);
    if (!added) return Result<void>{Unexpected{added.error()}};
    fresh.push_back(*added);
    if (lose_answer) {
      return Result<void>{fail(Errc::CacheIo, Retry::Transient, "store: connection lost")};
    }
    return Result<void>{};
  };
  auto lost = push_local_results(**local, push);
  ASSERT_FALSE(lost) << "the lost answer was not reported";
  lose_answer = false;
  auto moved = push_local_results(**local, push);
  ASSERT_TRUE(moved) << moved.error().detail;
  EXPECT_EQ(*moved, 2U);
  ASSERT_EQ(seqs.size(), 2U);
  EXPECT_EQ(seqs[1], seqs[0]) << "the retry came with another seq";
  EXPECT_EQ(fresh, (std::vector<bool>{true, false})) << "the retry was counted again";

  EXPECT_EQ(aggregate_or_fail(*node_b, k_day),
            (std::vector{aggregated(sts_policy(2, 1), {{d, 1}}), aggregated(no_policy(3))}));
  EXPECT_EQ(aggregate_or_fail(*node_b, k_prev_day, "example.net"),
            (std::vector{aggregated(tlsa_policy(4, 0))}));
  auto left = (*local)->days({});
  ASSERT_TRUE(left) << left.error().detail;
  EXPECT_TRUE(left->empty()) << "pushed results stayed in the local store";
}

TEST_F(PgReportStoreTest, PurgeForgetsOldPushesButEachNodesLatest) {
  for (const std::int64_t seq : {1, 2, 3}) {
    ASSERT_TRUE(node_a->pg().add_pushed("node-a", seq, {}));
  }
  ASSERT_TRUE(node_a->pg().add_pushed("node-b", 7, {}));
  execute("UPDATE rpt_push SET pushed_at = '2026-01-01 00:00:00+00'");  // before k_day
  ASSERT_TRUE(node_a->purge_before(k_day));
  EXPECT_EQ(query("SELECT string_agg(node || ':' || seq, ',' ORDER BY node, seq) FROM rpt_push"),
            "node-a:3,node-b:7");
  auto retry = node_a->pg().add_pushed("node-a", 3, {});
  ASSERT_TRUE(retry) << retry.error().detail;
  EXPECT_FALSE(*retry) << "the latest push was forgotten";
}

// ---- claims between nodes ----------------------------------------------------------------

TEST_F(PgReportStoreTest, OneNodeHoldsAClaimUntilItsLeaseRunsOutOnTheServerClock) {
  const auto row = report("<a@reporter.example>", k_day);
  ASSERT_TRUE(node_a->create_report(row));
  ASSERT_TRUE(claimed(*node_a, row.report_id, "node-a", 1s));
  EXPECT_FALSE(claimed(*node_b, row.report_id, "node-b", 1s)) << "both nodes hold the claim";
  EXPECT_EQ(query("SELECT claimed_by FROM rpt_report"), "node-a");
  // The lease ends on the server's clock, about a second after the claim.
  bool granted = false;
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (!granted && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(100ms);
    granted = claimed(*node_b, row.report_id, "node-b", 10min);
  }
  EXPECT_TRUE(granted) << "node-a's lease of 1 s never ran out";
  EXPECT_FALSE(claimed(*node_a, row.report_id, "node-a")) << "node-b holds it now";
  EXPECT_EQ(query("SELECT claimed_by FROM rpt_report"), "node-b");
  EXPECT_EQ(query("SELECT claim_until > now() + interval '9 minutes' FROM rpt_report"), "t");
}

// Two nodes make the day's report and claim it at the same moment: one report, one sender.
TEST_F(PgReportStoreTest, TwoNodesRacingMakeOneReportAndOneClaim) {
  constexpr int k_rounds = 20;
  for (int round = 0; round < k_rounds; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    const Day d = k_day + std::chrono::days{round};
    std::barrier start{2};
    std::array<std::optional<ReportRow>, 2> stored;
    std::array<Result<bool>, 2> claims{false, false};
    std::array<std::string, 2> errors;
    const auto run = [&](int i, NodeStore& node) {
      start.arrive_and_wait();
      auto row = node.create_report(report("<" + std::to_string(round) + "-" + std::to_string(i) +
                                               "@node" + std::to_string(i) + ".example>",
                                           d));
      if (!row) {
        errors[static_cast<std::size_t>(i)] = row.error().detail;
        return;
      }
      stored[static_cast<std::size_t>(i)] = *row;
      claims[static_cast<std::size_t>(i)] =
          node.claim_report(row->report_id, "node" + std::to_string(i), 10min);
    };
    std::thread a{run, 0, std::ref(*node_a)};
    std::thread b{run, 1, std::ref(*node_b)};
    a.join();
    b.join();
    ASSERT_EQ(errors[0] + errors[1], "");
    ASSERT_TRUE(stored[0] && stored[1]);
    EXPECT_EQ(*stored[0], *stored[1]) << "the nodes saw different reports";
    ASSERT_TRUE(claims[0] && claims[1]);
    EXPECT_NE(*claims[0], *claims[1]) << "want exactly one claim granted";
    auto rows = node_a->reports({d, std::nullopt});
    ASSERT_TRUE(rows) << rows.error().detail;
    EXPECT_EQ(rows->size(), 1U);
  }
}

// ---- concurrency and atomicity ----------------------------------------------------------

// Two nodes add the same two policies in opposite orders: the per-(day, domain) lock makes
// them queue, so neither deadlocks and every session counts.
TEST_F(PgReportStoreTest, NodesAddingInOppositeOrdersLoseNothing) {
  constexpr int k_rounds = 40;
  const auto d = detail(ResultType::CertificateExpired);
  const auto a = sts_policy(1, 1, {d});
  const auto b = tlsa_policy(2, 0);
  std::atomic<int> errors{0};
  std::string first_error;
  std::mutex error_mu;
  const auto run = [&](NodeStore& node, bool reversed) {
    for (int i = 0; i < k_rounds; ++i) {
      auto r = node.add(batch(at(k_day, i), reversed ? std::vector{b, a} : std::vector{a, b}));
      if (!r) {
        ++errors;
        const std::lock_guard lock{error_mu};
        if (first_error.empty()) first_error = r.error().detail;
      }
    }
  };
  std::thread ta{run, std::ref(*node_a), false};
  std::thread tb{run, std::ref(*node_b), true};
  ta.join();
  tb.join();
  EXPECT_EQ(errors.load(), 0) << first_error;
  constexpr std::uint64_t k_n = 2 * k_rounds;
  EXPECT_EQ(aggregate_or_fail(*node_a, k_day),
            (std::vector{aggregated(tlsa_policy(2 * k_n, 0)),
                         aggregated(sts_policy(k_n, k_n), {{d, k_n}})}));
}

TEST_F(PgReportStoreTest, AFailingBatchCountsNothing) {
  execute(
      "CREATE OR REPLACE FUNCTION poison() RETURNS trigger LANGUAGE plpgsql AS "
      "$$ BEGIN RAISE EXCEPTION 'poisoned'; END $$;"
      "CREATE TRIGGER poison BEFORE INSERT ON rpt_policy FOR EACH ROW "
      "WHEN (NEW.policy_domain = 'poison'::bytea) EXECUTE FUNCTION poison()");
  const auto d = detail(ResultType::CertificateExpired);
  auto r = node_a->add(batch(at(k_day), {sts_policy(1, 1, {d}), no_policy(1, "poison")}));
  ASSERT_FALSE(r) << "the trigger did not fire";
  EXPECT_EQ(r.error().code, Errc::CacheIo);
  EXPECT_NE(r.error().detail.find("poisoned"), std::string::npos) << r.error().detail;
  EXPECT_TRUE(aggregate_or_fail(*node_a, k_day).empty()) << "half a batch was counted";
  EXPECT_EQ(query("SELECT count(*) FROM rpt_failure"), "0");
  // The node's connection is still usable.
  ASSERT_TRUE(node_a->add(batch(at(k_day), {sts_policy(1, 1, {d})})));
  EXPECT_EQ(aggregate_or_fail(*node_a, k_day).size(), 1U);
}

TEST_F(PgReportStoreTest, AnUnreachableServerIsCacheIoTransient) {
  PgOptions o = server().options();
  o.url = "postgresql:///tlspolicy?host=/nonexistent-tlspolicy-test&user=postgres";
  o.timeout = 2s;
  NodeStore gone{o};
  auto r = gone.add(batch(at(k_day), {sts_policy(1, 0)}));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::CacheIo);
  EXPECT_EQ(r.error().retry, Retry::Transient);
  auto claim = gone.claim_report("<a@reporter.example>", "node-a", 10min);
  ASSERT_FALSE(claim);
  EXPECT_EQ(claim.error().code, Errc::CacheIo);
}

}  // namespace
}  // namespace tlspolicy::cache
