// SPDX-License-Identifier: Apache-2.0
//
// cache::ReportStore over SQLite: the TLS-RPT (RFC 8460) results aggregated
// per UTC day, report domain and policy, and the reports made from them, in
// the same database file as the policy cache (tables rpt_*, schema version 3,
// policy-cache/schema/migrations/0003_tlsrpt.sql; report claims and the push
// counter, version 4, 0004_fleet.sql). Same connection pattern as
// sqlite_policy_cache.cpp, opened the same way (sqlite_open.cpp): one
// connection per store object, SQLITE_OPEN_NOMUTEX, serialised by its session
// (every method is thread-safe); statements prepared once and
// reused, values always bound; every write is one BEGIN IMMEDIATE
// transaction, so a crash loses no counted result that add() reported as
// stored and never leaves half a batch; WAL and
// SqliteOptions::busy_timeout_ms let the daemon, `tlspolicy report ...` and a
// PolicyCache on the same file work side by side. SQLite failures are CacheIo
// (Transient); rows this program could not have written are CacheSchema.
//
// Counting (RFC 8460 §4.4, RPT-9): a policy key is (day, report domain,
// policy type, policy domain, policy strings, mx hosts), compared byte for
// byte, lists in order; equal keys sum their successes and failures. Each
// FailureDetail of a batch is one failed session: it adds 1 to the count of
// the equal detail of that policy (so equal details within one batch count
// twice). The lists are stored as compact JSON arrays of strings (see
// encode_strings in report_rows.hpp, shared with the PostgreSQL store) so
// that equal lists are equal text and the UNIQUE key of rpt_policy does the
// matching.
//
// Delivery (RFC 8460 §5, RPT-4): claim_report() marks a pending report as
// being delivered by one sender until a lease ends (rpt_report.claimed_by,
// claim_until, in Unix seconds of this machine's clock), so the daemon and
// `tlspolicy report send` never deliver one report at the same time;
// update_report() ends the claim. push_local_results() (report_push.hpp)
// moves the counted results of a fleet node into the shared store.
//
// BUGS
//   Counters saturate at 2^63-1 instead of failing: a client sending huge
//   counts could otherwise make every later add() of that policy fail.
//   A sender whose delivery outlives its lease may deliver a report that
//   another sender then claims and delivers too.
#include <array>
#include <chrono>
#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <sqlite3.h>

#include "tlspolicy/cache/policy_cache.hpp"
#include "tlspolicy/cache/report_store.hpp"
#include "tlspolicy/tlsrpt/model.hpp"

#include "report_push.hpp"
#include "report_rows.hpp"
#include "sqlite_handles.hpp"
#include "sqlite_open.hpp"

