// SPDX-License-Identifier: Apache-2.0
//
// StsDiscovery with fake resolver, fetcher, clock and store: the caching and
// fall-back rules of RFC 8461 §3 and §5.1 (RFC-CHECKLIST IDs in test names).
#include "tlspolicy/sts/discovery.hpp"

#include <ostream>

#include <gtest/gtest.h>

#include "support/fake_clock.hpp"
#include "support/fakes.hpp"
#include "support/testing.hpp"

namespace tlspolicy::sts {
namespace {

using namespace std::chrono_literals;
using testing::FakeClock;
using testing::FakeFetcher;
using testing::FakeResolver;
using testing::http;
using testing::MemoryPolicyCache;
using testing::txt_answer;

constexpr const char* k_txt = "_mta-sts.example.test";
constexpr const char* k_url = "https://mta-sts.example.test/.well-known/mta-sts.txt";
constexpr const char* k_enforce =
    "version: STSv1\r\nmode: enforce\r\nmx: mx1.example.test\r\nmx: *.mx.example.test\r\n"
    "max_age: 86400\r\n";
constexpr const char* k_testing =
    "version: STSv1\nmode: testing\nmx: mx1.example.test\nmax_age: 600\n";
constexpr const char* k_none = "version: STSv1\nmode: none\nmax_age: 600\n";

class Discovery : public ::testing::Test {
 protected:
  dns::DomainName domain = *dns::DomainName::parse("example.test");
  FakeResolver dns;
  FakeFetcher https;
  MemoryPolicyCache store;
  FakeClock clock;
  event::InlineOffload offload;
  StsDiscovery sts{dns, https, store, offload, clock, util::null_logger(), StsOptions{300s}};

  StsOutcome discover(const dns::DomainName& d) { return event::sync_wait(sts.discover(d)); }
  Result<cache::CachedPolicy> refresh(const dns::DomainName& d,
                                      const std::optional<cache::CachedPolicy>& stored) {
    return event::sync_wait(sts.refresh(d, stored));
  }

