// SPDX-License-Identifier: Apache-2.0
//
// Fuzz target for the TLSRPT TXT record parser (RFC 8460 §3, RPT-1, RPT-2):
// parse_tlsrpt_record() must never crash or throw, and a record it accepts
// must give 1..k_max_rua_targets distinct destinations, each a mailto: with
// a mailbox "local@domain" or an https: without one, and be chosen by
// select_tlsrpt_record() on its own. The input is also split at LF into
// several records for select_tlsrpt_record(), which never fails.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "tlspolicy/tlsrpt/record.hpp"

#include "fuzz_support.hpp"

// Declared here for -Wmissing-declarations; libFuzzer or standalone_main.cpp calls it.
extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

namespace {

// The scheme of `uri` in lower case, up to the first ':'.
std::string scheme_of(std::string_view uri) {
  std::string out;
  for (const char c : uri.substr(0, uri.find(':'))) {
    out += (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace tlspolicy::tlsrpt;
  const std::string_view input{reinterpret_cast<const char*>(data), size};

  const auto parsed = parse_tlsrpt_record(input);
  if (parsed) {
    const auto& rua = parsed->rua;
    if (rua.empty() || rua.size() > k_max_rua_targets) std::abort();
    for (std::size_t i = 0; i < rua.size(); ++i) {
      const RuaTarget& t = rua[i];
      if (t.uri.empty() || input.find(t.uri) == std::string_view::npos) std::abort();
      if (std::find(rua.begin(), rua.begin() + static_cast<std::ptrdiff_t>(i), t) !=
          rua.begin() + static_cast<std::ptrdiff_t>(i)) {
        std::abort();  // duplicates are kept once
      }
      if (t.kind == RuaTarget::Kind::Https) {
        if (scheme_of(t.uri) != "https" || !t.mailbox.empty()) std::abort();
      } else {
        const std::size_t at = t.mailbox.rfind('@');
        if (scheme_of(t.uri) != "mailto" || at == std::string::npos || at == 0 ||
            at + 1 == t.mailbox.size()) {
          std::abort();
        }
        if (std::any_of(t.mailbox.begin(), t.mailbox.end(), [](char c) {
              const auto u = static_cast<unsigned char>(c);
              return u <= 0x20 || u == 0x7F || c == ',';
            })) {
          std::abort();
        }
      }
    }
    const auto selected = select_tlsrpt_record({std::string{input}});
    if (!selected || !selected->has_value() || **selected != *parsed) std::abort();
  } else if (parsed.error().detail.empty()) {
    std::abort();
  }

  const auto selected = select_tlsrpt_record(tlspolicy::fuzz::split_lines(input));
  if (!selected) std::abort();
  if (selected->has_value() && (*selected)->rua.empty()) std::abort();
  return 0;
}
