// SPDX-License-Identifier: Apache-2.0
//
// DaneLookup: the DANE status of one MX host (RFC 7672 §2.2). A secure
// address lookup comes first (§2.2.2, DANE-9); then TLSA at
// _<port>._tcp.<candidate> for the CNAME-expanded name and the original name
// in that order (§2.2.3, DANE-10/DANE-11). Lookup failures and bogus answers
// make the host unusable (§2.1.1–2.1.2, DANE-4); the four outcomes are those
// of §2.2 (DANE-5). Every query adds one line to HostResult::trail.
#include <algorithm>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "tlspolicy/dane/dane.hpp"
#include "tlspolicy/dns/name.hpp"

namespace tlspolicy::dane {
namespace {

std::string describe(const Error& e) { return std::string(to_string(e.code)) + ": " + e.detail; }

/// "A mx.example.test: data, secure, via CNAME to x, 2 addresses" (--explain).
std::string answer_line(dns::RrType type, const std::string& name, const dns::DnsAnswer& a) {
  std::string line = std::string(dns::to_string(type)) + " " + name + ": " +
                     std::string(dns::to_string(a.outcome)) + ", " +
                     std::string(dns::to_string(a.security));
  if (!a.canonical_name.empty()) line += ", via CNAME to " + a.canonical_name;
  if (!a.why.empty()) line += " (" + a.why + ")";
  return line;
}

std::string error_line(dns::RrType type, const std::string& name, const Error& e) {
  return std::string(dns::to_string(type)) + " " + name + ": lookup failed, " + describe(e);
}

// Keeps the smallest TTL of the answers a host result rests on (0 included).
void note_ttl(HostResult& r, std::chrono::seconds ttl) {
  if (!r.ttl || ttl < *r.ttl) r.ttl = ttl;
}

HostResult unusable(HostResult r, std::string why, dns::Security security = dns::Security::Secure) {
  r.status = HostStatus::Unusable;
  r.dnssec_bogus = security == dns::Security::Bogus;
  r.tlsa.clear();
  r.tlsa_base_domain.clear();
  r.error = std::move(why);
  return r;
}

/// What the address step (RFC 7672 §2.2.2) decided about TLSA candidates.
struct AddressVerdict {
  bool done = false;  ///< the host status is final (Unusable or NoDane)
  std::vector<dns::DomainName> candidates;
};

}  // namespace

DaneLookup::DaneLookup(dns::Resolver& resolver, util::Logger log)
    : m_resolver(resolver), m_log(std::move(log)) {}

namespace {

event::Task<Result<dns::DnsAnswer>> not_asked(Error e) { co_return Unexpected{std::move(e)}; }

/// `_<port>._tcp.<name>`, or the error when the name gets too long.
Result<dns::DomainName> tlsa_name(const dns::DomainName& name, std::uint16_t port) {
  auto tcp = name.prefixed("_tcp");
  return tcp ? tcp->prefixed("_" + std::to_string(port)) : std::move(tcp);
}

}  // namespace

event::Task<Result<dns::DnsAnswer>> DaneLookup::tlsa_lookup(const dns::DomainName& name,
                                                            std::uint16_t port) {
  auto qname = tlsa_name(name, port);
  if (!qname) return not_asked(qname.error());
  return dns::lookup(m_resolver, std::move(*qname), dns::RrType::Tlsa);
}

event::Task<HostResult> DaneLookup::lookup_host(std::string host, std::uint16_t port) {
  HostResult r;
  r.host = host;

  // RFC 7672 §2.2.1 / RFC 5321 §5.1 (DANE-19): an MX exchange must be a
  // domain name; an IP literal or junk cannot be looked up, so the host can
  // never be used (nothing to retry: Absent).
  auto parsed = dns::DomainName::parse(host);
  if (!parsed) {
    r.trail.push_back("host " + r.host + ": not a domain name, " + describe(parsed.error()));
    r.status = HostStatus::Absent;
    r.error = "invalid MX host name: " + describe(parsed.error());
    co_return r;
  }
  const dns::DomainName original = std::move(*parsed);

  // The TLSA RRset of the original name is asked for beside the addresses, so a DANE host
  // costs one round trip, not two. Its answer is used only when the address step makes the
  // original name a candidate (RFC 7672 §2.2.2, DANE-9): an insecure host's TLSA answer,
  // even a failure of a zone that mishandles TLSA queries, is never looked at or waited for.
  event::Started<Result<dns::DnsAnswer>> original_tlsa{tlsa_lookup(original, port), &m_active};

  // --- Address lookups first (RFC 7672 §2.2.2, DANE-9). ---
  auto [a4, a6] = co_await event::when_all(dns::lookup(m_resolver, original, dns::RrType::A),
                                           dns::lookup(m_resolver, original, dns::RrType::Aaaa));
  AddressVerdict verdict;
  {
    std::vector<dns::DnsAnswer> answers;
    std::vector<std::string> errors;  ///< families that failed, and why
    bool bogus = false;
    for (auto* got : {&a4, &a6}) {
      const dns::RrType type = got == &a4 ? dns::RrType::A : dns::RrType::Aaaa;
      auto& a = *got;
      if (!a) {
        r.trail.push_back(error_line(type, original.str(), a.error()));
        errors.push_back(std::string(dns::to_string(type)) + " " + describe(a.error()));
        continue;
      }
      std::string line = answer_line(type, original.str(), *a);
      // RFC 7672 §2.1.1 (DANE-4): a bogus or indeterminate answer is a lookup
      // error: its addresses are never used. A trust-ad resolver hands out
      // the same failure as SERVFAIL, so both modes end up here alike.
      if (a->security == dns::Security::Bogus || a->security == dns::Security::Indeterminate) {
        r.trail.push_back(std::move(line));
        bogus = bogus || a->security == dns::Security::Bogus;
        errors.push_back(std::string(dns::to_string(type)) + " " +
                         std::string(dns::to_string(a->security)) +
                         (a->why.empty() ? "" : " (" + a->why + ")"));
        continue;
      }
      if (a->outcome == dns::Outcome::Data) {
        line += ", " + std::to_string(a->addresses.size()) + " addresses";
      }
      r.trail.push_back(std::move(line));
      note_ttl(r, a->ttl);
      answers.push_back(std::move(*a));
    }
    const bool any_data = std::any_of(answers.begin(), answers.end(), [](const dns::DnsAnswer& a) {
      return a.outcome == dns::Outcome::Data;
    });
    if (!errors.empty()) {
      std::string why = "address lookup failed:";
      for (const auto& e : errors) why += " " + e + ";";
      why.pop_back();
      if (!any_data) {
        // RFC 7672 §2.1.1 (DANE-4): with no family answering with addresses,
        // the host is unreachable (and may yet exist: not Absent).
        m_log.warn("MX host address lookup failed", {{"host", r.host}, {"detail", why}});
        co_return unusable(std::move(r), std::move(why),
                           bogus ? dns::Security::Bogus : dns::Security::Secure);
      }
      // SPEC §3 step 3: one family with validated addresses is enough; the
      // failed family's addresses are not used (a popular peer deferred mail
      // to large providers by making one bad AAAA sink the whole host).
      r.family_failed = true;
      r.trail.push_back(why + "; going on with the family that answered");
      m_log.info("MX host: one address family failed", {{"host", r.host}, {"detail", why}});
    }
    bool all_nxdomain = true;
    bool all_secure = true;
    std::string canonical;
    for (const auto& a : answers) {
      all_nxdomain = all_nxdomain && a.outcome == dns::Outcome::NxDomain;
      all_secure = all_secure && a.security == dns::Security::Secure;
      if (canonical.empty()) canonical = a.canonical_name;
    }
    // A host without addresses cannot be connected to. Both answers were
    // definitive (NXDOMAIN, NODATA): nothing to retry (SPEC §3 step 3).
    if (!any_data) {
      r.status = HostStatus::Absent;
      r.error =
          all_nxdomain ? "MX host does not exist (NXDOMAIN)" : "MX host has no address records";
      r.trail.push_back(r.error);
      co_return r;
    }

    if (all_secure) {
      // RFC 7672 §2.2.2 / RFC 7671 §7 (DANE-9, DANE-11): a wholly secure CNAME
      // chain makes the expanded name the preferred TLSA base domain; the
      // original name is tried next.
      if (!canonical.empty()) {
        auto expanded = dns::DomainName::parse(canonical);
        if (expanded && *expanded != original) {
          verdict.candidates.push_back(std::move(*expanded));
        } else if (!expanded) {
          r.trail.push_back("CNAME target " + canonical + ": not a host name, skipped");
        }
      }
      verdict.candidates.push_back(original);
    } else if (canonical.empty()) {
      // RFC 7672 §2.2.2 (DANE-5c, DANE-9): an insecure address RRset means no
      // TLSA lookup; pre-DANE opportunistic TLS.
      verdict.done = true;
    } else {
      // The chain is not wholly secure. RFC 7672 §2.2.2 (DANE-9): if its first
      // hop (the CNAME at the original name) is secure, only the original
      // name is a candidate; if that hop is insecure, no TLSA lookup. The
      // address answer carries one Security for the whole chain, so the
      // first hop is asked for on its own.
      auto hop = co_await dns::lookup(m_resolver, original, dns::RrType::Cname);
      if (!hop) {
        r.trail.push_back(error_line(dns::RrType::Cname, original.str(), hop.error()));
        co_return unusable(std::move(r), "CNAME lookup failed: " + describe(hop.error()));
      }
      r.trail.push_back(answer_line(dns::RrType::Cname, original.str(), *hop));
      if (hop->security == dns::Security::Bogus || hop->security == dns::Security::Indeterminate) {
        co_return unusable(std::move(r),
                           "CNAME lookup " + std::string(dns::to_string(hop->security)) +
                               (hop->why.empty() ? "" : ": " + hop->why),
                           hop->security);
      }
      if (hop->security == dns::Security::Secure && hop->outcome == dns::Outcome::Data) {
        verdict.candidates.push_back(original);
      } else {
        verdict.done = true;
      }
    }
  }
  if (verdict.done) {
    r.trail.emplace_back("address lookup insecure: no TLSA lookup (RFC 7672 §2.2.2)");
    r.status = HostStatus::NoDane;
    m_log.debug("MX host has no DANE", {{"host", r.host}, {"reason", "insecure address"}});
    co_return r;
  }

  // --- TLSA lookups (RFC 7672 §2.2.3, DANE-10). ---
  for (const auto& candidate : verdict.candidates) {
    auto qname = tlsa_name(candidate, port);
    if (!qname) {
      // A name over 253 octets cannot own a TLSA RRset: nothing to find.
      r.trail.push_back("TLSA _" + std::to_string(port) + "._tcp." + candidate.str() +
                        ": name too long, skipped");
      continue;
    }
    // The original name's answer is the one asked for beside the addresses.
    Result<dns::DnsAnswer> a = Unexpected{Error{}};
    if (candidate == original) {
      a = co_await original_tlsa;
    } else {
      a = co_await dns::lookup(m_resolver, *qname, dns::RrType::Tlsa);
    }
    // RFC 7672 §2.1.1 (DANE-4): a failed TLSA lookup (SERVFAIL, timeout,
    // malformed) makes the host unreachable; so does bogus or indeterminate.
    if (!a) {
      r.trail.push_back(error_line(dns::RrType::Tlsa, qname->str(), a.error()));
      m_log.warn("TLSA lookup failed",
                 {{"host", r.host}, {"qname", qname->str()}, {"detail", describe(a.error())}});
      co_return unusable(std::move(r), "TLSA lookup failed: " + describe(a.error()));
    }
    note_ttl(r, a->ttl);
    if (a->security == dns::Security::Bogus || a->security == dns::Security::Indeterminate) {
      r.trail.push_back(answer_line(dns::RrType::Tlsa, qname->str(), *a));
      m_log.warn("TLSA answer not validated",
                 {{"host", r.host},
                  {"qname", qname->str()},
                  {"security", std::string(dns::to_string(a->security))},
                  {"why", a->why}});
      co_return unusable(std::move(r),
                         "TLSA lookup " + std::string(dns::to_string(a->security)) +
                             (a->why.empty() ? "" : ": " + a->why),
                         a->security);
    }
    // RFC 7672 §2.2.3: insecure records are not used; try the next candidate.
    if (a->security == dns::Security::Insecure) {
      r.trail.push_back(answer_line(dns::RrType::Tlsa, qname->str(), *a) +
                        ", not used (RFC 7672 §2.2.3)");
      continue;
    }
    // Secure denial (NXDOMAIN / NODATA): no TLSA here; next candidate.
    if (a->outcome != dns::Outcome::Data) {
      r.trail.push_back(answer_line(dns::RrType::Tlsa, qname->str(), *a) + ", secure denial");
      continue;
    }
    // A secure "data" answer without records cannot be used and cannot be
    // taken as a denial: treat it as malformed (DANE-4).
    if (a->tlsa.empty()) {
      r.trail.push_back(answer_line(dns::RrType::Tlsa, qname->str(), *a) + ", no records");
      co_return unusable(std::move(r), "TLSA answer malformed: data without records");
    }
    // The first secure TLSA RRset defines the TLSA base domain (§2.2.3).
    r.tlsa_base_domain = candidate.str();
    r.published = std::move(a->tlsa);
    r.tlsa = select_for_authentication(r.published);
    std::size_t n_usable = 0;
    for (const auto& rec : r.published) n_usable += usable(rec) ? 1U : 0U;
    r.trail.push_back(answer_line(dns::RrType::Tlsa, qname->str(), *a) + ", " +
                      std::to_string(r.published.size()) + " records, " + std::to_string(n_usable) +
                      " usable, " + std::to_string(r.tlsa.size()) + " selected (RFC 7671 §9)");
    // RFC 7672 §2.2 (DANE-5a/5b): usable records → DANE-authenticated TLS;
    // all unusable → TLS is mandatory but unauthenticated.
    r.status = r.tlsa.empty() ? HostStatus::Unauthenticated : HostStatus::Authenticated;
    m_log.debug("MX host DANE status", {{"host", r.host},
                                        {"status", std::string(to_string(r.status))},
                                        {"tlsa_base_domain", r.tlsa_base_domain}});
    co_return r;
  }

  // No candidate had a secure TLSA RRset (DANE-5c).
  r.trail.emplace_back("no secure TLSA RRset: no DANE");
  r.status = HostStatus::NoDane;
  m_log.debug("MX host has no DANE", {{"host", r.host}, {"reason", "no secure TLSA"}});
  co_return r;
}

}  // namespace tlspolicy::dane