  void publish(const std::string& id) {
    dns.set(k_txt, dns::RrType::Txt, txt_answer({{"v=STSv1; id=" + id + ";"}}));
  }
};

TEST_F(Discovery, Sts1FetchesAndStoresPolicy) {
  publish("one");
  https.set(k_url, http(200, k_enforce));
  const auto got = discover(domain);
  ASSERT_TRUE(got.policy);
  EXPECT_FALSE(got.from_cache);
  EXPECT_TRUE(got.failures.empty());
  EXPECT_EQ(got.policy->id, "one");
  EXPECT_EQ(got.policy->policy.mode, StsMode::Enforce);
  EXPECT_EQ(got.policy->expires_at, clock.now() + 86400s);
  EXPECT_EQ(got.txt_ttl, 300s);
  const auto stored = store.get(domain);
  ASSERT_TRUE(stored && *stored);
  EXPECT_EQ((*stored)->policy_text, k_enforce);
}

TEST_F(Discovery, Sts6SameIdUsesCacheWithoutFetching) {
  publish("one");
  https.set(k_url, http(200, k_enforce));
  ASSERT_TRUE(discover(domain).policy);
  clock.advance(3600s);
  const auto got = discover(domain);
  ASSERT_TRUE(got.policy);
  EXPECT_TRUE(got.from_cache);
  EXPECT_EQ(https.calls(k_url), 1);
}

TEST_F(Discovery, NewIdTriggersRefetch) {
  publish("one");
  https.set(k_url, http(200, k_testing));
  ASSERT_TRUE(discover(domain).policy);
  publish("two");
  https.set(k_url, http(200, k_enforce));
  const auto got = discover(domain);
  ASSERT_TRUE(got.policy);
  EXPECT_FALSE(got.from_cache);
  EXPECT_EQ(got.policy->id, "two");
  EXPECT_EQ(got.policy->policy.mode, StsMode::Enforce);
  EXPECT_EQ(https.calls(k_url), 2);
}

TEST_F(Discovery, ExpiredPolicyIsRefetchedEvenWithSameId) {
  publish("one");
  https.set(k_url, http(200, k_testing));  // max_age 600
  ASSERT_TRUE(discover(domain).policy);
  clock.advance(601s);
  const auto got = discover(domain);
  ASSERT_TRUE(got.policy);
  EXPECT_FALSE(got.from_cache);
  EXPECT_EQ(https.calls(k_url), 2);
}

TEST_F(Discovery, Sts18FetchFailureKeepsUnexpiredCachedPolicy) {
  publish("one");
  https.set(k_url, http(200, k_enforce));
  ASSERT_TRUE(discover(domain).policy);
  publish("two");
  https.set(k_url, fail(Errc::FetchTimeout, Retry::Transient, "timed out"));
  const auto got = discover(domain);
  ASSERT_TRUE(got.policy);
  EXPECT_TRUE(got.from_cache);
  EXPECT_EQ(got.policy->id, "one");
  ASSERT_EQ(got.failures.size(), 1u);
  EXPECT_EQ(got.failures[0].code, Errc::FetchTimeout);
  // Not evicted (STS-7).
  const auto stored = store.get(domain);
  ASSERT_TRUE(stored && *stored);
  EXPECT_EQ((*stored)->id, "one");
}

TEST_F(Discovery, Sts17FetchFailureWithoutCacheMeansNoPolicy) {
  publish("one");
  https.set(k_url, http(404, "not here", "text/html"));
  const auto got = discover(domain);
  EXPECT_FALSE(got.policy);
  ASSERT_EQ(got.failures.size(), 1u);
  EXPECT_EQ(got.failures[0].code, Errc::FetchStatus);
}

TEST_F(Discovery, Sts18ExpiredCacheIsNotApplied) {
  publish("one");
  https.set(k_url, http(200, k_testing));
  ASSERT_TRUE(discover(domain).policy);
  clock.advance(700s);
  https.set(k_url, fail(Errc::FetchConnect, Retry::Transient, "refused"));
  EXPECT_FALSE(discover(domain).policy);
}

TEST_F(Discovery, Sts7MissingTxtKeepsCachedPolicy) {
  publish("one");
  https.set(k_url, http(200, k_enforce));
  ASSERT_TRUE(discover(domain).policy);
  dns.set(k_txt, dns::RrType::Txt, testing::nxdomain());
  const auto got = discover(domain);
  ASSERT_TRUE(got.policy);
  EXPECT_TRUE(got.from_cache);
  EXPECT_TRUE(got.failures.empty());
}

TEST_F(Discovery, NoTxtNoCacheMeansNoPolicyAndNoFailure) {
  dns.set(k_txt, dns::RrType::Txt, testing::nodata());
  const auto got = discover(domain);
  EXPECT_FALSE(got.policy);
  EXPECT_TRUE(got.failures.empty());
  EXPECT_EQ(https.calls(k_url), 0);
}

TEST_F(Discovery, TxtServfailWithoutCacheProceedsWithoutPolicyAndRecordsFailure) {
  dns.set(k_txt, dns::RrType::Txt, testing::dns_error(Errc::DnsServfail));
  const auto got = discover(domain);
  EXPECT_FALSE(got.policy);
  ASSERT_EQ(got.failures.size(), 1u);
  EXPECT_EQ(got.failures[0].code, Errc::DnsServfail);
}

TEST_F(Discovery, TxtServfailWithCacheUsesCache) {
  publish("one");
  https.set(k_url, http(200, k_enforce));
  ASSERT_TRUE(discover(domain).policy);
  dns.set(k_txt, dns::RrType::Txt, testing::dns_error(Errc::DnsTimeout));
  const auto got = discover(domain);
  ASSERT_TRUE(got.policy);
  EXPECT_TRUE(got.from_cache);
}

TEST_F(Discovery, BogusTxtIsAFailureNotAPolicy) {
  dns.set(k_txt, dns::RrType::Txt, txt_answer({{"v=STSv1; id=one;"}}, dns::Security::Bogus));
  const auto got = discover(domain);
  EXPECT_FALSE(got.policy);
  EXPECT_TRUE(got.txt_bogus);
  EXPECT_EQ(got.failures.size(), 1u);
  EXPECT_EQ(https.calls(k_url), 0);
}

TEST_F(Discovery, Sts3TwoStsRecordsMeanNoPolicy) {
  dns.set(k_txt, dns::RrType::Txt, txt_answer({{"v=STSv1; id=one;"}, {"v=STSv1; id=two;"}}));
  const auto got = discover(domain);
  EXPECT_FALSE(got.policy);
  EXPECT_EQ(https.calls(k_url), 0);
}

TEST_F(Discovery, Sts4SplitTxtIsConcatenated) {
  dns.set(k_txt, dns::RrType::Txt, txt_answer({{"v=STSv1; id=sp", "lit;"}}));
  https.set(k_url, http(200, k_enforce));
  const auto got = discover(domain);
  ASSERT_TRUE(got.policy);
  EXPECT_EQ(got.policy->id, "split");
}

TEST_F(Discovery, Sts16FailedFetchIsNotRetriedForFiveMinutes) {
  publish("one");
  https.set(k_url, fail(Errc::FetchConnect, Retry::Transient, "refused"));
  EXPECT_FALSE(discover(domain).policy);
  https.set(k_url, http(200, k_enforce));
  clock.advance(299s);
  const auto skipped = discover(domain);
  EXPECT_FALSE(skipped.policy);
  EXPECT_EQ(https.calls(k_url), 1);
  ASSERT_EQ(skipped.failures.size(), 1u);
  clock.advance(1s);
  EXPECT_TRUE(discover(domain).policy);
  EXPECT_EQ(https.calls(k_url), 2);
}

TEST_F(Discovery, Sts16BackoffIsPerId) {
  publish("one");
  https.set(k_url, fail(Errc::FetchConnect, Retry::Transient, "refused"));
  EXPECT_FALSE(discover(domain).policy);
  publish("two");
  https.set(k_url, http(200, k_enforce));
  EXPECT_TRUE(discover(domain).policy);
  EXPECT_EQ(https.calls(k_url), 2);
}

TEST_F(Discovery, FetchedModeNoneReplacesCachedPolicy) {
  publish("one");
  https.set(k_url, http(200, k_enforce));
  ASSERT_TRUE(discover(domain).policy);
  publish("two");
  https.set(k_url, http(200, k_none));
  const auto got = discover(domain);
  ASSERT_TRUE(got.policy);
  EXPECT_EQ(got.policy->policy.mode, StsMode::None);
  const auto stored = store.get(domain);
  ASSERT_TRUE(stored && *stored);
  EXPECT_EQ((*stored)->policy.mode, StsMode::None);
}

TEST_F(Discovery, InvalidPolicyBodyMeansNoPolicy) {
  publish("one");
  https.set(k_url, http(200, "version: STSv1\nmode: enforce\nmx: a.example\n"));  // no max_age
  const auto got = discover(domain);
  EXPECT_FALSE(got.policy);
  ASSERT_EQ(got.failures.size(), 1u);
  EXPECT_EQ(got.failures[0].code, Errc::StsPolicySyntax);
}

TEST_F(Discovery, StoreWriteFailureStillAppliesFetchedPolicy) {
  publish("one");
  https.set(k_url, http(200, k_enforce));
  store.fail_writes = true;
  const auto got = discover(domain);
  ASSERT_TRUE(got.policy);
  EXPECT_EQ(got.failures.size(), 1u);
}

// SPEC §3, §5 (STS-7, STS-18): a store that cannot be read is never taken for
// "nothing cached". Without a fetched policy, discovery cannot tell whether a
// cached policy applies: indeterminate (the engine defers).
TEST_F(Discovery, Sts18UnreadableStoreWithoutAFetchIsIndeterminate) {
  publish("one");
  https.set(k_url, http(200, k_enforce));
  ASSERT_TRUE(discover(domain).policy);  // cached now
  store.fail_reads = true;
  dns.set(k_txt, dns::RrType::Txt, testing::nxdomain());  // STS-7: no TXT keeps a cached policy
  auto got = discover(domain);
  EXPECT_FALSE(got.policy);
  EXPECT_TRUE(got.indeterminate);
  EXPECT_NE(got.indeterminate_reason.find("store"), std::string::npos) << got.indeterminate_reason;
  dns.set(k_txt, dns::RrType::Txt, testing::dns_error(Errc::DnsServfail));
  EXPECT_TRUE(discover(domain).indeterminate);
  publish("two");
  https.set(k_url, testing::dns_error(Errc::FetchConnect));
  EXPECT_TRUE(discover(domain).indeterminate);
}

TEST_F(Discovery, Sts18UnreadableStoreStillAppliesAFetchedPolicy) {
  store.fail_reads = true;
  publish("one");
  https.set(k_url, http(200, k_enforce));
  const auto got = discover(domain);
  ASSERT_TRUE(got.policy);
  EXPECT_FALSE(got.indeterminate);
  EXPECT_EQ(got.policy->policy.mode, StsMode::Enforce);
}

TEST_F(Discovery, BogusTxtWithoutCacheIsIndeterminateWithCacheIsNot) {
  dns.set(k_txt, dns::RrType::Txt, txt_answer({{"v=STSv1; id=one;"}}, dns::Security::Bogus));
  EXPECT_TRUE(discover(domain).indeterminate);
  publish("one");
  https.set(k_url, http(200, k_enforce));
  ASSERT_TRUE(discover(domain).policy);
  dns.set(k_txt, dns::RrType::Txt, txt_answer({{"v=STSv1; id=one;"}}, dns::Security::Bogus));
  const auto got = discover(domain);
  EXPECT_FALSE(got.indeterminate);
  EXPECT_TRUE(got.from_cache);
}

TEST_F(Discovery, TxtTtlZeroIsKeptAsZero) {
  dns.set(k_txt, dns::RrType::Txt, txt_answer({{"v=STSv1; id=one;"}}, dns::Security::Secure, 0));
  https.set(k_url, http(200, k_enforce));
  const auto got = discover(domain);
  ASSERT_TRUE(got.txt_ttl);
  EXPECT_EQ(*got.txt_ttl, 0s);
}

// STS-34 (RFC 8461 §10.2): a refresh fetches whatever the TXT record says.
TEST_F(Discovery, Sts34RefreshFetchesEvenWhenTheTxtLookupFails) {
  publish("one");
  https.set(k_url, http(200, k_enforce));
  const auto first = discover(domain);
  ASSERT_TRUE(first.policy);
  clock.advance(std::chrono::hours(30));
  dns.set(k_txt, dns::RrType::Txt, testing::dns_error(Errc::DnsServfail));
  https.set(k_url,
            http(200, "version: STSv1\nmode: testing\nmx: mx.example.test\nmax_age: 86400\n"));
  const auto refreshed = refresh(domain, first.policy);
  ASSERT_TRUE(refreshed) << refreshed.error().detail;
  EXPECT_EQ(refreshed->id, "one");  // the stored id labels it
  EXPECT_EQ(refreshed->policy.mode, StsMode::Testing);
  EXPECT_EQ(refreshed->fetched_at, clock.now());
  const auto stored = store.get(domain);
  ASSERT_TRUE(stored && *stored);
  EXPECT_EQ((*stored)->policy.mode, StsMode::Testing);
}

TEST_F(Discovery, Sts34RefreshTakesTheTxtIdWhenThereIsOne) {
  publish("two");
  https.set(k_url, http(200, k_enforce));
  const auto refreshed = refresh(domain, std::nullopt);
  ASSERT_TRUE(refreshed);
  EXPECT_EQ(refreshed->id, "two");
}

TEST_F(Discovery, Sts18RefreshThatFailsKeepsTheStoredPolicy) {
  publish("one");
  https.set(k_url, http(200, k_enforce));
  const auto first = discover(domain);
  ASSERT_TRUE(first.policy);
  https.set(k_url, testing::dns_error(Errc::FetchTimeout));
  EXPECT_FALSE(refresh(domain, first.policy));
  const auto stored = store.get(domain);
  ASSERT_TRUE(stored && *stored);
  EXPECT_EQ(**stored, *first.policy);
  dns.set(k_txt, dns::RrType::Txt, testing::nxdomain());
  const auto none = refresh(domain, std::nullopt);  // no id anywhere
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().code, Errc::StsNoRecord);
}

// ---- a fleet: one node fetches a new id, the others wait for its policy (issue 13) ----

/// Discovery with a real loop to wait on, the claim held by "node-b" for `lease`.
class FleetDiscovery : public Discovery {
 protected:
  event::Loop loop;
  StsDiscovery fleet_sts{dns, https, store, offload, clock, util::null_logger(), [this] {
                           StsOptions o{300s};
                           o.loop = &loop;
                           return o;
                         }()};

