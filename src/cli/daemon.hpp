// SPDX-License-Identifier: Apache-2.0
//
// `tlspolicy serve`: the daemon's composition root. Builds the runtime, the
// decision service and the server with its three listeners (SPEC §4):
// Postfix socketmap, JSON lines, and the admin JSON listener. SIGHUP reloads
// the configuration (a bad one keeps the running one and says why); SIGTERM
// and SIGINT drain and exit.
#pragma once

#include <filesystem>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

namespace tlspolicy::cli {

/// Runs until SIGTERM/SIGINT. Returns the process exit status.
[[nodiscard]] int run_daemon(const std::optional<std::filesystem::path>& config_file,
                             const std::vector<std::string>& overrides, std::ostream& err);

}  // namespace tlspolicy::cli
