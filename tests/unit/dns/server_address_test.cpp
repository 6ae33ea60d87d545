// SPDX-License-Identifier: Apache-2.0
//
// parse_server_address(): the "IP" / "IP@port" syntax of resolver.servers,
// IPv4 and IPv6, default port 53, and the inputs it must refuse.
#include <string>

#include <gtest/gtest.h>

#include "tlspolicy/dns/resolver.hpp"

namespace tlspolicy::dns {
namespace {

TEST(ServerAddress, ParsesIpv4WithDefaultPort) {
  const auto got = parse_server_address("127.0.0.1");
  ASSERT_TRUE(got) << got.error().detail;
  EXPECT_EQ(got->ip, "127.0.0.1");
  EXPECT_EQ(got->port, 53);
}

TEST(ServerAddress, ParsesIpv4WithPort) {
  const auto got = parse_server_address("192.0.2.53@5353");
  ASSERT_TRUE(got) << got.error().detail;
  EXPECT_EQ(got->ip, "192.0.2.53");
  EXPECT_EQ(got->port, 5353);
}

TEST(ServerAddress, ParsesIpv6WithAndWithoutPort) {
  const auto plain = parse_server_address("::1");
  ASSERT_TRUE(plain) << plain.error().detail;
  EXPECT_EQ(plain->ip, "::1");
  EXPECT_EQ(plain->port, 53);
  const auto with_port = parse_server_address("2001:db8::53@65535");
  ASSERT_TRUE(with_port) << with_port.error().detail;
  EXPECT_EQ(with_port->ip, "2001:db8::53");
  EXPECT_EQ(with_port->port, 65535);
}

TEST(ServerAddress, AcceptsPortOne) { EXPECT_EQ(parse_server_address("10.0.0.1@1")->port, 1); }

class ServerAddressInvalid : public ::testing::TestWithParam<std::string> {};

TEST_P(ServerAddressInvalid, IsRejected) {
  const auto got = parse_server_address(GetParam());
  ASSERT_FALSE(got) << "\"" << GetParam() << "\" accepted as " << got->ip << "@" << got->port;
  EXPECT_EQ(got.error().code, Errc::InvalidArgument);
  EXPECT_EQ(got.error().retry, Retry::Permanent);
  EXPECT_FALSE(got.error().detail.empty());
}

INSTANTIATE_TEST_SUITE_P(Table, ServerAddressInvalid,
                         ::testing::Values("", "@53", "127.0.0.1@", "127.0.0.1@0",
                                           "127.0.0.1@65536", "127.0.0.1@99999999", "127.0.0.1@-1",
                                           "127.0.0.1@+53", "127.0.0.1@5 3", "127.0.0.1@53x",
                                           "localhost", "dns.example@53", "256.0.0.1",
                                           "127.0.0.1:53", "[::1]@53", "fe80::1%eth0", " 127.0.0.1",
                                           "127.0.0.1 ", std::string{"127.0.0.1\0", 10}));

}  // namespace
}  // namespace tlspolicy::dns