namespace tlspolicy::cache {

std::string_view to_string(ReportState s) noexcept {
  switch (s) {
    case ReportState::Pending:
      return "pending";
    case ReportState::Sent:
      return "sent";
    case ReportState::Failed:
      return "failed";
    case ReportState::Skipped:
      return "skipped";
  }
  return "failed";  // unreachable for valid enumerators
}

namespace {

// ---- SQL -------------------------------------------------------------------

// Upsert of one policy's counts; RETURNING gives the row id whether the row
// was inserted or updated. min(old, MAX - new) + new saturates at 2^63-1.
constexpr const char* k_add_policy_sql =
    "INSERT INTO rpt_policy (day, domain, policy_type, policy_domain, policy_strings, mx_hosts, "
    "successes, failures) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) "
    "ON CONFLICT (day, domain, policy_type, policy_domain, policy_strings, mx_hosts) DO UPDATE "
    "SET successes = min(successes, 9223372036854775807 - excluded.successes) + "
    "excluded.successes, "
    "failures = min(failures, 9223372036854775807 - excluded.failures) + excluded.failures "
    "RETURNING id";
// One failed session with this detail.
constexpr const char* k_add_failure_sql =
    "INSERT INTO rpt_failure (policy_id, result_type, sending_mta_ip, receiving_mx_hostname, "
    "receiving_mx_helo, receiving_ip, additional_information, failure_reason_code, "
    "failed_sessions) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 1) "
    "ON CONFLICT (policy_id, result_type, sending_mta_ip, receiving_mx_hostname, "
    "receiving_mx_helo, receiving_ip, additional_information, failure_reason_code) DO UPDATE "
    "SET failed_sessions = min(failed_sessions, 9223372036854775806) + 1";
// Per-policy counts, grouped (with saturation) into day totals by days().
constexpr const char* k_days_sql =
    "SELECT day, domain, successes, failures FROM rpt_policy "
    "WHERE (?1 IS NULL OR day = ?1) AND (?2 IS NULL OR domain = ?2) ORDER BY day, domain";
// One statement (one read snapshot) for the policies and their details, by
// id so that the rows of one policy are adjacent.
constexpr const char* k_aggregate_sql =
    "SELECT p.id, p.policy_type, p.policy_domain, p.policy_strings, p.mx_hosts, p.successes, "
    "p.failures, f.result_type, f.sending_mta_ip, f.receiving_mx_hostname, f.receiving_mx_helo, "
    "f.receiving_ip, f.additional_information, f.failure_reason_code, f.failed_sessions "
    "FROM rpt_policy AS p LEFT JOIN rpt_failure AS f ON f.policy_id = p.id "
    "WHERE p.day = ?1 AND p.domain = ?2 ORDER BY p.id";

// Every report statement lists the columns in the order read_report() expects.
constexpr const char* k_insert_report_sql =
    "INSERT INTO rpt_report (report_id, day, domain, state, created_at, next_attempt_at, "
    "give_up_at, attempts, last_error, sent_at, sent_to) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) "
    "ON CONFLICT (day, domain) DO NOTHING";
constexpr const char* k_get_report_sql =
    "SELECT report_id, day, domain, state, created_at, next_attempt_at, give_up_at, attempts, "
    "last_error, sent_at, sent_to FROM rpt_report WHERE day = ?1 AND domain = ?2";
constexpr const char* k_reports_sql =
    "SELECT report_id, day, domain, state, created_at, next_attempt_at, give_up_at, attempts, "
    "last_error, sent_at, sent_to FROM rpt_report "
    "WHERE (?1 IS NULL OR day = ?1) AND (?2 IS NULL OR domain = ?2) ORDER BY day, domain";
constexpr const char* k_due_reports_sql =
    "SELECT report_id, day, domain, state, created_at, next_attempt_at, give_up_at, attempts, "
    "last_error, sent_at, sent_to FROM rpt_report "
    "WHERE state = 'pending' AND next_attempt_at <= ?1 ORDER BY next_attempt_at, day, domain";
// Also ends the claim of the sender that stores the outcome of its attempt.
constexpr const char* k_update_report_sql =
    "UPDATE rpt_report SET state = ?2, attempts = ?3, next_attempt_at = ?4, last_error = ?5, "
    "sent_at = ?6, sent_to = ?7, claimed_by = NULL, claim_until = NULL WHERE report_id = ?1";
// One statement decides: a row comes back when the claim was granted. unixepoch() is this
// machine's clock, the same for every process on the file.
constexpr const char* k_claim_report_sql =
    "UPDATE rpt_report SET claimed_by = ?2, claim_until = unixepoch() + ?3 "
    "WHERE report_id = ?1 AND state = 'pending' "
    "AND (claim_until IS NULL OR claim_until <= unixepoch() OR claimed_by = ?2) "
    "RETURNING report_id";
constexpr const char* k_count_purge_sql =
    "SELECT count(*) FROM (SELECT DISTINCT day, domain FROM rpt_policy WHERE day < ?1)";
// rpt_failure rows go with their policy (ON DELETE CASCADE; the connection
// runs with foreign_keys = ON).
constexpr const char* k_purge_policies_sql = "DELETE FROM rpt_policy WHERE day < ?1";
constexpr const char* k_purge_reports_sql = "DELETE FROM rpt_report WHERE day < ?1";

// push_local_results(): every (day, domain) with results, the counter, and the
// deletion of everything pushed (rpt_failure cascades).
constexpr const char* k_push_days_sql =
    "SELECT DISTINCT day, domain FROM rpt_policy ORDER BY day, domain";
constexpr const char* k_push_delete_sql = "DELETE FROM rpt_policy";
constexpr const char* k_get_meta_sql = "SELECT value FROM meta WHERE key = ?1";
constexpr const char* k_set_meta_sql =
    "INSERT INTO meta (key, value) VALUES (?1, ?2) "
    "ON CONFLICT (key) DO UPDATE SET value = excluded.value";
constexpr const char* k_push_seq_key = "rpt_push_seq";

/// Every statement of one connection, prepared once by open_sqlite_report_store().
struct Statements {
  SqliteStmt add_policy;
  SqliteStmt add_failure;
  SqliteStmt days;
  SqliteStmt aggregate;
  SqliteStmt insert_report;
  SqliteStmt get_report;
  SqliteStmt reports;
  SqliteStmt due_reports;
  SqliteStmt update_report;
  SqliteStmt count_purge;
  SqliteStmt purge_policies;
  SqliteStmt purge_reports;
  SqliteStmt claim_report;
  SqliteStmt push_days;
  SqliteStmt push_delete;
  SqliteStmt get_meta;
  SqliteStmt set_meta;
};

// ---- values <-> columns ----------------------------------------------------

/// Column `index` as a count: the schema keeps counts >= 0.
std::optional<std::uint64_t> column_count(sqlite3_stmt* stmt, int index) noexcept {
  const std::int64_t v = column_int64(stmt, index);
  if (v < 0) return std::nullopt;
  return static_cast<std::uint64_t>(v);
}

/// Rebuilds a ReportRow from the current row of a statement selecting the
/// report columns.
Result<ReportRow> read_report(sqlite3_stmt* stmt, std::string_view path) {
  StoredReport s;
  s.report_id = column_string(stmt, 0);
  s.day = column_string(stmt, 1);
  s.domain = column_string(stmt, 2);
  s.state = column_string(stmt, 3);
  s.created_at = column_int64(stmt, 4);
  s.next_attempt_at = column_int64(stmt, 5);
  s.give_up_at = column_int64(stmt, 6);
  s.attempts = column_int64(stmt, 7);
  s.last_error = column_string(stmt, 8);
  if (sqlite3_column_type(stmt, 9) != SQLITE_NULL) s.sent_at = column_int64(stmt, 9);
  s.sent_to = column_string(stmt, 10);
  return report_from(std::move(s), path);
}

/// The policy columns (0..6) of the current row of k_aggregate_sql.
Result<tlsrpt::AggregatedPolicy> read_policy(sqlite3_stmt* stmt, std::string_view path) {
  StoredPolicy s;
  s.id = column_int64(stmt, 0);
  s.type = column_string(stmt, 1);
  s.policy_domain = column_string(stmt, 2);
  s.policy_strings = column_string(stmt, 3);
  s.mx_hosts = column_string(stmt, 4);
  s.successes = column_int64(stmt, 5);
  s.failures = column_int64(stmt, 6);
  return policy_from(std::move(s), path);
}

/// The detail columns (7..14) of the current row of k_aggregate_sql.
Result<tlsrpt::CountedDetail> read_detail(sqlite3_stmt* stmt, std::string_view path) {
  StoredDetail s;
  s.policy_id = column_int64(stmt, 0);
  s.result_type = column_string(stmt, 7);
  s.fields.sending_mta_ip = column_string(stmt, 8);
  s.fields.receiving_mx_hostname = column_string(stmt, 9);
  s.fields.receiving_mx_helo = column_string(stmt, 10);
  s.fields.receiving_ip = column_string(stmt, 11);
  s.fields.additional_information = column_string(stmt, 12);
  s.fields.failure_reason_code = column_string(stmt, 13);
  s.failed_sessions = column_int64(stmt, 14);
  return detail_from(std::move(s), path);
}

/// The list columns of one policy key, in stored form.
struct EncodedKey {
  std::string policy_strings;
  std::string mx_hosts;
};

/// The filter of days() and reports() bound as ?1 (day) and ?2 (domain);
/// an absent part stays NULL. `day_text` must outlive the statement's reset.
int bind_filter(sqlite3_stmt* stmt, const ReportFilter& f, const std::string& day_text) {
  int rc = SQLITE_OK;
  if (f.day) rc = bind_text(stmt, 1, day_text);
  if (rc == SQLITE_OK && f.domain) rc = bind_text(stmt, 2, *f.domain);
  return rc;
}

// ---- the store ---------------------------------------------------------------

class SqliteReportStore final : public ReportStore, private SqliteStoreBase<Statements> {
 public:
  using SqliteStoreBase::SqliteStoreBase;

