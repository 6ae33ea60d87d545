// SPDX-License-Identifier: Apache-2.0
//
// NAME
//   mail - the RFC 8460 §5.3 report message for "mailto:" rua destinations
// FORMAT
//   RFC 5322 header, then a RFC 6522 multipart/report; report-type="tlsrpt" body:
//     1. text/plain; charset="us-ascii" (7bit): what this is, for whom, which day, from whom;
//     2. application/tlsrpt+gzip (base64, 76-column lines) with
//        Content-Disposition: attachment; filename="<RFC 8460 §5.1 name>".
//   LF line endings: the message goes to a sendmail pipe, which converts them.
//   Long header fields are folded at the whitespace their grammar allows (Subject: the FWS of
//   RFC 8460 §5.3; Content-Type/-Disposition: between parameters), so lines stay within 78
//   characters unless one word is longer. Such words are common: the §5.1 file name
//   (submitter!domain!begin!end!id.json.gz) and the Message-ID (report id + seed) often exceed
//   78 characters. They are kept whole rather than split with RFC 2231 parameter continuations
//   (filename*0=...), which RFC 8460's example does not use and simple report parsers miss;
//   RFC 5322 §2.1.1 makes 78 a SHOULD, and the hard limit of 998 holds for A-label domains
//   (<= 253 characters each).
// BOUNDARY
//   "=_tlsrpt_<seed>" (seed: the alphanumerics of MailParams::boundary_seed, at most 61 of them,
//   so the boundary is <= 70 characters, RFC 2046 §5.1.1). It cannot occur in the content:
//   - base64 lines hold only [A-Za-z0-9+/] plus '=' as final padding, so they never contain "=_"
//     and never start with "-";
//   - the text part is ours, and its variable parts (domain, submitter, day, file name, report
//     id) are reduced to characters without '=';
//   - the part headers are fixed text.
//   The seed only makes boundaries differ between messages; safety does not depend on it.
// SECURITY
//   Every header value is reduced to printable ASCII (0x20..0x7e), domains to [A-Za-z0-9.-],
//   ids and file names to their grammar, so CR/LF from the network cannot inject header fields.
// SEE ALSO
//   RFC 8460 §5.3; RFC 6522; RFC 2045 §6.8 (base64); RFC 2046 §5.1; RFC 5322 §3.3, §3.6.4;
//   RFC 8689 §4.2.2 (TLS-Required); RFC 3834 (Auto-Submitted); report.cpp; sendmail.cpp
#include "tlspolicy/tlsrpt/mail.hpp"

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include "tlspolicy/tlsrpt/model.hpp"

#include "text_chars.hpp"

