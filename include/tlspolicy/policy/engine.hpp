// SPDX-License-Identifier: Apache-2.0
//
// policy::PolicyEngine: the decision of SPEC §3, in its order of evaluation:
// local policy and the MTA-STS exception list, MX lookup with DNSSEC state,
// DANE, MTA-STS, REQUIRETLS, otherwise opportunistic.
// docs/decision-rules.md lists every rule with its RFC section.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "tlspolicy/config/settings.hpp"
#include "tlspolicy/dane/dane.hpp"
#include "tlspolicy/dns/name.hpp"
#include "tlspolicy/dns/resolver.hpp"
#include "tlspolicy/policy/decision.hpp"
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
  std::vector<config::LocalPolicy> local_policies;
  std::vector<std::string> sts_exclude;  ///< normalised domains
  /// RFC 8460 §3: look up the domain's TLSRPT record (Decision::tlsrpt) and
  /// describe the failures met as TLS-RPT results (Decision::tlsrpt_results).
  bool tlsrpt = false;
  /// TTL of a decision a local [[policy]] makes alone.
  std::chrono::seconds local_ttl{300};
  /// SPEC §3: the longest a decision resting on a transient failure lives
  /// (mta_sts.retry_interval).
  std::chrono::seconds transient_ttl{300};
};

class PolicyEngine {
 public:
  /// Keeps references: every argument must outlive this object.
  PolicyEngine(const dns::Resolver& resolver, const dane::DaneLookup& dane,
               const sts::StsDiscovery& sts, const util::Clock& clock, util::Logger log,
               EngineOptions options);

  /// Always returns a decision: infrastructure failures become `defer`,
  /// never a downgrade. Thread-safe; blocks for DNS and HTTPS.
  [[nodiscard]] Decision decide(const DecideRequest& request) const;

  /// The lookups of SPEC §3, without deciding (decide() = evaluate(gather())).
  [[nodiscard]] Facts gather(const DecideRequest& request) const;

 private:
  const dns::Resolver& m_resolver;
  const dane::DaneLookup& m_dane;
  const sts::StsDiscovery& m_sts;
  const util::Clock& m_clock;
  util::Logger m_log;
  EngineOptions m_options;
};

/// REQUIRETLS from a recipient address: true when the local part ends in
/// "+requiretls" (SPEC §3).
[[nodiscard]] bool recipient_requests_requiretls(std::string_view recipient);

}  // namespace tlspolicy::policy
