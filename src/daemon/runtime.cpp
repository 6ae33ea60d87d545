// SPDX-License-Identifier: Apache-2.0
//
// Composition root: settings → resolver, fetcher, store, discovery, engine.
#include "tlspolicy/daemon/runtime.hpp"

#include <chrono>
#include <future>
#include <thread>
#include <utility>
#include <vector>

#include "tlspolicy/event/task.hpp"

namespace tlspolicy::daemon {

namespace {

/// A [[policy]] table as the engine's rule: the one place config meets policy.
policy::LocalRule local_rule(const config::LocalPolicy& p) {
  policy::LocalRule rule;
  rule.domain = p.domain;
  rule.match = p.match;
  switch (p.action) {
    case config::PolicyAction::RequireTls:
      rule.action = policy::LocalAction::RequireTls;
      break;
    case config::PolicyAction::Opportunistic:
      rule.action = policy::LocalAction::Opportunistic;
      break;
  }
  switch (p.verify) {
    case config::PolicyVerify::Dane:
      rule.verify = policy::Verify::Dane;
      break;
    case config::PolicyVerify::Pkix:
      rule.verify = policy::Verify::Pkix;
      break;
    case config::PolicyVerify::None:
      rule.verify = policy::Verify::None;
      break;
  }
  return rule;
}

std::vector<policy::LocalRule> local_rules(const std::vector<config::LocalPolicy>& policies) {
  std::vector<policy::LocalRule> out;
  out.reserve(policies.size());
  for (const auto& p : policies) out.push_back(local_rule(p));
  return out;
}

}  // namespace

Result<std::unique_ptr<Runtime>> build_runtime(const config::Settings& settings, util::Logger log,
                                               event::Loop& loop, event::Offload& offload,
                                               const RuntimeHooks& hooks) {
  auto rt = std::make_unique<Runtime>(loop, offload);
  rt->settings = settings;
  rt->log = std::move(log);

  std::vector<dns::ServerAddress> servers;
  for (const auto& text : settings.resolver.servers) {
    auto addr = dns::parse_server_address(text);
    if (!addr) return Unexpected{addr.error()};
    servers.push_back(*addr);
  }
  auto resolver = [&]() -> Result<std::unique_ptr<dns::Resolver>> {
    if (settings.resolver.mode == config::ResolverMode::TrustAd) {
      return dns::make_trust_ad_resolver(
          loop,
          dns::ResolverOptions{servers, settings.resolver.timeout, settings.resolver.attempts});
    }
    return dns::make_validating_resolver(
        loop,
        dns::ValidatingResolverOptions{servers, settings.resolver.trust_anchor,
                                       settings.resolver.root_hints, settings.resolver.timeout});
  }();
  if (!resolver) return Unexpected{resolver.error()};
  rt->resolver = hooks.resolver ? hooks.resolver(std::move(*resolver)) : std::move(*resolver);

  fetch::FetcherOptions fo;
  fo.ca_file = settings.mta_sts.ca_file;
  fo.allow_private_addresses = settings.mta_sts.allow_private_addresses;
  fo.connect_timeout = settings.mta_sts.connect_timeout;
  fo.total_timeout = settings.mta_sts.fetch_timeout;
  fo.max_body_bytes = settings.mta_sts.max_policy_bytes;
  fo.connect_to = settings.mta_sts.connect_to;
  auto fetcher = fetch::make_curl_fetcher(loop, fo);
  if (!fetcher) return Unexpected{fetcher.error()};
  rt->fetcher = hooks.fetcher ? hooks.fetcher(std::move(*fetcher)) : std::move(*fetcher);
  // TLS-RPT https: reports use the same HTTPS client settings (RFC 8460 §5.4).
  auto poster = fetch::make_curl_poster(fo);
  if (!poster) return Unexpected{poster.error()};
  rt->poster = std::move(*poster);

  cache::SqliteOptions co;
  co.path = settings.store.path;
  co.busy_timeout_ms = static_cast<int>(settings.store.busy_timeout.count());
  if (settings.store.url.empty()) {
    auto store = cache::open_sqlite_cache(co);
    if (!store) return Unexpected{store.error()};
    rt->cache = std::move(*store);
    auto report_store = cache::open_sqlite_report_store(co);
    if (!report_store) return Unexpected{report_store.error()};
    rt->report_store = std::move(*report_store);
  } else {
    cache::FleetOptions fo_store;
    fo_store.url = settings.store.url;
    fo_store.node = settings.fleet.node;
    fo_store.local = co;
    fo_store.timeout = settings.store.timeout;
    fo_store.log = rt->log.with_name("store");
    auto fleet = cache::open_fleet_store(fo_store);
    if (!fleet) return Unexpected{fleet.error()};
    rt->cache = std::move(fleet->policies);
    rt->report_store = std::move(fleet->reports);
    rt->fleet = std::move(fleet->sync);
  }
  if (hooks.cache) rt->cache = hooks.cache(std::move(rt->cache));

  sts::StsOptions so;
  so.retry_interval = settings.mta_sts.retry_interval;
  // The lease outlasts one fetch, connect and transfer included.
  so.claim_lease = std::chrono::duration_cast<std::chrono::seconds>(
                       settings.mta_sts.connect_timeout + settings.mta_sts.fetch_timeout) +
                   std::chrono::seconds{5};
  so.loop = &loop;
  rt->sts =
      std::make_unique<sts::StsDiscovery>(*rt->resolver, *rt->fetcher, *rt->cache, rt->offload,
                                          rt->clock, rt->log.with_name("sts"), so);
  rt->dane = std::make_unique<dane::DaneLookup>(*rt->resolver, rt->log.with_name("dane"));
  rt->engine = std::make_unique<policy::PolicyEngine>(
      *rt->resolver, *rt->dane, *rt->sts, rt->clock, rt->log.with_name("engine"),
      policy::EngineOptions{local_rules(settings.policies), settings.mta_sts.exclude,
                            settings.tlsrpt.enabled, std::chrono::seconds{300},
                            settings.mta_sts.retry_interval, settings.limits.max_mx_hosts});

  const auto& r = settings.tlsrpt;
  service::ReportOptions ro;
  ro.send = r.send;
  ro.organization_name = r.organization_name;
  ro.contact_info = r.contact_info;
  ro.submitter = r.submitter;
  ro.sendmail.command = r.sendmail;
  ro.send_success_reports = r.send_success_reports;
  ro.max_delay = r.max_delay;
  ro.keep_days = r.keep_days;
  ro.node = settings.fleet.node;
  ro.counters = hooks.report_counters;
  rt->reports = std::make_unique<service::ReportService>(*rt->report_store, loop, *rt->resolver,
                                                         rt->poster.get(), rt->clock,
                                                         rt->log.with_name("tlsrpt"), ro);
  return rt;
}

Standalone::Standalone()
    : m_thread(std::make_unique<event::LoopThread>("tlspolicy-loop")),
      m_offload(std::make_unique<event::InlineOffload>()) {}

Result<std::unique_ptr<Standalone>> Standalone::build(const config::Settings& settings,
                                                      util::Logger log) {
  std::unique_ptr<Standalone> s{new Standalone()};
  auto rt = build_runtime(settings, std::move(log), s->m_thread->loop(), *s->m_offload);
  if (!rt) return Unexpected{rt.error()};
  s->m_runtime = std::move(*rt);
  return s;
}

Standalone::~Standalone() {
  if (m_runtime) {
    // Lookups still running (a speculative TLSA query) end at once; the runtime is destroyed
    // on the loop thread once nothing of it runs.
    auto& rt = *m_runtime;
    m_thread->call([&rt] {
      rt.resolver->cancel_all();
      rt.fetcher->cancel_all();
    });
    for (bool idle = false; !idle; std::this_thread::sleep_for(std::chrono::milliseconds(1))) {
      m_thread->call([&] { idle = rt.engine->active() == 0; });
    }
    m_thread->call([this] { m_runtime.reset(); });
  }
  m_thread->stop();
}

policy::Decision Standalone::decide(const policy::DecideRequest& request) {
  std::promise<policy::Decision> promise;
  auto decision = promise.get_future();
  m_thread->loop().post([&] {
    event::spawn(m_runtime->engine->decide(request),
                 [&promise](policy::Decision d) { promise.set_value(std::move(d)); });
  });
  return decision.get();
}

}  // namespace tlspolicy::daemon
