// SPDX-License-Identifier: Apache-2.0
//
// tlsrpt report: turns the aggregated results of one (UTC day, report domain)
// into the RFC 8460 §4 report JSON, compresses it (§5.2), and names it (§5.1).
// Pure functions: no I/O, no clock, thread-safe.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "tlspolicy/tlsrpt/model.hpp"
#include "tlspolicy/util/result.hpp"

namespace tlspolicy::tlsrpt {

/// What the report says about itself (RFC 8460 §4.4 top-level fields).
struct ReportMeta {
  std::string organization_name;  ///< "organization-name"
  std::string contact_info;       ///< "contact-info"; its domain MUST be the submitter (RPT-14)
  std::string report_id;          ///< "report-id"; see make_report_id()
  Day day{};                      ///< the UTC day covered: "date-range" (RPT-8)
  std::string domain;  ///< report domain; not a JSON field (used for the filename and mail)
};

/// The RFC 8460 §4.4 report as compact I-JSON text (RPT-7, RPT-9, RPT-11):
///   {"organization-name","date-range":{"start-datetime","end-datetime"},"contact-info",
///    "report-id","policies":[{"policy":{"policy-type","policy-string","policy-domain","mx-host"},
///    "summary":{"total-successful-session-count","total-failure-session-count"},
///    "failure-details":[{"result-type","sending-mta-ip","receiving-mx-hostname",
///    "receiving-mx-helo","receiving-ip","failed-session-count","additional-information",
///    "failure-reason-code"}]}]}
/// in that member order. "date-range" is <day>T00:00:00Z .. <day+1>T00:00:00Z (RFC 3339).
/// Omitted when empty: "policy-string" (no-policy-found has no policy to encode), "mx-host",
/// "failure-details", and each failure-detail field other than "result-type" and
/// "failed-session-count". "policies" is always an array (RPT-7), [] when `policies` is empty.
/// Counts are JSON integers, capped at 2^53-1 (RFC 7493 §2.2: exact in an IEEE double).
/// Strings are made valid I-JSON (RFC 7493 §2.1): invalid UTF-8, surrogates and noncharacters
/// become U+FFFD; this function never throws for bad input bytes.
[[nodiscard]] std::string render_report_json(const ReportMeta& meta,
                                             const std::vector<AggregatedPolicy>& policies);

/// gzip (RFC 1952) of `data`, for RFC 8460 §5.2 (RPT-13). Errors: Internal (zlib failure or out
/// of memory; Transient).
[[nodiscard]] Result<std::string> gzip_compress(std::string_view data);

/// Inverse of gzip_compress (also accepts concatenated gzip members, as gunzip does), producing at
/// most `max_out` bytes. Errors: InvalidArgument (not gzip, corrupt, truncated, or more than
/// `max_out` bytes of output; Permanent), Internal (zlib failure; Transient).
[[nodiscard]] Result<std::string> gzip_decompress(std::string_view data, std::size_t max_out);

/// RFC 8460 §5.1 (RPT-12) file name:
///   submitter "!" policy-domain "!" begin "!" end [ "!" unique-id ] "." ("json" / "json.gz")
/// with begin/end the Unix seconds of `day` 00:00:00Z and of the next day's 00:00:00Z, e.g.
/// "mail.example!example.net!1795392000!1795478400!1a2b.json.gz" for 2026-11-23. The "!unique-id"
/// part is left out when `unique_id` is empty. Characters outside the grammar are dropped: domains
/// keep [A-Za-z0-9.-] (A-labels) and unique-id keeps [A-Za-z0-9] (§5.1: 1*(ALPHA / DIGIT)), so
/// the name is safe in a path and in a quoted MIME parameter.
[[nodiscard]] std::string report_filename(std::string_view submitter,
                                          std::string_view policy_domain, Day day,
                                          std::string_view unique_id, bool gzipped);

/// A report id that is also an RFC 5322 msg-id body (id-left "@" id-right, both dot-atom-text),
/// so it can appear in the RFC 8460 §5.3 subject "Report-ID: <...>" (RPT-15):
///   "<YYYY-MM-DD>.<domain>.<random_hex>@<submitter>"   e.g.
///   "2026-11-24.example.net.5f2c9e01@mail.sender.example"
/// Characters that are not atext are dropped and empty atoms removed; an empty `random_hex` is
/// left out; an empty submitter becomes "localhost". Unique as long as `random_hex` is.
[[nodiscard]] std::string make_report_id(Day day, std::string_view domain,
                                         std::string_view submitter, std::string_view random_hex);

}  // namespace tlspolicy::tlsrpt
