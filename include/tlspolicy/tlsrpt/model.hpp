// SPDX-License-Identifier: Apache-2.0
//
// tlsrpt model: the results that SMTP TLS Reporting (RFC 8460) counts, as they
// arrive (one ResultBatch per delivery attempt or engine evaluation) and as the
// store aggregates them (per UTC day, report domain and policy).
//
// Vocabulary (docs/tlsrpt.md):
//  - report domain: the domain whose `_smtp._tls` TXT record names where the
//    report goes: the recipient domain (the libtlsrpt datagram's "d").
//  - policy domain: RFC 8460 §1.1 — the recipient domain for MTA-STS and
//    no-policy-found, the TLSA base domain for DANE (RPT-3).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tlspolicy/util/clock.hpp"
#include "tlspolicy/util/result.hpp"

namespace tlspolicy::tlsrpt {

/// RFC 8460 §4.4 "policy-type" (RPT-7).
enum class PolicyType { Tlsa, Sts, NoPolicyFound };

/// RFC 8460 §4.3 result types (RPT-10).
enum class ResultType {
  StarttlsNotSupported,
  CertificateHostMismatch,
  CertificateExpired,
  CertificateNotTrusted,
  ValidationFailure,
  TlsaInvalid,
  DnssecInvalid,
  DaneRequired,
  StsPolicyFetchError,
  StsPolicyInvalid,
  StsWebpkiInvalid,
};

/// "tlsa", "sts", "no-policy-found".
[[nodiscard]] std::string_view to_string(PolicyType t) noexcept;
[[nodiscard]] std::optional<PolicyType> parse_policy_type(std::string_view s) noexcept;
/// "starttls-not-supported", …, "sts-webpki-invalid" (RFC 8460 §4.3 spelling).
[[nodiscard]] std::string_view to_string(ResultType t) noexcept;
[[nodiscard]] std::optional<ResultType> parse_result_type(std::string_view s) noexcept;
/// libtlsrpt's numeric codes: policy types 1 tlsa, 2 sts, 9 no-policy-found;
/// failures 201..205 (TLS negotiation), 301..306 (MTA-STS and DNS).
[[nodiscard]] std::optional<PolicyType> policy_type_from_libtlsrpt(long code) noexcept;
[[nodiscard]] std::optional<ResultType> result_type_from_libtlsrpt(long code) noexcept;

/// One "failure-details" entry (RFC 8460 §4.4). Empty strings are absent
/// fields. Two details with equal fields are the same detail; the store
/// counts them (failed-session-count).
struct FailureDetail {
  ResultType result_type = ResultType::ValidationFailure;
  std::string sending_mta_ip;
  std::string receiving_mx_hostname;
  std::string receiving_mx_helo;
  std::string receiving_ip;
  std::string additional_information;
  std::string failure_reason_code;
  friend bool operator==(const FailureDetail&, const FailureDetail&) = default;
};

/// What identifies a policy in a report: results for equal keys are summed.
struct PolicyKey {
  PolicyType type = PolicyType::NoPolicyFound;
  std::string policy_domain;                ///< A-label, lower case, no trailing dot
  std::vector<std::string> policy_strings;  ///< RPT-11, in order
  std::vector<std::string> mx_hosts;        ///< STS mx patterns, in order
  friend bool operator==(const PolicyKey&, const PolicyKey&) = default;
};

/// One policy's outcome within one ResultBatch.
struct PolicyResult {
  PolicyKey policy;
  std::uint64_t successes = 0;  ///< successful sessions
  std::uint64_t failures = 0;   ///< failed sessions (>= details.size() is not required)
  /// Each entry is one failed session with these details.
  std::vector<FailureDetail> details;
  friend bool operator==(const PolicyResult&, const PolicyResult&) = default;
};

/// Where a batch came from (kept for stats and logs, not in reports).
enum class Origin { Datagram, JsonOp, Engine };
[[nodiscard]] std::string_view to_string(Origin o) noexcept;

/// What one libtlsrpt datagram, one JSON "report" op, or one engine evaluation
/// contributes. Counted on the UTC day of `at`.
struct ResultBatch {
  std::string domain;         ///< report domain, A-label, lower case, no trailing dot
  std::string tlsrpt_record;  ///< the TLSRPT record the sender saw ("" if not sent)
  util::TimePoint at;
  Origin origin = Origin::Datagram;
  std::vector<PolicyResult> policies;  ///< never empty in a valid batch
  friend bool operator==(const ResultBatch&, const ResultBatch&) = default;
};

/// A UTC calendar day (RPT-8: a report covers 00:00–24:00 UTC).
using Day = std::chrono::sys_days;
[[nodiscard]] Day day_of(util::TimePoint t) noexcept;
/// "2026-11-24".
[[nodiscard]] std::string format_day(Day d);
/// Parses "YYYY-MM-DD" (a real calendar date). Errors: InvalidArgument.
[[nodiscard]] Result<Day> parse_day(std::string_view s);

/// A failure detail with its count, as aggregated.
struct CountedDetail {
  FailureDetail detail;
  std::uint64_t count = 0;
  friend bool operator==(const CountedDetail&, const CountedDetail&) = default;
};

/// One policy of one (day, report domain), as aggregated in the store.
struct AggregatedPolicy {
  PolicyKey policy;
  std::uint64_t successes = 0;
  std::uint64_t failures = 0;
  std::vector<CountedDetail> details;  ///< ordered by result type, then fields
  friend bool operator==(const AggregatedPolicy&, const AggregatedPolicy&) = default;
};

}  // namespace tlspolicy::tlsrpt
