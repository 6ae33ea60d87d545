// SPDX-License-Identifier: Apache-2.0
//
// parse_json_report(): the JSON-lines "report" op payload (json_report.hpp).
// RFC-CHECKLIST IDs: RPT-3 (policy domain), RPT-7 (policy types), RPT-9
// (field names, A-labels), RPT-10 (result types), RPT-11 (policy strings).
#include "tlspolicy/tlsrpt/json_report.hpp"

#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

#include "tlspolicy/tlsrpt/model.hpp"
#include "tlspolicy/util/quote.hpp"

#include "support/testing.hpp"

namespace tlspolicy::tlsrpt {
namespace {

using namespace std::string_literals;

JsonReport parse_ok(std::string_view text) {
  auto r = parse_json_report(text);
  EXPECT_TRUE(r) << (r ? "" : r.error().detail) << "\n" << text;
  return r ? *r : JsonReport{};
}

// RPT-7 RPT-9 RPT-11: a success with an STS policy.
TEST(TlsrptJsonReport, SuccessWithPolicy) {
  const JsonReport r = parse_ok(
      R"J({"op":"report","id":7,"v":1,"domain":"Example.COM","result":"success",)J"
      R"J("policy":{"policy-type":"sts","policy-string":["version: STSv1","mode: enforce",)J"
      R"J("mx: *.mail.example.com","max_age: 604800"],"mx-host":["*.mail.example.com"]},)J"
      R"J("tlsrpt-record":"v=TLSRPTv1; rua=mailto:tlsrpt@example.com"})J");
  EXPECT_TRUE(r.policy_given);
  const ResultBatch& b = r.batch;
  EXPECT_EQ(b.domain, "example.com");
  EXPECT_EQ(b.origin, Origin::JsonOp);
  EXPECT_EQ(b.at, util::TimePoint{});
  EXPECT_EQ(b.tlsrpt_record, "v=TLSRPTv1; rua=mailto:tlsrpt@example.com");
  ASSERT_EQ(b.policies.size(), 1U);
  const PolicyResult& p = b.policies[0];
  EXPECT_EQ(p.policy.type, PolicyType::Sts);
  EXPECT_EQ(p.policy.policy_domain, "example.com");  // RPT-3: defaults to the domain
  EXPECT_EQ(p.policy.policy_strings.size(), 4U);
  EXPECT_EQ(p.policy.mx_hosts, (std::vector<std::string>{"*.mail.example.com"}));
  EXPECT_EQ(p.successes, 1U);
  EXPECT_EQ(p.failures, 0U);
  EXPECT_TRUE(p.details.empty());
}

// RPT-3 RPT-7 RPT-9 RPT-10: a DANE failure; the policy domain is the TLSA
// base domain; every failure-detail field.
TEST(TlsrptJsonReport, FailureWithDetails) {
  const JsonReport r = parse_ok(
      R"J({"op":"report","domain":"example.com","result":"failure",)J"
      R"J("policy":{"policy-type":"tlsa","policy-domain":"MX.Hoster.Example.",)J"
      R"J("policy-string":["3 1 1 ABCD"]},)J"
      R"J("failure-details":[{"result-type":"certificate-expired","sending-mta-ip":"192.0.2.1",)J"
      R"J("receiving-mx-hostname":"MX.Hoster.Example.","receiving-mx-helo":"mx.hoster",)J"
      R"J("receiving-ip":"198.51.100.7","additional-information":"https://example.com/why",)J"
      R"J("failure-reason-code":"X509_V_ERR_CERT_HAS_EXPIRED"},)J"
      R"J({"result-type":"validation-failure"}]})J");
  EXPECT_TRUE(r.policy_given);
  const PolicyResult& p = r.batch.policies.at(0);
  EXPECT_EQ(p.policy.type, PolicyType::Tlsa);
  EXPECT_EQ(p.policy.policy_domain, "mx.hoster.example");
  EXPECT_EQ(p.successes, 0U);
  EXPECT_EQ(p.failures, 2U);
  ASSERT_EQ(p.details.size(), 2U);
  const FailureDetail want{ResultType::CertificateExpired,
                           "192.0.2.1",
                           "mx.hoster.example",
                           "mx.hoster",
                           "198.51.100.7",
                           "https://example.com/why",
                           "X509_V_ERR_CERT_HAS_EXPIRED"};
  EXPECT_EQ(p.details[0], want);
  FailureDetail bare;
  bare.result_type = ResultType::ValidationFailure;
  EXPECT_EQ(p.details[1], bare);
  EXPECT_EQ(r.batch.tlsrpt_record, "");
}

// RPT-9 (summary counts): a failure without details still counts one failed
// session.
TEST(TlsrptJsonReport, FailureWithoutDetailsCountsOne) {
  const JsonReport r = parse_ok(
      R"J({"domain":"example.com","result":"failure","policy":{"policy-type":"no-policy-found"}})J");
  const PolicyResult& p = r.batch.policies.at(0);
  EXPECT_EQ(p.policy.type, PolicyType::NoPolicyFound);
  EXPECT_EQ(p.successes, 0U);
  EXPECT_EQ(p.failures, 1U);
}

// RPT-9 (summary counts): one op is one session; a success with failure
// details would count it twice (or lose the details), so it is refused.
TEST(TlsrptJsonReport, Rpt9SuccessWithFailureDetailsIsRefused) {
  const auto r = parse_json_report(
      R"J({"domain":"example.com","result":"success","policy":{"policy-type":"sts"},)J"
      R"J("failure-details":[{"result-type":"starttls-not-supported","receiving-mx-hostname":"mx1.example.com"}]})J");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().detail.find("failure-details"), std::string::npos) << r.error().detail;
  EXPECT_TRUE(
      parse_json_report(R"J({"domain":"example.com","result":"success","failure-details":[]})J"));
}

// Without "policy": a no-policy-found placeholder for the report domain, and
// policy_given false so that the daemon may substitute its own (RPT-3).
TEST(TlsrptJsonReport, MissingPolicy) {
  const JsonReport r =
      parse_ok(R"J({"op":"report","domain":"bücher.example","result":"failure",)J"
               R"J("failure-details":[{"result-type":"sts-policy-fetch-error"}]})J");
  EXPECT_FALSE(r.policy_given);
  EXPECT_EQ(r.batch.domain, "xn--bcher-kva.example");
  ASSERT_EQ(r.batch.policies.size(), 1U);
  const PolicyResult& p = r.batch.policies[0];
  EXPECT_EQ(p.policy.type, PolicyType::NoPolicyFound);
  EXPECT_EQ(p.policy.policy_domain, "xn--bcher-kva.example");
  EXPECT_EQ(p.failures, 1U);
  EXPECT_EQ(p.details.at(0).result_type, ResultType::StsPolicyFetchError);
}

// RPT-3 RPT-9: the minimal request, only what is required.
TEST(TlsrptJsonReport, Minimal) {
  const JsonReport r = parse_ok(R"J({"domain":"example.com","result":"success"})J");
  EXPECT_FALSE(r.policy_given);
  EXPECT_EQ(r.batch.policies.at(0).successes, 1U);
  EXPECT_EQ(r.batch.policies.at(0).failures, 0U);
}

// RPT-9: "op", "id" and "v" are the protocol layer's: ignored here, any value.
TEST(TlsrptJsonReport, ProtocolKeysIgnored) {
  const JsonReport r = parse_ok(
      R"J({"op":"not-checked-here","id":{"any":[1]},"v":"x","domain":"example.com","result":"success"})J");
  EXPECT_EQ(r.batch.domain, "example.com");
}

// RPT-10: every result type by name.
TEST(TlsrptJsonReport, EveryResultType) {
  for (const std::string_view name :
       {"starttls-not-supported", "certificate-host-mismatch", "certificate-expired",
        "certificate-not-trusted", "validation-failure", "tlsa-invalid", "dnssec-invalid",
        "dane-required", "sts-policy-fetch-error", "sts-policy-invalid", "sts-webpki-invalid"}) {
    const std::string text =
        R"J({"domain":"example.com","result":"failure","failure-details":[{"result-type":")J" +
        std::string{name} + "\"}]}";
    const JsonReport r = parse_ok(text);
    ASSERT_EQ(r.batch.policies.at(0).details.size(), 1U);
    EXPECT_EQ(to_string(r.batch.policies[0].details[0].result_type), name);
  }
}

