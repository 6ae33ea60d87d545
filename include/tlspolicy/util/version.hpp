// SPDX-License-Identifier: Apache-2.0
//
// The one version of tlspolicy: the CMake project version, with "+g<commit>[.dirty]" when built
// from a git checkout (tools/cmake/Version.cmake). `tlspolicy version` prints it and policy
// fetches and report POSTs send it in their User-Agent.
#pragma once

#include <string_view>

namespace tlspolicy::util {

[[nodiscard]] std::string_view version() noexcept;

}  // namespace tlspolicy::util
