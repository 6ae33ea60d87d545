// SPDX-License-Identifier: Apache-2.0
//
// The framings of the daemon's listeners (protocols.hpp).
#include "protocols.hpp"

#include <array>
#include <charconv>

#include "tlspolicy/proto/json_protocol.hpp"
#include "tlspolicy/proto/metrics.hpp"
#include "tlspolicy/proto/netstring.hpp"
#include "tlspolicy/proto/socketmap.hpp"

namespace tlspolicy::daemon {
namespace {

/// A netstring: its payload and the bytes it takes, framing included.
struct Netstring {
  std::string_view payload;
  std::size_t size = 0;
};

/// The complete netstring at the front of `in`, when it is well formed (length digits without
/// a leading zero, within `max`, then ':' payload ','); nullopt for anything else (incomplete,
/// malformed, too long), which NetstringDecoder then decides and explains. The payload is a
/// view into `in`: the ordinary request is neither copied nor allocated.
std::optional<Netstring> plain_netstring(std::string_view in, std::size_t max) {
  std::size_t length = 0;
  std::size_t i = 0;
  for (; i < in.size() && i < 6 && in[i] >= '0' && in[i] <= '9'; ++i) {
    length = length * 10 + static_cast<std::size_t>(in[i] - '0');
  }
  if (i == 0 || i == in.size() || in[i] != ':' || (in[0] == '0' && i > 1) || length > max) {
    return std::nullopt;
  }
  const std::size_t comma = i + 1 + length;
  if (comma >= in.size() || in[comma] != ',') return std::nullopt;
  return Netstring{in.substr(i + 1, length), comma + 1};
}

}  // namespace

server::Frame SocketmapProtocol::decode(std::string& in, bool /*eof*/,
                                        std::size_t /*max_request_bytes*/) {
  if (in.empty()) return server::Frame::need_more();  // after every request read whole
  // SPEC §4: socketmap requests are at most 10000 bytes, whatever the
  // server's (JSON-sized) limit.
  if (const auto request = plain_netstring(in, proto::k_max_socketmap_request_bytes)) {
    return server::Frame::of(request->payload, request->size);
  }
  proto::NetstringDecoder decoder{proto::k_max_socketmap_request_bytes};
  decoder.feed(in);
  auto next = decoder.next();
  if (!next) {
    return server::Frame::bad(next.error().code == Errc::RequestTooLarge
                                  ? server::Failure::TooLarge
                                  : server::Failure::Malformed);
  }
  if (!*next) return server::Frame::need_more();
  // "<len>:<payload>," with no leading zeros: the header is the length's digits.
  const std::size_t consumed = std::to_string((*next)->size()).size() + (*next)->size() + 2;
  return server::Frame::of_owned(std::move(**next), consumed);
}
void SocketmapProtocol::encode(std::string_view reply, std::string& out) {
  // proto::encode_netstring(), appended in place: no temporary per reply.
  std::array<char, 20> digits{};
  const auto end = std::to_chars(digits.data(), digits.data() + digits.size(), reply.size()).ptr;
  out.append(digits.data(), end);
  out += ':';
  out += reply;
  out += ',';
}
std::string SocketmapProtocol::failure_reply(server::Failure why) {
  switch (why) {
    case server::Failure::TooLarge:
      return proto::perm_reply("request too large");
    case server::Failure::Malformed:
      return proto::perm_reply("malformed netstring");
    case server::Failure::Timeout:
      return proto::temp_reply("timeout deciding the policy");
    case server::Failure::Internal:
      return proto::temp_reply("internal error");
  }
  return proto::temp_reply("internal error");
}

server::Frame HttpProtocol::decode(std::string& in, bool eof, std::size_t /*max_request_bytes*/) {
  const std::size_t head = proto::http_head_length(in);
  if (head > proto::k_max_http_head || (head == 0 && in.size() > proto::k_max_http_head)) {
    return server::Frame::bad(server::Failure::TooLarge);
  }
  if (head == 0) {
    if (eof && !in.empty()) return server::Frame::bad(server::Failure::Malformed);
    return server::Frame::need_more();
  }
  // The whole input goes: a body (or anything sent after the head) is not read, and the
  // connection closes after the reply.
  return server::Frame::of(std::string_view{in}.substr(0, head), in.size());
}
void HttpProtocol::encode(std::string_view reply, std::string& out) { out += reply; }
std::string HttpProtocol::failure_reply(server::Failure why) {
  switch (why) {
    case server::Failure::TooLarge:
      return proto::http_response(431, "text/plain", "request header too large\n");
    case server::Failure::Malformed:
      return proto::http_response(400, "text/plain", "bad request\n");
    case server::Failure::Timeout:
      return proto::http_response(408, "text/plain", "request timeout\n");
    case server::Failure::Internal:
      return proto::http_response(500, "text/plain", "internal error\n");
  }
  return proto::http_response(500, "text/plain", "internal error\n");
}

server::Frame JsonLinesProtocol::decode(std::string& in, bool eof, std::size_t /*server_limit*/) {
  const std::size_t max_request_bytes = k_max_json_line;
  const auto nl = in.find('\n');
  if (nl == std::string::npos) {
    if (in.size() > max_request_bytes) return server::Frame::bad(server::Failure::TooLarge);
    // Exim's ${readsocket} writes the request, shuts down writing and
    // reads to EOF: the last request may have no newline.
    if (eof && !in.empty()) return server::Frame::of(in, in.size());
    return server::Frame::need_more();
  }
  if (nl > max_request_bytes) return server::Frame::bad(server::Failure::TooLarge);
  return server::Frame::of(std::string_view{in}.substr(0, nl), nl + 1);
}
void JsonLinesProtocol::encode(std::string_view reply, std::string& out) {
  out += reply;
  out += '\n';
}
std::string JsonLinesProtocol::failure_reply(server::Failure why) {
  switch (why) {
    case server::Failure::TooLarge:
      return proto::render_error(proto::k_code_bad_json, "request line too long", nullptr);
    case server::Failure::Malformed:
      return proto::render_error(proto::k_code_bad_json, "malformed request", nullptr);
    case server::Failure::Timeout:
      return proto::render_error("timeout", "no decision within the request time limit", nullptr);
    case server::Failure::Internal:
      return proto::render_error(proto::k_code_internal, "internal error", nullptr);
  }
  return proto::render_error(proto::k_code_internal, "internal error", nullptr);
}

}  // namespace tlspolicy::daemon
