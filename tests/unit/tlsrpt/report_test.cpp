// SPDX-License-Identifier: Apache-2.0
//
// Unit tests of the RFC 8460 report (src/tlsrpt/report.cpp): the rendered JSON is parsed back
// and every field is checked by name against RFC 8460 §4.4 (RPT-7, RPT-8, RPT-9, RPT-11), plus
// I-JSON (RFC 7493) properties, gzip (§5.2, RPT-13), the §5.1 file name (RPT-12) and the report
// id's msg-id form (§5.3, RPT-15).
#include "tlspolicy/tlsrpt/report.hpp"

#include <chrono>
#include <cstdint>
#include <limits>
#include <regex>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tlspolicy/tlsrpt/model.hpp"

namespace tlspolicy::tlsrpt {
namespace {

using nlohmann::json;
using std::chrono::November;

constexpr Day k_day = std::chrono::sys_days{std::chrono::year{2026} / November / 23};

ReportMeta meta() {
  ReportMeta m;
  m.organization_name = "Example Sender Inc.";
  m.contact_info = "tlsrpt@mail.sender.example";
  m.report_id = "2026-11-23.example.net.5f2c9e01@mail.sender.example";
  m.day = k_day;
  m.domain = "example.net";
  return m;
}

AggregatedPolicy sts_policy() {
  AggregatedPolicy a;
  a.policy.type = PolicyType::Sts;
  a.policy.policy_domain = "example.net";
  a.policy.policy_strings = {"version: STSv1", "mode: enforce", "mx: mx1.example.net",
                             "mx: *.backup.example.net", "max_age: 86400"};
  a.policy.mx_hosts = {"mx1.example.net", "*.backup.example.net"};
  a.successes = 5326;
  a.failures = 303;
  CountedDetail full;
  full.detail.result_type = ResultType::ValidationFailure;
  full.detail.sending_mta_ip = "198.51.100.62";
  full.detail.receiving_mx_hostname = "mx1.example.net";
  full.detail.receiving_mx_helo = "mx1-helo.example.net";
  full.detail.receiving_ip = "203.0.113.58";
  full.detail.additional_information = "https://reports.sender.example/info?id=1";
  full.detail.failure_reason_code = "X509_V_ERR_PROXY_PATH_LENGTH_EXCEEDED";
  full.count = 3;
  CountedDetail minimal;
  minimal.detail.result_type = ResultType::CertificateExpired;
  minimal.detail.sending_mta_ip = "2001:db8:abcd:12::1";
  minimal.detail.receiving_mx_hostname = "mx2.backup.example.net";
  minimal.count = 300;
  a.details = {full, minimal};
  return a;
}

AggregatedPolicy tlsa_policy() {
  AggregatedPolicy a;
  a.policy.type = PolicyType::Tlsa;
  a.policy.policy_domain = "mx.example.net";
  a.policy.policy_strings = {"3 1 1 0123456789ABCDEF", "2 0 1 FEDCBA9876543210"};
  a.successes = 10;
  return a;
}

AggregatedPolicy no_policy() {
  AggregatedPolicy a;
  a.policy.type = PolicyType::NoPolicyFound;
  a.policy.policy_domain = "example.net";
  a.successes = 7;
  return a;
}

json parse(const std::string& text) {
  auto j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  EXPECT_FALSE(j.is_discarded()) << "not JSON: " << text;
  return j;
}

std::set<std::string> keys(const json& object) {
  std::set<std::string> out;
  for (const auto& [k, v] : object.items()) out.insert(k);
  return out;
}

/// SAX handler that fails on a duplicate member name in any object (RFC 7493 §2.3).
class DuplicateKeyFinder : public nlohmann::json_sax<json> {
 public:
  bool null() override { return true; }
  bool boolean(bool) override { return true; }
  bool number_integer(number_integer_t) override { return true; }
  bool number_unsigned(number_unsigned_t) override { return true; }
  bool number_float(number_float_t, const string_t&) override { return true; }
  bool string(string_t&) override { return true; }
  bool binary(binary_t&) override { return true; }
  bool start_object(std::size_t) override {
    m_objects.emplace_back();
    return true;
  }
  bool key(string_t& k) override {
    if (!m_objects.back().insert(k).second) duplicate = k;
    return duplicate.empty();
  }
  bool end_object() override {
    m_objects.pop_back();
    return true;
  }
  bool start_array(std::size_t) override { return true; }
  bool end_array() override { return true; }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) override {
    return false;
  }
  std::string duplicate;

