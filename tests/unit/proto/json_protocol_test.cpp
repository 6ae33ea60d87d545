// SPDX-License-Identifier: Apache-2.0
//
// The JSON lines protocol (SPEC §4): every op parses, ids are echoed, domains
// are normalised, every malformed line maps to its error code without
// throwing, and every rendered response is one line of valid JSON.
#include "tlspolicy/proto/json_protocol.hpp"

#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace tlspolicy::proto {
namespace {

using nlohmann::json;

/// The error code of a rejected line, or "ok".
std::string code_of(std::string_view line) {
  const auto got = parse_json_request(line);
  if (got) return "ok";
  EXPECT_EQ(got.error().code, Errc::InvalidArgument);
  EXPECT_EQ(got.error().retry, Retry::Permanent);
  return std::string{json_error_parts(got.error()).code};
}

std::string message_of(std::string_view line) {
  const auto got = parse_json_request(line);
  if (got) return "";
  return std::string{json_error_parts(got.error()).message};
}

/// Parses a response line; fails the test when it is not one JSON object line.
json parse_response(const std::string& line) {
  EXPECT_EQ(line.find('\n'), std::string::npos) << line;
  auto j = json::parse(line, nullptr, false);
  EXPECT_FALSE(j.is_discarded()) << line;
  EXPECT_TRUE(j.is_object()) << line;
  return j;
}

struct OpCase {
  std::string_view line;
  JsonOp op;
  bool admin;
};

TEST(JsonRequest, ParsesEveryOp) {
  const std::vector<OpCase> cases = {
      {R"({"op":"decide","domain":"example.com"})", JsonOp::Decide, false},
      {R"({"op":"report","domain":"example.com","result":"failure",)"
       R"("failure-details":[{"result-type":"starttls-not-supported"}]})",
       JsonOp::Report, false},
      {R"({"op":"cache.list"})", JsonOp::CacheList, true},
      {R"({"op":"cache.show","domain":"example.com"})", JsonOp::CacheShow, true},
      {R"({"op":"cache.purge"})", JsonOp::CachePurge, true},
      {R"({"op":"cache.refresh","domain":"example.com"})", JsonOp::CacheRefresh, true},
      {R"({"op":"cache.export"})", JsonOp::CacheExport, true},
      {R"({"op":"stats"})", JsonOp::Stats, true},
      {R"({"op":"status"})", JsonOp::Status, true},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.line);
    const auto got = parse_json_request(c.line);
    ASSERT_TRUE(got) << got.error().detail;
    EXPECT_EQ(got->op, c.op);
    EXPECT_EQ(is_admin_op(c.op), c.admin);
    EXPECT_FALSE(got->id);
    // The wire name round-trips.
    // The wire name round-trips (a bare op may lack its required fields).
    EXPECT_NE(code_of(R"({"op":")" + std::string{to_string(c.op)} + R"("})"), "unknown-op");
  }
}

TEST(JsonRequest, NonAdminOpsAreDecideAndReportOnly) {
  for (const auto op : {JsonOp::Decide, JsonOp::Report}) EXPECT_FALSE(is_admin_op(op));
  for (const auto op : {JsonOp::CacheList, JsonOp::CacheShow, JsonOp::CachePurge,
                        JsonOp::CacheRefresh, JsonOp::CacheExport, JsonOp::Stats, JsonOp::Status}) {
    EXPECT_TRUE(is_admin_op(op)) << to_string(op);
  }
}

TEST(JsonRequest, DecideFields) {
  const auto got = parse_json_request(
      R"({"v":1,"op":"decide","domain":"Example.COM.","requiretls":true,"explain":true})");
  ASSERT_TRUE(got) << got.error().detail;
  ASSERT_TRUE(got->decide);
  EXPECT_EQ(got->decide->domain.str(), "example.com");
  EXPECT_TRUE(got->decide->requiretls);
  EXPECT_TRUE(got->explain);
  EXPECT_FALSE(got->recipient);

  const auto plain = parse_json_request(R"({"op":"decide","domain":"example.com"})");
  ASSERT_TRUE(plain);
  EXPECT_FALSE(plain->decide->requiretls);
  EXPECT_FALSE(plain->explain);
}

