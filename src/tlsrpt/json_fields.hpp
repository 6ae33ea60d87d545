// SPDX-License-Identifier: Apache-2.0
//
// Private to src/tlsrpt: what the two JSON readers of results (libtlsrpt datagrams, the JSON
// `report` op) share beyond util::JsonFieldReader: the limits of datagram.hpp, the reading of
// report and MX host names, of a failure detail's texts and of a policy's names.
#pragma once

#include <array>
#include <cstddef>
#include <string>
#include <string_view>
#include <utility>

#include "tlspolicy/dns/name.hpp"
#include "tlspolicy/tlsrpt/datagram.hpp"
#include "tlspolicy/tlsrpt/model.hpp"
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

/// The keys of a failure detail's six texts in one format, in this order: sending-mta-ip,
/// receiving-mx-hostname, receiving-mx-helo, receiving-ip, additional-information,
/// failure-reason-code.
using DetailTextKeys = std::array<std::string_view, 6>;

/// Reads the six texts of a failure detail into `d` (absent ones stay empty); the MX host
/// name is normalised.
template <class Json>
Result<void> read_detail_texts(const util::JsonFieldReader<Json>& in, const Json& obj,
                               const std::string& where, const DetailTextKeys& keys,
                               util::Controls controls, FailureDetail& d) {
  const std::array<std::string*, 6> targets{&d.sending_mta_ip,         &d.receiving_mx_hostname,
                                            &d.receiving_mx_helo,      &d.receiving_ip,
                                            &d.additional_information, &d.failure_reason_code};
  for (std::size_t i = 0; i < keys.size(); ++i) {
    auto s = in.optional_string(obj, keys[i], where, controls);
    if (!s) return Unexpected{s.error()};
    if (*s) *targets[i] = std::move(**s);
  }
  d.receiving_mx_hostname = normalise_mx_hostname(std::move(d.receiving_mx_hostname));
  return {};
}

/// Reads "policy-domain" (`report_domain` when absent), "policy-string" and "mx-host", the
/// same keys in both formats, into `key`.
template <class Json>
Result<void> read_policy_names(const util::JsonFieldReader<Json>& in, const Json& obj,
                               const std::string& where, const std::string& report_domain,
                               PolicyKey& key) {
  auto given = in.optional_string(obj, "policy-domain", where);
  if (!given) return Unexpected{given.error()};
  if (*given) {
    auto normalised = domain(in, **given, util::json_key_path(where, "policy-domain"));
    if (!normalised) return Unexpected{normalised.error()};
    key.policy_domain = std::move(*normalised);
  } else {
    key.policy_domain = report_domain;
  }
  auto strings = in.optional_string_list(obj, "policy-string", where);
  if (!strings) return Unexpected{strings.error()};
  key.policy_strings = std::move(*strings);
  auto mx = in.optional_string_list(obj, "mx-host", where);
  if (!mx) return Unexpected{mx.error()};
  key.mx_hosts = std::move(*mx);
  return {};
}

}  // namespace tlspolicy::tlsrpt::detail
