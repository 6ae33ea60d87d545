// SPDX-License-Identifier: Apache-2.0
//
// Private to src/daemon: the admin op "status" (proto/status_json.hpp), gathered from the
// decision memory, the policy store and the TLS-RPT store.
//   decisions   the fresh decisions in memory, by action
//   policies    stored MTA-STS policies, by mode, and those expiring within 24 hours
//   failures    TLS-RPT results of yesterday and today (UTC: the store counts per UTC day,
//               so the window is the two days that cover the last 24 hours), the report
//               domains with failures, the most first, at most k_status_max_domains, each
//               with its k_status_max_result_types most frequent result types
//   reports     report rows by state; the earliest next attempt of a pending one; the next
//               00:00 UTC, after which the report tick (every minute) makes the day's reports
// THREADS
//   Blocks on SQLite: the store pool only. Reads the store a bounded number of times: one
//   list of the policies, two day totals, two aggregates per listed domain, one report list.
#pragma once

#include "tlspolicy/cache/policy_cache.hpp"
#include "tlspolicy/proto/status_json.hpp"
#include "tlspolicy/util/result.hpp"

#include "state.hpp"

namespace tlspolicy::daemon {

/// `store`: the store's health as stats shows it. Errors: the store's (CacheIo).
[[nodiscard]] Result<proto::StatusSummary> gather_status(const State& state,
                                                         const cache::StoreStatus& store);

}  // namespace tlspolicy::daemon
