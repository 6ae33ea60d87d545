// SPDX-License-Identifier: Apache-2.0
#include "tlspolicy/util/json_nesting.hpp"

#include <string>

#include <gtest/gtest.h>

namespace tlspolicy::util {
namespace {

TEST(JsonNesting, CountsArraysAndObjectsButNotBracketsInStrings) {
  EXPECT_TRUE(json_nesting_within(R"({"a":[{"b":[]}]})", 4));
  EXPECT_FALSE(json_nesting_within(R"({"a":[{"b":[]}]})", 3));
  EXPECT_TRUE(json_nesting_within(R"({"a":"[[[[{{{{\"[["})", 1));
  EXPECT_TRUE(json_nesting_within("", 0));
  const std::string deep = std::string(100'000, '[') + std::string(100'000, ']');
  EXPECT_FALSE(json_nesting_within(deep, 32));
  EXPECT_TRUE(json_nesting_within(deep, 100'000));
}

}  // namespace
}  // namespace tlspolicy::util
