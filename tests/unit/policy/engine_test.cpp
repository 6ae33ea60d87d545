// SPDX-License-Identifier: Apache-2.0
//
// PolicyEngine with fakes: the order of evaluation of SPEC §3 and the
// socketmap reply each decision carries (docs/decision-rules.md).
#include "tlspolicy/policy/engine.hpp"

#include <gtest/gtest.h>

#include "support/fake_clock.hpp"
#include "support/fakes.hpp"

namespace tlspolicy::policy {
namespace {

using namespace std::chrono_literals;
using testing::http;
using testing::mx_answer;
using testing::txt_answer;

constexpr const char* k_url = "https://mta-sts.example.test/.well-known/mta-sts.txt";

class Engine : public ::testing::Test {
 protected:
  testing::FakeResolver dns;
  testing::FakeFetcher https;
  testing::MemoryPolicyCache store;
  testing::FakeClock clock;
  event::InlineOffload offload;
  sts::StsDiscovery sts{
      dns, https, store, offload, clock, util::null_logger(), sts::StsOptions{300s}};
  dane::DaneLookup dane{dns, util::null_logger()};
  EngineOptions options;

  Engine() {
    // Unless a test says otherwise, every MX host has secure addresses and a
    // secure denial of TLSA: DANE finds nothing (RFC 7672 §2.2, DANE-5c).
    dns.set_default(dns::RrType::A, testing::address_answer({"192.0.2.1"}, dns::Security::Secure));
    dns.set_default(dns::RrType::Aaaa, testing::nodata());
    dns.set_default(dns::RrType::Tlsa, testing::nodata());
    // Discovery and the TLSRPT lookup go out beside the MX lookup, also when its answer
    // settles the decision: by default they find nothing.
    dns.set_default(dns::RrType::Txt, testing::nxdomain());
  }