  [[nodiscard]] Result<void> add(const tlsrpt::ResultBatch& b) override {
    auto day = checked_batch_day(b);
    if (!day) return Unexpected{day.error()};
    if (b.policies.empty()) return {};  // nothing to count; no write lock taken
    // Encoded before taking the lock; bound below, so these buffers must
    // outlive every statement reset.
    std::vector<EncodedKey> keys;
    keys.reserve(b.policies.size());
    for (const tlsrpt::PolicyResult& p : b.policies) {
      keys.push_back({encode_strings(p.policy.policy_strings), encode_strings(p.policy.mx_hosts)});
    }

    const auto s = session();
    auto tx = Transaction::begin(s.db(), m_path);
    if (!tx) return Unexpected{tx.error()};
    for (std::size_t i = 0; i < b.policies.size(); ++i) {
      const tlsrpt::PolicyResult& p = b.policies[i];
      auto id = upsert_policy(s, *day, b.domain, p, keys[i]);
      if (!id) return Unexpected{id.error()};
      for (const tlsrpt::FailureDetail& d : p.details) {
        if (auto r = count_failure(s, *id, d); !r) return r;
      }
    }
    return tx->commit();
  }

  [[nodiscard]] Result<std::vector<ReportDaySummary>> days(const ReportFilter& f) const override {
    std::string day_text;
    if (f.day) {
      auto key = day_key(*f.day);
      if (!key) return std::vector<ReportDaySummary>{};  // no such day can be stored
      day_text = std::move(*key);
    }
    const auto s = session();
    sqlite3_stmt* stmt = s.stmts().days.get();
    const StmtReset reset{stmt};
    if (const int rc = bind_filter(stmt, f, day_text); rc != SQLITE_OK) return s.error(rc);
    std::vector<ReportDaySummary> out;
    std::string last_day;
    for (;;) {
      const int rc = sqlite3_step(stmt);
      if (rc == SQLITE_DONE) return out;
      if (rc != SQLITE_ROW) return s.error(rc);
      std::string row_day = column_string(stmt, 0);
      std::string domain = column_string(stmt, 1);
      const auto successes = column_count(stmt, 2);
      const auto failures = column_count(stmt, 3);
      if (!successes || !failures) {
        return Unexpected{bad_row("negative tlsrpt counts for " + row_day + " " + domain, m_path)};
      }
      if (out.empty() || row_day != last_day || domain != out.back().domain) {
        auto parsed = tlsrpt::parse_day(row_day);
        if (!parsed) return Unexpected{bad_row("stored tlsrpt day '" + row_day + "'", m_path)};
        out.push_back(ReportDaySummary{*parsed, std::move(domain), 0, 0});
        last_day = std::move(row_day);
      }
      out.back().successes = saturating_add(out.back().successes, *successes);
      out.back().failures = saturating_add(out.back().failures, *failures);
    }
  }

