// SPDX-License-Identifier: Apache-2.0
//
// Private to src/config: the settings table (one row per setting: name, type,
// default, one-line doc, a parse-and-validate function writing into Settings,
// a renderer and, for derived defaults, a function that fills the value in
// after all sources were read) plus the [[policy]] parser. settings.cpp
// derives the loader, the check-config listing and setting_docs() from it.
// This is the only header that includes toml++.
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <toml++/toml.h>

#include "tlspolicy/config/settings.hpp"
#include "tlspolicy/util/result.hpp"

namespace tlspolicy::config::detail {

/// One setting. `parse` validates a TOML node and stores it; on failure it
/// returns Errc::ConfigValue with a detail that does not name the setting or
/// the source (the loader adds both).
struct SettingRow {
  std::string_view name;           ///< "section.key" or a top-level "key"
  std::string_view type;           ///< for docs: "string", "duration", ...
  std::string_view default_value;  ///< TOML value text, parsed by `parse` at load
  std::string_view default_doc;    ///< docs text when derived; empty = default_value
  std::string_view doc;            ///< one line
  Result<void> (*parse)(const toml::node& value, Settings& out);
  std::string (*render)(const Settings& s);
  /// Fills in a derived default when the setting is still empty; nullptr if
  /// the setting has a plain default. Errors are ConfigValue.
  Result<void> (*derive)(Settings& s);
};

/// The settings table, in order (derivations rely on it: state_dir first).
[[nodiscard]] std::span<const SettingRow> settings_table();

/// The row named `name`, or nullptr.
[[nodiscard]] const SettingRow* find_row(std::string_view name);

/// True when some row is named "<name>.<key>" (a TOML table of settings).
[[nodiscard]] bool is_section(std::string_view name);

/// The [[policy]] pseudo-row, for setting_docs() and check-config.
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

/// "<source>:<line>" when the region knows its line, else "<source>".
[[nodiscard]] std::string where(std::string_view source, const toml::source_region& region);

/// Printable, bounded copy of untrusted text for error messages.
[[nodiscard]] std::string printable(std::string_view text);

/// Largest accepted config text (file or string), in bytes.
inline constexpr std::size_t k_max_config_bytes = std::size_t{1} << 20;

/// Rejects input whose tables would nest deeper than toml++ can destroy
/// without recursing off the stack (long dotted keys are not bounded by
/// TOML_MAX_NESTED_VALUES). Returns the 1-based line of the offence, or 0.
[[nodiscard]] std::size_t excessive_nesting_line(std::string_view text);

}  // namespace tlspolicy::config::detail
