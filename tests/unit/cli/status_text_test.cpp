// SPDX-License-Identifier: Apache-2.0
//
// The "status" summary as text (src/cli/status_text.hpp): hand-written expected text for a
// hand-made summary, relative times, and what is left out when TLS-RPT is off.
#include "status_text.hpp"

#include <chrono>
#include <sstream>
#include <string>

#include <gtest/gtest.h>

namespace tlspolicy::cli {
namespace {

using namespace std::chrono_literals;

util::TimePoint at(std::chrono::sys_days day, std::chrono::seconds since_midnight) {
  return day + since_midnight;
}

constexpr auto k_day = std::chrono::sys_days{std::chrono::year{2026} / 12 / 6};

proto::StatusSummary sample() {
  proto::StatusSummary s;
  s.now = at(k_day, 15h + 48min);
  s.node = "mx1";
  s.store.backend = "sqlite";
  s.store.node = "mx1";
  s.decisions_cached = 12;
  s.decisions_by_action = {{"require-tls", 9}, {"opportunistic", 2}, {"defer", 1}};
  s.policies_stored = 3;
  s.policies_by_mode = {{"enforce", 2}, {"testing", 1}};
  s.policies_expiring_within_day = 1;
  s.tlsrpt_enabled = true;
  s.tlsrpt_send = true;
  s.failures_since = k_day - std::chrono::days(1);
  s.failure_domains = 22;
  s.failures = {{"broken.example", 5, 1, {{"certificate-expired", 4}, {"validation-failure", 1}}},
                {"a.example", 1, 0, {}}};
  s.reports_pending = 1;
  s.reports_failed = 2;
  s.reports_sent = 4;
  s.reports_skipped = 3;
  s.next_attempt_at = at(k_day + std::chrono::days(1), 2h + 5min);
  s.next_made_at = k_day + std::chrono::days(1);
  return s;
}

std::string render(const proto::StatusSummary& s) {
  std::ostringstream out;
  print_status(out, s);
  return out.str();
}

TEST(StatusText, Summary) {
  EXPECT_EQ(render(sample()),
            "node:       mx1, at 2026-12-06T15:48:00Z\n"
            "store:      sqlite, healthy\n"
            "decisions:  12 in memory (9 require-tls, 2 opportunistic, 1 defer)\n"
            "policies:   3 stored MTA-STS policies (2 enforce, 1 testing), 1 expiring within a "
            "day\n"
            "failures:   22 domains with TLS-RPT failures since 2026-12-05T00:00:00Z (1d15h ago)\n"
            "  broken.example  5 failed, 1 ok  (4 certificate-expired, 1 validation-failure)\n"
            "  a.example       1 failed, 0 ok\n"
            "  … and 20 more\n"
            "reports:    1 pending, 2 failed, 4 sent, 3 skipped\n"
            "next made:  2026-12-07T00:00:00Z (in 8h12m), the reports of 2026-12-06\n"
            "next send:  2026-12-07T02:05:00Z (in 10h17m)\n");
}

TEST(StatusText, StoreTroubleAndNothingPending) {
  auto s = sample();
  s.store = {"postgresql", "mx1", false, 2, 7, "connection refused", 4};
  s.next_attempt_at.reset();
  s.reports_pending = 0;
  const auto text = render(s);
  EXPECT_NE(text.find("store:      postgresql, UNREACHABLE (2 outages, 7 errors), 4 policies not "
                      "yet in the shared store\n"
                      "            last error: connection refused\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("next send:  nothing pending\n"), std::string::npos) << text;
}

TEST(StatusText, DueReportAndSendingOff) {
  auto s = sample();
  s.next_attempt_at = s.now - 90s;
  EXPECT_NE(render(s).find("next send:  due now (2026-12-06T15:46:30Z)\n"), std::string::npos);
  s.tlsrpt_send = false;
  EXPECT_NE(render(s).find("next send:  sending is off (tlsrpt.send = false)\n"),
            std::string::npos);
}

TEST(StatusText, TlsRptOffLeavesOutFailuresAndReports) {
  auto s = sample();
  s.tlsrpt_enabled = false;
  const auto text = render(s);
  EXPECT_NE(text.find("TLS-RPT:    collection off (tlsrpt.enabled = false)\n"), std::string::npos);
  EXPECT_EQ(text.find("failures:"), std::string::npos) << text;
  EXPECT_EQ(text.find("reports:"), std::string::npos) << text;
}

TEST(StatusText, RelativeTime) {
  const auto now = at(k_day, 12h);
  EXPECT_EQ(relative_time(now, now), "now");
  EXPECT_EQ(relative_time(now + 45s, now), "in 45s");
  EXPECT_EQ(relative_time(now + 3h + 12min + 5s, now), "in 3h12m");
  EXPECT_EQ(relative_time(now - 5min, now), "5m ago");
  EXPECT_EQ(relative_time(now + 3h, now), "in 3h");
  EXPECT_EQ(relative_time(now - std::chrono::days(2) - 1h, now), "2d1h ago");
  EXPECT_EQ(relative_time(now + std::chrono::days(1) + 30s, now), "in 1d");
}

}  // namespace
}  // namespace tlspolicy::cli
