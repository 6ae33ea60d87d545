// SPDX-License-Identifier: Apache-2.0
//
// PRIVATE to policy-cache/: cache::ReportStore over the PostgreSQL store a
// fleet shares (store.url, issue 13; tables rpt_* of schema/pg/0001_fleet.sql).
// Every node counts its results into the same aggregates, so one report per
// (UTC day, report domain) covers the whole fleet (RFC 8460 §4.4), and
// claim_report() lets exactly one node deliver it (RFC 8460 §5, RPT-4).
//
// DESIGN
//   The same contract as the SQLite store (report_store.hpp), and the same
//   checks, list encoding and orders (report_rows.hpp): a test suite runs
//   against both (tests/unit/cache/report_store_contract.hpp). Untrusted
//   strings (policy domains and strings, MX hosts, failure details, a
//   report's last error and rua) are bytea, sent and read as hex, because
//   PostgreSQL text holds neither NUL nor invalid UTF-8; the report domain,
//   report id and node name are text and must be valid UTF-8 without NUL
//   (else InvalidArgument; the ingestion paths give A-labels). Text orders
//   use COLLATE "C", i.e. bytes, as SQLite does, whatever the database's
//   locale. Adds to one (day, report domain) take a transaction-level
//   advisory lock on it first, so nodes adding the same policies in
//   different orders queue instead of deadlocking. Leases use the server's
//   clock (now()), so nodes with skewed clocks agree on who holds a claim.
//
// THREADS
//   Thread-safe: every call goes through the PgLink, which serialises them on
//   one connection. Each call blocks up to PgOptions::timeout per statement.
//
// ERRORS
//   PostgreSQL unreachable, slow, or failing a statement: CacheIo
//   (Transient; the PgLink backs off); rows this program could not have
//   written: CacheSchema.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "tlspolicy/cache/report_store.hpp"
#include "tlspolicy/tlsrpt/model.hpp"
#include "tlspolicy/util/clock.hpp"
#include "tlspolicy/util/result.hpp"

#include "pg_connection.hpp"
#include "report_push.hpp"

namespace tlspolicy::cache {

class PgReportStore final : public ReportStore {
 public:
  /// Keeps a reference: `link` must outlive this object. The schema must be
  /// current (pg_migrate()); nothing is sent before the first call.
  explicit PgReportStore(PgLink& link) noexcept : m_link(link) {}

  [[nodiscard]] Result<void> add(const tlsrpt::ResultBatch& b) override;
  [[nodiscard]] Result<std::vector<ReportDaySummary>> days(const ReportFilter& f) const override;
  [[nodiscard]] Result<std::vector<tlsrpt::AggregatedPolicy>> aggregate(
      tlsrpt::Day day, const std::string& domain) const override;
  [[nodiscard]] Result<ReportRow> create_report(const ReportRow& row) override;
  [[nodiscard]] Result<std::vector<ReportRow>> reports(const ReportFilter& f) const override;
  [[nodiscard]] Result<std::vector<ReportRow>> due_reports(util::TimePoint now) const override;
  [[nodiscard]] Result<void> update_report(const ReportRow& row) override;
  /// claim_until = now() + lease on the server's clock; refused for an unknown report id.
  [[nodiscard]] Result<bool> claim_report(const std::string& report_id, std::string_view node,
                                          std::chrono::seconds lease) override;
  /// Also forgets the pushes (rpt_push) received before `before`, except each node's
  /// latest, which is all add_pushed() needs to recognise a retry.
  [[nodiscard]] Result<std::size_t> purge_before(tlsrpt::Day before) override;

  /// Adds one node's push once: in one transaction, INSERT INTO rpt_push (node, seq) ON
  /// CONFLICT DO NOTHING; when the row was new, adds every day's policies (successes/failures
  /// summed with saturation, each CountedDetail's count added to the equal detail's
  /// failed_sessions) and returns true; when (node, seq) was there already, adds nothing and
  /// returns false. Meant as the PushFn of push_local_results() (report_push.hpp).
  /// Errors: InvalidArgument (empty node, a node or report domain that is not UTF-8 or holds
  /// NUL, an empty domain, a day outside 0000-9999, a count above 2^63-1; nothing is added);
  /// CacheIo.
  [[nodiscard]] Result<bool> add_pushed(std::string_view node, std::int64_t seq,
                                        const std::vector<DayAggregate>& days);

 private:
  PgLink& m_link;
};

}  // namespace tlspolicy::cache
