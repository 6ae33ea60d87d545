// SPDX-License-Identifier: Apache-2.0
//
// parse_sts_policy() and policy_lines() against RFC 8461 §3.2 and the choices
// of SPEC §3 (RFC-CHECKLIST STS-8, STS-20..STS-24): inline table rows, and
// every sample body under tests/data/sts/{valid,invalid}/*.txt.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

#include "tlspolicy/sts/policy.hpp"

#include "support/testing.hpp"

namespace tlspolicy::sts {
namespace {

using namespace std::chrono_literals;
using namespace std::string_view_literals;
using Mx = std::vector<std::string>;

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in{path, std::ios::binary};
  return {std::istreambuf_iterator<char>{in}, std::istreambuf_iterator<char>{}};
}

// The *.txt sample bodies in tests/data/<dir>, sorted by name.
std::vector<std::string> sample_names(std::string_view dir) {
  std::vector<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator{tlspolicy::testing::test_data(dir)}) {
    if (e.is_regular_file() && e.path().extension() == ".txt") {
      names.push_back(e.path().filename().string());
    }
  }
  std::sort(names.begin(), names.end());
  return names;
}

// "max-age-clamped.txt" -> "MaxAgeClamped", for GoogleTest parameter names.
std::string camel_case(const ::testing::TestParamInfo<std::string>& info) {
  std::string out;
  bool upper = true;
  for (const char c : std::string_view{info.param}.substr(0, info.param.rfind('.'))) {
    const bool alnum = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    if (!alnum) {
      upper = true;
      continue;
    }
    out += upper && c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c;
    upper = false;
  }
  return out;
}

std::string policy_text(const StsPolicy& p) {
  std::string s = "{mode " + std::string{to_string(p.mode)} + ", max_age " +
                  std::to_string(p.max_age.count()) + ", mx [";
  for (const auto& m : p.mx) s += m + (&m == &p.mx.back() ? "" : ", ");
  return s + "]}";
}

// ---------------------------------------------------------------------------
// Sample files.

const std::map<std::string, StsPolicy>& valid_samples() {
  static const std::map<std::string, StsPolicy> k_samples = {
      {"rfc8461-example.txt",
       {StsMode::Enforce, Mx{"mail.example.com", "*.example.net", "backupmx.example.com"},
        604800s}},
      {"crlf.txt", {StsMode::Enforce, Mx{"mx1.example.test", "*.mx.example.test"}, 86400s}},
      {"lf-only.txt", {StsMode::Testing, Mx{"mx1.example.test"}, 600s}},
      {"mixed-line-ends.txt", {StsMode::Testing, Mx{"mx1.example.test"}, 600s}},
      {"no-final-newline.txt", {StsMode::Enforce, Mx{"mx1.example.test"}, 600s}},
      {"unknown-keys.txt", {StsMode::Enforce, Mx{"mx1.example.test"}, 600s}},
      {"max-age-clamped.txt", {StsMode::Enforce, Mx{"mx1.example.test"}, k_max_age_limit}},
      {"max-age-ten-digits.txt", {StsMode::Enforce, Mx{"mx1.example.test"}, k_max_age_limit}},
      {"max-age-leading-zeros.txt", {StsMode::Enforce, Mx{"mx1.example.test"}, 86400s}},
      {"max-age-zero.txt", {StsMode::Testing, Mx{"mx1.example.test"}, 0s}},
      {"duplicate-mode-first-wins.txt", {StsMode::Testing, Mx{"mx1.example.test"}, 600s}},
      {"mode-none-no-mx.txt", {StsMode::None, Mx{}, 86400s}},
      {"mode-none-with-mx.txt", {StsMode::None, Mx{"mx1.example.test"}, 86400s}},
      {"u-label-mx.txt",
       {StsMode::Enforce, Mx{"mail.xn--bcher-kva.example", "*.xn--cole-9oa.example"}, 600s}},
      {"trailing-dot-mx.txt", {StsMode::Enforce, Mx{"mx1.example.test", "*.example.net"}, 600s}},
      {"upper-case-mx.txt", {StsMode::Enforce, Mx{"mx1.example.test"}, 600s}},
      {"blank-lines.txt", {StsMode::Enforce, Mx{"mx1.example.test"}, 600s}},
      {"trailing-whitespace.txt", {StsMode::Enforce, Mx{"mx1.example.test"}, 600s}},
      {"wsp-after-colon.txt", {StsMode::Enforce, Mx{"mx1.example.test"}, 600s}},
      {"any-order.txt", {StsMode::Enforce, Mx{"mx1.example.test"}, 600s}},
  };
  return k_samples;
}