  [[nodiscard]] Result<std::vector<tlsrpt::AggregatedPolicy>> aggregate(
      tlsrpt::Day day, const std::string& domain) const override {
    auto key = day_key(day);
    if (!key) return std::vector<tlsrpt::AggregatedPolicy>{};  // no such day can be stored
    const auto s = session();
    return aggregate_of(s, *key, domain);
  }

  [[nodiscard]] Result<ReportRow> create_report(const ReportRow& row) override {
    auto day = checked_new_report(row);
    if (!day) return Unexpected{day.error()};
    const auto s = session();
    auto tx = Transaction::begin(s.db(), m_path);
    if (!tx) return Unexpected{tx.error()};
    {
      sqlite3_stmt* stmt = s.stmts().insert_report.get();
      const StmtReset reset{stmt};
      int rc = bind_text(stmt, 1, row.report_id);
      if (rc == SQLITE_OK) rc = bind_text(stmt, 2, *day);
      if (rc == SQLITE_OK) rc = bind_text(stmt, 3, row.domain);
      if (rc == SQLITE_OK) rc = bind_text(stmt, 4, to_string(row.state));
      if (rc == SQLITE_OK) rc = bind_time(stmt, 5, row.created_at);
      if (rc == SQLITE_OK) rc = bind_time(stmt, 6, row.next_attempt_at);
      if (rc == SQLITE_OK) rc = bind_time(stmt, 7, row.give_up_at);
      if (rc == SQLITE_OK) rc = bind_int64(stmt, 8, row.attempts);
      if (rc == SQLITE_OK) rc = bind_text(stmt, 9, row.last_error);
      if (rc == SQLITE_OK && row.sent_at) rc = bind_time(stmt, 10, *row.sent_at);
      if (rc == SQLITE_OK) rc = bind_text(stmt, 11, row.sent_to);
      if (rc == SQLITE_OK) rc = sqlite3_step(stmt);
      if (rc != SQLITE_DONE) {
        // ON CONFLICT covers (day, domain) only: the same report id for
        // another day or domain is the caller's mistake.
        if (sqlite3_extended_errcode(s.db()) == SQLITE_CONSTRAINT_PRIMARYKEY) {
          return fail(Errc::InvalidArgument, Retry::Permanent,
                      "tlsrpt store create_report: report id " + row.report_id +
                          " is already used by another day or domain");
        }
        return s.error(rc);
      }
    }
    auto stored = report_of(s, *day, row.domain);
    if (!stored) return Unexpected{stored.error()};
    if (!*stored) {
      return fail(Errc::Internal, Retry::Transient,
                  "tlsrpt store create_report: report for " + row.domain + " vanished");
    }
    if (auto r = tx->commit(); !r) return Unexpected{r.error()};
    return std::move(**stored);
  }

