// SPDX-License-Identifier: Apache-2.0
//
// PRIVATE to policy-cache/: what the two cache::ReportStore implementations
// share, so that both keep one contract (report_store.hpp) byte for byte:
// the SQLite store of one machine (sqlite_report_store.cpp) and the
// PostgreSQL store of a fleet (pg_report_store.cpp). The checks of the
// arguments (with their InvalidArgument texts), the stored forms of a day
// and of a string list, saturating counts, the order aggregate() returns,
// and the checks that turn stored columns back into values (CacheSchema
// for a row this program could not have written). No SQL here.
#pragma once

#include <chrono>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tlspolicy/cache/report_store.hpp"
#include "tlspolicy/tlsrpt/model.hpp"
#include "tlspolicy/util/result.hpp"

namespace tlspolicy::cache {

/// The largest count either store keeps (RPT-9: an exact integer in both
/// SQLite INTEGER and PostgreSQL bigint); counts saturate here.
inline constexpr std::uint64_t k_max_count = std::numeric_limits<std::int64_t>::max();

/// The state named by `s` (the text of to_string(ReportState)); nullopt for anything else.
[[nodiscard]] std::optional<ReportState> parse_report_state(std::string_view s) noexcept;

/// The day as stored: "YYYY-MM-DD", whose text order is date order. Errors:
/// InvalidArgument for days outside the years 0000-9999 (they have no such form).
[[nodiscard]] Result<std::string> day_key(tlsrpt::Day day);

/// a + b, or 2^64-1 when that overflows (the day totals of days()).
[[nodiscard]] std::uint64_t saturating_add(std::uint64_t a, std::uint64_t b) noexcept;

/// A string list in the stores' canonical form: a compact JSON array of JSON
/// strings ("[]", "[\"\"]", "[\"a\",\"b\"]"). '"', '\' and the C0 controls
/// are escaped (\n \r \t, else \u00XX); every other byte, UTF-8 or not, is
/// kept as is. Deterministic, so equal lists give equal text (and the UNIQUE
/// key of rpt_policy matches them); decode_strings inverts it exactly.
[[nodiscard]] std::string encode_strings(const std::vector<std::string>& list);

/// Inverse of encode_strings. Also takes the other JSON escapes (\/ \b \f,
/// \uXXXX below 0x80) so a hand-written row decodes; anything else, including
/// whitespace between elements, is not a stored list: nullopt.
[[nodiscard]] std::optional<std::vector<std::string>> decode_strings(std::string_view text);

/// A claim_report() lease as both stores take it: negative is 0 (the claim has run out
/// at once), and at most ten years (so that the end of the lease stays a valid time).
[[nodiscard]] std::chrono::seconds clamped_lease(std::chrono::seconds lease) noexcept;

/// add()'s checks of a batch (report_store.hpp): InvalidArgument for an empty
/// domain, a day outside the years 0000-9999 or a count above 2^63-1.
/// Returns the day key of the batch (RPT-8: the UTC day of b.at).
[[nodiscard]] Result<std::string> checked_batch_day(const tlsrpt::ResultBatch& b);

/// create_report()'s checks of a row: InvalidArgument for an empty report id
/// or domain, negative attempts or a day outside 0000-9999. Returns the day key.
[[nodiscard]] Result<std::string> checked_new_report(const ReportRow& row);

/// update_report()'s check: InvalidArgument for negative attempts.
[[nodiscard]] Result<void> checked_update(const ReportRow& row);

/// The failure details of one policy result counted: equal details (every
/// field equal) become one CountedDetail with the number of times they
/// occur, in aggregate()'s detail order.
[[nodiscard]] std::vector<tlsrpt::CountedDetail> count_details(
    const std::vector<tlsrpt::FailureDetail>& details);

/// Puts the policies of one (day, domain), given in insertion order (first
/// counted first), in aggregate()'s order: by type (PolicyType order: tlsa,
/// sts, no-policy-found), policy domain (bytes), then insertion (a stable
/// sort); each policy's details by result type (ResultType order, i.e. RFC
/// 8460 §4.3's), then the fields as declared in FailureDetail.
void order_aggregate(std::vector<tlsrpt::AggregatedPolicy>& policies);

/// The CacheSchema error (Transient, like a bad policy row: purge_before()
/// or a repair clears it) for a stored row that makes no sense: "<what> (<where>)".
[[nodiscard]] Error bad_row(std::string what, std::string_view where);

/// The columns of one rpt_report row as read, before they are checked.
struct StoredReport {
  std::string report_id;
  std::string day;
  std::string domain;
  std::string state;
  std::int64_t created_at = 0;
  std::int64_t next_attempt_at = 0;
  std::int64_t give_up_at = 0;
  std::int64_t attempts = 0;
  std::string last_error;
  std::optional<std::int64_t> sent_at;  ///< NULL when never sent
  std::string sent_to;
};
/// The ReportRow `s` stands for. Errors: CacheSchema (bad day or state,
/// attempts outside 0..INT_MAX), naming `where` (the file or "store.url").
[[nodiscard]] Result<ReportRow> report_from(StoredReport s, std::string_view where);

/// The columns of one rpt_policy row as read (lists in encode_strings form).
struct StoredPolicy {
  std::int64_t id = 0;  ///< for messages
  std::string type;
  std::string policy_domain;
  std::string policy_strings;
  std::string mx_hosts;
  std::int64_t successes = 0;
  std::int64_t failures = 0;
};
/// The AggregatedPolicy (without details) `s` stands for. Errors: CacheSchema
/// (unknown type, a list not in encode_strings form, a negative count).
[[nodiscard]] Result<tlsrpt::AggregatedPolicy> policy_from(StoredPolicy s, std::string_view where);

/// The columns of one rpt_failure row as read.
struct StoredDetail {
  std::int64_t policy_id = 0;  ///< for messages
  std::string result_type;
  tlsrpt::FailureDetail fields;  ///< every field but result_type
  std::int64_t failed_sessions = 0;
};
/// The CountedDetail `s` stands for. Errors: CacheSchema (unknown result
/// type, a count below 1).
[[nodiscard]] Result<tlsrpt::CountedDetail> detail_from(StoredDetail s, std::string_view where);

}  // namespace tlspolicy::cache