// What the detail of each invalid sample must mention (usually its line).
const std::map<std::string, std::string>& invalid_samples() {
  static const std::map<std::string, std::string> k_samples = {
      {"empty.txt", "no \"version\" line"},
      {"only-blank-lines.txt", "no \"version\" line"},
      {"missing-version.txt", "no \"version\" line"},
      {"missing-mode.txt", "no \"mode\" line"},
      {"missing-max-age.txt", "no \"max_age\" line"},
      {"no-mx-enforce.txt", "no \"mx\" line"},
      {"no-mx-testing.txt", "no \"mx\" line"},
      {"bad-mode.txt", "Line 2 "},
      {"bad-mode-unknown.txt", "Line 2 "},
      {"bad-version.txt", "Line 1 "},
      {"bad-version-case.txt", "Line 1 "},
      {"key-case.txt", "keys are case-sensitive"},
      {"max-age-eleven-digits.txt", "Line 4 "},
      {"max-age-negative.txt", "Line 4 "},
      {"max-age-not-a-number.txt", "Line 4 "},
      {"max-age-empty.txt", "Line 4 "},
      {"leading-space.txt", "Line 2 "},
      {"leading-tab.txt", "Line 1 "},
      {"no-colon.txt", "Line 2 "},
      {"space-before-colon.txt", "Line 2 of the policy has whitespace before the \":\""},
      {"empty-key.txt", "Line 2 of the policy has no key"},
      {"bare-cr-line-ends.txt", "Line 1 "},
      {"mx-underscore.txt", "Line 3 "},
      {"mx-wildcard-middle.txt", "Line 3 "},
      {"mx-wildcard-only.txt", "Line 3 "},
      {"mx-partial-wildcard.txt", "Line 3 "},
      {"mx-two-trailing-dots.txt", "Line 3 "},
      {"mx-empty-label.txt", "Line 3 "},
      {"mx-ip-address.txt", "Line 3 "},
      {"mx-two-names.txt", "Line 3 "},
      {"mx-empty.txt", "Line 3 "},
      {"mx-nul.txt", "Line 3 "},
      {"extension-value-nul.txt", "Line 3 "},
      {"extension-value-bad-utf8.txt", "Line 3 "},
      {"extension-key-invalid.txt", "Line 3 "},
      {"html-error-page.txt", "Line 1 "},
      {"utf8-bom.txt", "Line 1 of the policy begins with a UTF-8 byte-order mark"},
  };
  return k_samples;
}

class ValidSample : public ::testing::TestWithParam<std::string> {};

TEST_P(ValidSample, ParsesToTheExpectedPolicy) {
  const std::string& name = GetParam();
  const auto want = valid_samples().find(name);
  ASSERT_NE(want, valid_samples().end()) << name << " has no expectation in valid_samples()";
  const auto got = parse_sts_policy(read_file(tlspolicy::testing::test_data("sts/valid") / name));
  ASSERT_TRUE(got.has_value()) << name << ": got error " << got.error().detail << ", want "
                               << policy_text(want->second);
  EXPECT_EQ(*got, want->second) << name << ": got " << policy_text(*got) << ", want "
                                << policy_text(want->second);
}

