// SPDX-License-Identifier: Apache-2.0
//
// cache::ReportStore over SQLite: the TLS-RPT (RFC 8460) results aggregated
// per UTC day, report domain and policy, and the reports made from them, in
// the same database file as the policy cache (tables rpt_*, schema version 3,
// policy-cache/schema/migrations/0003_tlsrpt.sql). Same connection pattern as
// sqlite_policy_cache.cpp, opened the same way (sqlite_open.cpp): one
// connection per store object, SQLITE_OPEN_NOMUTEX, serialised by one
// std::mutex (every method is thread-safe); statements prepared once and
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
// encode_strings) so that equal lists are equal text and the UNIQUE key of
// rpt_policy does the matching.
//
// BUGS
//   Counters saturate at 2^63-1 instead of failing: a client sending huge
//   counts could otherwise make every later add() of that policy fail.
//   Nothing stops two processes from sending the same due report at once;
//   the daemon is the only sender.
#include <algorithm>
#include <array>
#include <cstdint>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include <sqlite3.h>

#include "tlspolicy/cache/policy_cache.hpp"
#include "tlspolicy/cache/report_store.hpp"
#include "tlspolicy/tlsrpt/model.hpp"

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

constexpr std::uint64_t k_max_count = std::numeric_limits<std::int64_t>::max();

std::optional<ReportState> parse_report_state(std::string_view s) noexcept {
  for (const ReportState state :
       {ReportState::Pending, ReportState::Sent, ReportState::Failed, ReportState::Skipped}) {
    if (to_string(state) == s) return state;
  }
  return std::nullopt;
}

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
constexpr const char* k_update_report_sql =
    "UPDATE rpt_report SET state = ?2, attempts = ?3, next_attempt_at = ?4, last_error = ?5, "
    "sent_at = ?6, sent_to = ?7 WHERE report_id = ?1";
constexpr const char* k_count_purge_sql =
    "SELECT count(*) FROM (SELECT DISTINCT day, domain FROM rpt_policy WHERE day < ?1)";
// rpt_failure rows go with their policy (ON DELETE CASCADE; the connection
// runs with foreign_keys = ON).
constexpr const char* k_purge_policies_sql = "DELETE FROM rpt_policy WHERE day < ?1";
constexpr const char* k_purge_reports_sql = "DELETE FROM rpt_report WHERE day < ?1";

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
};

// ---- values <-> columns ----------------------------------------------------

bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }

/// The day as stored: "YYYY-MM-DD", whose text order is date order. Days
/// outside the years 0000..9999 have no such form.
Result<std::string> day_key(tlsrpt::Day day) {
  std::string text = tlsrpt::format_day(day);
  if (text.size() != 10 || !is_digit(text[0])) {
    return fail(Errc::InvalidArgument, Retry::Permanent,
                "tlsrpt store: day " + text + " is outside the years 0000-9999");
  }
  return text;
}

std::uint64_t saturating_add(std::uint64_t a, std::uint64_t b) noexcept {
  return a > std::numeric_limits<std::uint64_t>::max() - b
             ? std::numeric_limits<std::uint64_t>::max()
             : a + b;
}

/// A string list in the store's canonical form: a compact JSON array of JSON
/// strings ("[]", "[\"\"]", "[\"a\",\"b\"]"). '"', '\' and the C0 controls
/// are escaped (\n \r \t, else \u00XX); every other byte, UTF-8 or not, is
/// kept as is. Deterministic, so equal lists give equal text; decode_strings
/// inverts it exactly. Readable in the sqlite3 shell and usable with json_each().
std::string encode_strings(const std::vector<std::string>& list) {
  static constexpr std::array<char, 16> k_hex{'0', '1', '2', '3', '4', '5', '6', '7',
                                              '8', '9', 'a', 'b', 'c', 'd', 'e', 'f'};
  std::string out = "[";
  for (const std::string& s : list) {
    if (out.size() > 1) out += ',';
    out += '"';
    for (const char c : s) {
      const auto byte = static_cast<unsigned char>(c);
      if (c == '"' || c == '\\') {
        out += '\\';
        out += c;
      } else if (c == '\n') {
        out += "\\n";
      } else if (c == '\r') {
        out += "\\r";
      } else if (c == '\t') {
        out += "\\t";
      } else if (byte < 0x20) {
        out += "\\u00";
        out += k_hex[byte >> 4U];
        out += k_hex[byte & 0xfU];
      } else {
        out += c;
      }
    }
    out += '"';
  }
  out += ']';
  return out;
}

