// SPDX-License-Identifier: Apache-2.0
//
// Private to src/tlsrpt: what the two JSON readers of results (libtlsrpt datagrams, the JSON
// `report` op) share beyond util::JsonFieldReader: the limits of datagram.hpp and the reading of
// report and MX host names.
#pragma once

#include <string>

#include "tlspolicy/dns/name.hpp"
#include "tlspolicy/tlsrpt/datagram.hpp"
#include "tlspolicy/util/json_fields.hpp"
#include "tlspolicy/util/result.hpp"

namespace tlspolicy::tlsrpt::detail {

inline constexpr util::JsonLimits k_json_limits{k_max_text_bytes, k_max_list_items};

/// A report or policy domain: lower-case A-labels, no trailing dot.
template <class Json>
Result<std::string> domain(const util::JsonFieldReader<Json>& in, const std::string& text,
                           const std::string& where) {
  auto name = dns::DomainName::parse(text);
  if (!name) return in.reject("\"" + where + "\": " + name.error().detail);
  return name->str();
}

/// A receiving MX host name: normalised when it is a domain name, else as sent.
inline std::string normalise_mx_hostname(std::string text) {
  auto name = dns::DomainName::parse(text);
  if (name) return name->str();
  return text;
}

}  // namespace tlspolicy::tlsrpt::detail
