// SPDX-License-Identifier: Apache-2.0
//
// cache::open_fleet_store: the store of a node in a fleet (store.url =
// "postgresql://..."): MTA-STS policies and TLS-RPT results shared by every
// node through one PostgreSQL, with a local SQLite copy (store.path) so that
// a node keeps answering, and loses nothing, while PostgreSQL is down.
//
// DESIGN (docs/fleet.md tells the operator's side)
//   Policies are written through: put() writes the local copy, then the
//   shared row (which names the node that fetched it); get() reads both and
//   answers with the newer, refreshing the local copy from the shared one, so
//   a policy fetched by one node serves all. A policy written while
//   PostgreSQL was unreachable is re-sent once it is back; a shared row newer
//   than a re-sent one is never overwritten. A new policy id is fetched once
//   for the fleet: claim_fetch() hands one node a lease, the others wait for
//   its policy (sts::StsDiscovery). put() and remove() notify every node
//   (LISTEN/NOTIFY), whose in-memory decisions for the domain are forgotten.
//   TLS-RPT results are counted in the local SQLite store first (add() never
//   waits for the network) and moved to PostgreSQL in batches, exactly once
//   (report_push.hpp); reports are made and delivered from the shared tables,
//   one per domain and day for the fleet, each delivery claimed by one node.
//
// THREADS
//   The stores are thread-safe; each call waits for PostgreSQL at most
//   FleetOptions::timeout and then falls back to the local copy (reads) or
//   keeps the write for a later re-send. FleetSync runs the thread
//   "tlspolicy-fleet": notifications, pushes and re-sends.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "tlspolicy/cache/policy_cache.hpp"
#include "tlspolicy/cache/report_store.hpp"
#include "tlspolicy/util/log.hpp"
#include "tlspolicy/util/result.hpp"

namespace tlspolicy::cache {

struct FleetOptions {
  std::string url;                          ///< store.url: a libpq connection URI
  std::string node;                         ///< fleet.node: this daemon's name in the shared tables
  SqliteOptions local;                      ///< the local copy (store.path)
  std::chrono::milliseconds timeout{2000};  ///< per PostgreSQL call
  std::chrono::milliseconds push_every{2000};  ///< TLS-RPT results to PostgreSQL
  util::Logger log;
};

/// Keeps a node in step with the fleet (see DESIGN above).
class FleetSync {
 public:
  virtual ~FleetSync() = default;
  /// Starts the thread "tlspolicy-fleet". `on_invalidate(domain)` runs on it whenever any
  /// node changed or purged the domain's policy ("" = every domain: after a reconnect,
  /// when notifications may have been missed).
  virtual void start(std::function<void(const std::string&)> on_invalidate) = 0;
  /// Pushes the results still held locally (best effort) and ends the thread.
  virtual void stop() = 0;
};

struct FleetStore {
  std::unique_ptr<PolicyCache> policies;
  std::unique_ptr<ReportStore> reports;
  std::unique_ptr<FleetSync> sync;
};

/// Opens the local copy and PostgreSQL, applying the shared schema's migrations (safe when
/// several nodes start at once). Errors: ConfigValue (store.url is not a connection URI or
/// holds a password), CacheIo (PostgreSQL unreachable at start-up, naming store.url),
/// CacheSchema (a database newer than this program), and open_sqlite_cache's errors.
[[nodiscard]] Result<FleetStore> open_fleet_store(const FleetOptions& options);

}  // namespace tlspolicy::cache
