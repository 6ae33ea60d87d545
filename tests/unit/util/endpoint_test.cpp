// SPDX-License-Identifier: Apache-2.0
//
// util::parse_endpoint: the one grammar of listeners and --socket.
#include "tlspolicy/util/endpoint.hpp"

#include <string>
#include <string_view>

#include <gtest/gtest.h>

namespace tlspolicy::util {
namespace {

TEST(Endpoint, TheThreeForms) {
  auto u = parse_endpoint("unix:/run/tlspolicy/socketmap.sock");
  ASSERT_TRUE(u) << u.error().detail;
  EXPECT_EQ(u->kind, Endpoint::Kind::Unix);
  EXPECT_EQ(u->path, "/run/tlspolicy/socketmap.sock");
  auto v4 = parse_endpoint("127.0.0.1:9466");
  ASSERT_TRUE(v4);
  EXPECT_EQ(v4->kind, Endpoint::Kind::Ipv4);
  EXPECT_EQ(v4->address, "127.0.0.1");
  EXPECT_EQ(v4->port, 9466);
  auto v6 = parse_endpoint("[2001:db8::1]:0");
  ASSERT_TRUE(v6);
  EXPECT_EQ(v6->kind, Endpoint::Kind::Ipv6);
  EXPECT_EQ(v6->address, "2001:db8::1");
  EXPECT_EQ(v6->port, 0);
}

TEST(Endpoint, RelativeUnixPathsOnlyWhenAsked) {
  EXPECT_FALSE(parse_endpoint("unix:relative.sock"));
  auto rel = parse_endpoint("unix:./x.sock", UnixPath::AnyPath);
  ASSERT_TRUE(rel);
  EXPECT_EQ(rel->path, "./x.sock");
}

TEST(Endpoint, Rejected) {
  const std::string longest(k_max_unix_path - 1, 'a');
  EXPECT_TRUE(parse_endpoint("unix:/" + longest));
  EXPECT_FALSE(parse_endpoint("unix:/" + longest + "a"));
  for (const std::string_view bad :
       {"", "unix:", "localhost:25", "127.0.0.1", "127.0.0.1:", "127.0.0.1:65536", "[::1]25",
        "::1:25", "1.2.3.4:x", "[127.0.0.1]:25", "1.2.3.4:25 ", "tcp:1.2.3.4:25"}) {
    const auto got = parse_endpoint(bad);
    ASSERT_FALSE(got) << bad;
    EXPECT_EQ(got.error().code, Errc::InvalidArgument) << bad;
  }
}

}  // namespace
}  // namespace tlspolicy::util
