// SPDX-License-Identifier: Apache-2.0
//
// Private to src/daemon: the framings of the daemon's listeners.
//   socketmap: Postfix dict_sockmap netstrings, "NAME key" → "OK …", "NOTFOUND ", "TEMP …",
//   "PERM …" (docs/protocols/socketmap.md); a request is at most 10000 bytes (SPEC §4).
//   http: the metrics listener's HTTP/1.x requests (proto/metrics.hpp).
//   json: one JSON object per line each way; a last request without newline at EOF is
//   answered (Exim ${readsocket}) (docs/protocols/json.md); a line is at most 64 KiB.
#pragma once

#include <cstddef>
#include <optional>
#include <string>

#include "tlspolicy/server/server.hpp"

namespace tlspolicy::daemon {

inline constexpr std::size_t k_max_json_line = std::size_t{64} * 1024;

class SocketmapProtocol final : public server::Protocol {
 public:
  server::Frame decode(std::string& in, bool eof, std::size_t max_request_bytes) override;
  void encode(std::string_view reply, std::string& out) override;
  std::string failure_reply(server::Failure why) override;
};

/// The metrics listener: one HTTP/1.x request head per connection (proto::http_head_length,
/// at most proto::k_max_http_head bytes); a body is ignored. The reply is a complete HTTP
/// response (proto::metrics_reply) and closes the connection; so do the failure replies.
class HttpProtocol final : public server::Protocol {
 public:
  server::Frame decode(std::string& in, bool eof, std::size_t max_request_bytes) override;
  void encode(std::string_view reply, std::string& out) override;
  std::string failure_reply(server::Failure why) override;
};

class JsonLinesProtocol final : public server::Protocol {
 public:
  server::Frame decode(std::string& in, bool eof, std::size_t max_request_bytes) override;
  void encode(std::string_view reply, std::string& out) override;
  std::string failure_reply(server::Failure why) override;
};

}  // namespace tlspolicy::daemon
