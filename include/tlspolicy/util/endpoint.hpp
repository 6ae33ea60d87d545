// SPDX-License-Identifier: Apache-2.0
//
// The endpoint grammar of every listener setting (server.*, tlsrpt.socket) and of the CLI's
// --socket: "unix:PATH", "IPv4:port" or "[IPv6]:port", numeric addresses only. One parser for
// the configuration's check, the daemon's bind and the admin client's connect.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "tlspolicy/util/result.hpp"

namespace tlspolicy::util {

struct Endpoint {
  enum class Kind { Unix, Ipv4, Ipv6 };
  Kind kind = Kind::Unix;
  std::string path;     ///< Unix: the socket path as written
  std::string address;  ///< Ipv4 / Ipv6: the numeric address, without brackets
  std::uint16_t port = 0;
};

/// Whether a Unix socket path must be absolute (listeners) or may be relative (a client's
/// "unix:./x.sock").
enum class UnixPath { Absolute, AnyPath };

/// Longest Unix socket path (sockaddr_un's sun_path less its terminating NUL).
inline constexpr std::size_t k_max_unix_path = 107;

/// Parses `text`. A Unix path is non-empty, has no NUL byte and is at most k_max_unix_path
/// bytes; a port is 0 to 65535 (0: any free port, for a listener). Errors are
/// Errc::InvalidArgument, Retry::Permanent, with a detail that quotes `text` (util::quoted).
[[nodiscard]] Result<Endpoint> parse_endpoint(std::string_view text,
                                              UnixPath unix_path = UnixPath::Absolute);

}  // namespace tlspolicy::util
