// SPDX-License-Identifier: Apache-2.0
//
// DecisionService: memory cache + single flight + deadlines in front of the
// engine's coroutines (see decision_service.hpp).
#include "tlspolicy/service/decision_service.hpp"

#include <array>
#include <atomic>
#include <optional>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "tlspolicy/util/locked.hpp"

namespace tlspolicy::service {
namespace {

static_assert(answer_kind(policy::Action::Bounce, policy::Source::None) + 1 == k_answer_kinds,
              "answer_kind() covers every action and source");

std::string cache_key(const policy::DecideRequest& r) {
  return r.requiretls ? r.domain.str() + "|requiretls" : r.domain.str();
}

DecisionPtr refusal(const policy::DecideRequest& r, std::string reason) {
  auto d = std::make_shared<policy::Decision>();
  d->domain = r.domain.str();
  d->action = policy::Action::Defer;
  d->requiretls.requested = r.requiretls;
  d->reason = std::move(reason);
  d->postfix = policy::socketmap_reply(*d);
  return d;
}

struct Entry {
  DecisionPtr decision;
  util::TimePoint expires;
};

/// Lets the cache be searched with a std::string_view (no key string built per query).
struct KeyHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view key) const noexcept {
    return std::hash<std::string_view>{}(key);
  }
};

/// A cold lookup: who waits for it, when the earliest of them gives up, and the cache
/// generation it started in (a forget() since then means its answer may be stale).
struct Flight {
  policy::DecideRequest request;
  std::vector<DecisionCallback> waiting;
  std::optional<event::TimerId> deadline;
  std::uint64_t generation = 0;
};

/// The decisions kept, and a generation bumped by every forget(): a lookup that started
/// before one may have read what was forgotten (a purged or refreshed policy), so its
/// decision answers its waiters but is not kept.
struct Memory {
  std::unordered_map<std::string, Entry, KeyHash, std::equal_to<>> cache;
  std::uint64_t generation = 0;
};

}  // namespace

struct DecisionService::Impl {
  policy::PolicyEngine& engine;
  event::Loop& loop;
  const util::Clock& clock;
  util::Logger log;
  ServiceOptions options;

  /// The decision memory: read by the server thread (and stats), written by the loop.
  util::SharedLocked<Memory> memory;

  // Loop thread only.
  std::unordered_map<std::string, Flight> flights;
  std::size_t running = 0;
  bool stopped = false;

  // Counters are atomics so the cached path takes no exclusive lock.
  std::shared_ptr<ServiceCounters> counters_owner;
  ServiceCounters& counters;
  std::atomic<std::size_t> in_flight{0};

  Impl(policy::PolicyEngine& e, event::Loop& l, const util::Clock& c, util::Logger lg,
       ServiceOptions o)
      : engine(e),
        loop(l),
        clock(c),
        log(std::move(lg)),
        options(std::move(o)),
        counters_owner(options.counters ? options.counters : std::make_shared<ServiceCounters>()),
        counters(*counters_owner) {}

  void count_hit(const policy::Decision& d) noexcept {
    counters.hits[answer_kind(d.action, d.source)].fetch_add(1, std::memory_order_relaxed);
  }

  /// Every answer that is not a hit goes through here: counted, then given.
  void answer(const DecisionCallback& done, const DecisionPtr& d) {
    counters.other_answers[answer_kind(d->action, d->source)].fetch_add(1,
                                                                        std::memory_order_relaxed);
    done(d);
  }

  DecisionPtr lookup_cache(std::string_view key) const {
    const auto m = memory.read();
    const auto it = m->cache.find(key);
    if (it == m->cache.end() || it->second.expires <= clock.now()) return nullptr;
    return it->second.decision;
  }

  std::uint64_t current_generation() const { return memory.read()->generation; }

  void store(const std::string& key, const DecisionPtr& d, std::uint64_t started_in) {
    // Temporary failures are never kept: the next query tries again.
    if (d->action == policy::Action::Defer || d->ttl.count() <= 0) return;
    // The TTLs count from when the decision was made (SPEC §3).
    const auto expires = d->decided_at + d->ttl;
    const auto now = clock.now();
    if (expires <= now) return;
    const auto m = memory.write();
    if (started_in != m->generation) return;  // forgotten while in flight
    auto& cache = m->cache;
    if (cache.size() >= options.max_cached) {
      std::erase_if(cache, [now](const auto& kv) { return kv.second.expires <= now; });
      if (cache.size() >= options.max_cached) cache.erase(cache.begin());
    }
    cache.insert_or_assign(key, Entry{d, expires});
  }