// RPT-7: every policy type by name.
TEST(TlsrptJsonReport, EveryPolicyType) {
  for (const std::string_view name : {"tlsa", "sts", "no-policy-found"}) {
    const std::string text =
        R"J({"domain":"example.com","result":"success","policy":{"policy-type":")J" +
        std::string{name} + "\"}}";
    EXPECT_EQ(to_string(parse_ok(text).batch.policies.at(0).policy.type), name);
  }
}

// RPT-9 RPT-10: exactly the limit passes.
TEST(TlsrptJsonReport, LimitsAccepted) {
  std::string details;
  for (std::size_t i = 0; i < k_max_list_items; ++i) {
    details += i == 0 ? "" : ",";
    details += R"J({"result-type":"dane-required"})J";
  }
  EXPECT_EQ(parse_ok(R"J({"domain":"example.com","result":"failure","failure-details":[)J" +
                     details + "]}")
                .batch.policies.at(0)
                .failures,
            k_max_list_items);
  const std::string text = R"J({"domain":"example.com","result":"failure","tlsrpt-record":")J" +
                           std::string(k_max_text_bytes, 'r') + "\"}";
  EXPECT_EQ(parse_ok(text).batch.tlsrpt_record.size(), k_max_text_bytes);
}

struct RejectRow {
  const char* name;
  std::string text;
  std::string_view detail_has;
};

