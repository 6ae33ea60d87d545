// SPDX-License-Identifier: Apache-2.0
//
// The admin op "status" gathered from the stores (status.hpp).
#include "status.hpp"

#include <algorithm>
#include <array>
#include <chrono>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "tlspolicy/cache/report_store.hpp"
#include "tlspolicy/tlsrpt/model.hpp"

namespace tlspolicy::daemon {
namespace {

using namespace std::chrono_literals;

/// Most first, then by name: a stable order for people and tests.
template <class T, class Count, class Name>
void sort_by_count(std::vector<T>& items, Count count, Name name) {
  std::sort(items.begin(), items.end(), [&](const T& a, const T& b) {
    return count(a) != count(b) ? count(a) > count(b) : name(a) < name(b);
  });
}

Result<void> add_policies(const Runtime& rt, proto::StatusSummary& s) {
  auto policies = rt.cache->list();
  if (!policies) return Unexpected{policies.error()};
  s.policies_stored = policies->size();
  constexpr std::array k_modes{sts::StsMode::Enforce, sts::StsMode::Testing, sts::StsMode::None};
  for (const auto mode : k_modes) {
    const auto n = std::count_if(policies->begin(), policies->end(),
                                 [mode](const auto& p) { return p.policy.mode == mode; });
    if (n > 0)
      s.policies_by_mode.push_back(
          {std::string(sts::to_string(mode)), static_cast<std::uint64_t>(n)});
  }
  s.policies_expiring_within_day = static_cast<std::uint64_t>(std::count_if(
      policies->begin(), policies->end(),
      [&](const auto& p) { return p.expires_at > s.now && p.expires_at <= s.now + 24h; }));
  return {};
}

Result<void> add_failures(const Runtime& rt, proto::StatusSummary& s) {
  const auto today = tlsrpt::day_of(s.now);
  const std::array days{today - std::chrono::days(1), today};
  s.failures_since = days.front();
  std::vector<cache::ReportDaySummary> totals;
  for (const auto day : days) {
    auto of_day = rt.report_store->days(cache::ReportFilter{day, std::nullopt});
    if (!of_day) return Unexpected{of_day.error()};
    totals.insert(totals.end(), of_day->begin(), of_day->end());
  }
  std::map<std::string, proto::DomainFailures> by_domain;
  for (const auto& t : totals) {
    if (t.failures == 0) continue;
    auto& f = by_domain[t.domain];
    f.domain = t.domain;
    f.failures += t.failures;
  }
  for (const auto& t : totals) {  // successes of the domains that failed, on either day
    if (auto it = by_domain.find(t.domain); it != by_domain.end()) {
      it->second.successes += t.successes;
    }
  }
  s.failure_domains = by_domain.size();
  for (auto& [domain, f] : by_domain) s.failures.push_back(std::move(f));
  sort_by_count(
      s.failures, [](const auto& f) { return f.failures; }, [](const auto& f) { return f.domain; });
  if (s.failures.size() > proto::k_status_max_domains) {
    s.failures.resize(proto::k_status_max_domains);
  }
  for (auto& f : s.failures) {
    std::map<std::string, std::uint64_t> types;
    for (const auto day : days) {
      auto policies = rt.report_store->aggregate(day, f.domain);
      if (!policies) return Unexpected{policies.error()};
      for (const auto& p : *policies) {
        for (const auto& d : p.details) {
          types[std::string(tlsrpt::to_string(d.detail.result_type))] += d.count;
        }
      }
    }
    for (const auto& [type, count] : types) f.result_types.push_back({type, count});
    sort_by_count(
        f.result_types, [](const auto& c) { return c.count; },
        [](const auto& c) { return c.name; });
    if (f.result_types.size() > proto::k_status_max_result_types) {
      f.result_types.resize(proto::k_status_max_result_types);
    }
  }
  return {};
}

Result<void> add_reports(const Runtime& rt, proto::StatusSummary& s) {
  s.next_made_at = tlsrpt::day_of(s.now) + std::chrono::days(1);
  auto reports = rt.report_store->reports(cache::ReportFilter{});
  if (!reports) return Unexpected{reports.error()};
  for (const auto& r : *reports) {
    switch (r.state) {
      case cache::ReportState::Pending:
        ++s.reports_pending;
        if (!s.next_attempt_at || r.next_attempt_at < *s.next_attempt_at) {
          s.next_attempt_at = r.next_attempt_at;
        }
        break;
      case cache::ReportState::Failed:
        ++s.reports_failed;
        break;
      case cache::ReportState::Sent:
        ++s.reports_sent;
        break;
      case cache::ReportState::Skipped:
        ++s.reports_skipped;
        break;
    }
  }
  return {};
}

}  // namespace

Result<proto::StatusSummary> gather_status(const State& state, const cache::StoreStatus& store) {
  const auto& rt = *state.runtime;
  proto::StatusSummary s;
  s.now = rt.clock.now();
  s.node = rt.settings.fleet.node;
  s.store = store;
  s.decisions_cached = state.service->stats().cached;
  for (const auto& [action, n] : state.service->cached_by_action()) {
    s.decisions_by_action.push_back({std::string(policy::to_string(action)), n});
  }
  s.tlsrpt_enabled = rt.settings.tlsrpt.enabled;
  s.tlsrpt_send = rt.settings.tlsrpt.send;
  for (const auto add : {add_policies, add_failures, add_reports}) {
    if (auto r = add(rt, s); !r) return Unexpected{r.error()};
  }
  return s;
}

}  // namespace tlspolicy::daemon
