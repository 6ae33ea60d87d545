// SPDX-License-Identifier: Apache-2.0
//
// The open sequence of the SQLite store (see sqlite_open.hpp), in one place
// for the policy cache and the TLS-RPT report store.
#include "sqlite_open.hpp"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <string>
#include <system_error>
#include <vector>

#include <sqlite3.h>

#include "migrate.hpp"
#include <sys/stat.h>

namespace tlspolicy::cache {
namespace {

constexpr std::string_view k_memory_path = ":memory:";

/// Creates the missing directories above the store, mode 0700 (the store is
/// private to the daemon's user). Existing directories are left as they are.
Result<void> ensure_parent_directory(const std::filesystem::path& path) {
  std::vector<std::filesystem::path> missing;
  std::error_code ec;
  for (auto dir = path.parent_path(); !dir.empty() && !std::filesystem::exists(dir, ec);
       dir = dir.parent_path()) {
    missing.push_back(dir);
    if (dir == dir.parent_path()) break;  // a root that does not exist: mkdir reports it
  }
  for (auto it = missing.rbegin(); it != missing.rend(); ++it) {
    if (::mkdir(it->c_str(), 0700) != 0 && errno != EEXIST) {
      return fail(Errc::CacheIo, Retry::Transient,
                  "cannot create directory " + it->string() + ": " + std::strerror(errno));
    }
  }
  return {};
}

Result<void> exec(sqlite3* db, const char* sql, std::string_view path) {
  const int rc = sqlite3_exec(db, sql, nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) return Unexpected{sqlite_error(db, rc, path)};
  return {};
}

/// Switches a file database to WAL and returns the journal mode now in force.
Result<std::string> enable_wal(sqlite3* db, std::string_view path) {
  sqlite3_stmt* raw = nullptr;
  int rc = sqlite3_prepare_v2(db, "PRAGMA journal_mode = WAL", -1, &raw, nullptr);
  const SqliteStmt stmt{raw};
  if (rc != SQLITE_OK) return Unexpected{sqlite_error(db, rc, path)};
  rc = sqlite3_step(stmt.get());
  if (rc != SQLITE_ROW) return Unexpected{sqlite_error(db, rc, path)};
  return column_string(stmt.get(), 0);
}

}  // namespace

Result<SqliteDb> open_sqlite_store(const SqliteOptions& options, std::string_view what,
                                   std::span<const StatementSlot> statements) {
  const std::string path = options.path.string();
  if (path.empty()) {
    return fail(Errc::InvalidArgument, Retry::Permanent,
                std::string{what} + ": empty database path");
  }
  const bool in_memory = path == k_memory_path;
  if (!in_memory) {
    if (auto r = ensure_parent_directory(options.path); !r) return Unexpected{r.error()};
  }

  sqlite3* raw = nullptr;
  // NOMUTEX: each store object serialises every use of its connection itself.
  const int rc =
      sqlite3_open_v2(path.c_str(), &raw,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  SqliteDb db{raw};  // adopt first: SQLite returns a handle even when the open fails
  if (rc != SQLITE_OK) return Unexpected{sqlite_error(db.get(), rc, path)};

  sqlite3_busy_timeout(db.get(), options.busy_timeout_ms > 0 ? options.busy_timeout_ms : 0);
  // The report store's purge_before() relies on ON DELETE CASCADE from
  // rpt_policy to rpt_failure.
  if (auto r = exec(db.get(), "PRAGMA foreign_keys = ON", path); !r) return Unexpected{r.error()};

  // The first statement that reads the file: a file that is not a database
  // fails here with SQLITE_NOTADB (CacheSchema).
  if (!in_memory) {  // ":memory:" has no journal file; WAL does not apply
    auto mode = enable_wal(db.get(), path);
    if (!mode) return Unexpected{mode.error()};
    // A store SQLite could only open read-only keeps its journal mode; it
    // still serves reads, and writes fail with CacheIo. A writable store that
    // refuses WAL (e.g. a filesystem without shared memory) is refused.
    if (*mode != "wal" && sqlite3_db_readonly(db.get(), "main") != 1) {
      return fail(Errc::CacheIo, Retry::Permanent,
                  "sqlite: cannot enable WAL, journal_mode is " + *mode + " (" + path + ")");
    }
  }
  // Crash safety: with WAL, synchronous=NORMAL keeps every committed
  // transaction across a process crash (kill -9: the WAL frames are already
  // in the OS; "a restart loses no counted result") and never corrupts the
  // store; only a power loss or kernel crash may undo the last few commits,
  // which for a cache of re-fetchable policies costs at most a re-fetch. FULL
  // would fsync on every write.
  if (auto r = exec(db.get(), "PRAGMA synchronous = NORMAL", path); !r) {
    return Unexpected{r.error()};
  }

  if (auto r = migrate(db.get(), path); !r) return Unexpected{r.error()};

  for (const auto& [slot, sql] : statements) {
    sqlite3_stmt* stmt = nullptr;
    const int prepared =
        sqlite3_prepare_v3(db.get(), sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
    *slot = SqliteStmt{stmt};
    if (prepared != SQLITE_OK) return Unexpected{sqlite_error(db.get(), prepared, path)};
  }
  return db;
}

}  // namespace tlspolicy::cache
