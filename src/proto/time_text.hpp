// SPDX-License-Identifier: Apache-2.0
//
// Internal to proto: reads back the RFC 3339 UTC text that
// util::format_rfc3339 writes ("2026-11-24T07:00:00Z"). Never throws.
#pragma once

#include <optional>
#include <string_view>

#include "tlspolicy/util/clock.hpp"

namespace tlspolicy::proto::detail {

/// "YYYY-MM-DDTHH:MM:SSZ" only (what this program writes); nullopt otherwise.
[[nodiscard]] std::optional<util::TimePoint> parse_rfc3339_utc(std::string_view text) noexcept;

}  // namespace tlspolicy::proto::detail