  void held_by_b(std::chrono::milliseconds lease) {
    store.claim = cache::FetchClaim{false, "node-b", lease};
  }
  StsOutcome discover_on_loop() {
    std::optional<StsOutcome> out;
    loop.post([&] { event::spawn(fleet_sts.discover(domain), [&](StsOutcome o) { out = o; }); });
    loop.run_until([&] { return out.has_value(); });
    return std::move(*out);
  }
  cache::CachedPolicy fetched_by_b(const std::string& id) {
    sts::StsPolicy p;
    p.mode = StsMode::Enforce;
    p.mx = {"mx1.example.test"};
    p.max_age = 86400s;
    return cache::CachedPolicy{"example.test",          id,      k_enforce, p, clock.now(),
                               clock.now() + p.max_age, "node-b"};
  }
};

TEST_F(FleetDiscovery, ANewIdFetchedByAnotherNodeIsNotFetchedAgain) {
  publish("two");
  https.set(k_url, http(200, k_testing));  // would be a different policy: must not be fetched
  held_by_b(5000ms);
  // node-b stores its policy 300 ms into the wait.
  loop.post([&] { loop.after(300ms, [&] { ASSERT_TRUE(store.put(fetched_by_b("two"))); }); });
  const auto got = discover_on_loop();
  ASSERT_TRUE(got.policy);
  EXPECT_EQ(got.policy->fetched_by, "node-b");
  EXPECT_EQ(got.policy->policy.mode, StsMode::Enforce);
  EXPECT_EQ(https.calls(k_url), 0);
  EXPECT_TRUE(got.failures.empty());
}

TEST_F(FleetDiscovery, AStalePolicyOfTheHolderIsNotTakenForTheNewId) {
  publish("two");
  https.set(k_url, http(200, k_testing));
  ASSERT_TRUE(store.put(fetched_by_b("one")));  // the old id only
  held_by_b(400ms);
  const auto got = discover_on_loop();  // the lease runs out: fetched here after all
  ASSERT_TRUE(got.policy);
  EXPECT_EQ(got.policy->id, "two");
  EXPECT_EQ(got.policy->policy.mode, StsMode::Testing);
  EXPECT_EQ(https.calls(k_url), 1);
}

TEST_F(FleetDiscovery, TheHoldersFailureEndsTheWaitWithoutAFetch) {
  publish("two");
  https.set(k_url, http(200, k_enforce));
  held_by_b(5000ms);
  loop.post([&] {
    loop.after(300ms, [&] {
      ASSERT_TRUE(store.record_fetch_failure(
          cache::FetchFailure{"example.test", "two", clock.now(), "fetch-timeout: slow"}));
    });
  });
  const auto got = discover_on_loop();
  EXPECT_FALSE(got.policy);  // STS-17: nothing cached, the fetch failed: no policy
  ASSERT_EQ(got.failures.size(), 1U);
  EXPECT_NE(got.failures[0].detail.find("node-b"), std::string::npos);
  EXPECT_EQ(https.calls(k_url), 0);
}

TEST_F(FleetDiscovery, AFailedTxtLookupIsTriedOnceMoreBeforeItMeansNoPolicy) {
  // The fixture's loop makes the retry possible; the resolver fails, then answers.
  dns.set(k_txt, dns::RrType::Txt, testing::dns_error(Errc::DnsServfail));
  https.set(k_url, http(200, k_enforce));
  loop.post([&] { loop.after(100ms, [&] { publish("one"); }); });
  const auto got = discover_on_loop();
  ASSERT_TRUE(got.policy);
  EXPECT_EQ(got.policy->id, "one");
  EXPECT_EQ(dns.calls(k_txt, dns::RrType::Txt), 2);
}

TEST_F(FleetDiscovery, ATxtLookupFailingTwiceMeansNoPolicy) {
  dns.set(k_txt, dns::RrType::Txt, testing::dns_error(Errc::DnsServfail));
  const auto got = discover_on_loop();
  EXPECT_FALSE(got.policy);  // SPEC §3: nothing cached, the TXT lookup failed
  EXPECT_EQ(dns.calls(k_txt, dns::RrType::Txt), 2);
  EXPECT_EQ(got.failures.size(), 1U);
}

TEST_F(FleetDiscovery, RefreshLeavesAClaimedPolicyToItsHolder) {
  publish("one");
  held_by_b(5000ms);
  https.set(k_url, http(200, k_enforce));
  const auto r = event::sync_wait(fleet_sts.refresh(domain, std::nullopt));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::Claimed);
  EXPECT_EQ(https.calls(k_url), 0);
}

