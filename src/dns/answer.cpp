// SPDX-License-Identifier: Apache-2.0
//
// Small helpers of the DNS answer value types: the joined text of a TXT RR and
// the stable names of RrType, Security and Outcome used in logs, JSON and the
// decision's "dnssec" field (SPEC §3). Never rename a string here.
#include "tlspolicy/dns/answer.hpp"

namespace tlspolicy::dns {

std::string TxtRecord::joined() const {
  // RFC 8461 §3.1 / RFC 8460 §3: multiple character-strings are concatenated
  // without any separator before the record is parsed.
  std::size_t total = 0;
  for (const auto& s : strings) total += s.size();
  std::string out;
  out.reserve(total);
  for (const auto& s : strings) out += s;
  return out;
}

std::string_view to_string(RrType t) noexcept {
  switch (t) {
    case RrType::A:
      return "A";
    case RrType::Cname:
      return "CNAME";
    case RrType::Mx:
      return "MX";
    case RrType::Txt:
      return "TXT";
    case RrType::Aaaa:
      return "AAAA";
    case RrType::Tlsa:
      return "TLSA";
  }
  return "unknown";
}

std::string_view to_string(Security s) noexcept {
  switch (s) {
    case Security::Secure:
      return "secure";
    case Security::Insecure:
      return "insecure";
    case Security::Bogus:
      return "bogus";
    case Security::Indeterminate:
      return "indeterminate";
  }
  return "indeterminate";
}

std::string_view to_string(Outcome o) noexcept {
  switch (o) {
    case Outcome::Data:
      return "data";
    case Outcome::NoData:
      return "nodata";
    case Outcome::NxDomain:
      return "nxdomain";
  }
  return "unknown";
}

}  // namespace tlspolicy::dns