INSTANTIATE_TEST_SUITE_P(StsData, ValidSample, ::testing::ValuesIn(sample_names("sts/valid")),
                         camel_case);

class InvalidSample : public ::testing::TestWithParam<std::string> {};

TEST_P(InvalidSample, IsRejectedWithAPermanentSyntaxError) {
  const std::string& name = GetParam();
  const auto want = invalid_samples().find(name);
  ASSERT_NE(want, invalid_samples().end()) << name << " has no expectation in invalid_samples()";
  const auto got = parse_sts_policy(read_file(tlspolicy::testing::test_data("sts/invalid") / name));
  ASSERT_FALSE(got.has_value()) << name << ": got " << policy_text(*got) << ", want an error";
  EXPECT_EQ(got.error().code, Errc::StsPolicySyntax) << name;
  EXPECT_EQ(got.error().retry, Retry::Permanent) << name;
  EXPECT_NE(got.error().detail.find(want->second), std::string::npos)
      << name << ": got detail \"" << got.error().detail << "\", want it to contain \""
      << want->second << "\"";
}

INSTANTIATE_TEST_SUITE_P(StsData, InvalidSample, ::testing::ValuesIn(sample_names("sts/invalid")),
                         camel_case);

TEST(StsPolicyParser, EverySampleExpectationHasAFile) {
  for (const auto& [name, policy] : valid_samples()) {
    EXPECT_TRUE(std::filesystem::exists(tlspolicy::testing::test_data("sts/valid") / name)) << name;
  }
  for (const auto& [name, detail] : invalid_samples()) {
    EXPECT_TRUE(std::filesystem::exists(tlspolicy::testing::test_data("sts/invalid") / name))
        << name;
  }
}

// ---------------------------------------------------------------------------
// Inline rows.

constexpr std::string_view k_head = "version: STSv1\nmode: enforce\n";

struct AcceptRow {
  const char* name;
  std::string body;
  StsPolicy want;
};

// Row names, not raw bytes, in gtest and ctest test names.
void PrintTo(const AcceptRow& row, std::ostream* os) { *os << row.name; }

