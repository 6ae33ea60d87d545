// SPDX-License-Identifier: Apache-2.0
//
// PgConn: libpq with a deadline on every call (see pg_connection.hpp), and the
// migrations of the shared store.
#include "pg_connection.hpp"

#include <algorithm>
#include <charconv>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "tlspolicy/util/fd.hpp"

#include <poll.h>

namespace tlspolicy::cache {
namespace {

using Clock = std::chrono::steady_clock;

/// libpq's message on one line: line breaks and tabs become spaces, the end is trimmed.
std::string trimmed_message(const char* m) {
  std::string s = m != nullptr ? m : "";
  for (auto& c : s) {
    if (c == '\n' || c == '\r' || c == '\t') c = ' ';
  }
  while (!s.empty() && s.back() == ' ') s.pop_back();
  return s;
}

}  // namespace

Result<std::int64_t> PgRows::integer(int row, int col) const {
  const auto t = text(row, col);
  std::int64_t v = 0;
  const auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
  if (null(row, col) || ec != std::errc{} || end != t.data() + t.size()) {
    return fail(Errc::CacheSchema, Retry::Permanent,
                "store: column " + std::to_string(col) + " is not an integer: \"" +
                    std::string(t.substr(0, 40)) + "\"");
  }
  return v;
}

std::int64_t PgRows::affected() const noexcept {
  const char* n = PQcmdTuples(m_r.get());
  std::int64_t v = 0;
  std::from_chars(n, n + std::char_traits<char>::length(n), v);
  return v;
}

Result<std::unique_ptr<PgConn>> PgConn::open(const PgOptions& options) {
  char* parse_error = nullptr;
  PQconninfoOption* parsed = PQconninfoParse(options.url.c_str(), &parse_error);
  if (parsed == nullptr) {
    const std::string why = trimmed_message(parse_error);
    PQfreemem(parse_error);
    return fail(Errc::ConfigValue, Retry::Permanent,
                "store.url: not a PostgreSQL connection URI (" + why + ")");
  }
  for (auto* o = parsed; o->keyword != nullptr; ++o) {
    if (std::string_view{o->keyword} == "password" && o->val != nullptr && *o->val != '\0') {
      PQconninfoFree(parsed);
      return fail(Errc::ConfigValue, Retry::Permanent,
                  "store.url: holds a password; put it in ~/.pgpass or PGPASSFILE instead");
    }
  }
  PQconninfoFree(parsed);

  // A server-side backstop for the client deadline: a statement the client gave up on
  // does not run on for long after the connection closed.
  const std::string server_options =
      "-c statement_timeout=" + std::to_string(options.timeout.count() * 2);
  const char* keywords[] = {"dbname", "application_name", "options", nullptr};
  const char* values[] = {options.url.c_str(), options.application_name.c_str(),
                          server_options.c_str(), nullptr};
  PgConnHandle conn{PQconnectStartParams(keywords, values, 1)};
  if (!conn) return fail(Errc::CacheIo, Retry::Transient, "store: out of memory");
  const auto deadline = Clock::now() + options.timeout;
  auto status = PGRES_POLLING_WRITING;
  while (PQstatus(conn.get()) != CONNECTION_BAD && status != PGRES_POLLING_OK &&
         status != PGRES_POLLING_FAILED) {
    const short events = status == PGRES_POLLING_READING ? POLLIN : POLLOUT;
    if (!util::wait_ready(PQsocket(conn.get()), events, deadline)) {
      return fail(Errc::CacheIo, Retry::Transient,
                  "store.url: no connection to PostgreSQL within " +
                      std::to_string(options.timeout.count()) + " ms");
    }
    status = PQconnectPoll(conn.get());
  }
  if (PQstatus(conn.get()) != CONNECTION_OK) {
    return fail(
        Errc::CacheIo, Retry::Transient,
        "store.url: cannot connect to PostgreSQL: " + trimmed_message(PQerrorMessage(conn.get())));
  }
  // NOTICEs ("relation ... already exists, skipping") are not for the daemon's stderr.
  PQsetNoticeProcessor(
      conn.get(), [](void*, const char*) {}, nullptr);
  if (PQsetnonblocking(conn.get(), 1) != 0) {
    return fail(Errc::CacheIo, Retry::Transient, "store: cannot make the connection non-blocking");
  }
  return std::unique_ptr<PgConn>(new PgConn(std::move(conn), options));
}

bool PgConn::broken() const noexcept { return m_broken || PQstatus(m_conn.get()) != CONNECTION_OK; }

Unexpected<Error> PgConn::lost(std::string what) {
  m_broken = true;
  return Unexpected{Error{Errc::CacheIo, Retry::Transient, "store: " + std::move(what)}};
}

Result<PgRows> PgConn::exec(std::string_view sql, std::initializer_list<PgParam> params) {
  if (broken()) return lost("the PostgreSQL connection is closed");
  std::vector<const char*> values;
  values.reserve(params.size());
  for (const auto& p : params) values.push_back(p ? p->c_str() : nullptr);
  const std::string text{sql};
  if (PQsendQueryParams(m_conn.get(), text.c_str(), static_cast<int>(values.size()), nullptr,
                        values.data(), nullptr, nullptr, 0) == 0) {
    return lost(trimmed_message(PQerrorMessage(m_conn.get())));
  }
  return finish(sql);
}

Result<void> PgConn::run(std::string_view sql) {
  if (broken()) return lost("the PostgreSQL connection is closed");
  const std::string text{sql};
  if (PQsendQuery(m_conn.get(), text.c_str()) == 0) {
    return lost(trimmed_message(PQerrorMessage(m_conn.get())));
  }
  if (auto r = finish(sql); !r) return Unexpected{r.error()};
  return {};
}

Result<PgRows> PgConn::finish(std::string_view sql) {
  const auto deadline = Clock::now() + m_options.timeout;
  const auto timed_out = [&] {
    return lost("PostgreSQL did not answer within " + std::to_string(m_options.timeout.count()) +
                " ms");
  };
  // Send what libpq buffered, reading meanwhile (the server may answer before it reads all).
  for (int f = PQflush(m_conn.get()); f != 0; f = PQflush(m_conn.get())) {
    if (f < 0) return lost(trimmed_message(PQerrorMessage(m_conn.get())));
    if (!util::wait_ready(socket(), POLLIN | POLLOUT, deadline)) return timed_out();
    if (PQconsumeInput(m_conn.get()) == 0) {
      return lost(trimmed_message(PQerrorMessage(m_conn.get())));
    }
  }
  // Every result of the statement(s); the first error is the answer, the last rows the result.
  PgResultHandle last;
  std::optional<Error> first_error;
  for (;;) {
    while (PQisBusy(m_conn.get()) != 0) {
      if (!util::wait_ready(socket(), POLLIN, deadline)) return timed_out();
      if (PQconsumeInput(m_conn.get()) == 0) {
        return lost(trimmed_message(PQerrorMessage(m_conn.get())));
      }
    }
    PgResultHandle r{PQgetResult(m_conn.get())};
    if (!r) break;
    const auto st = PQresultStatus(r.get());
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK && !first_error) {
      const char* state = PQresultErrorField(r.get(), PG_DIAG_SQLSTATE);
      first_error = Error{Errc::CacheIo, Retry::Transient,
                          "store: PostgreSQL " + std::string(state != nullptr ? state : "error") +
                              ": " + trimmed_message(PQresultErrorMessage(r.get())) + " (in \"" +
                              std::string(sql.substr(0, 60)) + "\")"};
    }
    last = std::move(r);
  }
  if (PQstatus(m_conn.get()) != CONNECTION_OK) {
    return lost("lost the PostgreSQL connection: " + trimmed_message(PQerrorMessage(m_conn.get())));
  }
  if (first_error) return Unexpected{std::move(*first_error)};
  if (!last) return lost("PostgreSQL sent no result");
  return PgRows{std::move(last)};
}

