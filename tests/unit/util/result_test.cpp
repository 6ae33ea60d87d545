// SPDX-License-Identifier: Apache-2.0
#include "tlspolicy/util/result.hpp"

#include <string>

#include <gtest/gtest.h>

#include "tlspolicy/util/clock.hpp"
#include "tlspolicy/util/log.hpp"

namespace tlspolicy {
namespace {

Result<int> half(int x) {
  if (x % 2 != 0) return fail(Errc::InvalidArgument, Retry::Permanent, "odd");
  return x / 2;
}

TEST(Result, CarriesValueOrError) {
  const auto ok = half(4);
  ASSERT_TRUE(ok);
  EXPECT_EQ(*ok, 2);
  const auto bad = half(3);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, Errc::InvalidArgument);
  EXPECT_EQ(bad.error().retry, Retry::Permanent);
  EXPECT_EQ(bad.error().detail, "odd");
}

TEST(Result, VoidResult) {
  Result<void> ok;
  EXPECT_TRUE(ok);
  Result<void> bad = fail(Errc::CacheIo, Retry::Transient, "disk");
  ASSERT_FALSE(bad);
  EXPECT_EQ(to_string(bad.error().code), "cache-io");
}

TEST(Clock, FormatsRfc3339) {
  using namespace std::chrono;
  const util::TimePoint t = sys_days{year{2026} / 11 / 24} + hours{7} + minutes{5} + seconds{9};
  EXPECT_EQ(util::format_rfc3339(t), "2026-11-24T07:05:09Z");
}

TEST(Log, EscapesUntrustedValues) {
  EXPECT_EQ(util::format_fields({{"domain", "a.example"}}), "domain=a.example");
  EXPECT_EQ(util::format_fields({{"v", "x y\n\"z\""}}), R"(v="x y\x0a\"z\"")");
  EXPECT_EQ(util::format_fields({{"v", ""}}), R"(v="")");
}

TEST(Log, NamesAndLevels) {
  std::string seen;
  util::Logger root{[&](util::Level, std::string_view name, std::string_view msg,
                        const std::vector<util::Field>& f) {
                      seen =
                          std::string(name) + ":" + std::string(msg) + ":" + util::format_fields(f);
                    },
                    util::Level::Info};
  root.with_name("sts").debug("hidden");
  EXPECT_EQ(seen, "");
  root.with_name("sts").with_name("fetch").info("fetched", {{"id", "1"}});
  EXPECT_EQ(seen, "sts.fetch:fetched:id=1");
}

TEST(Log, RateLimiterBurstWindowAndSuppressedCount) {
  util::RateLimiter limiter{2, std::chrono::seconds{60}};
  const auto t0 = std::chrono::steady_clock::time_point{};
  std::size_t dropped = 0;
  EXPECT_TRUE(limiter.allow("k", t0, dropped));
  EXPECT_TRUE(limiter.allow("k", t0 + std::chrono::seconds{1}, dropped));
  EXPECT_FALSE(limiter.allow("k", t0 + std::chrono::seconds{2}, dropped));
  EXPECT_FALSE(limiter.allow("k", t0 + std::chrono::seconds{3}, dropped));
  EXPECT_TRUE(limiter.allow("other", t0 + std::chrono::seconds{3}, dropped));  // per key
  EXPECT_TRUE(limiter.allow("k", t0 + std::chrono::seconds{61}, dropped));
  EXPECT_EQ(dropped, 2u);  // the first event of the new window reports the drops
}

TEST(Log, WarningsAreRateLimitedDebugIsNot) {
  int seen = 0;
  util::Logger log{[&](util::Level, std::string_view, std::string_view,
                       const std::vector<util::Field>&) { ++seen; },
                   util::Level::Debug};
  for (int i = 0; i < 50; ++i) log.warn("same warning");
  EXPECT_EQ(seen, 10);
  for (int i = 0; i < 50; ++i) log.debug("chatty");
  EXPECT_EQ(seen, 60);
}

}  // namespace
}  // namespace tlspolicy