const AcceptRow k_accept_rows[] = {
    {"STS-20 minimal enforce",
     std::string{k_head} + "mx: a.example\nmax_age: 1\n",
     {StsMode::Enforce, Mx{"a.example"}, 1s}},
    {"STS-20 mode none needs no mx",
     "version: STSv1\nmode: none\nmax_age: 1\n",
     {StsMode::None, Mx{}, 1s}},
    {"STS-20 several mx kept in order",
     std::string{k_head} + "mx: b.example\nmx: a.example\nmx: b.example\nmax_age: 1\n",
     {StsMode::Enforce, Mx{"b.example", "a.example", "b.example"}, 1s}},
    {"STS-21 testing",
     "version: STSv1\nmode: testing\nmx: a.example\nmax_age: 1\n",
     {StsMode::Testing, Mx{"a.example"}, 1s}},
    {"STS-22 max_age limit kept",
     std::string{k_head} + "mx: a.example\nmax_age: 31557600\n",
     {StsMode::Enforce, Mx{"a.example"}, k_max_age_limit}},
    {"STS-22 max_age 31557601 clamped",
     std::string{k_head} + "mx: a.example\nmax_age: 31557601\n",
     {StsMode::Enforce, Mx{"a.example"}, k_max_age_limit}},
    {"STS-8 duplicate max_age keeps first",
     std::string{k_head} + "mx: a.example\nmax_age: 5\nmax_age: 6\n",
     {StsMode::Enforce, Mx{"a.example"}, 5s}},
    {"STS-8 duplicate invalid max_age ignored",
     std::string{k_head} + "mx: a.example\nmax_age: 5\nmax_age: x\n",
     {StsMode::Enforce, Mx{"a.example"}, 5s}},
    {"STS-8 duplicate version ignored",
     std::string{k_head} + "version: 2\nmx: a.example\nmax_age: 1\n",
     {StsMode::Enforce, Mx{"a.example"}, 1s}},
    {"STS-8 unknown key with empty value ignored",
     std::string{k_head} + "x:\nmx: a.example\nmax_age: 1\n",
     {StsMode::Enforce, Mx{"a.example"}, 1s}},
    {"STS-8 unknown key containing colons",
     std::string{k_head} + "url: https://x/y\nmx: a.example\nmax_age: 1\n",
     {StsMode::Enforce, Mx{"a.example"}, 1s}},
    {"STS-8 unknown key of 40 characters (loosely checked)",
     std::string{k_head} + std::string(40, 'k') + ": v\nmx: a.example\nmax_age: 1\n",
     {StsMode::Enforce, Mx{"a.example"}, 1s}},
    {"STS-23 wildcard",
     std::string{k_head} + "mx: *.Example.NET\nmax_age: 1\n",
     {StsMode::Enforce, Mx{"*.example.net"}, 1s}},
    {"STS-23 A-label kept",
     std::string{k_head} + "mx: xn--bcher-kva.example\nmax_age: 1\n",
     {StsMode::Enforce, Mx{"xn--bcher-kva.example"}, 1s}},
    {"STS-23 U-label converted",
     std::string{k_head} + "mx: b\xc3\xbc"
                           "cher.example\nmax_age: 1\n",
     {StsMode::Enforce, Mx{"xn--bcher-kva.example"}, 1s}},
    {"STS-23 one trailing dot dropped",
     std::string{k_head} + "mx: a.example.\nmax_age: 1\n",
     {StsMode::Enforce, Mx{"a.example"}, 1s}},
    {"STS-24 CRLF",
     "version: STSv1\r\nmode: enforce\r\nmx: a.example\r\nmax_age: 1\r\n",
     {StsMode::Enforce, Mx{"a.example"}, 1s}},
    {"STS-24 no final terminator",
     std::string{k_head} + "mx: a.example\nmax_age: 1",
     {StsMode::Enforce, Mx{"a.example"}, 1s}},
    {"STS-24 tabs after colon and at line end",
     "version:\tSTSv1\t\nmode:\tenforce\nmx:\ta.example\t\nmax_age:\t1\t\n",
     {StsMode::Enforce, Mx{"a.example"}, 1s}},
    {"SPEC-3 blank and whitespace-only lines",
     "\n \nversion: STSv1\n\t\n\nmode: enforce\nmx: a.example\nmax_age: 1\n\n",
     {StsMode::Enforce, Mx{"a.example"}, 1s}},
};

class AcceptTable : public ::testing::TestWithParam<AcceptRow> {};

TEST_P(AcceptTable, Accepts) {
  const AcceptRow& row = GetParam();
  const auto got = parse_sts_policy(row.body);
  ASSERT_TRUE(got.has_value()) << row.name << ": got error " << got.error().detail << ", want "
                               << policy_text(row.want);
  EXPECT_EQ(*got, row.want) << row.name << ": got " << policy_text(*got) << ", want "
                            << policy_text(row.want);
}

INSTANTIATE_TEST_SUITE_P(StsPolicyParser, AcceptTable, ::testing::ValuesIn(k_accept_rows));

struct RejectRow {
  const char* name;
  std::string body;
  std::string_view want_in_detail;
};

// Row names, not raw bytes, in gtest and ctest test names.
void PrintTo(const RejectRow& row, std::ostream* os) { *os << row.name; }

