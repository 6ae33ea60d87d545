// SPDX-License-Identifier: Apache-2.0
//
// The daemon's descriptor limit (RLIMIT_NOFILE). Each connection is one descriptor, and the
// daemon needs more of its own (listeners, SQLite, the lookup workers' DNS and HTTPS sockets,
// report delivery). systemd gives services a soft limit of 1024 (hard 524288), too few for
// ServerOptions::max_connections (1024) plus those: accept() would fail with EMFILE first,
// leaving clients hanging in the backlog instead of being closed at the connection limit, and
// lookups would fail for want of a socket. So `serve` raises its soft limit, within the hard
// one, or serves fewer connections when even the hard limit is too low.
#pragma once

#include <cstddef>
#include <cstdint>

namespace tlspolicy::server {

/// Descriptors the daemon keeps for itself beyond its connections.
inline constexpr std::size_t k_fd_reserve = 256;

struct FdLimitPlan {
  std::uint64_t soft = 0;           ///< the soft limit to run with
  std::size_t max_connections = 0;  ///< connections that fit in it beside the reserve
};

/// Pure: given the current soft and hard limits (UINT64_MAX = unlimited), the soft limit to
/// set so `max_connections` + `reserve` descriptors fit (never lower than `soft`, never above
/// `hard`), and the connections that then fit (`max_connections`, or fewer; at least 1).
[[nodiscard]] FdLimitPlan plan_fd_limit(std::uint64_t soft, std::uint64_t hard,
                                        std::size_t max_connections,
                                        std::size_t reserve = k_fd_reserve) noexcept;

/// Applies plan_fd_limit() to this process (getrlimit/setrlimit of RLIMIT_NOFILE) and
/// returns the plan in force: when setrlimit fails, the one for the unchanged soft limit.
[[nodiscard]] FdLimitPlan ensure_fd_limit(std::size_t max_connections,
                                          std::size_t reserve = k_fd_reserve) noexcept;

}  // namespace tlspolicy::server
