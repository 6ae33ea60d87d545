// SPDX-License-Identifier: Apache-2.0
//
// Fuzz target for the socketmap request path: parse_socketmap_request() and
// classify_key() on untrusted payloads, then the reply helpers. Invariants:
// nothing throws; a parsed request has a non-empty name without spaces and a
// non-empty key, and re-joins to the payload; a key classified Domain parses
// as a DomainName; TEMP/PERM replies are one bounded line.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "tlspolicy/dns/name.hpp"
#include "tlspolicy/proto/socketmap.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

namespace {
bool one_line(std::string_view s) {
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) return false;
  }
  return true;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace tlspolicy::proto;
  const std::string_view payload{reinterpret_cast<const char*>(data), size};
  const auto reply = perm_reply(payload);
  if (reply.size() > 5 + k_max_reason_bytes || !one_line(reply)) std::abort();
  const auto req = parse_socketmap_request(payload);
  if (!req) return 0;
  if (req->map_name.empty() || req->key.empty()) std::abort();
  if (req->map_name.find(' ') != std::string::npos) std::abort();
  if (std::string{req->map_name} + " " + std::string{req->key} != payload) std::abort();
  (void)map_kind(req->map_name);
  // The cached path's shortcut: a canonical key is exactly what parse() gives back.
  if (classify_key(req->key) == KeyKind::Domain) {
    if (!tlspolicy::dns::DomainName::parse(req->key)) std::abort();
    if (req->key.front() == '.' || req->key.find(':') != std::string::npos) std::abort();
  }
  return 0;
}