const RejectRow k_reject_rows[] = {
    {"STS-20 mode testing without mx", "version: STSv1\nmode: testing\nmax_age: 1\n", "no \"mx\""},
    {"STS-21 mode Enforce (case)", "version: STSv1\nmode: Enforce\nmx: a.example\nmax_age: 1\n",
     "Line 2 of the policy has mode \"Enforce\""},
    {"STS-21 mode key case", "version: STSv1\nMode: enforce\nmx: a.example\nmax_age: 1\n",
     "line 2 has the key \"Mode\""},
    {"STS-21 version with trailing text",
     "version: STSv1.0\nmode: enforce\nmx: a.example\nmax_age: 1\n", "Line 1 "},
    {"STS-22 max_age of 11 digits", std::string{k_head} + "mx: a.example\nmax_age: 00000000001\n",
     "Line 4 "},
    {"STS-22 max_age with plus sign", std::string{k_head} + "mx: a.example\nmax_age: +1\n",
     "Line 4 "},
    {"STS-22 max_age with inner space", std::string{k_head} + "mx: a.example\nmax_age: 1 0\n",
     "Line 4 "},
    {"STS-23 mx with port", std::string{k_head} + "mx: a.example:25\nmax_age: 1\n", "Line 3 "},
    {"STS-23 mx with bracketed address", std::string{k_head} + "mx: [192.0.2.1]\nmax_age: 1\n",
     "Line 3 "},
    {"STS-23 mx wildcard without domain", std::string{k_head} + "mx: *.\nmax_age: 1\n", "Line 3 "},
    {"STS-23 mx double wildcard", std::string{k_head} + "mx: *.*.example\nmax_age: 1\n", "Line 3 "},
    {"STS-23 mx root", std::string{k_head} + "mx: .\nmax_age: 1\n", "Line 3 "},
    {"STS-23 mx label over 63 octets",
     std::string{k_head} + "mx: " + std::string(64, 'a') + ".example\nmax_age: 1\n", "Line 3 "},
    {"STS-24 leading space", std::string{k_head} + " mx: a.example\nmax_age: 1\n",
     "Line 3 of the policy begins with whitespace"},
    {"STS-24 space before colon", "version : STSv1\nmode: enforce\nmx: a.example\nmax_age: 1\n",
     "Line 1 "},
    {"STS-24 bare CR inside a line", "version: STSv1\nmode: enforce\rmx: a.example\nmax_age: 1\n",
     "Line 2 of the policy contains a carriage return"},
    {"STS-24 CR CR LF", "version: STSv1\r\r\nmode: enforce\nmx: a.example\nmax_age: 1\n",
     "Line 1 "},
    {"STS-24 line without colon", std::string{k_head} + "mx a.example\nmax_age: 1\n",
     "Line 3 of the policy \"mx a.example\" has no \":\""},
    {"STS-8 extension value with NUL",
     std::string{k_head} + std::string{"x: a\0b\n", 7} + "mx: a.example\nmax_age: 1\n", "Line 3 "},
    {"STS-8 extension value with overlong UTF-8",
     std::string{k_head} + "x: \xc0\xaf\nmx: a.example\nmax_age: 1\n", "Line 3 "},
    {"STS-8 extension value with UTF-16 surrogate",
     std::string{k_head} + "x: \xed\xa0\x80\nmx: a.example\nmax_age: 1\n", "Line 3 "},
    {"STS-8 extension value with truncated UTF-8",
     std::string{k_head} + "x: \xe2\x98\nmx: a.example\nmax_age: 1\n", "Line 3 "},
    {"STS-8 extension value with DEL",
     std::string{k_head} + "x: a\x7f\nmx: a.example\nmax_age: 1\n", "Line 3 "},
};

class RejectTable : public ::testing::TestWithParam<RejectRow> {};

TEST_P(RejectTable, Rejects) {
  const RejectRow& row = GetParam();
  const auto got = parse_sts_policy(row.body);
  ASSERT_FALSE(got.has_value()) << row.name << ": got " << policy_text(*got) << ", want an error";
  EXPECT_EQ(got.error().code, Errc::StsPolicySyntax) << row.name;
  EXPECT_EQ(got.error().retry, Retry::Permanent) << row.name;
  EXPECT_NE(got.error().detail.find(row.want_in_detail), std::string::npos)
      << row.name << ": got detail \"" << got.error().detail << "\", want it to contain \""
      << row.want_in_detail << "\"";
}

