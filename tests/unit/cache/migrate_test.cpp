// SPDX-License-Identifier: Apache-2.0
//
// Tests of policy-cache/migrate.cpp through open_sqlite_cache() and
// open_sqlite_report_store(): a fresh store gets the current schema, version-1,
// version-2 and version-3 stores (policy-cache/fixtures/v1.sql, v2.sql, v3.sql)
// are upgraded with their rows intact, schema.sql and the migrations build the same
// schema, and stores this program must not touch (newer version, some other
// application's database, a file that is not SQLite) are refused with
// CacheSchema and left unchanged.
#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

#include "tlspolicy/cache/policy_cache.hpp"
#include "tlspolicy/cache/report_store.hpp"
#include "tlspolicy/sts/policy.hpp"
#include "tlspolicy/tlsrpt/model.hpp"

#include "cache_test_support.hpp"
#include "report_push.hpp"

namespace tlspolicy::cache {
namespace {

using test::at;
using test::fixture;
using test::name;
using test::RawDb;
using test::read_file;
using test::TempDir;

constexpr const char* k_application_id = "1414288208";  // "TLSP"

/// Loads a text SQL dump into a new database file at `path`.
void load_dump(const std::filesystem::path& path, const std::filesystem::path& dump) {
  RawDb raw{path};
  raw.exec(read_file(dump));
}

/// CREATE statements of tables and indexes, whitespace collapsed, by name.
std::vector<std::string> schema_of(const std::filesystem::path& path) {
  RawDb raw{path};
  auto rows = raw.rows(
      "SELECT type, name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY name");
  for (auto& row : rows) {
    std::string collapsed;
    for (const char c : row) {
      if (std::isspace(static_cast<unsigned char>(c)) != 0) {
        if (!collapsed.empty() && collapsed.back() != ' ') collapsed += ' ';
      } else {
        collapsed += c;
      }
    }
    row = collapsed;
  }
  return rows;
}

/// PRAGMA user_version of the store at `path`, read on a connection of its own.
std::string user_version(const std::filesystem::path& path) {
  RawDb raw{path};
  return raw.query("PRAGMA user_version");
}

/// Opening fixture `dump` with `open` (open_sqlite_cache or
/// open_sqlite_report_store) upgrades it to the schema a fresh store gets.
template <class Open>
void expect_upgrade_gives_fresh_schema(Open open, std::string_view dump) {
  TempDir dir;
  const auto fresh = dir / "fresh.sqlite";
  const auto upgraded = dir / "upgraded.sqlite";
  ASSERT_TRUE(open(SqliteOptions{fresh}));
  load_dump(upgraded, fixture(dump));
  ASSERT_TRUE(open(SqliteOptions{upgraded}));
  EXPECT_EQ(schema_of(fresh), schema_of(upgraded))
      << "schema/schema.sql and schema/migrations/ disagree (upgrade from " << dump << ")";
}

/// Opening fixture `dump` at `path` with `open` while another connection
/// holds the write lock waits out the busy timeout, then fails with CacheIo
/// (Transient) and leaves the store at `version`.
template <class Open>
void expect_locked_upgrade_fails(Open open, const std::filesystem::path& path,
                                 std::string_view dump, std::string_view version) {
  load_dump(path, fixture(dump));
  RawDb other{path};
  other.exec("BEGIN IMMEDIATE");
  auto store = open(SqliteOptions{path, 100});
  ASSERT_FALSE(store);
  EXPECT_EQ(store.error().code, Errc::CacheIo);
  EXPECT_EQ(store.error().retry, Retry::Transient);
  other.exec("ROLLBACK");
  EXPECT_EQ(user_version(path), version) << "half-applied migration";
}

/// `open` refuses a store whose schema is newer than this program's, with
/// CacheSchema (Permanent) naming the version and the file, and leaves it as
/// it is.
template <class Open>
void expect_refuses_newer_schema(Open open) {
  TempDir dir;
  const auto path = dir / "policies.sqlite";
  ASSERT_TRUE(open(SqliteOptions{path}));
  const int newer = sqlite_schema_version() + 1;
  {
    RawDb raw{path};
    raw.exec("PRAGMA user_version = " + std::to_string(newer));
  }
  auto store = open(SqliteOptions{path, 100});
  ASSERT_FALSE(store) << "opened a store newer than this program";
  EXPECT_EQ(store.error().code, Errc::CacheSchema);
  EXPECT_EQ(store.error().retry, Retry::Permanent);
  EXPECT_NE(store.error().detail.find("schema version " + std::to_string(newer) + " is newer"),
            std::string::npos)
      << store.error().detail;
  EXPECT_NE(store.error().detail.find(path.string()), std::string::npos) << store.error().detail;
  EXPECT_EQ(user_version(path), std::to_string(newer)) << "store was modified";
}

TEST(SqliteMigrate, FreshStoreHasCurrentSchema) {
  TempDir dir;
  const auto path = dir / "policies.sqlite";
  ASSERT_TRUE(open_sqlite_cache(SqliteOptions{path}));
  RawDb raw{path};
  EXPECT_EQ(raw.query("PRAGMA user_version"), std::to_string(sqlite_schema_version()));
  EXPECT_EQ(raw.query("PRAGMA application_id"), k_application_id);
  EXPECT_GE(sqlite_schema_version(), 2);
  EXPECT_EQ(raw.query("SELECT name FROM sqlite_master WHERE name = 'fetch_failures'"),
            "fetch_failures");
  EXPECT_EQ(raw.query("SELECT name FROM sqlite_master WHERE name = 'policies_expires_at'"),
            "policies_expires_at");
}

TEST(SqliteMigrate, FreshInMemoryStoreHasCurrentSchema) {
  auto cache = open_sqlite_cache(SqliteOptions{":memory:"});
  ASSERT_TRUE(cache) << cache.error().detail;
  ASSERT_TRUE((*cache)->record_fetch_failure({"example.com", "1", at(1), "x"}));
}

TEST(SqliteMigrate, UpgradesVersionOneFixture) {
  TempDir dir;
  const auto path = dir / "policies.sqlite";
  load_dump(path, fixture("v1.sql"));
  ASSERT_EQ(user_version(path), "1") << "fixture is not a version-1 store";
  auto cache = open_sqlite_cache(SqliteOptions{path});
  ASSERT_TRUE(cache) << cache.error().detail;
  EXPECT_EQ(user_version(path), std::to_string(sqlite_schema_version()));

  // Old rows are readable, parsed form included.
  auto got = (*cache)->get(name("example.com"));
  ASSERT_TRUE(got) << got.error().detail;
  ASSERT_TRUE(got->has_value());
  const CachedPolicy& p = **got;
  EXPECT_EQ(p.id, "20240101T000000Z");
  EXPECT_EQ(p.policy.mode, sts::StsMode::Enforce);
  EXPECT_EQ(p.policy.max_age, std::chrono::seconds{604800});
  EXPECT_EQ(p.policy.mx, (std::vector<std::string>{"mx1.example.com", "*.backup.example.com"}));
  EXPECT_EQ(p.fetched_at, at(1717200000));
  EXPECT_EQ(p.expires_at, at(1717804800));
  EXPECT_EQ(p.policy_text,
            "version: STSv1\nmode: enforce\nmx: mx1.example.com\nmx: *.backup.example.com\n"
            "max_age: 604800\n");
  auto all = (*cache)->list();
  ASSERT_TRUE(all) << all.error().detail;
  ASSERT_EQ(all->size(), 2U);
  EXPECT_EQ((*all)[1].domain, "testing.example.net");
  EXPECT_EQ((*all)[1].policy.mode, sts::StsMode::Testing);

  // The version-2 table works.
  const FetchFailure f{"example.com", "20240102T000000Z", at(1717300000), "fetch-tls: expired"};
  ASSERT_TRUE((*cache)->record_fetch_failure(f));
  auto failure = (*cache)->last_fetch_failure(name("example.com"));
  ASSERT_TRUE(failure && failure->has_value());
  EXPECT_EQ(**failure, f);
  auto purged = (*cache)->purge_expired(at(1717300000));
  ASSERT_TRUE(purged) << purged.error().detail;
  EXPECT_EQ(*purged, 1U) << "testing.example.net expired at 1717286400";
}

TEST(SqliteMigrate, SchemaSqlMatchesTheMigrations) {
  expect_upgrade_gives_fresh_schema(open_sqlite_cache, "v1.sql");
}

// Every schema/migrations/NNNN_*.sql from the source tree, in order, run on
// an empty database, must give what schema.sql gives.
TEST(SqliteMigrate, SchemaSqlMatchesEveryMigrationFromEmpty) {
  TempDir dir;
  const auto fresh = dir / "fresh.sqlite";
  const auto stepped = dir / "stepped.sqlite";
  ASSERT_TRUE(open_sqlite_cache(SqliteOptions{fresh}));
  std::vector<std::filesystem::path> migrations;
  for (const auto& entry :
       std::filesystem::directory_iterator{std::filesystem::path{TLSPOLICY_SOURCE_DIR} /
                                           "policy-cache" / "schema" / "migrations"}) {
    migrations.push_back(entry.path());
  }
  std::sort(migrations.begin(), migrations.end());
  ASSERT_EQ(migrations.size(), static_cast<std::size_t>(sqlite_schema_version()));
  {
    RawDb raw{stepped};
    for (const auto& m : migrations) raw.exec(read_file(m));
    EXPECT_EQ(raw.query("PRAGMA user_version"), std::to_string(sqlite_schema_version()));
  }
  EXPECT_EQ(schema_of(fresh), schema_of(stepped))
      << "schema/schema.sql and schema/migrations/ disagree";
}

TEST(SqliteMigrate, SchemaSqlMatchesTheMigrationsFromVersionTwo) {
  expect_upgrade_gives_fresh_schema(open_sqlite_report_store, "v2.sql");
}

TEST(SqliteMigrate, FreshStoreHasTheTlsrptTables) {
  TempDir dir;
  const auto path = dir / "policies.sqlite";
  ASSERT_TRUE(open_sqlite_report_store(SqliteOptions{path}));
  RawDb raw{path};
  EXPECT_GE(sqlite_schema_version(), 3);
  EXPECT_EQ(raw.query("PRAGMA user_version"), std::to_string(sqlite_schema_version()));
  EXPECT_EQ(raw.query("PRAGMA application_id"), k_application_id);
  for (const char* name : {"rpt_policy", "rpt_failure", "rpt_report", "rpt_report_due"}) {
    EXPECT_EQ(raw.query(std::string{"SELECT name FROM sqlite_master WHERE name = '"} + name + "'"),
              name);
  }
}

/// A one-policy TLS-RPT batch on 2026-11-24, to show the version-3 tables work.
tlsrpt::ResultBatch sample_batch() {
  tlsrpt::ResultBatch b;
  b.domain = "example.com";
  b.at = util::TimePoint{std::chrono::sys_days{std::chrono::year{2026} / 11 / 24}};
  tlsrpt::PolicyResult p;
  p.policy.type = tlsrpt::PolicyType::Sts;
  p.policy.policy_domain = "example.com";
  p.policy.policy_strings = {"version: STSv1", "mode: enforce"};
  p.policy.mx_hosts = {"mx1.example.com"};
  p.successes = 2;
  p.failures = 1;
  tlsrpt::FailureDetail d;
  d.result_type = tlsrpt::ResultType::CertificateExpired;
  p.details = {d};
  b.policies = {p};
  return b;
}

void expect_tlsrpt_tables_work(ReportStore& store) {
  const auto b = sample_batch();
  ASSERT_TRUE(store.add(b));
  auto got = store.aggregate(tlsrpt::day_of(b.at), b.domain);
  ASSERT_TRUE(got) << got.error().detail;
  ASSERT_EQ(got->size(), 1U);
  EXPECT_EQ((*got)[0].policy, b.policies[0].policy);
  EXPECT_EQ((*got)[0].successes, 2U);
  ASSERT_EQ((*got)[0].details.size(), 1U);
  EXPECT_EQ((*got)[0].details[0].count, 1U);
}

// The report store opens (and upgrades) an old store as the cache does; the
// policies survive.
TEST(SqliteMigrate, UpgradesVersionOneFixtureWithTheReportStore) {
  TempDir dir;
  const auto path = dir / "policies.sqlite";
  load_dump(path, fixture("v1.sql"));
  auto store = open_sqlite_report_store(SqliteOptions{path});
  ASSERT_TRUE(store) << store.error().detail;
  EXPECT_EQ(user_version(path), std::to_string(sqlite_schema_version()));
  expect_tlsrpt_tables_work(**store);
  auto cache = open_sqlite_cache(SqliteOptions{path});
  ASSERT_TRUE(cache) << cache.error().detail;
  auto all = (*cache)->list();
  ASSERT_TRUE(all) << all.error().detail;
  ASSERT_EQ(all->size(), 2U) << "policies lost in the upgrade";
  EXPECT_EQ((*all)[0].domain, "example.com");
  EXPECT_EQ((*all)[0].policy.mx,
            (std::vector<std::string>{"mx1.example.com", "*.backup.example.com"}));
  EXPECT_EQ((*all)[1].domain, "testing.example.net");
}

TEST(SqliteMigrate, UpgradesVersionTwoFixture) {
  for (const bool report_store_first : {true, false}) {
    SCOPED_TRACE(report_store_first ? "opened by the report store" : "opened by the cache");
    TempDir dir;
    const auto path = dir / "policies.sqlite";
    load_dump(path, fixture("v2.sql"));
    ASSERT_EQ(user_version(path), "2") << "fixture is not a version-2 store";
    std::unique_ptr<ReportStore> store;
    if (report_store_first) {
      auto opened = open_sqlite_report_store(SqliteOptions{path});
      ASSERT_TRUE(opened) << opened.error().detail;
      store = std::move(*opened);
    }
    auto cache = open_sqlite_cache(SqliteOptions{path});
    ASSERT_TRUE(cache) << cache.error().detail;
    if (!report_store_first) {
      auto opened = open_sqlite_report_store(SqliteOptions{path});
      ASSERT_TRUE(opened) << opened.error().detail;
      store = std::move(*opened);
    }
    EXPECT_EQ(user_version(path), std::to_string(sqlite_schema_version()));

    // Version-2 rows are intact: both policies and the fetch failure.
    auto got = (*cache)->get(name("example.com"));
    ASSERT_TRUE(got) << got.error().detail;
    ASSERT_TRUE(got->has_value()) << "policy lost in the upgrade";
    EXPECT_EQ((*got)->id, "20240101T000000Z");
    EXPECT_EQ((*got)->policy.mode, sts::StsMode::Enforce);
    EXPECT_EQ((*got)->policy.mx,
              (std::vector<std::string>{"mx1.example.com", "*.backup.example.com"}));
    EXPECT_EQ((*got)->expires_at, at(1717804800));
    auto all = (*cache)->list();
    ASSERT_TRUE(all) << all.error().detail;
    ASSERT_EQ(all->size(), 2U);
    EXPECT_EQ((*all)[1].domain, "testing.example.net");
    EXPECT_EQ((*all)[1].policy.mode, sts::StsMode::Testing);
    auto failure = (*cache)->last_fetch_failure(name("broken.example.org"));
    ASSERT_TRUE(failure) << failure.error().detail;
    ASSERT_TRUE(failure->has_value()) << "fetch failure lost in the upgrade";
    EXPECT_EQ(**failure, (FetchFailure{"broken.example.org", "20240301T000000Z", at(1717250000),
                                       "fetch-tls: certificate has expired"}));

    expect_tlsrpt_tables_work(*store);
  }
}

TEST(SqliteMigrate, SchemaSqlMatchesTheMigrationsFromVersionThree) {
  expect_upgrade_gives_fresh_schema(open_sqlite_report_store, "v3.sql");
}

TEST(SqliteMigrate, FreshStoreHasTheFleetColumnsAndCounters) {
  TempDir dir;
  const auto path = dir / "policies.sqlite";
  ASSERT_TRUE(open_sqlite_report_store(SqliteOptions{path}));
  RawDb raw{path};
  EXPECT_GE(sqlite_schema_version(), 4);
  EXPECT_EQ(raw.rows("SELECT name, type FROM pragma_table_info('rpt_report') "
                     "WHERE name LIKE 'claim%' ORDER BY cid"),
            (std::vector<std::string>{"claimed_by|TEXT", "claim_until|INTEGER"}));
  EXPECT_EQ(raw.query("SELECT name FROM sqlite_master WHERE name = 'meta'"), "meta");
}

/// The day `y-m-d` (UTC).
tlsrpt::Day day(int y, unsigned m, unsigned d) {
  return tlsrpt::Day{std::chrono::year{y} / std::chrono::month{m} / std::chrono::day{d}};
}

// Version 3 -> 4: reports and results are kept, reports start unclaimed, and
// the new claim and push paths work on the old rows.
TEST(SqliteMigrate, UpgradesVersionThreeFixture) {
  TempDir dir;
  const auto path = dir / "policies.sqlite";
  load_dump(path, fixture("v3.sql"));
  ASSERT_EQ(user_version(path), "3") << "fixture is not a version-3 store";
  auto store = open_sqlite_report_store(SqliteOptions{path});
  ASSERT_TRUE(store) << store.error().detail;
  EXPECT_EQ(user_version(path), std::to_string(sqlite_schema_version()));

  // The fixture's two reports, field by field.
  ReportRow sent;
  sent.report_id = "<sent@reporter.example>";
  sent.day = day(2026, 11, 22);
  sent.domain = "example.com";
  sent.state = ReportState::Sent;
  sent.created_at = at(1795392000);
  sent.next_attempt_at = at(1795392600);
  sent.give_up_at = at(1795479000);
  sent.attempts = 1;
  sent.sent_at = at(1795392603);
  sent.sent_to = "mailto:tlsrpt@example.com";
  ReportRow pending;
  pending.report_id = "<pending@reporter.example>";
  pending.day = day(2026, 11, 23);
  pending.domain = "example.com";
  pending.state = ReportState::Pending;
  pending.created_at = at(1795478400);
  pending.next_attempt_at = at(1795479000);
  pending.give_up_at = at(1795565400);
  pending.attempts = 2;
  pending.last_error = "https://reports.example.com/: HTTP 503";
  auto reports = (*store)->reports({});
  ASSERT_TRUE(reports) << reports.error().detail;
  EXPECT_EQ(*reports, (std::vector<ReportRow>{sent, pending}));

  // The fixture's results.
  auto days = (*store)->days({});
  ASSERT_TRUE(days) << days.error().detail;
  EXPECT_EQ(*days, (std::vector<ReportDaySummary>{{day(2026, 11, 23), "example.com", 8, 2},
                                                  {day(2026, 11, 24), "example.net", 1, 1}}));
  tlsrpt::FailureDetail expired;
  expired.result_type = tlsrpt::ResultType::CertificateExpired;
  expired.sending_mta_ip = "198.51.100.7";
  expired.receiving_mx_hostname = "mx1.example.com";
  expired.receiving_ip = "192.0.2.25";
  const std::vector<tlsrpt::AggregatedPolicy> want{
      {{tlsrpt::PolicyType::Sts,
        "example.com",
        {"version: STSv1", "mode: enforce", "mx: mx1.example.com", "max_age: 604800"},
        {"mx1.example.com"}},
       5,
       2,
       {{expired, 2}}},
      {{tlsrpt::PolicyType::NoPolicyFound, "example.com", {}, {}}, 3, 0, {}},
  };
  auto got = (*store)->aggregate(day(2026, 11, 23), "example.com");
  ASSERT_TRUE(got) << got.error().detail;
  EXPECT_EQ(*got, want);

  // Old reports start unclaimed; only the pending one can be claimed.
  auto claim = (*store)->claim_report(pending.report_id, "node-a", std::chrono::minutes{10});
  ASSERT_TRUE(claim) << claim.error().detail;
  EXPECT_TRUE(*claim);
  claim = (*store)->claim_report(sent.report_id, "node-a", std::chrono::minutes{10});
  ASSERT_TRUE(claim) << claim.error().detail;
  EXPECT_FALSE(*claim);

  // The results push (the meta table is new in version 4).
  std::size_t pushed_days = 0;
  auto moved = push_local_results(
      **store, [&](std::int64_t, const std::vector<DayAggregate>& d) -> Result<void> {
        pushed_days = d.size();
        return {};
      });
  ASSERT_TRUE(moved) << moved.error().detail;
  EXPECT_EQ(*moved, 2U);
  EXPECT_EQ(pushed_days, 2U);

  // The policy cache's rows are untouched.
  auto cache = open_sqlite_cache(SqliteOptions{path});
  ASSERT_TRUE(cache) << cache.error().detail;
  auto policy = (*cache)->get(name("example.com"));
  ASSERT_TRUE(policy && policy->has_value()) << "policy lost in the upgrade";
  EXPECT_EQ((*policy)->id, "20240101T000000Z");
  auto failure = (*cache)->last_fetch_failure(name("broken.example.org"));
  ASSERT_TRUE(failure && failure->has_value()) << "fetch failure lost in the upgrade";
}

TEST(SqliteMigrate, UpgradeFromVersionThreeWaitsForLockAndFailsWithCacheIo) {
  TempDir dir;
  const auto path = dir / "policies.sqlite";
  expect_locked_upgrade_fails(open_sqlite_report_store, path, "v3.sql", "3");
  RawDb raw{path};
  EXPECT_EQ(raw.query("SELECT count(*) FROM sqlite_master WHERE name = 'meta'"), "0");
}

TEST(SqliteMigrate, UpgradeFromVersionTwoWaitsForLockAndFailsWithCacheIo) {
  TempDir dir;
  const auto path = dir / "policies.sqlite";
  expect_locked_upgrade_fails(open_sqlite_report_store, path, "v2.sql", "2");
  RawDb raw{path};
  EXPECT_EQ(raw.query("SELECT count(*) FROM sqlite_master WHERE name LIKE 'rpt_%'"), "0");
}

TEST(SqliteMigrate, ReportStoreRefusesNewerSchemaVersion) {
  expect_refuses_newer_schema(open_sqlite_report_store);
}

TEST(SqliteMigrate, ReopeningACurrentStoreChangesNothing) {
  TempDir dir;
  const auto path = dir / "policies.sqlite";
  ASSERT_TRUE(open_sqlite_cache(SqliteOptions{path}));
  const auto before = schema_of(path);
  auto again = open_sqlite_cache(SqliteOptions{path});
  ASSERT_TRUE(again) << again.error().detail;
  EXPECT_EQ(schema_of(path), before);
}

TEST(SqliteMigrate, RefusesNewerSchemaVersion) { expect_refuses_newer_schema(open_sqlite_cache); }

TEST(SqliteMigrate, RefusesAFileThatIsNotSqlite) {
  TempDir dir;
  const auto path = dir / "policies.sqlite";
  {
    std::ofstream out{path, std::ios::binary};
    for (int i = 0; i < 256; ++i) out << "this is not a database, just some text\n";
  }
  const auto before = read_file(path);
  auto cache = open_sqlite_cache(SqliteOptions{path, 100});
  ASSERT_FALSE(cache) << "opened a garbage file";
  EXPECT_EQ(cache.error().code, Errc::CacheSchema);
  EXPECT_NE(cache.error().detail.find("sqlite: file is not a database"), std::string::npos)
      << cache.error().detail;
  EXPECT_EQ(read_file(path), before) << "garbage file was modified";
}

TEST(SqliteMigrate, RefusesSomeOtherApplicationsDatabase) {
  TempDir dir;
  const auto path = dir / "other.sqlite";
  {
    RawDb raw{path};
    raw.exec("CREATE TABLE notes (body TEXT); INSERT INTO notes VALUES ('keep me')");
  }
  auto cache = open_sqlite_cache(SqliteOptions{path, 100});
  ASSERT_FALSE(cache) << "took over a foreign database";
  EXPECT_EQ(cache.error().code, Errc::CacheSchema);
  EXPECT_NE(cache.error().detail.find("not a tlspolicy store"), std::string::npos)
      << cache.error().detail;
  RawDb raw{path};
  EXPECT_EQ(raw.query("SELECT body FROM notes"), "keep me");
  EXPECT_EQ(raw.query("SELECT count(*) FROM sqlite_master WHERE name = 'policies'"), "0");
}

TEST(SqliteMigrate, UpgradeWaitsForLockAndFailsWithCacheIo) {
  TempDir dir;
  expect_locked_upgrade_fails(open_sqlite_cache, dir / "policies.sqlite", "v1.sql", "1");
}

}  // namespace
}  // namespace tlspolicy::cache