int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/// Inverse of encode_strings. Also takes the other JSON escapes (\/ \b \f,
/// \uXXXX below 0x80) so a hand-written row decodes; anything else, including
/// whitespace between elements, is not a stored list: nullopt.
std::optional<std::vector<std::string>> decode_strings(std::string_view text) {
  std::vector<std::string> out;
  if (text.size() < 2 || text.front() != '[' || text.back() != ']') return std::nullopt;
  text = text.substr(1, text.size() - 2);
  while (!text.empty()) {
    if (!out.empty()) {
      if (text.front() != ',') return std::nullopt;
      text.remove_prefix(1);
    }
    if (text.empty() || text.front() != '"') return std::nullopt;
    text.remove_prefix(1);
    std::string s;
    for (;;) {
      if (text.empty()) return std::nullopt;
      const char c = text.front();
      text.remove_prefix(1);
      if (c == '"') break;
      if (c != '\\') {
        s += c;
        continue;
      }
      if (text.empty()) return std::nullopt;
      const char e = text.front();
      text.remove_prefix(1);
      switch (e) {
        case '"':
        case '\\':
        case '/':
          s += e;
          break;
        case 'n':
          s += '\n';
          break;
        case 'r':
          s += '\r';
          break;
        case 't':
          s += '\t';
          break;
        case 'b':
          s += '\b';
          break;
        case 'f':
          s += '\f';
          break;
        case 'u': {
          if (text.size() < 4) return std::nullopt;
          int value = 0;
          for (std::size_t i = 0; i < 4; ++i) {
            const int digit = hex_value(text[i]);
            if (digit < 0) return std::nullopt;
            value = value * 16 + digit;
          }
          if (value >= 0x80) return std::nullopt;
          s += static_cast<char>(value);
          text.remove_prefix(4);
          break;
        }
        default:
          return std::nullopt;
      }
    }
    out.push_back(std::move(s));
  }
  return out;
}

/// Column `index` as a count: the schema keeps counts >= 0.
std::optional<std::uint64_t> column_count(sqlite3_stmt* stmt, int index) noexcept {
  const std::int64_t v = column_int64(stmt, index);
  if (v < 0) return std::nullopt;
  return static_cast<std::uint64_t>(v);
}

Error bad_row(std::string what, std::string_view path) {
  what += " (";
  what += path;
  what += ")";
  // Transient, like a bad policy row: purge_before() or a repair clears it.
  return Error{Errc::CacheSchema, Retry::Transient, std::move(what)};
}

/// Rebuilds a ReportRow from the current row of a statement selecting the
/// report columns.
Result<ReportRow> read_report(sqlite3_stmt* stmt, std::string_view path) {
  ReportRow r;
  r.report_id = column_string(stmt, 0);
  const std::string day = column_string(stmt, 1);
  auto parsed_day = tlsrpt::parse_day(day);
  r.domain = column_string(stmt, 2);
  const std::string state = column_string(stmt, 3);
  const auto parsed_state = parse_report_state(state);
  const std::int64_t attempts = column_int64(stmt, 7);
  if (!parsed_day || !parsed_state || attempts < 0 || attempts > std::numeric_limits<int>::max()) {
    return Unexpected{bad_row("stored report " + r.report_id + " has day '" + day + "', state '" +
                                  state + "', attempts " + std::to_string(attempts),
                              path)};
  }
  r.day = *parsed_day;
  r.state = *parsed_state;
  r.created_at = column_time(stmt, 4);
  r.next_attempt_at = column_time(stmt, 5);
  r.give_up_at = column_time(stmt, 6);
  r.attempts = static_cast<int>(attempts);
  r.last_error = column_string(stmt, 8);
  if (sqlite3_column_type(stmt, 9) != SQLITE_NULL) r.sent_at = column_time(stmt, 9);
  r.sent_to = column_string(stmt, 10);
  return r;
}

