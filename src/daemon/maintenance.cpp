// SPDX-License-Identifier: Apache-2.0
//
// The daemon's own work on the engine loop (maintenance.hpp).
#include "maintenance.hpp"

#include <algorithm>
#include <chrono>
#include <utility>

#include "tlspolicy/event/offload.hpp"
#include "tlspolicy/event/task.hpp"
#include "tlspolicy/sts/discovery.hpp"
#include "tlspolicy/tlsrpt/datagram.hpp"

#include <sys/epoll.h>
#include <sys/socket.h>

namespace tlspolicy::daemon {
namespace {

using namespace std::chrono_literals;

constexpr auto k_refresh_every = std::chrono::minutes(10);
constexpr auto k_first_tick = std::chrono::seconds(5);
constexpr auto k_tick_every = std::chrono::minutes(1);
/// Policies refreshed at once by a refresh pass: enough to finish thousands within the
/// period at internet round-trip times, few enough to leave the decisions alone.
constexpr std::size_t k_refresh_batch = 8;
/// Datagrams read per readiness callback: the loop serves the decisions in between.
constexpr int k_datagrams_per_wakeup = 64;
/// Store-pool jobs waiting beyond which a datagram is dropped (and counted) rather than
/// queued: a flood must not grow memory without bound.
constexpr std::size_t k_max_pool_backlog = 10000;

// STS-34/STS-35: one stored policy fetched anew; a failed refresh keeps it and is logged as
// a warning unless its mode is none.
event::Task<bool> refresh_one(State& state, cache::CachedPolicy p) {
  auto& rt = *state.runtime;
  const auto domain = dns::DomainName::parse(p.domain);
  if (!domain) co_return false;
  auto fresh = co_await rt.sts->refresh(*domain, p);
  if (fresh) {
    state.service->forget(p.domain);
    rt.log.info("policy refreshed", {{"domain", p.domain}, {"id", fresh->id}});
    co_return true;
  }
  if (fresh.error().code == Errc::Claimed) {  // another node of the fleet refreshes it now
    rt.log.debug("policy refresh left to another node",
                 {{"domain", p.domain}, {"detail", fresh.error().detail}});
    co_return false;
  }
  const auto level = p.policy.mode == sts::StsMode::None ? util::Level::Info : util::Level::Warning;
  rt.log.log(level, "policy refresh failed; the stored policy stays until it expires",
             {{"domain", p.domain},
              {"expires", util::format_rfc3339(p.expires_at)},
              {"error", fresh.error().detail}});
  co_return false;
}

event::Task<void> refresh_pass(Context& ctx, std::shared_ptr<State> state) {
  auto& rt = *state->runtime;
  const auto now = rt.clock.now();
  auto stored = co_await event::offload(ctx.pool, [&] {
    (void)rt.cache->purge_expired(now);
    return rt.cache->list();
  });
  if (!stored) {
    rt.log.warn("policy refresh: cannot read the store", {{"error", stored.error().detail}});
    co_return;
  }
  std::vector<cache::CachedPolicy> due;
  for (auto& p : *stored) {
    if (sts::refresh_due(p, now)) due.push_back(std::move(p));
  }
  for (std::size_t i = 0; i < due.size() && !ctx.stopping; i += k_refresh_batch) {
    std::vector<event::Task<bool>> batch;
    for (std::size_t j = i; j < std::min(due.size(), i + k_refresh_batch); ++j) {
      batch.push_back(refresh_one(*state, std::move(due[j])));
    }
    (void)co_await event::when_all(std::move(batch));
  }
}

}  // namespace

Maintenance::Maintenance(Context& ctx, util::Fd datagrams)
    : m_ctx(ctx), m_socket(std::move(datagrams)) {
  if (m_socket) {
    m_buffer.resize(tlsrpt::k_max_datagram + 1);
    m_watch = ctx.loop.watch(m_socket.get(), EPOLLIN, [this](std::uint32_t) { receive(); });
  }
  m_refresh_timer = ctx.loop.after(k_refresh_every, [this] { refresh(); });
  m_tick_timer = ctx.loop.after(k_first_tick, [this] { tick(); });
}

Maintenance::~Maintenance() {
  m_ctx.loop.cancel(m_refresh_timer);
  m_ctx.loop.cancel(m_tick_timer);
}

void Maintenance::receive() {
  for (int i = 0; i < k_datagrams_per_wakeup; ++i) {
    const auto n = ::recv(m_socket.get(), m_buffer.data(), m_buffer.size(), MSG_TRUNC);
    if (n < 0) return;  // EAGAIN: drained (other errors: the watch calls again)
    const auto size = static_cast<std::size_t>(n);
    count(std::string_view{m_buffer.data(), std::min(size, m_buffer.size())}, size);
  }
}

void Maintenance::count(std::string_view bytes, std::size_t size) {
  auto& counters = m_ctx.counters;
  ++counters.datagrams;
  auto state = m_ctx.state();
  auto& rt = *state->runtime;
  if (!rt.settings.tlsrpt.enabled) return;
  auto batch = size > tlsrpt::k_max_datagram
                   ? Result<tlsrpt::ResultBatch>{fail(
                         Errc::InvalidArgument, Retry::Permanent,
                         "datagram of " + std::to_string(size) + " bytes is too large")}
                   : tlsrpt::parse_datagram(bytes, rt.clock.now());
  if (!batch) {
    ++counters.malformed;
    rt.log.warn("TLS-RPT datagram dropped", {{"error", batch.error().detail}});
    return;
  }
  if (m_ctx.pool.backlog() > k_max_pool_backlog) {
    ++counters.store_errors;
    rt.log.warn("TLS-RPT results dropped: the store is not keeping up",
                {{"domain", batch->domain}, {"backlog", std::to_string(m_ctx.pool.backlog())}});
    return;
  }
  m_ctx.pool.submit([&ctx = m_ctx, state = std::move(state), batch = std::move(*batch)] {
    record_results(*state->runtime, ctx.counters, batch);
  });
}

void Maintenance::refresh() {
  m_refresh_timer = m_ctx.loop.after(k_refresh_every, [this] { refresh(); });
  if (*m_refreshing) return;  // the last pass is still at work
  *m_refreshing = true;
  event::spawn(refresh_pass(m_ctx, m_ctx.state()), [flag = m_refreshing] { *flag = false; });
}

void Maintenance::tick() {
  m_tick_timer = m_ctx.loop.after(k_tick_every, [this] { tick(); });
  auto state = m_ctx.state();
  if (!state->runtime->settings.tlsrpt.enabled || m_ticking->exchange(true)) return;
  m_ctx.pool.submit([state = std::move(state), flag = m_ticking] {
    state->runtime->reports->tick();
    *flag = false;
  });
}

}  // namespace tlspolicy::daemon
