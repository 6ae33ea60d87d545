// SPDX-License-Identifier: Apache-2.0
//
// PRIVATE to policy-cache/: one libpq connection with a deadline on every
// call, and the schema of the shared fleet store (schema/pg/NNNN_*.sql).
//
// DESIGN
//   Every statement is sent with PQsendQueryParams and its result awaited
//   with poll() on PQsocket() until PgOptions::timeout: a PostgreSQL that is
//   slow, stopped or cut off by the network costs a caller at most that long,
//   never libpq's unbounded blocking wait. A call that times out or loses the
//   connection closes it (broken() is then true); the owner reopens it later
//   with back-off (FleetStore in fleet_store.cpp). Values are always bound as
//   text parameters, never spliced into SQL. Times in the tables are Unix
//   seconds (bigint); leases use the server's clock (now()), so nodes with
//   skewed clocks still agree on who holds a claim.
//
// THREADS
//   A PgConn is used by one thread at a time (its owner serialises).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "tlspolicy/util/c_handle.hpp"
#include "tlspolicy/util/locked.hpp"
#include "tlspolicy/util/result.hpp"

#include <libpq-fe.h>

namespace tlspolicy::cache {

using PgConnHandle = util::CHandle<PGconn, PQfinish>;     // PQconnectStartParams
using PgResultHandle = util::CHandle<PGresult, PQclear>;  // PQgetResult

struct PgOptions {
  std::string url;  ///< libpq connection URI (store.url); no password in it by policy
  std::string application_name = "tlspolicy";
  std::chrono::milliseconds timeout{2000};  ///< connect, and each statement
};

/// One bound parameter: text, or SQL NULL.
using PgParam = std::optional<std::string>;

/// The rows of one statement's result.
class PgRows {
 public:
  explicit PgRows(PgResultHandle r) noexcept : m_r(std::move(r)) {}
  [[nodiscard]] int size() const noexcept { return PQntuples(m_r.get()); }
  [[nodiscard]] bool null(int row, int col) const noexcept {
    return PQgetisnull(m_r.get(), row, col) != 0;
  }
  [[nodiscard]] std::string_view text(int row, int col) const noexcept {
    return {PQgetvalue(m_r.get(), row, col),
            static_cast<std::size_t>(PQgetlength(m_r.get(), row, col))};
  }
  /// The column as a 64-bit integer. Errors: CacheSchema (NULL or not an integer).
  [[nodiscard]] Result<std::int64_t> integer(int row, int col) const;
  /// Rows changed by an INSERT/UPDATE/DELETE.
  [[nodiscard]] std::int64_t affected() const noexcept;

 private:
  PgResultHandle m_r;
};

class PgConn {
 public:
  /// Connects within options.timeout. Errors: ConfigValue (a URL libpq cannot parse),
  /// CacheIo (cannot connect or authenticate; Transient).
  [[nodiscard]] static Result<std::unique_ptr<PgConn>> open(const PgOptions& options);

  /// Runs one statement with `params` ($1, $2, ...). Errors: CacheIo (Transient: timeout,
  /// lost connection, or a server error such as a serialization failure; the detail has
  /// the SQLSTATE and message).
  [[nodiscard]] Result<PgRows> exec(std::string_view sql, std::initializer_list<PgParam> params);
  /// Runs statements without parameters (BEGIN, COMMIT, a migration script).
  [[nodiscard]] Result<void> run(std::string_view sql);

  /// True once a call timed out or the connection was lost: reopen it.
  [[nodiscard]] bool broken() const noexcept;
  /// The socket (for LISTEN: wait for notifications with poll()).
  [[nodiscard]] int socket() const noexcept { return PQsocket(m_conn.get()); }
  /// The server process of this session (PQbackendPID), as notifications name it.
  [[nodiscard]] int backend_pid() const noexcept { return PQbackendPID(m_conn.get()); }
  /// One notification: what NOTIFY sent, and the server process of the session that sent it.
  struct Notification {
    std::string payload;
    int sender_pid = 0;
  };
  /// Reads what the server sent and returns one pending notification, if any.
  [[nodiscard]] Result<std::optional<Notification>> notification();