TEST(JsonRequest, IdIsEchoedAsJsonText) {
  const std::vector<std::pair<std::string_view, std::string_view>> cases = {
      {R"({"op":"stats","id":7})", "7"},
      {R"({"op":"stats","id":-3})", "-3"},
      {R"({"op":"stats","id":"req-1"})", R"("req-1")"},
      {R"({"op":"stats","id":null})", "null"},
      {R"({"op":"stats","id":true})", "true"},
      {R"({"op":"stats","id":"a\"b\u00e9"})", "\"a\\\"b\xc3\xa9\""},
  };
  for (const auto& [line, want] : cases) {
    SCOPED_TRACE(line);
    const auto got = parse_json_request(line);
    ASSERT_TRUE(got) << got.error().detail;
    ASSERT_TRUE(got->id);
    EXPECT_EQ(*got->id, want);
    const auto response = parse_response(render_ok(&*got->id));
    EXPECT_EQ(response["id"], json::parse(want));
  }
}

TEST(JsonRequest, RejectsStructuredOrNonFiniteId) {
  EXPECT_EQ(code_of(R"({"op":"stats","id":[1]})"), "bad-request");
  EXPECT_EQ(code_of(R"({"op":"stats","id":{"a":1}})"), "bad-request");
  // nlohmann rejects numbers that overflow a double: the line is not usable JSON.
  EXPECT_EQ(code_of(R"({"op":"stats","id":1e999})"), "bad-json");
}

TEST(JsonRequest, IdOfRejectedLineCanStillBeEchoed) {
  const std::string line = R"({"op":"nope","id":"x1"})";
  EXPECT_EQ(code_of(line), "unknown-op");
  const auto id = json_request_id(line);
  ASSERT_TRUE(id);
  EXPECT_EQ(*id, R"("x1")");
  EXPECT_FALSE(json_request_id("not json"));
  EXPECT_FALSE(json_request_id(R"({"op":"stats"})"));
  EXPECT_FALSE(json_request_id(R"({"id":[1]})"));
}

// RT-2 (RFC 8689 §4.1): REQUIRETLS is a tag of the message. A request that says so keeps it
// whatever the recipient's form; the "+requiretls" local part can only add it.
TEST(JsonRequest, Rt2RequireTlsTagIsKeptWhateverTheRecipient) {
  const auto tagged =
      parse_json_request(R"({"op":"decide","requiretls":true,"recipient":"bob@example.org"})");
  ASSERT_TRUE(tagged) << tagged.error().detail;
  EXPECT_TRUE(tagged->decide->requiretls);
  const auto by_recipient = parse_json_request(
      R"({"op":"decide","requiretls":false,"recipient":"bob+requiretls@example.org"})");
  ASSERT_TRUE(by_recipient) << by_recipient.error().detail;
  EXPECT_TRUE(by_recipient->decide->requiretls);
}

TEST(JsonRequest, RecipientOnlyDecide) {
  const auto got =
      parse_json_request(R"({"op":"decide","recipient":"Alice+RequireTLS@Example.org"})");
  ASSERT_TRUE(got) << got.error().detail;
  EXPECT_EQ(got->decide->domain.str(), "example.org");
  EXPECT_TRUE(got->decide->requiretls);
  ASSERT_TRUE(got->recipient);
  EXPECT_EQ(*got->recipient, "Alice+RequireTLS@Example.org");

  const auto plain = parse_json_request(R"({"op":"decide","recipient":"bob@example.org"})");
  ASSERT_TRUE(plain);
  EXPECT_FALSE(plain->decide->requiretls);

  // A quoted local part may hold '@': the domain follows the last one.
  const auto quoted = parse_json_request(R"({"op":"decide","recipient":"\"a@b\"@example.net"})");
  ASSERT_TRUE(quoted) << quoted.error().detail;
  EXPECT_EQ(quoted->decide->domain.str(), "example.net");
}