/// The policy columns (1..6) of the current row of k_aggregate_sql.
Result<tlsrpt::AggregatedPolicy> read_policy(sqlite3_stmt* stmt, std::string_view path) {
  tlsrpt::AggregatedPolicy p;
  const std::string type = column_string(stmt, 1);
  const auto parsed_type = tlsrpt::parse_policy_type(type);
  p.policy.policy_domain = column_string(stmt, 2);
  const std::string strings = column_string(stmt, 3);
  auto parsed_strings = decode_strings(strings);
  const std::string mx = column_string(stmt, 4);
  auto parsed_mx = decode_strings(mx);
  const auto successes = column_count(stmt, 5);
  const auto failures = column_count(stmt, 6);
  if (!parsed_type || !parsed_strings || !parsed_mx || !successes || !failures) {
    return Unexpected{bad_row("stored tlsrpt policy " + std::to_string(column_int64(stmt, 0)) +
                                  " has type '" + type + "', policy_strings '" + strings +
                                  "', mx_hosts '" + mx + "' or negative counts",
                              path)};
  }
  p.policy.type = *parsed_type;
  p.policy.policy_strings = std::move(*parsed_strings);
  p.policy.mx_hosts = std::move(*parsed_mx);
  p.successes = *successes;
  p.failures = *failures;
  return p;
}

/// The detail columns (7..14) of the current row of k_aggregate_sql.
Result<tlsrpt::CountedDetail> read_detail(sqlite3_stmt* stmt, std::string_view path) {
  tlsrpt::CountedDetail d;
  const std::string type = column_string(stmt, 7);
  const auto parsed_type = tlsrpt::parse_result_type(type);
  const auto count = column_count(stmt, 14);
  if (!parsed_type || !count) {
    return Unexpected{bad_row("stored tlsrpt failure detail of policy " +
                                  std::to_string(column_int64(stmt, 0)) + " has result type '" +
                                  type + "' or a negative count",
                              path)};
  }
  d.detail.result_type = *parsed_type;
  d.detail.sending_mta_ip = column_string(stmt, 8);
  d.detail.receiving_mx_hostname = column_string(stmt, 9);
  d.detail.receiving_mx_helo = column_string(stmt, 10);
  d.detail.receiving_ip = column_string(stmt, 11);
  d.detail.additional_information = column_string(stmt, 12);
  d.detail.failure_reason_code = column_string(stmt, 13);
  d.count = *count;
  return d;
}