  /// Loop thread: answers from memory, joins a flight or starts one.
  void start(const policy::DecideRequest& request, DecisionCallback done,
             const std::shared_ptr<Impl>& self) {
    const std::string key = cache_key(request);
    if (auto hit = lookup_cache(key)) {  // decided while this request was on its way
      count_hit(*hit);
      done(std::move(hit));
      return;
    }
    if (stopped) {
      answer(done, refusal(request, "tlspolicy is shutting down"));
      return;
    }
    if (auto it = flights.find(key); it != flights.end()) {
      counters.joined.fetch_add(1, std::memory_order_relaxed);
      it->second.waiting.push_back(std::move(done));
      arm_deadline(key, it->second, self);
      return;
    }
    if (running >= options.max_in_flight) {
      counters.overloaded.fetch_add(1, std::memory_order_relaxed);
      log.warn("overloaded: lookup refused",
               {{"domain", request.domain.str()}, {"in_flight", std::to_string(running)}});
      answer(done, refusal(request, "tlspolicy is overloaded: too many lookups in flight"));
      return;
    }
    counters.misses.fetch_add(1, std::memory_order_relaxed);
    auto& flight = flights.emplace(key, Flight{request, {}, std::nullopt, 0}).first->second;
    flight.generation = current_generation();
    flight.waiting.push_back(std::move(done));
    arm_deadline(key, flight, self);
    ++running;
    in_flight.store(running, std::memory_order_relaxed);
    event::spawn(guarded(request), [self, key](const DecisionPtr& d) { self->complete(key, d); });
  }

  /// The engine's decision; an exception (only std::bad_alloc, in practice) is a defer.
  event::Task<DecisionPtr> guarded(policy::DecideRequest request) {
    try {
      co_return std::make_shared<const policy::Decision>(co_await engine.decide(request));
    } catch (const std::exception& e) {
      log.error("decision failed", {{"domain", request.domain.str()}, {"error", e.what()}});
    }
    co_return refusal(request, "internal error while deciding");
  }

  /// Each flight answers its waiters within the deadline: one timer for those waiting now.
  void arm_deadline(const std::string& key, Flight& flight, const std::shared_ptr<Impl>& self) {
    if (flight.deadline) return;
    flight.deadline = loop.after(options.deadline, [self, key] { self->expire(key); });
  }

  void expire(const std::string& key) {
    auto it = flights.find(key);
    if (it == flights.end()) return;
    auto& flight = it->second;
    flight.deadline.reset();
    auto waiting = std::exchange(flight.waiting, {});
    if (waiting.empty()) return;
    counters.deadlines.fetch_add(1, std::memory_order_relaxed);
    log.warn("decision deadline passed; answering defer, the lookup goes on",
             {{"domain", flight.request.domain.str()},
              {"deadline_ms", std::to_string(options.deadline.count())}});
    const auto d = refusal(flight.request, "no decision for " + flight.request.domain.str() +
                                               " within the deadline of " +
                                               std::to_string(options.deadline.count()) +
                                               " ms (limits.decision_deadline); try again later");
    for (auto& done : waiting) answer(done, d);
  }

  void complete(const std::string& key, const DecisionPtr& decision) {
    --running;
    in_flight.store(running, std::memory_order_relaxed);
    auto it = flights.find(key);
    if (it == flights.end()) return;
    Flight flight = std::move(it->second);
    flights.erase(it);
    if (flight.deadline) loop.cancel(*flight.deadline);
    if (options.on_evaluated) options.on_evaluated(*decision);
    store(key, decision, flight.generation);
    for (auto& done : flight.waiting) answer(done, decision);
  }

  void stop() {
    stopped = true;
    for (auto& [key, flight] : flights) {
      if (flight.deadline) loop.cancel(*flight.deadline);
      flight.deadline.reset();
      const auto d = refusal(flight.request, "tlspolicy is shutting down");
      for (auto& done : std::exchange(flight.waiting, {})) answer(done, d);
    }
  }
};

