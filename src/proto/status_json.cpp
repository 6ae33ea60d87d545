// SPDX-License-Identifier: Apache-2.0
//
// The admin op "status" ↔ JSON (include/tlspolicy/proto/status_json.hpp for the format).
// Rendering never throws on content; parsing uses the non-throwing nlohmann API and reads
// missing or mistyped members as their defaults.
#include "tlspolicy/proto/status_json.hpp"

#include <string>
#include <utility>

#include <nlohmann/json.hpp>

#include "tlspolicy/proto/cache_json.hpp"

#include "time_text.hpp"

namespace tlspolicy::proto {
namespace {

using nlohmann::ordered_json;

ordered_json counts_json(const std::vector<NamedCount>& counts, const char* key) {
  auto out = ordered_json::array();
  for (const auto& c : counts) out.push_back({{key, c.name}, {"count", c.count}});
  return out;
}

const ordered_json& member(const ordered_json& obj, const char* name) {
  static const ordered_json k_null;
  if (!obj.is_object()) return k_null;
  const auto it = obj.find(name);
  return it == obj.end() ? k_null : *it;
}

std::uint64_t u64(const ordered_json& obj, const char* name) {
  const auto& m = member(obj, name);
  return m.is_number_unsigned() ? m.get<std::uint64_t>() : 0;
}

std::string text(const ordered_json& obj, const char* name) {
  const auto& m = member(obj, name);
  return m.is_string() ? m.get<std::string>() : std::string{};
}

bool flag(const ordered_json& obj, const char* name) {
  const auto& m = member(obj, name);
  return m.is_boolean() && m.get<bool>();
}

/// A time member: absent or null → nullopt; present but unreadable → an error.
Result<std::optional<util::TimePoint>> time_at(const ordered_json& obj, const char* name) {
  const auto& m = member(obj, name);
  if (!m.is_string()) return std::optional<util::TimePoint>{};
  const auto t = detail::parse_rfc3339_utc(m.get<std::string>());
  if (!t) {
    return fail(Errc::InvalidArgument, Retry::Permanent,
                std::string{"status JSON: \""} + name + "\" is not an RFC 3339 UTC time");
  }
  return std::optional<util::TimePoint>{*t};
}

std::vector<NamedCount> counts(const ordered_json& obj, const char* name, const char* key) {
  std::vector<NamedCount> out;
  const auto& list = member(obj, name);
  if (!list.is_array()) return out;
  for (const auto& entry : list) out.push_back({text(entry, key), u64(entry, "count")});
  return out;
}

cache::StoreStatus store_from_json(const ordered_json& j) {
  cache::StoreStatus s;
  s.backend = text(j, "backend");
  s.node = text(j, "node");
  s.healthy = flag(j, "healthy");
  s.outages = u64(j, "outages");
  s.errors = u64(j, "errors");
  s.last_error = text(j, "last_error");
  s.unsynced_policies = static_cast<std::size_t>(u64(j, "unsynced_policies"));
  return s;
}

}  // namespace

std::string status_summary_json(const StatusSummary& s) {
  ordered_json j;
  j["now"] = util::format_rfc3339(s.now);
  j["node"] = s.node;
  j["store"] = ordered_json::parse(store_status_json(s.store), nullptr, false);
  j["decisions"] = {{"cached", s.decisions_cached},
                    {"by_action", counts_json(s.decisions_by_action, "action")}};
  j["policies"] = {{"stored", s.policies_stored},
                   {"by_mode", counts_json(s.policies_by_mode, "mode")},
                   {"expiring_within_day", s.policies_expiring_within_day}};
  auto failures = ordered_json::array();
  for (const auto& f : s.failures) {
    failures.push_back({{"domain", f.domain},
                        {"failures", f.failures},
                        {"successes", f.successes},
                        {"result_types", counts_json(f.result_types, "type")}});
  }
  ordered_json reports = {
      {"pending", s.reports_pending},
      {"failed", s.reports_failed},
      {"sent", s.reports_sent},
      {"skipped", s.reports_skipped},
      {"next_attempt_at",
       s.next_attempt_at ? ordered_json(util::format_rfc3339(*s.next_attempt_at)) : nullptr},
      {"next_made_at", util::format_rfc3339(s.next_made_at)}};
  j["tlsrpt"] = {{"enabled", s.tlsrpt_enabled},
                 {"send", s.tlsrpt_send},
                 {"since", util::format_rfc3339(s.failures_since)},
                 {"failure_domains", s.failure_domains},
                 {"failures", std::move(failures)},
                 {"reports", std::move(reports)}};
  return j.dump(-1, ' ', false, ordered_json::error_handler_t::replace);
}

Result<StatusSummary> status_summary_from_json(std::string_view json) {
  const auto j = ordered_json::parse(json, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    return fail(Errc::InvalidArgument, Retry::Permanent, "status JSON: not a JSON object");
  }
  StatusSummary s;
  const auto read_time = [&](const ordered_json& obj, const char* name,
                             util::TimePoint& into) -> Result<void> {
    auto t = time_at(obj, name);
    if (!t) return Unexpected{t.error()};
    if (*t) into = **t;
    return {};
  };
  if (auto r = read_time(j, "now", s.now); !r) return Unexpected{r.error()};
  s.node = text(j, "node");
  s.store = store_from_json(member(j, "store"));
  const auto& decisions = member(j, "decisions");
  s.decisions_cached = u64(decisions, "cached");
  s.decisions_by_action = counts(decisions, "by_action", "action");
  const auto& policies = member(j, "policies");
  s.policies_stored = u64(policies, "stored");
  s.policies_by_mode = counts(policies, "by_mode", "mode");
  s.policies_expiring_within_day = u64(policies, "expiring_within_day");
  const auto& tlsrpt = member(j, "tlsrpt");
  s.tlsrpt_enabled = flag(tlsrpt, "enabled");
  s.tlsrpt_send = flag(tlsrpt, "send");
  if (auto r = read_time(tlsrpt, "since", s.failures_since); !r) return Unexpected{r.error()};
  s.failure_domains = u64(tlsrpt, "failure_domains");
  if (const auto& list = member(tlsrpt, "failures"); list.is_array()) {
    for (const auto& entry : list) {
      s.failures.push_back({text(entry, "domain"), u64(entry, "failures"), u64(entry, "successes"),
                            counts(entry, "result_types", "type")});
    }
  }
  const auto& reports = member(tlsrpt, "reports");
  s.reports_pending = u64(reports, "pending");
  s.reports_failed = u64(reports, "failed");
  s.reports_sent = u64(reports, "sent");
  s.reports_skipped = u64(reports, "skipped");
  auto next = time_at(reports, "next_attempt_at");
  if (!next) return Unexpected{next.error()};
  s.next_attempt_at = *next;
  if (auto r = read_time(reports, "next_made_at", s.next_made_at); !r) {
    return Unexpected{r.error()};
  }
  return s;
}

}  // namespace tlspolicy::proto
