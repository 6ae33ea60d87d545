// SPDX-License-Identifier: Apache-2.0
//
// parse_datagram(): the libtlsrpt datagram (Postfix 3.10+) into a ResultBatch.
// The valid shapes follow libtlsrpt's own examples (doc/example.txt); the
// rejection table covers every rule in datagram.hpp. RFC-CHECKLIST IDs:
// RPT-3 (policy domain), RPT-7 (policy types), RPT-9 (fields, A-labels),
// RPT-10 (result types), RPT-11 (policy strings).
#include "tlspolicy/tlsrpt/datagram.hpp"

#include <chrono>
#include <cstddef>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

#include "tlspolicy/tlsrpt/model.hpp"

#include "support/testing.hpp"

namespace tlspolicy::tlsrpt {
namespace {

using namespace std::chrono_literals;
using namespace std::string_literals;

const util::TimePoint k_at{std::chrono::sys_days{std::chrono::year{2026} / 11 / 24} + 7h};

ResultBatch parse_ok(std::string_view bytes) {
  auto r = parse_datagram(bytes, k_at);
  EXPECT_TRUE(r) << (r ? "" : r.error().detail) << "\n" << bytes;
  return r ? *r : ResultBatch{};
}

// The reference datagram: one STS policy, one failure (RPT-7, RPT-9, RPT-10, RPT-11).
constexpr std::string_view k_sts_failure =
    R"J({"d": "example.com","pr": "v=TLSRPTv1; rua=mailto:r@example.com","policies":[{"policy-type":2,"policy-domain": "example.com","policy-string":["version: STSv1","mode: testing","mx: *.mail.example.com","max_age: 86400"],"mx-host":["*.mail.example.com"],"failure-details":[{"c":202,"s": "192.0.2.1","n": "mx1.mail.example.com","h": "mx1.helo","r": "198.51.100.7","a": "more info","f": "999 TEST"}],"t":1,"f":1}]})J";

// RPT-7 RPT-9 RPT-10 RPT-11
TEST(TlsrptDatagram, StsPolicyWithFailure) {
  const ResultBatch b = parse_ok(k_sts_failure);
  EXPECT_EQ(b.domain, "example.com");
  EXPECT_EQ(b.tlsrpt_record, "v=TLSRPTv1; rua=mailto:r@example.com");
  EXPECT_EQ(b.at, k_at);
  EXPECT_EQ(b.origin, Origin::Datagram);
  ASSERT_EQ(b.policies.size(), 1U);
  const PolicyResult& p = b.policies[0];
  EXPECT_EQ(p.policy.type, PolicyType::Sts);
  EXPECT_EQ(p.policy.policy_domain, "example.com");
  EXPECT_EQ(p.policy.policy_strings,
            (std::vector<std::string>{"version: STSv1", "mode: testing", "mx: *.mail.example.com",
                                      "max_age: 86400"}));
  EXPECT_EQ(p.policy.mx_hosts, (std::vector<std::string>{"*.mail.example.com"}));
  EXPECT_EQ(p.successes, 0U);
  EXPECT_EQ(p.failures, 1U);
  ASSERT_EQ(p.details.size(), 1U);
  const FailureDetail want{ResultType::CertificateHostMismatch,
                           "192.0.2.1",
                           "mx1.mail.example.com",
                           "mx1.helo",
                           "198.51.100.7",
                           "more info",
                           "999 TEST"};
  EXPECT_EQ(p.details[0], want);
}

// The bytes as libtlsrpt writes them ("\n," between parts, no spaces):
// libtlsrpt example 3, two failures (RPT-7 RPT-10 RPT-11).
TEST(TlsrptDatagram, LibtlsrptLayoutWithTwoFailures) {
  const std::string bytes =
      "{\"d\": \"company-y.example\",\"pr\": \"v=TLSRPTv1;rua=mailto:tlsrpt@company-y.example\""
      "\n,\"policies\":[{\"policy-type\":2,\"policy-domain\": \"company-y.example\""
      ",\"policy-string\":[\"version: STSv1\",\"mode: testing\",\"mx: *.mail.company-y.example\","
      "\"max_age: 86400\"],\"mx-host\":[\"*.mail.company-y.example\",\"*.mail2.company-y.example\"]"
      ",\"failure-details\":[{\"c\":302,\"s\": \"1.2.3.4\",\"n\": \"mailin.example.com\",\"h\": "
      "\"test-ehlo.example.com\",\"r\": \"11.22.33.44\",\"a\": \"This is additional "
      "information\",\"f\": \"999 TEST ERROR\"},{\"c\":303,\"s\": \"1.2.3.5\",\"n\": "
      "\"mailin.example.com\",\"h\": \"test-ehlo.example.com\",\"r\": \"11.22.33.55\",\"a\": "
      "\"This is additional information\",\"f\": \"999 TEST ERROR\"}],\"t\":2,\"f\":1}]}";
  const ResultBatch b = parse_ok(bytes);
  ASSERT_EQ(b.policies.size(), 1U);
  const PolicyResult& p = b.policies[0];
  EXPECT_EQ(p.policy.mx_hosts.size(), 2U);
  EXPECT_EQ(p.failures, 2U);
  EXPECT_EQ(p.successes, 0U);
  ASSERT_EQ(p.details.size(), 2U);
  EXPECT_EQ(p.details[0].result_type, ResultType::StsPolicyInvalid);
  EXPECT_EQ(p.details[1].result_type, ResultType::StsWebpkiInvalid);
  EXPECT_EQ(p.details[1].receiving_ip, "11.22.33.55");
}

// libtlsrpt example 2: TLSA, two policy strings, certificate-expired
// (RPT-3: the policy domain is the TLSA base domain; RPT-11).
TEST(TlsrptDatagram, TlsaWithTwoPolicyStrings) {
  const ResultBatch b = parse_ok(
      R"J({"d":"example.com","policies":[{"policy-type":1,"policy-domain":"mx.hoster.example",)J"
      R"J("policy-string":["3 0 1 1F850A337E6DB9C609C522D136A475638CC43E1ED424F8EEC8513D747D1D085D",)J"
      R"J("3 0 1 12350A337E6DB9C6123522D136A475638CC43E1ED424F8EEC8513D747D1D1234"],)J"
      R"J("failure-details":[{"c":204,"s":"1.2.3.4","n":"mailin.example.com","h":"tes-ehlo.example.com",)J"
      R"J("r":"11.22.33.55","a":"This is additional information","f":"999 TEST ERROR"}],"t":1,"f":1}]})J");
  ASSERT_EQ(b.policies.size(), 1U);
  const PolicyResult& p = b.policies[0];
  EXPECT_EQ(p.policy.type, PolicyType::Tlsa);
  EXPECT_EQ(p.policy.policy_domain, "mx.hoster.example");
  ASSERT_EQ(p.policy.policy_strings.size(), 2U);
  EXPECT_EQ(p.policy.policy_strings[0],
            "3 0 1 1F850A337E6DB9C609C522D136A475638CC43E1ED424F8EEC8513D747D1D085D");
  EXPECT_TRUE(p.policy.mx_hosts.empty());
  EXPECT_EQ(p.failures, 1U);
  ASSERT_EQ(p.details.size(), 1U);
  EXPECT_EQ(p.details[0].result_type, ResultType::CertificateExpired);
}

// libtlsrpt example 1: no-policy-found, success, no policy domain (RPT-3, RPT-7).
TEST(TlsrptDatagram, NoPolicyFoundSuccessDefaultsPolicyDomain) {
  const ResultBatch b =
      parse_ok(R"J({"d": "Example.COM.","pr": "v=TLSRPTv1; rua=mailto:r@example.com")J"
               "\n"
               R"J(,"policies":[{"policy-type":9,"t":0,"f":0}]})J");
  EXPECT_EQ(b.domain, "example.com");
  ASSERT_EQ(b.policies.size(), 1U);
  const PolicyResult& p = b.policies[0];
  EXPECT_EQ(p.policy.type, PolicyType::NoPolicyFound);
  EXPECT_EQ(p.policy.policy_domain, "example.com");
  EXPECT_TRUE(p.policy.policy_strings.empty());
  EXPECT_TRUE(p.details.empty());
  EXPECT_EQ(p.successes, 1U);
  EXPECT_EQ(p.failures, 0U);
}

// libtlsrpt example 8: STS failed, TLSA succeeded (RPT-7).
TEST(TlsrptDatagram, MultiplePoliciesMixed) {
  const ResultBatch b = parse_ok(
      R"J({"d":"company-y.example","policies":[)J"
      R"J({"policy-type":2,"policy-domain":"company-y.example","policy-string":["version: STSv1"],)J"
      R"J("failure-details":[{"c":302},{"c":303,"r":"11.22.33.55"}],"t":2,"f":1})J"
      "\n"
      R"J(,{"policy-type":1,"policy-domain":"company-y.example","policy-string":["3 0 1 AB"],"t":0,"f":0})J"
      "\n"
      R"J(,{"policy-type":9,"f":1}]})J");
  ASSERT_EQ(b.policies.size(), 3U);
  EXPECT_EQ(b.policies[0].policy.type, PolicyType::Sts);
  EXPECT_EQ(b.policies[0].successes, 0U);
  EXPECT_EQ(b.policies[0].failures, 2U);
  EXPECT_EQ(b.policies[0].details.size(), 2U);
  EXPECT_EQ(b.policies[1].policy.type, PolicyType::Tlsa);
  EXPECT_EQ(b.policies[1].successes, 1U);
  EXPECT_EQ(b.policies[1].failures, 0U);
  // A failure without details still counts one failed session.
  EXPECT_EQ(b.policies[2].policy.type, PolicyType::NoPolicyFound);
  EXPECT_EQ(b.policies[2].policy.policy_domain, "company-y.example");
  EXPECT_EQ(b.policies[2].successes, 0U);
  EXPECT_EQ(b.policies[2].failures, 1U);
  EXPECT_TRUE(b.policies[2].details.empty());
}

// Older libtlsrpt versions send no "pr" (RPT-9).
TEST(TlsrptDatagram, WithoutTlsrptRecord) {
  const ResultBatch b = parse_ok(R"J({"d":"example.com","policies":[{"policy-type":2,"f":0}]})J");
  EXPECT_EQ(b.tlsrpt_record, "");
  EXPECT_EQ(b.policies.at(0).successes, 1U);
}

// RPT-9: forward compatibility: unknown keys at every level are ignored;
// "t" is never trusted, whatever its type or value.
TEST(TlsrptDatagram, UnknownKeysIgnored) {
  const ResultBatch b = parse_ok(
      R"J({"v":2,"d":"example.com","x-new":{"nested":[1,2,{"a":null}]},"policies":[)J"
      R"J({"policy-type":2,"future":true,"failure-details":[{"c":201,"z":[],"s":"192.0.2.1"}],)J"
      R"J("t":"many","f":1,"extra":1.5}],"trailer":null})J");
  ASSERT_EQ(b.policies.size(), 1U);
  EXPECT_EQ(b.policies[0].failures, 1U);
  ASSERT_EQ(b.policies[0].details.size(), 1U);
  EXPECT_EQ(b.policies[0].details[0].result_type, ResultType::StarttlsNotSupported);
  EXPECT_EQ(b.policies[0].details[0].sending_mta_ip, "192.0.2.1");
}

// RPT-9 (summary counts): "t" disagreeing with the details: the details count.
TEST(TlsrptDatagram, FailureCountIgnoresT) {
  const ResultBatch b =
      parse_ok(R"J({"d":"example.com","policies":[{"policy-type":2,)J"
               R"J("failure-details":[{"c":201},{"c":201},{"c":205}],"t":99,"f":1}]})J");
  EXPECT_EQ(b.policies.at(0).failures, 3U);
}

// RPT-9 (summary counts): libtlsrpt lets a policy finish with success after
// adding failures: the session succeeded with this policy, and each detail is
// a failed session.
TEST(TlsrptDatagram, SuccessWithDetailsCountsBoth) {
  const ResultBatch b = parse_ok(R"J({"d":"example.com","policies":[{"policy-type":2,)J"
                                 R"J("failure-details":[{"c":201},{"c":202}],"t":2,"f":0}]})J");
  EXPECT_EQ(b.policies.at(0).successes, 1U);
  EXPECT_EQ(b.policies.at(0).failures, 2U);
}

// RPT-9: domains are A-labels, lower case, no trailing dot; MX host names
// too when they are domain names; IPs and other text as sent.
TEST(TlsrptDatagram, Normalisation) {
  const ResultBatch b = parse_ok(
      R"J({"d":"BÜCHER.example.","policies":[{"policy-type":1,"policy-domain":"MX.Hoster.Example.",)J"
      R"J("mx-host":["*.Mail.Example.COM"],"policy-string":["3 1 1 ABCDEF"],"failure-details":[)J"
      R"J({"c":304,"n":"MX1.Mail.Example.COM.","r":"2001:DB8::1","s":"192.0.2.1","h":"HELO.Example"},)J"
      R"J({"c":305,"n":"192.0.2.25"},)J"
      R"J({"c":306,"n":"not a host name!"},)J"
      R"J({"c":201,"n":"mx.bücher.example"}],"f":1}]})J");
  EXPECT_EQ(b.domain, "xn--bcher-kva.example");
  const PolicyResult& p = b.policies.at(0);
  EXPECT_EQ(p.policy.policy_domain, "mx.hoster.example");
  EXPECT_EQ(p.policy.mx_hosts, (std::vector<std::string>{"*.Mail.Example.COM"}));
  EXPECT_EQ(p.policy.policy_strings, (std::vector<std::string>{"3 1 1 ABCDEF"}));
  ASSERT_EQ(p.details.size(), 4U);
  EXPECT_EQ(p.details[0].receiving_mx_hostname, "mx1.mail.example.com");
  EXPECT_EQ(p.details[0].receiving_ip, "2001:DB8::1");
  EXPECT_EQ(p.details[0].receiving_mx_helo, "HELO.Example");
  EXPECT_EQ(p.details[1].receiving_mx_hostname, "192.0.2.25");
  EXPECT_EQ(p.details[2].receiving_mx_hostname, "not a host name!");
  EXPECT_EQ(p.details[3].receiving_mx_hostname, "mx.xn--bcher-kva.example");
  EXPECT_EQ(p.details[0].result_type, ResultType::TlsaInvalid);
  EXPECT_EQ(p.details[1].result_type, ResultType::DnssecInvalid);
  EXPECT_EQ(p.details[2].result_type, ResultType::DaneRequired);
}

// RPT-7 (I-JSON text): escapes and non-ASCII text are fine; DEL is not a C0
// control.
TEST(TlsrptDatagram, EscapedTextAccepted) {
  const ResultBatch b = parse_ok(
      R"J({"d":"example.com","policies":[{"policy-type":2,"failure-details":[)J"
      R"J({"c":205,"a":"quote \" slash \/ back \\ é \u00e9 \ud83d\ude00 del \u007f"}],"f":1}]})J");
  EXPECT_EQ(b.policies.at(0).details.at(0).additional_information,
            "quote \" slash / back \\ é é 😀 del \x7f");
}

