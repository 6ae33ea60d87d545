// SPDX-License-Identifier: Apache-2.0
//
// The decision engine: SPEC §3's order of evaluation. Every rule cites its
// RFC section here and in docs/decision-rules.md. Infrastructure failures
// become `defer` (never a downgrade to plaintext); a failed MTA-STS
// discovery falls back as RFC 8461 §3.3 says.
#include "tlspolicy/policy/engine.hpp"

#include <algorithm>
#include <string>
#include <utility>

#include "tlspolicy/sts/policy.hpp"
#include "tlspolicy/tlsrpt/record.hpp"

namespace tlspolicy::policy {
namespace {

using std::chrono::seconds;

// How long a caller may reuse a decision built on nothing but DNS data that
// had no TTL (negative answers without SOA): short, so changes are seen soon.
constexpr seconds k_default_ttl{300};

std::string describe(const Error& e) { return std::string(to_string(e.code)) + ": " + e.detail; }

void finish(Decision& d) { d.postfix = socketmap_reply(d); }

Decision defer(Decision d, std::string reason) {
  d.action = Action::Defer;
  d.verify = Verify::None;
  d.reason = std::move(reason);
  d.ttl = seconds{0};  // temporary failures are not cached
  d.explain.push_back("decision: defer — " + d.reason);
  finish(d);
  return d;
}

const config::LocalPolicy* find_local(const std::vector<config::LocalPolicy>& policies,
                                      const std::string& domain) {
  const auto it = std::find_if(policies.begin(), policies.end(),
                               [&](const config::LocalPolicy& p) { return p.domain == domain; });
  return it == policies.end() ? nullptr : &*it;
}

Decision apply_local(Decision d, const config::LocalPolicy& local) {
  d.source = Source::Local;
  d.ttl = k_default_ttl;
  if (local.action == "opportunistic") {
    d.action = Action::Opportunistic;
    d.verify = Verify::None;
    d.postfix_level = TlsLevel::May;
    d.reason = "local policy: opportunistic TLS for " + d.domain;
  } else {
    d.action = Action::RequireTls;
    if (local.verify == "dane") {
      d.verify = Verify::Dane;
      d.postfix_level = TlsLevel::DaneOnly;
    } else if (local.verify == "pkix") {
      d.verify = Verify::Pkix;
      d.postfix_level = TlsLevel::Secure;
      d.postfix_match = local.match;
    } else {
      d.verify = Verify::None;
      d.postfix_level = TlsLevel::Encrypt;
    }
    d.reason = "local policy: TLS required for " + d.domain + " (verify " +
               std::string(to_string(d.verify)) + ")";
  }
  d.explain.push_back("step 1: local [[policy]] for " + d.domain + " decides (SPEC §3 step 1)");
  finish(d);
  return d;
}

// ------------------------------------------------------------ TLS-RPT results

tlsrpt::PolicyKey sts_key(const std::string& domain, const cache::CachedPolicy* policy) {
  tlsrpt::PolicyKey k{tlsrpt::PolicyType::Sts, domain, {}, {}};
  if (policy != nullptr) {
    k.policy_strings = sts::policy_lines(policy->policy_text);
    k.mx_hosts = policy->policy.mx;
  }
  return k;
}

tlsrpt::PolicyKey tlsa_key(const std::string& policy_domain,
                           const std::vector<dns::TlsaRecord>& records) {
  tlsrpt::PolicyKey k{tlsrpt::PolicyType::Tlsa, policy_domain, {}, {}};
  for (const auto& r : records) k.policy_strings.push_back(tlsa_policy_string(r));
  return k;
}

// One failed session's worth of result: the engine met `type` for `key`.
void report_failure(Decision& d, tlsrpt::PolicyKey key, tlsrpt::ResultType type,
                    std::string mx_host, std::string info) {
  tlsrpt::PolicyResult r;
  r.policy = std::move(key);
  r.failures = 1;
  tlsrpt::FailureDetail detail;
  detail.result_type = type;
  detail.receiving_mx_hostname = std::move(mx_host);
  detail.additional_information = std::move(info);
  r.details.push_back(std::move(detail));
  d.tlsrpt_results.push_back(std::move(r));
}

// What DANE said over the usable MX hosts (SPEC §4 aggregation).
struct DaneSummary {
  bool applies = false;                   ///< some usable host has a secure TLSA RRset
  bool any_authenticated = false;         ///< some host has usable TLSA
  bool every_host_authenticated = false;  ///< every usable host has usable TLSA
  bool every_host_has_tlsa = false;       ///< every usable host has secure TLSA (usable or not)
};

// RFC 7672 §2.2: per MX host, in preference order (DANE-7), the DANE status;
// only behind a secure MX RRset (§2.2.1, DANE-6). Unusable hosts (lookup
// failed, bogus) are not allowed: the MTA treats them as unreachable (DANE-4).
DaneSummary apply_dane(const dane::DaneLookup& lookup, Decision& d) {
  DaneSummary out;
  if (d.dnssec != dns::Security::Secure) {
    d.explain.push_back(
        "step 3: the MX RRset is not DNSSEC-secure: DANE does not apply"
        " (RFC 7672 §2.2.1)");
    return out;
  }
  std::size_t usable = 0;
  std::size_t with_tlsa = 0;
  std::size_t authenticated = 0;
  for (auto& host : d.mx) {
    if (!host.allowed) continue;
    auto r = lookup.lookup_host(host.host);
    // The decision is reused no longer than the DANE data it rests on.
    if (r.ttl.count() > 0) d.ttl = std::min(d.ttl, r.ttl);
    for (const auto& line : r.trail) d.explain.push_back("step 3: " + line);
    d.explain.push_back(
        "step 3: MX " + host.host + ": " + std::string(dane::to_string(r.status)) +
        (r.tlsa_base_domain.empty() ? "" : ", TLSA base domain " + r.tlsa_base_domain));
    switch (r.status) {
      case dane::HostStatus::Authenticated:
        host.verify = Verify::Dane;
        host.tlsa = std::move(r.tlsa);
        host.tlsa_base_domain = r.tlsa_base_domain;
        ++usable;
        ++with_tlsa;
        ++authenticated;
        break;
      case dane::HostStatus::Unauthenticated:
        host.verify = Verify::None;  // TLS mandatory, not authenticated (DANE-5b)
        // RFC 8460 §4.3.2: no record of the RRset is usable: tlsa-invalid.
        report_failure(d, tlsa_key(r.tlsa_base_domain, r.published),
                       tlsrpt::ResultType::TlsaInvalid, host.host,
                       "no usable TLSA record at the TLSA base domain");
        host.tlsa = std::move(r.published);
        host.tlsa_base_domain = r.tlsa_base_domain;
        ++usable;
        ++with_tlsa;
        break;
      case dane::HostStatus::NoDane:
        ++usable;
        break;
      case dane::HostStatus::Unusable:
        host.allowed = false;
        // RFC 8460 §4.3.2: a bogus answer is dnssec-invalid; transient
        // lookup failures need not be reported (§4.3.4).
        if (r.dnssec_bogus) {
          report_failure(d, tlsa_key(host.host, {}), tlsrpt::ResultType::DnssecInvalid, host.host,
                         r.error);
        }
        d.failures.push_back(Error{Errc::DaneHostUnusable, Retry::Transient,
                                   "MX host " + host.host + " is unusable: " + r.error});
        break;
    }
  }
  out.applies = with_tlsa > 0;
  out.any_authenticated = authenticated > 0;
  out.every_host_authenticated = usable > 0 && authenticated == usable;
  out.every_host_has_tlsa = usable > 0 && with_tlsa == usable;
  return out;
}

// RFC 8460 §3 (RPT-1, RPT-2): the domain's TLSRPT record, if it has exactly
// one valid one. Lookup failures only mean no rua in the decision: reports
// look the record up again when they are sent.
void lookup_tlsrpt(const dns::Resolver& resolver, const dns::DomainName& domain, Decision& d) {
  auto tls = domain.prefixed("_tls");
  auto qname = tls ? tls->prefixed("_smtp") : std::move(tls);
  if (!qname) return;
  const auto answer = resolver.lookup(*qname, dns::RrType::Txt);
  if (!answer || answer->outcome != dns::Outcome::Data ||
      answer->security == dns::Security::Bogus) {
    return;
  }
  std::vector<std::string> texts;
  for (const auto& rr : answer->txt) texts.push_back(rr.joined());
  const auto record = tlsrpt::select_tlsrpt_record(texts);
  if (!record || !*record) return;
  TlsRptInfo info;
  for (const auto& target : (*record)->rua) {
    // A mailto: URI naming several mailboxes is one target per mailbox.
    if (std::find(info.rua.begin(), info.rua.end(), target.uri) == info.rua.end()) {
      info.rua.push_back(target.uri);
    }
  }
  d.tlsrpt = std::move(info);
  d.explain.push_back("TLS-RPT: " + qname->str() + " names " +
                      std::to_string(d.tlsrpt->rua.size()) + " report URI(s) (RFC 8460 §3)");
}

}  // namespace

std::optional<tlsrpt::ResultType> sts_result_type(Errc code) noexcept {
  switch (code) {
    case Errc::FetchTls:
      return tlsrpt::ResultType::StsWebpkiInvalid;
    case Errc::StsPolicySyntax:
    case Errc::FetchContentType:
      return tlsrpt::ResultType::StsPolicyInvalid;
    case Errc::FetchConnect:
    case Errc::FetchTimeout:
    case Errc::FetchStatus:
    case Errc::FetchRedirect:
    case Errc::FetchTooLarge:
    case Errc::FetchPrivateAddress:
    case Errc::FetchOther:
    case Errc::DnsTimeout:
    case Errc::DnsServfail:
    case Errc::DnsRefused:
    case Errc::DnsNetwork:
    case Errc::DnsMalformed:
      return tlsrpt::ResultType::StsPolicyFetchError;
    default:
      return std::nullopt;
  }
}

std::string tlsa_policy_string(const dns::TlsaRecord& r) {
  static constexpr std::string_view k_hex = "0123456789ABCDEF";
  std::string out = std::to_string(r.usage) + " " + std::to_string(r.selector) + " " +
                    std::to_string(r.mtype) + " ";
  for (const auto b : r.data) {
    out += k_hex[b >> 4U];
    out += k_hex[b & 0xfU];
  }
  return out;
}

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

Decision PolicyEngine::decide(const DecideRequest& request) const {
  Decision d;
  d.domain = request.domain.str();
  d.requiretls.requested = request.requiretls;
  const auto now = m_clock.now();

  // Step 1 (SPEC §3): local overrides win over everything.
  if (const auto* local = find_local(m_options.local_policies, d.domain)) {
    return apply_local(std::move(d), *local);
  }
  const bool sts_excluded = std::find(m_options.sts_exclude.begin(), m_options.sts_exclude.end(),
                                      d.domain) != m_options.sts_exclude.end();

  // Step 2: MX lookup with its DNSSEC state (RFC 5321 §5.1, RFC 7672 §2.2.1).
  const auto mx = m_resolver.lookup(request.domain, dns::RrType::Mx);
  if (!mx) {
    d.failures.push_back(mx.error());
    d.explain.push_back("step 2: MX lookup failed: " + describe(mx.error()));
    // RFC 7672 §2.1.1 / RFC 5321 §5.1: the server list is unknown → delay.
    return defer(std::move(d), "MX lookup for " + d.domain + " failed (" +
                                   std::string(to_string(mx.error().code)) + "); try again later");
  }
  d.dnssec = mx->security;
  // After the MX lookup, so that an unreachable resolver defers after one
  // lookup's time, not two.
  if (m_options.tlsrpt) lookup_tlsrpt(m_resolver, request.domain, d);
  d.explain.push_back("step 2: MX " + d.domain + ": " + std::string(dns::to_string(mx->outcome)) +
                      ", " + std::string(dns::to_string(mx->security)) + ", ttl " +
                      std::to_string(mx->ttl.count()) + "s");
  if (mx->security == dns::Security::Bogus || mx->security == dns::Security::Indeterminate) {
    // RFC 7672 §2.1.1 (DANE-4): a bogus or indeterminate MX RRset is a lookup
    // error; never downgrade. RFC 8460 §4.3.2: dnssec-invalid.
    if (mx->security == dns::Security::Bogus) {
      report_failure(d, {tlsrpt::PolicyType::NoPolicyFound, d.domain, {}, {}},
                     tlsrpt::ResultType::DnssecInvalid, "", "MX answer bogus: " + mx->why);
    }
    return defer(std::move(d), "MX answer for " + d.domain + " is DNSSEC-" +
                                   std::string(dns::to_string(mx->security)) +
                                   (mx->why.empty() ? "" : " (" + mx->why + ")"));
  }
  if (mx->outcome == dns::Outcome::NxDomain) {
    // RFC 5321 §5.1 (DANE-19): a domain that does not exist has no mail
    // exchanger; the MTA bounces (Postfix does so itself: NOTFOUND).
    d.action = Action::Bounce;
    d.reason = d.domain + " does not exist (NXDOMAIN); RFC 5321 §5.1";
    d.ttl = mx->ttl.count() > 0 ? mx->ttl : k_default_ttl;
    d.explain.push_back("decision: bounce — " + d.reason);
    finish(d);
    return d;
  }
  if (mx->outcome == dns::Outcome::Data) {
    if (mx->mx.size() == 1 && mx->mx.front().exchange.empty()) {
      // RFC 7505 §3, §4.1 (DANE-20): null MX → fail at once, 5.1.10.
      d.action = Action::Bounce;
      d.reason = d.domain + " publishes a null MX: it accepts no mail (RFC 7505, 5.1.10)";
      d.ttl = mx->ttl;
      d.explain.push_back("decision: bounce — " + d.reason);
      finish(d);
      return d;
    }
    for (const auto& rr : mx->mx)
      d.mx.push_back(MxHost{rr.exchange, rr.preference, true, Verify::None, {}, {}});
    // RFC 5321 §5.1, RFC 7672 §2.2.1 (DANE-7): preference order is kept.
    std::stable_sort(d.mx.begin(), d.mx.end(),
                     [](const MxHost& a, const MxHost& b) { return a.preference < b.preference; });
  } else {
    // RFC 5321 §5.1: no MX records → the implicit MX is the domain itself.
    d.mx.push_back(MxHost{d.domain, 0, true, Verify::None, {}, {}});
    d.explain.push_back("no MX records: implicit MX " + d.domain + " (RFC 5321 §5.1)");
  }
  d.ttl = mx->ttl.count() > 0 ? mx->ttl : k_default_ttl;

  // An MX target must be a host name (RFC 5321 §5.1, RFC 7505): an IP
  // literal or junk is an unusable host.
  for (auto& host : d.mx) {
    if (!dns::DomainName::parse(host.host)) {
      host.allowed = false;
      d.explain.push_back("MX " + host.host + " is not a host name: unusable (RFC 5321 §5.1)");
    }
  }

  // Step 3: DANE (RFC 7672), only behind a secure MX RRset (§2.2.1, DANE-6;
  // the implicit MX of a secure domain counts, DANE-8).
  const DaneSummary dane = apply_dane(m_dane, d);

  // Step 4: MTA-STS (RFC 8461). Discovered even when DANE applies: DANE wins
  // (RFC 8461 §2, STS-32), but MX pattern matching still applies.
  std::optional<cache::CachedPolicy> policy;
  if (sts_excluded) {
    d.explain.push_back("step 4: " + d.domain + " is in mta_sts.exclude; MTA-STS not consulted");
  } else {
    auto found = m_sts.discover(request.domain);
    for (auto& line : found.trail) d.explain.push_back("step 4: " + line);
    policy = std::move(found.policy);
    // RFC 8460 §4.3.2: what discovery met, as TLS-RPT results. A TXT lookup
    // failure matters only when no cached policy stands in (SPEC §3).
    for (const auto& e : found.failures) {
      const auto type = sts_result_type(e.code);
      const bool dns_error = e.code == Errc::DnsTimeout || e.code == Errc::DnsServfail ||
                             e.code == Errc::DnsRefused || e.code == Errc::DnsNetwork ||
                             e.code == Errc::DnsMalformed;
      if (type && !(dns_error && policy)) {
        report_failure(d, sts_key(d.domain, policy ? &*policy : nullptr), *type, "", describe(e));
      }
    }
    if (found.txt_bogus) {
      report_failure(d, sts_key(d.domain, policy ? &*policy : nullptr),
                     tlsrpt::ResultType::DnssecInvalid, "", "_mta-sts TXT answer bogus");
    }
    for (auto& e : found.failures) d.failures.push_back(std::move(e));
    if (found.txt_bogus && !policy) {
      // A bogus answer may be an attacker hiding the policy: never
      // downgrade on it (RFC 4035 §5.5; SPEC §3 defers on bogus data).
      return defer(std::move(d), "the _mta-sts TXT answer of " + d.domain + " is DNSSEC-bogus");
    }
    if (policy) {
      d.mta_sts = StsInfo{
          policy->id,         policy->policy.mode, policy->policy.mx, policy->policy.max_age,
          policy->fetched_at, policy->expires_at,  found.from_cache,  policy->policy_text};
      if (policy->expires_at > now) d.ttl = std::min(d.ttl, seconds{policy->expires_at - now});
      if (found.txt_ttl.count() > 0) d.ttl = std::min(d.ttl, found.txt_ttl);
    }
  }
  const bool enforce = policy && policy->policy.mode == sts::StsMode::Enforce;
  if (enforce) {
    // RFC 8461 §4.1 (STS-25), §5 (STS-27): only MX hosts matching a pattern
    // may be used.
    for (auto& host : d.mx) {
      const bool match = sts::mx_matches_any(policy->policy.mx, host.host);
      d.explain.push_back("step 4: MX " + host.host + (match ? " matches" : " matches no") +
                          " policy pattern");
      if (!match) host.allowed = false;
    }
  }

  if (std::none_of(d.mx.begin(), d.mx.end(), [](const MxHost& h) { return h.allowed; })) {
    // RFC 7672 §2.2 (DANE-4, DANE-5d): every host unusable → delay. RFC 8461
    // §5.1 (STS-30): never fail permanently on STS before re-checking the id.
    d.source = dane.applies ? Source::Dane : (enforce ? Source::MtaSts : Source::None);
    return defer(std::move(d), enforce ? "no MX host of " + d.domain +
                                             " is both usable and allowed by its MTA-STS policy"
                                       : "no MX host of " + d.domain + " is usable");
  }

  if (dane.applies) {
    // RFC 7672 §2.2 (DANE-5), SPEC §4: dane-only when every usable host has
    // usable TLSA; dane when some hosts have TLSA or all are unusable.
    d.source = Source::Dane;
    d.postfix_level = dane.every_host_authenticated ? TlsLevel::DaneOnly : TlsLevel::Dane;
    d.verify = dane.any_authenticated ? Verify::Dane : Verify::None;
    d.action = dane.every_host_has_tlsa ? Action::RequireTls : Action::Opportunistic;
    d.reason = dane.every_host_authenticated
                   ? "DANE: every MX host of " + d.domain + " has usable TLSA records"
               : dane.any_authenticated
                   ? "DANE: some MX hosts of " + d.domain +
                         " have usable TLSA records; the others get opportunistic TLS"
                   : "DANE: the TLSA records of " + d.domain +
                         " are all unusable; TLS is mandatory but unauthenticated (RFC 7672 §2.2)";
  } else if (enforce) {
    d.action = Action::RequireTls;
    d.verify = Verify::Pkix;
    d.source = Source::MtaSts;
    d.postfix_level = TlsLevel::Secure;
    for (auto& host : d.mx) host.verify = host.allowed ? Verify::Pkix : Verify::None;
    for (const auto& p : policy->policy.mx) d.postfix_match.push_back(postfix_match_name(p));
    d.servername_hostname = true;
    d.reason = "MTA-STS policy of " + d.domain +
               " is enforce: TLS with a valid certificate for a matching MX host is required";
  } else if (policy && policy->policy.mode == sts::StsMode::Testing) {
    // RFC 8461 §5 (STS-28): testing → deliver as usual, report failures.
    d.source = Source::MtaSts;
    d.action = Action::Opportunistic;
    d.reason =
        "MTA-STS policy of " + d.domain + " is testing: opportunistic TLS, failures reported";
  } else {
    // RFC 8461 §5 (STS-29): mode none, or no policy → no MTA-STS.
    d.source = Source::None;
    d.action = Action::Opportunistic;
    if (policy) {
      d.reason = "MTA-STS policy of " + d.domain + " is none: opportunistic TLS";
    } else if (!d.failures.empty()) {
      // RFC 8461 §3.3 (STS-17): no policy could be obtained and none is
      // cached: deliver as if the domain had no MTA-STS policy.
      d.reason = "the MTA-STS policy of " + d.domain + " could not be obtained (" +
                 std::string(to_string(d.failures.back().code)) +
                 "): opportunistic TLS (RFC 8461 §3.3)";
    } else {
      d.reason = "no TLS policy for " + d.domain + ": opportunistic TLS";
    }
  }

  // Step 5: REQUIRETLS (RFC 8689 §4.2.1, RT-3): satisfiable with DANE
  // authentication, MTA-STS enforce, or a DNSSEC-secure MX (PKIX against the
  // MX host name). Testing and all-unusable TLSA do not satisfy it (SPEC §3).
  if (request.requiretls) {
    const bool by_dane = dane.applies && dane.any_authenticated;
    const bool by_sts = !dane.applies && enforce;
    const bool by_secure_mx = !dane.applies && d.dnssec == dns::Security::Secure;
    d.requiretls.satisfiable = by_dane || by_sts || by_secure_mx;
    if (!d.requiretls.satisfiable) {
      d.action = Action::Bounce;
      d.source = Source::RequireTls;
      d.reason = "REQUIRETLS requested but " + d.domain +
                 " offers no authenticated TLS path (RFC 8689 §4.2.1, 5.7.30)";
      d.explain.push_back("step 5: REQUIRETLS not satisfiable — bounce");
      finish(d);
      return d;
    }
    d.requiretls.peer_must_advertise = true;
    if (by_secure_mx && !by_sts) {
      d.action = Action::RequireTls;
      d.source = Source::RequireTls;
      d.verify = Verify::Pkix;
      d.postfix_level = TlsLevel::Secure;
      d.servername_hostname = true;
      for (auto& host : d.mx) host.verify = host.allowed ? Verify::Pkix : Verify::None;
      d.reason = "REQUIRETLS: DNSSEC-secure MX, TLS with a certificate for the MX host required";
    } else if (by_dane) {
      d.action = Action::RequireTls;
    }
    d.explain.push_back("step 5: REQUIRETLS satisfiable; the peer must advertise REQUIRETLS");
  }

  d.explain.push_back("decision: " + std::string(to_string(d.action)) + " — " + d.reason);
  m_log.debug("decision", {{"domain", d.domain},
                           {"action", std::string(to_string(d.action))},
                           {"source", std::string(to_string(d.source))}});
  finish(d);
  return d;
}

}  // namespace tlspolicy::policy
