// SPDX-License-Identifier: Apache-2.0
//
// is_private_address(): the "not a public unicast address" test behind
// FetcherOptions::allow_private_addresses. A policy host (mta-sts.<domain>) is named by a remote
// domain's DNS, so without this check anyone could make the daemon issue HTTPS requests to
// loopback, the LAN, link-local metadata services (169.254.169.254) and so on (server-side
// request forgery). The fetcher applies it to the socket address actually being connected
// (CURLOPT_OPENSOCKETFUNCTION), which also covers CONNECT_TO targets and DNS rebinding.
// KNOWN LIMITS
//   Special-purpose blocks not listed below (documentation prefixes, 6to4 2002::/16, Teredo)
//   count as public: they are not reachable local services.
#include <array>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "tlspolicy/fetch/https_fetcher.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

namespace tlspolicy::fetch {
namespace {

struct V4Block {
  std::uint32_t network;
  int prefix;
};

constexpr std::uint32_t v4(std::uint32_t a, std::uint32_t b, std::uint32_t c, std::uint32_t d) {
  return (a << 24U) | (b << 16U) | (c << 8U) | d;
}

// Not public unicast (IANA IPv4 Special-Purpose Address Registry, RFC 6890).
constexpr std::array<V4Block, 11> k_v4_not_public{{
    {v4(0, 0, 0, 0), 8},       // "this network" (RFC 791); 0.0.0.0 reaches the local host
    {v4(10, 0, 0, 0), 8},      // private (RFC 1918)
    {v4(100, 64, 0, 0), 10},   // shared address space / CGNAT (RFC 6598)
    {v4(127, 0, 0, 0), 8},     // loopback (RFC 1122)
    {v4(169, 254, 0, 0), 16},  // link-local (RFC 3927), cloud metadata services
    {v4(172, 16, 0, 0), 12},   // private (RFC 1918)
    {v4(192, 0, 0, 0), 24},    // IETF protocol assignments (RFC 6890)
    {v4(192, 168, 0, 0), 16},  // private (RFC 1918)
    {v4(198, 18, 0, 0), 15},   // benchmarking (RFC 2544)
    {v4(224, 0, 0, 0), 4},     // multicast (RFC 5771)
    {v4(240, 0, 0, 0), 4},     // reserved (RFC 1112), includes 255.255.255.255 broadcast
}};

bool v4_is_private(std::uint32_t addr) {  // addr in host byte order
  for (const auto& block : k_v4_not_public) {
    const std::uint32_t mask = ~std::uint32_t{0} << static_cast<unsigned>(32 - block.prefix);
    if ((addr & mask) == block.network) return true;
  }
  return false;
}

std::uint32_t v4_from_bytes(const unsigned char* p) {
  return (std::uint32_t{p[0]} << 24U) | (std::uint32_t{p[1]} << 16U) | (std::uint32_t{p[2]} << 8U) |
         std::uint32_t{p[3]};
}

bool v6_is_private(const std::array<unsigned char, 16>& a) {
  const auto all_zero = [&a](std::size_t from, std::size_t to) {
    for (std::size_t i = from; i < to; ++i) {
      if (a[i] != 0) return false;
    }
    return true;
  };
  if (all_zero(0, 10)) {
    // ::ffff:a.b.c.d, IPv4-mapped (RFC 4291 §2.5.5.2): the kernel connects to the IPv4 address.
    if (a[10] == 0xff && a[11] == 0xff) return v4_is_private(v4_from_bytes(&a[12]));
    // :: (unspecified) and ::1 (loopback), RFC 4291 §2.5.2/§2.5.3; the rest of ::/96 is the
    // deprecated IPv4-compatible form (RFC 4291 §2.5.5.1): judge the embedded IPv4 address.
    if (a[10] == 0 && a[11] == 0) {
      if (all_zero(12, 15) && (a[15] == 0 || a[15] == 1)) return true;
      return v4_is_private(v4_from_bytes(&a[12]));
    }
  }
  // 64:ff9b::/96, the NAT64 well-known prefix (RFC 6052 §2.1): judge the embedded IPv4 address.
  if (a[0] == 0x00 && a[1] == 0x64 && a[2] == 0xff && a[3] == 0x9b && all_zero(4, 12)) {
    return v4_is_private(v4_from_bytes(&a[12]));
  }
  if ((a[0] & 0xfeU) == 0xfcU) return true;                  // fc00::/7 unique local (RFC 4193)
  if (a[0] == 0xfe && (a[1] & 0xc0U) == 0x80U) return true;  // fe80::/10 link-local
  if (a[0] == 0xfe && (a[1] & 0xc0U) == 0xc0U) return true;  // fec0::/10 site-local (RFC 3879)
  if (a[0] == 0xff) return true;                             // ff00::/8 multicast
  return false;
}

}  // namespace

bool is_private_address(std::string_view ip) {
  // Longest textual IPv6 address (INET6_ADDRSTRLEN includes the NUL); anything longer, or with
  // an embedded NUL, is not an address.
  if (ip.empty() || ip.size() >= INET6_ADDRSTRLEN || ip.find('\0') != std::string_view::npos) {
    return true;
  }
  const std::string text(ip);  // inet_pton needs a NUL-terminated string
  in_addr a4{};
  if (inet_pton(AF_INET, text.c_str(), &a4) == 1) return v4_is_private(ntohl(a4.s_addr));
  in6_addr a6{};
  if (inet_pton(AF_INET6, text.c_str(), &a6) == 1) {
    std::array<unsigned char, 16> bytes{};
    std::memcpy(bytes.data(), &a6, bytes.size());
    return v6_is_private(bytes);
  }
  return true;  // unparsable: refuse
}

}  // namespace tlspolicy::fetch