TEST(JsonRequest, DomainWinsOverRecipientDomain) {
  const auto got = parse_json_request(
      R"({"op":"decide","domain":"example.com","recipient":"x+requiretls@other.test"})");
  ASSERT_TRUE(got) << got.error().detail;
  EXPECT_EQ(got->decide->domain.str(), "example.com");
  EXPECT_TRUE(got->decide->requiretls);  // from the recipient's local part
}

TEST(JsonRequest, ULabelDomainIsNormalised) {
  const auto got = parse_json_request(R"({"op":"decide","domain":"B\u00fccher.Example"})");
  ASSERT_TRUE(got) << got.error().detail;
  EXPECT_EQ(got->decide->domain.str(), "xn--bcher-kva.example");

  const auto cache = parse_json_request(
      "{\"op\":\"cache.show\",\"domain\":\"b\xc3\xbc"
      "cher.example\"}");
  ASSERT_TRUE(cache) << cache.error().detail;
  ASSERT_TRUE(cache->domain);
  EXPECT_EQ(cache->domain->str(), "xn--bcher-kva.example");
}

// RPT-10: the report op carries RFC 8460 results (tlsrpt/json_report.hpp
// owns the format; its own tests cover it field by field).
TEST(JsonRequest, ReportCarriesTheResultBatch) {
  const auto got =
      parse_json_request(R"({"op":"report","id":1,"domain":"Example.COM","result":"failure",)"
                         R"("failure-details":[{"result-type":"validation-failure"}]})");
  ASSERT_TRUE(got) << got.error().detail;
  ASSERT_TRUE(got->report);
  EXPECT_EQ(got->id, "1");
  EXPECT_EQ(got->report->batch.domain, "example.com");
  ASSERT_EQ(got->report->batch.policies.size(), 1U);
  EXPECT_EQ(got->report->batch.policies[0].failures, 1U);
  EXPECT_FALSE(got->report->policy_given);
  EXPECT_EQ(code_of(R"({"op":"report","domain":"example.com","result":"maybe"})"), "bad-request");
  EXPECT_EQ(code_of(R"({"op":"report","domain":"example.com","result":"success","typo":1})"),
            "bad-request");
}

TEST(JsonRequest, CacheDomainOptionalOrRequired) {
  EXPECT_EQ(code_of(R"({"op":"cache.list"})"), "ok");
  EXPECT_EQ(code_of(R"({"op":"cache.purge","domain":"example.com"})"), "ok");
  EXPECT_EQ(code_of(R"({"op":"cache.show"})"), "bad-request");
  EXPECT_EQ(code_of(R"({"op":"cache.refresh"})"), "bad-request");
  EXPECT_EQ(code_of(R"({"op":"cache.show","domain":"-bad-.example"})"), "bad-domain");
  const auto list = parse_json_request(R"({"op":"cache.list"})");
  ASSERT_TRUE(list);
  EXPECT_FALSE(list->domain);
}

TEST(JsonRequest, AcceptsTrailingCrAndLf) {
  EXPECT_EQ(code_of("{\"op\":\"stats\"}\r"), "ok");
  EXPECT_EQ(code_of("{\"op\":\"stats\"}\r\n"), "ok");
  EXPECT_EQ(code_of("{\"op\":\"stats\"}\n"), "ok");
  EXPECT_EQ(code_of("  {\"op\":\"stats\"}  "), "ok");
}

TEST(JsonRequest, RejectsUnknownField) {
  EXPECT_EQ(code_of(R"({"op":"decide","domain":"example.com","requireTLS":true})"), "bad-request");
  EXPECT_NE(message_of(R"({"op":"decide","domain":"example.com","requireTLS":true})")
                .find("\"requireTLS\""),
            std::string::npos);
  EXPECT_EQ(code_of(R"({"op":"stats","domain":"example.com"})"), "bad-request");
  EXPECT_EQ(code_of(R"({"op":"cache.list","explain":true})"), "bad-request");
  EXPECT_EQ(code_of(R"({"op":"report","result":{"result-type":"a","policy-domain":"b"},"x":1})"),
            "bad-request");
  // Many unknown fields: the message stays short.
  std::string many = R"({"op":"stats")";
  for (int i = 0; i < 100; ++i) many += ",\"f" + std::to_string(i) + "\":0";
  many += "}";
  EXPECT_EQ(code_of(many), "bad-request");
  EXPECT_LT(message_of(many).size(), 200U);
  // A huge field name is cut in the message.
  const std::string huge = R"({"op":"stats",")" + std::string(5000, 'x') + R"(":1})";
  EXPECT_EQ(code_of(huge), "bad-request");
  EXPECT_LT(message_of(huge).size(), 200U);
}

