// SPDX-License-Identifier: Apache-2.0
//
// NAME
//   tlspolicy - outbound transport-security policy engine for mail servers
// SYNOPSIS
//   tlspolicy [--config FILE] [--set section.key=value]... COMMAND [ARGS]
//   tlspolicy lookup DOMAIN [--json] [--explain] [--requiretls] [--recipient ADDR]
//                           [--socket ENDPOINT]
//   tlspolicy cache list [DOMAIN] | show DOMAIN | purge [DOMAIN] | refresh DOMAIN | export
//                   [--socket ENDPOINT] [--json]
//   tlspolicy stats [--socket ENDPOINT] [--json]
//   tlspolicy report list|show|generate|send [--date D] [--domain D] [--out DIR]
//                    (report_commands.hpp)
//   tlspolicy check-config [--defaults]
//   tlspolicy serve
//   tlspolicy version
// EXIT STATUS (sysexits.h)
//   0 decided cleanly · 64 usage · 65 invalid domain · 69 decided, but policy
//   discovery met a failure (printed on stderr) · 75 defer (temporary) ·
//   78 configuration or store error · 70 internal error.
//   Commands that talk to the daemon (cache, stats, lookup --socket): 69 the
//   daemon cannot be reached · 66 cache.show: no stored policy · 75
//   cache.refresh fetched nothing (the stored policy is kept) or the daemon
//   answered "internal" · 64 the socket is not the admin socket.
// SEE ALSO
//   docs/man/tlspolicy.8.md, docs/man/tlspolicy-cache.8.md, docs/decision-rules.md,
//   docs/configuration.md
#pragma once

#include <iosfwd>

#include "tlspolicy/util/exit_status.hpp"

namespace tlspolicy::cli {

/// Runs the command line; writes results to `out` and diagnostics to `err`.
/// Returns the process exit status. Never throws.
[[nodiscard]] int run(int argc, const char* const* argv, std::ostream& out, std::ostream& err);

}  // namespace tlspolicy::cli
