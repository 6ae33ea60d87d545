// SPDX-License-Identifier: Apache-2.0
//
// PRIVATE to policy-cache/: opening the SQLite store file, shared by
// open_sqlite_cache() (sqlite_policy_cache.cpp) and open_sqlite_report_store()
// (sqlite_report_store.cpp), so that both store objects open one file the same
// way and can work side by side on it: parent directories 0700, a NOMUTEX
// connection, busy timeout, foreign keys, WAL, synchronous = NORMAL, migrate,
// then the statements each store prepares once; and the state both store
// objects keep (SqliteStoreBase).
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "tlspolicy/cache/policy_cache.hpp"
#include "tlspolicy/util/locked.hpp"
#include "tlspolicy/util/result.hpp"

#include "sqlite_handles.hpp"

namespace tlspolicy::cache {

/// One statement to prepare: where it goes and its SQL.
using StatementSlot = std::pair<SqliteStmt*, const char*>;

/// Opens (creating when missing) the store at options.path, brings its schema
/// to sqlite_schema_version(), and prepares every statement of `statements`
/// into its slot (SQLITE_PREPARE_PERSISTENT: prepared once per connection and
/// reused). ":memory:" is a private in-memory database (no directories, no
/// WAL). The connection is SQLITE_OPEN_NOMUTEX: the caller serialises every
/// use of it. `what` names the store in the error for an empty path
/// ("cache: empty database path"). On failure some slots may hold statements
/// already; the connection's close waits for them (sqlite3_close_v2).
/// Errors: InvalidArgument (empty path); CacheIo (cannot create a directory,
/// open, lock or write; a writable store that refuses WAL); CacheSchema (not
/// a SQLite database, not a tlspolicy store, or newer than this program).
[[nodiscard]] Result<SqliteDb> open_sqlite_store(const SqliteOptions& options,
                                                 std::string_view what,
                                                 std::span<const StatementSlot> statements);

/// What each store object keeps: its connection and the statements prepared on it, reachable
/// only through a Session (util::Locked: one session at a time, so a call's whole statement
/// sequence runs alone), and the path for error messages. A private base of
/// SqlitePolicyCache and SqliteReportStore.
template <class Statements>
class SqliteStoreBase {
 public:
  SqliteStoreBase(SqliteDb db, Statements stmts, std::string path) noexcept
      : m_path(std::move(path)), m_conn(Connection{std::move(db), std::move(stmts)}) {}

 protected:
  struct Connection {
    SqliteDb db;  ///< declared first: closed after the statements are finalised
    Statements stmts;
  };

  /// The connection, held alone for as long as the Session lives. Helpers that run inside a
  /// call take the caller's Session, so none can run without one.
  class Session {
   public:
    Session(typename util::Locked<Connection>::Guard guard, const std::string& path) noexcept
        : m_guard(std::move(guard)), m_path(path) {}

    [[nodiscard]] sqlite3* db() const noexcept { return m_guard->db.get(); }
    [[nodiscard]] Statements& stmts() const noexcept { return m_guard->stmts; }

    /// The Error for a failed SQLite call on this connection.
    [[nodiscard]] Unexpected<Error> error(int rc) const {
      return Unexpected{sqlite_error(db(), rc, m_path)};
    }

    /// What `read(stmt, path)` rebuilds from the current row of a statement (it returns a
    /// Result of that).
    template <class Read>
    using RowOf =
        typename std::invoke_result_t<Read, sqlite3_stmt*, const std::string&>::value_type;

    /// The first row of the bound SELECT `stmt`, if there is one, rebuilt by `read`. The
    /// caller resets `stmt`.
    template <class Read>
    [[nodiscard]] Result<std::optional<RowOf<Read>>> read_row(sqlite3_stmt* stmt, Read read) const {
      const int rc = sqlite3_step(stmt);
      if (rc == SQLITE_DONE) return std::optional<RowOf<Read>>{};
      if (rc != SQLITE_ROW) return error(rc);
      auto row = read(stmt, m_path);
      if (!row) return Unexpected{row.error()};
      return std::optional<RowOf<Read>>{std::move(*row)};
    }

    /// Every row of the bound SELECT `stmt`, each rebuilt by `read`. The caller resets `stmt`.
    template <class Read>
    [[nodiscard]] Result<std::vector<RowOf<Read>>> read_rows(sqlite3_stmt* stmt, Read read) const {
      std::vector<RowOf<Read>> out;
      for (;;) {
        const int rc = sqlite3_step(stmt);
        if (rc == SQLITE_DONE) return out;
        if (rc != SQLITE_ROW) return error(rc);
        auto row = read(stmt, m_path);
        if (!row) return Unexpected{row.error()};
        out.push_back(std::move(*row));
      }
    }

   private:
    typename util::Locked<Connection>::Guard m_guard;
    const std::string& m_path;
  };

  /// Blocks until no other call holds the connection. Const: a query steps the statements
  /// too, so the connection is mutable behind the lock.
  [[nodiscard]] Session session() const { return Session{m_conn.lock(), m_path}; }

  const std::string m_path;  ///< for error messages; never changes

 private:
  mutable util::Locked<Connection> m_conn;
};

}  // namespace tlspolicy::cache