Result<std::optional<PgConn::Notification>> PgConn::notification() {
  if (broken()) return lost("the PostgreSQL connection is closed");
  if (PQconsumeInput(m_conn.get()) == 0) {
    return lost("lost the PostgreSQL connection: " + trimmed_message(PQerrorMessage(m_conn.get())));
  }
  PGnotify* n = PQnotifies(m_conn.get());
  if (n == nullptr) return std::optional<Notification>{};
  Notification out{n->extra != nullptr ? n->extra : "", n->be_pid};
  PQfreemem(n);
  return std::optional<Notification>{std::move(out)};
}

Result<void> PgLink::ensure_open(Link& link) {
  if (link.conn && !link.conn->broken()) return {};
  const auto now = Clock::now();
  if (now < link.retry_at) {
    return unavailable(
        "PostgreSQL is unavailable; next attempt in " +
        std::to_string(
            std::chrono::duration_cast<std::chrono::milliseconds>(link.retry_at - now).count()) +
        " ms");
  }
  link.conn.reset();
  m_backend_pid.store(0, std::memory_order_release);
  auto c = PgConn::open(m_options);
  if (!c) {
    settle(link, &c.error());
    return Unexpected{c.error()};
  }
  link.conn = std::move(*c);
  m_backend_pid.store(link.conn->backend_pid(), std::memory_order_release);
  return {};
}

