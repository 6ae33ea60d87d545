// SPDX-License-Identifier: Apache-2.0
//
// daemon::run: `tlspolicy serve`. Builds the components from the settings, the
// server with its listeners (SPEC §4: Postfix socketmap, JSON lines, admin
// JSON, the TLS-RPT datagram socket) and the engine loop, then waits for
// signals: SIGHUP reloads the configuration (a bad one keeps the running one
// and says why); SIGTERM and SIGINT drain and exit. The thread roles are in
// docs/architecture.md.
#pragma once

#include <filesystem>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

namespace tlspolicy::daemon {

/// Runs until SIGTERM/SIGINT. Returns the process exit status (78, EX_CONFIG, when the
/// configuration or the listeners cannot be set up).
[[nodiscard]] int run(const std::optional<std::filesystem::path>& config_file,
                      const std::vector<std::string>& overrides, std::ostream& err);

}  // namespace tlspolicy::daemon
