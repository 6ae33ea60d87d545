// SPDX-License-Identifier: Apache-2.0
//
// The [[policy]] array (policies.hpp): local per-domain overrides, each
// checked as a whole (verify only with require-tls, match only with pkix)
// and with its domain normalised.
#include "policies.hpp"

#include <cstddef>
#include <set>
#include <utility>

#include "values.hpp"

namespace tlspolicy::config::detail {

Result<void> parse_policies(const toml::node& value, std::string_view source,
                            std::vector<LocalPolicy>& out) {
  const auto* arr = value.as_array();
  if (arr == nullptr) {
    return value_error("invalid value for 'policy' in " + where(source, value.source()) +
                       ": expected an array of tables ([[policy]]), got " +
                       std::string{type_name(value)});
  }
  std::vector<LocalPolicy> policies;
  std::set<std::string> seen;
  for (std::size_t i = 0; i < arr->size(); ++i) {
    const toml::node& entry = (*arr)[i];
    const std::string at = where(source, entry.source());
    const auto* tbl = entry.as_table();
    if (tbl == nullptr) {
      return value_error("invalid value for 'policy' in " + at + ": entry " +
                         std::to_string(i + 1) + " is " + std::string{type_name(entry)} +
                         ", expected a table");
    }
    // Points at the offending value when there is one, else at the table.
    auto field_error = [&](std::string_view key, const std::string& detail,
                           const toml::node* node = nullptr) {
      const std::string loc = node != nullptr ? where(source, node->source()) : at;
      return value_error("invalid value for 'policy." + std::string{key} + "' in " + loc + ": " +
                         detail);
    };
    for (const auto& [key, node] : *tbl) {
      const std::string_view k = key.str();
      if (k != "domain" && k != "action" && k != "verify" && k != "match") {
        return fail(Errc::ConfigSyntax, Retry::Permanent,
                    "unknown setting 'policy." + printable(k) + "' in " +
                        where(source, key.source()) +
                        " (a [[policy]] has domain, action, verify, match)");
      }
    }
    LocalPolicy p;
    const toml::node* domain = tbl->get("domain");
    if (domain == nullptr) return field_error("domain", "every [[policy]] needs a domain");
    auto d = get_string(*domain);
    if (!d) return field_error("domain", d.error().detail, domain);
    auto nd = normalise_domain(*d);
    if (!nd) return field_error("domain", nd.error().detail, domain);
    p.domain = *nd;
    if (!seen.insert(p.domain).second) {
      return field_error("domain", "duplicate [[policy]] for domain " + quote(p.domain), domain);
    }

    const toml::node* action = tbl->get("action");
    if (action == nullptr) {
      return field_error("action", "missing; expected \"require-tls\" or \"opportunistic\"");
    }
    auto a = get_enum(*action, k_policy_action_words);
    if (!a) return field_error("action", a.error().detail, action);
    p.action = *a;

    const toml::node* verify = tbl->get("verify");
    if (p.action == PolicyAction::Opportunistic) {
      if (verify != nullptr) {
        return field_error("verify", "not allowed with action = \"opportunistic\"", verify);
      }
    } else {
      if (verify == nullptr) {
        return field_error(
            "verify", "action = \"require-tls\" needs verify = \"dane\", \"pkix\" or \"none\"");
      }
      auto v = get_enum(*verify, k_policy_verify_words);
      if (!v) return field_error("verify", v.error().detail, verify);
      p.verify = *v;
    }

    if (const toml::node* match = tbl->get("match")) {
      if (p.verify != PolicyVerify::Pkix) {
        return field_error("match", "only allowed with verify = \"pkix\"", match);
      }
      auto names = get_string_list(*match);
      if (!names) return field_error("match", names.error().detail, match);
      for (const auto& name : *names) {
        auto m = normalise_match(name);
        if (!m) return field_error("match", m.error().detail, match);
        p.match.push_back(*m);
      }
    }
    policies.push_back(std::move(p));
  }
  out = std::move(policies);
  return {};
}

std::string render_policies(const std::vector<LocalPolicy>& policies) {
  std::string out = "[";
  for (std::size_t i = 0; i < policies.size(); ++i) {
    const auto& p = policies[i];
    if (i != 0) out += ", ";
    out += "{domain = " + quote(p.domain) + ", action = " + quote(to_string(p.action));
    // An opportunistic policy has no verify (parse_policies refuses one).
    if (p.action == PolicyAction::RequireTls) out += ", verify = " + quote(to_string(p.verify));
    if (!p.match.empty()) out += ", match = " + render_list(p.match);
    out += '}';
  }
  out += ']';
  return out;
}

}  // namespace tlspolicy::config::detail
