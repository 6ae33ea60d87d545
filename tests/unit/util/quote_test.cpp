// SPDX-License-Identifier: Apache-2.0
//
// util::escaped / util::quoted: the one rule for untrusted bytes in details and logs.
#include "tlspolicy/util/quote.hpp"

#include <cstdio>
#include <string>

#include <gtest/gtest.h>

namespace tlspolicy::util {
namespace {

// Every byte value: printable ASCII other than '"' and '\' is kept, all else is \xNN.
TEST(Quote, EveryByteValue) {
  for (int b = 0; b < 256; ++b) {
    const std::string in(1, static_cast<char>(b));
    const bool kept = b >= 0x20 && b <= 0x7e && b != '"' && b != '\\';
    char hex[8];
    std::snprintf(hex, sizeof hex, "\\x%02x", b);
    EXPECT_EQ(escaped(in), kept ? in : std::string{hex}) << "byte " << b;
  }
}

TEST(Quote, CutAfterTheCapWithAMark) {
  const std::string at_cap(k_max_shown_bytes, 'a');
  EXPECT_EQ(escaped(at_cap), at_cap);
  EXPECT_EQ(escaped(at_cap + "b"), at_cap + "...");
  EXPECT_EQ(quoted("v=STSv1;\nid=1"), "\"v=STSv1;\\x0aid=1\"");
  EXPECT_EQ(quoted("\xc3\xa9"), "\"\\xc3\\xa9\"");
  EXPECT_EQ(quoted(""), "\"\"");
}

}  // namespace
}  // namespace tlspolicy::util
