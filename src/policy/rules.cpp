// SPDX-License-Identifier: Apache-2.0
//
// The decision rules of SPEC §3 as a pure function of the facts the engine
// gathered (include/tlspolicy/policy/rules.hpp). Every rule cites its RFC
// section here and in docs/decision-rules.md, whose combination table is
// this file's specification.
//
// DESIGN
//   Each MX host gets a Need (what TLS it requires) or a Skip (why it must not
//   be used). DANE sets the first Need; MTA-STS enforce raises it to PKIX
//   where DANE does not authenticate; REQUIRETLS raises what is left to PKIX
//   against the MX host name when the MX RRset is DNSSEC-secure, or fails.
//   A Need is only ever raised, never lowered: that is "never weaker than
//   either alone". The socketmap reply is then read off the Needs of the
//   hosts the MTA may use (reply_level()).
#include "tlspolicy/policy/rules.hpp"

#include <algorithm>
#include <string>
#include <utility>

#include "tlspolicy/sts/policy.hpp"
#include "tlspolicy/tlsrpt/record.hpp"

namespace tlspolicy::policy {
namespace {

using std::chrono::seconds;

/// What TLS an MX host requires, weakest first.
enum class Need {
  May,      ///< opportunistic TLS (no policy, DANE-5c)
  Encrypt,  ///< TLS mandatory, not authenticated (DANE-5b)
  Pkix,     ///< TLS with a WebPKI certificate (MTA-STS enforce, REQUIRETLS)
  Dane,     ///< TLS authenticated by usable TLSA records (DANE-5a)
};

/// Why an MX host must not be used.
enum class Skip {
  No,
  Transient,  ///< a lookup failed or was bogus (DANE-4): may work later
  Absent,     ///< the host does not exist, has no address, or is no host name
  Policy,     ///< MTA-STS enforce: matches no mx pattern (STS-27)
  Limit,      ///< past limits.max_mx_hosts: not looked up
};

struct HostState {
  Need need = Need::May;
  Skip skip = Skip::No;
  bool from_dane = false;  ///< need (or skip) came from the host's DANE status
};

std::string describe(const Error& e) { return std::string(to_string(e.code)) + ": " + e.detail; }

/// The smallest TTL a decision rests on (SPEC §3: TTL 0 means 0).
class Lifetime {
 public:
  void rests_on(seconds ttl) {
    if (!m_ttl || ttl < *m_ttl) m_ttl = std::max(ttl, seconds{0});
  }
  void rests_on(const std::optional<seconds>& ttl) {
    if (ttl) rests_on(*ttl);
  }
  [[nodiscard]] seconds value() const { return m_ttl.value_or(seconds{0}); }

