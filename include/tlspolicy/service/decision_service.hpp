// SPDX-License-Identifier: Apache-2.0
//
// service::DecisionService: the engine as the daemon uses it. Answers for
// domains decided recently come from memory without touching SQLite, DNS or
// the network; cold lookups run concurrently on a bounded pool of workers;
// concurrent queries for one domain share one lookup ("single flight").
// Decisions are kept for their `ttl` (the smallest of the MX TTL, the
// _mta-sts TXT TTL and the policy's remaining lifetime, so the TXT id is
// re-checked when its TTL runs out); temporary failures (defer) are not
// kept.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "tlspolicy/policy/decision.hpp"
#include "tlspolicy/policy/engine.hpp"
#include "tlspolicy/util/clock.hpp"
#include "tlspolicy/util/log.hpp"

namespace tlspolicy::service {

struct ServiceOptions {
  std::size_t workers = 16;         ///< concurrent cold lookups (DNS/HTTPS bound, not CPU)
  std::size_t max_pending = 4096;   ///< cold lookups queued at most; beyond: an overload defer
  std::size_t max_cached = 200000;  ///< decisions kept in memory at most
  /// Called on the worker thread with every decision the engine made (not
  /// with answers from memory), before the waiting callbacks run; TLS-RPT
  /// counts the engine's own failures here. Must not throw. May be empty.
  std::function<void(const policy::Decision&)> on_evaluated;
};

struct ServiceStats {
  std::uint64_t hits = 0;        ///< answered from memory
  std::uint64_t misses = 0;      ///< started a cold lookup
  std::uint64_t joined = 0;      ///< waited for a lookup already in flight (single flight)
  std::uint64_t overloaded = 0;  ///< refused: too many pending lookups
  std::size_t cached = 0;        ///< decisions in memory now
  std::size_t in_flight = 0;     ///< cold lookups running or queued now
};

using DecisionPtr = std::shared_ptr<const policy::Decision>;
/// Receives the decision; may run on a worker thread or, for a cached
/// answer, on the caller's thread before decide() returns. Must not throw.
using DecisionCallback = std::function<void(DecisionPtr)>;

class DecisionService {
 public:
  /// Keeps references: the engine and clock must outlive this object.
  DecisionService(const policy::PolicyEngine& engine, const util::Clock& clock, util::Logger log,
                  ServiceOptions options);
  /// Stops the workers; queued lookups get an overload defer. May run on a worker (a
  /// callback holding the last reference): that worker is detached and ends by itself.
  ~DecisionService();
  DecisionService(const DecisionService&) = delete;
  DecisionService& operator=(const DecisionService&) = delete;

  /// Thread-safe, never blocks on DNS or HTTPS.
  void decide(const policy::DecideRequest& request, DecisionCallback done);

  /// decide() for the common case, without a callback: the cached decision, counted as a
  /// hit, or nullptr (nothing counted; then call decide()). Thread-safe, never blocks on
  /// DNS or HTTPS.
  [[nodiscard]] DecisionPtr decide_from_memory(const policy::DecideRequest& request);

  /// The cached decision, if any and still fresh. Thread-safe.
  [[nodiscard]] DecisionPtr cached(const policy::DecideRequest& request) const;

  /// Forgets cached decisions (one domain, or all when `domain` is empty).
  void forget(const std::string& domain);

  [[nodiscard]] ServiceStats stats() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> m_impl;  ///< shared with the workers
};

}  // namespace tlspolicy::service