// A failure detail's free text comes as the MTA has it: Postfix 3.10 sends the receiving MX's
// whole EHLO response as "h", reply codes and one line per extension (seen from 3.10.13 in
// suites/deliveries.py, where such a datagram was dropped as malformed before). The report
// keeps the announced name (RFC 8460 §4.4 receiving-mx-helo); other controls become spaces.
TEST(TlsrptDatagram, FreeTextWithLineBreaksKept) {
  const ResultBatch b =
      parse_ok(R"J({"d":"example.com","policies":[{"policy-type":2,"failure-details":[)J"
               R"J({"c":202,"n":"mx1.example.com","h":"250-mx1.example.com\n250-PIPELINING\n)J"
               R"J(250-SIZE 10240000\n250 STARTTLS","a":"line\r\nline\u001f","f":"x\ty"},)J"
               R"J({"c":202,"h":""},{"c":202,"h":" \n"},{"c":202,"h":"mx2.example.com ESMTP"},)J"
               R"J({"c":202,"h":"250 mx3.example.com"}],"f":1}]})J");
  const auto& d = b.policies.at(0).details;
  EXPECT_EQ(d.at(0).receiving_mx_helo, "mx1.example.com");
  EXPECT_EQ(d.at(0).additional_information, "line  line ");
  EXPECT_EQ(d.at(0).failure_reason_code, "x y");
  EXPECT_EQ(d.at(1).receiving_mx_helo, "");
  EXPECT_EQ(d.at(2).receiving_mx_helo, "");
  EXPECT_EQ(d.at(3).receiving_mx_helo, "mx2.example.com");
  EXPECT_EQ(d.at(4).receiving_mx_helo, "mx3.example.com");
}

