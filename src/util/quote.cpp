// SPDX-License-Identifier: Apache-2.0
//
// escaped() and quoted(): untrusted bytes → a bounded, printable excerpt (quote.hpp).
#include "tlspolicy/util/quote.hpp"

#include <algorithm>

namespace tlspolicy::util {

std::string escaped(std::string_view s) {
  static constexpr std::string_view k_hex = "0123456789abcdef";
  const std::size_t n = std::min(s.size(), k_max_shown_bytes);
  std::string out;
  out.reserve(n + 3);
  for (const char c : s.substr(0, n)) {
    const auto u = static_cast<unsigned char>(c);
    if (u >= 0x20U && u < 0x7FU && c != '"' && c != '\\') {
      out += c;
    } else {
      out += "\\x";
      out += k_hex[u >> 4U];
      out += k_hex[u & 0xFU];
    }
  }
  if (s.size() > n) out += "...";
  return out;
}

std::string quoted(std::string_view s) { return "\"" + escaped(s) + "\""; }

}  // namespace tlspolicy::util
