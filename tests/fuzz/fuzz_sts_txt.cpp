// SPDX-License-Identifier: Apache-2.0
//
// Fuzz target for the _mta-sts TXT record parser (RFC 8461 §3.1): parse_sts_txt()
// must never crash or throw, and a record it accepts must carry an id of 1..32
// letters and digits and be chosen by select_sts_txt() on its own (STS-3).
// The input is also split at LF into several records for select_sts_txt().
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "tlspolicy/sts/policy.hpp"

#include "fuzz_support.hpp"

// Declared here for -Wmissing-declarations; libFuzzer or standalone_main.cpp calls it.
extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace tlspolicy::sts;
  const std::string_view input{reinterpret_cast<const char*>(data), size};

  const auto parsed = parse_sts_txt(input);
  if (parsed) {
    const std::string& id = parsed->id;
    if (id.empty() || id.size() > 32) std::abort();
    for (const char c : id) {
      const bool alnum = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
      if (!alnum) std::abort();
    }
    const auto selected = select_sts_txt({std::string{input}});
    if (!selected || selected->id != id) std::abort();
  } else if (parsed.error().detail.empty()) {
    std::abort();
  }

  const auto selected = select_sts_txt(tlspolicy::fuzz::split_lines(input));
  if (selected && selected->id.empty()) std::abort();
  return 0;
}