  [[nodiscard]] Result<std::vector<ReportRow>> reports(const ReportFilter& f) const override {
    std::string day_text;
    if (f.day) {
      auto key = day_key(*f.day);
      if (!key) return std::vector<ReportRow>{};
      day_text = std::move(*key);
    }
    const auto s = session();
    sqlite3_stmt* stmt = s.stmts().reports.get();
    const StmtReset reset{stmt};
    if (const int rc = bind_filter(stmt, f, day_text); rc != SQLITE_OK) return s.error(rc);
    return s.read_rows(stmt, read_report);
  }

  [[nodiscard]] Result<std::vector<ReportRow>> due_reports(util::TimePoint now) const override {
    const auto s = session();
    sqlite3_stmt* stmt = s.stmts().due_reports.get();
    const StmtReset reset{stmt};
    if (const int rc = bind_time(stmt, 1, now); rc != SQLITE_OK) return s.error(rc);
    return s.read_rows(stmt, read_report);
  }

  [[nodiscard]] Result<void> update_report(const ReportRow& row) override {
    if (auto ok = checked_update(row); !ok) return ok;
    const auto s = session();
    sqlite3_stmt* stmt = s.stmts().update_report.get();
    const StmtReset reset{stmt};
    int rc = bind_text(stmt, 1, row.report_id);
    if (rc == SQLITE_OK) rc = bind_text(stmt, 2, to_string(row.state));
    if (rc == SQLITE_OK) rc = bind_int64(stmt, 3, row.attempts);
    if (rc == SQLITE_OK) rc = bind_time(stmt, 4, row.next_attempt_at);
    if (rc == SQLITE_OK) rc = bind_text(stmt, 5, row.last_error);
    if (rc == SQLITE_OK) {
      rc = row.sent_at ? bind_time(stmt, 6, *row.sent_at) : sqlite3_bind_null(stmt, 6);
    }
    if (rc == SQLITE_OK) rc = bind_text(stmt, 7, row.sent_to);
    if (rc == SQLITE_OK) rc = sqlite3_step(stmt);  // one statement: atomic on its own
    if (rc != SQLITE_DONE) return s.error(rc);
    if (sqlite3_changes(s.db()) == 0) {
      return fail(Errc::InvalidArgument, Retry::Permanent,
                  "tlsrpt store update_report: unknown report id " + row.report_id);
    }
    return {};
  }

  [[nodiscard]] Result<bool> claim_report(const std::string& report_id, std::string_view node,
                                          std::chrono::seconds lease) override {
    const auto s = session();
    auto tx = Transaction::begin(s.db(), m_path);
    if (!tx) return Unexpected{tx.error()};
    bool granted = false;
    {
      sqlite3_stmt* stmt = s.stmts().claim_report.get();
      const StmtReset reset{stmt};
      int rc = bind_text(stmt, 1, report_id);
      if (rc == SQLITE_OK) rc = bind_text(stmt, 2, node);
      if (rc == SQLITE_OK) rc = bind_int64(stmt, 3, clamped_lease(lease).count());
      if (rc == SQLITE_OK) rc = sqlite3_step(stmt);
      if (rc == SQLITE_ROW) {
        granted = true;
        rc = sqlite3_step(stmt);  // RETURNING: at most one row (report_id is the key)
      }
      if (rc != SQLITE_DONE) return s.error(rc);
    }
    if (auto r = tx->commit(); !r) return Unexpected{r.error()};
    return granted;
  }

