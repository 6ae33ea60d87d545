// SPDX-License-Identifier: Apache-2.0
//
// parse_sts_txt() and select_sts_txt() against the RFC 8461 §3.1 ABNF and the
// record-selection rule (RFC-CHECKLIST STS-2..STS-4, STS-6, STS-8). Every
// table row names the checklist ID it exercises.
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

#include "tlspolicy/sts/policy.hpp"

namespace tlspolicy::sts {
namespace {

struct TxtRow {
  const char* name;
  std::string_view record;
  std::string_view want_id;  // empty: an error is expected
  Errc want_error = Errc::StsTxtSyntax;
};

// Row names, not raw bytes, in gtest and ctest test names.
void PrintTo(const TxtRow& row, std::ostream* os) { *os << row.name; }

const std::string k_id32(32, 'a');
const std::string k_id33(33, 'a');
const std::string k_ext32 = "x" + std::string(31, '-');
const std::string k_ext33 = "x" + std::string(32, '-');
const std::string k_rec_id32 = "v=STSv1; id=" + k_id32;
const std::string k_rec_id33 = "v=STSv1; id=" + k_id33;
const std::string k_rec_ext32 = "v=STSv1; id=a; " + k_ext32 + "=1";
const std::string k_rec_ext33 = "v=STSv1; id=a; " + k_ext33 + "=1";
constexpr std::string_view k_rec_nul{"v=STSv1; id=a\0b", 15};

const TxtRow k_txt_rows[] = {
    // Valid records.
    {"STS-2 RFC 8461 example", "v=STSv1; id=20160831085700Z;", "20160831085700Z"},
    {"STS-2 without trailing delimiter", "v=STSv1; id=abc", "abc"},
    {"STS-2 without spaces", "v=STSv1;id=abc;", "abc"},
    {"STS-2 WSP around delimiters (errata 6285)", "v=STSv1 ;\tid=abc \t; ", "abc"},
    {"STS-2 id of 32 characters", k_rec_id32, k_id32},
    {"STS-2 id of one digit", "v=STSv1; id=7", "7"},
    {"STS-2 id case kept (STS-6)", "v=STSv1; id=AbC123", "AbC123"},
    {"STS-2 order after version is free", "v=STSv1; ext=1; id=abc", "abc"},
    {"STS-8 unknown extension ignored",
     "v=STSv1; id=abc; foo.bar_baz-1=x!#$%&'()*+,-./0123456789:<>?@[]^_`{|}~", "abc"},
    {"STS-8 extension name of 32 characters", k_rec_ext32, "a"},
    {"STS-8 duplicate id keeps first", "v=STSv1; id=first; id=second", "first"},
    {"STS-8 duplicate id with non-id value ignored", "v=STSv1; id=first; id=not_an_id!", "first"},
    {"STS-8 repeated version ignored", "v=STSv1; id=a; v=STSv2", "a"},

    // Not an MTA-STS record at all.
    {"STS-2 empty record", "", "", Errc::StsNoRecord},
    {"STS-2 version is case-sensitive (V)", "V=STSv1; id=a", "", Errc::StsNoRecord},
    {"STS-2 version is case-sensitive (stsv1)", "v=stsv1; id=a", "", Errc::StsNoRecord},
    {"STS-2 other version", "v=STSv10; id=a", "", Errc::StsNoRecord},
    {"STS-2 leading space", " v=STSv1; id=a", "", Errc::StsNoRecord},
    {"STS-2 version not first", "id=a; v=STSv1", "", Errc::StsNoRecord},
    {"STS-1 SPF record", "v=spf1 -all", "", Errc::StsNoRecord},

    // MTA-STS records outside the ABNF.
    {"STS-2 bare version has no id", "v=STSv1", ""},
    {"STS-2 version and delimiter only", "v=STSv1;", ""},
    {"STS-2 missing id", "v=STSv1; foo=bar", ""},
    {"STS-2 id key is case-sensitive", "v=STSv1; ID=abc", ""},
    {"STS-2 id of 33 characters", k_rec_id33, ""},
    {"STS-2 id with underscore", "v=STSv1; id=a_b", ""},
    {"STS-2 id with hyphen", "v=STSv1; id=2024-01-01", ""},
    {"STS-2 empty id", "v=STSv1; id=", ""},
    {"STS-2 missing delimiter", "v=STSv1 id=abc", ""},
    {"STS-2 empty field", "v=STSv1;; id=abc", ""},
    {"STS-2 two trailing delimiters", "v=STSv1; id=abc;;", ""},
    {"STS-2 trailing WSP without delimiter", "v=STSv1; id=abc ", ""},
    {"STS-2 trailing CRLF", "v=STSv1; id=abc\r\n", ""},
    {"STS-2 NUL byte", k_rec_nul, ""},
    {"STS-1 non-ASCII value", "v=STSv1; id=abc; foo=caf\xc3\xa9", ""},
    {"STS-8 extension value with space", "v=STSv1; id=abc; foo=a b", ""},
    {"STS-8 extension value with equals", "v=STSv1; id=abc; foo=a=b", ""},
    {"STS-8 extension without value", "v=STSv1; id=abc; foo=", ""},
    {"STS-8 extension without equals", "v=STSv1; id=abc; foo", ""},
    {"STS-8 extension name of 33 characters", k_rec_ext33, ""},
    {"STS-8 extension name starting with underscore", "v=STSv1; id=abc; _foo=1", ""},
};

class TxtTable : public ::testing::TestWithParam<TxtRow> {};

TEST_P(TxtTable, ParsesPerSection31) {
  const TxtRow& row = GetParam();
  const auto got = parse_sts_txt(row.record);
  if (!row.want_id.empty()) {
    ASSERT_TRUE(got.has_value()) << row.name << ": got error " << got.error().detail << ", want id "
                                 << row.want_id;
    EXPECT_EQ(got->id, row.want_id) << row.name;
  } else {
    ASSERT_FALSE(got.has_value()) << row.name << ": got id " << got->id << ", want an error";
    EXPECT_EQ(got.error().code, row.want_error)
        << row.name << ": got " << to_string(got.error().code) << ", want "
        << to_string(row.want_error) << " (" << got.error().detail << ")";
    EXPECT_EQ(got.error().retry, Retry::Permanent) << row.name;
    EXPECT_FALSE(got.error().detail.empty()) << row.name;
  }
}

INSTANTIATE_TEST_SUITE_P(StsTxt, TxtTable, ::testing::ValuesIn(k_txt_rows));

TEST(StsTxt, Sts4ConcatenatedStringsJoinWithoutSpaces) {
  // A TXT RR of several strings is joined without spaces by the caller;
  // a split inside the id must then give the whole id.
  const std::vector<std::string> strings = {"v=STSv1; id=2024", "0101T000000"};
  const auto got = parse_sts_txt(strings[0] + strings[1]);
  ASSERT_TRUE(got.has_value()) << got.error().detail;
  EXPECT_EQ(got->id, "20240101T000000");
  // Joined with a space the same strings are invalid, as they should be.
  EXPECT_FALSE(parse_sts_txt(strings[0] + " " + strings[1]).has_value());
}

TEST(StsTxt, Sts6IdsCompareForEqualityOnly) {
  const auto a = parse_sts_txt("v=STSv1; id=abc");
  const auto b = parse_sts_txt("v=STSv1;id=abc;ext=1");
  const auto c = parse_sts_txt("v=STSv1; id=ABC");
  ASSERT_TRUE(a && b && c);
  EXPECT_EQ(*a, *b);
  EXPECT_NE(*a, *c);
}

TEST(StsTxt, DetailIsAHumanSentence) {
  const auto got = parse_sts_txt("v=STSv1; id=a_b");
  ASSERT_FALSE(got.has_value());
  EXPECT_NE(got.error().detail.find("\"a_b\""), std::string::npos) << got.error().detail;
  EXPECT_EQ(got.error().detail.back(), '.') << got.error().detail;
}

TEST(StsTxt, DetailEscapesControlBytes) {
  const auto got = parse_sts_txt(std::string_view{"v=STSv1; id=a\x01\x00", 15});
  ASSERT_FALSE(got.has_value());
  for (const char c : got.error().detail) {
    EXPECT_TRUE(c >= 0x20 && c < 0x7F) << "raw byte " << static_cast<int>(c) << " in detail";
  }
}

struct SelectRow {
  const char* name;
  std::vector<std::string> records;
  std::string_view want_id;  // empty: an error is expected
  Errc want_error = Errc::StsTxtSyntax;
  std::string_view want_in_detail = "";
};

// Row names, not raw bytes, in gtest and ctest test names.
void PrintTo(const SelectRow& row, std::ostream* os) { *os << row.name; }

const SelectRow k_select_rows[] = {
    {"STS-3 no records", {}, "", Errc::StsNoRecord},
    {"STS-3 only SPF", {"v=spf1 -all"}, "", Errc::StsNoRecord},
    {"STS-3 SPF and STS", {"v=spf1 -all", "v=STSv1; id=a"}, "a"},
    {"STS-3 STS and verification token", {"v=STSv1; id=a;", "google-site-verification=x"}, "a"},
    {"STS-3 two STS records",
     {"v=STSv1; id=a", "v=STSv1; id=b"},
     "",
     Errc::StsTxtSyntax,
     "2 v=STSv1 records"},
    {"STS-3 two STS records, one with WSP before ';' (errata 6285)",
     {"v=STSv1; id=a", "v=STSv1 ;id=b"},
     "",
     Errc::StsTxtSyntax,
     "2 v=STSv1 records"},
    {"STS-3 bare v=STSv1 counts",
     {"v=STSv1", "v=STSv1; id=a"},
     "",
     Errc::StsTxtSyntax,
     "2 v=STSv1"},
    {"STS-3 bare v=STSv1 alone is invalid", {"v=STSv1"}, "", Errc::StsTxtSyntax, "no \"id\""},
    {"STS-3 WSP before ';' alone is kept (errata 6285)", {"v=STSv1 ; id=a"}, "a"},
    {"STS-3 version without delimiter is discarded", {"v=STSv1 id=a"}, "", Errc::StsNoRecord},
    {"STS-3 other version discarded", {"v=STSv10; id=a", "v=STSv1; id=b"}, "b"},
    {"STS-3 STSv1x discarded", {"v=STSv1; id=a", "v=STSv1x"}, "a"},
    {"STS-3 case-sensitive version discarded", {"V=STSv1; id=a"}, "", Errc::StsNoRecord},
    {"STS-3 the one left is invalid", {"v=STSv1; id=bad_id"}, "", Errc::StsTxtSyntax},
    {"STS-3 three STS records",
     {"v=STSv1; id=a", "v=STSv1; id=b", "v=STSv1; id=c"},
     "",
     Errc::StsTxtSyntax,
     "3 v=STSv1 records"},
};

class SelectTable : public ::testing::TestWithParam<SelectRow> {};

TEST_P(SelectTable, SelectsExactlyOneRecord) {
  const SelectRow& row = GetParam();
  const auto got = select_sts_txt(row.records);
  if (!row.want_id.empty()) {
    ASSERT_TRUE(got.has_value()) << row.name << ": got error " << got.error().detail << ", want id "
                                 << row.want_id;
    EXPECT_EQ(got->id, row.want_id) << row.name;
    return;
  }
  ASSERT_FALSE(got.has_value()) << row.name << ": got id " << got->id << ", want an error";
  EXPECT_EQ(got.error().code, row.want_error)
      << row.name << ": got " << to_string(got.error().code) << ", want "
      << to_string(row.want_error) << " (" << got.error().detail << ")";
  EXPECT_EQ(got.error().retry, Retry::Permanent) << row.name;
  EXPECT_NE(got.error().detail.find(row.want_in_detail), std::string::npos)
      << row.name << ": got detail \"" << got.error().detail << "\", want it to contain \""
      << row.want_in_detail << "\"";
}

INSTANTIATE_TEST_SUITE_P(StsTxtSelect, SelectTable, ::testing::ValuesIn(k_select_rows));

}  // namespace
}  // namespace tlspolicy::sts