TEST_F(Discovery, ASingleNodeStoreAlwaysGrantsTheClaim) {
  publish("one");
  https.set(k_url, http(200, k_enforce));
  ASSERT_TRUE(discover(domain).policy);
  EXPECT_EQ(https.calls(k_url), 1);
  EXPECT_EQ(store.claims_asked, 1);
}

struct ResponseCase {
  const char* name;
  long status;
  const char* content_type;
  bool ok;
  Errc code;
};

// Row names, not raw bytes, in gtest and ctest test names.
void PrintTo(const ResponseCase& row, std::ostream* os) { *os << row.name; }

class PolicyResponse : public ::testing::TestWithParam<ResponseCase> {};

TEST_P(PolicyResponse, Sts13Sts14StatusAndMediaType) {
  const auto& c = GetParam();
  const auto r = check_policy_response(c.status, c.content_type);
  EXPECT_EQ(r.has_value(), c.ok) << c.name;
  if (!c.ok && !r) {
    EXPECT_EQ(r.error().code, c.code) << c.name;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Rfc8461, PolicyResponse,
    ::testing::Values(
        ResponseCase{"plain", 200, "text/plain", true, Errc::Internal},
        ResponseCase{"charset", 200, "text/plain; charset=utf-8", true, Errc::Internal},
        ResponseCase{"case", 200, "Text/Plain;charset=US-ASCII", true, Errc::Internal},
        ResponseCase{"other param", 200, "text/plain; format=flowed", true, Errc::Internal},
        ResponseCase{"html", 200, "text/html", false, Errc::FetchContentType},
        ResponseCase{"missing", 200, "", false, Errc::FetchContentType},
        ResponseCase{"301", 301, "text/plain", false, Errc::FetchRedirect},
        ResponseCase{"302", 302, "text/plain", false, Errc::FetchRedirect},
        ResponseCase{"404", 404, "text/plain", false, Errc::FetchStatus},
        ResponseCase{"204", 204, "text/plain", false, Errc::FetchStatus}),
    testing::RowName{});

TEST(RefreshDue, Sts34RefreshAboutDailyAndBeforeExpiry) {
  using namespace std::chrono;
  cache::CachedPolicy p;
  p.fetched_at = util::TimePoint{seconds{1'000'000}};
  p.policy.max_age = days{7};
  p.expires_at = p.fetched_at + p.policy.max_age;
  EXPECT_FALSE(refresh_due(p, p.fetched_at + hours{23}));
  EXPECT_TRUE(refresh_due(p, p.fetched_at + hours{24}));  // about daily
  p.policy.max_age = hours{4};
  p.expires_at = p.fetched_at + p.policy.max_age;
  EXPECT_FALSE(refresh_due(p, p.fetched_at + hours{1}));
  EXPECT_TRUE(refresh_due(p, p.fetched_at + hours{2}));  // half of a short max_age
  EXPECT_FALSE(refresh_due(p, p.expires_at));            // expired: not refreshed
}

TEST(PolicyUrl, Sts10WellKnownUrl) {
  EXPECT_EQ(policy_url(*dns::DomainName::parse("Example.TEST.")),
            "https://mta-sts.example.test/.well-known/mta-sts.txt");
}

}  // namespace
}  // namespace tlspolicy::sts
