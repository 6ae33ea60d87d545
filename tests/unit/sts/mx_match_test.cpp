// SPDX-License-Identifier: Apache-2.0
//
// mx_pattern_matches() and mx_matches_any() against RFC 8461 §4.1
// (RFC-CHECKLIST STS-25): exact names, "*." matching exactly one whole
// left-most label, case-insensitive comparison.
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

#include "tlspolicy/sts/policy.hpp"

namespace tlspolicy::sts {
namespace {

struct MatchRow {
  const char* name;
  std::string_view pattern;
  std::string_view host;
  bool want;
};

// Row names, not raw bytes, in gtest and ctest test names.
void PrintTo(const MatchRow& row, std::ostream* os) { *os << row.name; }

const MatchRow k_match_rows[] = {
    {"STS-25 exact", "mail.example.com", "mail.example.com", true},
    {"STS-25 exact is case-insensitive", "mail.example.com", "MAIL.Example.COM", true},
    {"STS-25 exact pattern in upper case", "MAIL.EXAMPLE.COM", "mail.example.com", true},
    {"STS-25 exact does not match a subdomain", "example.com", "mail.example.com", false},
    {"STS-25 exact does not match the parent", "mail.example.com", "example.com", false},
    {"STS-25 exact does not match a longer label", "mail.example.com", "mail2.example.com", false},
    {"STS-25 exact A-label", "mail.xn--bcher-kva.example", "mail.xn--bcher-kva.example", true},
    {"STS-25 wildcard matches one label", "*.example.com", "mail.example.com", true},
    {"STS-25 wildcard is case-insensitive", "*.example.com", "MAIL.EXAMPLE.com", true},
    {"STS-25 wildcard pattern in upper case", "*.Example.COM", "mail.example.com", true},
    {"STS-25 wildcard does not match the apex", "*.example.com", "example.com", false},
    {"STS-25 wildcard does not match two labels", "*.example.com", "foo.bar.example.com", false},
    {"STS-25 wildcard does not match a label suffix", "*.example.com", "mailexample.com", false},
    {"STS-25 wildcard does not match another domain", "*.example.com", "mail.example.net", false},
    {"STS-25 wildcard does not match a longer name", "*.example.com", "mail.example.com.evil",
     false},
    {"STS-25 wildcard needs a non-empty label", "*.example.com", ".example.com", false},
    {"STS-25 wildcard without suffix matches nothing", "*.", "mail", false},
    {"STS-25 star is no wildcard inside a label", "mx*.example.com", "mx1.example.com", false},
    {"STS-25 bare star matches nothing", "*", "mail", false},
    {"STS-25 host trailing dot tolerated", "mail.example.com", "mail.example.com.", true},
    {"STS-25 host trailing dot tolerated with wildcard", "*.example.com", "mail.example.com.",
     true},
    {"STS-25 pattern trailing dot tolerated", "mail.example.com.", "mail.example.com", true},
    {"STS-25 empty host", "mail.example.com", "", false},
    {"STS-25 empty pattern", "", "mail.example.com", false},
    {"STS-25 both empty", "", "", false},
    {"STS-25 root host", "*.example.com", ".", false},
};

class MatchTable : public ::testing::TestWithParam<MatchRow> {};

TEST_P(MatchTable, MatchesPerSection41) {
  const MatchRow& row = GetParam();
  EXPECT_EQ(mx_pattern_matches(row.pattern, row.host), row.want)
      << row.name << ": pattern \"" << row.pattern << "\", host \"" << row.host << "\": got "
      << !row.want << ", want " << row.want;
}

INSTANTIATE_TEST_SUITE_P(StsMx, MatchTable, ::testing::ValuesIn(k_match_rows));

TEST(StsMx, Sts25AnyPatternMatches) {
  const std::vector<std::string> patterns = {"mx1.example.com", "*.backup.example.com"};
  EXPECT_TRUE(mx_matches_any(patterns, "mx1.example.com"));
  EXPECT_TRUE(mx_matches_any(patterns, "b1.backup.example.com"));
  EXPECT_FALSE(mx_matches_any(patterns, "mx2.example.com"));
  EXPECT_FALSE(mx_matches_any(patterns, "backup.example.com"));
}

TEST(StsMx, Sts25NoPatternsMatchNothing) { EXPECT_FALSE(mx_matches_any({}, "mx1.example.com")); }

TEST(StsMx, Sts25ParsedPatternsMatchTheirHosts) {
  // Patterns as parse_sts_policy() produces them (normalised A-labels) match
  // MX host names as DNS returns them.
  const auto policy = parse_sts_policy(
      "version: STSv1\nmode: enforce\nmx: MX.B\xc3\xbc"
      "cher.example.\nmx: *.Example.NET\n"
      "max_age: 600\n");
  ASSERT_TRUE(policy.has_value()) << policy.error().detail;
  EXPECT_TRUE(mx_matches_any(policy->mx, "mx.xn--bcher-kva.example."));
  EXPECT_TRUE(mx_matches_any(policy->mx, "a.example.net"));
  EXPECT_FALSE(mx_matches_any(policy->mx, "example.net"));
}

}  // namespace
}  // namespace tlspolicy::sts
