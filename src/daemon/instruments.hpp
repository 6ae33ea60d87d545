// SPDX-License-Identifier: Apache-2.0
//
// Private to src/daemon: the counters behind /metrics that the components do not keep
// themselves, and the decorators that count them around the resolver, the fetcher and the
// policy store (docs/operations.md, "Metrics").
// DESIGN
//   The components stay unaware of metrics: build_runtime() wraps each one it builds
//   (RuntimeHooks) in a decorator that delegates every call and counts its outcome. The
//   counters live in Instruments, which outlives every configuration generation, so a reload
//   does not reset them. Nothing here is on the cached path: DNS, HTTPS and store calls are
//   made by cold lookups only.
// THREADS
//   Counters are relaxed atomics: the decorators run on the engine loop (resolver, fetcher)
//   and the store pool (store); /metrics reads them on the metrics server's thread.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>

#include "tlspolicy/cache/policy_cache.hpp"
#include "tlspolicy/daemon/runtime.hpp"
#include "tlspolicy/dns/resolver.hpp"
#include "tlspolicy/fetch/https_fetcher.hpp"
#include "tlspolicy/proto/metrics.hpp"
#include "tlspolicy/service/decision_service.hpp"
#include "tlspolicy/service/report_service.hpp"

namespace tlspolicy::daemon {

struct Instruments {
  /// The DecisionService counters of every generation.
  std::shared_ptr<service::ServiceCounters> service = std::make_shared<service::ServiceCounters>();
  std::array<std::atomic<std::uint64_t>, proto::k_dns_results> dns{};
  std::array<std::atomic<std::uint64_t>, proto::k_fetch_results> fetches{};
  std::array<std::atomic<std::uint64_t>, proto::k_fetch_buckets.size() + 1> fetch_buckets{};
  std::atomic<std::uint64_t> fetch_microseconds{0};
  /// [PolicyChange][StsMode]
  std::array<std::atomic<std::uint64_t>, proto::k_policy_changes * proto::k_policy_modes>
      policies_stored{};
  std::atomic<std::uint64_t> policies_expired{0};
  /// The ReportService counters of every generation.
  std::shared_ptr<service::ReportCounters> reports = std::make_shared<service::ReportCounters>();
  std::array<std::atomic<std::uint64_t>, proto::k_store_ops> store_errors{};

  /// Hooks for build_runtime() that wrap the resolver, fetcher and store in the decorators
  /// below. `this` must outlive what they build.
  [[nodiscard]] RuntimeHooks hooks();
};

/// What a lookup's result counts as.
[[nodiscard]] proto::DnsResult dns_result(const Result<dns::DnsAnswer>& r);
/// What a fetch's result counts as.
[[nodiscard]] proto::FetchResult fetch_result(const Result<fetch::HttpsResponse>& r);

/// Delegates to `inner`, counting each lookup's result in `m.dns`.
[[nodiscard]] std::unique_ptr<dns::Resolver> counting_resolver(std::unique_ptr<dns::Resolver> inner,
                                                               Instruments& m);
/// Delegates to `inner`, counting each fetch's result and duration.
[[nodiscard]] std::unique_ptr<fetch::HttpsFetcher> counting_fetcher(
    std::unique_ptr<fetch::HttpsFetcher> inner, Instruments& m);
/// Delegates to `inner`, counting failed calls, stored policies (compared with the one they
/// replace: one extra get() per put(), a rare call) and expired ones.
[[nodiscard]] std::unique_ptr<cache::PolicyCache> counting_cache(
    std::unique_ptr<cache::PolicyCache> inner, Instruments& m);

}  // namespace tlspolicy::daemon
