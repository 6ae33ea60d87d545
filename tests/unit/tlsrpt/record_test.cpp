// SPDX-License-Identifier: Apache-2.0
//
// parse_tlsrpt_record(), select_tlsrpt_record() and tlsrpt_query_name()
// against RFC 8460 §3 (RFC-CHECKLIST RPT-1, RPT-2; RPT-4 for several
// destinations). Every table row names the checklist ID it exercises.
#include "tlspolicy/tlsrpt/record.hpp"

#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

#include "tlspolicy/dns/name.hpp"

#include "support/testing.hpp"

namespace tlspolicy::tlsrpt {
namespace {

using Kind = RuaTarget::Kind;
using namespace std::string_literals;

RuaTarget mailto(std::string uri, std::string mailbox) {
  return RuaTarget{Kind::Mailto, std::move(uri), std::move(mailbox)};
}
RuaTarget https(std::string uri) { return RuaTarget{Kind::Https, std::move(uri), {}}; }

struct ValidRow {
  const char* name;
  std::string record;
  std::vector<RuaTarget> want;
};

void PrintTo(const ValidRow& row, std::ostream* os) { *os << row.name; }

std::vector<ValidRow> valid_rows() {
  return {
      {"RPT-1 RFC 8460 mailto example",
       "v=TLSRPTv1; rua=mailto:reports@example.com",
       {mailto("mailto:reports@example.com", "reports@example.com")}},
      {"RPT-1 RFC 8460 https example",
       "v=TLSRPTv1; rua=https://reporting.example.com/v1/tlsrpt",
       {https("https://reporting.example.com/v1/tlsrpt")}},
      {"RPT-1 no spaces, trailing delimiter",
       "v=TLSRPTv1;rua=mailto:a@example.com;",
       {mailto("mailto:a@example.com", "a@example.com")}},
      {"RPT-1 WSP around delimiters",
       "v=TLSRPTv1 ;\trua=mailto:a@example.com \t; ",
       {mailto("mailto:a@example.com", "a@example.com")}},
      {"RPT-1 RPT-4 mailto and https",
       "v=TLSRPTv1; rua=mailto:a@example.com,https://r.example.net/x",
       {mailto("mailto:a@example.com", "a@example.com"), https("https://r.example.net/x")}},
      {"RPT-1 RPT-4 WSP around the comma",
       "v=TLSRPTv1; rua=https://r.example.net/x , mailto:a@example.com",
       {https("https://r.example.net/x"), mailto("mailto:a@example.com", "a@example.com")}},
      {"RPT-1 percent-encoded comma lists two addresses",
       "v=TLSRPTv1; rua=mailto:a@example.com%2Cb@example.net",
       {mailto("mailto:a@example.com%2Cb@example.net", "a@example.com"),
        mailto("mailto:a@example.com%2Cb@example.net", "b@example.net")}},
      {"RPT-1 percent-encoded comma, lower-case hex",
       "v=TLSRPTv1; rua=mailto:a@example.com%2cb@example.net",
       {mailto("mailto:a@example.com%2cb@example.net", "a@example.com"),
        mailto("mailto:a@example.com%2cb@example.net", "b@example.net")}},
      {"RPT-1 percent-encoded ! in the local part",
       "v=TLSRPTv1; rua=mailto:tls%21rpt@example.com",
       {mailto("mailto:tls%21rpt@example.com", "tls!rpt@example.com")}},
      {"RPT-1 decoded ; in the local part needs quotes: skipped",
       "v=TLSRPTv1; rua=mailto:a%3Bb@example.com,mailto:c@example.com",
       {mailto("mailto:c@example.com", "c@example.com")}},
      {"RPT-1 percent-encoded ; allowed in https",
       "v=TLSRPTv1; rua=https://r.example.com/a%3Bb%2Cc",
       {https("https://r.example.com/a%3Bb%2Cc")}},
      {"RPT-1 mailto header fields dropped from the mailbox",
       "v=TLSRPTv1; rua=mailto:a@example.com?subject=TLS%20report&body=x",
       {mailto("mailto:a@example.com?subject=TLS%20report&body=x", "a@example.com")}},
      {"RPT-1 scheme case-insensitive",
       "v=TLSRPTv1; rua=MAILTO:A@Example.COM,HTTPS://R.Example.COM/",
       {mailto("MAILTO:A@Example.COM", "A@Example.COM"), https("HTTPS://R.Example.COM/")}},
      {"RPT-1 other schemes skipped",
       "v=TLSRPTv1; rua=http://r.example.com/,ftp://r.example.com/,mailto:a@example.com",
       {mailto("mailto:a@example.com", "a@example.com")}},
      {"RPT-1 URI with raw ! skipped",
       "v=TLSRPTv1; rua=mailto:a!b@example.com,mailto:c@example.com",
       {mailto("mailto:c@example.com", "c@example.com")}},
      {"RPT-1 DMARC-style size suffix skipped",
       "v=TLSRPTv1; rua=mailto:a@example.com!10m,https://r.example.com/",
       {https("https://r.example.com/")}},
      {"RPT-1 malformed percent-encoding skipped",
       "v=TLSRPTv1; rua=mailto:a%2@example.com,mailto:b%zz@example.com,mailto:c@example.com",
       {mailto("mailto:c@example.com", "c@example.com")}},
      {"RPT-1 mailto without @ skipped",
       "v=TLSRPTv1; rua=mailto:postmaster,mailto:b@example.com",
       {mailto("mailto:b@example.com", "b@example.com")}},
      {"RPT-1 mailto with bad domain skipped",
       "v=TLSRPTv1; rua=mailto:a@exa_mple.com,mailto:a@192.0.2.1,mailto:b@example.com",
       {mailto("mailto:b@example.com", "b@example.com")}},
      {"RPT-1 one bad address spoils a mailto list",
       "v=TLSRPTv1; rua=mailto:a@example.com%2Cbroken,mailto:c@example.com",
       {mailto("mailto:c@example.com", "c@example.com")}},
      {"RPT-1 mailto with quoted local part skipped",
       "v=TLSRPTv1; rua=mailto:%22a%20b%22@example.com,mailto:c@example.com",
       {mailto("mailto:c@example.com", "c@example.com")}},
      {"RPT-1 percent-encoded UTF-8 domain",
       "v=TLSRPTv1; rua=mailto:a@b%C3%BCcher.example",
       {mailto("mailto:a@b%C3%BCcher.example", "a@bücher.example")}},
      {"RPT-1 https without host skipped",
       "v=TLSRPTv1; "
       "rua=https:///x,https:r.example.com,https://user@:443/,https://r.example.com:8443/x",
       {https("https://r.example.com:8443/x")}},
      {"RPT-1 https IPv6 literal",
       "v=TLSRPTv1; rua=https://[2001:db8::1]:8443/tlsrpt",
       {https("https://[2001:db8::1]:8443/tlsrpt")}},
      {"RPT-1 non-ASCII URI skipped",
       "v=TLSRPTv1; rua=mailto:a@bücher.example,mailto:b@example.com",
       {mailto("mailto:b@example.com", "b@example.com")}},
      {"RPT-2 unknown fields ignored",
       "v=TLSRPTv1; ext=1; rua=mailto:a@example.com; foo.bar_baz-1=x!#$%&'()*+,-./:<>?@[]^_`{|}~",
       {mailto("mailto:a@example.com", "a@example.com")}},
      {"RPT-2 RUA in upper case is an unknown field",
       "v=TLSRPTv1; RUA=mailto:x@example.com; rua=mailto:a@example.com",
       {mailto("mailto:a@example.com", "a@example.com")}},
      {"RPT-2 repeated version ignored",
       "v=TLSRPTv1; rua=mailto:a@example.com; v=TLSRPTv2",
       {mailto("mailto:a@example.com", "a@example.com")}},
      {"RPT-4 several rua fields all count",
       "v=TLSRPTv1; rua=mailto:a@example.com; rua=https://r.example.com/",
       {mailto("mailto:a@example.com", "a@example.com"), https("https://r.example.com/")}},
      {"RPT-4 duplicate URIs kept once",
       "v=TLSRPTv1; rua=mailto:a@example.com,mailto:a@example.com; rua=mailto:a@example.com",
       {mailto("mailto:a@example.com", "a@example.com")}},
  };
}

class TlsrptRecordValid : public ::testing::TestWithParam<ValidRow> {};

TEST_P(TlsrptRecordValid, Parses) {
  const ValidRow& row = GetParam();
  const auto r = parse_tlsrpt_record(row.record);
  ASSERT_TRUE(r) << row.name << ": " << r.error().detail;
  ASSERT_EQ(r->rua.size(), row.want.size()) << row.name;
  for (std::size_t i = 0; i < row.want.size(); ++i) {
    EXPECT_EQ(r->rua[i].kind, row.want[i].kind) << row.name << " #" << i;
    EXPECT_EQ(r->rua[i].uri, row.want[i].uri) << row.name << " #" << i;
    EXPECT_EQ(r->rua[i].mailbox, row.want[i].mailbox) << row.name << " #" << i;
  }
  // RPT-2: a record that parses is chosen by the selection on its own.
  const auto selected = select_tlsrpt_record({row.record});
  ASSERT_TRUE(selected);
  ASSERT_TRUE(selected->has_value()) << row.name;
  EXPECT_EQ(**selected, *r);
}

INSTANTIATE_TEST_SUITE_P(Rfc8460, TlsrptRecordValid, ::testing::ValuesIn(valid_rows()),
                         tlspolicy::testing::RowName{});

// RPT-4: at most k_max_rua_targets destinations are kept, in order.
TEST(TlsrptRecord, KeepsAtMostSixteenTargets) {
  std::string record = "v=TLSRPTv1; rua=";
  for (int i = 0; i < 20; ++i) {
    if (i > 0) record += ',';
    record += "mailto:r" + std::to_string(i) + "@example.com";
  }
  const auto r = parse_tlsrpt_record(record);
  ASSERT_TRUE(r) << r.error().detail;
  ASSERT_EQ(r->rua.size(), k_max_rua_targets);
  EXPECT_EQ(r->rua.front().mailbox, "r0@example.com");
  EXPECT_EQ(r->rua.back().mailbox, "r15@example.com");
}

struct InvalidRow {
  const char* name;
  std::string record;
  std::string_view detail_has;
};

void PrintTo(const InvalidRow& row, std::ostream* os) { *os << row.name; }

std::vector<InvalidRow> invalid_rows() {
  return {
      {"RPT-1 empty", "", "does not begin"},
      {"RPT-1 other version", "v=TLSRPTv2; rua=mailto:a@example.com", "does not begin"},
      {"RPT-1 longer version token", "v=TLSRPTv10; rua=mailto:a@example.com", "does not begin"},
      {"RPT-1 version case-sensitive (V)", "V=TLSRPTv1; rua=mailto:a@example.com",
       "does not begin"},
      {"RPT-1 version case-sensitive (tlsrptv1)", "v=tlsrptv1; rua=mailto:a@example.com",
       "does not begin"},
      {"RPT-1 leading space", " v=TLSRPTv1; rua=mailto:a@example.com", "does not begin"},
      {"RPT-1 version not first", "rua=mailto:a@example.com; v=TLSRPTv1", "does not begin"},
      {"RPT-1 spaces inside version", "v = TLSRPTv1; rua=mailto:a@example.com", "does not begin"},
      {"RPT-1 bare version", "v=TLSRPTv1", "no \"rua\""},
      {"RPT-1 version and delimiter only", "v=TLSRPTv1;", "no \"rua\""},
      {"RPT-1 rua missing", "v=TLSRPTv1; ruf=mailto:a@example.com", "no \"rua\""},
      {"RPT-1 rua in upper case only", "v=TLSRPTv1; RUA=mailto:a@example.com", "no \"rua\""},
      {"RPT-1 no usable URI", "v=TLSRPTv1; rua=http://r.example.com/", "no usable"},
      {"RPT-1 only malformed URIs",
       "v=TLSRPTv1; rua=mailto:a%2@example.com,mailto:b%@example.com,mailto:c@example.com%",
       "no usable"},
      {"RPT-1 URI without scheme", "v=TLSRPTv1; rua=a@example.com", "no usable"},
      {"RPT-1 mailto without address", "v=TLSRPTv1; rua=mailto:", "no usable"},
      {"RPT-1 mailto with only header fields", "v=TLSRPTv1; rua=mailto:?to=a@example.com",
       "no usable"},
      {"RPT-1 missing delimiter after version", "v=TLSRPTv1 rua=mailto:a@example.com", "delimiter"},
      {"RPT-1 empty rua", "v=TLSRPTv1; rua=", "empty URI"},
      {"RPT-1 empty rua before delimiter", "v=TLSRPTv1; rua=;", "empty URI"},
      {"RPT-1 empty URI between commas",
       "v=TLSRPTv1; rua=mailto:a@example.com,,mailto:b@example.com", "empty URI"},
      {"RPT-1 trailing comma", "v=TLSRPTv1; rua=mailto:a@example.com, ;", "empty URI"},
      {"RPT-1 space inside the URI list",
       "v=TLSRPTv1; rua=mailto:a@example.com mailto:b@example.com", "delimiter"},
      {"RPT-1 WSP around =", "v=TLSRPTv1; rua = mailto:a@example.com", "not followed by \"=\""},
      {"RPT-1 empty field", "v=TLSRPTv1;; rua=mailto:a@example.com", "empty field"},
      {"RPT-2 extension without value", "v=TLSRPTv1; ext=; rua=mailto:a@example.com",
       "empty or invalid value"},
      {"RPT-2 extension value with =", "v=TLSRPTv1; ext=a=b; rua=mailto:a@example.com",
       "delimiter"},
      {"RPT-2 extension value with space", "v=TLSRPTv1; rua=mailto:a@example.com; ext=a b",
       "delimiter"},
      {"RPT-2 extension name starting with _", "v=TLSRPTv1; _ext=1; rua=mailto:a@example.com",
       "invalid field name"},
      {"RPT-2 extension name of 33 characters",
       "v=TLSRPTv1; x" + std::string(32, 'x') + "=1; rua=mailto:a@example.com",
       "invalid field name"},
      {"RPT-2 field without =", "v=TLSRPTv1; rua=mailto:a@example.com; ext", "not followed"},
      {"RPT-2 NUL in the record", "v=TLSRPTv1; rua=mailto:a@example.com;\0"s, "invalid field name"},
      {"RPT-2 CR LF at the end", "v=TLSRPTv1; rua=mailto:a@example.com\r\n", "no usable"},
      {"RPT-2 CR LF after a delimiter", "v=TLSRPTv1; rua=mailto:a@example.com;\r\n",
       "invalid field name"},
  };
}

class TlsrptRecordInvalid : public ::testing::TestWithParam<InvalidRow> {};

TEST_P(TlsrptRecordInvalid, Rejected) {
  const InvalidRow& row = GetParam();
  const auto r = parse_tlsrpt_record(row.record);
  ASSERT_FALSE(r) << row.name;
  EXPECT_EQ(r.error().code, Errc::InvalidArgument) << row.name;
  EXPECT_EQ(r.error().retry, Retry::Permanent) << row.name;
  EXPECT_NE(r.error().detail.find(row.detail_has), std::string::npos)
      << row.name << ": " << r.error().detail;
  // RPT-2: an invalid record means no reporting, never an error.
  const auto selected = select_tlsrpt_record({row.record});
  ASSERT_TRUE(selected) << row.name;
  EXPECT_FALSE(selected->has_value()) << row.name;
}

INSTANTIATE_TEST_SUITE_P(Rfc8460, TlsrptRecordInvalid, ::testing::ValuesIn(invalid_rows()),
                         tlspolicy::testing::RowName{});

// RPT-1: error details quote the untrusted record cut and escaped.
TEST(TlsrptRecord, ErrorDetailIsBoundedAndPrintable) {
  const std::string record = "v=TLSRPTv2\x01\x7f" + std::string(500, 'x');
  const auto r = parse_tlsrpt_record(record);
  ASSERT_FALSE(r);
  EXPECT_LT(r.error().detail.size(), 200U);
  for (const char c : r.error().detail) {
    const auto u = static_cast<unsigned char>(c);
    EXPECT_TRUE(u >= 0x20 && u < 0x7f) << static_cast<int>(u);
  }
}

const std::string k_good = "v=TLSRPTv1; rua=mailto:tlsrpt@example.com";
const std::string k_other_good = "v=TLSRPTv1; rua=https://r.example.com/";

std::optional<TlsRptRecord> select_records(const std::vector<std::string>& records) {
  auto r = select_tlsrpt_record(records);
  EXPECT_TRUE(r);  // never an error
  return r ? *r : std::nullopt;
}

// RPT-2: exactly one TLSRPT record.
TEST(TlsrptSelect, OneRecord) {
  const auto r = select_records({k_good});
  ASSERT_TRUE(r);
  ASSERT_EQ(r->rua.size(), 1U);
  EXPECT_EQ(r->rua[0].mailbox, "tlsrpt@example.com");
}

// RPT-2: records not beginning with "v=TLSRPTv1;" are discarded.
TEST(TlsrptSelect, NonTlsrptRecordsDiscarded) {
  const auto r = select_records(
      {"v=spf1 -all", k_good, "v=STSv1; id=20240101", "google-site-verification=x", "",
       "v=TLSRPTv10; rua=mailto:x@example.com", "v=tlsrptv1; rua=mailto:x@example.com",
       "V=TLSRPTv1; rua=mailto:x@example.com", " v=TLSRPTv1; rua=mailto:x@example.com",
       "v=TLSRPTv1 rua=mailto:x@example.com", "v=TLSRPTv1,rua=mailto:x@example.com"});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->rua.at(0).mailbox, "tlsrpt@example.com");
}

// RPT-2: two TLSRPT records (even identical ones) mean no TLSRPT.
TEST(TlsrptSelect, TwoRecordsMeanNone) {
  EXPECT_FALSE(select_records({k_good, k_other_good}));
  EXPECT_FALSE(select_records({k_good, k_good}));
  EXPECT_FALSE(select_records({k_good, "v=spf1 -all", k_other_good}));
}

// RPT-2: none at all.
TEST(TlsrptSelect, NoRecordMeansNone) {
  EXPECT_FALSE(select_records({}));
  EXPECT_FALSE(select_records({"v=spf1 -all"}));
}

// RPT-2: the one TLSRPT record is invalid: no reporting, not an error.
TEST(TlsrptSelect, InvalidRecordMeansNone) {
  EXPECT_FALSE(select_records({"v=TLSRPTv1; rua=ftp://r.example.com/"}));
  EXPECT_FALSE(select_records({"v=TLSRPTv1;"}));
  EXPECT_FALSE(select_records({"v=TLSRPTv1; rua=mailto:a@example.com; bad field"}));
}

// RPT-2: WSP before ";" is allowed by the §3 ABNF, so such a record counts,
// and a bare "v=TLSRPTv1" counts as a (broken) TLSRPT record too.
TEST(TlsrptSelect, CandidateRule) {
  const auto spaced = select_records({"v=TLSRPTv1 \t; rua=mailto:a@example.com"});
  ASSERT_TRUE(spaced);
  EXPECT_EQ(spaced->rua.at(0).mailbox, "a@example.com");
  EXPECT_FALSE(select_records({"v=TLSRPTv1", k_good}));
  EXPECT_FALSE(select_records({"v=TLSRPTv1 ", k_good}));
  EXPECT_FALSE(select_records({"v=TLSRPTv1 ; rua=mailto:b@example.com", k_good}));
}

// RPT-1: the owner name of the record.
TEST(TlsrptQueryName, PrefixesSmtpTls) {
  const auto domain = dns::DomainName::parse("Example.COM.");
  ASSERT_TRUE(domain);
  const auto name = tlsrpt_query_name(*domain);
  ASSERT_TRUE(name) << name.error().detail;
  EXPECT_EQ(name->str(), "_smtp._tls.example.com");
}

// RPT-1: a name that would exceed 253 octets.
TEST(TlsrptQueryName, TooLong) {
  std::string text;
  while (text.size() < 240) text += std::string(60, 'a') + ".";
  text += "example";  // 251 octets
  const auto domain = dns::DomainName::parse(text);
  ASSERT_TRUE(domain) << domain.error().detail;
  const auto name = tlsrpt_query_name(*domain);
  ASSERT_FALSE(name);
  EXPECT_EQ(name.error().code, Errc::DomainSyntax);
}

}  // namespace
}  // namespace tlspolicy::tlsrpt
