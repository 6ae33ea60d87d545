// SPDX-License-Identifier: Apache-2.0
//
// Private to src/daemon: the metrics listener (server.metrics), a server::Server of its own
// serving GET /metrics in the Prometheus text format (docs/operations.md, "Metrics").
// DESIGN
//   A second Server, not a fourth listener on the first: its connection limit, timeouts and
//   thread are its own, so scrapes (or a hostile client on the metrics port) never take a
//   connection slot or loop time from Postfix and Exim. Its connections carry one request
//   each; idle_timeout counts from the accept whatever arrives (a client that dribbles its
//   request is closed), a head is at most proto::k_max_http_head bytes.
//   A scrape reads the counters (relaxed atomics) into a proto::MetricsSnapshot and renders
//   it; the only lock it takes is the decision memory's shared lock, for its size, as
//   `tlspolicy stats` does.
// THREADS
//   The metrics server's own loop thread (tlspolicy-mtrc).
#pragma once

#include <memory>
#include <string>

#include "tlspolicy/proto/metrics.hpp"
#include "tlspolicy/server/server.hpp"
#include "tlspolicy/util/fd.hpp"
#include "tlspolicy/util/log.hpp"

#include "state.hpp"

namespace tlspolicy::daemon {

/// The snapshot of the running daemon. `metrics`: the metrics server's own counters, or null.
[[nodiscard]] proto::MetricsSnapshot metrics_snapshot(const Context& ctx,
                                                      const server::ServerStats& policy,
                                                      const server::ServerStats* metrics);

/// Seconds since the Unix epoch at which this process started (from /proc/self/stat and
/// the boot time), or the time of the first call when that cannot be read.
[[nodiscard]] double process_start_time();

class MetricsListener {
 public:
  /// Serves `listener` (from server::listen_endpoint) with its own Server; starts at once.
  /// `ctx` and `policy` must outlive it.
  MetricsListener(util::Fd listener, Context& ctx, const server::Server& policy,
                  const util::Logger& log);
  /// Stops (without drain: a scrape in progress is cut short).
  ~MetricsListener();
  MetricsListener(const MetricsListener&) = delete;
  MetricsListener& operator=(const MetricsListener&) = delete;

  void stop();

 private:
  std::unique_ptr<server::Server> m_server;
};

}  // namespace tlspolicy::daemon
