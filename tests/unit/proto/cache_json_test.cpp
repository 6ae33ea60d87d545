// SPDX-License-Identifier: Apache-2.0
//
// proto::cached_policy_json and friends: the golden JSON of a stored policy,
// the round trip, and the client-side response parser.
#include "tlspolicy/proto/cache_json.hpp"

#include <gtest/gtest.h>

#include "tlspolicy/proto/decision_json.hpp"
#include "tlspolicy/proto/json_response.hpp"

namespace tlspolicy::proto {
namespace {

using namespace std::chrono_literals;

cache::CachedPolicy sample() {
  cache::CachedPolicy p;
  p.domain = "example.com";
  p.id = "2024a";
  p.policy_text = "version: STSv1\r\nmode: enforce\r\nmx: mx1.example.com\r\nmax_age: 86400\r\n";
  p.policy = sts::StsPolicy{sts::StsMode::Enforce, {"mx1.example.com", "*.example.net"}, 86400s};
  p.fetched_at = util::TimePoint{std::chrono::sys_days{std::chrono::year{2026} / 1 / 2}} + 3h;
  p.expires_at = p.fetched_at + 86400s;
  return p;
}

TEST(CacheJson, Golden) {
  EXPECT_EQ(cached_policy_json(sample(), false),
            R"({"domain":"example.com","id":"2024a","mode":"enforce","max_age":86400,)"
            R"("mx":["mx1.example.com","*.example.net"],"fetched_at":"2026-01-02T03:00:00Z",)"
            R"("expires_at":"2026-01-03T03:00:00Z"})");
  EXPECT_EQ(cached_policy_json(sample(), true),
            R"({"domain":"example.com","id":"2024a","mode":"enforce","max_age":86400,)"
            R"("mx":["mx1.example.com","*.example.net"],"fetched_at":"2026-01-02T03:00:00Z",)"
            R"("expires_at":"2026-01-03T03:00:00Z","policy_text":"version: STSv1\r\nmode: )"
            R"(enforce\r\nmx: mx1.example.com\r\nmax_age: 86400\r\n"})");
  EXPECT_EQ(cached_policies_json({}, true), "[]");
}

TEST(CacheJson, InvalidUtf8IsReplaced) {
  auto p = sample();
  p.id = "a\xff";
  EXPECT_NE(cached_policy_json(p).find("\"id\":\"a\xEF\xBF\xBD\""), std::string::npos);
}

TEST(CacheJson, RoundTrip) {
  const auto p = sample();
  const auto back = cached_policies_from_json(cached_policies_json({p, p}, true));
  ASSERT_TRUE(back.has_value()) << back.error().detail;
  ASSERT_EQ(back->size(), 2u);
  EXPECT_EQ((*back)[0], p);
}

TEST(CacheJson, BadInputIsAnErrorNotAThrow) {
  for (const char* bad :
       {"", "[", "{}", "[1]", R"([{"domain":1}])", "{\"a\":\"\0\"}",
        R"({"domain":"x","id":"i","mode":"sometimes","max_age":1,"mx":[],)"
        R"("fetched_at":"2026-01-01T00:00:00Z","expires_at":"2026-01-01T00:00:00Z"})",
        R"({"domain":"x","id":"i","mode":"none","max_age":1,"mx":[],)"
        R"("fetched_at":"2026-02-30T00:00:00Z","expires_at":"2026-01-01T00:00:00Z"})"}) {
    EXPECT_FALSE(cached_policy_from_json(bad).has_value()) << bad;
  }
  EXPECT_FALSE(cached_policies_from_json("{}").has_value());
}

TEST(JsonResponse, OkAndError) {
  const auto ok = parse_json_response(R"({"status":"ok","entries":[ 1, 2 ],"id":7})"
                                      "\r\n");
  ASSERT_TRUE(ok.has_value());
  EXPECT_EQ(ok->status, "ok");
  ASSERT_NE(ok->member("entries"), nullptr);
  EXPECT_EQ(*ok->member("entries"), "[1,2]");
  EXPECT_EQ(ok->member("id"), nullptr);
  const auto err =
      parse_json_response(R"({"status":"error","error":{"code":"not-found","message":"m"}})");
  ASSERT_TRUE(err.has_value());
  EXPECT_EQ(err->error_code, "not-found");
  EXPECT_EQ(err->error_message, "m");
  EXPECT_FALSE(parse_json_response("[]").has_value());
  EXPECT_FALSE(parse_json_response(R"({"status":1})").has_value());
}

