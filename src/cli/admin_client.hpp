// SPDX-License-Identifier: Apache-2.0
//
// NAME
//   admin_client - one request line to a running daemon, one response line back
// PROTOCOL
//   The JSON lines protocol (docs/protocols/json.md): connect, write the
//   request and "\n", shut down writing, read up to the first "\n" (or EOF).
//   Used by `tlspolicy cache …` and `stats` (admin socket) and by
//   `lookup --socket` (JSON socket).
// LIMITS
//   A response line is at most k_max_response_bytes; the whole exchange is
//   bounded by the timeout given.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>

#include "tlspolicy/util/result.hpp"

namespace tlspolicy::cli {

inline constexpr std::size_t k_max_response_bytes = std::size_t{16} * 1024 * 1024;

/// Sends `request` (one JSON object, no newline) to `endpoint` and returns the
/// response line without its newline. `endpoint`: "unix:/path" or a bare path
/// ("/…", "./…") for a Unix socket, "IP:port" or "[IPv6]:port" for TCP. Errors: Errc::Internal,
/// Transient, with a detail that names the endpoint ("cannot connect to unix:/run/…: No such file
/// or directory", "timeout", "connection closed without an answer"); InvalidArgument for an
/// endpoint that cannot be parsed.
[[nodiscard]] Result<std::string> exchange_line(std::string_view endpoint, std::string_view request,
                                                std::chrono::milliseconds timeout);

}  // namespace tlspolicy::cli
