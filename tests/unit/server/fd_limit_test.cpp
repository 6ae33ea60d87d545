// SPDX-License-Identifier: Apache-2.0
//
// plan_fd_limit(): the soft RLIMIT_NOFILE the daemon runs with, and the connections that fit.
#include "tlspolicy/server/fd_limit.hpp"

#include <cstdint>
#include <limits>

#include <gtest/gtest.h>

#include <sys/resource.h>

namespace tlspolicy::server {
namespace {

constexpr std::uint64_t k_unlimited = std::numeric_limits<std::uint64_t>::max();

TEST(FdLimit, SystemdDefaultIsRaisedForTheConnectionLimit) {
  // LimitNOFILE=1024:524288: 1024 connections + the reserve need more than 1024.
  const auto plan = plan_fd_limit(1024, 524288, 1024);
  EXPECT_EQ(plan.soft, 1024u + k_fd_reserve);
  EXPECT_EQ(plan.max_connections, 1024u);
}

TEST(FdLimit, EnoughAlreadyIsLeftAlone) {
  const auto plan = plan_fd_limit(20000, 20000, 1024);
  EXPECT_EQ(plan.soft, 20000u);
  EXPECT_EQ(plan.max_connections, 1024u);
  EXPECT_EQ(plan_fd_limit(65536, k_unlimited, 1024).soft, 65536u);
}

TEST(FdLimit, UnlimitedHardLimitAllowsWhatIsNeeded) {
  const auto plan = plan_fd_limit(1024, k_unlimited, 1024);
  EXPECT_EQ(plan.soft, 1024u + k_fd_reserve);
  EXPECT_EQ(plan.max_connections, 1024u);
}

TEST(FdLimit, LowHardLimitServesFewerConnections) {
  // Hard 1024 (a container): connections are closed at the daemon's own limit, below EMFILE.
  const auto plan = plan_fd_limit(1024, 1024, 1024);
  EXPECT_EQ(plan.soft, 1024u);
  EXPECT_EQ(plan.max_connections, 1024u - k_fd_reserve);
  const auto tiny = plan_fd_limit(100, 100, 1024);
  EXPECT_EQ(tiny.soft, 100u);
  EXPECT_EQ(tiny.max_connections, 50u);
  EXPECT_EQ(plan_fd_limit(1, 1, 1024).max_connections, 1u);
}

TEST(FdLimit, RaisesOnlyAsFarAsTheHardLimit) {
  const auto plan = plan_fd_limit(1024, 1100, 1024);
  EXPECT_EQ(plan.soft, 1100u);
  EXPECT_EQ(plan.max_connections, 1100u - k_fd_reserve);
}

TEST(FdLimit, EnsureSetsThisProcessLimit) {
  rlimit before{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &before), 0);
  const auto plan = ensure_fd_limit(64);
  rlimit after{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &after), 0);
  EXPECT_GE(after.rlim_cur, before.rlim_cur);
  EXPECT_EQ(static_cast<std::uint64_t>(after.rlim_cur), plan.soft);
  EXPECT_EQ(after.rlim_max, before.rlim_max);
  EXPECT_LE(plan.max_connections, 64u);
}

}  // namespace
}  // namespace tlspolicy::server
