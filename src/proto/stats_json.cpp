// SPDX-License-Identifier: Apache-2.0
//
// The admin op "stats" (include/tlspolicy/proto/stats_json.hpp).
#include "tlspolicy/proto/stats_json.hpp"

#include <nlohmann/json.hpp>

#include "tlspolicy/proto/cache_json.hpp"

namespace tlspolicy::proto {

std::string stats_json(const MetricsSnapshot& s, const cache::StoreStatus& store) {
  using nlohmann::ordered_json;
  const auto& server = s.policy_server;
  const ordered_json j = {
      {"decisions",
       {{"hits", s.hits},
        {"misses", s.misses},
        {"joined", s.joined},
        {"overloaded", s.overloaded},
        {"deadlines", s.deadlines},
        {"cached", s.cached},
        {"in_flight", s.in_flight}}},
      {"connections",
       {{"accepted", server.accepted},
        {"active", server.active},
        {"rejected_max_connections", server.rejected_max_connections}}},
      {"requests", server.requests},
      {"too_large", server.too_large},
      {"malformed", server.malformed},
      {"request_timeouts", server.request_timeouts},
      {"idle_timeouts", server.idle_timeouts},
      {"tlsrpt",
       {{"datagrams", s.tlsrpt_datagrams},
        {"malformed", s.tlsrpt_malformed},
        {"report_ops", s.tlsrpt_report_ops},
        {"engine", s.tlsrpt_engine},
        {"store_errors", s.tlsrpt_store_errors}}},
  };
  std::string out = j.dump();
  out.pop_back();  // reopen the object for the store's status, rendered by cache_json
  out += ",\"store\":";
  out += store_status_json(store);
  out += '}';
  return out;
}

}  // namespace tlspolicy::proto