std::string policies_json(std::size_t n) {
  std::string s = R"J({"d":"example.com","policies":[)J";
  for (std::size_t i = 0; i < n; ++i) {
    if (i > 0) s += ',';
    s += R"J({"policy-type":9,"f":0})J";
  }
  return s + "]}";
}

std::string string_list_json(std::string_view key, std::size_t n) {
  std::string s = R"J({"d":"example.com","policies":[{"policy-type":2,")J";
  s += key;
  s += "\":[";
  for (std::size_t i = 0; i < n; ++i) {
    if (i > 0) s += ',';
    s += "\"x\"";
  }
  return s + "],\"f\":0}]}";
}

std::string details_json(std::size_t n) {
  std::string s = R"J({"d":"example.com","policies":[{"policy-type":2,"failure-details":[)J";
  for (std::size_t i = 0; i < n; ++i) {
    if (i > 0) s += ',';
    s += R"J({"c":201})J";
  }
  return s + "],\"f\":1}]}";
}

std::string long_text_json(std::size_t n) {
  return R"J({"d":"example.com","policies":[{"policy-type":2,"failure-details":[{"c":201,"a":")J" +
         std::string(n, 'a') + "\"}],\"f\":1}]}";
}

std::string nested_json(std::size_t depth) {
  // The unknown key "x" holds depth-1 nested arrays: total depth = depth.
  return R"J({"d":"example.com","policies":[{"policy-type":9,"f":0}],"x":)J" +
         std::string(depth - 1, '[') + std::string(depth - 1, ']') + "}";
}

