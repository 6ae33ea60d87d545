// SPDX-License-Identifier: Apache-2.0
//
// Tests of policy-cache/migrate.cpp through open_sqlite_cache(): a fresh store
// gets the current schema, a version-1 store (policy-cache/fixtures/v1.sql)
// is upgraded with its rows intact, schema.sql and the migrations build the
// same schema, and stores this program must not touch (newer version, some
// other application's database, a file that is not SQLite) are refused with
// CacheSchema and left unchanged.
#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "tlspolicy/cache/policy_cache.hpp"
#include "tlspolicy/sts/policy.hpp"

#include "cache_test_support.hpp"

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
  {
    RawDb raw{path};
    ASSERT_EQ(raw.query("PRAGMA user_version"), "1") << "fixture is not a version-1 store";
  }
  auto cache = open_sqlite_cache(SqliteOptions{path});
  ASSERT_TRUE(cache) << cache.error().detail;
  {
    RawDb raw{path};
    EXPECT_EQ(raw.query("PRAGMA user_version"), std::to_string(sqlite_schema_version()));
  }

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
  TempDir dir;
  const auto fresh = dir / "fresh.sqlite";
  const auto upgraded = dir / "upgraded.sqlite";
  ASSERT_TRUE(open_sqlite_cache(SqliteOptions{fresh}));
  load_dump(upgraded, fixture("v1.sql"));
  ASSERT_TRUE(open_sqlite_cache(SqliteOptions{upgraded}));
  EXPECT_EQ(schema_of(fresh), schema_of(upgraded))
      << "schema/schema.sql and schema/migrations/ disagree";
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

TEST(SqliteMigrate, RefusesNewerSchemaVersion) {
  TempDir dir;
  const auto path = dir / "policies.sqlite";
  ASSERT_TRUE(open_sqlite_cache(SqliteOptions{path}));
  const int newer = sqlite_schema_version() + 1;
  {
    RawDb raw{path};
    raw.exec("PRAGMA user_version = " + std::to_string(newer));
  }
  auto cache = open_sqlite_cache(SqliteOptions{path, 100});
  ASSERT_FALSE(cache) << "opened a store newer than this program";
  EXPECT_EQ(cache.error().code, Errc::CacheSchema);
  EXPECT_EQ(cache.error().retry, Retry::Permanent);
  EXPECT_NE(cache.error().detail.find("schema version " + std::to_string(newer) + " is newer"),
            std::string::npos)
      << cache.error().detail;
  EXPECT_NE(cache.error().detail.find(path.string()), std::string::npos) << cache.error().detail;
  RawDb raw{path};
  EXPECT_EQ(raw.query("PRAGMA user_version"), std::to_string(newer)) << "store was modified";
}

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
  const auto path = dir / "policies.sqlite";
  load_dump(path, fixture("v1.sql"));
  RawDb other{path};
  other.exec("BEGIN IMMEDIATE");
  auto cache = open_sqlite_cache(SqliteOptions{path, 100});
  ASSERT_FALSE(cache);
  EXPECT_EQ(cache.error().code, Errc::CacheIo);
  EXPECT_EQ(cache.error().retry, Retry::Transient);
  other.exec("ROLLBACK");
  RawDb raw{path};
  EXPECT_EQ(raw.query("PRAGMA user_version"), "1") << "half-applied migration";
}

}  // namespace
}  // namespace tlspolicy::cache
