// SPDX-License-Identifier: Apache-2.0
//
// The decision object of SPEC §3 as JSON text (one line, no trailing newline).
// This is what `lookup --json` prints and what the JSON protocol returns.
#pragma once

#include <chrono>
#include <optional>
#include <string>

#include "tlspolicy/policy/decision.hpp"

namespace tlspolicy::proto {

/// `with_explain` adds the "explain" array (the step-by-step trail). "ttl" is
/// d.ttl, or `ttl` when given (what remains of a decision kept in memory).
[[nodiscard]] std::string decision_to_json(const policy::Decision& d, bool with_explain,
                                           int indent = -1,
                                           std::optional<std::chrono::seconds> ttl = std::nullopt);

/// The decision's "mta_sts" member alone: the object, or "null" when no
/// MTA-STS policy applied (the cache.refresh answer).
[[nodiscard]] std::string mta_sts_to_json(const policy::Decision& d);

}  // namespace tlspolicy::proto