 private:
  std::optional<seconds> m_ttl;
};

void finish(Decision& d) { d.postfix = socketmap_reply(d); }

// A decision that names no TLS level: defer or bounce.
Decision without_tls(Decision d, Action action, std::string reason, seconds ttl) {
  d.action = action;
  d.verify = Verify::None;
  d.postfix_level = TlsLevel::None;
  d.postfix_match.clear();
  d.servername_hostname = false;
  d.reason = std::move(reason);
  d.ttl = ttl;
  d.explain.push_back("decision: " + std::string(to_string(action)) + " — " + d.reason);
  finish(d);
  return d;
}

// `d` by reference: callers build the reason from `d` in the same call (`defer(std::move(d),
// "..." + d.domain)`), and a by-value parameter may be moved into before that argument is read
// (the order is unspecified; clang-tidy's bugprone-use-after-move).
Decision defer(Decision&& d, std::string reason) {
  // Temporary failures are not kept: TTL 0.
  return without_tls(std::move(d), Action::Defer, std::move(reason), seconds{0});
}

Decision bounce(Decision&& d, std::string reason, seconds ttl) {
  return without_tls(std::move(d), Action::Bounce, std::move(reason), ttl);
}

// ------------------------------------------------------------ local policy

bool is_opportunistic(const LocalRule& local) { return local.action == LocalAction::Opportunistic; }

Verify local_verify(const LocalRule& local) {
  return is_opportunistic(local) ? Verify::None : local.verify;
}

/// Step 1 (SPEC §3): the local policy's own requirement on `d`.
void set_local_level(Decision& d, const LocalRule& local) {
  d.source = Source::Local;
  d.verify = local_verify(local);
  d.servername_hostname = false;
  d.postfix_match.clear();
  if (is_opportunistic(local)) {
    d.action = Action::Opportunistic;
    d.postfix_level = TlsLevel::May;
    return;
  }
  d.action = Action::RequireTls;
  switch (d.verify) {
    case Verify::Dane:
      d.postfix_level = TlsLevel::DaneOnly;
      break;
    case Verify::Pkix:
      d.postfix_level = TlsLevel::Secure;
      d.postfix_match = local.match;
      break;
    case Verify::None:
      d.postfix_level = TlsLevel::Encrypt;
      break;
  }
}

Decision apply_local(Decision d, const LocalRule& local, seconds ttl) {
  set_local_level(d, local);
  d.ttl = ttl;
  d.reason = is_opportunistic(local) ? "local policy: opportunistic TLS for " + d.domain
                                     : "local policy: TLS required for " + d.domain + " (verify " +
                                           std::string(to_string(d.verify)) + ")";
  d.explain.push_back("step 1: local [[policy]] for " + d.domain + " decides (SPEC §3 step 1)");
  finish(d);
  return d;
}

// RFC 8689 §4.2.1 (RT-8): a local policy never satisfies REQUIRETLS; the
// lookups decided whether it can be. When they say it can, an authenticated
// local policy (verify dane or pkix, the operator's own choice of how)
// stands; a weaker one gives way to what the lookups require.
Decision with_local(Decision d, const LocalRule& local) {
  if (d.action == Action::Defer || d.action == Action::Bounce) {
    d.explain.emplace_back("step 5: the local [[policy]] cannot satisfy REQUIRETLS (RT-8)");
    return d;
  }
  const Verify verify = local_verify(local);
  if (is_opportunistic(local) || verify == Verify::None) {
    d.explain.emplace_back(
        "step 5: the local [[policy]] is weaker than REQUIRETLS needs; the lookups' requirement "
        "applies (RT-8)");
    return d;
  }
  set_local_level(d, local);
  for (auto& host : d.mx) host.verify = host.allowed ? verify : Verify::None;
  d.reason = "local policy: TLS required for " + d.domain + " (verify " +
             std::string(to_string(verify)) + "); REQUIRETLS can be satisfied";
  d.explain.emplace_back(
      "step 5: REQUIRETLS satisfiable; the authenticated local [[policy]] applies");
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

bool is_dns_error(Errc code) {
  return code == Errc::DnsTimeout || code == Errc::DnsServfail || code == Errc::DnsRefused ||
         code == Errc::DnsNetwork || code == Errc::DnsMalformed;
}

// ------------------------------------------------------------ the evaluation

class Evaluation {
 public:
  Evaluation(Decision d, const Facts& f, const RuleOptions& o)
      : m_d(std::move(d)), m_f(f), m_o(o) {}

  Decision run() {
    if (auto early = mx_step()) return std::move(*early);
    dane_step();
    auto early = sts_step();
    if (!early) early = usable_step();
    if (!early) early = requiretls_step();
    return early ? std::move(*early) : reply();
  }

 private:
  // Step 2: MX lookup with its DNSSEC state (RFC 5321 §5.1, RFC 7672 §2.2.1).
  std::optional<Decision> mx_step() {
    auto& d = m_d;
    if (!m_f.mx) return defer(std::move(d), "internal error: no MX lookup was made");
    const auto& mx = *m_f.mx;
    if (!mx) {
      d.failures.push_back(mx.error());
      d.explain.push_back("step 2: MX lookup failed: " + describe(mx.error()));
      // RFC 7672 §2.1.1 / RFC 5321 §5.1: the server list is unknown → delay.
      return defer(std::move(d), "MX lookup for " + d.domain + " failed (" +
                                     std::string(to_string(mx.error().code)) +
                                     "); try again later");
    }
    d.dnssec = mx->security;
    tlsrpt_facts();
    d.explain.push_back("step 2: MX " + d.domain + ": " + std::string(dns::to_string(mx->outcome)) +
                        ", " + std::string(dns::to_string(mx->security)) + ", ttl " +
                        std::to_string(mx->ttl.count()) + "s");
    if (mx->security == dns::Security::Bogus || mx->security == dns::Security::Indeterminate) {
      // RFC 7672 §2.1.1 (DANE-4): a bogus or indeterminate MX RRset is a
      // lookup error; never downgrade. RFC 8460 §4.3.2: dnssec-invalid.
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
      return bounce(std::move(d), d.domain + " does not exist (NXDOMAIN); RFC 5321 §5.1", mx->ttl);
    }
    if (is_null_mx(*mx)) {
      // RFC 7505 §3, §4.1 (DANE-20): null MX → fail at once, 5.1.10.
      return bounce(std::move(d),
                    d.domain + " publishes a null MX: it accepts no mail (RFC 7505, 5.1.10)",
                    mx->ttl);
    }
    if (mx->outcome != dns::Outcome::Data) {
      d.explain.push_back("no MX records: implicit MX " + d.domain + " (RFC 5321 §5.1)");
    }
    m_life.rests_on(mx->ttl);
    m_hosts.resize(m_f.hosts.size());
    for (std::size_t i = 0; i < m_f.hosts.size(); ++i) {
      const auto& h = m_f.hosts[i];
      d.mx.push_back(MxHost{h.host, h.preference, true, Verify::None, {}, {}});
      if (h.beyond_limit) {
        m_hosts[i].skip = Skip::Limit;
        d.explain.push_back("MX " + h.host + ": past limits.max_mx_hosts, not looked up or used");
        continue;
      }
      // An MX target must be a host name (RFC 5321 §5.1, RFC 7505): an IP
      // literal or junk can never be used.
      if (!dns::DomainName::parse(h.host)) {
        m_hosts[i].skip = Skip::Absent;
        d.explain.push_back("MX " + h.host + " is not a host name: unusable (RFC 5321 §5.1)");
      }
    }
    return std::nullopt;
  }

  // RFC 8460 §3 (RPT-1, RPT-2): the domain's TLSRPT record. A failed lookup
  // only means no rua in the decision, which then rests on that failure.
  void tlsrpt_facts() {
    if (!m_f.tlsrpt) return;
    const auto& t = *m_f.tlsrpt;
    m_d.tlsrpt = t.info;
    if (!t.trail.empty()) m_d.explain.push_back(t.trail);
    if (t.lookup_failed) {
      m_transient = true;
    } else {
      m_life.rests_on(t.ttl);
    }
  }

  // Step 3: DANE (RFC 7672), only behind a secure MX RRset (§2.2.1, DANE-6;
  // the implicit MX of a secure domain counts, DANE-8). Per host, in
  // preference order (DANE-7).
  void dane_step() {
    auto& d = m_d;
    if (d.dnssec != dns::Security::Secure) {
      d.explain.emplace_back(
          "step 3: the MX RRset is not DNSSEC-secure: DANE does not apply"
          " (RFC 7672 §2.2.1)");
      return;
    }
    for (std::size_t i = 0; i < d.mx.size(); ++i) {
      auto& host = d.mx[i];
      auto& state = m_hosts[i];
      if (state.skip != Skip::No || !m_f.hosts[i].dane) continue;
      const auto& r = *m_f.hosts[i].dane;
      m_life.rests_on(r.ttl);
      if (r.family_failed) m_transient = true;
      for (const auto& line : r.trail) d.explain.push_back("step 3: " + line);
      d.explain.push_back(
          "step 3: MX " + host.host + ": " + std::string(dane::to_string(r.status)) +
          (r.tlsa_base_domain.empty() ? "" : ", TLSA base domain " + r.tlsa_base_domain));
      switch (r.status) {
        case dane::HostStatus::Authenticated:  // DANE-5a
          state.need = Need::Dane;
          state.from_dane = true;
          host.tlsa = r.tlsa;
          host.tlsa_base_domain = r.tlsa_base_domain;
          break;
        case dane::HostStatus::Unauthenticated:  // DANE-5b: TLS mandatory, not authenticated
          state.need = Need::Encrypt;
          state.from_dane = true;
          // RFC 8460 §4.3.2: no record of the RRset is usable: tlsa-invalid.
          report_failure(d, tlsa_key(r.tlsa_base_domain, r.published),
                         tlsrpt::ResultType::TlsaInvalid, host.host,
                         "no usable TLSA record at the TLSA base domain");
          host.tlsa = r.published;
          host.tlsa_base_domain = r.tlsa_base_domain;
          break;
        case dane::HostStatus::NoDane:  // DANE-5c
          break;
        case dane::HostStatus::Unusable:  // DANE-4, DANE-5d: unreachable
          state.skip = Skip::Transient;
          state.from_dane = true;
          m_transient = true;
          // RFC 8460 §4.3.2: a bogus answer is dnssec-invalid; transient
          // lookup failures need not be reported (§4.3.4).
          if (r.dnssec_bogus) {
            report_failure(d, tlsa_key(host.host, {}), tlsrpt::ResultType::DnssecInvalid, host.host,
                           r.error);
          }
          d.failures.push_back(Error{Errc::DaneHostUnusable, Retry::Transient,
                                     "MX host " + host.host + " is unusable: " + r.error});
          break;
        case dane::HostStatus::Absent:  // a definitive answer: nothing to retry
          state.skip = Skip::Absent;
          break;
      }
    }
  }

  // Step 4: MTA-STS (RFC 8461), consulted even when DANE applies: per host
  // the stronger requirement wins (SPEC §3, DANE-21).
  std::optional<Decision> sts_step() {
    auto& d = m_d;
    if (m_f.sts_excluded) {
      d.explain.push_back("step 4: " + d.domain + " is in mta_sts.exclude; MTA-STS not consulted");
      return std::nullopt;
    }
    if (!m_f.sts) return std::nullopt;
    const auto& found = *m_f.sts;
    for (const auto& line : found.trail) d.explain.push_back("step 4: " + line);
    const auto& policy = found.policy;
    const cache::CachedPolicy* key_policy = policy ? &*policy : nullptr;
    // RFC 8460 §4.3.2: what discovery met, as TLS-RPT results. A TXT lookup
    // failure matters only when no cached policy stands in (SPEC §3).
    for (const auto& e : found.failures) {
      const auto type = sts_result_type(e.code);
      if (type && !(is_dns_error(e.code) && policy)) {
        report_failure(d, sts_key(d.domain, key_policy), *type, "", describe(e));
      }
      // A policy that could not be obtained: the decision is re-made soon.
      if (type) m_transient = true;
      if (type && !policy) m_sts_unknown = true;
      d.failures.push_back(e);
    }
    if (found.txt_bogus) {
      report_failure(d, sts_key(d.domain, key_policy), tlsrpt::ResultType::DnssecInvalid, "",
                     "_mta-sts TXT answer bogus");
    }
    if (found.indeterminate) {
      sync_hosts();
      // SPEC §3: a bogus TXT answer or an unreadable store with no policy to
      // apply: whether a policy applies is unknown. Never downgrade.
      return defer(std::move(d), found.indeterminate_reason + "; try again later");
    }
    if (!policy) return std::nullopt;
    d.mta_sts =
        StsInfo{policy->id,         policy->policy.mode, policy->policy.mx, policy->policy.max_age,
                policy->fetched_at, policy->expires_at,  found.from_cache,  policy->policy_text};
    // The decision lives no longer than the policy (max_age 0: not at all)
    // and no longer than the TXT id may be trusted.
    m_life.rests_on(seconds{(policy->expires_at - m_f.now).count()});
    m_life.rests_on(found.txt_ttl);
    m_mode = policy->policy.mode;
    if (m_mode != sts::StsMode::Enforce) return std::nullopt;
    // RFC 8461 §4.1 (STS-25), §5 (STS-27): only MX hosts matching a pattern
    // may be used, each with a certificate valid for its name. DANE
    // authentication stands (RFC 8461 §2); anything weaker is raised to PKIX.
    for (std::size_t i = 0; i < d.mx.size(); ++i) {
      const auto& host = d.mx[i];
      auto& state = m_hosts[i];
      const bool match = sts::mx_matches_any(policy->policy.mx, host.host);
      d.explain.push_back("step 4: MX " + host.host + (match ? " matches" : " matches no") +
                          " policy pattern");
      if (state.skip != Skip::No) continue;
      if (!match) {
        state.skip = Skip::Policy;
      } else if (state.need != Need::Dane) {
        if (state.need == Need::Encrypt) {
          d.explain.push_back("step 4: MX " + host.host +
                              ": its TLSA records are all unusable; MTA-STS enforce requires PKIX"
                              " (RFC 8461 §5, DANE-21)");
        }
        state.need = Need::Pkix;
        state.from_dane = false;
      }
    }
    return std::nullopt;
  }

  // The per-host JSON fields (allowed, verify) from the host states.
  void sync_hosts() {
    for (std::size_t i = 0; i < m_hosts.size(); ++i) {
      const auto& state = m_hosts[i];
      auto& host = m_d.mx[i];
      host.allowed = state.skip == Skip::No;
      host.verify = !host.allowed              ? Verify::None
                    : state.need == Need::Dane ? Verify::Dane
                    : state.need == Need::Pkix ? Verify::Pkix
                                               : Verify::None;
    }
  }

  [[nodiscard]] bool any_host(Skip skip) const {
    return std::any_of(m_hosts.begin(), m_hosts.end(),
                       [skip](const HostState& h) { return h.skip == skip; });
  }
  [[nodiscard]] bool dane_involved() const {
    return std::any_of(m_hosts.begin(), m_hosts.end(),
                       [](const HostState& h) { return h.from_dane; });
  }

  // Every host unusable: defer, unless no host can ever be used.
  std::optional<Decision> usable_step() {
    auto& d = m_d;
    sync_hosts();
    if (any_host(Skip::No)) return std::nullopt;
    const bool enforce = m_mode == sts::StsMode::Enforce;
    if (any_host(Skip::Transient) || any_host(Skip::Policy) || any_host(Skip::Limit)) {
      // RFC 7672 §2.2 (DANE-4, DANE-5d): every host unusable → delay. RFC 8461
      // §5.1 (STS-30): never fail permanently on STS before re-checking the id.
      d.source = dane_involved() ? Source::Dane : (enforce ? Source::MtaSts : Source::None);
      return defer(std::move(d), any_host(Skip::Policy)
                                     ? "no MX host of " + d.domain +
                                           " is both usable and allowed by its MTA-STS policy"
                                     : "no MX host of " + d.domain + " is usable");
    }
    // SPEC §3 step 3: MX targets that do not exist are not a transient
    // failure. The MTA finds no host either and returns the message (5.4.4);
    // Postfix does that itself on NOTFOUND.
    return bounce(std::move(d),
                  "no MX host of " + d.domain +
                      " exists or has an address (RFC 5321 §5.1; the MTA reports 5.4.4)",
                  ttl());
  }

  // Step 5: REQUIRETLS (RFC 8689 §4.2.1, RT-3, RT-8), after every other
  // source: satisfiable only when every host the MTA may use is
  // authenticated; a DNSSEC-secure MX lets PKIX against the MX host name
  // authenticate the hosts nothing else does.
  std::optional<Decision> requiretls_step() {
    auto& d = m_d;
    if (!m_f.requiretls) return std::nullopt;
    bool unsatisfied = false;
    for (std::size_t i = 0; i < m_hosts.size(); ++i) {
      auto& state = m_hosts[i];
      if (state.skip != Skip::No || state.need == Need::Pkix || state.need == Need::Dane) continue;
      if (d.dnssec == dns::Security::Secure) {
        state.need = Need::Pkix;
        state.from_dane = false;
        m_requiretls_raised = true;
        d.explain.push_back("step 5: MX " + d.mx[i].host +
                            ": REQUIRETLS over a DNSSEC-secure MX: PKIX against the MX host name");
      } else {
        unsatisfied = true;
      }
    }
    d.requiretls.satisfiable = !unsatisfied;
    sync_hosts();
    if (unsatisfied) {
      d.source = Source::RequireTls;
      if (m_sts_unknown) {
        // SPEC §3 step 5: a bounce caused by a transient failure is a defer:
        // the policy that could not be obtained may well satisfy it.
        d.explain.emplace_back("step 5: REQUIRETLS not satisfiable without the MTA-STS policy");
        return defer(std::move(d), "REQUIRETLS requested but the MTA-STS policy of " + d.domain +
                                       " could not be obtained; try again later");
      }
      d.explain.emplace_back("step 5: REQUIRETLS not satisfiable — bounce");
      return bounce(std::move(d),
                    "REQUIRETLS requested but " + d.domain +
                        " offers no authenticated TLS path (RFC 8689 §4.2.1, 5.7.30)",
                    ttl());
    }
    d.requiretls.peer_must_advertise = true;  // RT-1, RT-3 (5)
    d.explain.emplace_back("step 5: REQUIRETLS satisfiable; the peer must advertise REQUIRETLS");
    return std::nullopt;
  }

  // The reply: the per-host Needs of the hosts the MTA may use, in Postfix's
  // one level per destination, never weaker (SPEC §3 step 4).
  Decision reply() {
    auto& d = m_d;
    sync_hosts();
    std::size_t n_dane = 0;
    std::size_t n_pkix = 0;
    std::size_t n_encrypt = 0;
    std::size_t n_may = 0;
    for (const auto& state : m_hosts) {
      if (state.skip != Skip::No) continue;
      switch (state.need) {
        case Need::Dane:
          ++n_dane;
          break;
        case Need::Pkix:
          ++n_pkix;
          break;
        case Need::Encrypt:
          ++n_encrypt;
          break;
        case Need::May:
          ++n_may;
          break;
      }
    }
    const bool enforce = m_mode == sts::StsMode::Enforce;
    const bool dane_failed_host = std::any_of(m_hosts.begin(), m_hosts.end(), [](const auto& h) {
      return h.skip == Skip::Transient && h.from_dane;
    });
    if (n_dane > 0 && n_pkix + n_encrypt + n_may == 0) {
      // RFC 7672 §2.2 (DANE-5a): every usable host DANE-authenticated.
      d.source = Source::Dane;
      d.action = Action::RequireTls;
      d.verify = Verify::Dane;
      d.postfix_level = TlsLevel::DaneOnly;
      d.reason = "DANE: every usable MX host of " + d.domain + " has usable TLSA records";
    } else if (n_dane > 0 && n_pkix > 0) {
      // Some hosts DANE, the others PKIX (MTA-STS enforce or REQUIRETLS):
      // Postfix has one level per destination; dane-only uses the DANE hosts
      // and skips the others — stronger than required, never weaker.
      d.source = Source::Dane;
      d.action = Action::RequireTls;
      d.verify = Verify::Dane;
      d.postfix_level = TlsLevel::DaneOnly;
      d.reason = "DANE authenticates some MX hosts of " + d.domain + ", PKIX (" +
                 (enforce ? "MTA-STS enforce" : "REQUIRETLS over a secure MX") +
                 ") the others; the socketmap reply (dane-only) uses only the DANE hosts";
    } else if (n_pkix > 0) {
      // Every usable host PKIX: MTA-STS enforce (RFC 8461 §4.2, §5), or
      // REQUIRETLS over a DNSSEC-secure MX (RFC 8689 §4.2.1 (4)).
      d.action = Action::RequireTls;
      d.verify = Verify::Pkix;
      d.postfix_level = TlsLevel::Secure;
      d.servername_hostname = true;
      if (enforce) {
        d.source = Source::MtaSts;
        for (const auto& p : d.mta_sts->mx) d.postfix_match.push_back(postfix_match_name(p));
        d.reason = "MTA-STS policy of " + d.domain +
                   " is enforce: TLS with a valid certificate for a matching MX host is required";
      } else {
        d.source = Source::RequireTls;
        d.postfix_match = {"hostname"};
        d.reason =
            "REQUIRETLS: DNSSEC-secure MX, TLS with a certificate for the MX host name required";
      }
    } else if (n_dane + n_encrypt > 0 || dane_failed_host) {
      // RFC 7672 §2.2: DANE on some hosts; Postfix's "dane" applies each
      // host's own TLSA (DANE-5a/b/c) and, looking TLSA up itself, skips a
      // host whose TLSA lookup fails (DANE-4).
      d.source = Source::Dane;
      d.action = n_may == 0 ? Action::RequireTls : Action::Opportunistic;
      d.verify = n_dane > 0 ? Verify::Dane : Verify::None;
      d.postfix_level = TlsLevel::Dane;
      d.reason =
          n_dane > 0 && n_may == 0
              ? "DANE: every usable MX host of " + d.domain +
                    " has TLSA records, not all usable; TLS is mandatory (RFC 7672 §2.2)"
          : n_dane > 0 ? "DANE: some MX hosts of " + d.domain +
                             " have usable TLSA records; the others get opportunistic TLS"
          : n_may == 0 ? "DANE: the TLSA records of " + d.domain +
                             " are all unusable; TLS is mandatory but unauthenticated (RFC 7672 "
                             "§2.2)"
          : n_encrypt > 0 ? "DANE: some MX hosts of " + d.domain +
                                " have only unusable TLSA records (TLS mandatory), the others none"
                          : "DANE: the TLSA lookup of some MX hosts of " + d.domain +
                                " failed; they must not be used (RFC 7672 §2.1.1), the others get "
                                "opportunistic TLS";
    } else if (m_mode == sts::StsMode::Testing) {
      // RFC 8461 §5 (STS-28): testing → deliver as usual, report failures.
      d.source = Source::MtaSts;
      d.action = Action::Opportunistic;
      d.reason =
          "MTA-STS policy of " + d.domain + " is testing: opportunistic TLS, failures reported";
    } else {
      // RFC 8461 §5 (STS-29): mode none, or no policy → no MTA-STS.
      d.source = Source::None;
      d.action = Action::Opportunistic;
      if (d.mta_sts) {
        d.reason = "MTA-STS policy of " + d.domain + " is none: opportunistic TLS";
      } else if (m_sts_unknown) {
        // RFC 8461 §3.3 (STS-17): no policy could be obtained and none is
        // cached: deliver as if the domain had no MTA-STS policy.
        d.reason = "the MTA-STS policy of " + d.domain + " could not be obtained (" +
                   std::string(to_string(last_sts_failure())) +
                   "): opportunistic TLS (RFC 8461 §3.3)";
      } else {
        d.reason = "no TLS policy for " + d.domain + ": opportunistic TLS";
      }
    }
    if (m_requiretls_raised && d.source != Source::Dane) d.source = Source::RequireTls;
    d.ttl = ttl();
    d.explain.push_back("decision: " + std::string(to_string(d.action)) + " — " + d.reason);
    finish(d);
    return std::move(d);
  }

  // SPEC §3: no longer than the smallest TTL the decision rests on, and no
  // longer than retry_interval when it rests on a transient failure.
  [[nodiscard]] seconds ttl() const {
    return m_transient ? std::min(m_life.value(), m_o.transient_ttl) : m_life.value();
  }

  [[nodiscard]] Errc last_sts_failure() const {
    for (auto it = m_d.failures.rbegin(); it != m_d.failures.rend(); ++it) {
      if (sts_result_type(it->code)) return it->code;
    }
    return Errc::FetchOther;
  }

  Decision m_d;
  const Facts& m_f;
  const RuleOptions& m_o;
  std::vector<HostState> m_hosts;
  Lifetime m_life;
  bool m_transient = false;    ///< the decision rests on a transient failure
  bool m_sts_unknown = false;  ///< a policy was announced or looked for but not obtained
  bool m_requiretls_raised = false;
  sts::StsMode m_mode = sts::StsMode::None;  ///< the applied policy's mode (None: no policy)
};

}  // namespace

std::vector<HostFacts> mx_hosts(const dns::DnsAnswer& mx, std::string_view domain) {
  std::vector<HostFacts> out;
  if (mx.outcome == dns::Outcome::NxDomain || is_null_mx(mx)) return out;
  if (mx.outcome != dns::Outcome::Data) {
    out.push_back(HostFacts{std::string(domain), 0, std::nullopt});
    return out;
  }
  for (const auto& rr : mx.mx) out.push_back(HostFacts{rr.exchange, rr.preference, std::nullopt});
  // RFC 5321 §5.1, RFC 7672 §2.2.1 (DANE-7): preference order is kept.
  std::stable_sort(out.begin(), out.end(), [](const HostFacts& a, const HostFacts& b) {
    return a.preference < b.preference;
  });
  return out;
}

bool is_null_mx(const dns::DnsAnswer& mx) noexcept {
  return mx.outcome == dns::Outcome::Data && mx.mx.size() == 1 && mx.mx.front().exchange.empty();
}

Decision evaluate(const Facts& facts, const RuleOptions& options) {
  Decision d;
  d.domain = facts.domain;
  d.requiretls.requested = facts.requiretls;
  d.decided_at = facts.now;
  // Step 1 (SPEC §3): a local override decides alone, unless the message
  // requests REQUIRETLS, which only the lookups can satisfy (RT-8).
  if (facts.local && !facts.requiretls) {
    return apply_local(std::move(d), *facts.local, options.local_ttl);
  }
  if (facts.local) {
    d.explain.push_back("step 1: local [[policy]] for " + d.domain +
                        "; REQUIRETLS requested, so the lookups decide whether it can be "
                        "satisfied (RFC 8689 §4.2.1, RT-8)");
  }
  Decision out = Evaluation{std::move(d), facts, options}.run();
  return facts.local ? with_local(std::move(out), *facts.local) : out;
}

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

}  // namespace tlspolicy::policy
