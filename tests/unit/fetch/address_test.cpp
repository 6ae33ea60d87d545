// SPDX-License-Identifier: Apache-2.0
//
// Table-driven tests of fetch::is_private_address(), the rule behind
// mta_sts.allow_private_addresses = false: loopback, RFC 1918, CGNAT, link-local, unspecified,
// multicast/reserved and the IPv6 equivalents (with IPv4-mapped and NAT64 forms judged by the
// embedded IPv4 address) are refused; public unicast is allowed; unparsable text is refused.
#include <ostream>
#include <string_view>

#include <gtest/gtest.h>

#include "tlspolicy/fetch/https_fetcher.hpp"

namespace tlspolicy::fetch {
namespace {

struct AddressCase {
  std::string_view text;
  bool is_private;
};

std::ostream& operator<<(std::ostream& os, const AddressCase& c) {
  return os << "'" << c.text << "' -> " << (c.is_private ? "private" : "public");
}

class IsPrivateAddress : public ::testing::TestWithParam<AddressCase> {};

TEST_P(IsPrivateAddress, Classifies) {
  EXPECT_EQ(is_private_address(GetParam().text), GetParam().is_private);
}

INSTANTIATE_TEST_SUITE_P(
    Ipv4, IsPrivateAddress,
    ::testing::Values(
        // public unicast
        AddressCase{"8.8.8.8", false}, AddressCase{"1.1.1.1", false},
        AddressCase{"93.184.216.34", false}, AddressCase{"223.255.255.255", false},
        // 0/8 "this network"
        AddressCase{"0.0.0.0", true}, AddressCase{"0.1.2.3", true},
        // 10/8
        AddressCase{"10.0.0.1", true}, AddressCase{"10.255.255.255", true},
        AddressCase{"11.0.0.0", false}, AddressCase{"9.255.255.255", false},
        // 100.64/10 CGNAT (edges)
        AddressCase{"100.63.255.255", false}, AddressCase{"100.64.0.0", true},
        AddressCase{"100.127.255.255", true}, AddressCase{"100.128.0.0", false},
        // 127/8 loopback
        AddressCase{"127.0.0.1", true}, AddressCase{"127.255.0.9", true},
        // 169.254/16 link-local (cloud metadata)
        AddressCase{"169.254.169.254", true}, AddressCase{"169.253.255.255", false},
        AddressCase{"169.255.0.0", false},
        // 172.16/12 (edges)
        AddressCase{"172.15.255.255", false}, AddressCase{"172.16.0.0", true},
        AddressCase{"172.31.255.255", true}, AddressCase{"172.32.0.0", false},
        // 192.168/16, 192.0.0/24
        AddressCase{"192.168.1.1", true}, AddressCase{"192.169.0.0", false},
        AddressCase{"192.0.0.8", true}, AddressCase{"192.0.1.0", false},
        // 198.18/15 benchmarking
        AddressCase{"198.17.255.255", false}, AddressCase{"198.18.0.1", true},
        AddressCase{"198.19.255.255", true}, AddressCase{"198.20.0.0", false},
        // 224/4 multicast, 240/4 reserved, broadcast
        AddressCase{"224.0.0.1", true}, AddressCase{"239.255.255.255", true},
        AddressCase{"240.0.0.1", true}, AddressCase{"255.255.255.255", true}));

INSTANTIATE_TEST_SUITE_P(
    Ipv6, IsPrivateAddress,
    ::testing::Values(
        // public unicast
        AddressCase{"2001:4860:4860::8888", false}, AddressCase{"2a00:1450:4001:82b::200e", false},
        AddressCase{"2606:4700::1111", false},
        // unspecified and loopback
        AddressCase{"::", true}, AddressCase{"::1", true}, AddressCase{"0:0:0:0:0:0:0:1", true},
        // fc00::/7 unique local
        AddressCase{"fc00::1", true}, AddressCase{"fd12:3456:789a::1", true},
        AddressCase{"fbff:ffff::1", false},
        // fe80::/10 link-local, fec0::/10 deprecated site-local
        AddressCase{"fe80::1", true}, AddressCase{"febf:ffff::1", true},
        AddressCase{"fec0::1", true},
        // ff00::/8 multicast
        AddressCase{"ff02::1", true}, AddressCase{"ff0e::101", true},
        // IPv4-mapped: judged by the IPv4 address
        AddressCase{"::ffff:127.0.0.1", true}, AddressCase{"::ffff:10.1.2.3", true},
        AddressCase{"::ffff:169.254.169.254", true}, AddressCase{"::ffff:7f00:1", true},
        AddressCase{"::ffff:8.8.8.8", false}, AddressCase{"::FFFF:8.8.4.4", false},
        // deprecated IPv4-compatible ::a.b.c.d
        AddressCase{"::127.0.0.1", true}, AddressCase{"::8.8.8.8", false},
        // 64:ff9b::/96 NAT64: judged by the embedded IPv4 address
        AddressCase{"64:ff9b::127.0.0.1", true}, AddressCase{"64:ff9b::a00:1", true},
        AddressCase{"64:ff9b::8.8.8.8", false}, AddressCase{"64:ff9b:0:1::8.8.8.8", false}));

INSTANTIATE_TEST_SUITE_P(
    Unparsable, IsPrivateAddress,
    ::testing::Values(AddressCase{"", true}, AddressCase{"localhost", true},
                      AddressCase{"mta-sts.example.com", true}, AddressCase{"1.2.3", true},
                      AddressCase{"256.1.1.1", true}, AddressCase{"8.8.8.8 ", true},
                      AddressCase{" 8.8.8.8", true}, AddressCase{"[::1]", true},
                      AddressCase{"[2001:4860:4860::8888]", true},
                      AddressCase{"fe80::1%eth0", true}, AddressCase{"2001:db8::1::2", true},
                      AddressCase{std::string_view("8.8.8.8\0", 8), true},
                      AddressCase{"1111:2222:3333:4444:5555:6666:7777:8888:9999", true},
                      AddressCase{"0x7f.0.0.1", true}, AddressCase{"017.0.0.1", true}));

}  // namespace
}  // namespace tlspolicy::fetch