TEST(JsonResponse, Requests) {
  EXPECT_EQ(render_admin_request(JsonOp::CacheShow, "example.com"),
            R"({"op":"cache.show","domain":"example.com"})");
  EXPECT_EQ(render_admin_request(JsonOp::Stats, ""), R"({"op":"stats"})");
  EXPECT_EQ(render_decide_request("example.com", true, "a\"b@example.com", true),
            R"({"op":"decide","domain":"example.com","recipient":"a\"b@example.com",)"
            R"("requiretls":true,"explain":true})");
}

TEST(JsonResponse, DecisionRoundTrip) {
  policy::Decision d;
  d.domain = "example.com";
  d.action = policy::Action::RequireTls;
  d.verify = policy::Verify::Dane;
  d.source = policy::Source::Dane;
  d.dnssec = dns::Security::Secure;
  d.mx.push_back(policy::MxHost{"mx.example.com",
                                10,
                                true,
                                policy::Verify::Dane,
                                {dns::TlsaRecord{3, 1, 1, {0xab, 0x01}}},
                                {}});
  d.postfix = "OK dane-only";
  d.reason = "r";
  d.ttl = 30s;
  d.explain = {"step"};
  d.tlsrpt = policy::TlsRptInfo{{"mailto:r@example.com"}};
  const auto text = decision_to_json(d, true);
  const auto back = decision_from_json(text);
  ASSERT_TRUE(back.has_value()) << back.error().detail;
  EXPECT_EQ(decision_to_json(*back, true), text);
  EXPECT_EQ(mta_sts_to_json(d), "null");
}

TEST(JsonResponse, Flatten) {
  const auto rows = flatten_json_object(R"({"a":{"b":1,"c":"x"},"d":[1]})");
  ASSERT_TRUE(rows.has_value());
  ASSERT_EQ(rows->size(), 3u);
  EXPECT_EQ((*rows)[0], (std::pair<std::string, std::string>{"a.b", "1"}));
  EXPECT_EQ((*rows)[1], (std::pair<std::string, std::string>{"a.c", "x"}));
  EXPECT_EQ((*rows)[2], (std::pair<std::string, std::string>{"d", "[1]"}));
  EXPECT_FALSE(flatten_json_object("null").has_value());
}

// A peer on --socket PATH may send up to 16 MiB; 500 000 nested arrays used to
// overflow the stack in dump()/flatten() (fuzz_json_response). 32 levels still
// parse, 33 do not, and brackets inside strings do not count.
TEST(JsonResponse, DeepNestingIsRefusedNotACrash) {
  // {"status":"ok","x":…} with `depth` arrays (or objects {"k":…}) inside the top level.
  const auto nested = [](std::size_t depth, bool objects) {
    std::string text = R"({"status":"ok","x":)";
    for (std::size_t i = 0; i < depth; ++i) text += objects ? R"({"k":)" : "[";
    text += "1";
    for (std::size_t i = 0; i < depth; ++i) text += objects ? "}" : "]";
    return text + "}";
  };
  EXPECT_TRUE(parse_json_response(nested(31, false)).has_value());
  EXPECT_TRUE(flatten_json_object(nested(31, true)).has_value());
  EXPECT_FALSE(parse_json_response(nested(32, false)).has_value());
  EXPECT_FALSE(parse_json_response(nested(500000, false)).has_value());
  EXPECT_FALSE(flatten_json_object(nested(500000, true)).has_value());
  EXPECT_FALSE(decision_from_json(nested(500000, true)).has_value());
  EXPECT_TRUE(
      parse_json_response(R"({"status":"ok","x":")" + std::string(100, '[') + "\"}").has_value());
}

}  // namespace
}  // namespace tlspolicy::proto
