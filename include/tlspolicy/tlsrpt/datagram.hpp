// SPDX-License-Identifier: Apache-2.0
//
// The libtlsrpt datagram: what an MTA linked with libtlsrpt (Postfix 3.10+
// with smtp_tlsrpt_socket_name) sends over a Unix datagram socket, one
// datagram per delivery attempt. The bytes are one JSON object:
//
//   {"d":"example.com",                        report domain, required
//    "pr":"v=TLSRPTv1; rua=mailto:r@example.com",   TLSRPT record seen, optional
//    "policies":[{                             required, 1..k_max_policies
//      "policy-type":2,                        required: 1 tlsa, 2 sts, 9 no-policy-found
//      "policy-domain":"example.com",          optional, default "d"
//      "policy-string":["version: STSv1",…],   optional array of strings
//      "mx-host":["*.mail.example.com"],       optional array of strings
//      "failure-details":[{                    optional, one object per failed session
//        "c":202,                              required: libtlsrpt failure code 201..205, 301..306
//        "s":"192.0.2.1",                      sending-mta-ip, optional
//        "n":"mx1.mail.example.com",           receiving-mx-hostname, optional
//        "h":"mx1.helo",                       receiving-mx-helo, optional
//        "r":"198.51.100.7",                   receiving-ip, optional
//        "a":"more info",                      additional-information, optional
//        "f":"999 TEST"}],                     failure-reason-code, optional
//      "t":1,                                  number of failure details: ignored
//      "f":1}]}                                required final result: 0 success, 1 failure
//
// Older libtlsrpt versions omit "pr"; libtlsrpt omits "policy-domain" for a
// no-policy-found policy without a domain. Unknown keys anywhere are ignored
// (newer libtlsrpt versions may add some); known keys of the wrong type are
// errors.
//
// Counting, per policy: successes = 1 when "f" is 0, else 0; failures = the
// number of failure details, but at least 1 when "f" is 1. Each failure
// detail is one failed session.
//
// Normalisation: "d" and "policy-domain" through dns::DomainName::parse
// (lower-case A-labels, no trailing dot; a bad domain is an error); a
// receiving MX hostname that parses as a domain likewise, else verbatim;
// IP addresses, policy strings and MX patterns verbatim.
#pragma once

#include <cstddef>
#include <string_view>

#include "tlspolicy/tlsrpt/model.hpp"
#include "tlspolicy/util/clock.hpp"
#include "tlspolicy/util/result.hpp"

namespace tlspolicy::tlsrpt {

/// Largest datagram accepted, in bytes (libtlsrpt's buffer is 65000).
inline constexpr std::size_t k_max_datagram = 65536;
/// Most policies in one datagram or report op.
inline constexpr std::size_t k_max_policies = 64;
/// Most strings in one array, and most failure details in one policy.
inline constexpr std::size_t k_max_list_items = 1000;
/// Longest string value, in bytes.
inline constexpr std::size_t k_max_text_bytes = 4096;
/// Deepest nesting of JSON arrays and objects (the format needs 5; the rest
/// leaves room for unknown keys of later versions).
inline constexpr std::size_t k_max_json_depth = 32;

/// Parses one libtlsrpt datagram into a batch with origin Origin::Datagram
/// and time `at`. Errors (Errc::InvalidArgument, Retry::Permanent, the detail
/// names the offending key): more than k_max_datagram bytes; not a JSON
/// object in UTF-8 (RFC 8259), or nested deeper than k_max_json_depth;
/// a missing or mistyped required key, a known key of the wrong type; an
/// unknown policy type or failure code, "f" other than 0 or 1; more than
/// k_max_policies policies, k_max_list_items strings in an array or failure
/// details in a policy; a string longer than k_max_text_bytes or holding a
/// C0 control character (U+0000..U+001F); a bad domain. Never throws.
[[nodiscard]] Result<ResultBatch> parse_datagram(std::string_view bytes, util::TimePoint at);

}  // namespace tlspolicy::tlsrpt
