// SPDX-License-Identifier: Apache-2.0
//
// DomainName: the normalisation and syntax rules of parse() (LDH, RFC 1035
// lengths, IDNA 2008 via libidn2, IP addresses refused) as two tables of
// valid and invalid inputs, plus prefixed(), parent(), labels() and
// to_unicode().
#include "tlspolicy/dns/name.hpp"

#include <string>
#include <string_view>
#include <unordered_set>

#include <gtest/gtest.h>

namespace tlspolicy::dns {
namespace {

struct ValidCase {
  const char* label;  // gtest parameter name
  std::string input;
  std::string want;
};

struct InvalidCase {
  const char* label;
  std::string input;
  std::string want_in_detail;  // a fragment the detail must contain
};

void PrintTo(const ValidCase& c, std::ostream* os) { *os << c.label; }
void PrintTo(const InvalidCase& c, std::ostream* os) { *os << c.label; }

const std::string k_label63(63, 'a');
const std::string k_label64(64, 'a');
// 63 + 1 + 63 + 1 + 63 + 1 + 61 = 253 octets.
const std::string k_name253 =
    k_label63 + "." + k_label63 + "." + k_label63 + "." + std::string(61, 'b');
const std::string k_name254 =
    k_label63 + "." + k_label63 + "." + k_label63 + "." + std::string(62, 'b');

class DomainNameValid : public ::testing::TestWithParam<ValidCase> {};

TEST_P(DomainNameValid, ParsesAndNormalises) {
  const auto& c = GetParam();
  const auto got = DomainName::parse(c.input);
  ASSERT_TRUE(got) << "input " << c.input << ": " << got.error().detail;
  EXPECT_EQ(got->str(), c.want) << "input " << c.input << ": got " << got->str() << ", want "
                                << c.want;
  // The normal form parses to itself.
  const auto again = DomainName::parse(got->str());
  ASSERT_TRUE(again) << again.error().detail;
  EXPECT_EQ(*again, *got);
}

INSTANTIATE_TEST_SUITE_P(
    Table, DomainNameValid,
    ::testing::Values(ValidCase{"Simple", "example.com", "example.com"},
                      ValidCase{"UpperCase", "MX1.Example.COM", "mx1.example.com"},
                      ValidCase{"TrailingDot", "example.com.", "example.com"},
                      ValidCase{"SingleLabel", "localhost", "localhost"},
                      ValidCase{"DigitsAndHyphens", "0-9.a-b.example", "0-9.a-b.example"},
                      ValidCase{"InnerDoubleHyphen", "ab--cd.example", "ab--cd.example"},
                      ValidCase{"DigitFirstLabel", "1.2.3.example", "1.2.3.example"},
                      ValidCase{"AlphaNumericTld", "host.x1", "host.x1"},
                      ValidCase{"Label63", k_label63 + ".example", k_label63 + ".example"},
                      ValidCase{"Name253", k_name253, k_name253},
                      ValidCase{"Name253TrailingDot", k_name253 + ".", k_name253},
                      ValidCase{"IdnLower", "bücher.example", "xn--bcher-kva.example"},
                      ValidCase{"IdnUpper", "BÜCHER.Example", "xn--bcher-kva.example"},
                      ValidCase{"IdnTrailingDot", "bücher.example.", "xn--bcher-kva.example"},
                      ValidCase{"IdnSharpSNonTransitional", "faß.de", "xn--fa-hia.de"},
                      ValidCase{"IdeographicFullStop",
                                "ü\xe3\x80\x82"
                                "com",
                                "xn--tda.com"},
                      ValidCase{"ALabelKept", "xn--bcher-kva.example", "xn--bcher-kva.example"},
                      ValidCase{"ALabelUpper", "XN--BCHER-KVA.EXAMPLE", "xn--bcher-kva.example"}),
    [](const auto& param_info) { return std::string{param_info.param.label}; });

class DomainNameInvalid : public ::testing::TestWithParam<InvalidCase> {};

TEST_P(DomainNameInvalid, IsRejectedWithReason) {
  const auto& c = GetParam();
  const auto got = DomainName::parse(c.input);
  ASSERT_FALSE(got) << "input " << c.input << ": got " << got->str() << ", want an error";
  EXPECT_EQ(got.error().code, Errc::DomainSyntax);
  EXPECT_EQ(got.error().retry, Retry::Permanent);
  EXPECT_NE(got.error().detail.find(c.want_in_detail), std::string::npos)
      << "detail \"" << got.error().detail << "\" lacks \"" << c.want_in_detail << "\"";
}

INSTANTIATE_TEST_SUITE_P(
    Table, DomainNameInvalid,
    ::testing::Values(
        InvalidCase{"Empty", "", "empty"}, InvalidCase{"OnlyDot", ".", "no labels"},
        InvalidCase{"TwoTrailingDots", "example.com..", "empty label"},
        InvalidCase{"DoubleDot", "a..example", "empty label"},
        InvalidCase{"LeadingDot", ".example.com", "empty label"},
        InvalidCase{"Label64", k_label64 + ".example", "64 octets"},
        InvalidCase{"Name254", k_name254, "254 octets"},
        InvalidCase{"LeadingHyphen", "-ab.example", "label \"-ab\" starts with a hyphen"},
        InvalidCase{"TrailingHyphen", "ab-.example", "label \"ab-\" ends with a hyphen"},
        InvalidCase{"Underscore", "_mta-sts.example", "contains '_'"},
        InvalidCase{"Space", "exa mple.com", "whitespace"},
        InvalidCase{"Tab", "example.com\t", "whitespace"},
        InvalidCase{"Newline", "example.com\n", "whitespace"},
        InvalidCase{"Nul", std::string{"example\0.com", 12}, "NUL"},
        InvalidCase{"Ipv4", "192.0.2.1", "all digits"},
        InvalidCase{"Ipv4TrailingDot", "192.0.2.1.", "all digits"},
        InvalidCase{"NumericTld", "example.123", "all digits"},
        InvalidCase{"AddressLiteral", "[192.0.2.1]", "address literal"},
        InvalidCase{"Ipv6", "2001:db8::1", "contains ':'"},
        InvalidCase{"Slash", "exa/mple.com", "contains '/'"},
        InvalidCase{"At", "user@example.com", "contains '@'"},
        InvalidCase{"IdnLeadingHyphen", "-ü.example", "\"-\\xc3\\xbc\""},
        InvalidCase{"BadUtf8", "\xff\xfe.example", "label \"\\xff\\xfe\" is not a valid"},
        InvalidCase{"IdnUnderscore", "a_b.ü", "contains '_'"},
        InvalidCase{"TooLongInput", std::string(2000, 'a'), "2000 bytes"}),
    [](const auto& param_info) { return std::string{param_info.param.label}; });

TEST(DomainName, RejectsEmptyLabel) {
  const auto got = DomainName::parse("mail..example.com");
  ASSERT_FALSE(got);
  EXPECT_EQ(got.error().code, Errc::DomainSyntax);
}

TEST(DomainName, ConvertsULabelToALabel) {
  const auto got = DomainName::parse("bücher.example");
  ASSERT_TRUE(got) << got.error().detail;
  EXPECT_EQ(got->str(), "xn--bcher-kva.example");
  EXPECT_EQ(got->to_unicode(), "bücher.example");
}

TEST(DomainName, ToUnicodeOfAsciiNameIsTheName) {
  EXPECT_EQ(DomainName::parse("example.com")->to_unicode(), "example.com");
}

TEST(DomainName, ToUnicodeFallsBackOnInvalidPunycode) {
  const auto got = DomainName::parse("xn--zz.example");
  ASSERT_TRUE(got) << got.error().detail;
  EXPECT_EQ(got->to_unicode(), "xn--zz.example");
}

TEST(DomainName, LabelsViewTheText) {
  const auto name = *DomainName::parse("a.b.example");
  const auto labels = name.labels();
  ASSERT_EQ(labels.size(), 3U);
  EXPECT_EQ(labels[0], "a");
  EXPECT_EQ(labels[1], "b");
  EXPECT_EQ(labels[2], "example");
}

TEST(DomainName, ParentDropsTheFirstLabel) {
  const auto name = *DomainName::parse("mx.mail.example.com");
  const auto parent = name.parent();
  ASSERT_TRUE(parent) << parent.error().detail;
  EXPECT_EQ(parent->str(), "mail.example.com");
  EXPECT_EQ(parent->parent()->parent()->str(), "com");
}

TEST(DomainName, ParentOfSingleLabelIsAnError) {
  const auto got = DomainName::parse("com")->parent();
  ASSERT_FALSE(got);
  EXPECT_EQ(got.error().code, Errc::DomainSyntax);
  EXPECT_NE(got.error().detail.find("single label"), std::string::npos) << got.error().detail;
}

TEST(DomainName, PrefixedAcceptsServiceLabels) {
  const auto domain = *DomainName::parse("example.com");
  for (const std::string_view label : {"_mta-sts", "_25", "_tcp", "_smtp-tlsrpt", "mta-sts"}) {
    const auto got = domain.prefixed(label);
    ASSERT_TRUE(got) << "label " << label << ": " << got.error().detail;
    EXPECT_EQ(got->str(), std::string{label} + ".example.com");
  }
}

TEST(DomainName, PrefixedLowerCasesAndNests) {
  const auto host = *DomainName::parse("mx.example.com");
  const auto tcp = host.prefixed("_TCP");
  ASSERT_TRUE(tcp) << tcp.error().detail;
  const auto tlsa = tcp->prefixed("_25");
  ASSERT_TRUE(tlsa) << tlsa.error().detail;
  EXPECT_EQ(tlsa->str(), "_25._tcp.mx.example.com");
  EXPECT_EQ(tlsa->parent()->str(), "_tcp.mx.example.com");
}

TEST(DomainName, PrefixedRejectsDotsAndEmpty) {
  const auto domain = *DomainName::parse("example.com");
  const std::string_view bad_labels[] = {"", "a.b", "a b", "ü", std::string_view{"a\0b", 3}};
  for (const auto bad : bad_labels) {
    const auto got = domain.prefixed(bad);
    ASSERT_FALSE(got) << "label \"" << bad << "\" accepted";
    EXPECT_EQ(got.error().code, Errc::DomainSyntax);
  }
  EXPECT_FALSE(domain.prefixed(k_label64));
}

TEST(DomainName, PrefixedRejectsTooLongResult) {
  const auto name = *DomainName::parse(k_name253);
  const auto got = name.prefixed("_x");
  ASSERT_FALSE(got);
  EXPECT_NE(got.error().detail.find("256 octets"), std::string::npos) << got.error().detail;
}

TEST(DomainName, ComparesAndHashesByText) {
  const auto a = *DomainName::parse("Example.COM.");
  const auto b = *DomainName::parse("example.com");
  EXPECT_EQ(a, b);
  EXPECT_LT(*DomainName::parse("a.example"), *DomainName::parse("b.example"));
  std::unordered_set<DomainName> set{a};
  EXPECT_TRUE(set.contains(b));
}

}  // namespace
}  // namespace tlspolicy::dns
