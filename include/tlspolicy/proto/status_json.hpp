// SPDX-License-Identifier: Apache-2.0
//
// NAME
//   status_json - the admin op "status": what the daemon holds, for people
//   (`tlspolicy stats` renders it as text above the raw counters)
// FORMAT
//   {"now":"2026-12-06T15:00:00Z","node":"mx1",
//    "store":{<store_status_json>},
//    "decisions":{"cached":12,"by_action":[{"action":"require-tls","count":9},…]},
//    "policies":{"stored":3,"by_mode":[{"mode":"enforce","count":2},…],
//                "expiring_within_day":1},
//    "tlsrpt":{"enabled":true,"send":false,"since":"2026-12-05T00:00:00Z",
//              "failure_domains":2,
//              "failures":[{"domain":"a.example","failures":3,"successes":1,
//                           "result_types":[{"type":"certificate-expired","count":2},…]},…],
//              "reports":{"pending":1,"failed":0,"sent":4,"skipped":2,
//                         "next_attempt_at":"…"|null,"next_made_at":"…"}}}
//   Times are RFC 3339 UTC with second precision. "failures" is bounded
//   (k_status_max_domains, the most failures first); "failure_domains" counts
//   them all. Lists keep their order.
// SECURITY
//   Rendering repairs invalid UTF-8 (U+FFFD). The parser reads the answer of a
//   local daemon; it never throws, and it reads a member that is missing or of
//   another type as its default (a newer or older daemon still renders).
// SEE ALSO
//   docs/protocols/json.md (Admin ops), cli/status_text.hpp
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tlspolicy/cache/policy_cache.hpp"
#include "tlspolicy/util/clock.hpp"
#include "tlspolicy/util/result.hpp"

namespace tlspolicy::proto {

/// Domains listed with their TLS-RPT failures at most.
inline constexpr std::size_t k_status_max_domains = 20;
/// Result types listed per domain at most.
inline constexpr std::size_t k_status_max_result_types = 3;

/// A name with a count ("enforce" 2, "certificate-expired" 5, …).
struct NamedCount {
  std::string name;
  std::uint64_t count = 0;
  friend bool operator==(const NamedCount&, const NamedCount&) = default;
};

/// One report domain's TLS-RPT results since StatusSummary::failures_since.
struct DomainFailures {
  std::string domain;
  std::uint64_t failures = 0;
  std::uint64_t successes = 0;
  std::vector<NamedCount> result_types;  ///< the most failed sessions first
  friend bool operator==(const DomainFailures&, const DomainFailures&) = default;
};

struct StatusSummary {
  util::TimePoint now;  ///< the daemon's clock when it gathered this
  std::string node;     ///< fleet.node
  cache::StoreStatus store;

  std::uint64_t decisions_cached = 0;           ///< decisions in memory
  std::vector<NamedCount> decisions_by_action;  ///< fresh ones, by action

  std::uint64_t policies_stored = 0;  ///< MTA-STS policies in the store
  std::vector<NamedCount> policies_by_mode;
  std::uint64_t policies_expiring_within_day = 0;  ///< unexpired, expiring within 24 h

  bool tlsrpt_enabled = false;
  bool tlsrpt_send = false;
  util::TimePoint failures_since;        ///< start of the window: yesterday 00:00 UTC
  std::uint64_t failure_domains = 0;     ///< report domains with failures in the window
  std::vector<DomainFailures> failures;  ///< the first k_status_max_domains, most first
  std::uint64_t reports_pending = 0;
  std::uint64_t reports_failed = 0;
  std::uint64_t reports_sent = 0;
  std::uint64_t reports_skipped = 0;
  std::optional<util::TimePoint> next_attempt_at;  ///< earliest pending report's next attempt
  util::TimePoint next_made_at;  ///< when the report tick next makes reports (next 00:00 UTC)
};

/// One JSON object (one line), in the FORMAT above.
[[nodiscard]] std::string status_summary_json(const StatusSummary& s);

/// Reads what status_summary_json wrote. Never throws; InvalidArgument when `json` is not a
/// JSON object or a time is unreadable.
[[nodiscard]] Result<StatusSummary> status_summary_from_json(std::string_view json);

}  // namespace tlspolicy::proto