// RPT-7 RPT-11: the limits themselves are accepted.
TEST(TlsrptDatagram, LimitsAccepted) {
  EXPECT_EQ(parse_ok(policies_json(k_max_policies)).policies.size(), k_max_policies);
  EXPECT_EQ(parse_ok(string_list_json("policy-string", k_max_list_items))
                .policies.at(0)
                .policy.policy_strings.size(),
            k_max_list_items);
  EXPECT_EQ(
      parse_ok(string_list_json("mx-host", k_max_list_items)).policies.at(0).policy.mx_hosts.size(),
      k_max_list_items);
  EXPECT_EQ(parse_ok(details_json(k_max_list_items)).policies.at(0).failures, k_max_list_items);
  EXPECT_EQ(parse_ok(long_text_json(k_max_text_bytes))
                .policies.at(0)
                .details.at(0)
                .additional_information.size(),
            k_max_text_bytes);
  parse_ok(nested_json(k_max_json_depth));
  std::string padded = std::string{k_sts_failure};
  padded.insert(1, k_max_datagram - padded.size(), ' ');
  ASSERT_EQ(padded.size(), k_max_datagram);
  parse_ok(padded);
}

struct RejectRow {
  const char* name;
  std::string bytes;
  std::string_view detail_has;  // a substring the error detail must contain
};

