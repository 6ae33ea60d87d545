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

const LocalRule* find_local(const std::vector<LocalRule>& policies, const std::string& domain) {
  const auto it = std::find_if(policies.begin(), policies.end(),
                               [&](const LocalRule& p) { return p.domain == domain; });
  return it == policies.end() ? nullptr : &*it;
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

PolicyEngine::PolicyEngine(dns::Resolver& resolver, dane::DaneLookup& dane, sts::StsDiscovery& sts,
                           const util::Clock& clock, util::Logger log, EngineOptions options)
    : m_resolver(resolver),
      m_dane(dane),
      m_sts(sts),
      m_clock(clock),
      m_log(std::move(log)),
      m_options(std::move(options)) {}

// RFC 8460 §3 (RPT-1, RPT-2): the domain's TLSRPT record, if it has exactly
// one valid one. Lookup failures only mean no rua in the decision: reports
// look the record up again when they are sent.
event::Task<TlsRptFacts> PolicyEngine::lookup_tlsrpt(dns::DomainName domain) {
  TlsRptFacts out;
  auto tls = domain.prefixed("_tls");
  auto qname = tls ? tls->prefixed("_smtp") : std::move(tls);
  if (!qname) co_return out;
  const auto answer = co_await dns::lookup(m_resolver, *qname, dns::RrType::Txt);
  if (!answer || answer->security == dns::Security::Bogus ||
      answer->security == dns::Security::Indeterminate) {
    out.lookup_failed = true;
    co_return out;
  }
  out.ttl = answer->ttl;
  if (answer->outcome != dns::Outcome::Data) co_return out;
  std::vector<std::string> texts;
  for (const auto& rr : answer->txt) texts.push_back(rr.joined());
  const auto record = tlsrpt::select_tlsrpt_record(texts);
  if (!record || !*record) co_return out;
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
  co_return out;
}

event::Task<Facts> PolicyEngine::gather(DecideRequest request) {
  Facts f;
  f.domain = request.domain.str();
  f.requiretls = request.requiretls;
  f.now = m_clock.now();
  // Step 1 (SPEC §3): a local override decides alone, without a lookup,
  // unless REQUIRETLS asks whether the domain can satisfy it (RT-8).
  if (const auto* local = find_local(m_options.local_policies, f.domain)) {
    f.local = *local;
    if (!request.requiretls) co_return f;
  }
  f.sts_excluded = std::find(m_options.sts_exclude.begin(), m_options.sts_exclude.end(),
                             f.domain) != m_options.sts_exclude.end();

  // The MX lookup (step 2), MTA-STS discovery (step 4) and the TLSRPT record go out together:
  // the critical path is the longest of them, not their sum. Discovery and the TLSRPT lookup
  // may outlive a decision that the MX answer already settles (a defer): they are counted in
  // active() and not waited for.
  std::optional<event::Started<sts::StsOutcome>> sts;
  if (!f.sts_excluded) sts.emplace(m_sts.discover(request.domain), &m_active);
  std::optional<event::Started<TlsRptFacts>> tlsrpt;
  if (m_options.tlsrpt) tlsrpt.emplace(lookup_tlsrpt(request.domain), &m_active);

  // Step 2: MX lookup with its DNSSEC state (RFC 5321 §5.1, RFC 7672 §2.2.1).
  f.mx = co_await dns::lookup(m_resolver, request.domain, dns::RrType::Mx);
  const auto& mx = *f.mx;
  if (!mx) co_return f;  // the server list is unknown: defer
  if (tlsrpt) f.tlsrpt = co_await *tlsrpt;
  if (mx->security == dns::Security::Bogus || mx->security == dns::Security::Indeterminate) {
    co_return f;
  }
  f.hosts = mx_hosts(*mx, f.domain);
  if (f.hosts.empty()) co_return f;  // NXDOMAIN or null MX: nothing more to learn

  // Bounded work per domain: hosts past the limit (by preference, like Postfix's
  // smtp_mx_address_limit) are not looked up and not used.
  for (std::size_t i = m_options.max_mx_hosts; i < f.hosts.size(); ++i) {
    f.hosts[i].beyond_limit = true;
  }

  // Step 3: DANE per MX host, only behind a secure MX RRset (RFC 7672
  // §2.2.1, DANE-6; the implicit MX of a secure domain counts, DANE-8). The hosts are looked
  // up together.
  if (mx->security == dns::Security::Secure) {
    std::vector<std::size_t> looked_up;
    std::vector<event::Task<dane::HostResult>> lookups;
    for (std::size_t i = 0; i < f.hosts.size(); ++i) {
      if (f.hosts[i].beyond_limit || !dns::DomainName::parse(f.hosts[i].host)) continue;
      looked_up.push_back(i);
      lookups.push_back(m_dane.lookup_host(f.hosts[i].host));
    }
    auto results = co_await event::when_all(std::move(lookups));
    for (std::size_t k = 0; k < looked_up.size(); ++k) {
      f.hosts[looked_up[k]].dane = std::move(results[k]);
    }
  }

  // Step 4: MTA-STS (RFC 8461), discovered even when DANE applies: per host
  // the stronger requirement wins (SPEC §3).
  if (sts) f.sts = co_await *sts;
  co_return f;
}

event::Task<Decision> PolicyEngine::decide(DecideRequest request) {
  Decision d =
      evaluate(co_await gather(std::move(request)),
               RuleOptions{m_options.local_ttl, m_options.transient_ttl, m_options.tlsrpt});
  m_log.debug("decision", {{"domain", d.domain},
                           {"action", std::string(to_string(d.action))},
                           {"source", std::string(to_string(d.source))}});
  co_return d;
}

std::size_t PolicyEngine::active() const noexcept { return m_active + m_dane.active(); }

}  // namespace tlspolicy::policy
