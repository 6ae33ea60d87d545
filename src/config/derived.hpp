// SPDX-License-Identifier: Apache-2.0
//
// Private to src/config: derived defaults. A setting whose default depends on
// the environment (root or not, $XDG_*, the host name) or on other settings
// is "" in the table and is filled in here after every source was read; the
// settings table names the function in the setting's row. Each returns
// Errc::ConfigValue when it cannot derive a usable value.
#pragma once

#include <filesystem>
#include <string>

#include "tlspolicy/config/settings.hpp"
#include "tlspolicy/util/result.hpp"

namespace tlspolicy::config::detail {

/// The host's name, lower case ("localhost" when it has none).
[[nodiscard]] std::string host_name();

/// Where the sockets go: /run/tlspolicy (root), $XDG_RUNTIME_DIR/tlspolicy, <state_dir>/run.
[[nodiscard]] std::filesystem::path run_dir(const Settings& s);

// One per derived setting, in table order (state_dir comes first: the others use it).
[[nodiscard]] Result<void> derive_state_dir(Settings& s);
[[nodiscard]] Result<void> derive_store_path(Settings& s);
[[nodiscard]] Result<void> derive_fleet_node(Settings& s);
[[nodiscard]] Result<void> derive_socketmap(Settings& s);
[[nodiscard]] Result<void> derive_json(Settings& s);
[[nodiscard]] Result<void> derive_admin(Settings& s);
[[nodiscard]] Result<void> derive_tlsrpt_socket(Settings& s);
/// RFC 8460 §5.3 (RPT-14): submitter and contact_info, each from the other.
[[nodiscard]] Result<void> derive_submitter(Settings& s);
[[nodiscard]] Result<void> derive_organization_name(Settings& s);

}  // namespace tlspolicy::config::detail
