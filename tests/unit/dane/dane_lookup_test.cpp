// SPDX-License-Identifier: Apache-2.0
//
// DaneLookup::lookup_host over a scripted resolver: the address-then-TLSA
// procedure and CNAME rules of RFC 7672 §2.2.2–2.2.3 and the four outcomes
// of §2.2 (RFC-CHECKLIST DANE-4, DANE-5, DANE-9..DANE-11 in test names).
#include <ostream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "tlspolicy/dane/dane.hpp"

#include "support/fakes.hpp"

namespace tlspolicy::dane {
namespace {

using dns::RrType;
using dns::Security;
using testing::address_answer;
using testing::dns_error;
using testing::FakeResolver;
using testing::nodata;
using testing::nxdomain;
using testing::tlsa;
using testing::tlsa_answer;

constexpr const char* k_host = "mx.example.test";
constexpr const char* k_tlsa = "_25._tcp.mx.example.test";
constexpr const char* k_target = "mx.hosting.test";
constexpr const char* k_target_tlsa = "_25._tcp.mx.hosting.test";

class DaneLookupTest : public ::testing::Test {
 protected:
  FakeResolver dns;
  DaneLookup dane{dns, util::null_logger()};

  DaneLookupTest() {
    // The TLSA RRset of the original name is asked for beside the addresses. Unless a test
    // scripts it, it fails: a host whose address step rules TLSA out must not care (DANE-9).
    dns.set_default(RrType::Tlsa, dns_error(Errc::DnsServfail));
  }

  HostResult look(const std::string& host, std::uint16_t port = 25) {
    return event::sync_wait(dane.lookup_host(host, port));
  }

  /// Secure A and AAAA for `name` (optionally via a CNAME to `canonical`).
  void secure_host(const std::string& name, const std::string& canonical = "",
                   Security security = Security::Secure) {
    dns.set(name, RrType::A, address_answer({"192.0.2.1"}, security, canonical));
    auto aaaa = address_answer({"2001:db8::1"}, security, canonical);
    aaaa.qtype = RrType::Aaaa;
    dns.set(name, RrType::Aaaa, aaaa);
  }

