// SPDX-License-Identifier: Apache-2.0
//
// daemon::Runtime: builds the concrete components from loaded settings (the one
// composition root of the program) and owns them. The resolver and the
// fetcher run on an event::Loop; store calls go through an event::Offload.
// THREADS
//   Build it on any thread. Use the engine, discovery, resolver and fetcher on
//   the loop's thread only; destroy the Runtime there too (or after the loop
//   stopped), once engine->active() is 0: lookups in flight refer to it.
#pragma once

#include <functional>
#include <memory>

#include "tlspolicy/cache/fleet_store.hpp"
#include "tlspolicy/cache/policy_cache.hpp"
#include "tlspolicy/cache/report_store.hpp"
#include "tlspolicy/config/settings.hpp"
#include "tlspolicy/dane/dane.hpp"
#include "tlspolicy/dns/resolver.hpp"
#include "tlspolicy/event/offload.hpp"
#include "tlspolicy/fetch/https_fetcher.hpp"
#include "tlspolicy/policy/engine.hpp"
#include "tlspolicy/service/report_service.hpp"
#include "tlspolicy/sts/discovery.hpp"
#include "tlspolicy/util/clock.hpp"
#include "tlspolicy/util/log.hpp"
#include "tlspolicy/util/result.hpp"

namespace tlspolicy::daemon {

struct Runtime {
  Runtime(event::Loop& l, event::Offload& o) : loop(l), offload(o) {}

  config::Settings settings;
  util::SystemClock clock;
  util::Logger log;
  event::Loop& loop;        ///< where the resolver, fetcher and engine run
  event::Offload& offload;  ///< where store calls run (blocking SQLite)
  std::unique_ptr<dns::Resolver> resolver;
  std::unique_ptr<fetch::HttpsFetcher> fetcher;
  std::unique_ptr<cache::PolicyCache> cache;
  std::unique_ptr<dane::DaneLookup> dane;
  std::unique_ptr<sts::StsDiscovery> sts;
  std::unique_ptr<policy::PolicyEngine> engine;
  std::unique_ptr<fetch::HttpsPoster> poster;        ///< TLS-RPT https: reports
  std::unique_ptr<cache::ReportStore> report_store;  ///< TLS-RPT results and reports
  std::unique_ptr<service::ReportService> reports;   ///< TLS-RPT (RFC 8460)
  /// With store.url: keeps the node in step with the fleet (started by the daemon; the
  /// CLI's one-shot commands need no notifications). Declared last: destroyed first.
  std::unique_ptr<cache::FleetSync> fleet;
};

/// Parses "debug" | "info" | "notice" | "warning" | "error".
/// Wrappers build_runtime() puts around the components it builds, before anything refers to
/// them (the daemon counts for /metrics through them). Each may be empty.
struct RuntimeHooks {
  std::function<std::unique_ptr<dns::Resolver>(std::unique_ptr<dns::Resolver>)> resolver;
  std::function<std::unique_ptr<fetch::HttpsFetcher>(std::unique_ptr<fetch::HttpsFetcher>)> fetcher;
  std::function<std::unique_ptr<cache::PolicyCache>(std::unique_ptr<cache::PolicyCache>)> cache;
  /// Where the report service counts made, sent and failed reports; null: nowhere.
  std::shared_ptr<service::ReportCounters> report_counters;
};

/// Builds every component. Errors: InvalidArgument/ConfigValue for settings
/// that cannot be honoured (unreadable trust anchor, bad server address),
/// CacheIo/CacheSchema when the store cannot be opened.
[[nodiscard]] Result<std::unique_ptr<Runtime>> build_runtime(const config::Settings& settings,
                                                             util::Logger log, event::Loop& loop,
                                                             event::Offload& offload,
                                                             const RuntimeHooks& hooks = {});

/// The components outside the daemon (`tlspolicy lookup`, `tlspolicy report`): a Runtime with
/// an engine loop on a thread of its own; store calls run on that thread too (one command
/// at a time needs no pool). The destructor cancels what is in flight and ends the thread.
/// THREADS: one caller thread, never the loop's.
class Standalone {
 public:
  [[nodiscard]] static Result<std::unique_ptr<Standalone>> build(const config::Settings& settings,
                                                                 util::Logger log);
  ~Standalone();
  Standalone(const Standalone&) = delete;
  Standalone& operator=(const Standalone&) = delete;

  /// The components; the report service and the stores may be used from the caller's thread.
  [[nodiscard]] Runtime& runtime() noexcept { return *m_runtime; }
  /// One decision, made on the loop; waits for it.
  [[nodiscard]] policy::Decision decide(const policy::DecideRequest& request);

 private:
  Standalone();
  std::unique_ptr<event::LoopThread> m_thread;
  std::unique_ptr<event::InlineOffload> m_offload;
  std::unique_ptr<Runtime> m_runtime;
};

}  // namespace tlspolicy::daemon