 private:
  std::vector<std::set<std::string>> m_objects;
};

// RPT-9 (RFC 8460 §4.4): the top-level members, exactly these names.
TEST(ReportJson, TopLevelFieldsByName) {
  const auto j = parse(render_report_json(meta(), {sts_policy()}));
  EXPECT_EQ(keys(j), (std::set<std::string>{"organization-name", "date-range", "contact-info",
                                            "report-id", "policies"}));
  EXPECT_EQ(j["organization-name"], "Example Sender Inc.");
  EXPECT_EQ(j["contact-info"], "tlsrpt@mail.sender.example");
  EXPECT_EQ(j["report-id"], "2026-11-23.example.net.5f2c9e01@mail.sender.example");
}

// RPT-8 (RFC 8460 §4.1): one full UTC day, 00:00-24:00, as RFC 3339 date-times (RPT-9).
TEST(ReportJson, DateRangeIsOneFullUtcDay) {
  const auto j = parse(render_report_json(meta(), {}));
  EXPECT_EQ(keys(j["date-range"]), (std::set<std::string>{"start-datetime", "end-datetime"}));
  EXPECT_EQ(j["date-range"]["start-datetime"], "2026-11-23T00:00:00Z");
  EXPECT_EQ(j["date-range"]["end-datetime"], "2026-11-24T00:00:00Z");

  auto m = meta();
  m.day = std::chrono::sys_days{std::chrono::year{2026} / std::chrono::December / 31};
  const auto y = parse(render_report_json(m, {}));
  EXPECT_EQ(y["date-range"]["start-datetime"], "2026-12-31T00:00:00Z");
  EXPECT_EQ(y["date-range"]["end-datetime"], "2027-01-01T00:00:00Z");
}

// RPT-7 (RFC 8460 §4): "policies" is always a JSON array, also when there is nothing in it.
TEST(ReportJson, PoliciesIsAlwaysAnArray) {
  const std::string text = render_report_json(meta(), {});
  const auto j = parse(text);
  ASSERT_TRUE(j["policies"].is_array());
  EXPECT_TRUE(j["policies"].empty());
  EXPECT_NE(text.find("\"policies\":[]"), std::string::npos) << text;

  const auto two = parse(render_report_json(meta(), {sts_policy(), tlsa_policy()}));
  ASSERT_TRUE(two["policies"].is_array());
  EXPECT_EQ(two["policies"].size(), 2u);
}

// RPT-9, RPT-11 (RFC 8460 §4.3, §4.4): an STS policy with every field, by name.
TEST(ReportJson, StsPolicyFieldsByName) {
  const auto j = parse(render_report_json(meta(), {sts_policy()}));
  const auto& entry = j["policies"][0];
  EXPECT_EQ(keys(entry), (std::set<std::string>{"policy", "summary", "failure-details"}));

  const auto& policy = entry["policy"];
  EXPECT_EQ(keys(policy),
            (std::set<std::string>{"policy-type", "policy-string", "policy-domain", "mx-host"}));
  EXPECT_EQ(policy["policy-type"], "sts");  // RPT-7
  // RPT-11: one element per policy line, each mx line its own element.
  EXPECT_EQ(policy["policy-string"],
            json::array({"version: STSv1", "mode: enforce", "mx: mx1.example.net",
                         "mx: *.backup.example.net", "max_age: 86400"}));
  EXPECT_EQ(policy["policy-domain"], "example.net");
  EXPECT_EQ(policy["mx-host"], json::array({"mx1.example.net", "*.backup.example.net"}));

  // RPT-9: counts are JSON integers.
  const auto& summary = entry["summary"];
  EXPECT_EQ(keys(summary), (std::set<std::string>{"total-successful-session-count",
                                                  "total-failure-session-count"}));
  ASSERT_TRUE(summary["total-successful-session-count"].is_number_integer());
  ASSERT_TRUE(summary["total-failure-session-count"].is_number_integer());
  EXPECT_EQ(summary["total-successful-session-count"].get<std::uint64_t>(), 5326u);
  EXPECT_EQ(summary["total-failure-session-count"].get<std::uint64_t>(), 303u);

  const auto& details = entry["failure-details"];
  ASSERT_TRUE(details.is_array());
  ASSERT_EQ(details.size(), 2u);
  const auto& full = details[0];
  EXPECT_EQ(keys(full),
            (std::set<std::string>{"result-type", "sending-mta-ip", "receiving-mx-hostname",
                                   "receiving-mx-helo", "receiving-ip", "failed-session-count",
                                   "additional-information", "failure-reason-code"}));
  EXPECT_EQ(full["result-type"], "validation-failure");
  EXPECT_EQ(full["sending-mta-ip"], "198.51.100.62");
  EXPECT_EQ(full["receiving-mx-hostname"], "mx1.example.net");
  EXPECT_EQ(full["receiving-mx-helo"], "mx1-helo.example.net");
  EXPECT_EQ(full["receiving-ip"], "203.0.113.58");
  ASSERT_TRUE(full["failed-session-count"].is_number_integer());
  EXPECT_EQ(full["failed-session-count"].get<std::uint64_t>(), 3u);
  EXPECT_EQ(full["additional-information"], "https://reports.sender.example/info?id=1");
  EXPECT_EQ(full["failure-reason-code"], "X509_V_ERR_PROXY_PATH_LENGTH_EXCEEDED");
}

// RPT-9: optional failure-detail fields are absent, not "", when unknown.
TEST(ReportJson, EmptyOptionalFailureFieldsAreOmitted) {
  const auto j = parse(render_report_json(meta(), {sts_policy()}));
  const auto& minimal = j["policies"][0]["failure-details"][1];
  EXPECT_EQ(keys(minimal),
            (std::set<std::string>{"result-type", "sending-mta-ip", "receiving-mx-hostname",
                                   "failed-session-count"}));
  EXPECT_EQ(minimal["result-type"], "certificate-expired");
  EXPECT_EQ(minimal["failed-session-count"].get<std::uint64_t>(), 300u);
}

// RPT-11: TLSA policy-string is one "u s m HEX" element per RR; a TLSA policy has no mx-host.
TEST(ReportJson, TlsaPolicyHasNoMxHostAndNoEmptyFailureDetails) {
  const auto j = parse(render_report_json(meta(), {tlsa_policy()}));
  const auto& entry = j["policies"][0];
  EXPECT_EQ(keys(entry), (std::set<std::string>{"policy", "summary"}));
  EXPECT_EQ(entry["policy"]["policy-type"], "tlsa");
  EXPECT_EQ(entry["policy"]["policy-string"],
            json::array({"3 1 1 0123456789ABCDEF", "2 0 1 FEDCBA9876543210"}));
  EXPECT_EQ(entry["policy"]["policy-domain"], "mx.example.net");
  EXPECT_FALSE(entry["policy"].contains("mx-host"));
  EXPECT_EQ(entry["summary"]["total-failure-session-count"].get<std::uint64_t>(), 0u);
}

// RPT-7: no-policy-found has no policy to encode: policy-string and mx-host are left out.
TEST(ReportJson, NoPolicyFoundHasTypeAndDomainOnly) {
  const auto j = parse(render_report_json(meta(), {no_policy()}));
  const auto& policy = j["policies"][0]["policy"];
  EXPECT_EQ(keys(policy), (std::set<std::string>{"policy-type", "policy-domain"}));
  EXPECT_EQ(policy["policy-type"], "no-policy-found");
  EXPECT_EQ(policy["policy-domain"], "example.net");
}

// RFC 8460 §4.4 member order; compact output (no whitespace outside strings).
TEST(ReportJson, MembersInRfcOrderAndCompact) {
  const std::string text = render_report_json(meta(), {sts_policy()});
  EXPECT_EQ(text.rfind("{\"organization-name\":\"Example Sender Inc.\",\"date-range\":{", 0), 0u)
      << text;
  std::size_t at = 0;
  for (const char* name : {"\"organization-name\"",
                           "\"date-range\"",
                           "\"start-datetime\"",
                           "\"end-datetime\"",
                           "\"contact-info\"",
                           "\"report-id\"",
                           "\"policies\"",
                           "\"policy\"",
                           "\"policy-type\"",
                           "\"policy-string\"",
                           "\"policy-domain\"",
                           "\"mx-host\"",
                           "\"summary\"",
                           "\"total-successful-session-count\"",
                           "\"total-failure-session-count\"",
                           "\"failure-details\"",
                           "\"result-type\"",
                           "\"sending-mta-ip\"",
                           "\"receiving-mx-hostname\"",
                           "\"receiving-mx-helo\"",
                           "\"receiving-ip\"",
                           "\"failed-session-count\"",
                           "\"additional-information\"",
                           "\"failure-reason-code\""}) {
    const auto found = text.find(name, at);
    ASSERT_NE(found, std::string::npos) << "got " << text << ", want " << name << " after " << at;
    at = found;
  }
  EXPECT_EQ(text.find('\n'), std::string::npos);
  EXPECT_EQ(text.find("\": "), std::string::npos);
  EXPECT_EQ(text.find(", \""), std::string::npos);
}

// RFC 7493 §2.3 (I-JSON, RPT-7): no duplicate member names anywhere.
TEST(ReportJson, HasNoDuplicateMemberNames) {
  const std::string text = render_report_json(meta(), {sts_policy(), tlsa_policy(), no_policy()});
  DuplicateKeyFinder finder;
  EXPECT_TRUE(json::sax_parse(text, &finder)) << "duplicate member " << finder.duplicate;
  EXPECT_TRUE(finder.duplicate.empty()) << finder.duplicate;
}

// RFC 7493 §2.1 (RPT-7): invalid UTF-8, surrogates and noncharacters become U+FFFD; no throw.
TEST(ReportJson, RepairsInvalidUtf8ToReplacementCharacter) {
  auto m = meta();
  m.organization_name = std::string("A\xff") + "B" + "\xed\xa0\x80" + "C" + "\xef\xbf\xbf" +
                        "\xc3\xa9" + "\xf0\x9f\x93\xab" + "\xe2\x82";
  auto p = sts_policy();
  p.details[0].detail.failure_reason_code = "bad \xc0\xaf byte";
  std::string text;
  ASSERT_NO_THROW(text = render_report_json(m, {p}));
  const auto j = parse(text);
  EXPECT_EQ(j["organization-name"],
            "A\xEF\xBF\xBD"
            "B\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"
            "C\xEF\xBF\xBD\xC3\xA9\xF0\x9F\x93\xAB\xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_EQ(j["policies"][0]["failure-details"][0]["failure-reason-code"],
            "bad \xEF\xBF\xBD\xEF\xBF\xBD byte");
}

// RFC 7493 §2.2: integers stay exact in an IEEE double.
TEST(ReportJson, CountsAreCappedAtTwoToTheFiftyThreeMinusOne) {
  auto p = sts_policy();
  p.successes = std::numeric_limits<std::uint64_t>::max();
  p.details[0].count = (std::uint64_t{1} << 53);
  const auto j = parse(render_report_json(meta(), {p}));
  EXPECT_EQ(j["policies"][0]["summary"]["total-successful-session-count"].get<std::uint64_t>(),
            9007199254740991u);
  EXPECT_EQ(j["policies"][0]["failure-details"][0]["failed-session-count"].get<std::uint64_t>(),
            9007199254740991u);
}

// RPT-13 (RFC 8460 §5.2): gzip, and back.
TEST(ReportGzip, RoundTrips) {
  std::string big;
  for (int i = 0; i < 200000; ++i) big += static_cast<char>((i * 7919) % 251);
  for (const std::string& data :
       {std::string(), std::string("{}"), render_report_json(meta(), {sts_policy()}), big}) {
    const auto z = gzip_compress(data);
    ASSERT_TRUE(z.has_value()) << z.error().detail;
    ASSERT_GE(z->size(), 18u);  // RFC 1952: 10-byte header + 8-byte trailer
    EXPECT_EQ(static_cast<unsigned char>((*z)[0]), 0x1f);  // gzip magic
    EXPECT_EQ(static_cast<unsigned char>((*z)[1]), 0x8b);
    const auto back = gzip_decompress(*z, data.size());
    ASSERT_TRUE(back.has_value()) << back.error().detail;
    EXPECT_EQ(*back, data);
  }
}

TEST(ReportGzip, DecompressIsBounded) {
  const auto z = gzip_compress(std::string(100000, 'x'));
  ASSERT_TRUE(z.has_value());
  const auto r = gzip_decompress(*z, 99999);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, Errc::InvalidArgument);
  EXPECT_EQ(r.error().retry, Retry::Permanent);
  EXPECT_NE(r.error().detail.find("99999"), std::string::npos) << r.error().detail;
}