  [[nodiscard]] Result<std::size_t> purge_before(tlsrpt::Day before) override {
    auto key = day_key(before);
    if (!key) return Unexpected{key.error()};
    const auto s = session();
    auto tx = Transaction::begin(s.db(), m_path);
    if (!tx) return Unexpected{tx.error()};
    std::int64_t purged = 0;
    {
      sqlite3_stmt* stmt = s.stmts().count_purge.get();
      const StmtReset reset{stmt};
      int rc = bind_text(stmt, 1, *key);
      if (rc == SQLITE_OK) rc = sqlite3_step(stmt);
      if (rc != SQLITE_ROW) return s.error(rc);
      purged = column_int64(stmt, 0);
    }
    for (sqlite3_stmt* stmt : {s.stmts().purge_policies.get(), s.stmts().purge_reports.get()}) {
      const StmtReset reset{stmt};
      int rc = bind_text(stmt, 1, *key);
      if (rc == SQLITE_OK) rc = sqlite3_step(stmt);
      if (rc != SQLITE_DONE) return s.error(rc);
    }
    if (auto r = tx->commit(); !r) return Unexpected{r.error()};
    return static_cast<std::size_t>(purged);
  }

  /// push_local_results() on this store (report_push.hpp).
  [[nodiscard]] Result<std::size_t> push(const PushFn& push_fn) {
    const auto s = session();
    {
      // Nothing counted (the usual case between pushes): no write lock taken.
      sqlite3_stmt* stmt = s.stmts().push_days.get();
      const StmtReset reset{stmt};
      const int rc = sqlite3_step(stmt);
      if (rc == SQLITE_DONE) return std::size_t{0};
      if (rc != SQLITE_ROW) return s.error(rc);
    }
    if (auto seeded = seed_push_counter(s); !seeded) return Unexpected{seeded.error()};
    auto tx = Transaction::begin(s.db(), m_path);
    if (!tx) return Unexpected{tx.error()};
    // Under the write lock nothing is added between this read and the
    // delete below: what is deleted is exactly what was pushed.
    std::vector<DayAggregate> days;
    {
      sqlite3_stmt* stmt = s.stmts().push_days.get();
      const StmtReset reset{stmt};
      for (;;) {
        const int rc = sqlite3_step(stmt);
        if (rc == SQLITE_DONE) break;
        if (rc != SQLITE_ROW) return s.error(rc);
        const std::string day = column_string(stmt, 0);
        auto parsed = tlsrpt::parse_day(day);
        if (!parsed) return Unexpected{bad_row("stored tlsrpt day '" + day + "'", m_path)};
        days.push_back(DayAggregate{*parsed, column_string(stmt, 1), {}});
      }
    }
    if (days.empty()) return std::size_t{0};  // the transaction rolls back: nothing written
    for (DayAggregate& d : days) {
      auto key = day_key(d.day);
      if (!key) return Unexpected{key.error()};
      auto policies = aggregate_of(s, *key, d.domain);
      if (!policies) return Unexpected{policies.error()};
      d.policies = std::move(*policies);
    }
    auto counter = push_counter(s);
    if (!counter) return Unexpected{counter.error()};
    if (!*counter || **counter == std::numeric_limits<std::int64_t>::max()) {
      return Unexpected{bad_row("tlsrpt push counter missing or at its maximum", m_path)};
    }
    const std::int64_t seq = **counter + 1;
    if (auto pushed = push_fn(seq, days); !pushed) return Unexpected{pushed.error()};
    {
      sqlite3_stmt* stmt = s.stmts().push_delete.get();
      const StmtReset reset{stmt};
      if (const int rc = sqlite3_step(stmt); rc != SQLITE_DONE) return s.error(rc);
    }
    if (auto stored = set_push_counter(s, seq); !stored) return Unexpected{stored.error()};
    if (auto r = tx->commit(); !r) return Unexpected{r.error()};
    return days.size();
  }