namespace tlspolicy::tlsrpt {
namespace {

using detail::domain_chars;
using detail::filtered;
using detail::is_alnum;
using detail::trimmed;

constexpr std::size_t k_line_limit = 78;    // RFC 5322 §2.1.1 SHOULD
constexpr std::size_t k_base64_line = 76;   // RFC 2045 §6.8 MUST NOT exceed 76
constexpr std::size_t k_max_boundary = 70;  // RFC 2046 §5.1.1
constexpr std::string_view k_boundary_prefix = "=_tlsrpt_";

/// Printable ASCII only (0x20..0x7e): no CR, LF, other controls or 8-bit bytes; trimmed.
std::string header_text(std::string_view s) {
  return trimmed(filtered(s, [](char c) { return c >= 0x20 && c <= 0x7e; }), ' ');
}

/// An address for From:/To: (addr-spec, no spaces).
std::string address_text(std::string_view s) {
  return filtered(header_text(s), [](char c) { return c != ' ' && c != '<' && c != '>'; });
}

/// id-left "@" id-right characters (make_report_id's alphabet: a subset of atext, '.', '@').
std::string msg_id_text(std::string_view s) {
  return filtered(
      s, [](char c) { return is_alnum(c) || c == '.' || c == '-' || c == '_' || c == '@'; });
}

/// RFC 8460 §5.1 file name characters: domains, digits, '!', '.', and nothing that would end
/// the quoted parameter ('"', '\\') or name a directory ('/').
std::string filename_text(std::string_view s) {
  return filtered(
      s, [](char c) { return is_alnum(c) || c == '.' || c == '-' || c == '!' || c == '_'; });
}

/// One header field, folded (RFC 5322 §2.2.3) between `words` so that lines stay within 78
/// characters; a word longer than that stays whole on its own line. Ends with LF.
std::string field(std::string_view name, const std::vector<std::string>& words) {
  std::string out(name);
  out += ':';
  std::size_t line = out.size();
  for (const auto& w : words) {
    if (w.empty()) continue;
    if (line + 1 + w.size() > k_line_limit && line > name.size() + 1) {
      out += "\n ";  // fold: the continuation starts with WSP
      line = 1;
    } else {
      out += ' ';
      ++line;
    }
    out += w;
    line += w.size();
  }
  out += '\n';
  return out;
}

std::string field(std::string_view name, const std::string& value) {
  return field(name, std::vector<std::string>{value});
}

/// Plain text wrapped at 76 columns (long words stay whole). Paragraphs are separated by "\n".
std::string wrap(std::string_view text) {
  std::string out;
  std::size_t line = 0;
  std::size_t i = 0;
  while (i < text.size()) {
    if (text[i] == '\n') {
      out += '\n';
      line = 0;
      ++i;
      continue;
    }
    if (text[i] == ' ') {
      ++i;
      continue;
    }
    std::size_t j = i;
    while (j < text.size() && text[j] != ' ' && text[j] != '\n') ++j;
    const std::string_view w = text.substr(i, j - i);
    if (line > 0 && line + 1 + w.size() > k_base64_line) {
      out += '\n';
      line = 0;
    } else if (line > 0) {
      out += ' ';
      ++line;
    }
    out += w;
    line += w.size();
    i = j;
  }
  return out;
}

/// RFC 2045 §6.8 base64, in lines of 76 characters, each ending with LF.
std::string base64_lines(std::string_view data) {
  static constexpr char k_alphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((data.size() + 2) / 3 * 4 * 77 / 76 + 2);
  std::size_t line = 0;
  const auto put = [&](char c) {
    out += c;
    if (++line == k_base64_line) {
      out += '\n';
      line = 0;
    }
  };
  const auto byte = [&data](std::size_t k) { return static_cast<unsigned char>(data[k]); };
  std::size_t i = 0;
  for (; i + 3 <= data.size(); i += 3) {
    const unsigned v = (unsigned{byte(i)} << 16) | (unsigned{byte(i + 1)} << 8) | byte(i + 2);
    put(k_alphabet[(v >> 18) & 63]);
    put(k_alphabet[(v >> 12) & 63]);
    put(k_alphabet[(v >> 6) & 63]);
    put(k_alphabet[v & 63]);
  }
  if (const std::size_t rest = data.size() - i; rest > 0) {
    const unsigned v = (unsigned{byte(i)} << 16) | (rest == 2 ? (unsigned{byte(i + 1)} << 8) : 0u);
    put(k_alphabet[(v >> 18) & 63]);
    put(k_alphabet[(v >> 12) & 63]);
    put(rest == 2 ? k_alphabet[(v >> 6) & 63] : '=');
    put('=');
  }
  if (line > 0) out += '\n';
  return out;
}

/// The covered day, from the begin timestamp of an RFC 8460 §5.1 file name
/// (submitter!domain!begin!end...), or "" when the name does not have that form.
std::string day_from_filename(std::string_view name) {
  std::size_t at = 0;
  for (int bang = 0; bang < 2; ++bang) {
    at = name.find('!', at);
    if (at == std::string_view::npos) return {};
    ++at;
  }
  long long begin = 0;
  std::size_t digits = 0;
  for (; at + digits < name.size() && name[at + digits] >= '0' && name[at + digits] <= '9';
       ++digits) {
    if (digits >= 12) return {};  // far beyond any plausible date
    begin = begin * 10 + (name[at + digits] - '0');
  }
  if (digits == 0 || at + digits >= name.size() || name[at + digits] != '!') return {};
  const auto t = util::TimePoint{std::chrono::seconds{begin}};
  return format_day(std::chrono::floor<std::chrono::days>(t));
}

}  // namespace

std::string rfc5322_date(util::TimePoint t) {
  static constexpr std::array<const char*, 7> k_days{"Sun", "Mon", "Tue", "Wed",
                                                     "Thu", "Fri", "Sat"};
  static constexpr std::array<const char*, 12> k_months{"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                        "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  const auto days = std::chrono::floor<std::chrono::days>(t);
  const std::chrono::year_month_day ymd{days};
  const std::chrono::weekday wd{days};
  const std::chrono::hh_mm_ss hms{t - days};
  std::array<char, 64> buf{};
  const int n = std::snprintf(
      buf.data(), buf.size(), "%s, %u %s %04d %02ld:%02ld:%02ld +0000", k_days[wd.c_encoding()],
      static_cast<unsigned>(ymd.day()), k_months[static_cast<unsigned>(ymd.month()) - 1],
      static_cast<int>(ymd.year()), static_cast<long>(hms.hours().count()),
      static_cast<long>(hms.minutes().count()), static_cast<long>(hms.seconds().count()));
  return std::string(buf.data(), n > 0 ? static_cast<std::size_t>(n) : 0);
}

std::string render_report_mail(const MailParams& p, std::string_view gzipped_report) {
  // Domains (A-label): [A-Za-z0-9.-], no leading or trailing dot.
  const std::string domain = domain_chars(p.domain);
  const std::string submitter = domain_chars(p.submitter);
  const std::string report_id = msg_id_text(p.report_id);
  const std::string filename = filename_text(p.filename);
  const std::string seed = filtered(p.boundary_seed, is_alnum);

  std::string boundary(k_boundary_prefix);
  boundary += seed.empty() ? std::string("0") : seed.substr(0, k_max_boundary - boundary.size());

  // Message-ID: the report id with the seed added to its left side, so that each message (one
  // per rua address and per retry) has its own id while Report-ID names the report.
  std::string message_id = report_id;
  if (const auto at = report_id.rfind('@'); at != std::string::npos && !seed.empty()) {
    message_id = report_id.substr(0, at) + "." + seed + report_id.substr(at);
  }

  std::string m;
  m += field("From", address_text(p.from));
  m += field("To", address_text(p.to));
  m += field("Date", rfc5322_date(p.date));
  // RFC 8460 §5.3 (RPT-15): "Report" FWS "Domain:" FWS domain FWS "Submitter:" FWS domain FWS
  // "Report-ID:" FWS "<" id-left "@" id-right ">"; folded only at those FWS.
  m += field("Subject", std::vector<std::string>{"Report", "Domain:", domain, "Submitter:",
                                                 submitter, "Report-ID:", "<" + report_id + ">"});
  m += field("Message-ID", "<" + message_id + ">");
  m += field("MIME-Version", "1.0");
  m += field("TLS-Report-Domain", domain);         // RFC 8460 §5.3 (RPT-14): MUST
  m += field("TLS-Report-Submitter", submitter);   // RFC 8460 §5.3 (RPT-14): MUST
  m += field("TLS-Required", "No");                // RFC 8689 §4.2.2; RPT-6: deliver despite TLS
  m += field("Auto-Submitted", "auto-generated");  // RFC 3834 §5: no auto-replies
  // RFC 6522 §3: report-type names the machine-readable part; RFC 8460 §5.3: "tlsrpt".
  m +=
      field("Content-Type", std::vector<std::string>{"multipart/report;", "report-type=\"tlsrpt\";",
                                                     "boundary=\"" + boundary + "\""});
  m += "\nThis is a multipart message in MIME format.\n";

  // Part 1 (RFC 6522 §3: human-readable).
  const std::string day = day_from_filename(filename);
  std::string text = "This is an aggregate SMTP TLS report (RFC 8460) from " + submitter +
                     " about its attempts to deliver mail with TLS to " + domain;
  text += day.empty() ? std::string(".") : " on " + day + " (00:00 to 24:00 UTC).";
  text += "\n\nThe report is attached as gzip-compressed JSON (application/tlsrpt+gzip).\nFile: " +
          filename + "\nReport-ID: <" + report_id + ">\n";
  m += "\n--" + boundary + "\n";
  m += field("Content-Type", std::vector<std::string>{"text/plain;", "charset=\"us-ascii\""});
  m += field("Content-Transfer-Encoding", "7bit");
  m += "\n" + wrap(text) + "\n";

  // Part 2 (RFC 8460 §5.3, RPT-14: the report, gzip: RPT-13).
  m += "\n--" + boundary + "\n";
  m += field("Content-Type", "application/tlsrpt+gzip");
  m += field("Content-Transfer-Encoding", "base64");
  m += field("Content-Disposition",
             std::vector<std::string>{"attachment;", "filename=\"" + filename + "\""});
  m += "\n" + base64_lines(gzipped_report);
  m += "\n--" + boundary + "--\n";
  return m;
}

}  // namespace tlspolicy::tlsrpt
