// SPDX-License-Identifier: Apache-2.0
//
// Fuzz target for NetstringDecoder (untrusted socketmap bytes). The first
// input byte picks a chunk size; the rest is fed in chunks of that size.
// Invariants: next() never throws; once drained the decoder holds at most
// max + k_max_netstring_digits + 1 bytes; every payload fits the limit and
// re-encodes to a netstring that decodes back to the same payload; an error
// is sticky.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "tlspolicy/proto/netstring.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using tlspolicy::proto::NetstringDecoder;
  if (size == 0) return 0;
  constexpr std::size_t k_max = 10000;
  const std::size_t chunk = static_cast<std::size_t>(data[0] % 64U) + 1;
  const std::string_view input{reinterpret_cast<const char*>(data) + 1, size - 1};
  NetstringDecoder dec{k_max};
  for (std::size_t at = 0; at < input.size(); at += chunk) {
    dec.feed(input.substr(at, chunk));
    for (;;) {
      auto got = dec.next();
      if (!got) {
        if (!dec.failed() || dec.buffered() != 0 || dec.next()) std::abort();
        return 0;
      }
      if (!got->has_value()) break;
      const std::string& payload = **got;
      if (payload.size() > k_max) std::abort();
      NetstringDecoder again{k_max};
      again.feed(tlspolicy::proto::encode_netstring(payload));
      auto back = again.next();
      if (!back || !back->has_value() || **back != payload) std::abort();
    }
    if (dec.buffered() > k_max + tlspolicy::proto::k_max_netstring_digits + 1) std::abort();
  }
  return 0;
}