DecisionService::DecisionService(policy::PolicyEngine& engine, event::Loop& loop,
                                 const util::Clock& clock, util::Logger log, ServiceOptions options)
    : m_impl(std::make_shared<Impl>(engine, loop, clock, std::move(log), std::move(options))) {}

DecisionService::~DecisionService() = default;

DecisionPtr DecisionService::decide_from_memory(const policy::DecideRequest& request) {
  // The hit path runs for every cached query: a plain request's key is the
  // domain itself, looked up without building a copy.
  auto hit = request.requiretls ? m_impl->lookup_cache(cache_key(request))
                                : m_impl->lookup_cache(request.domain.str());
  if (hit) m_impl->count_hit(*hit);
  return hit;
}

DecisionPtr DecisionService::decide_from_memory(std::string_view domain) {
  // A decision is made for a DomainName, whose text is canonical: a hit for exactly that
  // text proves `domain` canonical without parsing it. Any other text (upper case, a
  // trailing dot, U-labels, "d|requiretls") finds nothing here.
  auto hit = m_impl->lookup_cache(domain);
  if (!hit || hit->domain != domain) return nullptr;
  m_impl->count_hit(*hit);
  return hit;
}

void DecisionService::decide(const policy::DecideRequest& request, DecisionCallback done) {
  if (auto hit = decide_from_memory(request)) {
    done(std::move(hit));
    return;
  }
  m_impl->loop.post([impl = m_impl, request, done = std::move(done)]() mutable {
    impl->start(request, std::move(done), impl);
  });
}

event::Task<DecisionPtr> DecisionService::decide_here(policy::DecideRequest request) {
  co_return co_await event::completion<DecisionPtr>(
      [this, &request](auto done) { m_impl->start(request, std::move(done), m_impl); });
}

DecisionPtr DecisionService::cached(const policy::DecideRequest& request) const {
  return m_impl->lookup_cache(cache_key(request));
}

void DecisionService::forget(const std::string& domain) {
  const auto m = m_impl->memory.write();
  ++m->generation;  // lookups in flight now will not be kept
  if (domain.empty()) {
    m->cache.clear();
    return;
  }
  m->cache.erase(domain);
  m->cache.erase(domain + "|requiretls");
}

ServiceStats DecisionService::stats() const {
  ServiceStats s;
  const auto& c = m_impl->counters;
  for (std::size_t i = 0; i < k_answer_kinds; ++i) {
    const auto hits = c.hits[i].load(std::memory_order_relaxed);
    s.hits += hits;
    s.answered[i] = hits + c.other_answers[i].load(std::memory_order_relaxed);
  }
  s.misses = c.misses.load(std::memory_order_relaxed);
  s.joined = c.joined.load(std::memory_order_relaxed);
  s.overloaded = c.overloaded.load(std::memory_order_relaxed);
  s.deadlines = c.deadlines.load(std::memory_order_relaxed);
  s.in_flight = m_impl->in_flight.load(std::memory_order_relaxed);
  s.cached = m_impl->memory.read()->cache.size();
  return s;
}

std::vector<std::pair<policy::Action, std::size_t>> DecisionService::cached_by_action() const {
  constexpr std::array k_actions{policy::Action::RequireTls, policy::Action::Opportunistic,
                                 policy::Action::Defer, policy::Action::Bounce};
  std::array<std::size_t, k_actions.size()> counts{};
  const auto now = m_impl->clock.now();
  {
    const auto m = m_impl->memory.read();
    for (const auto& [key, entry] : m->cache) {
      if (entry.expires <= now) continue;
      for (std::size_t i = 0; i < k_actions.size(); ++i) {
        if (entry.decision->action == k_actions[i]) ++counts[i];
      }
    }
  }
  std::vector<std::pair<policy::Action, std::size_t>> out;
  for (std::size_t i = 0; i < k_actions.size(); ++i) {
    if (counts[i] > 0) out.emplace_back(k_actions[i], counts[i]);
  }
  return out;
}

void DecisionService::stop() { m_impl->stop(); }

std::size_t DecisionService::running() const noexcept { return m_impl->running; }

}  // namespace tlspolicy::service
