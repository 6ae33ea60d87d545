// SPDX-License-Identifier: Apache-2.0
//
// PRIVATE to policy-cache/: moving the TLS-RPT results a fleet node counted
// in its local SQLite store (while PostgreSQL was down, or batched) into the
// shared store, exactly once (issue 13: "push the TLS-RPT results they held
// once it is back"). The local store numbers its pushes (meta.rpt_push_seq,
// schema/migrations/0004_fleet.sql); the receiver (PgReportStore::add_pushed)
// records (node, seq) in the transaction that adds the results, so a push
// whose answer was lost and that is retried with the same seq counts once.
//
// BUGS
//   When the receiver committed a push but the local COMMIT that follows
//   fails (disk full, I/O error), the local rows stay, results counted later
//   join them, and the retry with the same seq is taken as the old push:
//   those later results are not counted in the shared store.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "tlspolicy/cache/report_store.hpp"
#include "tlspolicy/tlsrpt/model.hpp"
#include "tlspolicy/util/result.hpp"

namespace tlspolicy::cache {

/// The results of one (UTC day, report domain), as aggregate() returns them.
struct DayAggregate {
  tlsrpt::Day day;
  std::string domain;
  std::vector<tlsrpt::AggregatedPolicy> policies;
  friend bool operator==(const DayAggregate&, const DayAggregate&) = default;
};

/// Delivers one push to the shared store: Ok once the receiver has committed
/// it. Called with `seq` and the aggregates ordered by day, then domain.
using PushFn = std::function<Result<void>(std::int64_t seq, const std::vector<DayAggregate>& days)>;

/// Moves every result counted in the local SQLite report store `local` (made by
/// open_sqlite_report_store) to `push`, exactly once: in one BEGIN IMMEDIATE transaction,
/// reads every (day, domain) aggregate, calls push(seq, days) with seq = the stored counter
/// + 1, and only when push succeeded deletes those rows (rpt_policy; rpt_failure cascades)
/// and stores seq as the counter, then COMMITs; when push fails, ROLLBACK and return its
/// error (nothing lost; the same seq is offered next time, so a receiver that already
/// committed seq can recognise the retry). Returns how many (day, domain) aggregates moved
/// (0, and no push call, when there is nothing). Local rpt_report rows are not touched.
///
/// The counter starts (once, in a transaction of its own, committed before the first push)
/// at the current Unix time in milliseconds rather than at 0, so that a store made anew for
/// the same node name (a rebuilt host or container, a deleted file) does not offer seq
/// numbers its predecessor already pushed, which the receiver would drop as retries.
///
/// Blocking: holds the store's lock and SQLite write lock while `push` runs, so add() on
/// `local` and writers in other processes wait for it; `push` must not use `local`.
/// Errors: InvalidArgument (`local` is not a SQLite report store); CacheIo, CacheSchema (as
/// the store's methods); whatever `push` returned.
[[nodiscard]] Result<std::size_t> push_local_results(ReportStore& local, const PushFn& push);

}  // namespace tlspolicy::cache