/// Detail order of aggregate(): result type (ResultType order, i.e. RFC 8460
/// §4.3's), then the fields as declared in FailureDetail.
bool detail_less(const tlsrpt::CountedDetail& a, const tlsrpt::CountedDetail& b) {
  const auto key = [](const tlsrpt::FailureDetail& d) {
    return std::tie(d.result_type, d.sending_mta_ip, d.receiving_mx_hostname, d.receiving_mx_helo,
                    d.receiving_ip, d.additional_information, d.failure_reason_code);
  };
  return key(a.detail) < key(b.detail);
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
    if (b.domain.empty()) {
      return fail(Errc::InvalidArgument, Retry::Permanent, "tlsrpt store add: empty domain");
    }
    // RPT-8: counted on the UTC day of the batch's time.
    auto day = day_key(tlsrpt::day_of(b.at));
    if (!day) return Unexpected{day.error()};
    if (b.policies.empty()) return {};  // nothing to count; no write lock taken
    // Checked and encoded before taking the lock; bound below, so these
    // buffers must outlive every statement reset.
    std::vector<EncodedKey> keys;
    keys.reserve(b.policies.size());
    for (const tlsrpt::PolicyResult& p : b.policies) {
      if (p.successes > k_max_count || p.failures > k_max_count) {
        return fail(Errc::InvalidArgument, Retry::Permanent,
                    "tlsrpt store add: session count above 2^63-1 for " + b.domain);
      }
      keys.push_back({encode_strings(p.policy.policy_strings), encode_strings(p.policy.mx_hosts)});
    }

    const std::lock_guard lock{m_mutex};
    auto tx = Transaction::begin(m_db.get(), m_path);
    if (!tx) return Unexpected{tx.error()};
    for (std::size_t i = 0; i < b.policies.size(); ++i) {
      const tlsrpt::PolicyResult& p = b.policies[i];
      auto id = upsert_policy(*day, b.domain, p, keys[i]);
      if (!id) return Unexpected{id.error()};
      for (const tlsrpt::FailureDetail& d : p.details) {
        if (auto r = count_failure(*id, d); !r) return r;
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
    const std::lock_guard lock{m_mutex};
    sqlite3_stmt* stmt = m_stmts.days.get();
    const StmtReset reset{stmt};
    if (const int rc = bind_filter(stmt, f, day_text); rc != SQLITE_OK) return error(rc);
    std::vector<ReportDaySummary> out;
    std::string last_day;
    for (;;) {
      const int rc = sqlite3_step(stmt);
      if (rc == SQLITE_DONE) return out;
      if (rc != SQLITE_ROW) return error(rc);
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
    if (!key) return std::vector<tlsrpt::AggregatedPolicy>{};
    std::vector<std::pair<std::int64_t, tlsrpt::AggregatedPolicy>> rows;  // (id, policy) by id
    {
      const std::lock_guard lock{m_mutex};
      sqlite3_stmt* stmt = m_stmts.aggregate.get();
      const StmtReset reset{stmt};
      int rc = bind_text(stmt, 1, *key);
      if (rc == SQLITE_OK) rc = bind_text(stmt, 2, domain);
      if (rc != SQLITE_OK) return error(rc);
      for (;;) {
        rc = sqlite3_step(stmt);
        if (rc == SQLITE_DONE) break;
        if (rc != SQLITE_ROW) return error(rc);
        const std::int64_t id = column_int64(stmt, 0);
        if (rows.empty() || rows.back().first != id) {
          auto p = read_policy(stmt, m_path);
          if (!p) return Unexpected{p.error()};
          rows.emplace_back(id, std::move(*p));
        }
        if (sqlite3_column_type(stmt, 7) != SQLITE_NULL) {  // LEFT JOIN: a policy without details
          auto d = read_detail(stmt, m_path);
          if (!d) return Unexpected{d.error()};
          rows.back().second.details.push_back(std::move(*d));
        }
      }
    }
    // Ordered by type (PolicyType order: tlsa, sts, no-policy-found), policy
    // domain, then insertion (the rows arrive by id; the sort is stable).
    std::stable_sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) {
      return std::tie(a.second.policy.type, a.second.policy.policy_domain) <
             std::tie(b.second.policy.type, b.second.policy.policy_domain);
    });
    std::vector<tlsrpt::AggregatedPolicy> out;
    out.reserve(rows.size());
    for (auto& [id, p] : rows) {
      std::sort(p.details.begin(), p.details.end(), detail_less);
      out.push_back(std::move(p));
    }
    return out;
  }

  [[nodiscard]] Result<ReportRow> create_report(const ReportRow& row) override {
    if (row.report_id.empty() || row.domain.empty() || row.attempts < 0) {
      return fail(Errc::InvalidArgument, Retry::Permanent,
                  "tlsrpt store create_report: empty report id or domain, or negative attempts");
    }
    auto day = day_key(row.day);
    if (!day) return Unexpected{day.error()};
    const std::lock_guard lock{m_mutex};
    auto tx = Transaction::begin(m_db.get(), m_path);
    if (!tx) return Unexpected{tx.error()};
    {
      sqlite3_stmt* stmt = m_stmts.insert_report.get();
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
        if (sqlite3_extended_errcode(m_db.get()) == SQLITE_CONSTRAINT_PRIMARYKEY) {
          return fail(Errc::InvalidArgument, Retry::Permanent,
                      "tlsrpt store create_report: report id " + row.report_id +
                          " is already used by another day or domain");
        }
        return error(rc);
      }
    }
    auto stored = report_of(*day, row.domain);
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
    const std::lock_guard lock{m_mutex};
    sqlite3_stmt* stmt = m_stmts.reports.get();
    const StmtReset reset{stmt};
    if (const int rc = bind_filter(stmt, f, day_text); rc != SQLITE_OK) return error(rc);
    return read_rows(stmt, read_report);
  }

  [[nodiscard]] Result<std::vector<ReportRow>> due_reports(util::TimePoint now) const override {
    const std::lock_guard lock{m_mutex};
    sqlite3_stmt* stmt = m_stmts.due_reports.get();
    const StmtReset reset{stmt};
    if (const int rc = bind_time(stmt, 1, now); rc != SQLITE_OK) return error(rc);
    return read_rows(stmt, read_report);
  }

  [[nodiscard]] Result<void> update_report(const ReportRow& row) override {
    if (row.attempts < 0) {
      return fail(Errc::InvalidArgument, Retry::Permanent,
                  "tlsrpt store update_report: negative attempts for " + row.report_id);
    }
    const std::lock_guard lock{m_mutex};
    sqlite3_stmt* stmt = m_stmts.update_report.get();
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
    if (rc != SQLITE_DONE) return error(rc);
    if (sqlite3_changes(m_db.get()) == 0) {
      return fail(Errc::InvalidArgument, Retry::Permanent,
                  "tlsrpt store update_report: unknown report id " + row.report_id);
    }
    return {};
  }

  [[nodiscard]] Result<std::size_t> purge_before(tlsrpt::Day before) override {
    auto key = day_key(before);
    if (!key) return Unexpected{key.error()};
    const std::lock_guard lock{m_mutex};
    auto tx = Transaction::begin(m_db.get(), m_path);
    if (!tx) return Unexpected{tx.error()};
    std::int64_t purged = 0;
    {
      sqlite3_stmt* stmt = m_stmts.count_purge.get();
      const StmtReset reset{stmt};
      int rc = bind_text(stmt, 1, *key);
      if (rc == SQLITE_OK) rc = sqlite3_step(stmt);
      if (rc != SQLITE_ROW) return error(rc);
      purged = column_int64(stmt, 0);
    }
    for (sqlite3_stmt* stmt : {m_stmts.purge_policies.get(), m_stmts.purge_reports.get()}) {
      const StmtReset reset{stmt};
      int rc = bind_text(stmt, 1, *key);
      if (rc == SQLITE_OK) rc = sqlite3_step(stmt);
      if (rc != SQLITE_DONE) return error(rc);
    }
    if (auto r = tx->commit(); !r) return Unexpected{r.error()};
    return static_cast<std::size_t>(purged);
  }

 private:
  /// Adds one policy's counts; returns its rpt_policy id. Caller holds
  /// m_mutex inside a transaction.
  [[nodiscard]] Result<std::int64_t> upsert_policy(const std::string& day,
                                                   const std::string& domain,
                                                   const tlsrpt::PolicyResult& p,
                                                   const EncodedKey& key) {
    sqlite3_stmt* stmt = m_stmts.add_policy.get();
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
    if (rc != SQLITE_ROW) return error(rc);  // RETURNING id: one row
    const std::int64_t id = column_int64(stmt, 0);
    rc = sqlite3_step(stmt);
    if (rc != SQLITE_DONE) return error(rc);
    return id;
  }

  /// Counts one failed session with detail `d` for policy `policy_id`.
  /// Caller holds m_mutex inside a transaction.
  [[nodiscard]] Result<void> count_failure(std::int64_t policy_id, const tlsrpt::FailureDetail& d) {
    sqlite3_stmt* stmt = m_stmts.add_failure.get();
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
    if (rc != SQLITE_DONE) return error(rc);
    return {};
  }

  /// The report of (day, domain), if any. Caller holds m_mutex.
  [[nodiscard]] Result<std::optional<ReportRow>> report_of(const std::string& day,
                                                           const std::string& domain) const {
    sqlite3_stmt* stmt = m_stmts.get_report.get();
    const StmtReset reset{stmt};
    int rc = bind_text(stmt, 1, day);
    if (rc == SQLITE_OK) rc = bind_text(stmt, 2, domain);
    if (rc != SQLITE_OK) return error(rc);
    return read_row(stmt, read_report);
  }
};

}  // namespace

// ---- opening ---------------------------------------------------------------

Result<std::unique_ptr<ReportStore>> open_sqlite_report_store(const SqliteOptions& options) {
  Statements s;
  const std::array<StatementSlot, 12> slots{{
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
  }};
  auto db = open_sqlite_store(options, "report store", slots);
  if (!db) return Unexpected{db.error()};
  return std::unique_ptr<ReportStore>{
      std::make_unique<SqliteReportStore>(std::move(*db), std::move(s), options.path.string())};
}

}  // namespace tlspolicy::cache