TEST(ReportGzip, RejectsCorruptTruncatedAndNonGzip) {
  const auto z = gzip_compress(render_report_json(meta(), {sts_policy()}));
  ASSERT_TRUE(z.has_value());
  std::string corrupt = *z;
  corrupt[corrupt.size() / 2] = static_cast<char>(corrupt[corrupt.size() / 2] ^ 0x55);
  corrupt[corrupt.size() - 5] = static_cast<char>(corrupt[corrupt.size() - 5] ^ 0x55);  // CRC
  const std::string truncated = z->substr(0, z->size() - 4);
  const std::string trailing = *z + "garbage";
  for (const std::string& bad :
       {corrupt, truncated, trailing, std::string("{\"json\":1}"), std::string()}) {
    const auto r = gzip_decompress(bad, 1 << 20);
    ASSERT_FALSE(r.has_value()) << "accepted " << bad.size() << " bytes";
    EXPECT_EQ(r.error().code, Errc::InvalidArgument) << r.error().detail;
  }
}

TEST(ReportGzip, AcceptsConcatenatedMembers) {
  const auto a = gzip_compress("hello, ");
  const auto b = gzip_compress("world");
  ASSERT_TRUE(a.has_value() && b.has_value());
  const auto r = gzip_decompress(*a + *b, 100);
  ASSERT_TRUE(r.has_value()) << r.error().detail;
  EXPECT_EQ(*r, "hello, world");
}