void PrintTo(const RejectRow& row, std::ostream* os) { *os << row.name; }

std::string with(std::string_view fields) {
  return R"J({"op":"report","domain":"example.com","result":"failure")J" + std::string{fields} +
         "}";
}

/// The 200-byte key of "unknown key cut" as an error detail shows it: cut, marked.
const std::string cut_key = "\"" + std::string(util::k_max_shown_bytes, 'k') + "...\"";

std::vector<RejectRow> reject_rows() {
  std::string many_strings = R"J(,"policy":{"policy-type":"sts","policy-string":[)J";
  for (std::size_t i = 0; i <= k_max_list_items; ++i) many_strings += i == 0 ? "\"s\"" : ",\"s\"";
  many_strings += "]}";
  std::string many_details = R"J(,"failure-details":[)J";
  for (std::size_t i = 0; i <= k_max_list_items; ++i) {
    many_details += i == 0 ? "" : ",";
    many_details += R"J({"result-type":"dane-required"})J";
  }
  many_details += "]";
  std::string oversize = with("");
  oversize.insert(1, k_max_datagram + 1 - oversize.size(), ' ');
  return {
      {"empty", "", "JSON"},
      {"not JSON", "report example.com", "JSON"},
      {"not an object", R"J(["report"])J", "object"},
      {"invalid UTF-8", with(",\"tlsrpt-record\":\"\xfe\""), "UTF-8"},
      {"raw NUL", "{\"domain\":\"example.com\",\0\"result\":\"success\"}"s, "NUL"},
      {"oversize", oversize, "65536"},
      {"too deep", with(R"J(,"policy":)J" + std::string(40, '[') + std::string(40, ']')), "nested"},
      {"unknown top-level key", with(R"J(,"failure_details":[])J"),
       "unknown key \"failure_details\""},
      {"unknown key in policy", with(R"J(,"policy":{"policy-type":"sts","mode":"enforce"})J"),
       "unknown key \"mode\" in \"policy\""},
      {"unknown key in detail",
       with(R"J(,"failure-details":[{"result-type":"dane-required","failed-session-count":3}])J"),
       "unknown key \"failed-session-count\" in \"failure-details[0]\""},
      {"unknown key quoted safely", with(R"J(,"bad\u0001key":1)J"), "unknown key \"bad\\x01key\""},
      {"unknown key cut", with(",\"" + std::string(200, 'k') + "\":1"), cut_key},
      {"domain missing", R"J({"op":"report","result":"success"})J", "\"domain\" is missing"},
      {"domain not a string", R"J({"domain":["example.com"],"result":"success"})J",
       "\"domain\" must be a string"},
      {"domain bad", R"J({"domain":"example..com","result":"success"})J", "\"domain\""},
      {"domain an address", R"J({"domain":"user@example.com","result":"success"})J", "\"domain\""},
      {"result missing", R"J({"domain":"example.com"})J", "\"result\" is missing"},
      {"result not a string", R"J({"domain":"example.com","result":true})J",
       "\"result\" must be a string"},
      {"result unknown", R"J({"domain":"example.com","result":"Success"})J",
       "\"result\" \"Success\" is not"},
      {"result is a result type", R"J({"domain":"example.com","result":"certificate-expired"})J",
       "\"result\""},
      {"tlsrpt-record not a string", with(R"J(,"tlsrpt-record":null)J"),
       "\"tlsrpt-record\" must be a string"},
      {"tlsrpt-record too long",
       with(R"J(,"tlsrpt-record":")J" + std::string(k_max_text_bytes + 1, 'r') + "\""),
       "longer than 4096"},
      {"policy not an object", with(R"J(,"policy":"sts")J"), "\"policy\" must be an object"},
      {"policy-type missing", with(R"J(,"policy":{"policy-domain":"example.com"})J"),
       "\"policy.policy-type\" is missing"},
      {"policy-type numeric", with(R"J(,"policy":{"policy-type":2})J"),
       "\"policy.policy-type\" must be a string"},
      {"policy-type unknown", with(R"J(,"policy":{"policy-type":"dane"})J"),
       "\"policy.policy-type\" \"dane\" is not"},
      {"policy-type wrong case", with(R"J(,"policy":{"policy-type":"STS"})J"), "policy-type"},
      {"policy-domain bad",
       with(R"J(,"policy":{"policy-type":"sts","policy-domain":"-bad.example"})J"),
       "\"policy.policy-domain\""},
      {"policy-string not an array",
       with(R"J(,"policy":{"policy-type":"sts","policy-string":"mode: enforce"})J"),
       "\"policy.policy-string\" must be an array"},
      {"policy-string element", with(R"J(,"policy":{"policy-type":"sts","policy-string":[null]})J"),
       "\"policy.policy-string[0]\" must be a string"},
      {"policy-string control",
       with(R"J(,"policy":{"policy-type":"sts","policy-string":["a\u0000"]})J"),
       "control character"},
      {"policy-string too many", with(many_strings), "more than 1000"},
      {"mx-host element", with(R"J(,"policy":{"policy-type":"sts","mx-host":[1]})J"),
       "\"policy.mx-host[0]\" must be a string"},
      {"failure-details not an array",
       with(R"J(,"failure-details":{"result-type":"dane-required"})J"),
       "\"failure-details\" must be an array"},
      {"failure detail not an object", with(R"J(,"failure-details":["dane-required"])J"),
       "\"failure-details[0]\" must be an object"},
      {"result-type missing", with(R"J(,"failure-details":[{"receiving-ip":"192.0.2.1"}])J"),
       "\"failure-details[0].result-type\" is missing"},
      {"result-type bad",
       with(
           R"J(,"failure-details":[{"result-type":"dane-required"},{"result-type":"certificate_expired"}])J"),
       "\"failure-details[1].result-type\" \"certificate_expired\" is not"},
      {"result-type numeric", with(R"J(,"failure-details":[{"result-type":204}])J"),
       "\"failure-details[0].result-type\" must be a string"},
      {"detail field not a string",
       with(R"J(,"failure-details":[{"result-type":"dane-required","receiving-ip":4}])J"),
       "\"failure-details[0].receiving-ip\" must be a string"},
      {"detail field control",
       with(
           R"J(,"failure-details":[{"result-type":"dane-required","additional-information":"a\nb"}])J"),
       "\"failure-details[0].additional-information\" contains a control character"},
      {"too many details", with(many_details), "more than 1000"},
  };
}

class TlsrptJsonReportReject : public ::testing::TestWithParam<RejectRow> {};

// Every rejection rule of json_report.hpp, including unknown keys (RPT-7, RPT-9, RPT-10).
TEST_P(TlsrptJsonReportReject, Rejected) {
  const RejectRow& row = GetParam();
  const auto r = parse_json_report(row.text);
  ASSERT_FALSE(r) << row.name;
  EXPECT_EQ(r.error().code, Errc::InvalidArgument);
  EXPECT_EQ(r.error().retry, Retry::Permanent);
  EXPECT_NE(r.error().detail.find(row.detail_has), std::string::npos)
      << row.name << ": " << r.error().detail;
  EXPECT_LT(r.error().detail.size(), 400U) << row.name << ": " << r.error().detail;
}

INSTANTIATE_TEST_SUITE_P(Rules, TlsrptJsonReportReject, ::testing::ValuesIn(reject_rows()),
                         tlspolicy::testing::RowName{});

}  // namespace
}  // namespace tlspolicy::tlsrpt
