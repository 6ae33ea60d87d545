// SPDX-License-Identifier: Apache-2.0
//
// DecisionService: memory cache + single flight + bounded worker pool in
// front of the (blocking) PolicyEngine. See decision_service.hpp.
#include "tlspolicy/service/decision_service.hpp"

#include <atomic>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <shared_mutex>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

namespace tlspolicy::service {
namespace {

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

/// A cold lookup in flight: who waits for it, and the cache generation it
/// started in (a forget() since then means its answer may be stale).
struct Flight {
  std::vector<DecisionCallback> waiting;
  std::uint64_t generation = 0;
};

}  // namespace

struct DecisionService::Impl {
  const policy::PolicyEngine& engine;
  const util::Clock& clock;
  util::Logger log;
  ServiceOptions options;

  mutable std::shared_mutex cache_mu;
  std::unordered_map<std::string, Entry> cache;
  /// Bumped by every forget(): a lookup that started before one may have
  /// read what was forgotten (a purged or refreshed policy), so its decision
  /// answers its waiters but is not kept. Guarded by cache_mu.
  std::uint64_t generation = 0;

  std::mutex flight_mu;
  std::condition_variable work_cv;
  std::unordered_map<std::string, Flight> in_flight;
  std::deque<policy::DecideRequest> queue;
  bool stopping = false;
  // Counters are atomics so the cached path takes no exclusive lock.
  std::atomic<std::uint64_t> hits{0};
  std::atomic<std::uint64_t> misses{0};
  std::atomic<std::uint64_t> joined{0};
  std::atomic<std::uint64_t> overloaded{0};

  std::vector<std::thread> workers;

  Impl(const policy::PolicyEngine& e, const util::Clock& c, util::Logger l, ServiceOptions o)
      : engine(e), clock(c), log(std::move(l)), options(o) {}

  DecisionPtr lookup_cache(const std::string& key) const {
    const std::shared_lock lock{cache_mu};
    const auto it = cache.find(key);
    if (it == cache.end() || it->second.expires <= clock.now()) return nullptr;
    return it->second.decision;
  }

  void store(const std::string& key, const DecisionPtr& d, std::uint64_t started_in) {
    // Temporary failures are never kept: the next query tries again.
    if (d->action == policy::Action::Defer || d->ttl.count() <= 0) return;
    // The TTLs count from when the decision was made (SPEC §3).
    const auto expires = d->decided_at + d->ttl;
    const auto now = clock.now();
    if (expires <= now) return;
    const std::unique_lock lock{cache_mu};
    if (started_in != generation) return;  // forgotten while in flight
    if (cache.size() >= options.max_cached) {
      std::erase_if(cache, [now](const auto& kv) { return kv.second.expires <= now; });
      if (cache.size() >= options.max_cached) cache.erase(cache.begin());
    }
    cache.insert_or_assign(key, Entry{d, expires});
  }

  std::uint64_t current_generation() const {
    const std::shared_lock lock{cache_mu};
    return generation;
  }