struct ErrorCase {
  std::string_view name;
  std::string line;
  std::string_view code;
};

TEST(JsonRequest, ErrorCodes) {
  const std::vector<ErrorCase> cases = {
      {"empty", "", "bad-json"},
      {"blank", "   \r", "bad-json"},
      {"not json", "decide example.com", "bad-json"},
      {"truncated", R"({"op":"decide","domain":"exa)", "bad-json"},
      {"two objects", R"({"op":"stats"} {"op":"stats"})", "bad-json"},
      {"array", R"([{"op":"stats"}])", "bad-json"},
      {"string", R"("decide")", "bad-json"},
      {"number", "42", "bad-json"},
      {"null", "null", "bad-json"},
      {"comment", R"({"op":"stats"} // hi)", "bad-json"},
      {"invalid utf-8", "{\"op\":\"decide\",\"domain\":\"\xff\xfe.example\"}", "bad-json"},
      {"overlong utf-8", "{\"op\":\"stats\",\"id\":\"\xc0\xaf\"}", "bad-json"},
      {"lone surrogate", R"({"op":"stats","id":"\ud800"})", "bad-json"},
      {"nul byte", std::string("{\"op\":\"stats\"}\0", 15), "bad-json"},
      {"nul inside", std::string("{\"op\":\"st\0ats\"}", 15), "bad-json"},
      {"nested garbage", std::string(10000, '[') + std::string(9999, ']'), "bad-json"},
      {"deep nesting",
       R"({"op":"stats","id":)" + std::string(20000, '[') + std::string(20000, ']') + "}",
       "bad-request"},
      {"no op", R"({"domain":"example.com"})", "bad-request"},
      {"op not string", R"({"op":1})", "bad-request"},
      {"op null", R"({"op":null})", "bad-request"},
      {"unknown op", R"({"op":"lookup"})", "unknown-op"},
      {"op case", R"({"op":"DECIDE","domain":"example.com"})", "unknown-op"},
      {"version 2", R"({"v":2,"op":"decide","domain":"example.com"})", "unsupported-version"},
      {"version 0", R"({"v":0,"op":"stats"})", "unsupported-version"},
      {"version 2 unknown op", R"({"v":2,"op":"future"})", "unsupported-version"},
      {"version huge", R"({"v":99999999999999999999999,"op":"stats"})", "bad-request"},
      {"version string", R"({"v":"1","op":"stats"})", "bad-request"},
      {"version float", R"({"v":1.5,"op":"stats"})", "bad-request"},
      {"no domain", R"({"op":"decide"})", "bad-request"},
      {"domain number", R"({"op":"decide","domain":12})", "bad-request"},
      {"domain null", R"({"op":"decide","domain":null})", "bad-request"},
      {"requiretls string", R"({"op":"decide","domain":"a.example","requiretls":"yes"})",
       "bad-request"},
      {"requiretls big int",
       R"({"op":"decide","domain":"a.example","requiretls":123456789012345678901234567890})",
       "bad-request"},
      {"requiretls huge", R"({"op":"decide","domain":"a.example","requiretls":1e400})", "bad-json"},
      {"explain number", R"({"op":"decide","domain":"a.example","explain":1})", "bad-request"},
      {"recipient no at", R"({"op":"decide","recipient":"postmaster"})", "bad-request"},
      {"recipient array", R"({"op":"decide","recipient":["a@b.example"]})", "bad-request"},
      {"bad domain", R"({"op":"decide","domain":"exa mple.com"})", "bad-domain"},
      {"ip literal", R"({"op":"decide","domain":"192.0.2.1"})", "bad-domain"},
      {"empty domain", R"({"op":"decide","domain":""})", "bad-domain"},
      // A control character is the domain check's to refuse (util::Controls::Keep).
      {"domain with a control", R"({"op":"decide","domain":"a\u0001b.example"})", "bad-domain"},
      {"recipient empty domain", R"({"op":"decide","recipient":"a@"})", "bad-domain"},
      {"recipient address literal", R"({"op":"decide","recipient":"a@[192.0.2.1]"})", "bad-domain"},
      {"report no result", R"({"op":"report"})", "bad-request"},
      {"report result array", R"({"op":"report","result":[]})", "bad-request"},
      {"report no type", R"({"op":"report","result":{"policy-domain":"a"}})", "bad-request"},
      {"report type number", R"({"op":"report","result":{"result-type":1,"policy-domain":"a"}})",
       "bad-request"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    EXPECT_EQ(code_of(c.line), c.code) << message_of(c.line);
    EXPECT_FALSE(message_of(c.line).empty());
  }
}

TEST(JsonRequest, BadDomainCarriesTheParserDetail) {
  const auto line = R"({"op":"decide","domain":"exa mple.com"})";
  const auto want = dns::DomainName::parse("exa mple.com");
  ASSERT_FALSE(want);
  EXPECT_EQ(message_of(line), want.error().detail);
}

TEST(JsonRequest, LineOver64KiBIsBadJson) {
  // 70 KiB, otherwise a valid request.
  const std::string line =
      R"({"op":"decide","domain":"example.com","id":")" + std::string(70 * 1024, 'a') + R"("})";
  EXPECT_EQ(code_of(line), "bad-json");
  EXPECT_FALSE(json_request_id(line));

  // Exactly at the limit (plus CRLF) is accepted.
  const std::string head = R"({"op":"stats","id":")";
  const std::string at_limit = head + std::string(k_max_json_line - head.size() - 2, 'b') + "\"}";
  ASSERT_EQ(at_limit.size(), k_max_json_line);
  EXPECT_EQ(code_of(at_limit + "\r\n"), "ok");
  EXPECT_EQ(code_of(at_limit + " "), "bad-json");
}

