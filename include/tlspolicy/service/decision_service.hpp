// SPDX-License-Identifier: Apache-2.0
//
// service::DecisionService: the engine as the daemon uses it.
// DESIGN
//   Answers for domains decided recently come from memory, on the caller's
//   thread (the server's loop), without touching SQLite, DNS or the network,
//   and (decide_from_memory by name) without allocating.
//   A cold lookup goes to the engine loop, where it runs as a coroutine beside
//   every other (no thread per lookup); concurrent queries for one domain
//   share one lookup ("single flight"). Decisions are kept for their `ttl`
//   (the smallest TTL they rest on, counted from when they were made); a
//   defer is never kept.
// LIMITS
//   Cold lookups in flight: at most max_in_flight (beyond: an overload defer).
//   Each waiter gets an answer within `deadline`: when the lookup takes
//   longer, a defer that says so; the lookup goes on (its own timeouts bound
//   it) and its decision is kept for the queries after.
// THREADS
//   decide(), decide_from_memory(), cached(), forget() and stats(): any
//   thread. Everything else, and every callback of a cold lookup: the engine
//   loop's thread. Destroy it on the loop thread (or after the loop stopped),
//   once running() is 0.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "tlspolicy/event/loop.hpp"
#include "tlspolicy/event/task.hpp"
#include "tlspolicy/policy/decision.hpp"
#include "tlspolicy/policy/engine.hpp"
#include "tlspolicy/util/clock.hpp"
#include "tlspolicy/util/log.hpp"

namespace tlspolicy::service {

/// Decisions answered, [policy::Action][policy::Source].
inline constexpr std::size_t k_answer_kinds = std::size_t{4} * 5;
[[nodiscard]] constexpr std::size_t answer_kind(policy::Action a, policy::Source s) noexcept {
  return static_cast<std::size_t>(a) * 5 + static_cast<std::size_t>(s);
}

/// The counters of a DecisionService, kept apart so that they can outlive it: the daemon
/// gives every configuration generation the same object, so a reload does not reset them.
/// Relaxed atomics, any thread.
struct ServiceCounters {
  /// Answered from memory, by answer_kind(); their sum is ServiceStats::hits. The cached
  /// path's only write.
  std::array<std::atomic<std::uint64_t>, k_answer_kinds> hits{};
  /// Answered otherwise (a lookup's decision, a deadline, overload or shutdown defer), by
  /// answer_kind(). The loop thread writes them.
  std::array<std::atomic<std::uint64_t>, k_answer_kinds> other_answers{};
  std::atomic<std::uint64_t> misses{0};
  std::atomic<std::uint64_t> joined{0};
  std::atomic<std::uint64_t> overloaded{0};
  std::atomic<std::uint64_t> deadlines{0};
};

struct ServiceOptions {
  std::size_t max_in_flight = 10000;  ///< cold lookups at once; beyond: an overload defer
  std::size_t max_cached = 200000;    ///< decisions kept in memory at most
  /// Every query is answered within this (limits.decision_deadline): a cold lookup that takes
  /// longer answers a defer. Well under Postfix's socketmap patience (100 s).
  std::chrono::milliseconds deadline{10000};
  /// Called on the loop thread with every decision the engine made (not with answers from
  /// memory), before the waiting callbacks run; TLS-RPT counts the engine's own failures
  /// here. Must not throw or block. May be empty.
  std::function<void(const policy::Decision&)> on_evaluated;
  /// Where to count; null: counters of its own.
  std::shared_ptr<ServiceCounters> counters;
};

struct ServiceStats {
  std::uint64_t hits = 0;        ///< answered from memory
  std::uint64_t misses = 0;      ///< started a cold lookup
  std::uint64_t joined = 0;      ///< waited for a lookup already in flight (single flight)
  std::uint64_t overloaded = 0;  ///< refused: too many lookups in flight
  std::uint64_t deadlines = 0;   ///< answered "defer" because a lookup outlived its deadline
  std::size_t cached = 0;        ///< decisions in memory now
  std::size_t in_flight = 0;     ///< cold lookups running now
  /// Decisions answered (from memory or not), by answer_kind().
  std::array<std::uint64_t, k_answer_kinds> answered{};
};

using DecisionPtr = std::shared_ptr<const policy::Decision>;
/// Receives the decision: on the loop thread, or, for an answer from memory, on the caller's
/// thread before decide() returns. Must not throw.
using DecisionCallback = std::function<void(DecisionPtr)>;

class DecisionService {
 public:
  /// Keeps references: the engine, loop and clock must outlive this object.
  DecisionService(policy::PolicyEngine& engine, event::Loop& loop, const util::Clock& clock,
                  util::Logger log, ServiceOptions options);
  ~DecisionService();
  DecisionService(const DecisionService&) = delete;
  DecisionService& operator=(const DecisionService&) = delete;

  /// Any thread, never blocks on DNS or HTTPS.
  void decide(const policy::DecideRequest& request, DecisionCallback done);

  /// decide() for the common case, without a callback: the cached decision, counted as a
  /// hit, or nullptr (nothing counted; then call decide()). Any thread; allocates nothing.
  [[nodiscard]] DecisionPtr decide_from_memory(const policy::DecideRequest& request);
  /// The same for a plain (not REQUIRETLS) request for `domain`, any text, unparsed: a hit
  /// only when `domain` is exactly the text dns::DomainName::parse() gives (a decision's own
  /// domain), so an untrusted key needs no parsing first. Nothing built, nothing allocated.
  [[nodiscard]] DecisionPtr decide_from_memory(std::string_view domain);

  /// The cached decision, if any and still fresh. Any thread.
  [[nodiscard]] DecisionPtr cached(const policy::DecideRequest& request) const;

  /// Forgets cached decisions (one domain, or all when `domain` is empty); a lookup in flight
  /// now answers its waiters but is not kept. Any thread.
  void forget(const std::string& domain);

  [[nodiscard]] ServiceStats stats() const;

  /// The fresh decisions in memory counted by action, in policy::Action order (actions with
  /// none left out). Walks the memory under its shared lock: for the admin "status" op, not
  /// for every request. Any thread.
  [[nodiscard]] std::vector<std::pair<policy::Action, std::size_t>> cached_by_action() const;

  /// Loop thread: decide() as a coroutine step.
  [[nodiscard]] event::Task<DecisionPtr> decide_here(policy::DecideRequest request);

  /// Loop thread: answers every waiter now ("shutting down"); no new lookup starts. Lookups
  /// still running end by themselves (running() says how many).
  void stop();

  /// Loop thread: cold lookups whose coroutine has not ended (answered or not).
  [[nodiscard]] std::size_t running() const noexcept;

 private:
  struct Impl;
  std::shared_ptr<Impl> m_impl;  ///< shared with the work posted to the loop
};

}  // namespace tlspolicy::service