 private:
  /// The aggregated policies of one (day, domain) in aggregate()'s order. In the caller's
  /// session. One statement (one read snapshot) for the policies and their details.
  [[nodiscard]] Result<std::vector<tlsrpt::AggregatedPolicy>> aggregate_of(
      const Session& s, const std::string& day, const std::string& domain) const {
    std::vector<tlsrpt::AggregatedPolicy> out;  // by id: insertion order
    sqlite3_stmt* stmt = s.stmts().aggregate.get();
    const StmtReset reset{stmt};
    int rc = bind_text(stmt, 1, day);
    if (rc == SQLITE_OK) rc = bind_text(stmt, 2, domain);
    if (rc != SQLITE_OK) return s.error(rc);
    std::int64_t last_id = 0;
    for (;;) {
      rc = sqlite3_step(stmt);
      if (rc == SQLITE_DONE) break;
      if (rc != SQLITE_ROW) return s.error(rc);
      const std::int64_t id = column_int64(stmt, 0);
      if (out.empty() || last_id != id) {
        auto p = read_policy(stmt, m_path);
        if (!p) return Unexpected{p.error()};
        out.push_back(std::move(*p));
        last_id = id;
      }
      if (sqlite3_column_type(stmt, 7) != SQLITE_NULL) {  // LEFT JOIN: a policy without details
        auto d = read_detail(stmt, m_path);
        if (!d) return Unexpected{d.error()};
        out.back().details.push_back(std::move(*d));
      }
    }
    order_aggregate(out);
    return out;
  }

  /// The stored push counter, if any; in the caller's session.
  [[nodiscard]] static Result<std::optional<std::int64_t>> push_counter(const Session& s) {
    sqlite3_stmt* stmt = s.stmts().get_meta.get();
    const StmtReset reset{stmt};
    int rc = bind_text(stmt, 1, k_push_seq_key);
    if (rc == SQLITE_OK) rc = sqlite3_step(stmt);
    if (rc == SQLITE_DONE) return std::optional<std::int64_t>{};
    if (rc != SQLITE_ROW) return s.error(rc);
    return std::optional<std::int64_t>{column_int64(stmt, 0)};
  }

  /// Stores `seq` as the push counter; in the caller's session.
  [[nodiscard]] static Result<void> set_push_counter(const Session& s, std::int64_t seq) {
    sqlite3_stmt* stmt = s.stmts().set_meta.get();
    const StmtReset reset{stmt};
    int rc = bind_text(stmt, 1, k_push_seq_key);
    if (rc == SQLITE_OK) rc = bind_int64(stmt, 2, seq);
    if (rc == SQLITE_OK) rc = sqlite3_step(stmt);
    if (rc != SQLITE_DONE) return s.error(rc);
    return {};
  }

  /// Starts the push counter at the current Unix time in milliseconds when there is none, in
  /// a transaction of its own (see push_local_results); in the caller's session.
  [[nodiscard]] Result<void> seed_push_counter(const Session& s) {
    auto counter = push_counter(s);
    if (!counter) return Unexpected{counter.error()};
    if (*counter) return {};
    auto tx = Transaction::begin(s.db(), m_path);
    if (!tx) return Unexpected{tx.error()};
    counter = push_counter(s);  // another process may have seeded it meanwhile
    if (!counter) return Unexpected{counter.error()};
    if (*counter) return {};
    const auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::system_clock::now().time_since_epoch());
    if (auto r = set_push_counter(s, static_cast<std::int64_t>(now.count())); !r) return r;
    return tx->commit();
  }

  /// Adds one policy's counts; returns its rpt_policy id. Inside the caller's
  /// session and transaction.
  [[nodiscard]] static Result<std::int64_t> upsert_policy(const Session& s, const std::string& day,
                                                          const std::string& domain,
                                                          const tlsrpt::PolicyResult& p,
                                                          const EncodedKey& key) {
    sqlite3_stmt* stmt = s.stmts().add_policy.get();
    const StmtReset reset{stmt};
    int rc = bind_text(stmt, 1, day);
    if (rc == SQLITE_OK) rc = bind_text(stmt, 2, domain);
    if (rc == SQLITE_OK) rc = bind_text(stmt, 3, tlsrpt::to_string(p.policy.type));
    if (rc == SQLITE_OK) rc = bind_text(stmt, 4, p.policy.policy_domain);
    if (rc == SQLITE_OK) rc = bind_text(stmt, 5, key.policy_strings);
    if (rc == SQLITE_OK) rc = bind_text(stmt, 6, key.mx_hosts);
    // add() checked both counts against k_max_count: the casts are exact.
    if (rc == SQLITE_OK) rc = bind_int64(stmt, 7, static_cast<std::int64_t>(p.successes));
    if (rc == SQLITE_OK) rc = bind_int64(stmt, 8, static_cast<std::int64_t>(p.failures));
    if (rc == SQLITE_OK) rc = sqlite3_step(stmt);
    if (rc != SQLITE_ROW) return s.error(rc);  // RETURNING id: one row
    const std::int64_t id = column_int64(stmt, 0);
    rc = sqlite3_step(stmt);
    if (rc != SQLITE_DONE) return s.error(rc);
    return id;
  }