 private:
  PgConn(PgConnHandle c, PgOptions o) noexcept : m_conn(std::move(c)), m_options(std::move(o)) {}
  [[nodiscard]] Result<PgRows> finish(std::string_view sql);
  [[nodiscard]] Unexpected<Error> lost(std::string what);

  PgConnHandle m_conn;
  PgOptions m_options;
  bool m_broken = false;
};

/// Runs `body` inside BEGIN ... COMMIT on `c`; ROLLBACK when it fails (its error is returned).
template <class F>
[[nodiscard]] auto pg_transaction(PgConn& c, F&& body) -> decltype(body()) {
  if (auto b = c.run("BEGIN"); !b) return Unexpected{b.error()};
  auto r = body();
  if (!r) {
    (void)c.run("ROLLBACK");
    return r;
  }
  if (auto e = c.run("COMMIT"); !e) return Unexpected{e.error()};
  return r;
}

/// Health of a PgLink, for stats and logs.
struct PgHealth {
  bool up = true;                  ///< the last call reached PostgreSQL (or none was made yet)
  std::uint64_t outages = 0;       ///< times the link went from up to down
  std::uint64_t failed_calls = 0;  ///< calls that found PostgreSQL unavailable or failed
  std::string last_error;          ///< "" before the first failure
};

/// One connection shared by the calls of one store object, opened lazily and reopened
/// after a failure with back-off (1 s, doubling, at most 30 s): while PostgreSQL is down a
/// call fails at once with CacheIo instead of waiting for a connect timeout each time.
/// THREADS: thread-safe; calls are serialised, and a caller waits at most options.timeout
/// for its turn (then CacheIo, "busy").
class PgLink {
 public:
  explicit PgLink(PgOptions options) : m_options(std::move(options)) {}

  /// Runs fn(PgConn&) -> Result<T> with the connection.
  template <class F>
  [[nodiscard]] auto with(F&& fn) -> decltype(fn(std::declval<PgConn&>())) {
    auto link = m_link.try_lock_for(m_options.timeout);
    if (!link) {
      return unavailable("the PostgreSQL connection stayed busy for " +
                         std::to_string(m_options.timeout.count()) + " ms");
    }
    if (auto ready = ensure_open(**link); !ready) return Unexpected{ready.error()};
    auto r = fn(*(*link)->conn);
    settle(**link, r ? nullptr : &r.error());
    return r;
  }
  [[nodiscard]] PgHealth health() const;
  [[nodiscard]] const PgOptions& options() const noexcept { return m_options; }
  /// The server process of the open connection, 0 when none is open. Without waiting for
  /// the link (any thread): a notification this link's session sent names it.
  [[nodiscard]] int backend_pid() const noexcept {
    return m_backend_pid.load(std::memory_order_acquire);
  }

 private:
  /// The connection and its back-off; a caller waits for them at most options.timeout.
  struct Link {
    std::unique_ptr<PgConn> conn;
    std::chrono::steady_clock::time_point retry_at{};
    std::chrono::milliseconds backoff{0};
  };

  [[nodiscard]] Result<void> ensure_open(Link& link);
  void settle(Link& link, const Error* e);
  [[nodiscard]] Unexpected<Error> unavailable(std::string why);

  PgOptions m_options;
  util::Locked<Link, std::timed_mutex> m_link;
  std::atomic<int> m_backend_pid{0};  ///< Link::conn's, set whenever it changes
  util::Locked<PgHealth> m_health;
};

/// A migration: schema/pg/<name>, ending with "UPDATE tlspolicy_schema SET version = N;".
struct PgScript {
  int version;
  const char* name;
  const char* sql;
};
/// Every migration of schema/pg/, ordered by version (generated: pg_embedded_sql.cpp).
[[nodiscard]] std::span<const PgScript> pg_migration_scripts() noexcept;

/// The schema version this program writes in PostgreSQL (tlspolicy_schema.version).
[[nodiscard]] int pg_schema_version() noexcept;

/// Brings the shared database to pg_schema_version(): every missing migration of
/// schema/pg/ in one transaction under an advisory lock, so two nodes starting at once
/// apply it once. Errors: CacheSchema (the database is newer than this program), CacheIo.
[[nodiscard]] Result<void> pg_migrate(PgConn& c);

}  // namespace tlspolicy::cache
