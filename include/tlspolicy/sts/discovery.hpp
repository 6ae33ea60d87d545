// SPDX-License-Identifier: Apache-2.0
//
// sts::StsDiscovery: finds the MTA-STS policy that applies to a policy domain
// (RFC 8461 §3 and §5.1): TXT at _mta-sts.<domain> → compare its id with the
// cached policy → HTTPS fetch when needed → parse → store. It encodes the
// caching rules of RFC-CHECKLIST STS-7, STS-16..STS-18 and SPEC §3:
//  - a new TXT id triggers a refetch; the same id with a live cached policy
//    uses the cache;
//  - a failed lookup or fetch never evicts an unexpired cached policy, which
//    is then applied (STS-18);
//  - a fetched `mode: none` replaces the cached policy at once;
//  - at most one failed fetch per (domain, id) every retry_interval (STS-16);
//  - a store that cannot be read is never taken for "nothing cached": unless
//    a policy was just fetched, the outcome is indeterminate (SPEC §3).
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "tlspolicy/cache/policy_cache.hpp"
#include "tlspolicy/dns/name.hpp"
#include "tlspolicy/dns/resolver.hpp"
#include "tlspolicy/event/loop.hpp"
#include "tlspolicy/event/offload.hpp"
#include "tlspolicy/event/task.hpp"
#include "tlspolicy/fetch/https_fetcher.hpp"
#include "tlspolicy/util/clock.hpp"
#include "tlspolicy/util/log.hpp"
#include "tlspolicy/util/result.hpp"

namespace tlspolicy::sts {

/// A SERVFAIL of the `_mta-sts` TXT lookup is tried once more after this long (when
/// StsOptions::loop is set) before it counts as a failure.
inline constexpr std::chrono::milliseconds k_txt_retry_after{250};

struct StsOptions {
  /// STS-16: minimum time between failed fetches for one policy id.
  std::chrono::seconds retry_interval{300};
  /// A fleet's shared store (cache::PolicyCache::claim_fetch): how long one node may take to
  /// fetch a new policy id for all, and where the others wait for it (nullptr: they fetch
  /// for themselves at once).
  std::chrono::seconds claim_lease{30};
  event::Loop* loop = nullptr;
};

/// What discovery found. `policy` is the policy to apply (possibly mode
/// none), or empty when the domain has no usable MTA-STS policy.
struct StsOutcome {
  std::optional<cache::CachedPolicy> policy;
  bool from_cache = false;
  /// TTL of the TXT answer (empty when none arrived): how long the id may be
  /// trusted before it is looked up again. 0 means 0.
  std::optional<std::chrono::seconds> txt_ttl;
  /// The _mta-sts TXT answer was DNSSEC-bogus (validate mode); reported as
  /// dnssec-invalid (RFC 8460 §4.3.2).
  bool txt_bogus = false;
  /// Discovery could not tell whether a policy applies: a bogus TXT answer
  /// (an attacker may hide the policy) or an unreadable store (a cached
  /// policy may exist), with no policy to apply. The engine defers: never a
  /// downgrade (SPEC §3). `indeterminate_reason` says why.
  bool indeterminate = false;
  std::string indeterminate_reason;
  /// Failures met on the way (TXT lookup error, fetch error, invalid
  /// policy, store error). A decision can still be made; operators and
  /// TLS-RPT (RFC 8461 §6, STS-37) want to know.
  std::vector<Error> failures;
  /// Step-by-step trail for `lookup --explain`.
  std::vector<std::string> trail;
};

/// URL of the policy of `domain` (RFC 8461 §3.2, STS-10).
[[nodiscard]] std::string policy_url(const dns::DomainName& domain);

/// STS-13/STS-14: a response is a policy only with status 200 and media type
/// text/plain (parameters ignored). Errors: FetchRedirect for 3xx,
/// FetchStatus for other statuses, FetchContentType (all Permanent).
[[nodiscard]] Result<void> check_policy_response(long status, std::string_view content_type);

/// RFC 8461 §3.3, §10.2 (STS-34): a stored, unexpired policy is due for a
/// proactive refresh once it is older than `interval` (about daily) or half
/// its max_age, whichever comes first — well before it expires.
[[nodiscard]] bool refresh_due(const cache::CachedPolicy& p, util::TimePoint now,
                               std::chrono::seconds interval = std::chrono::hours(24));

class StsDiscovery {
 public:
  /// Keeps references: every argument must outlive this object. Store calls go through
  /// `offload` (SQLite blocks; the engine loop must not).
  StsDiscovery(dns::Resolver& resolver, fetch::HttpsFetcher& fetcher, cache::PolicyCache& cache,
               event::Offload& offload, const util::Clock& clock, util::Logger log,
               StsOptions options);

  /// A coroutine step on the engine loop: the TXT lookup, the stored policy and the last
  /// failed fetch are asked for at once; the fetch follows when the id says so. Never throws
  /// but for std::bad_alloc.
  [[nodiscard]] event::Task<StsOutcome> discover(dns::DomainName domain);

  /// A fleet: when another node holds the claim on fetching `id`, waits (polling the store)
  /// until its policy for `id` is stored, its fetch failed, or its lease ran out.
  /// The policy, or the failure's text; nothing when this node should fetch after all.
  struct FleetWait {
    std::optional<cache::CachedPolicy> policy;
    std::optional<std::string> failure;
  };
  [[nodiscard]] event::Task<FleetWait> wait_for_fleet(const dns::DomainName& domain,
                                                      const std::string& id,
                                                      cache::FetchClaim claim);

  /// RFC 8461 §3.3, §10.2 (STS-34): fetches the policy of `domain` anew and
  /// stores it, whatever the TXT record says: its id labels the new policy
  /// when a valid record answers, else the stored policy's id does (a TXT
  /// record an attacker blocks cannot let a cached policy expire). Only a
  /// policy actually fetched replaces `stored`. Errors: the TXT lookup found
  /// no id and nothing is stored (StsNoRecord), the fetch failed (its
  /// error), the store write failed (CacheIo), another node of a fleet holds
  /// the claim on this fetch and does it (Claimed).
  [[nodiscard]] event::Task<Result<cache::CachedPolicy>> refresh(
      dns::DomainName domain, std::optional<cache::CachedPolicy> stored);

 private:
  /// RFC 8461 §3.3: GET the policy URL, check status and media type, parse.
  [[nodiscard]] event::Task<Result<std::pair<std::string, StsPolicy>>> fetch_policy(
      const dns::DomainName& domain);
  [[nodiscard]] event::Task<Result<dns::DnsAnswer>> txt_lookup(const dns::DomainName& domain);

  dns::Resolver& m_resolver;
  fetch::HttpsFetcher& m_fetcher;
  cache::PolicyCache& m_cache;
  event::Offload& m_offload;
  const util::Clock& m_clock;
  util::Logger m_log;
  StsOptions m_options;
};

}  // namespace tlspolicy::sts