TEST(JsonErrorParts, SplitsCodeAndMessage) {
  const Error e{Errc::InvalidArgument, Retry::Permanent, "bad-domain: label too long"};
  const auto parts = json_error_parts(e);
  EXPECT_EQ(parts.code, "bad-domain");
  EXPECT_EQ(parts.message, "label too long");
  const Error other{Errc::Internal, Retry::Transient, "Something: broke"};
  EXPECT_EQ(json_error_parts(other).code, "internal");
  EXPECT_EQ(json_error_parts(other).message, "Something: broke");
}

TEST(JsonRender, ErrorObject) {
  const std::string id = "42";
  const auto line = render_error("bad-domain", "label \"x\" too long\n", &id);
  EXPECT_EQ(line,
            R"({"status":"error","error":{"code":"bad-domain","message":"label \"x\" too long\n"},)"
            R"("id":42})");
  const auto j = parse_response(line);
  EXPECT_EQ(j["status"], "error");
  EXPECT_EQ(j["error"]["code"], "bad-domain");
  EXPECT_EQ(j["id"], 42);

  EXPECT_EQ(render_error("bad-json", "x", nullptr),
            R"({"status":"error","error":{"code":"bad-json","message":"x"}})");
  // Invalid UTF-8 in a message is repaired, never thrown on.
  EXPECT_NO_THROW(parse_response(render_error("bad-json", "\xff\xfe", nullptr)));
  // An id that is not a JSON scalar renders as null.
  const std::string bad_id = "[1]";
  EXPECT_TRUE(parse_response(render_error("bad-json", "x", &bad_id))["id"].is_null());
  const std::string garbage_id = "}{";
  EXPECT_TRUE(parse_response(render_ok(&garbage_id))["id"].is_null());
}

