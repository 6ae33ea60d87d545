// SPDX-License-Identifier: Apache-2.0
//
// Fuzz target for DomainName::parse (untrusted names from Postfix, Exim, JSON
// clients and MTA-STS policies). Invariants: parse never throws or crashes; an
// accepted name is in normal form (parse(str()) gives the same value), obeys
// the length limits, and prefixed()/parent()/labels()/to_unicode() work or
// fail cleanly on it.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "tlspolicy/dns/name.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using tlspolicy::dns::DomainName;
  const std::string_view text{reinterpret_cast<const char*>(data), size};
  const auto name = DomainName::parse(text);
  if (!name) {
    if (name.error().detail.empty()) std::abort();  // every error names its reason
    return 0;
  }
  const auto& str = name->str();
  if (str.empty() || str.size() > 253 || str.back() == '.') std::abort();
  const auto again = DomainName::parse(str);
  if (!again || *again != *name) std::abort();
  for (const auto label : name->labels()) {
    if (label.empty() || label.size() > 63) std::abort();
  }
  const auto prefixed = name->prefixed("_x");
  if (prefixed) {
    if (prefixed->str() != "_x." + str) std::abort();
    const auto parent = prefixed->parent();
    if (!parent || *parent != *name) std::abort();
  } else if (str.size() + 3 <= 253) {
    std::abort();  // only the length limit may refuse "_x"
  }
  (void)name->to_unicode();
  return 0;
}
