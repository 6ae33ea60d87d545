// SPDX-License-Identifier: Apache-2.0
//
// Decision → JSON text, field for field as SPEC §3 lists them. Strings that
// come from the network (policy ids, patterns, reasons) are escaped by
// nlohmann/json; invalid UTF-8 is replaced, never thrown on.
#include "tlspolicy/proto/decision_json.hpp"

#include <cstdio>
#include <string>

#include <nlohmann/json.hpp>

namespace tlspolicy::proto {
namespace {

using nlohmann::ordered_json;

std::string hex(const std::vector<std::uint8_t>& bytes) {
  static constexpr char k_hex[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (const auto b : bytes) {
    out += k_hex[b >> 4];
    out += k_hex[b & 0xf];
  }
  return out;
}

ordered_json mta_sts_object(const policy::Decision& d) {
  if (!d.mta_sts) return nullptr;
  const auto& s = *d.mta_sts;
  return {{"id", s.id},
          {"mode", sts::to_string(s.mode)},
          {"mx", s.mx},
          {"max_age", s.max_age.count()},
          {"fetched_at", util::format_rfc3339(s.fetched_at)},
          {"expires_at", util::format_rfc3339(s.expires_at)},
          {"from_cache", s.from_cache}};
}

}  // namespace

std::string mta_sts_to_json(const policy::Decision& d) {
  return mta_sts_object(d).dump(-1, ' ', false, ordered_json::error_handler_t::replace);
}

std::string decision_to_json(const policy::Decision& d, bool with_explain, int indent,
                             std::optional<std::chrono::seconds> ttl) {
  ordered_json j;
  j["domain"] = d.domain;
  j["action"] = policy::to_string(d.action);
  j["verify"] = policy::to_string(d.verify);
  j["source"] = policy::to_string(d.source);
  auto mx = ordered_json::array();
  for (const auto& host : d.mx) {
    auto tlsa = ordered_json::array();
    for (const auto& t : host.tlsa) {
      tlsa.push_back({{"usage", t.usage},
                      {"selector", t.selector},
                      {"mtype", t.mtype},
                      {"data", hex(t.data)}});
    }
    mx.push_back({{"host", host.host},
                  {"preference", host.preference},
                  {"allowed", host.allowed},
                  {"verify", policy::to_string(host.verify)},
                  {"tlsa", std::move(tlsa)}});
  }
  j["mx"] = std::move(mx);
  j["mta_sts"] = mta_sts_object(d);
  j["dnssec"] = dns::to_string(d.dnssec);
  j["requiretls"] = {{"requested", d.requiretls.requested},
                     {"satisfiable", d.requiretls.satisfiable},
                     {"peer_must_advertise", d.requiretls.peer_must_advertise}};
  if (d.tlsrpt) {
    j["tlsrpt"] = {{"rua", d.tlsrpt->rua}};
  } else {
    j["tlsrpt"] = nullptr;
  }
  j["postfix"] = d.postfix;
  j["reason"] = d.reason;
  j["ttl"] = ttl.value_or(d.ttl).count();
  if (with_explain) j["explain"] = d.explain;
  return j.dump(indent, ' ', false, ordered_json::error_handler_t::replace);
}

}  // namespace tlspolicy::proto
