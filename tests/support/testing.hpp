// SPDX-License-Identifier: Apache-2.0
//
// Small helpers shared by all unit tests.
#pragma once

#include <filesystem>
#include <string_view>

namespace tlspolicy::testing {

/// Path of a file under tests/data.
[[nodiscard]] std::filesystem::path test_data(std::string_view relative);

}  // namespace tlspolicy::testing
