// SPDX-License-Identifier: Apache-2.0
//
// The cached path allocates nothing (issue "An engine for the real internet", SPEC §5): a
// decision in memory is found by a canonical name given as a view, and its socketmap reply is
// a view into the decision. Allocations are counted with support/count_allocations.hpp. The
// key comes unparsed from the client: only the exact canonical text may hit.
#include <string_view>

#include <gtest/gtest.h>

#include "tlspolicy/dns/name.hpp"
#include "tlspolicy/event/offload.hpp"
#include "tlspolicy/proto/socketmap.hpp"
#include "tlspolicy/service/decision_service.hpp"

#include "support/count_allocations.hpp"
#include "support/fake_clock.hpp"
#include "support/fakes.hpp"

namespace tlspolicy::service {
namespace {

using namespace std::chrono_literals;

class CachedPath : public ::testing::Test {
 protected:
  event::Loop loop;
  testing::FakeResolver dns;
  testing::FakeFetcher https;
  testing::MemoryPolicyCache store;
  testing::FakeClock clock;
  event::InlineOffload offload;
  sts::StsDiscovery sts{
      dns, https, store, offload, clock, util::null_logger(), sts::StsOptions{300s}};
  dane::DaneLookup dane{dns, util::null_logger()};
  policy::PolicyEngine engine{dns, dane, sts, clock, util::null_logger(), {}};
  DecisionService service{engine, loop, clock, util::null_logger(), {}};

  CachedPath() {
    dns.set_default(dns::RrType::Mx,
                    testing::mx_answer({{10, "mx.example.test"}}, dns::Security::Insecure, 600));
    dns.set_default(dns::RrType::Txt, testing::nxdomain());
  }

  DecisionPtr decide_once(std::string_view domain) {
    DecisionPtr got;
    service.decide(policy::DecideRequest{*dns::DomainName::parse(domain), false},
                   [&got](DecisionPtr d) { got = std::move(d); });
    loop.run_until([&] { return got != nullptr; });
    return got;
  }
};

TEST_F(CachedPath, AHitByViewIsTheSameDecisionAsByName) {
  const auto first = decide_once("example.test");
  ASSERT_TRUE(first);
  EXPECT_EQ(service.decide_from_memory(std::string_view{"example.test"}), first);
  EXPECT_FALSE(service.decide_from_memory(std::string_view{"other.test"}));
  EXPECT_EQ(service.stats().hits, 1U);  // the miss counts nothing
}

// The key is not parsed before the lookup: a text that is not the canonical name finds
// nothing, even where it names a cached decision (then the daemon parses it and decides).
TEST_F(CachedPath, OnlyTheCanonicalTextHits) {
  ASSERT_TRUE(decide_once("example.test"));
  DecisionPtr requiretls;
  service.decide(policy::DecideRequest{*dns::DomainName::parse("example.test"), true},
                 [&requiretls](DecisionPtr d) { requiretls = std::move(d); });
  loop.run_until([&] { return requiretls != nullptr; });
  ASSERT_TRUE(service.cached(policy::DecideRequest{*dns::DomainName::parse("example.test"), true}));
  for (const std::string_view key :
       {"EXAMPLE.test", "example.test.", "example.test|requiretls", "example.tes", ""}) {
    EXPECT_FALSE(service.decide_from_memory(key)) << key;
  }
  EXPECT_EQ(service.stats().hits, 0U);
  EXPECT_TRUE(service.decide_from_memory(std::string_view{"example.test"}));
}

TEST_F(CachedPath, AllocatesNothing) {
  ASSERT_TRUE(decide_once("example.test"));
  const std::string_view key = "example.test";
  std::size_t replies = 0;
  testing::reset_allocations();
  testing::count_allocations(true);
  {
    for (int i = 0; i < 100; ++i) {
      const auto hit = service.decide_from_memory(key);
      if (!hit) break;
      const auto reply = proto::socketmap_response_view(*hit, proto::MapKind::Plain);
      if (reply && reply->starts_with("NOTFOUND")) ++replies;
    }
  }
  testing::count_allocations(false);
  EXPECT_EQ(testing::allocations(), 0U);
  EXPECT_EQ(replies, 100U);
}

}  // namespace
}  // namespace tlspolicy::service
