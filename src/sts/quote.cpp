// SPDX-License-Identifier: Apache-2.0
//
// quote(): untrusted bytes → a bounded, printable excerpt (see quote.hpp).
#include "quote.hpp"

#include <cstddef>

namespace tlspolicy::sts {
namespace {
constexpr std::size_t k_max_quoted = 40;  // bytes of input echoed in a detail
}  // namespace

std::string quote(std::string_view s) {
  static constexpr char k_hex[] = "0123456789abcdef";
  std::string out = "\"";
  const std::size_t n = s.size() < k_max_quoted ? s.size() : k_max_quoted;
  for (std::size_t i = 0; i < n; ++i) {
    const auto u = static_cast<unsigned char>(s[i]);
    if (u >= 0x20U && u < 0x7FU && s[i] != '"' && s[i] != '\\') {
      out += s[i];
    } else {
      out += "\\x";
      out += k_hex[u >> 4U];
      out += k_hex[u & 0xFU];
    }
  }
  out += '"';
  if (s.size() > n) out += "...";
  return out;
}

}  // namespace tlspolicy::sts
