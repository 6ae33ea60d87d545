// SPDX-License-Identifier: Apache-2.0
//
// The decorators that count for /metrics: each delegates, and counts what the call came to.
#include "instruments.hpp"

#include <memory>
#include <string>

#include <gtest/gtest.h>

#include "support/fakes.hpp"

namespace tlspolicy::daemon {
namespace {

using namespace std::chrono_literals;

std::uint64_t get(const std::atomic<std::uint64_t>& a) { return a.load(); }

TEST(Instruments, ResolverCountsEachResultClass) {
  Instruments m;
  auto fake = std::make_unique<testing::FakeResolver>();
  fake->set_default(dns::RrType::Mx,
                    testing::mx_answer({{10, "mx.a.test"}}, dns::Security::Secure, 60));
  fake->set_default(dns::RrType::Txt, fail(Errc::DnsTimeout, Retry::Transient, "timeout"));
  fake->set_default(dns::RrType::Tlsa, testing::nxdomain(dns::Security::Insecure));
  auto resolver = counting_resolver(std::move(fake), m);
  const auto name = *dns::DomainName::parse("a.test");
  int answered = 0;
  for (const auto type : {dns::RrType::Mx, dns::RrType::Mx, dns::RrType::Txt, dns::RrType::Tlsa}) {
    resolver->lookup(name, type, [&](Result<dns::DnsAnswer>) { ++answered; });
  }
  EXPECT_EQ(answered, 4);
  EXPECT_EQ(get(m.dns[static_cast<std::size_t>(proto::DnsResult::Secure)]), 2u);
  EXPECT_EQ(get(m.dns[static_cast<std::size_t>(proto::DnsResult::Timeout)]), 1u);
  EXPECT_EQ(get(m.dns[static_cast<std::size_t>(proto::DnsResult::Insecure)]), 1u);
  EXPECT_EQ(get(m.dns[static_cast<std::size_t>(proto::DnsResult::Bogus)]), 0u);
}

TEST(Instruments, FetcherCountsResultAndDuration) {
  Instruments m;
  auto fake = std::make_unique<testing::FakeFetcher>();
  fake->set("https://ok.test/", fetch::HttpsResponse{200, "text/plain", "x"});
  fake->set("https://gone.test/", fetch::HttpsResponse{404, "text/html", ""});
  fake->set("https://tls.test/", fail(Errc::FetchTls, Retry::Permanent, "bad certificate"));
  auto fetcher = counting_fetcher(std::move(fake), m);
  for (const char* url : {"https://ok.test/", "https://gone.test/", "https://tls.test/"}) {
    fetcher->get(url, [](Result<fetch::HttpsResponse>) {});
  }
  EXPECT_EQ(get(m.fetches[static_cast<std::size_t>(proto::FetchResult::Ok)]), 1u);
  EXPECT_EQ(get(m.fetches[static_cast<std::size_t>(proto::FetchResult::HttpStatus)]), 1u);
  EXPECT_EQ(get(m.fetches[static_cast<std::size_t>(proto::FetchResult::Tls)]), 1u);
  std::uint64_t observed = 0;
  for (const auto& b : m.fetch_buckets) observed += get(b);
  EXPECT_EQ(observed, 3u);
  EXPECT_EQ(get(m.fetch_buckets[0]), 3u);  // answered at once: the first bucket
}

cache::CachedPolicy policy(const std::string& id, sts::StsMode mode, util::TimePoint expires) {
  cache::CachedPolicy p;
  p.domain = "a.test";
  p.id = id;
  p.policy.mode = mode;
  p.policy.max_age = 86400s;
  p.expires_at = expires;
  return p;
}

std::uint64_t stored(const Instruments& m, proto::PolicyChange c, sts::StsMode mode) {
  return get(m.policies_stored[static_cast<std::size_t>(c) * proto::k_policy_modes +
                               static_cast<std::size_t>(mode)]);
}

TEST(Instruments, CacheCountsChangesExpiryAndErrors) {
  Instruments m;
  auto fake = std::make_unique<testing::MemoryPolicyCache>();
  auto* raw = fake.get();
  auto store = counting_cache(std::move(fake), m);
  const util::TimePoint later = util::TimePoint{} + 1000s;
  ASSERT_TRUE(store->put(policy("one", sts::StsMode::Enforce, later)));
  ASSERT_TRUE(store->put(policy("one", sts::StsMode::Enforce, later)));
  ASSERT_TRUE(store->put(policy("two", sts::StsMode::None, later)));
  EXPECT_EQ(stored(m, proto::PolicyChange::New, sts::StsMode::Enforce), 1u);
  EXPECT_EQ(stored(m, proto::PolicyChange::SameId, sts::StsMode::Enforce), 1u);
  EXPECT_EQ(stored(m, proto::PolicyChange::IdChanged, sts::StsMode::None), 1u);
  auto purged = store->purge_expired(later + 1s);
  ASSERT_TRUE(purged);
  EXPECT_EQ(*purged, 1u);
  EXPECT_EQ(get(m.policies_expired), 1u);
  raw->fail_writes = true;
  EXPECT_FALSE(store->put(policy("three", sts::StsMode::Testing, later)));
  EXPECT_EQ(get(m.store_errors[static_cast<std::size_t>(proto::StoreOp::Put)]), 1u);
  EXPECT_EQ(stored(m, proto::PolicyChange::New, sts::StsMode::Testing), 0u);
  raw->fail_reads = true;
  EXPECT_FALSE(store->get(*dns::DomainName::parse("a.test")));
  EXPECT_EQ(get(m.store_errors[static_cast<std::size_t>(proto::StoreOp::Get)]), 1u);
}

}  // namespace
}  // namespace tlspolicy::daemon
