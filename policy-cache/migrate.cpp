// SPDX-License-Identifier: Apache-2.0
//
// Schema management for the SQLite store, PowerDNS gsqlite3backend style: an
// empty database gets schema/schema.sql; an older one gets each missing
// schema/migrations/NNNN_*.sql in order; all inside one BEGIN IMMEDIATE
// transaction, so a crash or an error mid-way leaves the previous version
// intact, and two processes opening the same file at once cannot both
// migrate (the second waits for the lock, then sees the new version). The
// version is PRAGMA user_version; PRAGMA application_id ("TLSP") tells a
// tlspolicy store from some other SQLite file. A database newer than this
// program is refused, never downgraded or written.
#include "migrate.hpp"

#include <string>

#include <sqlite3.h>

#include "sqlite_handles.hpp"

// STRICT tables (schema/*.sql) need 3.37; upsert 3.24; prepare_v3 3.20.
static_assert(SQLITE_VERSION_NUMBER >= 3037000, "tlspolicy's store needs SQLite 3.37 or newer");

namespace tlspolicy::cache {
namespace {

/// The single integer a "PRAGMA x" or "SELECT count(*)" query returns.
Result<int> query_int(sqlite3* db, const char* sql, std::string_view path) {
  sqlite3_stmt* raw = nullptr;
  int rc = sqlite3_prepare_v2(db, sql, -1, &raw, nullptr);
  const SqliteStmt stmt{raw};
  if (rc != SQLITE_OK) return Unexpected{sqlite_error(db, rc, path)};
  rc = sqlite3_step(stmt.get());
  if (rc != SQLITE_ROW) return Unexpected{sqlite_error(db, rc, path)};
  return sqlite3_column_int(stmt.get(), 0);
}

struct SchemaState {
  int user_version = 0;
  int application_id = 0;
};

Result<SchemaState> read_state(sqlite3* db, std::string_view path) {
  auto version = query_int(db, "PRAGMA user_version", path);
  if (!version) return Unexpected{version.error()};
  auto app_id = query_int(db, "PRAGMA application_id", path);
  if (!app_id) return Unexpected{app_id.error()};
  return SchemaState{*version, *app_id};
}

Error schema_error(std::string what, std::string_view path) {
  what += " (";
  what += path;
  what += ")";
  return Error{Errc::CacheSchema, Retry::Permanent, std::move(what)};
}

Error newer_error(int found, std::string_view path) {
  return schema_error("database schema version " + std::to_string(found) +
                          " is newer than this program supports (" +
                          std::to_string(sqlite_schema_version()) +
                          "); run a newer tlspolicy or move the store aside",
                      path);
}

Error foreign_error(const SchemaState& s, std::string_view path) {
  return schema_error("not a tlspolicy store: application_id " + std::to_string(s.application_id) +
                          ", user_version " + std::to_string(s.user_version),
                      path);
}

/// Runs one embedded script; `name` prefixes the error so a broken migration
/// is easy to find.
Result<void> run_script(sqlite3* db, const char* name, const char* sql, std::string_view path) {
  const int rc = sqlite3_exec(db, sql, nullptr, nullptr, nullptr);
  if (rc == SQLITE_OK) return {};
  Error e = sqlite_error(db, rc, path);
  e.detail = std::string{name} + ": " + e.detail;
  return Unexpected{std::move(e)};
}

}  // namespace

Result<void> migrate(sqlite3* db, std::string_view path) {
  const int known = sqlite_schema_version();

  // Fast path, no write lock: the usual start-up of a current store, and a
  // newer store is refused even when it is read-only or locked.
  auto state = read_state(db, path);
  if (!state) return Unexpected{state.error()};
  if (state->application_id == k_application_id) {
    if (state->user_version == known) return {};
    if (state->user_version > known) return Unexpected{newer_error(state->user_version, path)};
  }

  auto tx = Transaction::begin(db, path);
  if (!tx) return Unexpected{tx.error()};
  // Read again under the lock: another process may have migrated meanwhile.
  state = read_state(db, path);
  if (!state) return Unexpected{state.error()};
  auto objects = query_int(db, "SELECT count(*) FROM sqlite_master", path);
  if (!objects) return Unexpected{objects.error()};

  const bool empty = *objects == 0 && state->user_version == 0;
  if (empty && (state->application_id == 0 || state->application_id == k_application_id)) {
    if (auto r = run_script(db, "schema.sql", schema_sql(), path); !r) return r;
  } else if (state->application_id != k_application_id) {
    return Unexpected{foreign_error(*state, path)};
  } else if (state->user_version > known) {
    return Unexpected{newer_error(state->user_version, path)};
  } else {
    for (const SqlScript& m : migration_scripts()) {
      if (m.version <= state->user_version) continue;
      if (auto r = run_script(db, m.name, m.sql, path); !r) return r;
    }
  }

  // Every script ends with PRAGMA user_version = N; check we arrived.
  auto after = read_state(db, path);
  if (!after) return Unexpected{after.error()};
  if (after->user_version != known || after->application_id != k_application_id) {
    return Unexpected{schema_error("schema scripts left user_version " +
                                       std::to_string(after->user_version) + ", expected " +
                                       std::to_string(known),
                                   path)};
  }
  return tx->commit();
}

}  // namespace tlspolicy::cache
