// SPDX-License-Identifier: Apache-2.0
//
// PRIVATE to policy-cache/: RAII for the SQLite C API. CHandle aliases for the
// connection and statements, the one place SQLite result codes become
// tlspolicy Errors ("sqlite: <errmsg> (<path>)"), a guard that resets a
// statement after use (so no read snapshot or bound buffer outlives the call),
// and a Transaction guard (BEGIN IMMEDIATE, ROLLBACK unless committed). Not a
// general SQLite wrapper: only what sqlite_policy_cache.cpp,
// sqlite_report_store.cpp, sqlite_open.cpp and migrate.cpp need. Nothing here
// is thread-safe; the caller serialises use of a connection.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

#include <sqlite3.h>

#include "tlspolicy/util/c_handle.hpp"
#include "tlspolicy/util/clock.hpp"
#include "tlspolicy/util/result.hpp"

namespace tlspolicy::cache {

/// OWNS a connection, from sqlite3_open_v2(). Adopt the handle even when the
/// open fails: SQLite returns one (holding the error message) that must be
/// closed. sqlite3_close_v2 defers the close until every statement is
/// finalised, so member destruction order cannot leak or crash.
using SqliteDb = util::CHandle<sqlite3, sqlite3_close_v2>;
/// OWNS a prepared statement, from sqlite3_prepare_v3().
using SqliteStmt = util::CHandle<sqlite3_stmt, sqlite3_finalize>;

/// The Error for a failed SQLite call on `db` (which may be null when the open
/// itself failed for lack of memory). Every SQLite failure is CacheIo /
/// Transient ("database is locked", "disk I/O error", "attempt to write a
/// readonly database" can all clear up), except SQLITE_NOTADB: a file that is
/// not a SQLite database is CacheSchema / Permanent.
[[nodiscard]] inline Error sqlite_error(sqlite3* db, int rc, std::string_view path) {
  const char* msg = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  std::string detail = "sqlite: ";
  detail += msg != nullptr ? msg : "unknown error";
  detail += " (";
  detail += path;
  detail += ")";
  if ((rc & 0xff) == SQLITE_NOTADB) return Error{Errc::CacheSchema, Retry::Permanent, detail};
  return Error{Errc::CacheIo, Retry::Transient, std::move(detail)};
}

/// Text binding without a copy (SQLITE_STATIC, spelled nullptr to avoid the
/// macro's old-style cast): `text` must stay alive until the statement is
/// reset, i.e. declare the buffer before the StmtReset guard.
[[nodiscard]] inline int bind_text(sqlite3_stmt* stmt, int index, std::string_view text) noexcept {
  return sqlite3_bind_text64(stmt, index, text.data(), static_cast<sqlite3_uint64>(text.size()),
                             nullptr, SQLITE_UTF8);
}

[[nodiscard]] inline int bind_int64(sqlite3_stmt* stmt, int index, std::int64_t value) noexcept {
  return sqlite3_bind_int64(stmt, index, static_cast<sqlite3_int64>(value));
}

/// Column `index` of the current row as bytes (NULL reads as empty).
[[nodiscard]] inline std::string column_string(sqlite3_stmt* stmt, int index) {
  const auto* text = sqlite3_column_text(stmt, index);
  const int size = sqlite3_column_bytes(stmt, index);  // after column_text, as SQLite requires
  if (text == nullptr || size <= 0) return {};
  return std::string{reinterpret_cast<const char*>(text), static_cast<std::size_t>(size)};
}

[[nodiscard]] inline std::int64_t column_int64(sqlite3_stmt* stmt, int index) noexcept {
  return static_cast<std::int64_t>(sqlite3_column_int64(stmt, index));
}

/// A time, stored as whole Unix seconds (INTEGER).
[[nodiscard]] inline int bind_time(sqlite3_stmt* stmt, int index, util::TimePoint t) noexcept {
  return bind_int64(stmt, index, static_cast<std::int64_t>(t.time_since_epoch().count()));
}

/// Column `index` of the current row as a time stored by bind_time().
[[nodiscard]] inline util::TimePoint column_time(sqlite3_stmt* stmt, int index) noexcept {
  return util::TimePoint{
      std::chrono::seconds{static_cast<std::chrono::seconds::rep>(column_int64(stmt, index))}};
}

/// Resets a reused prepared statement and clears its bindings at scope exit,
/// on every path. Without the reset a SELECT would keep its WAL read snapshot
/// (and a write statement its lock) until the next use.
class StmtReset {
 public:
  explicit StmtReset(sqlite3_stmt* stmt) noexcept : m_stmt(stmt) {}
  ~StmtReset() {
    sqlite3_reset(m_stmt);  // returns the last step's error again; already handled
    sqlite3_clear_bindings(m_stmt);
  }
  StmtReset(const StmtReset&) = delete;
  StmtReset& operator=(const StmtReset&) = delete;

 private:
  sqlite3_stmt* m_stmt;
};

/// A write transaction. begin() runs BEGIN IMMEDIATE, which takes the write
/// lock up front (waiting up to the busy timeout), so a transaction never
/// fails half-way for lack of the lock. The destructor rolls back unless
/// commit() succeeded, so every early `return` undoes partial work. (A
/// factory instead of a constructor because constructors here may not throw
/// and BEGIN can fail.)
class Transaction {
 public:
  [[nodiscard]] static Result<Transaction> begin(sqlite3* db, std::string_view path) {
    const int rc = sqlite3_exec(db, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr);
    if (rc != SQLITE_OK) return Unexpected{sqlite_error(db, rc, path)};
    return Transaction{db, path};
  }

  Transaction(Transaction&& other) noexcept
      : m_db(std::exchange(other.m_db, nullptr)), m_path(other.m_path) {}
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  Transaction& operator=(Transaction&&) = delete;

  ~Transaction() {
    // Some errors (SQLITE_FULL, SQLITE_IOERR, ...) already rolled back; then
    // the connection is in autocommit mode and ROLLBACK would only fail.
    if (m_db != nullptr && sqlite3_get_autocommit(m_db) == 0) {
      sqlite3_exec(m_db, "ROLLBACK", nullptr, nullptr, nullptr);
    }
  }

  [[nodiscard]] Result<void> commit() {
    const int rc = sqlite3_exec(m_db, "COMMIT", nullptr, nullptr, nullptr);
    if (rc != SQLITE_OK) return Unexpected{sqlite_error(m_db, rc, m_path)};  // dtor rolls back
    m_db = nullptr;
    return {};
  }

 private:
  Transaction(sqlite3* db, std::string_view path) noexcept : m_db(db), m_path(path) {}

  sqlite3* m_db;            ///< BORROWED; null once committed
  std::string_view m_path;  ///< for error messages; the caller's string outlives us
};

}  // namespace tlspolicy::cache
