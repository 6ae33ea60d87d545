// SPDX-License-Identifier: Apache-2.0
//
// Anchor translation unit of the tlspolicy_testing library (the fakes are
// header-only or have their own .cpp files beside this one).
#include "support/testing.hpp"

namespace tlspolicy::testing {

std::filesystem::path test_data(std::string_view relative) {
  return std::filesystem::path{TLSPOLICY_TEST_DATA} / relative;
}

}  // namespace tlspolicy::testing
