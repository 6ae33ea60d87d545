// SPDX-License-Identifier: Apache-2.0
//
// NAME
//   cache_json - stored MTA-STS policies as JSON (admin ops cache.list,
//   cache.show, cache.export) and back (the CLI reading those answers)
// FORMAT
//   {"domain":"example.com","id":"20240101","mode":"enforce","max_age":86400,
//    "mx":["mx.example.com","*.example.net"],"fetched_at":"2026-01-01T00:00:00Z",
//    "expires_at":"2026-01-02T00:00:00Z"[,"policy_text":"version: STSv1\r\n…"]}
//   Times are RFC 3339 UTC with second precision; "policy_text" is the body
//   exactly as fetched (only with with_text).
// SECURITY
//   Rendering repairs invalid UTF-8 (U+FFFD). The parsers read answers of a
//   local daemon but still never throw: errors are Errc::InvalidArgument.
// SEE ALSO
//   docs/protocols/json.md (Admin ops), cache/policy_cache.hpp
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "tlspolicy/cache/policy_cache.hpp"
#include "tlspolicy/util/result.hpp"

namespace tlspolicy::proto {

/// One stored policy as one JSON object (one line).
[[nodiscard]] std::string cached_policy_json(const cache::CachedPolicy& p, bool with_text = true);

/// A JSON array of cached_policy_json objects, in the given order.
[[nodiscard]] std::string cached_policies_json(const std::vector<cache::CachedPolicy>& policies,
                                               bool with_text);

/// Reads an object written by cached_policy_json. "policy_text" is optional.
/// The parsed `policy` member holds mode, mx and max_age as sent (the text is
/// not re-parsed). Never throws.
[[nodiscard]] Result<cache::CachedPolicy> cached_policy_from_json(std::string_view json);

/// The store's backend, node and health, for `tlspolicy stats` ("store" member):
/// {"backend","node","healthy","outages","errors","last_error","unsynced_policies"}.
[[nodiscard]] std::string store_status_json(const cache::StoreStatus& s);

/// Reads an array written by cached_policies_json. Never throws.
[[nodiscard]] Result<std::vector<cache::CachedPolicy>> cached_policies_from_json(
    std::string_view json);

}  // namespace tlspolicy::proto
