// SPDX-License-Identifier: Apache-2.0
//
// Fuzz target for the metrics listener's HTTP request head (untrusted bytes from the
// network, server.metrics). Invariants: http_head_length() never exceeds the input and a
// head it finds ends with LF LF or LF CR LF; parse_http_request() never throws and either
// fails with 400/505 or gives a token method and a path starting with "/" inside the input;
// metrics_reply() always gives a complete response that closes the connection.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "tlspolicy/proto/metrics.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace tlspolicy::proto;
  const std::string_view input{reinterpret_cast<const char*>(data), size};
  const std::size_t n = http_head_length(input);
  if (n > input.size()) std::abort();
  if (n != 0 && !(input.substr(0, n).ends_with("\n\n") || input.substr(0, n).ends_with("\n\r\n"))) {
    std::abort();
  }
  const std::string_view head = n != 0 ? input.substr(0, n) : input;
  const HttpRequest r = parse_http_request(head);
  if (r.status != 0 && r.status != 400 && r.status != 505) std::abort();
  if (r.status == 0) {
    if (r.method.empty() || r.path.empty() || r.path.front() != '/') std::abort();
    const auto inside = [&](std::string_view v) {
      return v.data() >= head.data() && v.data() + v.size() <= head.data() + head.size();
    };
    if (!inside(r.method) || !inside(r.path)) std::abort();
  }
  const std::string reply = metrics_reply(r, [] { return std::string{"x 1\n"}; });
  if (!reply.starts_with("HTTP/1.1 ") ||
      reply.find("\r\nConnection: close\r\n\r\n") == std::string::npos) {
    std::abort();
  }
  return 0;
}
