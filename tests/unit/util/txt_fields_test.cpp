// SPDX-License-Identifier: Apache-2.0
//
// util::TxtFieldReader and the version filters: the field grammar that the MTA-STS and TLSRPT
// records share (their own tests, tests/unit/sts and tests/unit/tlsrpt, cover each record).
#include "tlspolicy/util/txt_fields.hpp"

#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

namespace tlspolicy::util {
namespace {

constexpr std::string_view k_version = "v=X1";

/// "name=value" of every field, or "error: <code>".
std::vector<std::string> read_all(std::string_view record) {
  TxtFieldReader r{record, k_version.size(), Errc::StsTxtSyntax};
  std::vector<std::string> out;
  for (;;) {
    auto name = r.next();
    if (!name) return {"error: " + std::string{to_string(name.error().code)}};
    if (!*name) return out;
    out.push_back(std::string{**name} + "=" + std::string{r.ext_value()});
  }
}

TEST(TxtFields, DelimitersWithWhitespaceAndOneTrailing) {
  EXPECT_EQ(read_all("v=X1; a=1 ;\tb.c-d_e=x:y;"),
            (std::vector<std::string>{"a=1", "b.c-d_e=x:y"}));
  EXPECT_EQ(read_all("v=X1"), std::vector<std::string>{});
  EXPECT_EQ(read_all("v=X1;"), std::vector<std::string>{});
}

TEST(TxtFields, ShapeErrorsCarryTheCallersCode) {
  for (const std::string_view bad : {"v=X1;;a=1", "v=X1 a=1", "v=X1; _a=1", "v=X1; a",
                                     "v=X1; a=1;;", "v=X1; aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa=1"}) {
    EXPECT_EQ(read_all(bad), std::vector<std::string>{"error: sts-txt-syntax"}) << bad;
  }
}

TEST(TxtFields, VersionTokenAndCandidate) {
  EXPECT_TRUE(txt_has_version("v=X1", k_version));
  EXPECT_TRUE(txt_has_version("v=X1 ;a=1", k_version));
  EXPECT_FALSE(txt_has_version("v=X10;a=1", k_version));
  EXPECT_FALSE(txt_has_version("V=X1;a=1", k_version));
  EXPECT_TRUE(txt_is_candidate("v=X1 ;a=1", k_version));
  EXPECT_FALSE(txt_is_candidate("v=X1 a=1", k_version));
  EXPECT_TRUE(txt_has_version("v=X1 a=1", k_version));  // a malformed record of this version
}

}  // namespace
}  // namespace tlspolicy::util
