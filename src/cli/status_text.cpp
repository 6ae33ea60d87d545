// SPDX-License-Identifier: Apache-2.0
//
// The "status" summary as text (status_text.hpp).
#include "status_text.hpp"

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace tlspolicy::cli {
namespace {

/// Longest domain column before the counts.
constexpr std::size_t k_max_domain_width = 40;

/// "9 require-tls, 2 opportunistic".
std::string join_counts(const std::vector<proto::NamedCount>& counts, std::string_view between) {
  std::string out;
  for (const auto& c : counts) {
    if (!out.empty()) out += ", ";
    out += std::to_string(c.count);
    out += between;
    out += c.name;
  }
  return out;
}

/// "2026-12-06T18:12:00Z (in 3h12m)".
std::string when(util::TimePoint t, util::TimePoint now) {
  return util::format_rfc3339(t) + " (" + relative_time(t, now) + ")";
}

std::string plural(std::uint64_t n, std::string_view one, std::string_view many) {
  return std::to_string(n) + " " + std::string(n == 1 ? one : many);
}

void print_store(std::ostream& out, const proto::StatusSummary& s) {
  const auto& st = s.store;
  out << "store:      " << st.backend << ", " << (st.healthy ? "healthy" : "UNREACHABLE");
  if (st.outages > 0 || st.errors > 0) {
    out << " (" << plural(st.outages, "outage", "outages") << ", "
        << plural(st.errors, "error", "errors") << ")";
  }
  if (st.unsynced_policies > 0) {
    out << ", " << plural(st.unsynced_policies, "policy", "policies")
        << " not yet in the shared store";
  }
  out << '\n';
  if (!st.last_error.empty()) out << "            last error: " << st.last_error << '\n';
}

void print_failures(std::ostream& out, const proto::StatusSummary& s) {
  if (!s.tlsrpt_enabled) {
    out << "TLS-RPT:    collection off (tlsrpt.enabled = false)\n";
    return;
  }
  out << "failures:   " << plural(s.failure_domains, "domain", "domains")
      << " with TLS-RPT failures since " << when(s.failures_since, s.now) << '\n';
  std::size_t width = 0;
  for (const auto& f : s.failures) width = std::max(width, f.domain.size());
  width = std::min(width, k_max_domain_width);
  for (const auto& f : s.failures) {
    std::string domain = f.domain;
    if (domain.size() < width) domain.append(width - domain.size(), ' ');
    out << "  " << domain << "  " << f.failures << " failed, " << f.successes << " ok";
    if (!f.result_types.empty()) out << "  (" << join_counts(f.result_types, " ") << ")";
    out << '\n';
  }
  if (s.failure_domains > s.failures.size()) {
    out << "  … and " << s.failure_domains - s.failures.size() << " more\n";
  }
}

void print_reports(std::ostream& out, const proto::StatusSummary& s) {
  if (!s.tlsrpt_enabled) return;
  out << "reports:    " << s.reports_pending << " pending, " << s.reports_failed << " failed, "
      << s.reports_sent << " sent, " << s.reports_skipped << " skipped\n";
  // The reports of a UTC day are made at the first report tick after it ends.
  out << "next made:  " << when(s.next_made_at, s.now) << ", the reports of "
      << util::format_rfc3339(s.next_made_at - std::chrono::days(1)).substr(0, 10) << '\n';
  if (!s.tlsrpt_send) {
    out << "next send:  sending is off (tlsrpt.send = false)\n";
  } else if (s.next_attempt_at) {
    out << "next send:  "
        << (*s.next_attempt_at <= s.now
                ? "due now (" + util::format_rfc3339(*s.next_attempt_at) + ")"
                : when(*s.next_attempt_at, s.now))
        << '\n';
  } else {
    out << "next send:  nothing pending\n";
  }
}

}  // namespace

std::string relative_time(util::TimePoint t, util::TimePoint now) {
  using std::chrono::seconds;
  const auto diff = (t - now).count();
  if (diff == 0) return "now";
  auto left = static_cast<std::uint64_t>(diff < 0 ? -diff : diff);
  constexpr std::array<std::pair<std::uint64_t, char>, 4> k_units{
      {{86400, 'd'}, {3600, 'h'}, {60, 'm'}, {1, 's'}}};
  std::string text;
  int shown = 0;
  for (const auto& [size, unit] : k_units) {
    if (shown == 2) break;
    const auto n = left / size;
    if (n == 0 && shown == 0) continue;
    if (n > 0) {
      text += std::to_string(n);
      text += unit;
    }
    left -= n * size;
    ++shown;
  }
  return diff > 0 ? "in " + text : text + " ago";
}

void print_status(std::ostream& out, const proto::StatusSummary& s) {
  out << "node:       " << s.node << ", at " << util::format_rfc3339(s.now) << '\n';
  print_store(out, s);
  out << "decisions:  " << s.decisions_cached << " in memory";
  if (!s.decisions_by_action.empty()) out << " (" << join_counts(s.decisions_by_action, " ") << ")";
  out << '\n';
  out << "policies:   "
      << plural(s.policies_stored, "stored MTA-STS policy", "stored MTA-STS policies");
  if (!s.policies_by_mode.empty()) out << " (" << join_counts(s.policies_by_mode, " ") << ")";
  out << ", " << s.policies_expiring_within_day << " expiring within a day\n";
  print_failures(out, s);
  print_reports(out, s);
}

}  // namespace tlspolicy::cli
