// SPDX-License-Identifier: Apache-2.0
//
// policy::PolicyEngine: the decision of SPEC §3, in its order of evaluation:
// local policy and the MTA-STS exception list, MX lookup with DNSSEC state,
// DANE, MTA-STS, REQUIRETLS, otherwise opportunistic.
// docs/decision-rules.md lists every rule with its RFC section.
#pragma once

#include <atomic>
#include <optional>
#include <string>
#include <vector>

#include "tlspolicy/dane/dane.hpp"
#include "tlspolicy/dns/name.hpp"
#include "tlspolicy/dns/resolver.hpp"
#include "tlspolicy/policy/decision.hpp"
#include "tlspolicy/policy/local_rule.hpp"
#include "tlspolicy/policy/rules.hpp"
#include "tlspolicy/sts/discovery.hpp"
#include "tlspolicy/util/clock.hpp"
#include "tlspolicy/util/log.hpp"

namespace tlspolicy::policy {

struct DecideRequest {
  dns::DomainName domain;
  bool requiretls = false;  ///< the message carries REQUIRETLS (RFC 8689)
};

struct EngineOptions {
  std::vector<LocalRule> local_policies;  ///< the [[policy]] tables
  std::vector<std::string> sts_exclude;   ///< normalised domains
  /// RFC 8460 §3: look up the domain's TLSRPT record (Decision::tlsrpt) and
  /// describe the failures met as TLS-RPT results (Decision::tlsrpt_results).
  bool tlsrpt = false;
  /// TTL of a decision a local [[policy]] makes alone.
  std::chrono::seconds local_ttl{300};
  /// SPEC §3: the longest a decision resting on a transient failure lives
  /// (mta_sts.retry_interval).
  std::chrono::seconds transient_ttl{300};
  /// MX hosts looked up and used at most, by preference (limits.max_mx_hosts).
  std::size_t max_mx_hosts = 10;
};

class PolicyEngine {
 public:
  /// Keeps references: every argument must outlive this object, and this object every
  /// decision it started (active() == 0).
  PolicyEngine(dns::Resolver& resolver, dane::DaneLookup& dane, sts::StsDiscovery& sts,
               const util::Clock& clock, util::Logger log, EngineOptions options);

  /// Always ends in a decision: infrastructure failures become `defer`,
  /// never a downgrade. A coroutine on the engine loop.
  [[nodiscard]] event::Task<Decision> decide(DecideRequest request);

  /// The lookups of SPEC §3, without deciding (decide() = evaluate(gather())).
  [[nodiscard]] event::Task<Facts> gather(DecideRequest request);

  /// Lookups started and not ended (also those a decision no longer waits for).
  [[nodiscard]] std::size_t active() const noexcept;

 private:
  [[nodiscard]] event::Task<TlsRptFacts> lookup_tlsrpt(dns::DomainName domain);

  dns::Resolver& m_resolver;
  dane::DaneLookup& m_dane;
  sts::StsDiscovery& m_sts;
  const util::Clock& m_clock;
  util::Logger m_log;
  EngineOptions m_options;
  std::atomic<std::size_t> m_active{0};
};

/// REQUIRETLS from a recipient address: true when the local part ends in
/// "+requiretls" (SPEC §3).
[[nodiscard]] bool recipient_requests_requiretls(std::string_view recipient);

}  // namespace tlspolicy::policy
