// SPDX-License-Identifier: Apache-2.0
//
// The admin op "status" ↔ JSON (proto/status_json.hpp): the wire text, the round trip, and
// a reader that takes what an older or newer daemon sends.
#include "tlspolicy/proto/status_json.hpp"

#include <chrono>

#include <gtest/gtest.h>

namespace tlspolicy::proto {
namespace {

using namespace std::chrono_literals;

constexpr auto k_day = std::chrono::sys_days{std::chrono::year{2026} / 12 / 6};

StatusSummary sample() {
  StatusSummary s;
  s.now = k_day + 15h;
  s.node = "mx1";
  s.store.node = "mx1";
  s.decisions_cached = 2;
  s.decisions_by_action = {{"require-tls", 2}};
  s.policies_stored = 1;
  s.policies_by_mode = {{"enforce", 1}};
  s.tlsrpt_enabled = true;
  s.failures_since = k_day - std::chrono::days(1);
  s.failure_domains = 1;
  s.failures = {{"a.example", 3, 1, {{"certificate-expired", 3}}}};
  s.reports_pending = 1;
  s.next_attempt_at = k_day + 2h;
  s.next_made_at = k_day + std::chrono::days(1);
  return s;
}

TEST(StatusJson, WireText) {
  EXPECT_EQ(
      status_summary_json(sample()),
      R"({"now":"2026-12-06T15:00:00Z","node":"mx1","store":{"backend":"sqlite","node":"mx1",)"
      R"("healthy":true,"outages":0,"errors":0,"last_error":"","unsynced_policies":0},)"
      R"("decisions":{"cached":2,"by_action":[{"action":"require-tls","count":2}]},)"
      R"("policies":{"stored":1,"by_mode":[{"mode":"enforce","count":1}],"expiring_within_day":0},)"
      R"("tlsrpt":{"enabled":true,"send":false,"since":"2026-12-05T00:00:00Z","failure_domains":1,)"
      R"("failures":[{"domain":"a.example","failures":3,"successes":1,)"
      R"("result_types":[{"type":"certificate-expired","count":3}]}],)"
      R"("reports":{"pending":1,"failed":0,"sent":0,"skipped":0,)"
      R"("next_attempt_at":"2026-12-06T02:00:00Z","next_made_at":"2026-12-07T00:00:00Z"}}})");
}

TEST(StatusJson, RoundTrip) {
  auto s = sample();
  s.store = {"postgresql", "mx1", false, 2, 7, "connection refused", 4};
  auto got = status_summary_from_json(status_summary_json(s));
  ASSERT_TRUE(got) << got.error().detail;
  EXPECT_EQ(status_summary_json(*got), status_summary_json(s));
  s.next_attempt_at.reset();
  got = status_summary_from_json(status_summary_json(s));
  ASSERT_TRUE(got) << got.error().detail;
  EXPECT_EQ(status_summary_json(*got), status_summary_json(s));
}

TEST(StatusJson, MissingAndUnknownMembersAreTolerated) {
  const auto got = status_summary_from_json(R"({"node":"n","later":{"x":1},"tlsrpt":[1]})");
  ASSERT_TRUE(got) << got.error().detail;
  EXPECT_EQ(got->node, "n");
  EXPECT_EQ(got->decisions_cached, 0U);
  EXPECT_FALSE(got->tlsrpt_enabled);
}

TEST(StatusJson, RejectsWhatIsNotASummary) {
  EXPECT_FALSE(status_summary_from_json("[1,2]"));
  EXPECT_FALSE(status_summary_from_json("not json"));
  EXPECT_FALSE(status_summary_from_json(R"({"now":"yesterday"})"));
}

}  // namespace
}  // namespace tlspolicy::proto
