// SPDX-License-Identifier: Apache-2.0
//
// The decision engine: gathers what SPEC §3's steps need to know (local
// policy, MX, DANE per host, MTA-STS discovery, the TLSRPT record) and hands
// the facts to the rules (policy/rules.cpp), which decide.
#include "tlspolicy/policy/engine.hpp"

#include <algorithm>
#include <string>
#include <utility>

#include "tlspolicy/tlsrpt/record.hpp"

namespace tlspolicy::policy {
namespace {

const config::LocalPolicy* find_local(const std::vector<config::LocalPolicy>& policies,
                                      const std::string& domain) {
  const auto it = std::find_if(policies.begin(), policies.end(),
                               [&](const config::LocalPolicy& p) { return p.domain == domain; });
  return it == policies.end() ? nullptr : &*it;
}

// RFC 8460 §3 (RPT-1, RPT-2): the domain's TLSRPT record, if it has exactly
// one valid one. Lookup failures only mean no rua in the decision: reports
// look the record up again when they are sent.
TlsRptFacts lookup_tlsrpt(const dns::Resolver& resolver, const dns::DomainName& domain) {
  TlsRptFacts out;
  auto tls = domain.prefixed("_tls");
  auto qname = tls ? tls->prefixed("_smtp") : std::move(tls);
  if (!qname) return out;
  const auto answer = resolver.lookup(*qname, dns::RrType::Txt);
  if (!answer || answer->security == dns::Security::Bogus ||
      answer->security == dns::Security::Indeterminate) {
    out.lookup_failed = true;
    return out;
  }
  out.ttl = answer->ttl;
  if (answer->outcome != dns::Outcome::Data) return out;
  std::vector<std::string> texts;
  for (const auto& rr : answer->txt) texts.push_back(rr.joined());
  const auto record = tlsrpt::select_tlsrpt_record(texts);
  if (!record || !*record) return out;
  TlsRptInfo info;
  for (const auto& target : (*record)->rua) {
    // A mailto: URI naming several mailboxes is one target per mailbox.
    if (std::find(info.rua.begin(), info.rua.end(), target.uri) == info.rua.end()) {
      info.rua.push_back(target.uri);
    }
  }
  out.trail = "TLS-RPT: " + qname->str() + " names " + std::to_string(info.rua.size()) +
              " report URI(s) (RFC 8460 §3)";
  out.info = std::move(info);
  return out;
}

}  // namespace

bool recipient_requests_requiretls(std::string_view recipient) {
  const auto at = recipient.rfind('@');
  const auto local = recipient.substr(0, at);
  constexpr std::string_view k_tag = "+requiretls";
  if (local.size() < k_tag.size()) return false;
  const auto tail = local.substr(local.size() - k_tag.size());
  return std::equal(tail.begin(), tail.end(), k_tag.begin(), k_tag.end(), [](char a, char b) {
    return (a >= 'A' && a <= 'Z' ? static_cast<char>(a - 'A' + 'a') : a) == b;
  });
}

PolicyEngine::PolicyEngine(const dns::Resolver& resolver, const dane::DaneLookup& dane,
                           const sts::StsDiscovery& sts, const util::Clock& clock, util::Logger log,
                           EngineOptions options)
    : m_resolver(resolver),
      m_dane(dane),
      m_sts(sts),
      m_clock(clock),
      m_log(std::move(log)),
      m_options(std::move(options)) {}

Facts PolicyEngine::gather(const DecideRequest& request) const {
  Facts f;
  f.domain = request.domain.str();
  f.requiretls = request.requiretls;
  f.now = m_clock.now();
  // Step 1 (SPEC §3): a local override decides alone, without a lookup,
  // unless REQUIRETLS asks whether the domain can satisfy it (RT-8).
  if (const auto* local = find_local(m_options.local_policies, f.domain)) {
    f.local = *local;
    if (!request.requiretls) return f;
  }
  f.sts_excluded = std::find(m_options.sts_exclude.begin(), m_options.sts_exclude.end(),
                             f.domain) != m_options.sts_exclude.end();

  // Step 2: MX lookup with its DNSSEC state (RFC 5321 §5.1, RFC 7672 §2.2.1).
  f.mx = m_resolver.lookup(request.domain, dns::RrType::Mx);
  const auto& mx = *f.mx;
  if (!mx || mx->security == dns::Security::Bogus || mx->security == dns::Security::Indeterminate) {
    // After the MX lookup, so that an unreachable resolver defers after one
    // lookup's time, not two; a bogus MX still looks its reporting up.
    if (mx && m_options.tlsrpt) f.tlsrpt = lookup_tlsrpt(m_resolver, request.domain);
    return f;
  }
  if (m_options.tlsrpt) f.tlsrpt = lookup_tlsrpt(m_resolver, request.domain);
  f.hosts = mx_hosts(*mx, f.domain);
  if (f.hosts.empty()) return f;  // NXDOMAIN or null MX: nothing more to learn

  // Step 3: DANE per MX host, only behind a secure MX RRset (RFC 7672
  // §2.2.1, DANE-6; the implicit MX of a secure domain counts, DANE-8).
  if (mx->security == dns::Security::Secure) {
    for (auto& host : f.hosts) {
      if (dns::DomainName::parse(host.host)) host.dane = m_dane.lookup_host(host.host);
    }
  }

  // Step 4: MTA-STS (RFC 8461), discovered even when DANE applies: per host
  // the stronger requirement wins (SPEC §3).
  if (!f.sts_excluded) f.sts = m_sts.discover(request.domain);
  return f;
}

Decision PolicyEngine::decide(const DecideRequest& request) const {
  Decision d = evaluate(
      gather(request), RuleOptions{m_options.local_ttl, m_options.transient_ttl, m_options.tlsrpt});
  m_log.debug("decision", {{"domain", d.domain},
                           {"action", std::string(to_string(d.action))},
                           {"source", std::string(to_string(d.source))}});
  return d;
}

}  // namespace tlspolicy::policy
