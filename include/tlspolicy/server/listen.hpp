// SPDX-License-Identifier: Apache-2.0
//
// Listening sockets for the daemon: "unix:/path", "IP:port" and "[IPv6]:port"
// endpoints, and sockets handed over by systemd socket activation
// (sd_listen_fds(3) protocol, implemented here without libsystemd).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "tlspolicy/util/fd.hpp"
#include "tlspolicy/util/result.hpp"

namespace tlspolicy::server {

struct ListenOptions {
  /// Unix sockets: permission bits of the socket file (e.g. 0660); nullopt = from the umask.
  std::optional<std::uint32_t> mode;
  /// Unix sockets: owner and group, by name or number; empty = unchanged.
  std::string owner;
  std::string group;
  int backlog = 1024;
};

/// Creates a non-blocking, close-on-exec listening socket.
/// "unix:/path": creates the parent directory (0755) if missing; an existing socket file is
/// replaced only when nobody accepts on it (connect() refused); any other existing file is
/// an error. Then applies mode/owner/group.
/// "IP:port", "[IPv6]:port": SO_REUSEADDR (IPv6: V6ONLY); port 0 picks a free port
/// (see bound_port()).
/// Errors: Errc::ConfigValue (syntax, path in use), Errc::Internal (system calls), Permanent.
[[nodiscard]] Result<util::Fd> listen_endpoint(std::string_view endpoint,
                                               const ListenOptions& options = {});

/// A non-blocking, close-on-exec Unix datagram socket bound to "unix:/path" (the
/// libtlsrpt socket), with the same directory, stale-socket, mode and owner
/// rules as listen_endpoint. Errors as listen_endpoint.
[[nodiscard]] Result<util::Fd> bind_datagram_endpoint(std::string_view endpoint,
                                                      const ListenOptions& options = {});

/// The local port of a bound TCP socket.
[[nodiscard]] Result<std::uint16_t> bound_port(const util::Fd& socket);

/// Sockets passed by systemd: LISTEN_PID must be our pid; LISTEN_FDS sockets start at fd 3;
/// LISTEN_FDNAMES (colon-separated) names them ("unknown" when absent). Adopted fds are made
/// close-on-exec and non-blocking. Empty map when not socket-activated. Does not unset the
/// variables (setenv is not thread-safe; the caller may).
[[nodiscard]] Result<std::multimap<std::string, util::Fd>> adopt_systemd_fds();

/// The same with the environment given explicitly (tests): values as in the variables,
/// `first_fd` instead of 3.
[[nodiscard]] Result<std::multimap<std::string, util::Fd>> adopt_systemd_fds(
    std::string_view listen_pid, std::string_view listen_fds, std::string_view listen_fdnames,
    int first_fd);

}  // namespace tlspolicy::server