INSTANTIATE_TEST_SUITE_P(StsPolicyParser, RejectTable, ::testing::ValuesIn(k_reject_rows));

// ---------------------------------------------------------------------------
// Single behaviours.

TEST(StsPolicyParser, Sts8ExtensionValueMayBeUtf8) {
  const auto got = parse_sts_policy(std::string{k_head} +
                                    "note: caf\xc3\xa9 \xe2\x98\x83 \xf0\x9f\x93\xa7\n"
                                    "mx: a.example\nmax_age: 1\n");
  ASSERT_TRUE(got.has_value()) << got.error().detail;
}

TEST(StsPolicyParser, DetailEscapesUntrustedBytes) {
  const auto got = parse_sts_policy(std::string{"mode: \x1b[31m\xff\n", 13});
  ASSERT_FALSE(got.has_value());
  for (const char c : got.error().detail) {
    EXPECT_TRUE(c >= 0x20 && c < 0x7F) << "raw byte " << static_cast<int>(c) << " in detail";
  }
}

TEST(StsPolicyParser, DetailQuotesAtMostAShortPrefix) {
  const auto got = parse_sts_policy("mode: " + std::string(100000, 'x') + "\n");
  ASSERT_FALSE(got.has_value());
  EXPECT_LT(got.error().detail.size(), 300U) << got.error().detail;
}

TEST(StsPolicyParser, NeverThrowsOnArbitraryBytes) {
  // A deterministic xorshift stream over a small alphabet that hits the
  // grammar's interesting bytes often.
  constexpr std::string_view k_alphabet = "mxodevrsinaget_:*. \t\r\n\0\xc3\xa9STv1-9"sv;
  std::uint32_t state = 2463534242U;
  for (int round = 0; round < 2000; ++round) {
    std::string body;
    const std::uint32_t length = state % 200U;
    for (std::uint32_t i = 0; i < length; ++i) {
      state ^= state << 13U;
      state ^= state >> 17U;
      state ^= state << 5U;
      body += k_alphabet[state % k_alphabet.size()];
    }
    EXPECT_NO_THROW({
      const auto got = parse_sts_policy(body);
      static_cast<void>(policy_lines(body));
      if (got) {
        EXPECT_TRUE(got->mode == StsMode::None || !got->mx.empty());
      }
    });
  }
}

TEST(StsPolicyParser, LargeBodyParses) {
  // Linear time: 200 000 lines of unknown keys and mx patterns.
  std::string body{k_head};
  for (int i = 0; i < 100000; ++i) body += "ext: value\nmx: *.example.test\n";
  body += "max_age: 600\n";
  const auto got = parse_sts_policy(body);
  ASSERT_TRUE(got.has_value()) << got.error().detail;
  EXPECT_EQ(got->mx.size(), 100000U);
}

// ---------------------------------------------------------------------------
// policy_lines (RFC 8460 §4.5 policy-string).

TEST(StsPolicyLines, SplitsLfAndCrlfWithoutTerminatorsOrTrailingWsp) {
  const auto got =
      policy_lines("version: STSv1\r\nmode: enforce \t\n\nmx: a.example\r\n\r\nmax_age: 1");
  const std::vector<std::string> want = {"version: STSv1", "mode: enforce", "mx: a.example",
                                         "max_age: 1"};
  EXPECT_EQ(got, want);
}

TEST(StsPolicyLines, EmptyBodyHasNoLines) {
  EXPECT_TRUE(policy_lines("").empty());
  EXPECT_TRUE(policy_lines("\n\r\n \t\n").empty());
}

TEST(StsPolicyLines, KeepsLeadingWhitespaceAndUnknownLines) {
  const auto got = policy_lines(" mx: a\nfoo\n");
  const std::vector<std::string> want = {" mx: a", "foo"};
  EXPECT_EQ(got, want);
}

}  // namespace
}  // namespace tlspolicy::sts
