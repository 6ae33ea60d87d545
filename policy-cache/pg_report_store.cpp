// SPDX-License-Identifier: Apache-2.0
//
// cache::ReportStore over the fleet's PostgreSQL (pg_report_store.hpp).
//
// Counting (RFC 8460 §4.4, RPT-9) as in sqlite_report_store.cpp: a policy key
// is (day, report domain, policy type, policy domain, policy strings, mx
// hosts), compared byte for byte, lists in order (the UNIQUE key is on a
// SHA-256 of the byte columns, schema/pg/0001_fleet.sql); equal keys sum
// their successes and failures, saturating at 2^63-1 (LEAST(old, MAX - new) +
// new never overflows); each failure detail adds to the failed-session count
// of the equal detail.
//
// BUGS
//   purge_before() takes no advisory locks: a node pushing results for a
//   day being purged at that moment may meet a deadlock, which PostgreSQL
//   breaks by failing one of them (CacheIo; the push is retried).
#include "pg_report_store.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <optional>
#include <string>
#include <system_error>
#include <utility>

#include "report_rows.hpp"

namespace tlspolicy::cache {
namespace {

constexpr std::string_view k_where = "store.url";

// ---- SQL -------------------------------------------------------------------

// Serialises the adds to one (day, report domain) across the fleet; the key is
// (k_lock_class, lock_key(day, domain)). The two-int4 key space is apart from
// the bigint one of pg_migrate().
constexpr std::int32_t k_lock_class = 0x54525054;  // "TRPT"
constexpr const char* k_lock_sql = "SELECT pg_advisory_xact_lock($1::int4, $2::int4)";

// Upsert of one policy's counts; RETURNING gives the row id whether the row
// was inserted or updated.
constexpr const char* k_add_policy_sql =
    "INSERT INTO rpt_policy (day, domain, policy_type, policy_domain, policy_strings, mx_hosts, "
    "successes, failures) VALUES ($1, $2, $3, decode($4, 'hex'), decode($5, 'hex'), "
    "decode($6, 'hex'), $7, $8) "
    "ON CONFLICT (day, domain, policy_type, key_hash) DO UPDATE "
    "SET successes = LEAST(rpt_policy.successes, 9223372036854775807 - excluded.successes) + "
    "excluded.successes, "
    "failures = LEAST(rpt_policy.failures, 9223372036854775807 - excluded.failures) + "
    "excluded.failures "
    "RETURNING id";
// `n` failed sessions with this detail.
constexpr const char* k_add_failure_sql =
    "INSERT INTO rpt_failure (policy_id, result_type, sending_mta_ip, receiving_mx_hostname, "
    "receiving_mx_helo, receiving_ip, additional_information, failure_reason_code, "
    "failed_sessions) VALUES ($1, $2, decode($3, 'hex'), decode($4, 'hex'), decode($5, 'hex'), "
    "decode($6, 'hex'), decode($7, 'hex'), decode($8, 'hex'), $9) "
    "ON CONFLICT (policy_id, result_type, detail_hash) DO UPDATE "
    "SET failed_sessions = LEAST(rpt_failure.failed_sessions, "
    "9223372036854775807 - excluded.failed_sessions) + excluded.failed_sessions";
// Day totals: sums of bigints are numeric, so they are exact; saturated at 2^64-1.
constexpr const char* k_days_sql =
    "SELECT day, domain, LEAST(sum(successes), 18446744073709551615)::text, "
    "LEAST(sum(failures), 18446744073709551615)::text FROM rpt_policy "
    "WHERE ($1::text IS NULL OR day = $1) AND ($2::text IS NULL OR domain = $2) "
    "GROUP BY day, domain ORDER BY day COLLATE \"C\", domain COLLATE \"C\"";
// One statement (one snapshot) for the policies and their details, by id so
// that the rows of one policy are adjacent and policies come in insertion order.
constexpr const char* k_aggregate_sql =
    "SELECT p.id, p.policy_type, encode(p.policy_domain, 'hex'), encode(p.policy_strings, 'hex'), "
    "encode(p.mx_hosts, 'hex'), p.successes, p.failures, f.result_type, "
    "encode(f.sending_mta_ip, 'hex'), encode(f.receiving_mx_hostname, 'hex'), "
    "encode(f.receiving_mx_helo, 'hex'), encode(f.receiving_ip, 'hex'), "
    "encode(f.additional_information, 'hex'), encode(f.failure_reason_code, 'hex'), "
    "f.failed_sessions "
    "FROM rpt_policy AS p LEFT JOIN rpt_failure AS f ON f.policy_id = p.id "
    "WHERE p.day = $1 AND p.domain = $2 ORDER BY p.id";

// Every report SELECT lists the columns in the order read_report() expects.
// No conflict target: a report for (day, domain) already there, or the report
// id used by another day or domain; the SELECT that follows tells them apart.
constexpr const char* k_insert_report_sql =
    "INSERT INTO rpt_report (report_id, day, domain, state, created_at, next_attempt_at, "
    "give_up_at, attempts, last_error, sent_at, sent_to) "
    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, decode($9, 'hex'), $10, decode($11, 'hex')) "
    "ON CONFLICT DO NOTHING";
constexpr const char* k_get_report_sql =
    "SELECT report_id, day, domain, state, created_at, next_attempt_at, give_up_at, attempts, "
    "encode(last_error, 'hex'), sent_at, encode(sent_to, 'hex') FROM rpt_report "
    "WHERE day = $1 AND domain = $2";
constexpr const char* k_reports_sql =
    "SELECT report_id, day, domain, state, created_at, next_attempt_at, give_up_at, attempts, "
    "encode(last_error, 'hex'), sent_at, encode(sent_to, 'hex') FROM rpt_report "
    "WHERE ($1::text IS NULL OR day = $1) AND ($2::text IS NULL OR domain = $2) "
    "ORDER BY day COLLATE \"C\", domain COLLATE \"C\"";
constexpr const char* k_due_reports_sql =
    "SELECT report_id, day, domain, state, created_at, next_attempt_at, give_up_at, attempts, "
    "encode(last_error, 'hex'), sent_at, encode(sent_to, 'hex') FROM rpt_report "
    "WHERE state = 'pending' AND next_attempt_at <= $1 "
    "ORDER BY next_attempt_at, day COLLATE \"C\", domain COLLATE \"C\"";
// Also ends the claim of the node that stores the outcome of its attempt.
constexpr const char* k_update_report_sql =
    "UPDATE rpt_report SET state = $2, attempts = $3, next_attempt_at = $4, "
    "last_error = decode($5, 'hex'), sent_at = $6, sent_to = decode($7, 'hex'), "
    "claimed_by = NULL, claim_until = NULL WHERE report_id = $1";
// One statement decides. Two nodes claiming at once: the second waits for the
// first's row lock, then re-checks the WHERE clause on the claimed row (READ
// COMMITTED) and is refused.
constexpr const char* k_claim_report_sql =
    "UPDATE rpt_report SET claimed_by = $2, claim_until = now() + $3::bigint * interval '1 second' "
    "WHERE report_id = $1 AND state = 'pending' "
    "AND (claim_until IS NULL OR claim_until <= now() OR claimed_by = $2) "
    "RETURNING report_id";
constexpr const char* k_count_purge_sql =
    "SELECT count(*) FROM (SELECT DISTINCT day, domain FROM rpt_policy "
    "WHERE day COLLATE \"C\" < $1) AS d";
// rpt_failure rows go with their policy (ON DELETE CASCADE).
constexpr const char* k_purge_policies_sql = "DELETE FROM rpt_policy WHERE day COLLATE \"C\" < $1";
constexpr const char* k_purge_reports_sql = "DELETE FROM rpt_report WHERE day COLLATE \"C\" < $1";
constexpr const char* k_purge_pushes_sql =
    "DELETE FROM rpt_push AS p WHERE p.pushed_at < ($1::date)::timestamp AT TIME ZONE 'UTC' "
    "AND p.seq < (SELECT max(q.seq) FROM rpt_push AS q WHERE q.node = p.node)";
constexpr const char* k_add_push_sql =
    "INSERT INTO rpt_push (node, seq) VALUES ($1, $2) ON CONFLICT DO NOTHING RETURNING seq";

// ---- values <-> columns ----------------------------------------------------

std::string to_hex(std::string_view bytes) {
  static constexpr std::string_view k_hex = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (const char c : bytes) {
    const auto b = static_cast<unsigned char>(c);
    out += k_hex[b >> 4U];
    out += k_hex[b & 0xfU];
  }
  return out;
}

int hex_digit(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/// The bytes of encode(..., 'hex'); nullopt for anything that is not hex.
std::optional<std::string> from_hex(std::string_view hex) {
  if (hex.size() % 2 != 0) return std::nullopt;
  std::string out;
  out.reserve(hex.size() / 2);
  for (std::size_t i = 0; i < hex.size(); i += 2) {
    const int hi = hex_digit(hex[i]);
    const int lo = hex_digit(hex[i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out += static_cast<char>(static_cast<unsigned>(hi) << 4U | static_cast<unsigned>(lo));
  }
  return out;
}

/// True when `s` is UTF-8 (RFC 3629: no overlong forms, no surrogates, at most
/// U+10FFFF) without NUL: what a PostgreSQL text value (UTF-8 database) holds.
bool storable_text(std::string_view s) noexcept {
  std::size_t i = 0;
  while (i < s.size()) {
    const auto b = static_cast<unsigned char>(s[i]);
    if (b == 0) return false;
    if (b < 0x80) {
      ++i;
      continue;
    }
    std::size_t n = 0;
    std::uint32_t cp = 0;
    std::uint32_t min = 0;
    if ((b & 0xe0U) == 0xc0U) {
      n = 1;
      cp = b & 0x1fU;
      min = 0x80;
    } else if ((b & 0xf0U) == 0xe0U) {
      n = 2;
      cp = b & 0x0fU;
      min = 0x800;
    } else if ((b & 0xf8U) == 0xf0U) {
      n = 3;
      cp = b & 0x07U;
      min = 0x10000;
    } else {
      return false;
    }
    if (s.size() - i <= n) return false;
    for (std::size_t k = 1; k <= n; ++k) {
      const auto c = static_cast<unsigned char>(s[i + k]);
      if ((c & 0xc0U) != 0x80U) return false;
      cp = cp << 6U | (c & 0x3fU);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
    i += n + 1;
  }
  return true;
}

Result<void> check_text(std::string_view what, std::string_view value) {
  if (storable_text(value)) return {};
  return fail(Errc::InvalidArgument, Retry::Permanent,
              "tlsrpt store: " + std::string(what) +
                  " is not UTF-8 text without NUL; the shared store cannot hold it");
}

std::string decimal(std::int64_t v) { return std::to_string(v); }
std::string decimal(std::uint64_t v) { return std::to_string(v); }
std::string seconds_of(util::TimePoint t) { return std::to_string(t.time_since_epoch().count()); }

/// The second half of the advisory-lock key of one (day, report domain): FNV-1a.
std::int32_t lock_key(std::string_view day, std::string_view domain) noexcept {
  std::uint32_t h = 2166136261U;
  const auto mix = [&h](std::string_view s) {
    for (const char c : s) {
      h ^= static_cast<std::uint32_t>(static_cast<unsigned char>(c));
      h *= 16777619U;
    }
  };
  mix(day);
  mix(std::string_view{"\n", 1});
  mix(domain);
  return static_cast<std::int32_t>(h);
}

/// Column (row, col) as bytes, from encode(..., 'hex'). Errors: CacheSchema.
Result<std::string> hex_column(const PgRows& rows, int row, int col) {
  auto bytes = from_hex(rows.text(row, col));
  if (!bytes) {
    return Unexpected{bad_row("column " + std::to_string(col) + " is not hex", k_where)};
  }
  return std::move(*bytes);
}

/// Rebuilds a ReportRow from row `r` of a report SELECT.
Result<ReportRow> read_report(const PgRows& rows, int r) {
  StoredReport s;
  s.report_id = std::string(rows.text(r, 0));
  s.day = std::string(rows.text(r, 1));
  s.domain = std::string(rows.text(r, 2));
  s.state = std::string(rows.text(r, 3));
  for (auto [col, out] : {std::pair{4, &s.created_at}, std::pair{5, &s.next_attempt_at},
                          std::pair{6, &s.give_up_at}, std::pair{7, &s.attempts}}) {
    auto v = rows.integer(r, col);
    if (!v) return Unexpected{v.error()};
    *out = *v;
  }
  auto last_error = hex_column(rows, r, 8);
  if (!last_error) return Unexpected{last_error.error()};
  s.last_error = std::move(*last_error);
  if (!rows.null(r, 9)) {
    auto sent_at = rows.integer(r, 9);
    if (!sent_at) return Unexpected{sent_at.error()};
    s.sent_at = *sent_at;
  }
  auto sent_to = hex_column(rows, r, 10);
  if (!sent_to) return Unexpected{sent_to.error()};
  s.sent_to = std::move(*sent_to);
  return report_from(std::move(s), k_where);
}

Result<std::vector<ReportRow>> read_reports(const PgRows& rows) {
  std::vector<ReportRow> out;
  out.reserve(static_cast<std::size_t>(rows.size()));
  for (int r = 0; r < rows.size(); ++r) {
    auto row = read_report(rows, r);
    if (!row) return Unexpected{row.error()};
    out.push_back(std::move(*row));
  }
  return out;
}

/// The policy columns (0..6) of row `r` of k_aggregate_sql.
Result<tlsrpt::AggregatedPolicy> read_policy(const PgRows& rows, int r) {
  StoredPolicy s;
  auto id = rows.integer(r, 0);
  auto successes = rows.integer(r, 5);
  auto failures = rows.integer(r, 6);
  auto policy_domain = hex_column(rows, r, 2);
  auto strings = hex_column(rows, r, 3);
  auto mx = hex_column(rows, r, 4);
  for (const auto* e : {&id, &successes, &failures}) {
    if (!*e) return Unexpected{e->error()};
  }
  for (auto* e : {&policy_domain, &strings, &mx}) {
    if (!*e) return Unexpected{e->error()};
  }
  s.id = *id;
  s.type = std::string(rows.text(r, 1));
  s.policy_domain = std::move(*policy_domain);
  s.policy_strings = std::move(*strings);
  s.mx_hosts = std::move(*mx);
  s.successes = *successes;
  s.failures = *failures;
  return policy_from(std::move(s), k_where);
}

/// The detail columns (7..14) of row `r` of k_aggregate_sql.
Result<tlsrpt::CountedDetail> read_detail(const PgRows& rows, int r) {
  StoredDetail s;
  auto policy_id = rows.integer(r, 0);
  if (!policy_id) return Unexpected{policy_id.error()};
  auto count = rows.integer(r, 14);
  if (!count) return Unexpected{count.error()};
  s.policy_id = *policy_id;
  s.failed_sessions = *count;
  s.result_type = std::string(rows.text(r, 7));
  const std::array<std::string*, 6> fields{
      &s.fields.sending_mta_ip, &s.fields.receiving_mx_hostname,  &s.fields.receiving_mx_helo,
      &s.fields.receiving_ip,   &s.fields.additional_information, &s.fields.failure_reason_code};
  int col = 8;
  for (std::string* field : fields) {
    auto bytes = hex_column(rows, r, col++);
    if (!bytes) return Unexpected{bytes.error()};
    *field = std::move(*bytes);
  }
  return detail_from(std::move(s), k_where);
}

/// A count column of days() ("0" .. "18446744073709551615").
Result<std::uint64_t> read_total(const PgRows& rows, int r, int col) {
  const auto t = rows.text(r, col);
  std::uint64_t v = 0;
  const auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
  if (rows.null(r, col) || ec != std::errc{} || end != t.data() + t.size()) {
    return Unexpected{bad_row("tlsrpt day total '" + std::string(t) + "'", k_where)};
  }
  return v;
}

/// The optional filter parameters of days() and reports().
std::pair<PgParam, PgParam> filter_params(const ReportFilter& f, const std::string& day_text) {
  return {f.day ? PgParam{day_text} : PgParam{}, f.domain ? PgParam{*f.domain} : PgParam{}};
}

/// What one transaction adds to one (day, report domain).
struct DayCounts {
  std::string day;  ///< day_key()
  const std::string* domain;
  std::vector<tlsrpt::AggregatedPolicy> policies;  ///< details counted, in order of adding
};

/// Adds `days` on `c`, inside the caller's transaction: first the advisory locks of their
/// (day, domain)s in key order (so concurrent adds never wait on each other in a cycle),
/// then each policy's counts and details in the order given. Counts are <= k_max_count.
Result<void> add_counts(PgConn& c, const std::vector<DayCounts>& days) {
  std::vector<std::int32_t> keys;
  keys.reserve(days.size());
  for (const DayCounts& d : days) keys.push_back(lock_key(d.day, *d.domain));
  std::sort(keys.begin(), keys.end());
  keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
  for (const std::int32_t k : keys) {
    auto locked = c.exec(k_lock_sql, {std::to_string(k_lock_class), std::to_string(k)});
    if (!locked) return Unexpected{locked.error()};
  }
  for (const DayCounts& d : days) {
    for (const tlsrpt::AggregatedPolicy& p : d.policies) {
      auto id_rows = c.exec(
          k_add_policy_sql,
          {d.day, *d.domain, std::string(tlsrpt::to_string(p.policy.type)),
           to_hex(p.policy.policy_domain), to_hex(encode_strings(p.policy.policy_strings)),
           to_hex(encode_strings(p.policy.mx_hosts)), decimal(p.successes), decimal(p.failures)});
      if (!id_rows) return Unexpected{id_rows.error()};
      if (id_rows->size() != 1) {
        return fail(Errc::Internal, Retry::Transient, "tlsrpt store: policy upsert gave no id");
      }
      const std::string id{id_rows->text(0, 0)};
      for (const tlsrpt::CountedDetail& cd : p.details) {
        if (cd.count == 0) continue;  // nothing to add (failed_sessions > 0 in the schema)
        const tlsrpt::FailureDetail& f = cd.detail;
        auto added = c.exec(
            k_add_failure_sql,
            {id, std::string(tlsrpt::to_string(f.result_type)), to_hex(f.sending_mta_ip),
             to_hex(f.receiving_mx_hostname), to_hex(f.receiving_mx_helo), to_hex(f.receiving_ip),
             to_hex(f.additional_information), to_hex(f.failure_reason_code), decimal(cd.count)});
        if (!added) return Unexpected{added.error()};
      }
    }
  }
  return {};
}

}  // namespace

Result<void> PgReportStore::add(const tlsrpt::ResultBatch& b) {
  auto day = checked_batch_day(b);
  if (!day) return Unexpected{day.error()};
  if (auto ok = check_text("report domain", b.domain); !ok) return ok;
  if (b.policies.empty()) return {};  // nothing to count
  std::vector<DayCounts> days{DayCounts{std::move(*day), &b.domain, {}}};
  days[0].policies.reserve(b.policies.size());
  for (const tlsrpt::PolicyResult& p : b.policies) {
    // Each FailureDetail is one failed session: equal ones are counted together.
    days[0].policies.push_back({p.policy, p.successes, p.failures, count_details(p.details)});
  }
  return m_link.with([&](PgConn& c) -> Result<void> {
    return pg_transaction(c, [&]() -> Result<void> { return add_counts(c, days); });
  });
}

Result<bool> PgReportStore::add_pushed(std::string_view node, std::int64_t seq,
                                       const std::vector<DayAggregate>& days) {
  if (node.empty()) {
    return fail(Errc::InvalidArgument, Retry::Permanent, "tlsrpt store add_pushed: empty node");
  }
  if (auto ok = check_text("node name", node); !ok) return Unexpected{ok.error()};
  std::vector<DayCounts> counts;
  counts.reserve(days.size());
  for (const DayAggregate& d : days) {
    auto day = day_key(d.day);
    if (!day) return Unexpected{day.error()};
    if (d.domain.empty()) {
      return fail(Errc::InvalidArgument, Retry::Permanent, "tlsrpt store add_pushed: empty domain");
    }
    if (auto ok = check_text("report domain", d.domain); !ok) return Unexpected{ok.error()};
    for (const tlsrpt::AggregatedPolicy& p : d.policies) {
      const bool too_big =
          p.successes > k_max_count || p.failures > k_max_count ||
          std::any_of(p.details.begin(), p.details.end(),
                      [](const tlsrpt::CountedDetail& cd) { return cd.count > k_max_count; });
      if (too_big) {
        return fail(Errc::InvalidArgument, Retry::Permanent,
                    "tlsrpt store add_pushed: session count above 2^63-1 for " + d.domain);
      }
    }
    counts.push_back(DayCounts{std::move(*day), &d.domain, d.policies});
  }
  const std::string node_text{node};
  return m_link.with([&](PgConn& c) -> Result<bool> {
    return pg_transaction(c, [&]() -> Result<bool> {
      auto fresh = c.exec(k_add_push_sql, {node_text, decimal(seq)});
      if (!fresh) return Unexpected{fresh.error()};
      if (fresh->size() == 0) return false;  // (node, seq) counted before: a retry
      if (auto added = add_counts(c, counts); !added) return Unexpected{added.error()};
      return true;
    });
  });
}

Result<std::vector<ReportDaySummary>> PgReportStore::days(const ReportFilter& f) const {
  std::string day_text;
  if (f.day) {
    auto key = day_key(*f.day);
    if (!key) return std::vector<ReportDaySummary>{};  // no such day can be stored
    day_text = std::move(*key);
  }
  if (f.domain && !storable_text(*f.domain)) return std::vector<ReportDaySummary>{};
  const auto params = filter_params(f, day_text);
  return m_link.with([&](PgConn& c) -> Result<std::vector<ReportDaySummary>> {
    auto rows = c.exec(k_days_sql, {params.first, params.second});
    if (!rows) return Unexpected{rows.error()};
    std::vector<ReportDaySummary> out;
    out.reserve(static_cast<std::size_t>(rows->size()));
    for (int r = 0; r < rows->size(); ++r) {
      const std::string day{rows->text(r, 0)};
      auto parsed = tlsrpt::parse_day(day);
      if (!parsed) return Unexpected{bad_row("stored tlsrpt day '" + day + "'", k_where)};
      auto successes = read_total(*rows, r, 2);
      if (!successes) return Unexpected{successes.error()};
      auto failures = read_total(*rows, r, 3);
      if (!failures) return Unexpected{failures.error()};
      out.push_back(
          ReportDaySummary{*parsed, std::string(rows->text(r, 1)), *successes, *failures});
    }
    return out;
  });
}

Result<std::vector<tlsrpt::AggregatedPolicy>> PgReportStore::aggregate(
    tlsrpt::Day day, const std::string& domain) const {
  auto key = day_key(day);
  if (!key || !storable_text(domain)) return std::vector<tlsrpt::AggregatedPolicy>{};
  return m_link.with([&](PgConn& c) -> Result<std::vector<tlsrpt::AggregatedPolicy>> {
    auto rows = c.exec(k_aggregate_sql, {*key, domain});
    if (!rows) return Unexpected{rows.error()};
    std::vector<tlsrpt::AggregatedPolicy> out;  // by id: insertion order
    std::string_view last_id;
    for (int r = 0; r < rows->size(); ++r) {
      if (out.empty() || rows->text(r, 0) != last_id) {
        auto p = read_policy(*rows, r);
        if (!p) return Unexpected{p.error()};
        out.push_back(std::move(*p));
        last_id = rows->text(r, 0);
      }
      if (!rows->null(r, 7)) {  // LEFT JOIN: a policy without details
        auto d = read_detail(*rows, r);
        if (!d) return Unexpected{d.error()};
        out.back().details.push_back(std::move(*d));
      }
    }
    order_aggregate(out);
    return out;
  });
}

Result<ReportRow> PgReportStore::create_report(const ReportRow& row) {
  auto day = checked_new_report(row);
  if (!day) return Unexpected{day.error()};
  if (auto ok = check_text("report id", row.report_id); !ok) return Unexpected{ok.error()};
  if (auto ok = check_text("report domain", row.domain); !ok) return Unexpected{ok.error()};
  return m_link.with([&](PgConn& c) -> Result<ReportRow> {
    return pg_transaction(c, [&]() -> Result<ReportRow> {
      auto inserted = c.exec(
          k_insert_report_sql,
          {row.report_id, *day, row.domain, std::string(to_string(row.state)),
           seconds_of(row.created_at), seconds_of(row.next_attempt_at), seconds_of(row.give_up_at),
           std::to_string(row.attempts), to_hex(row.last_error),
           row.sent_at ? PgParam{seconds_of(*row.sent_at)} : PgParam{}, to_hex(row.sent_to)});
      if (!inserted) return Unexpected{inserted.error()};
      // READ COMMITTED: this statement sees a row another node committed while the
      // INSERT above waited for it.
      auto stored = c.exec(k_get_report_sql, {*day, row.domain});
      if (!stored) return Unexpected{stored.error()};
      if (stored->size() == 0) {
        return fail(Errc::InvalidArgument, Retry::Permanent,
                    "tlsrpt store create_report: report id " + row.report_id +
                        " is already used by another day or domain");
      }
      return read_report(*stored, 0);
    });
  });
}

Result<std::vector<ReportRow>> PgReportStore::reports(const ReportFilter& f) const {
  std::string day_text;
  if (f.day) {
    auto key = day_key(*f.day);
    if (!key) return std::vector<ReportRow>{};
    day_text = std::move(*key);
  }
  if (f.domain && !storable_text(*f.domain)) return std::vector<ReportRow>{};
  const auto params = filter_params(f, day_text);
  return m_link.with([&](PgConn& c) -> Result<std::vector<ReportRow>> {
    auto rows = c.exec(k_reports_sql, {params.first, params.second});
    if (!rows) return Unexpected{rows.error()};
    return read_reports(*rows);
  });
}

Result<std::vector<ReportRow>> PgReportStore::due_reports(util::TimePoint now) const {
  return m_link.with([&](PgConn& c) -> Result<std::vector<ReportRow>> {
    auto rows = c.exec(k_due_reports_sql, {seconds_of(now)});
    if (!rows) return Unexpected{rows.error()};
    return read_reports(*rows);
  });
}

Result<void> PgReportStore::update_report(const ReportRow& row) {
  if (auto ok = checked_update(row); !ok) return ok;
  const auto unknown = [&] {
    return fail(Errc::InvalidArgument, Retry::Permanent,
                "tlsrpt store update_report: unknown report id " + row.report_id);
  };
  if (!storable_text(row.report_id)) return unknown();  // no such id can be stored
  return m_link.with([&](PgConn& c) -> Result<void> {
    auto updated =
        c.exec(k_update_report_sql,
               {row.report_id, std::string(to_string(row.state)), std::to_string(row.attempts),
                seconds_of(row.next_attempt_at), to_hex(row.last_error),
                row.sent_at ? PgParam{seconds_of(*row.sent_at)} : PgParam{}, to_hex(row.sent_to)});
    if (!updated) return Unexpected{updated.error()};
    if (updated->affected() == 0) return unknown();
    return {};
  });
}

Result<bool> PgReportStore::claim_report(const std::string& report_id, std::string_view node,
                                         std::chrono::seconds lease) {
  if (!storable_text(report_id)) return false;  // no such report can be stored
  if (auto ok = check_text("node name", node); !ok) return Unexpected{ok.error()};
  const std::string node_text{node};
  return m_link.with([&](PgConn& c) -> Result<bool> {
    auto rows = c.exec(k_claim_report_sql,
                       {report_id, node_text, decimal(std::int64_t{clamped_lease(lease).count()})});
    if (!rows) return Unexpected{rows.error()};
    return rows->size() == 1;
  });
}

Result<std::size_t> PgReportStore::purge_before(tlsrpt::Day before) {
  auto key = day_key(before);
  if (!key) return Unexpected{key.error()};
  return m_link.with([&](PgConn& c) -> Result<std::size_t> {
    return pg_transaction(c, [&]() -> Result<std::size_t> {
      auto counted = c.exec(k_count_purge_sql, {*key});
      if (!counted) return Unexpected{counted.error()};
      auto purged = counted->integer(0, 0);
      if (!purged) return Unexpected{purged.error()};
      for (const char* sql : {k_purge_policies_sql, k_purge_reports_sql, k_purge_pushes_sql}) {
        if (auto r = c.exec(sql, {*key}); !r) return Unexpected{r.error()};
      }
      return static_cast<std::size_t>(*purged);
    });
  });
}

}  // namespace tlspolicy::cache
