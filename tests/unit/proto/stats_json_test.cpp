// SPDX-License-Identifier: Apache-2.0
//
// The "stats" admin op's object: exact text, written by hand from the FORMAT in
// proto/stats_json.hpp (docs/protocols/json.md).
#include "tlspolicy/proto/stats_json.hpp"

#include <string>

#include <gtest/gtest.h>

namespace tlspolicy::proto {
namespace {

TEST(StatsJson, EveryCounterInItsPlace) {
  MetricsSnapshot s;
  s.hits = 1;
  s.misses = 2;
  s.joined = 3;
  s.overloaded = 4;
  s.deadlines = 5;
  s.cached = 6;
  s.in_flight = 7;
  s.policy_server.accepted = 8;
  s.policy_server.active = 9;
  s.policy_server.rejected_max_connections = 10;
  s.policy_server.requests = 11;
  s.policy_server.too_large = 12;
  s.policy_server.malformed = 13;
  s.policy_server.request_timeouts = 14;
  s.policy_server.idle_timeouts = 15;
  s.metrics_server.accepted = 99;  // not the policy listeners': not shown
  s.tlsrpt_datagrams = 16;
  s.tlsrpt_malformed = 17;
  s.tlsrpt_report_ops = 18;
  s.tlsrpt_engine = 19;
  s.tlsrpt_store_errors = 20;
  cache::StoreStatus store;
  store.backend = "postgresql";
  store.node = "mx1";
  store.healthy = false;
  store.outages = 21;
  store.errors = 22;
  store.last_error = "timeout \"x\"";
  store.unsynced_policies = 23;

  EXPECT_EQ(stats_json(s, store),
            R"({"decisions":{"hits":1,"misses":2,"joined":3,"overloaded":4,"deadlines":5,)"
            R"("cached":6,"in_flight":7},"connections":{"accepted":8,"active":9,)"
            R"("rejected_max_connections":10},"requests":11,"too_large":12,"malformed":13,)"
            R"("request_timeouts":14,"idle_timeouts":15,"tlsrpt":{"datagrams":16,)"
            R"("malformed":17,"report_ops":18,"engine":19,"store_errors":20},)"
            R"("store":{"backend":"postgresql","node":"mx1","healthy":false,"outages":21,)"
            R"("errors":22,"last_error":"timeout \"x\"","unsynced_policies":23}})");
}

}  // namespace
}  // namespace tlspolicy::proto