void PgLink::settle(Link& link, const Error* e) {
  // Only a lost or unreachable connection backs off; an SQL error on a live one does not.
  const bool down = e != nullptr && (!link.conn || link.conn->broken());
  if (down) {
    link.conn.reset();
    m_backend_pid.store(0, std::memory_order_release);
    link.backoff = std::min<std::chrono::milliseconds>(
        std::max<std::chrono::milliseconds>(link.backoff * 2, std::chrono::seconds{1}),
        std::chrono::seconds{30});
    link.retry_at = Clock::now() + link.backoff;
  } else if (e == nullptr) {
    link.backoff = std::chrono::milliseconds{0};
  }
  const auto health = m_health.lock();
  if (e != nullptr) {
    ++health->failed_calls;
    health->last_error = e->detail;
  }
  if (down && health->up) ++health->outages;
  if (down) health->up = false;
  if (e == nullptr) health->up = true;
}

Unexpected<Error> PgLink::unavailable(std::string why) {
  ++m_health.lock()->failed_calls;
  return Unexpected{Error{Errc::CacheIo, Retry::Transient, "store: " + std::move(why)}};
}

PgHealth PgLink::health() const { return *m_health.lock(); }

int pg_schema_version() noexcept {
  const auto scripts = pg_migration_scripts();
  return scripts.empty() ? 0 : scripts.back().version;
}

Result<void> pg_migrate(PgConn& c) {
  // The advisory lock ("TLSP") serialises nodes that start at once: the second waits for the
  // first's COMMIT and then finds the current version.
  return pg_transaction(c, [&]() -> Result<void> {
    if (auto r = c.run("SELECT pg_advisory_xact_lock(1414288208);"
                       "CREATE TABLE IF NOT EXISTS tlspolicy_schema (version integer NOT NULL);");
        !r) {
      return r;
    }
    auto rows = c.exec("SELECT version FROM tlspolicy_schema", {});
    if (!rows) return Unexpected{rows.error()};
    std::int64_t version = 0;
    if (rows->size() == 0) {
      if (auto r = c.run("INSERT INTO tlspolicy_schema (version) VALUES (0)"); !r) return r;
    } else {
      auto v = rows->integer(0, 0);
      if (!v) return Unexpected{v.error()};
      version = *v;
    }
    if (version > pg_schema_version()) {
      return fail(Errc::CacheSchema, Retry::Permanent,
                  "store.url: the database has schema version " + std::to_string(version) +
                      ", newer than this program's " + std::to_string(pg_schema_version()));
    }
    for (const auto& s : pg_migration_scripts()) {
      if (s.version <= version) continue;
      if (auto r = c.run(s.sql); !r) {
        return fail(Errc::CacheSchema, Retry::Permanent,
                    std::string("store.url: migration ") + s.name + " failed: " + r.error().detail);
      }
    }
    return {};
  });
}

}  // namespace tlspolicy::cache
