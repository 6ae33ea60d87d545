// SPDX-License-Identifier: Apache-2.0
//
// NAME
//   stats_json - the admin op "stats": the daemon's counters as one JSON object
// FORMAT
//   {"decisions":{"hits":…,"misses":…,"joined":…,"overloaded":…,"deadlines":…,"cached":…,
//                 "in_flight":…},
//    "connections":{"accepted":…,"active":…,"rejected_max_connections":…},
//    "requests":…,"too_large":…,"malformed":…,"request_timeouts":…,"idle_timeouts":…,
//    "tlsrpt":{"datagrams":…,"malformed":…,"report_ops":…,"engine":…,"store_errors":…},
//    "store":{<store_status_json>}}
//   The counters are those of /metrics (one snapshot feeds both renderers); the connection
//   and request counters are the policy listeners'. `tlspolicy stats --counters` prints it.
// SEE ALSO
//   docs/protocols/json.md (Admin ops), proto/metrics.hpp, proto/cache_json.hpp
#pragma once

#include <string>

#include "tlspolicy/cache/policy_cache.hpp"
#include "tlspolicy/proto/metrics.hpp"

namespace tlspolicy::proto {

/// One JSON object (one line), in the FORMAT above.
[[nodiscard]] std::string stats_json(const MetricsSnapshot& s, const cache::StoreStatus& store);

}  // namespace tlspolicy::proto
