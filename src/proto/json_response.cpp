// SPDX-License-Identifier: Apache-2.0
//
// The client side of the JSON lines protocol (`tlspolicy cache …`, `stats`,
// `lookup --socket`): response lines and decision objects back into values.
// Input comes from a socket, so nothing here throws: nlohmann's
// parse(…, nullptr, false) + is_discarded(), find() + is_*() instead of at().
#include "tlspolicy/proto/json_response.hpp"

#include <array>
#include <utility>

#include <nlohmann/json.hpp>

#include "tlspolicy/util/json_nesting.hpp"

#include "time_text.hpp"

namespace tlspolicy::proto {
namespace {

using nlohmann::ordered_json;

Unexpected<Error> bad(std::string what) {
  return fail(Errc::InvalidArgument, Retry::Permanent, std::move(what));
}

// The daemon's answers nest at most five deep ({"decision":{"mx":[{"tlsa":[{…}]}]}}).
// Deeper input is refused before nlohmann parses it: dump() and flatten() recurse once
// per level, and a response of 500 000 nested arrays (1 MB; the client reads up to
// 16 MiB) overflowed the stack (found with tests/fuzz/fuzz_json_response.cpp).
constexpr std::size_t k_max_depth = 32;

ordered_json parse_text(std::string_view text) {
  if (!text.empty() && text.back() == '\n') text.remove_suffix(1);
  if (!text.empty() && text.back() == '\r') text.remove_suffix(1);
  if (text.find('\0') != std::string_view::npos || !util::json_nesting_within(text, k_max_depth)) {
    return ordered_json(ordered_json::value_t::discarded);
  }
  return ordered_json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
}

std::string dump(const ordered_json& j) {
  return j.dump(-1, ' ', false, ordered_json::error_handler_t::replace);
}

/// Reads obj[name] when it has the right type; `fallback` when absent.
std::string str(const ordered_json& obj, const char* name) {
  const auto it = obj.find(name);
  return it != obj.end() && it->is_string() ? it->get<std::string>() : std::string{};
}

bool boolean(const ordered_json& obj, const char* name) {
  const auto it = obj.find(name);
  return it != obj.end() && it->is_boolean() && it->get<bool>();
}

std::int64_t integer(const ordered_json& obj, const char* name) {
  const auto it = obj.find(name);
  return it != obj.end() && it->is_number_integer() ? it->get<std::int64_t>() : 0;
}

std::vector<std::string> strings(const ordered_json& obj, const char* name) {
  std::vector<std::string> out;
  const auto it = obj.find(name);
  if (it == obj.end() || !it->is_array()) return out;
  for (const auto& v : *it) {
    if (v.is_string()) out.push_back(v.get<std::string>());
  }
  return out;
}

/// The enum value whose to_string() is `text`.
template <class E, std::size_t N>
Result<E> enum_from(const std::array<E, N>& values, const std::string& text, const char* what) {
  for (const auto v : values) {
    if (to_string(v) == text) return v;
  }
  return bad(std::string{"decision JSON: unknown "} + what + " \"" + text + "\"");
}

using policy::to_string;
using sts::to_string;

std::vector<std::uint8_t> unhex(const std::string& text) {
  std::vector<std::uint8_t> out;
  const auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (std::size_t i = 0; i + 1 < text.size(); i += 2) {
    const int hi = nibble(text[i]);
    const int lo = nibble(text[i + 1]);
    if (hi < 0 || lo < 0) return {};
    out.push_back(static_cast<std::uint8_t>(hi * 16 + lo));
  }
  return out;
}

void flatten(const ordered_json& j, const std::string& prefix,
             std::vector<std::pair<std::string, std::string>>& out) {
  for (const auto& [key, value] : j.items()) {
    const std::string name = prefix.empty() ? key : prefix + "." + key;
    if (value.is_object()) {
      flatten(value, name, out);
    } else if (value.is_string()) {
      out.emplace_back(name, value.get<std::string>());
    } else {
      out.emplace_back(name, dump(value));
    }
  }
}

}  // namespace

std::string render_admin_request(JsonOp op, std::string_view domain) {
  ordered_json j;
  j["op"] = to_string(op);
  if (!domain.empty()) j["domain"] = domain;
  return dump(j);
}

std::string render_decide_request(std::string_view domain, bool requiretls,
                                  std::string_view recipient, bool explain) {
  ordered_json j;
  j["op"] = "decide";
  j["domain"] = domain;
  if (!recipient.empty()) j["recipient"] = recipient;
  if (requiretls) j["requiretls"] = true;
  if (explain) j["explain"] = true;
  return dump(j);
}

const std::string* JsonResponse::member(std::string_view key) const {
  for (const auto& [name, text] : members) {
    if (name == key) return &text;
  }
  return nullptr;
}

Result<JsonResponse> parse_json_response(std::string_view line) {
  const auto j = parse_text(line);
  if (j.is_discarded() || !j.is_object()) return bad("response is not a JSON object");
  const auto status = j.find("status");
  if (status == j.end() || !status->is_string()) return bad("response has no \"status\" string");
  JsonResponse out;
  out.status = status->get<std::string>();
  if (const auto error = j.find("error"); error != j.end() && error->is_object()) {
    out.error_code = str(*error, "code");
    out.error_message = str(*error, "message");
  }
  for (const auto& [key, value] : j.items()) {
    if (key == "status" || key == "error" || key == "id") continue;
    out.members.emplace_back(key, dump(value));
  }
  return out;
}

Result<policy::Decision> decision_from_json(std::string_view json) {
  const auto j = parse_text(json);
  if (j.is_discarded() || !j.is_object()) return bad("decision JSON: not an object");
  policy::Decision d;
  d.domain = str(j, "domain");
  constexpr std::array k_actions{policy::Action::RequireTls, policy::Action::Opportunistic,
                                 policy::Action::Defer, policy::Action::Bounce};
  constexpr std::array k_verifies{policy::Verify::Dane, policy::Verify::Pkix, policy::Verify::None};
  constexpr std::array k_sources{policy::Source::Local, policy::Source::Dane,
                                 policy::Source::MtaSts, policy::Source::RequireTls,
                                 policy::Source::None};
  constexpr std::array k_security{dns::Security::Secure, dns::Security::Insecure,
                                  dns::Security::Bogus, dns::Security::Indeterminate};
  constexpr std::array k_modes{sts::StsMode::Enforce, sts::StsMode::Testing, sts::StsMode::None};
  auto action = enum_from(k_actions, str(j, "action"), "action");
  if (!action) return Unexpected{action.error()};
  d.action = *action;
  auto verify = enum_from(k_verifies, str(j, "verify"), "verify");
  if (!verify) return Unexpected{verify.error()};
  d.verify = *verify;
  auto source = enum_from(k_sources, str(j, "source"), "source");
  if (!source) return Unexpected{source.error()};
  d.source = *source;
  {
    using dns::to_string;
    auto security = enum_from(k_security, str(j, "dnssec"), "dnssec");
    if (!security) return Unexpected{security.error()};
    d.dnssec = *security;
  }
  if (const auto mx = j.find("mx"); mx != j.end() && mx->is_array()) {
    for (const auto& h : *mx) {
      if (!h.is_object()) return bad("decision JSON: \"mx\" holds a non-object");
      policy::MxHost host;
      host.host = str(h, "host");
      host.preference = static_cast<std::uint16_t>(integer(h, "preference"));
      host.allowed = boolean(h, "allowed");
      auto hv = enum_from(k_verifies, str(h, "verify"), "verify");
      if (!hv) return Unexpected{hv.error()};
      host.verify = *hv;
      if (const auto tlsa = h.find("tlsa"); tlsa != h.end() && tlsa->is_array()) {
        for (const auto& t : *tlsa) {
          if (!t.is_object()) continue;
          host.tlsa.push_back(dns::TlsaRecord{static_cast<std::uint8_t>(integer(t, "usage")),
                                              static_cast<std::uint8_t>(integer(t, "selector")),
                                              static_cast<std::uint8_t>(integer(t, "mtype")),
                                              unhex(str(t, "data"))});
        }
      }
      d.mx.push_back(std::move(host));
    }
  }
  if (const auto s = j.find("mta_sts"); s != j.end() && s->is_object()) {
    policy::StsInfo info;
    info.id = str(*s, "id");
    auto mode = enum_from(k_modes, str(*s, "mode"), "mode");
    if (!mode) return Unexpected{mode.error()};
    info.mode = *mode;
    info.mx = strings(*s, "mx");
    info.max_age = std::chrono::seconds{integer(*s, "max_age")};
    info.fetched_at = detail::parse_rfc3339_utc(str(*s, "fetched_at")).value_or(util::TimePoint{});
    info.expires_at = detail::parse_rfc3339_utc(str(*s, "expires_at")).value_or(util::TimePoint{});
    info.from_cache = boolean(*s, "from_cache");
    d.mta_sts = std::move(info);
  }
  if (const auto r = j.find("requiretls"); r != j.end() && r->is_object()) {
    d.requiretls = policy::RequireTlsInfo{boolean(*r, "requested"), boolean(*r, "satisfiable"),
                                          boolean(*r, "peer_must_advertise")};
  }
  if (const auto t = j.find("tlsrpt"); t != j.end() && t->is_object()) {
    d.tlsrpt = policy::TlsRptInfo{strings(*t, "rua")};
  }
  d.postfix = str(j, "postfix");
  d.reason = str(j, "reason");
  d.ttl = std::chrono::seconds{integer(j, "ttl")};
  d.explain = strings(j, "explain");
  return d;
}

Result<std::vector<std::pair<std::string, std::string>>> flatten_json_object(
    std::string_view json) {
  const auto j = parse_text(json);
  if (j.is_discarded() || !j.is_object()) return bad("not a JSON object");
  std::vector<std::pair<std::string, std::string>> out;
  flatten(j, "", out);
  return out;
}

}  // namespace tlspolicy::proto
