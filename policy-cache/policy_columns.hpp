// SPDX-License-Identifier: Apache-2.0
//
// PRIVATE to policy-cache/: a CachedPolicy as the columns both stores keep
// (SQLite's policies table and PostgreSQL's): mode as text, max_age in
// seconds, the MX patterns joined by '\n', times in Unix seconds.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "tlspolicy/cache/policy_cache.hpp"
#include "tlspolicy/util/result.hpp"

namespace tlspolicy::cache {

/// The MX patterns as stored: joined by '\n' (a pattern holds no '\n').
[[nodiscard]] std::string join_mx(const std::vector<std::string>& mx);
[[nodiscard]] std::vector<std::string> split_mx(std::string_view joined);

/// The columns of one stored policy.
struct PolicyColumns {
  std::string_view domain, id, policy_text, mode;
  std::int64_t max_age = 0;
  std::string_view mx;
  std::int64_t fetched_at = 0, expires_at = 0;
  std::string_view fetched_by;
};

/// Rebuilds a CachedPolicy from its columns. A row with a mode or max_age this program never
/// writes (edited by hand, a foreign writer) is CacheSchema, Transient: a later successful
/// fetch replaces the row. `where` names the store in the error.
[[nodiscard]] Result<CachedPolicy> policy_from_columns(const PolicyColumns& c,
                                                       std::string_view where);

[[nodiscard]] inline std::int64_t unix_seconds(util::TimePoint t) noexcept {
  return static_cast<std::int64_t>(t.time_since_epoch().count());
}
[[nodiscard]] inline util::TimePoint from_unix_seconds(std::int64_t s) noexcept {
  return util::TimePoint{std::chrono::seconds{static_cast<std::chrono::seconds::rep>(s)}};
}

}  // namespace tlspolicy::cache