void PrintTo(const RejectRow& row, std::ostream* os) { *os << row.name; }

std::string with_policy(std::string_view policy) {
  return R"J({"d":"example.com","policies":[)J" + std::string{policy} + "]}";
}

std::string with_detail(std::string_view detail) {
  return with_policy(R"J({"policy-type":2,"failure-details":[)J" + std::string{detail} +
                     "],\"f\":1}");
}

std::vector<RejectRow> reject_rows() {
  std::string oversize = std::string{k_sts_failure};
  oversize.insert(1, k_max_datagram + 1 - oversize.size(), ' ');
  return {
      {"empty", "", "JSON"},
      {"not JSON", "hello", "JSON"},
      {"truncated", std::string{k_sts_failure.substr(0, 60)}, "JSON"},
      {"trailing garbage", std::string{k_sts_failure} + "x", "JSON"},
      {"two objects", std::string{k_sts_failure} + std::string{k_sts_failure}, "JSON"},
      {"array", "[" + std::string{k_sts_failure} + "]", "object"},
      {"string", R"J("example.com")J", "object"},
      {"number", "42", "object"},
      {"null", "null", "object"},
      {"invalid UTF-8", with_detail("{\"c\":201,\"a\":\"\xff\"}"), "UTF-8"},
      {"truncated UTF-8", with_detail("{\"c\":201,\"a\":\"\xc3\"}"), "UTF-8"},
      {"overlong UTF-8",
       "{\"d\":\"example.com\",\"pr\":\"\xC0\xAF\",\"policies\":[{\"policy-type\":9,\"f\":0}]}",
       "UTF-8"},
      {"lone surrogate",
       R"J({"d":"example.com","pr":"\ud800","policies":[{"policy-type":9,"f":0}]})J", "JSON"},
      {"raw NUL", "{\"d\":\"example.com\"\0,\"policies\":[]}"s, "NUL"},
      {"raw control in string",
       "{\"d\":\"example.com\",\"pr\":\"a\x01\",\"policies\":[{\"policy-type\":9,\"f\":0}]}",
       "JSON"},
      {"oversize", oversize, "65536"},
      {"too deep", nested_json(k_max_json_depth + 1), "nested"},
      {"d missing", R"J({"policies":[{"policy-type":9,"f":0}]})J", "\"d\" is missing"},
      {"d not a string", R"J({"d":1,"policies":[{"policy-type":9,"f":0}]})J",
       "\"d\" must be a string"},
      {"d null", R"J({"d":null,"policies":[{"policy-type":9,"f":0}]})J", "\"d\""},
      {"d empty", R"J({"d":"","policies":[{"policy-type":9,"f":0}]})J", "\"d\""},
      {"d an IP address", R"J({"d":"192.0.2.1","policies":[{"policy-type":9,"f":0}]})J", "\"d\""},
      {"d with a space", R"J({"d":"exa mple.com","policies":[{"policy-type":9,"f":0}]})J", "\"d\""},
      {"d with control", R"J({"d":"example.com\n","policies":[{"policy-type":9,"f":0}]})J",
       "control"},
      {"pr not a string",
       R"J({"d":"example.com","pr":["v=TLSRPTv1"],"policies":[{"policy-type":9,"f":0}]})J",
       "\"pr\" must be a string"},
      {"pr with NUL escape",
       R"J({"d":"example.com","pr":"v=TLSRPTv1\u0000","policies":[{"policy-type":9,"f":0}]})J",
       "\"pr\" contains a control character"},
      {"policies missing", R"J({"d":"example.com"})J", "\"policies\" is missing"},
      {"policies not an array", R"J({"d":"example.com","policies":{"policy-type":9,"f":0}})J",
       "\"policies\" must be an array"},
      {"policies empty", R"J({"d":"example.com","policies":[]})J", "\"policies\" is empty"},
      {"too many policies", policies_json(k_max_policies + 1), "more than 64 policies"},
      {"policy not an object", with_policy("9"), "\"policies[0]\" must be an object"},
      {"policy-type missing", with_policy(R"J({"f":0})J"),
       "\"policies[0].policy-type\" is missing"},
      {"policy-type as name", with_policy(R"J({"policy-type":"sts","f":0})J"),
       "\"policies[0].policy-type\" must be an integer"},
      {"policy-type float", with_policy(R"J({"policy-type":2.0,"f":0})J"),
       "\"policies[0].policy-type\" must be an integer"},
      {"policy-type unknown", with_policy(R"J({"policy-type":3,"f":0})J"),
       "\"policies[0].policy-type\" is 3"},
      {"policy-type negative", with_policy(R"J({"policy-type":-2,"f":0})J"),
       "\"policies[0].policy-type\" is -2"},
      {"policy-type huge", with_policy(R"J({"policy-type":18446744073709551617,"f":0})J"),
       "policy-type"},
      {"policy-type 2^64-1", with_policy(R"J({"policy-type":18446744073709551615,"f":0})J"),
       "policy-type"},
      {"second policy bad", with_policy(R"J({"policy-type":9,"f":0},{"policy-type":0,"f":0})J"),
       "\"policies[1].policy-type\" is 0"},
      {"policy-domain not a string", with_policy(R"J({"policy-type":2,"policy-domain":2,"f":0})J"),
       "\"policies[0].policy-domain\" must be a string"},
      {"policy-domain bad", with_policy(R"J({"policy-type":2,"policy-domain":"a..b","f":0})J"),
       "\"policies[0].policy-domain\""},
      {"policy-domain empty", with_policy(R"J({"policy-type":2,"policy-domain":"","f":0})J"),
       "\"policies[0].policy-domain\""},
      {"policy-string not an array",
       with_policy(R"J({"policy-type":2,"policy-string":"version: STSv1","f":0})J"),
       "\"policies[0].policy-string\" must be an array"},
      {"policy-string element not a string",
       with_policy(R"J({"policy-type":2,"policy-string":["a",1],"f":0})J"),
       "\"policies[0].policy-string[1]\" must be a string"},
      {"policy-string element with tab",
       with_policy(R"J({"policy-type":2,"policy-string":["a\tb"],"f":0})J"),
       "\"policies[0].policy-string[0]\" contains a control character"},
      {"policy-string too many", string_list_json("policy-string", k_max_list_items + 1),
       "more than 1000"},
      {"mx-host not an array", with_policy(R"J({"policy-type":2,"mx-host":null,"f":0})J"),
       "\"policies[0].mx-host\" must be an array"},
      {"mx-host too many", string_list_json("mx-host", k_max_list_items + 1), "more than 1000"},
      {"mx-host element with newline",
       with_policy(R"J({"policy-type":2,"mx-host":["a\nb"],"f":0})J"), "control"},
      {"f missing", with_policy(R"J({"policy-type":2,"t":0})J"), "\"policies[0].f\" is missing"},
      {"f not an integer", with_policy(R"J({"policy-type":2,"f":"1"})J"),
       "\"policies[0].f\" must be an integer"},
      {"f boolean", with_policy(R"J({"policy-type":2,"f":true})J"),
       "\"policies[0].f\" must be an integer"},
      {"f is 2", with_policy(R"J({"policy-type":2,"f":2})J"), "\"policies[0].f\" is 2"},
      {"f is -1", with_policy(R"J({"policy-type":2,"f":-1})J"), "\"policies[0].f\" is -1"},
      {"failure-details not an array",
       with_policy(R"J({"policy-type":2,"failure-details":{"c":201},"f":1})J"),
       "\"policies[0].failure-details\" must be an array"},
      {"failure detail not an object", with_detail("201"),
       "\"policies[0].failure-details[0]\" must be an object"},
      {"c missing", with_detail(R"J({"s":"192.0.2.1"})J"),
       "\"policies[0].failure-details[0].c\" is missing"},
      {"c not an integer", with_detail(R"J({"c":"certificate-expired"})J"),
       "\"policies[0].failure-details[0].c\" must be an integer"},
      {"c unknown", with_detail(R"J({"c":201},{"c":999})J"),
       "\"policies[0].failure-details[1].c\" is 999"},
      {"c is a policy type", with_detail(R"J({"c":2})J"), "failure-details[0].c\" is 2"},
      {"s not a string", with_detail(R"J({"c":201,"s":3232235777})J"),
       "\"policies[0].failure-details[0].s\" must be a string"},
      {"n not a string", with_detail(R"J({"c":201,"n":null})J"), "failure-details[0].n\""},
      {"h not a string", with_detail(R"J({"c":201,"h":[]})J"), "failure-details[0].h\""},
      {"r not a string", with_detail(R"J({"c":201,"r":{}})J"), "failure-details[0].r\""},
      {"a not a string", with_detail(R"J({"c":201,"a":false})J"), "failure-details[0].a\""},
      {"f of a detail not a string", with_detail(R"J({"c":201,"f":999})J"),
       "failure-details[0].f\" must be a string"},
      {"too many failure details", details_json(k_max_list_items + 1), "more than 1000"},
      {"string too long", long_text_json(k_max_text_bytes + 1), "longer than 4096 bytes"},
  };
}

class TlsrptDatagramReject : public ::testing::TestWithParam<RejectRow> {};

// Every rejection rule of datagram.hpp (RPT-7, RPT-9, RPT-10).
TEST_P(TlsrptDatagramReject, Rejected) {
  const RejectRow& row = GetParam();
  const auto r = parse_datagram(row.bytes, k_at);
  ASSERT_FALSE(r) << row.name;
  EXPECT_EQ(r.error().code, Errc::InvalidArgument);
  EXPECT_EQ(r.error().retry, Retry::Permanent);
  EXPECT_NE(r.error().detail.find(row.detail_has), std::string::npos)
      << row.name << ": " << r.error().detail;
  EXPECT_LT(r.error().detail.size(), 400U) << row.name << ": " << r.error().detail;
}

INSTANTIATE_TEST_SUITE_P(Rules, TlsrptDatagramReject, ::testing::ValuesIn(reject_rows()),
                         tlspolicy::testing::RowName{});

}  // namespace
}  // namespace tlspolicy::tlsrpt