  void work() {
    for (;;) {
      policy::DecideRequest request{*dns::DomainName::parse("invalid.invalid"), false};
      {
        std::unique_lock lock{flight_mu};
        work_cv.wait(lock, [this] { return stopping || !queue.empty(); });
        if (stopping) return;
        request = std::move(queue.front());
        queue.pop_front();
      }
      const std::string key = cache_key(request);
      DecisionPtr decision;
      try {
        decision = std::make_shared<const policy::Decision>(engine.decide(request));
        if (options.on_evaluated) options.on_evaluated(*decision);
      } catch (const std::exception& e) {
        log.error("decision failed", {{"domain", request.domain.str()}, {"error", e.what()}});
        decision = refusal(request, "internal error while deciding");
      }
      std::uint64_t started_in = 0;
      {
        const std::lock_guard lock{flight_mu};
        if (auto it = in_flight.find(key); it != in_flight.end())
          started_in = it->second.generation;
      }
      // Stored before the flight ends, so a query arriving now finds it.
      store(key, decision, started_in);
      std::vector<DecisionCallback> waiting;
      {
        const std::lock_guard lock{flight_mu};
        if (auto it = in_flight.find(key); it != in_flight.end()) {
          waiting = std::move(it->second.waiting);
          in_flight.erase(it);
        }
      }
      for (auto& done : waiting) done(decision);
    }
  }
};

DecisionService::DecisionService(const policy::PolicyEngine& engine, const util::Clock& clock,
                                 util::Logger log, ServiceOptions options)
    : m_impl(std::make_shared<Impl>(engine, clock, std::move(log), options)) {
  const std::size_t n = options.workers == 0 ? 1 : options.workers;
  m_impl->workers.reserve(n);
  // Each worker shares the Impl: a worker may outlive the service (see the destructor).
  for (std::size_t i = 0; i < n; ++i)
    m_impl->workers.emplace_back([impl = m_impl] { impl->work(); });
}

DecisionService::~DecisionService() {
  std::unordered_map<std::string, Flight> orphans;
  std::deque<policy::DecideRequest> queued;
  {
    const std::lock_guard lock{m_impl->flight_mu};
    m_impl->stopping = true;
    queued.swap(m_impl->queue);
  }
  m_impl->work_cv.notify_all();
  // A callback may hold the last reference to the service (the daemon's callbacks keep the
  // state they began with alive across a SIGHUP), so this can run on one of the workers,
  // after it answered. That worker cannot join itself: it is detached, and since it shares
  // the Impl, it finds `stopping` set and returns.
  const auto self = std::this_thread::get_id();
  for (auto& t : m_impl->workers) {
    if (t.get_id() == self) {
      t.detach();
    } else {
      t.join();
    }
  }
  {
    const std::lock_guard lock{m_impl->flight_mu};
    orphans.swap(m_impl->in_flight);
  }
  for (const auto& request : queued) {
    auto it = orphans.find(cache_key(request));
    if (it == orphans.end()) continue;
    const auto d = refusal(request, "tlspolicy is shutting down");
    for (auto& done : it->second.waiting) done(d);
    orphans.erase(it);
  }
}

DecisionPtr DecisionService::decide_from_memory(const policy::DecideRequest& request) {
  // The hit path runs for every cached query: a plain request's key is the
  // domain itself, looked up without building a copy.
  auto hit = request.requiretls ? m_impl->lookup_cache(cache_key(request))
                                : m_impl->lookup_cache(request.domain.str());
  if (hit) m_impl->hits.fetch_add(1, std::memory_order_relaxed);
  return hit;
}

void DecisionService::decide(const policy::DecideRequest& request, DecisionCallback done) {
  if (auto hit = decide_from_memory(request)) {
    done(std::move(hit));
    return;
  }
  const std::string key = cache_key(request);
  const auto generation = m_impl->current_generation();
  {
    std::unique_lock lock{m_impl->flight_mu};
    if (auto it = m_impl->in_flight.find(key); it != m_impl->in_flight.end()) {
      m_impl->joined.fetch_add(1, std::memory_order_relaxed);
      it->second.waiting.push_back(std::move(done));
      return;
    }
    if (m_impl->stopping || m_impl->queue.size() >= m_impl->options.max_pending) {
      m_impl->overloaded.fetch_add(1, std::memory_order_relaxed);
      lock.unlock();
      m_impl->log.warn("overloaded: lookup refused", {{"domain", request.domain.str()}});
      done(refusal(request, "tlspolicy is overloaded: too many lookups pending"));
      return;
    }
    m_impl->misses.fetch_add(1, std::memory_order_relaxed);
    auto& flight = m_impl->in_flight[key];
    flight.waiting.push_back(std::move(done));
    flight.generation = generation;
    m_impl->queue.push_back(request);
  }
  m_impl->work_cv.notify_one();
}

DecisionPtr DecisionService::cached(const policy::DecideRequest& request) const {
  return m_impl->lookup_cache(cache_key(request));
}

void DecisionService::forget(const std::string& domain) {
  const std::unique_lock lock{m_impl->cache_mu};
  ++m_impl->generation;  // lookups in flight now will not be kept
  if (domain.empty()) {
    m_impl->cache.clear();
    return;
  }
  m_impl->cache.erase(domain);
  m_impl->cache.erase(domain + "|requiretls");
}

ServiceStats DecisionService::stats() const {
  ServiceStats s;
  s.hits = m_impl->hits.load(std::memory_order_relaxed);
  s.misses = m_impl->misses.load(std::memory_order_relaxed);
  s.joined = m_impl->joined.load(std::memory_order_relaxed);
  s.overloaded = m_impl->overloaded.load(std::memory_order_relaxed);
  {
    const std::lock_guard lock{m_impl->flight_mu};
    s.in_flight = m_impl->in_flight.size();
  }
  const std::shared_lock lock{m_impl->cache_mu};
  s.cached = m_impl->cache.size();
  return s;
}

}  // namespace tlspolicy::service
