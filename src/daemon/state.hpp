// SPDX-License-Identifier: Apache-2.0
//
// Private to src/daemon: what the daemon's threads share.
//   State     one configuration generation: the Runtime (components) and the
//             DecisionService on it. SIGHUP builds a new one and swaps it in;
//             the old one retires on the engine loop once nothing refers to it
//             and nothing of it runs (retire()).
//   Context   what outlives generations: the engine loop, the store pool, the
//             current State, the TLS-RPT counters.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <unordered_set>
#include <utility>

#include "tlspolicy/config/settings.hpp"
#include "tlspolicy/daemon/runtime.hpp"
#include "tlspolicy/event/loop.hpp"
#include "tlspolicy/event/offload.hpp"
#include "tlspolicy/service/decision_service.hpp"
#include "tlspolicy/tlsrpt/model.hpp"
#include "tlspolicy/util/locked.hpp"
#include "tlspolicy/util/log.hpp"
#include "tlspolicy/util/result.hpp"

#include "instruments.hpp"

namespace tlspolicy::daemon {

struct State {
  std::unique_ptr<Runtime> runtime;
  std::unique_ptr<service::DecisionService> service;
  /// Store-pool jobs that refer to this generation without holding it (the engine's TLS-RPT
  /// results); it retires only once they ended.
  std::atomic<int> jobs{0};
};

/// TLS-RPT ingestion counters (the "tlsrpt" object of stats); they outlive reloads.
struct TlsRptCounters {
  std::atomic<std::uint64_t> datagrams{0};     ///< datagrams received
  std::atomic<std::uint64_t> malformed{0};     ///< datagrams dropped: unparsable or too large
  std::atomic<std::uint64_t> report_ops{0};    ///< JSON report ops counted
  std::atomic<std::uint64_t> engine{0};        ///< engine evaluations with failures counted
  std::atomic<std::uint64_t> store_errors{0};  ///< results the store could not take
};

class Context {
 public:
  Context(event::Loop& l, event::ThreadPool& p, util::Logger lg)
      : loop(l), pool(p), log(std::move(lg)) {}

  event::Loop& loop;        ///< the engine loop (its own thread)
  event::ThreadPool& pool;  ///< blocking work: SQLite, sendmail, TLS-RPT POST
  util::Logger log;
  TlsRptCounters counters;
  Instruments instruments;  ///< the other counters of /metrics; every generation counts here

  /// The current generation. Any thread.
  [[nodiscard]] std::shared_ptr<State> state() const { return *m_state.lock(); }
  /// The generation replaced is released after the lock (its last reference retires it).
  void set_state(std::shared_ptr<State> s) {
    const auto old = std::exchange(*m_state.lock(), std::move(s));
  }

  /// Generations built and not yet destroyed (the current one included). Any thread.
  std::atomic<int> generations{0};
  /// The same generations, for shutdown(). Loop thread.
  std::unordered_set<State*> live;
  /// Set by shutdown(): periodic work stops between steps. Loop thread.
  bool stopping = false;

 private:
  // A mutex, not C++20's std::atomic<std::shared_ptr>: GCC 12's load() releases its lock bit
  // with memory_order_relaxed, so a store() that follows a load() is not ordered after it
  // (ThreadSanitizer reports it; on a weakly ordered CPU the load could pair the new pointer
  // with the old count). std::atomic_load(shared_ptr*), which takes a mutex from libstdc++'s
  // pool, is deprecated in C++20 (GCC 14 warns). Uncontended: the server thread reads it once
  // per request, a reload writes it.
  util::Locked<std::shared_ptr<State>> m_state;
};

/// Builds a generation whose last reference, on whatever thread it drops, hands it to the
/// loop to retire: it is destroyed there once nothing of it runs any more (its lookups in
/// flight finish first). Any thread (nothing touches the loop yet).
[[nodiscard]] Result<std::shared_ptr<State>> build_state(const config::Settings& settings,
                                                         Context& ctx);

/// Loop thread, at shutdown, once the current generation is no longer referenced: every
/// generation answers its waiters ("shutting down") and cancels its lookups, so that what
/// still holds one (an admin refresh) ends at once and the generation retires.
void shutdown(Context& ctx);

/// Counts one batch of TLS-RPT results in the store; a failure is logged (rate-limited) and
/// counted. Blocks on SQLite: the store pool's threads only.
bool record_results(Runtime& rt, TlsRptCounters& counters, const tlsrpt::ResultBatch& batch);

}  // namespace tlspolicy::daemon
