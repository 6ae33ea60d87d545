// SPDX-License-Identifier: Apache-2.0
//
// tlsrpt mail: the RFC 8460 §5.3 report message (multipart/report, RFC 6522)
// for a "mailto:" rua, ready for a sendmail pipe (sendmail.hpp). Pure
// functions: no I/O, no clock, thread-safe.
#pragma once

#include <string>
#include <string_view>

#include "tlspolicy/util/clock.hpp"

namespace tlspolicy::tlsrpt {

struct MailParams {
  std::string from;           ///< header From: address (the reporting mailbox)
  std::string to;             ///< header To: address (the rua mailto: address)
  std::string domain;         ///< report domain: TLS-Report-Domain, Subject (A-label)
  std::string submitter;      ///< TLS-Report-Submitter; MUST be contact-info's domain (RPT-14)
  std::string report_id;      ///< "id-left@id-right" (make_report_id()); Subject Report-ID
  std::string filename;       ///< report_filename(..., true); Content-Disposition filename
  util::TimePoint date{};     ///< header Date:
  std::string boundary_seed;  ///< random text; makes the MIME boundary and the Message-ID unique
};

/// The RFC 5322 message carrying one gzipped report (RFC 8460 §5.3, RPT-14, RPT-15), with LF line
/// endings (sendmail converts them). Header fields, in order:
///   From, To, Date, Subject "Report Domain: <domain> Submitter: <submitter>
///   Report-ID: <<report_id>>" (folded at its FWS), Message-ID, MIME-Version: 1.0,
///   TLS-Report-Domain, TLS-Report-Submitter, TLS-Required: No (RFC 8689 §4.2.2: a report must be
///   deliverable despite the TLS failures it reports, RPT-6), Auto-Submitted: auto-generated
///   (RFC 3834), Content-Type: multipart/report; report-type="tlsrpt"; boundary="=_tlsrpt_<seed>".
/// Body (RFC 6522): a text/plain part naming the domain, the day and the submitter, then
/// application/tlsrpt+gzip, base64 in lines of 76, Content-Disposition: attachment; filename="..".
/// Header values are reduced to printable ASCII (no CR, LF or other control character can reach
/// the header; domains keep [A-Za-z0-9.-] only), so nothing from the network can inject a field.
/// The message is not DKIM-signed here: RPT-6 signing belongs to the MTA the message is sent
/// through (e.g. a signing milter on the submission path).
[[nodiscard]] std::string render_report_mail(const MailParams& p, std::string_view gzipped_report);

/// RFC 5322 §3.3 date-time in UTC, e.g. "Tue, 24 Nov 2026 07:00:00 +0000".
[[nodiscard]] std::string rfc5322_date(util::TimePoint t);

}  // namespace tlspolicy::tlsrpt
