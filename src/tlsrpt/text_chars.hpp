// SPDX-License-Identifier: Apache-2.0
//
// Private to src/tlsrpt: reduces untrusted values (domains, report ids, seeds)
// to the characters a grammar allows, for the report file name (report.cpp)
// and the report mail (mail.cpp). Only ASCII is ever kept, so no CR, LF or
// other byte from the network can reach a header field or a file name.
#pragma once

#include <string>
#include <string_view>

namespace tlspolicy::tlsrpt::detail {

/// [A-Za-z0-9], whatever the locale.
[[nodiscard]] inline bool is_alnum(char c) noexcept {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/// The characters of `s` that `keep` accepts, in order.
template <class Keep>
[[nodiscard]] std::string filtered(std::string_view s, Keep keep) {
  std::string out;
  for (const char c : s) {
    if (keep(c)) out += c;
  }
  return out;
}

/// `s` without leading and trailing `c`.
[[nodiscard]] inline std::string trimmed(std::string s, char c) {
  const auto first = s.find_first_not_of(c);
  if (first == std::string::npos) return {};
  s.erase(0, first);
  s.erase(s.find_last_not_of(c) + 1);
  return s;
}

/// Keeps the characters of an A-label domain ([A-Za-z0-9.-]) and drops leading/trailing dots.
[[nodiscard]] inline std::string domain_chars(std::string_view s) {
  return trimmed(filtered(s, [](char c) { return is_alnum(c) || c == '-' || c == '.'; }), '.');
}

}  // namespace tlspolicy::tlsrpt::detail
