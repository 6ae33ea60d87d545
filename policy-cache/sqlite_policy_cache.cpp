// SPDX-License-Identifier: Apache-2.0
//
// cache::PolicyCache over SQLite: the persistent MTA-STS policy store that
// survives restarts (RFC 8461 §5.1). One connection per cache object, opened
// by open_sqlite_store() (sqlite_open.cpp, shared with the report store)
// SQLITE_OPEN_NOMUTEX and serialised by one lock (SqliteStoreBase::Session), so the object is
// thread-safe: every call holds its session for its whole statement sequence
// (bind, step, reset), which SQLite's own FULLMUTEX could not guarantee for
// statements shared between threads. Statements are prepared once per
// connection and reused; values are always bound, never spliced into SQL.
// Several processes (the daemon, `tlspolicy cache ...`) may open one file: WAL
// lets readers run beside a writer, writers take the lock with BEGIN
// IMMEDIATE and wait up to SqliteOptions::busy_timeout_ms, then fail with
// CacheIo (Transient).
//
// BUGS
//   Calls are serialised per object, reads included; a caller that needs
//   parallel reads keeps its own in-memory layer in front.
//   A read-only store opens (reads work, writes fail with CacheIo) only when
//   SQLite can still create its -shm file beside it or the store is not in WAL
//   mode.
#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <sqlite3.h>

#include "tlspolicy/cache/policy_cache.hpp"
#include "tlspolicy/sts/policy.hpp"

#include "policy_columns.hpp"
#include "sqlite_handles.hpp"
#include "sqlite_open.hpp"

namespace tlspolicy::cache {
namespace {

// Both policy SELECTs list the columns in the order read_policy() expects.
constexpr const char* k_get_policy_sql =
    "SELECT domain, id, policy_text, mode, max_age, mx, fetched_at, expires_at "
    "FROM policies WHERE domain = ?1";
constexpr const char* k_list_policies_sql =
    "SELECT domain, id, policy_text, mode, max_age, mx, fetched_at, expires_at "
    "FROM policies ORDER BY domain";
constexpr const char* k_put_policy_sql =
    "INSERT INTO policies (domain, id, policy_text, mode, max_age, mx, fetched_at, expires_at) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) "
    "ON CONFLICT (domain) DO UPDATE SET id = excluded.id, policy_text = excluded.policy_text, "
    "mode = excluded.mode, max_age = excluded.max_age, mx = excluded.mx, "
    "fetched_at = excluded.fetched_at, expires_at = excluded.expires_at";
constexpr const char* k_delete_policy_sql = "DELETE FROM policies WHERE domain = ?1";
constexpr const char* k_purge_sql = "DELETE FROM policies WHERE expires_at <= ?1";
constexpr const char* k_put_failure_sql =
    "INSERT INTO fetch_failures (domain, id, failed_at, error) VALUES (?1, ?2, ?3, ?4) "
    "ON CONFLICT (domain) DO UPDATE SET id = excluded.id, failed_at = excluded.failed_at, "
    "error = excluded.error";
constexpr const char* k_get_failure_sql =
    "SELECT domain, id, failed_at, error FROM fetch_failures WHERE domain = ?1";
constexpr const char* k_delete_failure_sql = "DELETE FROM fetch_failures WHERE domain = ?1";

/// Every statement of one connection, prepared once by open_sqlite_cache().
struct Statements {
  SqliteStmt get_policy;
  SqliteStmt list_policies;
  SqliteStmt put_policy;
  SqliteStmt delete_policy;
  SqliteStmt purge;
  SqliteStmt put_failure;
  SqliteStmt get_failure;
  SqliteStmt delete_failure;
};

/// The CachedPolicy of the current row of a statement selecting the policy columns.
Result<CachedPolicy> read_policy(sqlite3_stmt* stmt, std::string_view path) {
  const std::string domain = column_string(stmt, 0), id = column_string(stmt, 1),
                    text = column_string(stmt, 2), mode = column_string(stmt, 3),
                    mx = column_string(stmt, 5);
  return policy_from_columns({domain, id, text, mode, column_int64(stmt, 4), mx,
                              column_int64(stmt, 6), column_int64(stmt, 7), ""},
                             path);
}

class SqlitePolicyCache final : public PolicyCache, private SqliteStoreBase<Statements> {
 public:
  using SqliteStoreBase::SqliteStoreBase;

  [[nodiscard]] Result<std::optional<CachedPolicy>> get(
      const dns::DomainName& domain) const override {
    const auto s = session();
    sqlite3_stmt* stmt = s.stmts().get_policy.get();
    const StmtReset reset{stmt};
    if (const int rc = bind_text(stmt, 1, domain.str()); rc != SQLITE_OK) return s.error(rc);
    return s.read_row(stmt, read_policy);
  }

