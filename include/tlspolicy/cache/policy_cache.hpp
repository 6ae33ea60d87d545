// SPDX-License-Identifier: Apache-2.0
//
// cache::PolicyCache: persistent storage of fetched MTA-STS policies (RFC 8461
// §5.1) and of failed fetch attempts (for the 5-minute back-off of §3.3).
// The SQLite implementation lives in policy-cache/; tests of sts/ and policy/
// use an in-memory one (tests/support/memory_policy_cache.hpp).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tlspolicy/dns/name.hpp"
#include "tlspolicy/sts/policy.hpp"
#include "tlspolicy/util/clock.hpp"
#include "tlspolicy/util/result.hpp"

namespace tlspolicy::cache {

struct CachedPolicy {
  std::string domain;       ///< policy domain, normalised
  std::string id;           ///< TXT id the policy was fetched under
  std::string policy_text;  ///< the body exactly as fetched
  sts::StsPolicy policy;    ///< parsed form of policy_text
  util::TimePoint fetched_at;
  util::TimePoint expires_at;  ///< fetched_at + max_age
  std::string fetched_by;      ///< the fleet node that fetched it ("" in a SQLite store)
  friend bool operator==(const CachedPolicy&, const CachedPolicy&) = default;
};

struct FetchFailure {
  std::string domain;
  std::string id;  ///< TXT id the failed fetch was for
  util::TimePoint failed_at;
  std::string error;  ///< errc text and detail, for operators
  friend bool operator==(const FetchFailure&, const FetchFailure&) = default;
};

/// Who fetches a policy domain's policy for a fleet (store.url): one node at a time, for a
/// lease, so that a new policy id is fetched once for all nodes (RFC 8461 §3.3) and a node
/// that dies mid-fetch blocks the others no longer than the lease.
struct FetchClaim {
  bool granted = true;                ///< this node fetches now
  std::string holder;                 ///< the node fetching, when not granted
  std::chrono::milliseconds left{0};  ///< how long the holder's lease still runs
};

/// What a node is about to fetch.
struct FetchClaimRequest {
  std::string_view id;           ///< the policy id (the TXT record's) the fetch is for
  std::chrono::seconds lease{};  ///< how long the fetch may take
  /// A refresh of the stored policy fetched at this time: refused when a policy fetched later
  /// is stored (another node refreshed it). Unset: a new id, refused when the unexpired
  /// policy of that id is stored (another node fetched it).
  std::optional<util::TimePoint> refresh_of;
};

/// What `tlspolicy stats` shows of the store.
struct StoreStatus {
  std::string backend = "sqlite";  ///< "sqlite" or "postgresql"
  std::string node;                ///< fleet.node
  bool healthy = true;             ///< the last call reached the store
  std::uint64_t outages = 0;       ///< times the shared store became unreachable
  std::uint64_t errors = 0;        ///< calls that failed or found it unreachable
  std::string last_error;
  std::size_t unsynced_policies = 0;  ///< written locally while the shared store was down
};

class PolicyCache {
 public:
  virtual ~PolicyCache() = default;

  /// The cached policy for `domain`, expired or not (callers compare
  /// expires_at with their clock). Errors: CacheIo (Transient).
  [[nodiscard]] virtual Result<std::optional<CachedPolicy>> get(
      const dns::DomainName& domain) const = 0;
  /// Inserts or replaces the policy for p.domain atomically (one transaction;
  /// a crash leaves either the old or the new row). Clears any recorded fetch
  /// failure for that domain.
  [[nodiscard]] virtual Result<void> put(const CachedPolicy& p) = 0;
  /// Removes the policy and failure record of `domain`; true if a policy was there.
  [[nodiscard]] virtual Result<bool> remove(const dns::DomainName& domain) = 0;
  /// Every cached policy, ordered by domain.
  [[nodiscard]] virtual Result<std::vector<CachedPolicy>> list() const = 0;
  /// Deletes policies with expires_at <= now; returns how many.
  [[nodiscard]] virtual Result<std::size_t> purge_expired(util::TimePoint now) = 0;

  /// Records a failed fetch for (domain, id), replacing an earlier record.
  [[nodiscard]] virtual Result<void> record_fetch_failure(const FetchFailure& f) = 0;
  /// The last recorded failed fetch for `domain`, if any.
  [[nodiscard]] virtual Result<std::optional<FetchFailure>> last_fetch_failure(
      const dns::DomainName& domain) const = 0;

  /// Claims the fetch of a policy of `domain` (see FetchClaim, FetchClaimRequest). When it is
  /// refused because the policy is stored already, `holder` is the node that fetched it and
  /// `left` is 0. put() and record_fetch_failure() for the domain end the claim. A store of
  /// one node always grants.
  [[nodiscard]] virtual Result<FetchClaim> claim_fetch(const dns::DomainName& domain,
                                                       const FetchClaimRequest& request) {
    (void)domain, (void)request;
    return FetchClaim{};
  }
  /// Backend, node and health, for stats.
  [[nodiscard]] virtual StoreStatus status() const { return {}; }
};

struct SqliteOptions {
  std::filesystem::path path;  ///< ":memory:" for an in-memory database
  int busy_timeout_ms = 5000;
};

/// Opens (creating when missing, migrating when older) the SQLite store.
/// Errors: CacheIo (cannot open/lock/write), CacheSchema (the database is
/// newer than this program or not a tlspolicy store).
[[nodiscard]] Result<std::unique_ptr<PolicyCache>> open_sqlite_cache(const SqliteOptions& options);

/// The schema version this program writes (PRAGMA user_version).
[[nodiscard]] int sqlite_schema_version() noexcept;

}  // namespace tlspolicy::cache
