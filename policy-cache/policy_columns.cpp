// SPDX-License-Identifier: Apache-2.0
#include "policy_columns.hpp"

#include "tlspolicy/sts/policy.hpp"

namespace tlspolicy::cache {

std::string join_mx(const std::vector<std::string>& mx) {
  std::string out;
  for (const auto& pattern : mx) {
    if (!out.empty()) out += '\n';
    out += pattern;
  }
  return out;
}

std::vector<std::string> split_mx(std::string_view joined) {
  std::vector<std::string> out;
  while (!joined.empty()) {
    const auto end = joined.find('\n');
    const auto piece = joined.substr(0, end);
    if (!piece.empty()) out.emplace_back(piece);
    if (end == std::string_view::npos) break;
    joined.remove_prefix(end + 1);
  }
  return out;
}

Result<CachedPolicy> policy_from_columns(const PolicyColumns& c, std::string_view where) {
  CachedPolicy p;
  p.domain = c.domain;
  p.id = c.id;
  p.policy_text = c.policy_text;
  const auto mode = sts::parse_mode(c.mode);
  if (!mode || c.max_age < 0) {
    return fail(Errc::CacheSchema, Retry::Transient,
                "stored policy for " + p.domain + " has mode '" + std::string(c.mode) +
                    "', max_age " + std::to_string(c.max_age) + " (" + std::string{where} + ")");
  }
  p.policy.mode = *mode;
  p.policy.max_age = std::chrono::seconds{static_cast<std::chrono::seconds::rep>(c.max_age)};
  p.policy.mx = split_mx(c.mx);
  p.fetched_at = from_unix_seconds(c.fetched_at);
  p.expires_at = from_unix_seconds(c.expires_at);
  p.fetched_by = c.fetched_by;
  return p;
}

}  // namespace tlspolicy::cache
