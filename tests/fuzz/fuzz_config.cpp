// SPDX-License-Identifier: Apache-2.0
//
// Fuzz target for the config loader: arbitrary bytes as a TOML config file,
// no overrides. load_config_text must return a value or an error for every
// input, never throw, crash, overflow the stack (deep dotted keys) or hang;
// an exception escaping here aborts the fuzzer.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "tlspolicy/config/settings.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text{reinterpret_cast<const char*>(data), size};
  const auto result = tlspolicy::config::load_config_text(text, {});
  if (result) {
    // Every successful load lists every setting.
    if (result->values.size() != tlspolicy::config::setting_docs().size()) __builtin_trap();
  }
  return 0;
}