// RPT-12 (RFC 8460 §5.1): 2026-11-23T00:00:00Z = 1795392000, next day 1795478400
// (20415 days * 86400 s since 1970-01-01).
TEST(ReportFilename, KnownDayExactString) {
  EXPECT_EQ(report_filename("mail.sender.example", "example.net", k_day, "a1b2c3", true),
            "mail.sender.example!example.net!1795392000!1795478400!a1b2c3.json.gz");
  EXPECT_EQ(report_filename("mail.sender.example", "example.net", k_day, "", false),
            "mail.sender.example!example.net!1795392000!1795478400.json");
  EXPECT_EQ(report_filename("s.example", "d.example",
                            std::chrono::sys_days{std::chrono::year{1970} / 1 / 1}, "", true),
            "s.example!d.example!0!86400.json.gz");
}

// §5.1: unique-id = 1*(ALPHA / DIGIT); domains are A-labels. Nothing else gets in.
TEST(ReportFilename, DropsCharactersOutsideTheGrammar) {
  EXPECT_EQ(report_filename("mail/sender.example.", "exa\"mple.net", k_day, "a-b/c!d.e", true),
            "mailsender.example!example.net!1795392000!1795478400!abcde.json.gz");
  EXPECT_EQ(report_filename("s.example", "d.example", k_day, "-/!", true),
            "s.example!d.example!1795392000!1795478400.json.gz");
}

