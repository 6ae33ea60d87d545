// SPDX-License-Identifier: Apache-2.0
//
// Stored MTA-STS policies ↔ JSON for the admin ops (see
// include/tlspolicy/proto/cache_json.hpp for the format). Rendering never
// throws on content (invalid UTF-8 is replaced); parsing uses the
// non-throwing nlohmann API (parse(…, false), find() + is_*()).
#include "tlspolicy/proto/cache_json.hpp"

#include <cctype>
#include <chrono>
#include <string>
#include <utility>

#include <nlohmann/json.hpp>

#include "time_text.hpp"

namespace tlspolicy::proto {
namespace {

using nlohmann::ordered_json;

ordered_json to_json(const cache::CachedPolicy& p, bool with_text) {
  ordered_json j;
  j["domain"] = p.domain;
  j["id"] = p.id;
  j["mode"] = sts::to_string(p.policy.mode);
  j["max_age"] = p.policy.max_age.count();
  j["mx"] = p.policy.mx;
  j["fetched_at"] = util::format_rfc3339(p.fetched_at);
  j["expires_at"] = util::format_rfc3339(p.expires_at);
  if (!p.fetched_by.empty()) j["fetched_by"] = p.fetched_by;
  if (with_text) j["policy_text"] = p.policy_text;
  return j;
}

std::string dump(const ordered_json& j) {
  return j.dump(-1, ' ', false, ordered_json::error_handler_t::replace);
}

Unexpected<Error> bad(std::string what) {
  return fail(Errc::InvalidArgument, Retry::Permanent, "cached policy JSON: " + std::move(what));
}

const ordered_json* member(const ordered_json& obj, const char* name) {
  const auto it = obj.find(name);
  return it == obj.end() ? nullptr : &*it;
}

Result<std::string> string_member(const ordered_json& obj, const char* name) {
  const auto* m = member(obj, name);
  if (m == nullptr || !m->is_string()) return bad(std::string{"\""} + name + "\" is not a string");
  return m->get<std::string>();
}

Result<util::TimePoint> time_member(const ordered_json& obj, const char* name) {
  auto text = string_member(obj, name);
  if (!text) return Unexpected{text.error()};
  const auto t = detail::parse_rfc3339_utc(*text);
  if (!t) return bad(std::string{"\""} + name + "\" is not an RFC 3339 UTC time");
  return *t;
}

Result<cache::CachedPolicy> from_json(const ordered_json& obj) {
  if (!obj.is_object()) return bad("not an object");
  cache::CachedPolicy p;
  auto domain = string_member(obj, "domain");
  if (!domain) return Unexpected{domain.error()};
  p.domain = std::move(*domain);
  auto id = string_member(obj, "id");
  if (!id) return Unexpected{id.error()};
  p.id = std::move(*id);
  auto mode_text = string_member(obj, "mode");
  if (!mode_text) return Unexpected{mode_text.error()};
  const auto mode = sts::parse_mode(*mode_text);
  if (!mode) return bad("unknown mode \"" + *mode_text + "\"");
  p.policy.mode = *mode;
  const auto* max_age = member(obj, "max_age");
  if (max_age == nullptr || !max_age->is_number_integer()) {
    return bad("\"max_age\" is not an integer");
  }
  p.policy.max_age = std::chrono::seconds{max_age->get<std::int64_t>()};
  const auto* mx = member(obj, "mx");
  if (mx == nullptr || !mx->is_array()) return bad("\"mx\" is not an array");
  for (const auto& pattern : *mx) {
    if (!pattern.is_string()) return bad("\"mx\" holds a non-string");
    p.policy.mx.push_back(pattern.get<std::string>());
  }
  auto fetched = time_member(obj, "fetched_at");
  if (!fetched) return Unexpected{fetched.error()};
  p.fetched_at = *fetched;
  auto expires = time_member(obj, "expires_at");
  if (!expires) return Unexpected{expires.error()};
  p.expires_at = *expires;
  if (const auto* by = member(obj, "fetched_by"); by != nullptr) {
    if (!by->is_string()) return bad("\"fetched_by\" is not a string");
    p.fetched_by = by->get<std::string>();
  }
  if (const auto* text = member(obj, "policy_text"); text != nullptr) {
    if (!text->is_string()) return bad("\"policy_text\" is not a string");
    p.policy_text = text->get<std::string>();
  }
  return p;
}

ordered_json parse_text(std::string_view text) {
  if (text.find('\0') != std::string_view::npos)
    return ordered_json(ordered_json::value_t::discarded);
  return ordered_json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
}

}  // namespace

namespace detail {

std::optional<util::TimePoint> parse_rfc3339_utc(std::string_view text) noexcept {
  // YYYY-MM-DDTHH:MM:SSZ: 20 bytes, digits at fixed places.
  constexpr std::string_view k_shape = "dddd-dd-ddTdd:dd:ddZ";
  if (text.size() != k_shape.size()) return std::nullopt;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const bool digit = std::isdigit(static_cast<unsigned char>(text[i])) != 0;
    if (k_shape[i] == 'd' ? !digit : text[i] != k_shape[i]) return std::nullopt;
  }
  const auto num = [&](std::size_t at, std::size_t len) {
    int v = 0;
    for (std::size_t i = at; i < at + len; ++i) v = v * 10 + (text[i] - '0');
    return v;
  };
  const std::chrono::year_month_day ymd{std::chrono::year{num(0, 4)},
                                        std::chrono::month{static_cast<unsigned>(num(5, 2))},
                                        std::chrono::day{static_cast<unsigned>(num(8, 2))}};
  const int h = num(11, 2);
  const int m = num(14, 2);
  const int s = num(17, 2);
  if (!ymd.ok() || h > 23 || m > 59 || s > 60) return std::nullopt;
  return util::TimePoint{std::chrono::sys_days{ymd}} + std::chrono::hours{h} +
         std::chrono::minutes{m} + std::chrono::seconds{s};
}

}  // namespace detail

std::string cached_policy_json(const cache::CachedPolicy& p, bool with_text) {
  return dump(to_json(p, with_text));
}

std::string cached_policies_json(const std::vector<cache::CachedPolicy>& policies, bool with_text) {
  auto array = ordered_json::array();
  for (const auto& p : policies) array.push_back(to_json(p, with_text));
  return dump(array);
}

Result<cache::CachedPolicy> cached_policy_from_json(std::string_view json) {
  const auto j = parse_text(json);
  if (j.is_discarded()) return bad("not JSON");
  return from_json(j);
}

Result<std::vector<cache::CachedPolicy>> cached_policies_from_json(std::string_view json) {
  const auto j = parse_text(json);
  if (j.is_discarded() || !j.is_array()) return bad("not a JSON array");
  std::vector<cache::CachedPolicy> out;
  for (const auto& entry : j) {
    auto p = from_json(entry);
    if (!p) return Unexpected{p.error()};
    out.push_back(std::move(*p));
  }
  return out;
}

std::string store_status_json(const cache::StoreStatus& s) {
  ordered_json j;
  j["backend"] = s.backend;
  j["node"] = s.node;
  j["healthy"] = s.healthy;
  j["outages"] = s.outages;
  j["errors"] = s.errors;
  j["last_error"] = s.last_error;
  j["unsynced_policies"] = s.unsynced_policies;
  return dump(j);
}

}  // namespace tlspolicy::proto
