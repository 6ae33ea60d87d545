// SPDX-License-Identifier: Apache-2.0
//
// Private to src/config: the [[policy]] array, the one setting that is a
// list of tables rather than a row of the settings table. Its pseudo-row
// (name, type, default, doc) joins setting_docs() and check-config.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <toml++/toml.h>

#include "tlspolicy/config/settings.hpp"
#include "tlspolicy/util/result.hpp"

namespace tlspolicy::config::detail {

inline constexpr std::string_view k_policy_name = "policy";
inline constexpr std::string_view k_policy_type = "array of tables";
inline constexpr std::string_view k_policy_default = "[]";
inline constexpr std::string_view k_policy_doc =
    "Local per-domain overrides (SPEC step 1): domain, action, verify, match.";

/// Parses the [[policy]] array (an array of tables) into `out`, replacing
/// it. `source` names the file or "--set" in errors. Unknown keys are
/// Errc::ConfigSyntax, everything else Errc::ConfigValue.
[[nodiscard]] Result<void> parse_policies(const toml::node& value, std::string_view source,
                                          std::vector<LocalPolicy>& out);

/// The policies as one TOML inline array of inline tables.
[[nodiscard]] std::string render_policies(const std::vector<LocalPolicy>& policies);

}  // namespace tlspolicy::config::detail
