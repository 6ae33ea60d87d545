// SPDX-License-Identifier: Apache-2.0
//
// Composition root: settings → resolver, fetcher, store, discovery, engine.
#include "runtime.hpp"

#include <utility>

namespace tlspolicy::cli {

util::Level parse_log_level(std::string_view text) {
  if (text == "debug") return util::Level::Debug;
  if (text == "notice") return util::Level::Notice;
  if (text == "warning") return util::Level::Warning;
  if (text == "error") return util::Level::Error;
  return util::Level::Info;
}

Result<std::unique_ptr<Runtime>> build_runtime(const config::Settings& settings, util::Logger log) {
  auto rt = std::make_unique<Runtime>();
  rt->settings = settings;
  rt->log = std::move(log);

  if (settings.resolver.mode != "trust-ad") {
    return fail(Errc::ConfigValue, Retry::Permanent,
                "resolver.mode = \"" + settings.resolver.mode +
                    "\" is not available in this version; use \"trust-ad\" with a local "
                    "validating resolver in resolver.servers");
  }
  dns::ResolverOptions ro;
  for (const auto& s : settings.resolver.servers) {
    auto addr = dns::parse_server_address(s);
    if (!addr) return Unexpected{addr.error()};
    ro.servers.push_back(*addr);
  }
  ro.timeout = settings.resolver.timeout;
  ro.attempts = settings.resolver.attempts;
  auto resolver = dns::make_trust_ad_resolver(ro);
  if (!resolver) return Unexpected{resolver.error()};
  rt->resolver = std::move(*resolver);

  fetch::FetcherOptions fo;
  fo.ca_file = settings.mta_sts.ca_file;
  fo.allow_private_addresses = settings.mta_sts.allow_private_addresses;
  fo.connect_timeout = settings.mta_sts.connect_timeout;
  fo.total_timeout = settings.mta_sts.fetch_timeout;
  fo.max_body_bytes = settings.mta_sts.max_policy_bytes;
  fo.connect_to = settings.mta_sts.connect_to;
  auto fetcher = fetch::make_curl_fetcher(fo);
  if (!fetcher) return Unexpected{fetcher.error()};
  rt->fetcher = std::move(*fetcher);

  cache::SqliteOptions co;
  co.path = settings.store.path;
  co.busy_timeout_ms = static_cast<int>(settings.store.busy_timeout.count());
  auto store = cache::open_sqlite_cache(co);
  if (!store) return Unexpected{store.error()};
  rt->cache = std::move(*store);

  rt->sts = std::make_unique<sts::StsDiscovery>(*rt->resolver, *rt->fetcher, *rt->cache, rt->clock,
                                                rt->log.with_name("sts"),
                                                sts::StsOptions{settings.mta_sts.retry_interval});
  rt->engine = std::make_unique<policy::PolicyEngine>(
      *rt->resolver, *rt->sts, rt->clock, rt->log.with_name("engine"),
      policy::EngineOptions{settings.policies, settings.mta_sts.exclude});
  return rt;
}

}  // namespace tlspolicy::cli
