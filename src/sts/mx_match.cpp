// SPDX-License-Identifier: Apache-2.0
//
// MX host matching of RFC 8461 §4.1 (RFC-CHECKLIST STS-25): a policy's mx
// pattern matches an MX host name exactly, or as "*." plus a suffix where "*"
// stands for exactly one whole left-most label (RFC 6125 §6.4.3 rules), and
// always case-insensitively. Both sides are expected normalised (lower-case
// A-labels, no trailing dot); one trailing dot on either side is tolerated
// anyway because MX targets often arrive in fully-qualified form.
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "tlspolicy/sts/policy.hpp"

namespace tlspolicy::sts {
namespace {

char ascii_lower(char c) noexcept {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

bool iequals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (ascii_lower(a[i]) != ascii_lower(b[i])) return false;
  }
  return true;
}

std::string_view without_root_dot(std::string_view s) noexcept {
  if (s.ends_with('.')) s.remove_suffix(1);
  return s;
}

}  // namespace

bool mx_pattern_matches(std::string_view pattern, std::string_view host) noexcept {
  pattern = without_root_dot(pattern);
  host = without_root_dot(host);
  if (pattern.empty() || host.empty()) return false;
  if (pattern.starts_with("*.")) {
    // RFC 8461 §4.1: "*.example.com" matches "mail.example.com" but neither
    // "example.com" nor "foo.bar.example.com".
    const std::string_view suffix = pattern.substr(2);
    const std::size_t dot = host.find('.');
    if (suffix.empty() || dot == std::string_view::npos || dot == 0) return false;
    return iequals(host.substr(dot + 1), suffix);
  }
  return iequals(pattern, host);
}

bool mx_matches_any(const std::vector<std::string>& patterns, std::string_view host) noexcept {
  for (const auto& p : patterns) {
    if (mx_pattern_matches(p, host)) return true;
  }
  return false;
}

}  // namespace tlspolicy::sts