  [[nodiscard]] Result<void> put(const CachedPolicy& p) override {
    if (p.domain.empty()) {
      return fail(Errc::InvalidArgument, Retry::Permanent, "cache put: empty domain");
    }
    const std::string mx = join_mx(p.policy.mx);  // bound below: must outlive `reset`
    const auto s = session();
    auto tx = Transaction::begin(s.db(), m_path);
    if (!tx) return Unexpected{tx.error()};
    {
      sqlite3_stmt* stmt = s.stmts().put_policy.get();
      const StmtReset reset{stmt};
      int rc = bind_text(stmt, 1, p.domain);
      if (rc == SQLITE_OK) rc = bind_text(stmt, 2, p.id);
      if (rc == SQLITE_OK) rc = bind_text(stmt, 3, p.policy_text);
      if (rc == SQLITE_OK) rc = bind_text(stmt, 4, sts::to_string(p.policy.mode));
      if (rc == SQLITE_OK) rc = bind_int64(stmt, 5, p.policy.max_age.count());
      if (rc == SQLITE_OK) rc = bind_text(stmt, 6, mx);
      if (rc == SQLITE_OK) rc = bind_time(stmt, 7, p.fetched_at);
      if (rc == SQLITE_OK) rc = bind_time(stmt, 8, p.expires_at);
      if (rc == SQLITE_OK) rc = sqlite3_step(stmt);
      if (rc != SQLITE_DONE) return s.error(rc);
    }
    // A successful fetch ends the back-off for this domain.
    if (auto r = delete_by_domain(s, s.stmts().delete_failure.get(), p.domain); !r) return r;
    return tx->commit();
  }

  [[nodiscard]] Result<bool> remove(const dns::DomainName& domain) override {
    const auto s = session();
    auto tx = Transaction::begin(s.db(), m_path);
    if (!tx) return Unexpected{tx.error()};
    if (auto r = delete_by_domain(s, s.stmts().delete_policy.get(), domain.str()); !r) {
      return Unexpected{r.error()};
    }
    const bool had_policy = sqlite3_changes(s.db()) > 0;
    if (auto r = delete_by_domain(s, s.stmts().delete_failure.get(), domain.str()); !r) {
      return Unexpected{r.error()};
    }
    if (auto r = tx->commit(); !r) return Unexpected{r.error()};
    return had_policy;
  }

  [[nodiscard]] Result<std::vector<CachedPolicy>> list() const override {
    const auto s = session();
    sqlite3_stmt* stmt = s.stmts().list_policies.get();
    const StmtReset reset{stmt};
    return s.read_rows(stmt, read_policy);
  }

  [[nodiscard]] Result<std::size_t> purge_expired(util::TimePoint now) override {
    const auto s = session();
    sqlite3_stmt* stmt = s.stmts().purge.get();
    const StmtReset reset{stmt};
    int rc = bind_time(stmt, 1, now);
    if (rc == SQLITE_OK) rc = sqlite3_step(stmt);  // one statement: atomic on its own
    if (rc != SQLITE_DONE) return s.error(rc);
    return static_cast<std::size_t>(sqlite3_changes(s.db()));
  }

  [[nodiscard]] Result<void> record_fetch_failure(const FetchFailure& f) override {
    if (f.domain.empty()) {
      return fail(Errc::InvalidArgument, Retry::Permanent,
                  "cache record_fetch_failure: empty domain");
    }
    const auto s = session();
    sqlite3_stmt* stmt = s.stmts().put_failure.get();
    const StmtReset reset{stmt};
    int rc = bind_text(stmt, 1, f.domain);
    if (rc == SQLITE_OK) rc = bind_text(stmt, 2, f.id);
    if (rc == SQLITE_OK) rc = bind_time(stmt, 3, f.failed_at);
    if (rc == SQLITE_OK) rc = bind_text(stmt, 4, f.error);
    if (rc == SQLITE_OK) rc = sqlite3_step(stmt);
    if (rc != SQLITE_DONE) return s.error(rc);
    return {};
  }

  [[nodiscard]] Result<std::optional<FetchFailure>> last_fetch_failure(
      const dns::DomainName& domain) const override {
    const auto s = session();
    sqlite3_stmt* stmt = s.stmts().get_failure.get();
    const StmtReset reset{stmt};
    if (const int rc = bind_text(stmt, 1, domain.str()); rc != SQLITE_OK) return s.error(rc);
    const int rc = sqlite3_step(stmt);
    if (rc == SQLITE_DONE) return std::optional<FetchFailure>{};
    if (rc != SQLITE_ROW) return s.error(rc);
    FetchFailure f;
    f.domain = column_string(stmt, 0);
    f.id = column_string(stmt, 1);
    f.failed_at = column_time(stmt, 2);
    f.error = column_string(stmt, 3);
    return std::optional<FetchFailure>{std::move(f)};
  }

 private:
  /// Runs a "DELETE ... WHERE domain = ?1" statement in the caller's session.
  [[nodiscard]] static Result<void> delete_by_domain(const Session& s, sqlite3_stmt* stmt,
                                                     std::string_view domain) {
    const StmtReset reset{stmt};
    int rc = bind_text(stmt, 1, domain);
    if (rc == SQLITE_OK) rc = sqlite3_step(stmt);
    if (rc != SQLITE_DONE) return s.error(rc);
    return {};
  }
};

}  // namespace

Result<std::unique_ptr<PolicyCache>> open_sqlite_cache(const SqliteOptions& options) {
  Statements s;
  const std::array<StatementSlot, 8> slots{{
      {&s.get_policy, k_get_policy_sql},
      {&s.list_policies, k_list_policies_sql},
      {&s.put_policy, k_put_policy_sql},
      {&s.delete_policy, k_delete_policy_sql},
      {&s.purge, k_purge_sql},
      {&s.put_failure, k_put_failure_sql},
      {&s.get_failure, k_get_failure_sql},
      {&s.delete_failure, k_delete_failure_sql},
  }};
  auto db = open_sqlite_store(options, "cache", slots);
  if (!db) return Unexpected{db.error()};
  return std::unique_ptr<PolicyCache>{
      std::make_unique<SqlitePolicyCache>(std::move(*db), std::move(s), options.path.string())};
}

}  // namespace tlspolicy::cache
