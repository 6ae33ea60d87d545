// SPDX-License-Identifier: Apache-2.0
//
// Runtime: builds the concrete components from loaded settings (the one
// composition root of the program) and owns them for the process lifetime.
#pragma once

#include <memory>

#include "tlspolicy/cache/policy_cache.hpp"
#include "tlspolicy/cache/report_store.hpp"
#include "tlspolicy/config/settings.hpp"
#include "tlspolicy/dane/dane.hpp"
#include "tlspolicy/dns/resolver.hpp"
#include "tlspolicy/fetch/https_fetcher.hpp"
#include "tlspolicy/policy/engine.hpp"
#include "tlspolicy/service/report_service.hpp"
#include "tlspolicy/sts/discovery.hpp"
#include "tlspolicy/util/clock.hpp"
#include "tlspolicy/util/log.hpp"
#include "tlspolicy/util/result.hpp"

namespace tlspolicy::cli {

struct Runtime {
  config::Settings settings;
  util::SystemClock clock;
  util::Logger log;
  std::unique_ptr<dns::Resolver> resolver;
  std::unique_ptr<fetch::HttpsFetcher> fetcher;
  std::unique_ptr<cache::PolicyCache> cache;
  std::unique_ptr<dane::DaneLookup> dane;
  std::unique_ptr<sts::StsDiscovery> sts;
  std::unique_ptr<policy::PolicyEngine> engine;
  std::unique_ptr<fetch::HttpsPoster> poster;        ///< TLS-RPT https: reports
  std::unique_ptr<cache::ReportStore> report_store;  ///< TLS-RPT results and reports
  std::unique_ptr<service::ReportService> reports;   ///< TLS-RPT (RFC 8460)
};

/// Parses "debug" | "info" | "notice" | "warning" | "error".
[[nodiscard]] util::Level parse_log_level(std::string_view text);

/// Builds every component. Errors: InvalidArgument/ConfigValue for settings
/// that cannot be honoured (unreadable trust anchor, bad server address),
/// CacheIo/CacheSchema when the store cannot be opened.
[[nodiscard]] Result<std::unique_ptr<Runtime>> build_runtime(const config::Settings& settings,
                                                             util::Logger log);

}  // namespace tlspolicy::cli
