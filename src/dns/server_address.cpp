// SPDX-License-Identifier: Apache-2.0
//
// parse_server_address(): the "IP" / "IP@port" syntax of resolver.servers
// (the '@' separator is Unbound's forward-addr syntax, so IPv6 literals need
// no brackets). Addresses are checked with inet_pton; host names are refused,
// since resolving the resolver's own address would need a resolver.
#include <array>
#include <string>
#include <string_view>

#include "tlspolicy/dns/resolver.hpp"

#include <arpa/inet.h>

namespace tlspolicy::dns {

namespace {

constexpr std::size_t k_max_port_digits = 5;

Unexpected<Error> address_error(std::string detail) {
  return fail(Errc::InvalidArgument, Retry::Permanent, std::move(detail));
}

bool is_ip_literal(const std::string& ip) {
  std::array<unsigned char, sizeof(struct in6_addr)> buf{};
  return inet_pton(AF_INET, ip.c_str(), buf.data()) == 1 ||
         inet_pton(AF_INET6, ip.c_str(), buf.data()) == 1;
}

}  // namespace

Result<ServerAddress> parse_server_address(std::string_view text) {
  if (text.empty()) return address_error("the DNS server address is empty");
  ServerAddress out;
  std::string_view ip = text;
  const std::size_t at = text.rfind('@');
  if (at != std::string_view::npos) {
    ip = text.substr(0, at);
    const std::string_view port = text.substr(at + 1);
    if (port.empty() || port.size() > k_max_port_digits ||
        port.find_first_not_of("0123456789") != std::string_view::npos) {
      return address_error("DNS server \"" + std::string{text} + "\" has port \"" +
                           std::string{port} + "\", which is not a number from 1 to 65535");
    }
    unsigned long value = 0;
    for (const char c : port) value = value * 10 + static_cast<unsigned long>(c - '0');
    if (value < 1 || value > 65535) {
      return address_error("DNS server \"" + std::string{text} + "\" has port " +
                           std::string{port} + ", which is not from 1 to 65535");
    }
    out.port = static_cast<std::uint16_t>(value);
  }
  out.ip = std::string{ip};
  if (out.ip.find('\0') != std::string::npos || !is_ip_literal(out.ip)) {
    return address_error("DNS server \"" + std::string{ip} +
                         "\" is not an IPv4 or IPv6 address (write \"IP\" or \"IP@port\")");
  }
  return out;
}

}  // namespace tlspolicy::dns