// RFC 5322 §3.6.4 msg-id, so that it fits RPT-15's "Report-ID: <id-left@id-right>".
const std::regex k_dot_atom_msg_id{
    R"(^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*@[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$)"};

TEST(ReportId, DocumentedForm) {
  const auto day = std::chrono::sys_days{std::chrono::year{2026} / November / 24};
  const std::string id = make_report_id(day, "example.net", "mail.sender.example", "5f2c9e01");
  EXPECT_EQ(id, "2026-11-24.example.net.5f2c9e01@mail.sender.example");
  EXPECT_TRUE(std::regex_match(id, k_dot_atom_msg_id)) << id;
}

TEST(ReportId, IsAMsgIdWhateverTheInput) {
  const auto day = std::chrono::sys_days{std::chrono::year{2026} / November / 24};
  for (const auto& [domain, submitter, random] :
       std::vector<std::tuple<std::string, std::string, std::string>>{
           {"ex ample..net.\r\n", "mail.sender.example.", "ab\"cd"},
           {"", "", ""},
           {".", "..", "<>@"},
           {"a@b", "c@d", "e f"}}) {
    const std::string id = make_report_id(day, domain, submitter, random);
    EXPECT_TRUE(std::regex_match(id, k_dot_atom_msg_id))
        << "got '" << id << "' for domain '" << domain << "'";
  }
  EXPECT_EQ(make_report_id(day, "", "", ""), "2026-11-24@localhost");
}

}  // namespace
}  // namespace tlspolicy::tlsrpt