  /// Counts one failed session with detail `d` for policy `policy_id`.
  /// Inside the caller's session and transaction.
  [[nodiscard]] static Result<void> count_failure(const Session& s, std::int64_t policy_id,
                                                  const tlsrpt::FailureDetail& d) {
    sqlite3_stmt* stmt = s.stmts().add_failure.get();
    const StmtReset reset{stmt};
    int rc = bind_int64(stmt, 1, policy_id);
    if (rc == SQLITE_OK) rc = bind_text(stmt, 2, tlsrpt::to_string(d.result_type));
    if (rc == SQLITE_OK) rc = bind_text(stmt, 3, d.sending_mta_ip);
    if (rc == SQLITE_OK) rc = bind_text(stmt, 4, d.receiving_mx_hostname);
    if (rc == SQLITE_OK) rc = bind_text(stmt, 5, d.receiving_mx_helo);
    if (rc == SQLITE_OK) rc = bind_text(stmt, 6, d.receiving_ip);
    if (rc == SQLITE_OK) rc = bind_text(stmt, 7, d.additional_information);
    if (rc == SQLITE_OK) rc = bind_text(stmt, 8, d.failure_reason_code);
    if (rc == SQLITE_OK) rc = sqlite3_step(stmt);
    if (rc != SQLITE_DONE) return s.error(rc);
    return {};
  }

  /// The report of (day, domain), if any; in the caller's session.
  [[nodiscard]] static Result<std::optional<ReportRow>> report_of(const Session& s,
                                                                  const std::string& day,
                                                                  const std::string& domain) {
    sqlite3_stmt* stmt = s.stmts().get_report.get();
    const StmtReset reset{stmt};
    int rc = bind_text(stmt, 1, day);
    if (rc == SQLITE_OK) rc = bind_text(stmt, 2, domain);
    if (rc != SQLITE_OK) return s.error(rc);
    return s.read_row(stmt, read_report);
  }
};

}  // namespace

// ---- pushing to the shared store -------------------------------------------

Result<std::size_t> push_local_results(ReportStore& local, const PushFn& push) {
  auto* store = dynamic_cast<SqliteReportStore*>(&local);
  if (store == nullptr) {
    return fail(Errc::InvalidArgument, Retry::Permanent,
                "tlsrpt push: the local store is not a SQLite report store");
  }
  return store->push(push);
}

// ---- opening ---------------------------------------------------------------

Result<std::unique_ptr<ReportStore>> open_sqlite_report_store(const SqliteOptions& options) {
  Statements s;
  const std::array<StatementSlot, 17> slots{{
      {&s.add_policy, k_add_policy_sql},
      {&s.add_failure, k_add_failure_sql},
      {&s.days, k_days_sql},
      {&s.aggregate, k_aggregate_sql},
      {&s.insert_report, k_insert_report_sql},
      {&s.get_report, k_get_report_sql},
      {&s.reports, k_reports_sql},
      {&s.due_reports, k_due_reports_sql},
      {&s.update_report, k_update_report_sql},
      {&s.count_purge, k_count_purge_sql},
      {&s.purge_policies, k_purge_policies_sql},
      {&s.purge_reports, k_purge_reports_sql},
      {&s.claim_report, k_claim_report_sql},
      {&s.push_days, k_push_days_sql},
      {&s.push_delete, k_push_delete_sql},
      {&s.get_meta, k_get_meta_sql},
      {&s.set_meta, k_set_meta_sql},
  }};
  auto db = open_sqlite_store(options, "report store", slots);
  if (!db) return Unexpected{db.error()};
  return std::unique_ptr<ReportStore>{
      std::make_unique<SqliteReportStore>(std::move(*db), std::move(s), options.path.string())};
}

}  // namespace tlspolicy::cache