  static std::string trail(const HostResult& r) {
    std::string out;
    for (const auto& line : r.trail) out += "\n  " + line;
    return out;
  }
};

TEST_F(DaneLookupTest, Dane5aSecureUsableTlsaAuthenticates) {
  secure_host(k_host);
  const std::vector records{tlsa(3, 1, 1, 32), tlsa(0, 0, 1, 32)};
  dns.set(k_tlsa, RrType::Tlsa, tlsa_answer(records));
  const auto r = look(k_host);
  EXPECT_EQ(r.status, HostStatus::Authenticated)
      << k_host << ": got " << to_string(r.status) << ", want dane-authenticated" << trail(r);
  EXPECT_EQ(r.tlsa, std::vector{tlsa(3, 1, 1, 32)});
  EXPECT_EQ(r.published, records);
  EXPECT_EQ(r.tlsa_base_domain, k_host);
  EXPECT_EQ(r.host, k_host);
  EXPECT_TRUE(r.error.empty());
  EXPECT_FALSE(r.trail.empty());
}

TEST_F(DaneLookupTest, Dane16DigestAgilityApplied) {
  secure_host(k_host);
  dns.set(k_tlsa, RrType::Tlsa, tlsa_answer({tlsa(2, 1, 1, 32), tlsa(2, 1, 2, 64)}));
  const auto r = look(k_host);
  ASSERT_EQ(r.status, HostStatus::Authenticated) << trail(r);
  EXPECT_EQ(r.tlsa, std::vector{tlsa(2, 1, 2, 64)});
  EXPECT_EQ(r.published.size(), 2U);
}

TEST_F(DaneLookupTest, Dane5bAllUnusableIsUnauthenticated) {
  secure_host(k_host);
  const std::vector records{tlsa(0, 0, 1, 32), tlsa(1, 1, 1, 32), tlsa(3, 1, 1, 31)};
  dns.set(k_tlsa, RrType::Tlsa, tlsa_answer(records));
  const auto r = look(k_host);
  EXPECT_EQ(r.status, HostStatus::Unauthenticated)
      << k_host << ": got " << to_string(r.status) << ", want tls-unauthenticated" << trail(r);
  EXPECT_TRUE(r.tlsa.empty());
  EXPECT_EQ(r.published, records);
  EXPECT_EQ(r.tlsa_base_domain, k_host);
}

TEST_F(DaneLookupTest, Dane5cInsecureTlsaIsNoDane) {
  secure_host(k_host);
  dns.set(k_tlsa, RrType::Tlsa, tlsa_answer({tlsa(3, 1, 1, 32)}, Security::Insecure));
  const auto r = look(k_host);
  EXPECT_EQ(r.status, HostStatus::NoDane) << trail(r);
  EXPECT_TRUE(r.tlsa.empty());
  EXPECT_TRUE(r.tlsa_base_domain.empty());
}

TEST_F(DaneLookupTest, Dane5cSecureNodataIsNoDane) {
  secure_host(k_host);
  dns.set(k_tlsa, RrType::Tlsa, nodata(Security::Secure));
  const auto r = look(k_host);
  EXPECT_EQ(r.status, HostStatus::NoDane) << trail(r);
  EXPECT_TRUE(r.error.empty());
}

TEST_F(DaneLookupTest, Dane5cSecureNxdomainIsNoDane) {
  secure_host(k_host);
  dns.set(k_tlsa, RrType::Tlsa, nxdomain(Security::Secure));
  EXPECT_EQ(look(k_host).status, HostStatus::NoDane);
}

TEST_F(DaneLookupTest, Dane4TlsaServfailIsUnusable) {
  secure_host(k_host);
  dns.set(k_tlsa, RrType::Tlsa, dns_error(Errc::DnsServfail));
  const auto r = look(k_host);
  EXPECT_EQ(r.status, HostStatus::Unusable) << trail(r);
  EXPECT_NE(r.error.find("dns-servfail"), std::string::npos) << r.error;
}

TEST_F(DaneLookupTest, Dane4TlsaTimeoutIsUnusable) {
  secure_host(k_host);
  dns.set(k_tlsa, RrType::Tlsa, dns_error(Errc::DnsTimeout));
  EXPECT_EQ(look(k_host).status, HostStatus::Unusable);
}

TEST_F(DaneLookupTest, Dane4TlsaMalformedIsUnusable) {
  secure_host(k_host);
  dns.set(k_tlsa, RrType::Tlsa, dns_error(Errc::DnsMalformed));
  EXPECT_EQ(look(k_host).status, HostStatus::Unusable);
}

TEST_F(DaneLookupTest, Dane4BogusTlsaIsUnusable) {
  secure_host(k_host);
  auto bogus = tlsa_answer({tlsa(3, 1, 1, 32)}, Security::Bogus);
  bogus.why = "signature expired";
  dns.set(k_tlsa, RrType::Tlsa, bogus);
  const auto r = look(k_host);
  EXPECT_EQ(r.status, HostStatus::Unusable) << trail(r);
  EXPECT_NE(r.error.find("signature expired"), std::string::npos) << r.error;
  EXPECT_TRUE(r.tlsa.empty());
}

TEST_F(DaneLookupTest, Dane4IndeterminateTlsaIsUnusable) {
  secure_host(k_host);
  dns.set(k_tlsa, RrType::Tlsa, nodata(Security::Indeterminate));
  EXPECT_EQ(look(k_host).status, HostStatus::Unusable);
}

TEST_F(DaneLookupTest, Dane4BogusAddressIsUnusable) {
  secure_host(k_host, "", Security::Bogus);
  const auto r = look(k_host);
  EXPECT_EQ(r.status, HostStatus::Unusable) << trail(r);
  EXPECT_TRUE(r.dnssec_bogus);
  EXPECT_EQ(r.error.find("TLSA"), std::string::npos) << r.error;  // TLSA not used
}

// SPEC §3 step 3, DANE-4: a bogus AAAA beside a secure A and usable TLSA
// leaves the host usable with its A addresses, as in trust-ad mode, where
// the validating resolver hands the bogus AAAA out as SERVFAIL.
TEST_F(DaneLookupTest, Dane4BogusAaaaBesideSecureAKeepsTheHost) {
  secure_host(k_host);
  dns.set(k_host, RrType::Aaaa, address_answer({"2001:db8::1"}, Security::Bogus));
  dns.set(k_tlsa, RrType::Tlsa, tlsa_answer({tlsa(3, 1, 1, 32)}));
  const auto bogus = look(k_host);
  EXPECT_EQ(bogus.status, HostStatus::Authenticated) << trail(bogus);
  EXPECT_TRUE(bogus.family_failed);
  dns.set(k_host, RrType::Aaaa, dns_error(Errc::DnsServfail));  // what trust-ad mode sees
  const auto servfail = look(k_host);
  EXPECT_EQ(servfail.status, HostStatus::Authenticated) << trail(servfail);
  EXPECT_EQ(servfail.tlsa, bogus.tlsa);
}

TEST_F(DaneLookupTest, Dane4BogusAAndNoAaaaIsUnusableNotAbsent) {
  dns.set(k_host, RrType::A, address_answer({"192.0.2.1"}, Security::Bogus));
  dns.set(k_host, RrType::Aaaa, nodata(Security::Secure));
  const auto r = look(k_host);
  EXPECT_EQ(r.status, HostStatus::Unusable) << trail(r);
}

TEST_F(DaneLookupTest, Dane4IndeterminateAddressIsUnusable) {
  secure_host(k_host, "", Security::Indeterminate);
  const auto r = look(k_host);
  EXPECT_EQ(r.status, HostStatus::Unusable);
  EXPECT_EQ(r.error.find("TLSA"), std::string::npos) << r.error;  // TLSA not used
}

TEST_F(DaneLookupTest, Dane4BothAddressLookupsFailingIsUnusable) {
  dns.set(k_host, RrType::A, dns_error(Errc::DnsServfail));
  dns.set(k_host, RrType::Aaaa, dns_error(Errc::DnsTimeout));
  const auto r = look(k_host);
  EXPECT_EQ(r.status, HostStatus::Unusable) << trail(r);
  EXPECT_NE(r.error.find("dns-servfail"), std::string::npos) << r.error;
  EXPECT_NE(r.error.find("dns-timeout"), std::string::npos) << r.error;
  EXPECT_EQ(r.error.find("TLSA"), std::string::npos) << r.error;  // TLSA not used
}

TEST_F(DaneLookupTest, OneAddressFamilyAnsweringIsEnough) {
  dns.set(k_host, RrType::A, address_answer({"192.0.2.1"}));
  dns.set(k_host, RrType::Aaaa, dns_error(Errc::DnsTimeout));
  dns.set(k_tlsa, RrType::Tlsa, tlsa_answer({tlsa(3, 1, 1, 32)}));
  EXPECT_EQ(look(k_host).status, HostStatus::Authenticated);
}

// SPEC §3 step 3: a host that securely does not exist is no transient failure.
TEST_F(DaneLookupTest, NonexistentHostIsAbsent) {
  dns.set(k_host, RrType::A, nxdomain(Security::Secure));
  dns.set(k_host, RrType::Aaaa, nxdomain(Security::Secure));
  const auto r = look(k_host);
  EXPECT_EQ(r.status, HostStatus::Absent) << trail(r);
  EXPECT_NE(r.error.find("does not exist"), std::string::npos) << r.error;
}

TEST_F(DaneLookupTest, HostWithoutAddressesIsAbsent) {
  dns.set(k_host, RrType::A, nodata(Security::Secure));
  dns.set(k_host, RrType::Aaaa, nodata(Security::Secure));
  EXPECT_EQ(look(k_host).status, HostStatus::Absent);
}

// DANE-9: with an insecure address, the TLSA answer (asked for beside the addresses) is
// neither used nor waited for: usable records change nothing, and neither does a failure of
// a zone that mishandles TLSA queries.
TEST_F(DaneLookupTest, Dane9InsecureAddressIgnoresTheTlsaAnswer) {
  secure_host(k_host, "", Security::Insecure);
  const auto failed = look(k_host);  // the fixture's TLSA answer is a SERVFAIL
  EXPECT_EQ(failed.status, HostStatus::NoDane) << trail(failed);
  dns.set(k_tlsa, RrType::Tlsa, tlsa_answer({tlsa(3, 1, 1, 32)}));
  const auto r = look(k_host);
  EXPECT_EQ(r.status, HostStatus::NoDane) << trail(r);
  EXPECT_TRUE(r.tlsa.empty());
  EXPECT_EQ(dns.calls(k_host, RrType::Cname), 0);
}

TEST_F(DaneLookupTest, Dane9SecureAAndInsecureAaaaIsNoDane) {
  secure_host(k_host);
  auto aaaa = address_answer({"2001:db8::1"}, Security::Insecure);
  aaaa.qtype = RrType::Aaaa;
  dns.set(k_host, RrType::Aaaa, aaaa);
  EXPECT_EQ(look(k_host).status, HostStatus::NoDane);  // the TLSA SERVFAIL does not matter
}

TEST_F(DaneLookupTest, Dane10SecureCnameChainTriesExpandedNameFirst) {
  secure_host(k_host, k_target);
  dns.set(k_target_tlsa, RrType::Tlsa, tlsa_answer({tlsa(2, 0, 1, 32)}));
  dns.set(k_tlsa, RrType::Tlsa, tlsa_answer({tlsa(3, 1, 1, 32)}));
  const auto r = look(k_host);
  ASSERT_EQ(r.status, HostStatus::Authenticated) << trail(r);
  // DANE-11: the expanded name is the TLSA base domain (SNI, reference id).
  EXPECT_EQ(r.tlsa_base_domain, k_target);
  EXPECT_EQ(r.tlsa, std::vector{tlsa(2, 0, 1, 32)});
  EXPECT_EQ(r.host, k_host);
}

TEST_F(DaneLookupTest, Dane10ExpandedSecureDenialFallsBackToOriginal) {
  secure_host(k_host, k_target);
  dns.set(k_target_tlsa, RrType::Tlsa, nxdomain(Security::Secure));
  dns.set(k_tlsa, RrType::Tlsa, tlsa_answer({tlsa(3, 1, 1, 32)}));
  const auto r = look(k_host);
  ASSERT_EQ(r.status, HostStatus::Authenticated) << trail(r);
  EXPECT_EQ(r.tlsa_base_domain, k_host);
  EXPECT_EQ(dns.calls(k_target_tlsa, RrType::Tlsa), 1);
  EXPECT_EQ(dns.calls(k_tlsa, RrType::Tlsa), 1);
}

TEST_F(DaneLookupTest, Dane10ExpandedInsecureFallsBackToOriginal) {
  secure_host(k_host, k_target);
  dns.set(k_target_tlsa, RrType::Tlsa, tlsa_answer({tlsa(3, 1, 1, 32)}, Security::Insecure));
  dns.set(k_tlsa, RrType::Tlsa, tlsa_answer({tlsa(2, 1, 2, 64)}));
  const auto r = look(k_host);
  ASSERT_EQ(r.status, HostStatus::Authenticated) << trail(r);
  EXPECT_EQ(r.tlsa_base_domain, k_host);
  EXPECT_EQ(r.tlsa, std::vector{tlsa(2, 1, 2, 64)});
}

TEST_F(DaneLookupTest, Dane10NeitherCandidateSecureIsNoDane) {
  secure_host(k_host, k_target);
  dns.set(k_target_tlsa, RrType::Tlsa, nodata(Security::Secure));
  dns.set(k_tlsa, RrType::Tlsa, nxdomain(Security::Secure));
  EXPECT_EQ(look(k_host).status, HostStatus::NoDane);
}

TEST_F(DaneLookupTest, Dane4ExpandedTlsaFailureIsUnusableWithoutFallback) {
  secure_host(k_host, k_target);
  dns.set(k_target_tlsa, RrType::Tlsa, dns_error(Errc::DnsServfail));
  dns.set(k_tlsa, RrType::Tlsa, tlsa_answer({tlsa(3, 1, 1, 32)}));  // not a fallback
  EXPECT_EQ(look(k_host).status, HostStatus::Unusable);
}

TEST_F(DaneLookupTest, Dane9PartlyInsecureCnameChainTriesOnlyOriginal) {
  // The chain's first hop (the CNAME at the MX host) is secure, a later hop
  // is not: the address answer is Insecure as a whole.
  secure_host(k_host, k_target, Security::Insecure);
  auto hop = address_answer({}, Security::Secure, k_target);
  hop.qtype = RrType::Cname;
  hop.outcome = dns::Outcome::Data;
  dns.set(k_host, RrType::Cname, hop);
  dns.set(k_tlsa, RrType::Tlsa, tlsa_answer({tlsa(3, 1, 1, 32)}));
  const auto r = look(k_host);
  ASSERT_EQ(r.status, HostStatus::Authenticated) << trail(r);
  EXPECT_EQ(r.tlsa_base_domain, k_host);
  EXPECT_EQ(dns.calls(k_target_tlsa, RrType::Tlsa), 0);
}

TEST_F(DaneLookupTest, Dane9InsecureFirstCnameHopIsNoDane) {
  secure_host(k_host, k_target, Security::Insecure);
  auto hop = address_answer({}, Security::Insecure, k_target);
  hop.qtype = RrType::Cname;
  hop.outcome = dns::Outcome::Data;
  dns.set(k_host, RrType::Cname, hop);
  EXPECT_EQ(look(k_host).status, HostStatus::NoDane);
  EXPECT_EQ(dns.calls(k_target_tlsa, RrType::Tlsa), 0);
}

TEST_F(DaneLookupTest, Dane4FirstCnameHopFailureIsUnusable) {
  secure_host(k_host, k_target, Security::Insecure);
  dns.set(k_host, RrType::Cname, dns_error(Errc::DnsServfail));
  EXPECT_EQ(look(k_host).status, HostStatus::Unusable);
}

TEST_F(DaneLookupTest, IpLiteralHostIsAbsent) {
  for (const char* host : {"192.0.2.1", "[192.0.2.1]", "2001:db8::1", "", "bad host"}) {
    const auto r = look(host);
    EXPECT_EQ(r.status, HostStatus::Absent) << "host \"" << host << "\"";
    EXPECT_FALSE(r.error.empty()) << host;
    EXPECT_EQ(r.host, host);
  }
}

TEST_F(DaneLookupTest, Dane10Port465QueriesUnderscore465) {
  secure_host(k_host);
  dns.set("_465._tcp.mx.example.test", RrType::Tlsa, tlsa_answer({tlsa(3, 1, 1, 32)}));
  const auto r = look(k_host, 465);
  EXPECT_EQ(r.status, HostStatus::Authenticated) << trail(r);
  EXPECT_EQ(dns.calls("_465._tcp.mx.example.test", RrType::Tlsa), 1);
  EXPECT_EQ(dns.calls(k_tlsa, RrType::Tlsa), 0);
}

TEST_F(DaneLookupTest, HostNameIsNormalisedForQueries) {
  secure_host(k_host);
  dns.set(k_tlsa, RrType::Tlsa, tlsa_answer({tlsa(3, 1, 1, 32)}));
  const auto r = look("MX.Example.Test.");
  EXPECT_EQ(r.status, HostStatus::Authenticated) << trail(r);
  EXPECT_EQ(r.host, "MX.Example.Test.");
  EXPECT_EQ(r.tlsa_base_domain, k_host);
}

TEST_F(DaneLookupTest, TrailHasOneLinePerLookup) {
  secure_host(k_host, k_target);
  dns.set(k_target_tlsa, RrType::Tlsa, nodata(Security::Secure));
  dns.set(k_tlsa, RrType::Tlsa, tlsa_answer({tlsa(3, 1, 1, 32), tlsa(0, 0, 1, 32)}));
  const auto r = look(k_host);
  ASSERT_GE(r.trail.size(), 4U) << trail(r);
  EXPECT_EQ(r.trail[0].rfind("A mx.example.test: data, secure, via CNAME to mx.hosting.test", 0),
            0U)
      << r.trail[0];
  EXPECT_EQ(r.trail[1].rfind("AAAA mx.example.test:", 0), 0U) << r.trail[1];
  EXPECT_EQ(r.trail[2].rfind("TLSA _25._tcp.mx.hosting.test: nodata, secure", 0), 0U) << r.trail[2];
  EXPECT_NE(r.trail[3].find("2 records, 1 usable"), std::string::npos) << r.trail[3];
}

}  // namespace
}  // namespace tlspolicy::dane
