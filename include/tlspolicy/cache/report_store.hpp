// SPDX-License-Identifier: Apache-2.0
//
// cache::ReportStore: persistent TLS-RPT state (RFC 8460) in the same SQLite
// database as the policies: the results aggregated per UTC day, report domain
// and policy (§4), and the reports made from them with their delivery state
// (§5: each report sent once, retried for up to 24 hours).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tlspolicy/cache/policy_cache.hpp"
#include "tlspolicy/tlsrpt/model.hpp"
#include "tlspolicy/util/clock.hpp"
#include "tlspolicy/util/result.hpp"

namespace tlspolicy::cache {

/// Totals of one (day, report domain).
struct ReportDaySummary {
  tlsrpt::Day day;
  std::string domain;
  std::uint64_t successes = 0;
  std::uint64_t failures = 0;
  friend bool operator==(const ReportDaySummary&, const ReportDaySummary&) = default;
};

enum class ReportState {
  Pending,  ///< made, not yet delivered; retried until `give_up_at`
  Sent,     ///< one endpoint accepted it (RPT-4): never sent again
  Failed,   ///< every attempt failed until give_up_at, or no endpoint to try
  Skipped,  ///< nothing to send (no TLSRPT record, or success-only when disabled)
};
/// "pending", "sent", "failed", "skipped" (the text stored in rpt_report.state;
/// defined in policy-cache/sqlite_report_store.cpp).
[[nodiscard]] std::string_view to_string(ReportState s) noexcept;

/// One report of one (day, report domain).
struct ReportRow {
  std::string report_id;  ///< RFC 8460 §4.4 report-id, unique; "<…>@<submitter>"
  tlsrpt::Day day;
  std::string domain;
  ReportState state = ReportState::Pending;
  util::TimePoint created_at;
  util::TimePoint next_attempt_at;  ///< first attempt: day end + random delay (RPT-8)
  util::TimePoint give_up_at;       ///< RPT-17: first due time + 24 h
  int attempts = 0;
  std::string last_error;  ///< "" when none
  std::optional<util::TimePoint> sent_at;
  std::string sent_to;  ///< the rua URI that accepted it
  friend bool operator==(const ReportRow&, const ReportRow&) = default;
};

struct ReportFilter {
  std::optional<tlsrpt::Day> day;
  std::optional<std::string> domain;  ///< report domain, normalised
};

class ReportStore {
 public:
  virtual ~ReportStore() = default;

  /// Adds one batch to the aggregates of (day_of(b.at), b.domain), in one
  /// transaction: per policy key, successes and failures are summed, and each
  /// detail increments the count of the equal detail. A batch for a day that
  /// already has a report still counts (shown by `report show`), but is not
  /// sent again. Policy keys compare byte for byte, lists in order; a batch
  /// without policies adds nothing. Counts saturate at 2^63-1 (RPT-9: they
  /// stay exact integers below that). Errors: CacheIo (Transient; nothing of
  /// the batch is counted), InvalidArgument (empty domain, a count above
  /// 2^63-1, a day outside the years 0000-9999).
  [[nodiscard]] virtual Result<void> add(const tlsrpt::ResultBatch& b) = 0;

  /// Totals per (day, domain), ordered by day then domain.
  [[nodiscard]] virtual Result<std::vector<ReportDaySummary>> days(const ReportFilter& f) const = 0;

  /// The aggregated policies of one (day, domain), ordered by type (in
  /// PolicyType order: tlsa, sts, no-policy-found), policy domain, then
  /// insertion (first counted first); each policy's details ordered by result
  /// type (ResultType order), then fields. Empty when nothing was counted.
  [[nodiscard]] virtual Result<std::vector<tlsrpt::AggregatedPolicy>> aggregate(
      tlsrpt::Day day, const std::string& domain) const = 0;

  /// Inserts `row` unless a report for (row.day, row.domain) exists; returns
  /// the stored row either way (so a report is made once per day and domain;
  /// a caller sees whether its row was taken by comparing report_id).
  /// Errors: CacheIo, InvalidArgument (empty report_id or domain, negative
  /// attempts, a report_id already used for another day or domain).
  [[nodiscard]] virtual Result<ReportRow> create_report(const ReportRow& row) = 0;

  /// Reports matching the filter, ordered by day, domain.
  [[nodiscard]] virtual Result<std::vector<ReportRow>> reports(const ReportFilter& f) const = 0;

  /// Pending reports with next_attempt_at <= now, ordered by next_attempt_at.
  [[nodiscard]] virtual Result<std::vector<ReportRow>> due_reports(util::TimePoint now) const = 0;

  /// Replaces the stored state of `row.report_id` (state, attempts,
  /// next_attempt_at, last_error, sent_at, sent_to); day, domain, created_at
  /// and give_up_at stay as created. Errors: CacheIo, InvalidArgument for an
  /// unknown report id or negative attempts.
  [[nodiscard]] virtual Result<void> update_report(const ReportRow& row) = 0;

  /// Claims the pending report `report_id` for delivery by `node` for `lease`: true when
  /// this node may deliver it now (it is pending and no other node holds a claim that has
  /// not run out; the store's clock decides). update_report() ends the claim. So two
  /// senders (fleet nodes, or the daemon and `tlspolicy report send`) deliver it once.
  /// Errors: CacheIo.
  [[nodiscard]] virtual Result<bool> claim_report(const std::string& report_id,
                                                  std::string_view node,
                                                  std::chrono::seconds lease) = 0;

  /// Deletes aggregates (with their details) and reports of days before
  /// `before`, in one transaction; returns how many (day, domain) aggregates
  /// went.
  [[nodiscard]] virtual Result<std::size_t> purge_before(tlsrpt::Day before) = 0;
};

/// Opens the TLS-RPT tables of the SQLite store at options.path (creating and
/// migrating the database like open_sqlite_cache; both may be open at once).
[[nodiscard]] Result<std::unique_ptr<ReportStore>> open_sqlite_report_store(
    const SqliteOptions& options);

}  // namespace tlspolicy::cache
