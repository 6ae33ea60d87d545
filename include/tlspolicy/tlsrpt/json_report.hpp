// SPDX-License-Identifier: Apache-2.0
//
// The payload of the JSON-lines protocol's "report" op (docs/protocols/json.md):
// one TLS-RPT result (RFC 8460) from Exim events or any other sender that
// cannot use the libtlsrpt datagram socket. The request object:
//
//   {"op":"report",                          ignored here (checked by src/proto)
//    "id":…, "v":…,                          ignored here (checked by src/proto)
//    "domain":"example.com",                 required: the report domain (recipient domain)
//    "result":"success"|"failure",           required: the session's outcome
//    "policy":{                              optional (see below)
//      "policy-type":"sts"|"tlsa"|"no-policy-found",   required
//      "policy-domain":"example.com",        optional, default "domain"
//      "policy-string":["version: STSv1",…], optional array of strings (RPT-11)
//      "mx-host":["*.mail.example.com"]},    optional array of strings
//    "failure-details":[{                    optional; each entry is one failed session
//      "result-type":"certificate-expired",  required, an RFC 8460 §4.3 name (RPT-10)
//      "sending-mta-ip":"192.0.2.1",         the other fields optional strings,
//      "receiving-mx-hostname":"mx1.example.com",   named as in RFC 8460 §4.4
//      "receiving-mx-helo":"mx1",
//      "receiving-ip":"198.51.100.7",
//      "additional-information":"…",
//      "failure-reason-code":"…"}],
//    "tlsrpt-record":"v=TLSRPTv1; rua=…"}    optional: the TLSRPT record the sender saw
//
// Unlike the datagram, this protocol REJECTS unknown keys (at every level),
// so that a typo never passes silently; the error names the key.
//
// Without "policy", policy_given is false and the batch holds one
// no-policy-found policy for "domain": the daemon may replace it with the
// policy of its own decision for that domain.
//
// Counting (one report op = one session): "success" gives successes = 1 and
// failures = the number of failure details; "failure" gives failures = the
// number of failure details, at least 1.
//
// Limits and normalisation are those of the datagram (datagram.hpp): at most
// k_max_datagram bytes, k_max_list_items strings per array and failure
// details, k_max_text_bytes per string, no C0 control characters; domains
// through dns::DomainName::parse, receiving MX host names lower-cased without
// trailing dot when they are domain names.
#pragma once

#include <string_view>

#include "tlspolicy/tlsrpt/datagram.hpp"
#include "tlspolicy/tlsrpt/model.hpp"
#include "tlspolicy/util/result.hpp"

namespace tlspolicy::tlsrpt {

struct JsonReport {
  /// origin Origin::JsonOp; `at` is TimePoint{}: the daemon stamps it.
  ResultBatch batch;
  /// False when the request had no "policy" (batch.policies[0] is then
  /// no-policy-found for the report domain, a placeholder).
  bool policy_given = false;
  friend bool operator==(const JsonReport&, const JsonReport&) = default;
};

/// Parses the whole "report" request object (its JSON text). Errors
/// (Errc::InvalidArgument, Retry::Permanent, the detail names the key):
/// not a JSON object in UTF-8, unknown keys, missing or mistyped keys, an
/// unknown "result", "policy-type" or "result-type", a bad domain, and the
/// limits above. Never throws.
[[nodiscard]] Result<JsonReport> parse_json_report(std::string_view request_object_json);

}  // namespace tlspolicy::tlsrpt
