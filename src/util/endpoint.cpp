// SPDX-License-Identifier: Apache-2.0
//
// parse_endpoint(): "unix:PATH", "IPv4:port", "[IPv6]:port" (endpoint.hpp).
#include "tlspolicy/util/endpoint.hpp"

#include <array>
#include <charconv>

#include "tlspolicy/util/quote.hpp"

#include <arpa/inet.h>

namespace tlspolicy::util {
namespace {

Unexpected<Error> bad(std::string detail) {
  return fail(Errc::InvalidArgument, Retry::Permanent, std::move(detail));
}

bool numeric_address(const std::string& text, bool v6) {
  std::array<unsigned char, 16> buf{};
  return ::inet_pton(v6 ? AF_INET6 : AF_INET, text.c_str(), buf.data()) == 1;
}

}  // namespace

Result<Endpoint> parse_endpoint(std::string_view text, UnixPath unix_path) {
  const std::string expected =
      "expected \"unix:/absolute/path\", \"IPv4:port\" or \"[IPv6]:port\", got " + quoted(text);
  Endpoint out;
  if (text.starts_with("unix:")) {
    const std::string_view path = text.substr(5);
    if (path.empty() || path.find('\0') != std::string_view::npos ||
        (unix_path == UnixPath::Absolute && path.front() != '/')) {
      return bad(expected);
    }
    if (path.size() > k_max_unix_path) {
      return bad("unix socket path longer than " + std::to_string(k_max_unix_path) +
                 " bytes: " + quoted(path));
    }
    out.path = std::string{path};
    return out;
  }
  std::string_view port_text;
  if (text.starts_with('[')) {
    const auto close = text.find("]:");
    if (close == std::string_view::npos) return bad(expected);
    out.kind = Endpoint::Kind::Ipv6;
    out.address = std::string{text.substr(1, close - 1)};
    port_text = text.substr(close + 2);
  } else {
    const auto colon = text.find(':');
    if (colon == std::string_view::npos || text.find(':', colon + 1) != std::string_view::npos) {
      return bad(expected);
    }
    out.kind = Endpoint::Kind::Ipv4;
    out.address = std::string{text.substr(0, colon)};
    port_text = text.substr(colon + 1);
  }
  if (!numeric_address(out.address, out.kind == Endpoint::Kind::Ipv6)) return bad(expected);
  const auto [end, ec] =
      std::from_chars(port_text.data(), port_text.data() + port_text.size(), out.port);
  if (port_text.empty() || ec != std::errc{} || end != port_text.data() + port_text.size()) {
    return bad(expected);
  }
  return out;
}

}  // namespace tlspolicy::util