  Decision decide(const std::string& domain, bool requiretls = false) {
    PolicyEngine engine{dns, dane, sts, clock, util::null_logger(), options};
    auto d =
        event::sync_wait(engine.decide(DecideRequest{*dns::DomainName::parse(domain), requiretls}));
    EXPECT_EQ(engine.active(), 0u);  // with answers at once, nothing outlives the decision
    return d;
  }
  void sts_policy(const std::string& body, const std::string& id = "id1") {
    dns.set("_mta-sts.example.test", dns::RrType::Txt, txt_answer({{"v=STSv1; id=" + id}}));
    https.set(k_url, http(200, body));
  }
  void no_sts() { dns.set("_mta-sts.example.test", dns::RrType::Txt, testing::nxdomain()); }
};

TEST_F(Engine, Sts27EnforceRequiresPkixAndMarksMxHosts) {
  dns.set("example.test", dns::RrType::Mx,
          mx_answer({{20, "b.mx.example.test"}, {10, "a.mx.example.test"}, {30, "x.other.test"}}));
  sts_policy("version: STSv1\nmode: enforce\nmx: *.mx.example.test\nmax_age: 86400\n");
  const auto d = decide("example.test");
  EXPECT_EQ(d.action, Action::RequireTls);
  EXPECT_EQ(d.verify, Verify::Pkix);
  EXPECT_EQ(d.source, Source::MtaSts);
  ASSERT_EQ(d.mx.size(), 3u);
  EXPECT_EQ(d.mx[0].host, "a.mx.example.test");  // preference order (RFC 5321 §5.1)
  EXPECT_TRUE(d.mx[0].allowed);
  EXPECT_EQ(d.mx[0].verify, Verify::Pkix);
  EXPECT_TRUE(d.mx[1].allowed);
  EXPECT_FALSE(d.mx[2].allowed);
  EXPECT_EQ(d.postfix, "OK secure match=.mx.example.test servername=hostname");
  ASSERT_TRUE(d.mta_sts);
  EXPECT_EQ(d.mta_sts->mode, sts::StsMode::Enforce);
  EXPECT_FALSE(d.mta_sts->from_cache);
  EXPECT_EQ(d.dnssec, dns::Security::Secure);
  EXPECT_EQ(d.ttl, 60s);  // the hosts' AAAA denial (DANE lookup) has the smallest TTL
}

TEST_F(Engine, Sts30EnforceWithNoAllowedMxDefers) {
  dns.set("example.test", dns::RrType::Mx, mx_answer({{10, "mx.elsewhere.test"}}));
  sts_policy("version: STSv1\nmode: enforce\nmx: mx.example.test\nmax_age: 86400\n");
  const auto d = decide("example.test");
  EXPECT_EQ(d.action, Action::Defer);
  EXPECT_TRUE(d.postfix.starts_with("TEMP ")) << d.postfix;
  EXPECT_EQ(d.ttl, 0s);
}

TEST_F(Engine, Sts28TestingIsOpportunistic) {
  dns.set("example.test", dns::RrType::Mx, mx_answer({{10, "mx.example.test"}}));
  sts_policy("version: STSv1\nmode: testing\nmx: mx.example.test\nmax_age: 86400\n");
  const auto d = decide("example.test");
  EXPECT_EQ(d.action, Action::Opportunistic);
  EXPECT_EQ(d.source, Source::MtaSts);
  EXPECT_EQ(d.verify, Verify::None);
  EXPECT_EQ(d.postfix, "NOTFOUND ");
}

TEST_F(Engine, Sts29ModeNoneIsNoPolicy) {
  dns.set("example.test", dns::RrType::Mx, mx_answer({{10, "mx.example.test"}}));
  sts_policy("version: STSv1\nmode: none\nmax_age: 86400\n");
  const auto d = decide("example.test");
  EXPECT_EQ(d.action, Action::Opportunistic);
  EXPECT_EQ(d.source, Source::None);
  ASSERT_TRUE(d.mta_sts);
  EXPECT_EQ(d.mta_sts->mode, sts::StsMode::None);
  EXPECT_EQ(d.postfix, "NOTFOUND ");
}

TEST_F(Engine, NoPolicyIsOpportunistic) {
  dns.set("example.test", dns::RrType::Mx,
          mx_answer({{10, "mx.example.test"}}, dns::Security::Insecure));
  no_sts();
  const auto d = decide("example.test");
  EXPECT_EQ(d.action, Action::Opportunistic);
  EXPECT_EQ(d.source, Source::None);
  EXPECT_FALSE(d.mta_sts);
  EXPECT_EQ(d.dnssec, dns::Security::Insecure);
  EXPECT_EQ(d.postfix, "NOTFOUND ");
  EXPECT_EQ(d.ttl, 3600s);
}

TEST_F(Engine, Dane4MxLookupFailureDefers) {
  dns.set("example.test", dns::RrType::Mx, testing::dns_error(Errc::DnsServfail));
  const auto d = decide("example.test");
  EXPECT_EQ(d.action, Action::Defer);
  EXPECT_EQ(d.postfix.rfind("TEMP ", 0), 0u);
  EXPECT_EQ(d.failures.size(), 1u);
}

TEST_F(Engine, Dane4BogusMxDefersNeverDowngrades) {
  dns.set("example.test", dns::RrType::Mx,
          mx_answer({{10, "mx.example.test"}}, dns::Security::Bogus));
  EXPECT_EQ(decide("example.test").action, Action::Defer);
  dns.set("example.test", dns::RrType::Mx,
          mx_answer({{10, "mx.example.test"}}, dns::Security::Indeterminate));
  EXPECT_EQ(decide("example.test").action, Action::Defer);
}

TEST_F(Engine, Dane20NullMxBounces) {
  dns.set("example.test", dns::RrType::Mx, mx_answer({{0, ""}}));
  const auto d = decide("example.test");
  EXPECT_EQ(d.action, Action::Bounce);
  EXPECT_NE(d.reason.find("5.1.10"), std::string::npos);
  EXPECT_EQ(d.postfix, "NOTFOUND ");
}

TEST_F(Engine, Dane19NxdomainBounces) {
  dns.set("example.test", dns::RrType::Mx, testing::nxdomain());
  EXPECT_EQ(decide("example.test").action, Action::Bounce);
}

TEST_F(Engine, Dane19NoMxUsesImplicitMx) {
  dns.set("example.test", dns::RrType::Mx, testing::nodata());
  sts_policy("version: STSv1\nmode: enforce\nmx: example.test\nmax_age: 86400\n");
  const auto d = decide("example.test");
  ASSERT_EQ(d.mx.size(), 1u);
  EXPECT_EQ(d.mx[0].host, "example.test");
  EXPECT_EQ(d.action, Action::RequireTls);
}

TEST_F(Engine, LocalPolicyWinsAndSkipsLookups) {
  options.local_policies.push_back(
      {"example.test", LocalAction::RequireTls, Verify::Pkix, {"mx.example.test", ".example.net"}});
  const auto d = decide("example.test");
  EXPECT_EQ(d.source, Source::Local);
  EXPECT_EQ(d.action, Action::RequireTls);
  EXPECT_EQ(d.postfix, "OK secure match=mx.example.test:.example.net");
  EXPECT_EQ(dns.calls("example.test", dns::RrType::Mx), 0);
}

TEST_F(Engine, LocalPolicyLevels) {
  options.local_policies.push_back({"dane.test", LocalAction::RequireTls, Verify::Dane, {}});
  options.local_policies.push_back({"encrypt.test", LocalAction::RequireTls, Verify::None, {}});
  options.local_policies.push_back({"may.test", LocalAction::Opportunistic, Verify::None, {}});
  EXPECT_EQ(decide("dane.test").postfix, "OK dane-only");
  EXPECT_EQ(decide("encrypt.test").postfix, "OK encrypt");
  EXPECT_EQ(decide("may.test").postfix, "OK may");
}

TEST_F(Engine, ExcludedDomainSkipsMtaSts) {
  options.sts_exclude.push_back("example.test");
  dns.set("example.test", dns::RrType::Mx, mx_answer({{10, "mx.example.test"}}));
  const auto d = decide("example.test");
  EXPECT_EQ(d.action, Action::Opportunistic);
  EXPECT_FALSE(d.mta_sts);
  EXPECT_EQ(dns.calls("_mta-sts.example.test", dns::RrType::Txt), 0);
}

TEST_F(Engine, Sts18CachedPolicyUsedWhenFetchFails) {
  dns.set("example.test", dns::RrType::Mx, mx_answer({{10, "mx.example.test"}}));
  sts_policy("version: STSv1\nmode: enforce\nmx: mx.example.test\nmax_age: 86400\n", "id1");
  ASSERT_EQ(decide("example.test").action, Action::RequireTls);
  dns.set("_mta-sts.example.test", dns::RrType::Txt, txt_answer({{"v=STSv1; id=id2"}}));
  https.set(k_url, fail(Errc::FetchTls, Retry::Permanent, "certificate has expired"));
  const auto d = decide("example.test");
  EXPECT_EQ(d.action, Action::RequireTls);
  ASSERT_TRUE(d.mta_sts);
  EXPECT_TRUE(d.mta_sts->from_cache);
  EXPECT_EQ(d.failures.size(), 1u);
}

TEST_F(Engine, Sts17FetchFailureWithoutCacheIsOpportunisticAndSaysWhy) {
  dns.set("example.test", dns::RrType::Mx, mx_answer({{10, "mx.example.test"}}));
  dns.set("_mta-sts.example.test", dns::RrType::Txt, txt_answer({{"v=STSv1; id=id1"}}));
  https.set(k_url, fail(Errc::FetchTls, Retry::Permanent, "certificate has expired"));
  const auto d = decide("example.test");
  EXPECT_EQ(d.action, Action::Opportunistic);
  EXPECT_FALSE(d.mta_sts);
  EXPECT_NE(d.reason.find("could not be obtained (fetch-tls)"), std::string::npos) << d.reason;
  EXPECT_EQ(d.postfix, "NOTFOUND ");
}

TEST_F(Engine, Rt3RequireTlsSatisfiedBySecureMx) {
  dns.set("example.test", dns::RrType::Mx, mx_answer({{10, "mx.example.test"}}));
  no_sts();
  const auto d = decide("example.test", true);
  EXPECT_EQ(d.action, Action::RequireTls);
  EXPECT_TRUE(d.requiretls.satisfiable);
  EXPECT_TRUE(d.requiretls.peer_must_advertise);
  EXPECT_EQ(d.verify, Verify::Pkix);
}

TEST_F(Engine, Rt4RequireTlsNotSatisfiableBounces) {
  dns.set("example.test", dns::RrType::Mx,
          mx_answer({{10, "mx.example.test"}}, dns::Security::Insecure));
  sts_policy("version: STSv1\nmode: testing\nmx: mx.example.test\nmax_age: 86400\n");
  const auto d = decide("example.test", true);
  EXPECT_EQ(d.action, Action::Bounce);
  EXPECT_FALSE(d.requiretls.satisfiable);
  EXPECT_NE(d.reason.find("5.7.30"), std::string::npos);
}

// --- DANE (RFC 7672) ---

dns::TlsaRecord usable_311() { return testing::tlsa(3, 1, 1, 32); }

TEST_F(Engine, Dane5aEveryHostAuthenticatedIsDaneOnly) {
  dns.set("example.test", dns::RrType::Mx,
          mx_answer({{10, "mx1.example.test"}, {20, "mx2.example.test"}}));
  dns.set("_25._tcp.mx1.example.test", dns::RrType::Tlsa,
          testing::tlsa_answer({usable_311()}, dns::Security::Secure));
  dns.set("_25._tcp.mx2.example.test", dns::RrType::Tlsa,
          testing::tlsa_answer({testing::tlsa(2, 0, 1, 32)}, dns::Security::Secure));
  no_sts();
  const auto d = decide("example.test");
  EXPECT_EQ(d.action, Action::RequireTls);
  EXPECT_EQ(d.verify, Verify::Dane);
  EXPECT_EQ(d.source, Source::Dane);
  EXPECT_EQ(d.postfix, "OK dane-only");
  ASSERT_EQ(d.mx.size(), 2u);
  EXPECT_EQ(d.mx[0].verify, Verify::Dane);
  EXPECT_EQ(d.mx[0].tlsa.size(), 1u);
  EXPECT_EQ(d.ttl, 60s);  // DANE data (AAAA denial 60 s, TLSA 300 s) bounds the MX TTL
}

TEST_F(Engine, Dane5SomeHostsWithTlsaIsDane) {
  dns.set("example.test", dns::RrType::Mx,
          mx_answer({{10, "mx1.example.test"}, {20, "mx2.example.test"}}));
  dns.set("_25._tcp.mx2.example.test", dns::RrType::Tlsa,
          testing::tlsa_answer({usable_311()}, dns::Security::Secure));
  no_sts();
  const auto d = decide("example.test");
  EXPECT_EQ(d.source, Source::Dane);
  EXPECT_EQ(d.postfix, "OK dane");
  EXPECT_EQ(d.action, Action::Opportunistic);
  EXPECT_EQ(d.mx[0].verify, Verify::None);  // DANE-7: preference order kept
  EXPECT_EQ(d.mx[1].verify, Verify::Dane);
}

TEST_F(Engine, Dane5bAllTlsaUnusableIsMandatoryUnauthenticatedTls) {
  dns.set("example.test", dns::RrType::Mx, mx_answer({{10, "mx1.example.test"}}));
  dns.set("_25._tcp.mx1.example.test", dns::RrType::Tlsa,
          testing::tlsa_answer({testing::tlsa(0, 0, 1, 32), testing::tlsa(3, 1, 1, 20)},
                               dns::Security::Secure));
  no_sts();
  const auto d = decide("example.test");
  EXPECT_EQ(d.source, Source::Dane);
  EXPECT_EQ(d.action, Action::RequireTls);
  EXPECT_EQ(d.verify, Verify::None);
  EXPECT_EQ(d.postfix, "OK dane");
}

TEST_F(Engine, Dane6InsecureMxSkipsDane) {
  dns.set("example.test", dns::RrType::Mx,
          mx_answer({{10, "mx1.example.test"}}, dns::Security::Insecure));
  dns.set("_25._tcp.mx1.example.test", dns::RrType::Tlsa,
          testing::tlsa_answer({usable_311()}, dns::Security::Secure));
  no_sts();
  const auto d = decide("example.test");
  EXPECT_EQ(d.source, Source::None);
  EXPECT_EQ(d.postfix, "NOTFOUND ");
  EXPECT_EQ(dns.calls("_25._tcp.mx1.example.test", dns::RrType::Tlsa), 0);
}

TEST_F(Engine, Dane4FailedTlsaMakesHostUnusableAndAllUnusableDefers) {
  dns.set("example.test", dns::RrType::Mx, mx_answer({{10, "mx1.example.test"}}));
  dns.set("_25._tcp.mx1.example.test", dns::RrType::Tlsa, testing::dns_error(Errc::DnsServfail));
  no_sts();
  const auto d = decide("example.test");
  EXPECT_EQ(d.action, Action::Defer);
  EXPECT_FALSE(d.mx[0].allowed);
  EXPECT_TRUE(d.postfix.starts_with("TEMP "));
}

TEST_F(Engine, Dane4BogusTlsaOnOneHostLeavesTheOthers) {
  dns.set("example.test", dns::RrType::Mx,
          mx_answer({{10, "mx1.example.test"}, {20, "mx2.example.test"}}));
  dns.set("_25._tcp.mx1.example.test", dns::RrType::Tlsa,
          testing::tlsa_answer({usable_311()}, dns::Security::Bogus));
  dns.set("_25._tcp.mx2.example.test", dns::RrType::Tlsa,
          testing::tlsa_answer({usable_311()}, dns::Security::Secure));
  no_sts();
  const auto d = decide("example.test");
  EXPECT_FALSE(d.mx[0].allowed);
  EXPECT_TRUE(d.mx[1].allowed);
  EXPECT_EQ(d.postfix, "OK dane-only");
  EXPECT_FALSE(d.failures.empty());
}

TEST_F(Engine, Sts32DaneWinsOverStsButStsMatchingStillApplies) {
  dns.set("example.test", dns::RrType::Mx,
          mx_answer({{10, "mx1.example.test"}, {20, "mx.other.test"}}));
  dns.set("_25._tcp.mx1.example.test", dns::RrType::Tlsa,
          testing::tlsa_answer({usable_311()}, dns::Security::Secure));
  dns.set("_25._tcp.mx.other.test", dns::RrType::Tlsa,
          testing::tlsa_answer({usable_311()}, dns::Security::Secure));
  sts_policy("version: STSv1\nmode: enforce\nmx: mx1.example.test\nmax_age: 86400\n");
  const auto d = decide("example.test");
  EXPECT_EQ(d.source, Source::Dane);
  EXPECT_EQ(d.postfix, "OK dane-only");
  ASSERT_TRUE(d.mta_sts);
  EXPECT_TRUE(d.mx[0].allowed);
  EXPECT_FALSE(d.mx[1].allowed);
}

// RFC 5321 §5.1: an MX target must be a host name. One that is not can never
// be used: nothing to retry, so the only host being one is a bounce (the
// MTA finds no host either; Postfix is told NOTFOUND and reports it).
TEST_F(Engine, Rfc5321IpLiteralMxIsNeverUsable) {
  dns.set("example.test", dns::RrType::Mx, mx_answer({{10, "192.0.2.7"}}, dns::Security::Insecure));
  no_sts();
  const auto d = decide("example.test");
  EXPECT_EQ(d.action, Action::Bounce);
  EXPECT_EQ(d.postfix, "NOTFOUND ");
  EXPECT_FALSE(d.mx[0].allowed);
}

TEST_F(Engine, BogusStsTxtDefersRatherThanDowngrade) {
  dns.set("example.test", dns::RrType::Mx, mx_answer({{10, "mx1.example.test"}}));
  dns.set("_mta-sts.example.test", dns::RrType::Txt,
          txt_answer({{"v=STSv1; id=x"}}, dns::Security::Bogus));
  EXPECT_EQ(decide("example.test").action, Action::Defer);
}

TEST_F(Engine, Rt3RequireTlsSatisfiedByDane) {
  dns.set("example.test", dns::RrType::Mx,
          mx_answer({{10, "mx1.example.test"}, {20, "mx2.example.test"}}));
  dns.set("_25._tcp.mx2.example.test", dns::RrType::Tlsa,
          testing::tlsa_answer({usable_311()}, dns::Security::Secure));
  no_sts();
  const auto d = decide("example.test", true);
  EXPECT_EQ(d.action, Action::RequireTls);
  EXPECT_EQ(d.source, Source::Dane);
  EXPECT_TRUE(d.requiretls.satisfiable);
  EXPECT_TRUE(d.requiretls.peer_must_advertise);
}

// RT-3, RT-8, SPEC §3 step 5: TLSA records that are all unusable do not
// authenticate, but a DNSSEC-secure MX does: PKIX against the MX host name.
TEST_F(Engine, Rt3AllUnusableTlsaBehindSecureMxSatisfiesRequireTlsByPkix) {
  dns.set("example.test", dns::RrType::Mx, mx_answer({{10, "mx1.example.test"}}));
  dns.set("_25._tcp.mx1.example.test", dns::RrType::Tlsa,
          testing::tlsa_answer({testing::tlsa(1, 1, 1, 32)}, dns::Security::Secure));
  no_sts();
  const auto d = decide("example.test", true);
  EXPECT_EQ(d.action, Action::RequireTls);
  EXPECT_EQ(d.verify, Verify::Pkix);
  EXPECT_TRUE(d.requiretls.satisfiable);
  EXPECT_EQ(d.mx[0].verify, Verify::Pkix);
  EXPECT_EQ(d.postfix, "OK secure match=hostname servername=hostname");
}

// --- "Never downgrade": where DANE, MTA-STS, REQUIRETLS and local policy meet ---

// RFC 8689 §4.2.1, RT-8: a local [[policy]] does not skip REQUIRETLS.
TEST_F(Engine, Rt8LocalOpportunisticPolicyDoesNotSatisfyRequireTls) {
  options.local_policies.push_back({"example.test", LocalAction::Opportunistic, Verify::None, {}});
  dns.set("example.test", dns::RrType::Mx,
          mx_answer({{10, "mx.example.test"}}, dns::Security::Insecure));
  no_sts();
  EXPECT_EQ(decide("example.test").postfix, "OK may");  // alone: no lookup
  EXPECT_EQ(dns.calls("example.test", dns::RrType::Mx), 0);
  const auto d = decide("example.test", true);
  EXPECT_EQ(d.action, Action::Bounce);
  EXPECT_FALSE(d.requiretls.satisfiable);
  EXPECT_EQ(dns.calls("example.test", dns::RrType::Mx), 1);
  options.local_policies.front() = {"example.test", LocalAction::RequireTls, Verify::None, {}};
  EXPECT_EQ(decide("example.test", true).action, Action::Bounce);  // OK encrypt is no auth
}

TEST_F(Engine, Rt8LocalPolicyGivesWayToDaneUnderRequireTls) {
  options.local_policies.push_back({"example.test", LocalAction::RequireTls, Verify::None, {}});
  dns.set("example.test", dns::RrType::Mx, mx_answer({{10, "mx1.example.test"}}));
  dns.set("_25._tcp.mx1.example.test", dns::RrType::Tlsa,
          testing::tlsa_answer({usable_311()}, dns::Security::Secure));
  no_sts();
  const auto d = decide("example.test", true);
  EXPECT_EQ(d.postfix, "OK dane-only");
  EXPECT_TRUE(d.requiretls.satisfiable);
  EXPECT_TRUE(d.requiretls.peer_must_advertise);
}

// DANE-21 (RFC 8461 §2, §5): DANE on one host does not switch off enforce's
// authentication for the host DANE does not authenticate.
TEST_F(Engine, Dane21UsableTlsaOnOneHostKeepsEnforceForTheOther) {
  dns.set("example.test", dns::RrType::Mx,
          mx_answer({{10, "mx1.example.test"}, {20, "mx2.example.test"}}));
  dns.set("_25._tcp.mx1.example.test", dns::RrType::Tlsa,
          testing::tlsa_answer({usable_311()}, dns::Security::Secure));
  sts_policy("version: STSv1\nmode: enforce\nmx: *.example.test\nmax_age: 86400\n");
  const auto d = decide("example.test");
  EXPECT_EQ(d.postfix, "OK dane-only");  // never "OK dane": mx2 could go in plaintext
  EXPECT_EQ(d.action, Action::RequireTls);
  EXPECT_EQ(d.mx[0].verify, Verify::Dane);
  EXPECT_EQ(d.mx[1].verify, Verify::Pkix);
  EXPECT_TRUE(d.mx[1].allowed);
}

TEST_F(Engine, Dane21AllUnusableTlsaUnderEnforceNeedsPkix) {
  dns.set("example.test", dns::RrType::Mx, mx_answer({{10, "mx1.example.test"}}));
  dns.set("_25._tcp.mx1.example.test", dns::RrType::Tlsa,
          testing::tlsa_answer({testing::tlsa(1, 1, 1, 32)}, dns::Security::Secure));
  sts_policy("version: STSv1\nmode: enforce\nmx: *.example.test\nmax_age: 86400\n");
  const auto d = decide("example.test");
  EXPECT_EQ(d.postfix, "OK secure match=.example.test servername=hostname");
  EXPECT_EQ(d.verify, Verify::Pkix);
  EXPECT_EQ(d.source, Source::MtaSts);
}

// RT-3, RT-8: satisfiable only when every host the MTA may use is authenticated.
TEST_F(Engine, Rt8DaneMixedRequireTlsAuthenticatesEveryHost) {
  dns.set("example.test", dns::RrType::Mx,
          mx_answer({{10, "mx1.example.test"}, {20, "mx2.example.test"}}));
  dns.set("_25._tcp.mx1.example.test", dns::RrType::Tlsa,
          testing::tlsa_answer({usable_311()}, dns::Security::Secure));
  no_sts();
  const auto d = decide("example.test", true);
  EXPECT_TRUE(d.requiretls.satisfiable);
  ASSERT_EQ(d.mx.size(), 2u);
  EXPECT_EQ(d.mx[1].verify, Verify::Pkix);  // not "allowed, verify none"
  EXPECT_EQ(d.postfix, "OK dane-only");
}

// SPEC §3, §5; STS-7, STS-18: a store read failure is not "nothing cached".
TEST_F(Engine, Sts18UnreadableStoreDefersRatherThanForgetTheCachedPolicy) {
  dns.set("example.test", dns::RrType::Mx,
          mx_answer({{10, "mx.example.test"}}, dns::Security::Insecure));
  sts_policy("version: STSv1\nmode: enforce\nmx: mx.example.test\nmax_age: 86400\n");
  ASSERT_EQ(decide("example.test").action, Action::RequireTls);
  store.fail_reads = true;
  no_sts();  // and the TXT record is gone: the cached policy would apply (STS-7)
  auto d = decide("example.test");
  EXPECT_EQ(d.action, Action::Defer);
  EXPECT_TRUE(d.postfix.starts_with("TEMP ")) << d.postfix;
  dns.set("_mta-sts.example.test", dns::RrType::Txt, testing::dns_error(Errc::DnsServfail));
  EXPECT_EQ(decide("example.test").action, Action::Defer);
  store.fail_reads = false;
  d = decide("example.test");
  EXPECT_EQ(d.action, Action::RequireTls);
  ASSERT_TRUE(d.mta_sts);
  EXPECT_TRUE(d.mta_sts->from_cache);
}

// SPEC §3: a decision resting on a transient failure is re-made after
// retry_interval; a REQUIRETLS bounce caused by one is a defer.
TEST_F(Engine, Sts17TransientFailureIsNotKeptForTheMxTtl) {
  options.transient_ttl = 300s;
  dns.set("example.test", dns::RrType::Mx,
          mx_answer({{10, "mx.example.test"}}, dns::Security::Insecure, 3600));
  dns.set("_mta-sts.example.test", dns::RrType::Txt, testing::dns_error(Errc::DnsServfail));
  auto d = decide("example.test");
  EXPECT_EQ(d.postfix, "NOTFOUND ");
  EXPECT_EQ(d.ttl, 300s);
  d = decide("example.test", true);
  EXPECT_EQ(d.action, Action::Defer);
  EXPECT_EQ(d.ttl, 0s);
  dns.set("_mta-sts.example.test", dns::RrType::Txt, txt_answer({{"v=STSv1; id=id1"}}));
  https.set(k_url, fail(Errc::FetchTimeout, Retry::Transient, "timed out"));
  d = decide("example.test");
  EXPECT_EQ(d.postfix, "NOTFOUND ");
  EXPECT_EQ(d.ttl, 300s);
  clock.advance(400s);  // past the back-off: fetched again
  EXPECT_EQ(decide("example.test", true).action, Action::Defer);
  EXPECT_EQ(https.calls(k_url), 2);
}

// SPEC §3: TTL 0 means 0 (RFC 2308 §5), never "unknown".
TEST_F(Engine, TtlZeroAnswersMakeADecisionNotToBeKept) {
  dns.set("example.test", dns::RrType::Mx,
          mx_answer({{10, "mx.example.test"}}, dns::Security::Insecure, 0));
  no_sts();
  EXPECT_EQ(decide("example.test").ttl, 0s);
  dns.set("example.test", dns::RrType::Mx,
          mx_answer({{10, "mx.example.test"}}, dns::Security::Insecure, 3600));
  dns.set("_mta-sts.example.test", dns::RrType::Txt,
          txt_answer({{"v=STSv1; id=id1"}}, dns::Security::Secure, 1));
  https.set(k_url,
            http(200, "version: STSv1\nmode: enforce\nmx: mx.example.test\nmax_age: 86400\n"));
  EXPECT_EQ(decide("example.test").ttl, 1s);  // the _mta-sts TTL bounds it
  https.set(k_url, http(200, "version: STSv1\nmode: enforce\nmx: mx.example.test\nmax_age: 0\n"));
  dns.set("_mta-sts.example.test", dns::RrType::Txt, txt_answer({{"v=STSv1; id=id2"}}));
  EXPECT_EQ(decide("example.test").ttl, 0s);  // max_age 0 does not outlive its policy
}

// SPEC §3 step 3, DANE-4: one bad address family does not sink a host that
// has a secure address and usable TLSA; both resolver modes agree.
TEST_F(Engine, Dane4BogusAaaaBesideSecureAAgreesWithServfail) {
  dns.set("example.test", dns::RrType::Mx, mx_answer({{10, "mx1.example.test"}}));
  dns.set("_25._tcp.mx1.example.test", dns::RrType::Tlsa,
          testing::tlsa_answer({usable_311()}, dns::Security::Secure));
  no_sts();
  auto aaaa = testing::address_answer({"2001:db8::1"}, dns::Security::Bogus);
  aaaa.qtype = dns::RrType::Aaaa;
  dns.set("mx1.example.test", dns::RrType::Aaaa, aaaa);  // validate mode
  const auto validate = decide("example.test");
  dns.set("mx1.example.test", dns::RrType::Aaaa, testing::dns_error(Errc::DnsServfail));
  const auto trust_ad = decide("example.test");  // what a validating resolver hands out
  EXPECT_EQ(validate.postfix, "OK dane-only");
  EXPECT_EQ(trust_ad.postfix, validate.postfix);
  EXPECT_EQ(trust_ad.action, validate.action);
  EXPECT_LE(validate.ttl, 300s);  // rests on a failure: re-made soon
}

// SPEC §3 step 3: MX targets that securely do not exist are no transient
// failure: not TEMP for days, but NOTFOUND (the MTA reports 5.4.4).
TEST_F(Engine, Dane19NonexistentMxTargetsAreNotATransientFailure) {
  dns.set("example.test", dns::RrType::Mx,
          mx_answer({{10, "mx1.example.test"}, {20, "mx2.example.test"}}));
  dns.set("mx1.example.test", dns::RrType::A, testing::nxdomain());
  dns.set("mx1.example.test", dns::RrType::Aaaa, testing::nxdomain());
  dns.set("mx2.example.test", dns::RrType::A, testing::nxdomain());
  dns.set("mx2.example.test", dns::RrType::Aaaa, testing::nxdomain());
  no_sts();
  const auto d = decide("example.test");
  EXPECT_EQ(d.postfix, "NOTFOUND ");
  EXPECT_NE(d.action, Action::Defer);
  EXPECT_FALSE(d.mx[0].allowed);
}

// DANE-4 (RFC 7672 §2.1.1): a host whose TLSA lookup failed must not be used,
// by Postfix either: "OK dane" makes Postfix look TLSA up itself and skip it.
TEST_F(Engine, Dane4FailedTlsaHostIsSkippedByPostfixToo) {
  dns.set("example.test", dns::RrType::Mx,
          mx_answer({{10, "mx1.example.test"}, {20, "mx2.example.test"}}));
  dns.set("_25._tcp.mx1.example.test", dns::RrType::Tlsa, testing::dns_error(Errc::DnsServfail));
  no_sts();
  const auto d = decide("example.test");
  EXPECT_EQ(d.postfix, "OK dane");  // not NOTFOUND: Postfix at "may" would use mx1
  EXPECT_FALSE(d.mx[0].allowed);
  EXPECT_TRUE(d.mx[1].allowed);
  EXPECT_EQ(d.action, Action::Opportunistic);
}

// --- TLS-RPT (RFC 8460): the engine's own failures and the TLSRPT record ---

class EngineTlsRpt : public Engine {
 protected:
  EngineTlsRpt() {
    options.tlsrpt = true;
    dns.set("_smtp._tls.example.test", dns::RrType::Txt,
            txt_answer({{"v=TLSRPTv1; rua=mailto:rpt@example.test"}}));
    dns.set("example.test", dns::RrType::Mx, mx_answer({{10, "mx1.example.test"}}));
  }
  static const tlsrpt::FailureDetail& only_detail(const Decision& d) {
    EXPECT_EQ(d.tlsrpt_results.size(), 1u);
    EXPECT_EQ(d.tlsrpt_results.at(0).details.size(), 1u);
    return d.tlsrpt_results.at(0).details.at(0);
  }
};

TEST_F(EngineTlsRpt, Rpt1RecordFillsTheDecisionsRua) {
  no_sts();
  const auto d = decide("example.test");
  ASSERT_TRUE(d.tlsrpt);
  EXPECT_EQ(d.tlsrpt->rua, std::vector<std::string>{"mailto:rpt@example.test"});
  EXPECT_TRUE(d.tlsrpt_results.empty());
}

TEST_F(EngineTlsRpt, Rpt2TwoRecordsMeanNoReporting) {
  no_sts();
  dns.set("_smtp._tls.example.test", dns::RrType::Txt,
          txt_answer({{"v=TLSRPTv1; rua=mailto:a@example.test"},
                      {"v=TLSRPTv1; rua=mailto:b@example.test"}}));
  EXPECT_FALSE(decide("example.test").tlsrpt);
}

TEST_F(EngineTlsRpt, Rpt10WebPkiFailureOfThePolicyHost) {
  dns.set("_mta-sts.example.test", dns::RrType::Txt, txt_answer({{"v=STSv1; id=id1"}}));
  https.set(k_url, fail(Errc::FetchTls, Retry::Permanent, "certificate has expired"));
  const auto d = decide("example.test");
  const auto& detail = only_detail(d);
  EXPECT_EQ(detail.result_type, tlsrpt::ResultType::StsWebpkiInvalid);
  EXPECT_EQ(d.tlsrpt_results[0].policy.type, tlsrpt::PolicyType::Sts);
  EXPECT_EQ(d.tlsrpt_results[0].policy.policy_domain, "example.test");
  EXPECT_EQ(d.tlsrpt_results[0].failures, 1u);
  EXPECT_NE(detail.additional_information.find("certificate has expired"), std::string::npos);
}

TEST_F(EngineTlsRpt, Rpt10InvalidPolicyAndFetchError) {
  dns.set("_mta-sts.example.test", dns::RrType::Txt, txt_answer({{"v=STSv1; id=id1"}}));
  https.set(k_url, http(200, "version: STSv1\nmode: sometimes\n"));
  EXPECT_EQ(only_detail(decide("example.test")).result_type, tlsrpt::ResultType::StsPolicyInvalid);

  dns.set("_mta-sts.example.test", dns::RrType::Txt, txt_answer({{"v=STSv1; id=id2"}}));
  https.set(k_url, http(404, "not found"));
  EXPECT_EQ(only_detail(decide("example.test")).result_type,
            tlsrpt::ResultType::StsPolicyFetchError);
}

TEST_F(EngineTlsRpt, Rpt11FailureWithACachedPolicyCarriesItsLines) {
  sts_policy("version: STSv1\nmode: enforce\nmx: mx1.example.test\nmax_age: 86400\n", "id1");
  ASSERT_EQ(decide("example.test").action, Action::RequireTls);
  dns.set("_mta-sts.example.test", dns::RrType::Txt, txt_answer({{"v=STSv1; id=id2"}}));
  https.set(k_url, fail(Errc::FetchConnect, Retry::Transient, "connection refused"));
  const auto d = decide("example.test");
  ASSERT_EQ(d.tlsrpt_results.size(), 1u);
  const auto& key = d.tlsrpt_results[0].policy;
  EXPECT_EQ(key.policy_strings,
            (std::vector<std::string>{"version: STSv1", "mode: enforce", "mx: mx1.example.test",
                                      "max_age: 86400"}));
  EXPECT_EQ(key.mx_hosts, std::vector<std::string>{"mx1.example.test"});
}

TEST_F(EngineTlsRpt, Rpt10BogusMxIsDnssecInvalid) {
  dns.set("example.test", dns::RrType::Mx,
          mx_answer({{10, "mx1.example.test"}}, dns::Security::Bogus));
  const auto d = decide("example.test");
  EXPECT_EQ(d.action, Action::Defer);
  EXPECT_EQ(only_detail(d).result_type, tlsrpt::ResultType::DnssecInvalid);
  EXPECT_EQ(d.tlsrpt_results[0].policy.type, tlsrpt::PolicyType::NoPolicyFound);
}

TEST_F(EngineTlsRpt, Rpt3UnusableTlsaIsTlsaInvalidUnderTheTlsaBaseDomain) {
  dns.set("_25._tcp.mx1.example.test", dns::RrType::Tlsa,
          testing::tlsa_answer({testing::tlsa(0, 0, 1, 32)}, dns::Security::Secure));
  no_sts();
  const auto d = decide("example.test");
  const auto& detail = only_detail(d);
  EXPECT_EQ(detail.result_type, tlsrpt::ResultType::TlsaInvalid);
  EXPECT_EQ(detail.receiving_mx_hostname, "mx1.example.test");
  const auto& key = d.tlsrpt_results[0].policy;
  EXPECT_EQ(key.type, tlsrpt::PolicyType::Tlsa);
  EXPECT_EQ(key.policy_domain, "mx1.example.test");
  ASSERT_EQ(key.policy_strings.size(), 1u);
  EXPECT_TRUE(key.policy_strings[0].starts_with("0 0 1 ")) << key.policy_strings[0];
}

TEST_F(EngineTlsRpt, Rpt10BogusTlsaIsDnssecInvalidButServfailIsNotReported) {
  dns.set("_25._tcp.mx1.example.test", dns::RrType::Tlsa,
          testing::tlsa_answer({usable_311()}, dns::Security::Bogus));
  no_sts();
  EXPECT_EQ(only_detail(decide("example.test")).result_type, tlsrpt::ResultType::DnssecInvalid);
  dns.set("_25._tcp.mx1.example.test", dns::RrType::Tlsa, testing::dns_error(Errc::DnsServfail));
  EXPECT_TRUE(decide("example.test").tlsrpt_results.empty());  // RFC 8460 §4.3.4: transient
}

TEST(TlsRptStrings, Rpt11TlsaPolicyStringIsUsageSelectorTypeHex) {
  const dns::TlsaRecord r{3, 1, 1, {0x0a, 0xff, 0x00}};
  EXPECT_EQ(tlsa_policy_string(r), "3 1 1 0AFF00");
}

TEST(Recipient, RequireTlsTag) {
  EXPECT_TRUE(recipient_requests_requiretls("alice+requiretls@example.test"));
  EXPECT_TRUE(recipient_requests_requiretls("Alice+RequireTLS@example.test"));
  EXPECT_FALSE(recipient_requests_requiretls("alice@example.test"));
  EXPECT_FALSE(recipient_requests_requiretls("requiretls@example.test"));
  EXPECT_FALSE(recipient_requests_requiretls(""));
}

TEST(SocketmapReply, PostfixMatchName) {
  EXPECT_EQ(postfix_match_name("*.example.test"), ".example.test");
  EXPECT_EQ(postfix_match_name("mx.example.test"), "mx.example.test");
}

TEST(SocketmapReply, DeferReasonStaysOnOneLine) {
  Decision d;
  d.action = Action::Defer;
  d.reason = "a\r\nb, c";
  EXPECT_EQ(socketmap_reply(d), "TEMP a  b; c");  // no comma: Exim 4.96 JSON extraction
}

}  // namespace
}  // namespace tlspolicy::policy
