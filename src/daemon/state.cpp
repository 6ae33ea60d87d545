// SPDX-License-Identifier: Apache-2.0
//
// Building and retiring a configuration generation (state.hpp).
#include "state.hpp"

#include <chrono>
#include <utility>

namespace tlspolicy::daemon {
namespace {

using namespace std::chrono_literals;

/// Loop thread: waits (without blocking the loop) until nothing of `s` runs, then deletes it.
void retire(Context& ctx, State* s) {
  auto& rt = *s->runtime;
  const bool idle = s->service->running() == 0 && rt.engine->active() == 0 && s->jobs == 0;
  if (!idle) {
    ctx.loop.after(20ms, [&ctx, s] { retire(ctx, s); });
    return;
  }
  ctx.live.erase(s);
  delete s;  // NOLINT: the shared_ptr's deleter handed ownership over
  --ctx.generations;
}

}  // namespace

bool record_results(Runtime& rt, TlsRptCounters& counters, const tlsrpt::ResultBatch& batch) {
  if (auto ok = rt.reports->record(batch); !ok) {
    ++counters.store_errors;
    rt.log.warn("TLS-RPT results not stored",
                {{"domain", batch.domain},
                 {"origin", std::string(tlsrpt::to_string(batch.origin))},
                 {"error", ok.error().detail}});
    return false;
  }
  return true;
}

Result<std::shared_ptr<State>> build_state(const config::Settings& settings, Context& ctx) {
  auto rt = build_runtime(settings, ctx.log, ctx.loop, ctx.pool, ctx.instruments.hooks());
  if (!rt) return Unexpected{rt.error()};
  auto owned = std::make_unique<State>();
  owned->runtime = std::move(*rt);
  Runtime* runtime = owned->runtime.get();
  State* raw = owned.get();
  service::ServiceOptions options;
  options.max_in_flight = settings.limits.max_in_flight;
  options.deadline = settings.limits.decision_deadline;
  options.counters = ctx.instruments.service;
  if (settings.tlsrpt.enabled) {
    // RFC 8460 §4.3: the engine's own failures, for domains that ask for reports, counted
    // on the store pool (the loop never waits for SQLite). The generation outlives the jobs:
    // retire() waits for State::jobs.
    options.on_evaluated = [s = raw, &ctx](const policy::Decision& d) {
      if (!d.tlsrpt || d.tlsrpt_results.empty()) return;
      tlsrpt::ResultBatch batch{d.domain, "", s->runtime->clock.now(), tlsrpt::Origin::Engine,
                                d.tlsrpt_results};
      ++s->jobs;
      ctx.pool.submit([s, &ctx, batch = std::move(batch)] {
        if (record_results(*s->runtime, ctx.counters, batch)) ++ctx.counters.engine;
        --s->jobs;
      });
    };
  }
  owned->service = std::make_unique<service::DecisionService>(
      *runtime->engine, ctx.loop, runtime->clock, ctx.log.with_name("service"), std::move(options));
  if (runtime->fleet) {
    // Another node changed or purged a policy (or this node reconnected and may have missed
    // that): the current generation's decisions resting on it go.
    runtime->fleet->start([&ctx](const std::string& domain) {
      ctx.loop.post([&ctx, domain] {
        if (auto current = ctx.state()) current->service->forget(domain);
      });
    });
  }
  ++ctx.generations;
  ctx.loop.post([&ctx, raw] { ctx.live.insert(raw); });
  // A reload lets what is in flight in the old generation finish (its waiters get real
  // answers); shutdown() ends it at once.
  return std::shared_ptr<State>(owned.release(),
                                [&ctx](State* s) { ctx.loop.post([&ctx, s] { retire(ctx, s); }); });
}

void shutdown(Context& ctx) {
  ctx.stopping = true;
  for (State* s : ctx.live) {
    s->service->stop();
    s->runtime->resolver->cancel_all();
    s->runtime->fetcher->cancel_all();
  }
}

}  // namespace tlspolicy::daemon