policy::Decision sample_decision() {
  policy::Decision d;
  d.domain = "example.test";
  d.action = policy::Action::RequireTls;
  d.verify = policy::Verify::Dane;
  d.source = policy::Source::Dane;
  d.mx.push_back(
      {"mx.example.test", 10, true, policy::Verify::Dane, {{3, 1, 1, {0xab, 0x01}}}, {}});
  d.dnssec = dns::Security::Secure;
  d.postfix = "OK dane-only";
  d.reason = "every MX host has usable TLSA records";
  d.ttl = std::chrono::seconds{300};
  d.explain = {"MX secure", "TLSA usable"};
  return d;
}

TEST(JsonRender, DecisionGolden) {
  const std::string id = R"("q1")";
  const auto d = sample_decision();
  const auto line = render_decision(d, false, &id, d.decided_at);
  EXPECT_EQ(
      line,
      R"({"status":"ok","decision":{"domain":"example.test","action":"require-tls",)"
      R"("verify":"dane","source":"dane","mx":[{"host":"mx.example.test","preference":10,)"
      R"("allowed":true,"verify":"dane","tlsa":[{"usage":3,"selector":1,"mtype":1,"data":"ab01"}]}],)"
      R"("mta_sts":null,"dnssec":"secure","requiretls":{"requested":false,"satisfiable":false,)"
      R"("peer_must_advertise":false},"tlsrpt":null,"postfix":"OK dane-only",)"
      R"("reason":"every MX host has usable TLSA records","ttl":300},"id":"q1"})");
  const auto j = parse_response(line);
  EXPECT_EQ(j["status"], "ok");
  EXPECT_EQ(j["decision"]["action"], "require-tls");
  EXPECT_EQ(j["id"], "q1");
  EXPECT_FALSE(j["decision"].contains("explain"));

  const auto explained = parse_response(render_decision(d, true, nullptr, d.decided_at));
  EXPECT_EQ(explained["decision"]["explain"], json::array({"MX secure", "TLSA usable"}));
  EXPECT_FALSE(explained.contains("id"));
}

// SPEC §3: a decision answered from memory carries the TTL that remains.
TEST(JsonRender, TtlIsWhatRemains) {
  const auto d = sample_decision();  // ttl 300
  const auto ttl_at = [&d](std::chrono::seconds later) {
    return parse_response(
        render_decision(d, false, nullptr, d.decided_at + later))["decision"]["ttl"];
  };
  EXPECT_EQ(ttl_at(std::chrono::seconds{0}), 300);
  EXPECT_EQ(ttl_at(std::chrono::seconds{100}), 200);
  EXPECT_EQ(ttl_at(std::chrono::seconds{400}), 0);
}

TEST(JsonRender, OkObjects) {
  EXPECT_EQ(render_ok(nullptr), R"({"status":"ok"})");
  const std::string id = "null";
  EXPECT_EQ(render_ok(&id), R"({"status":"ok","id":null})");
  EXPECT_EQ(render_ok("entries", "[\n  {\"domain\": \"a.example\"}\r\n]", nullptr),
            R"({"status":"ok","entries":[   {"domain": "a.example"}  ]})");
  const auto stats = parse_response(render_ok("stats", R"({"decisions":3})", &id));
  EXPECT_EQ(stats["stats"]["decisions"], 3);
  // A payload that is not JSON becomes an internal error, never a broken line.
  const auto bad = parse_response(render_ok("entries", "[1,", nullptr));
  EXPECT_EQ(bad["status"], "error");
  EXPECT_EQ(bad["error"]["code"], "internal");
  EXPECT_EQ(parse_response(render_ok("status", "1", nullptr))["status"], "error");
  EXPECT_EQ(parse_response(render_ok("n", std::string("[1]\0]", 5), nullptr))["status"], "error");
}

TEST(JsonRender, ErrorFromParserRoundTrips) {
  const std::string line = R"({"op":"decide","domain":"exa mple.com","id":9})";
  const auto got = parse_json_request(line);
  ASSERT_FALSE(got);
  const auto parts = json_error_parts(got.error());
  const auto id = json_request_id(line);
  ASSERT_TRUE(id);
  const auto j = parse_response(render_error(parts.code, parts.message, &*id));
  EXPECT_EQ(j["error"]["code"], "bad-domain");
  EXPECT_EQ(j["id"], 9);
}

}  // namespace
}  // namespace tlspolicy::proto
