// SPDX-License-Identifier: Apache-2.0
//
// The JSON form of a decision carries every SPEC §3 field, in order.
#include "tlspolicy/proto/decision_json.hpp"

#include <gtest/gtest.h>

namespace tlspolicy::proto {
namespace {

TEST(DecisionJson, EveryFieldOfSpec3) {
  policy::Decision d;
  d.domain = "example.test";
  d.action = policy::Action::RequireTls;
  d.verify = policy::Verify::Pkix;
  d.source = policy::Source::MtaSts;
  d.mx.push_back(
      {"mx.example.test", 10, true, policy::Verify::Pkix, {{3, 1, 1, {0xab, 0x01}}}, {}});
  d.mta_sts = policy::StsInfo{"id1",
                              sts::StsMode::Enforce,
                              {"mx.example.test"},
                              std::chrono::seconds{86400},
                              util::TimePoint{std::chrono::seconds{0}},
                              util::TimePoint{std::chrono::seconds{86400}},
                              true,
                              "version: STSv1\n"};
  d.dnssec = dns::Security::Secure;
  d.postfix = "OK secure match=mx.example.test servername=hostname";
  d.reason = "r";
  d.ttl = std::chrono::seconds{60};
  d.explain = {"step"};
  const auto text = decision_to_json(d, false);
  EXPECT_EQ(
      text,
      R"({"domain":"example.test","action":"require-tls","verify":"pkix","source":"mta-sts",)"
      R"("mx":[{"host":"mx.example.test","preference":10,"allowed":true,"verify":"pkix",)"
      R"("tlsa":[{"usage":3,"selector":1,"mtype":1,"data":"ab01"}]}],)"
      R"("mta_sts":{"id":"id1","mode":"enforce","mx":["mx.example.test"],"max_age":86400,)"
      R"("fetched_at":"1970-01-01T00:00:00Z","expires_at":"1970-01-02T00:00:00Z","from_cache":true},)"
      R"("dnssec":"secure","requiretls":{"requested":false,"satisfiable":false,"peer_must_advertise":false},)"
      R"("tlsrpt":null,"postfix":"OK secure match=mx.example.test servername=hostname","reason":"r","ttl":60})");
  EXPECT_NE(decision_to_json(d, true).find(R"("explain":["step"])"), std::string::npos);
}

TEST(DecisionJson, InvalidUtf8IsReplacedNotThrown) {
  policy::Decision d;
  d.reason = std::string("bad \xff byte");
  EXPECT_NO_THROW({ (void)decision_to_json(d, false); });
}

}  // namespace
}  // namespace tlspolicy::proto
