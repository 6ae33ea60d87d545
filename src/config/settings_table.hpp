// SPDX-License-Identifier: Apache-2.0
//
// Private to src/config: the settings table, one row per setting (name, type,
// default, one-line doc, how to parse and validate a TOML value into
// Settings, how to render it back, and, for a derived default, the function
// that fills it in after every source was read). settings.cpp derives the
// loader, the check-config listing, setting_docs() and defaults_toml() from
// it. The rows are made by small typed builders in settings_table.cpp.
#pragma once

#include <functional>
#include <span>
#include <string>
#include <string_view>

#include <toml++/toml.h>

#include "tlspolicy/config/settings.hpp"
#include "tlspolicy/util/result.hpp"

namespace tlspolicy::config::detail {

/// One setting. `parse` validates a TOML node and stores it; on failure it
/// returns Errc::ConfigValue with a detail that does not name the setting or
/// the source (the loader adds both).
struct SettingRow {
  using Parse = std::function<Result<void>(const toml::node& value, Settings& out)>;
  using Render = std::function<std::string(const Settings& s)>;
  /// Fills in a derived default when the setting is still empty. Errors are ConfigValue.
  using Derive = Result<void> (*)(Settings& s);

  std::string_view name;         ///< "section.key" or a top-level "key"
  std::string_view type;         ///< for docs: "string", "duration", ...
  std::string default_value;     ///< TOML value text, parsed by `parse` at load
  std::string_view default_doc;  ///< docs text when derived; empty = default_value
  std::string_view doc;          ///< one line
  Parse parse;
  Render render;
  Derive derive = nullptr;  ///< nullptr: a plain default

  /// This row with a derived default: `fill` sets the value when it is still empty after
  /// every source was read; `what` says what it becomes (docs, --defaults).
  [[nodiscard]] SettingRow derived(std::string_view what, Derive fill) && {
    default_doc = what;
    derive = fill;
    return std::move(*this);
  }
};

/// The settings table, in order (derivations rely on it: state_dir first).
[[nodiscard]] std::span<const SettingRow> settings_table();

/// The row named `name`, or nullptr.
[[nodiscard]] const SettingRow* find_row(std::string_view name);

/// True when some row is named "<name>.<key>" (a TOML table of settings).
[[nodiscard]] bool is_section(std::string_view name);

}  // namespace tlspolicy::config::detail
