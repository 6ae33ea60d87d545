// SPDX-License-Identifier: Apache-2.0
//
// Unit tests of the RFC 8460 §5.3 report mail (src/tlsrpt/mail.cpp). The test parses the MIME
// structure itself (RFC 5322 unfolding, RFC 2046 boundaries, RFC 2045 base64) and checks the
// multipart/report of RFC 6522 (RPT-14), the subject grammar (RPT-15), the TLS-Report-* header
// fields (RPT-14), TLS-Required (RPT-6), and that the attachment decodes to the gzip (RPT-13) that
// decompresses to the report JSON. It also checks that header values cannot inject fields.
#include "tlspolicy/tlsrpt/mail.hpp"

#include <chrono>
#include <cstddef>
#include <map>
#include <optional>
#include <regex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "tlspolicy/tlsrpt/model.hpp"
#include "tlspolicy/tlsrpt/report.hpp"

namespace tlspolicy::tlsrpt {
namespace {

using std::chrono::November;

constexpr Day k_day = std::chrono::sys_days{std::chrono::year{2026} / November / 23};
const util::TimePoint k_sent = util::TimePoint{k_day + std::chrono::days{1}} +
                               std::chrono::hours{3} + std::chrono::minutes{7} +
                               std::chrono::seconds{9};

std::vector<std::string> split_lines(std::string_view s) {
  std::vector<std::string> lines;
  std::size_t at = 0;
  while (at < s.size()) {
    const auto end = s.find('\n', at);
    if (end == std::string_view::npos) {
      lines.emplace_back(s.substr(at));
      break;
    }
    lines.emplace_back(s.substr(at, end - at));
    at = end + 1;
  }
  return lines;
}

struct Header {
  std::vector<std::pair<std::string, std::string>> fields;  // in order, unfolded
  [[nodiscard]] std::vector<std::string> all(std::string_view name) const {
    std::vector<std::string> out;
    for (const auto& [n, v] : fields) {
      if (n == name) out.push_back(v);
    }
    return out;
  }
  [[nodiscard]] std::string one(std::string_view name) const {
    const auto v = all(name);
    EXPECT_EQ(v.size(), 1u) << "header field " << name << " appears " << v.size() << " times";
    return v.empty() ? std::string() : v.front();
  }
};

/// RFC 5322 §2.2.3: unfolds (a continuation line starts with WSP) and splits "name: value".
Header parse_header(std::string_view text) {
  Header h;
  for (const auto& line : split_lines(text)) {
    if (!line.empty() && (line[0] == ' ' || line[0] == '\t')) {
      EXPECT_FALSE(h.fields.empty()) << "continuation before any field: " << line;
      if (!h.fields.empty()) h.fields.back().second += line;  // CRLF removed, WSP kept
      continue;
    }
    const auto colon = line.find(':');
    EXPECT_NE(colon, std::string::npos) << "not a header field: " << line;
    if (colon == std::string::npos) continue;
    std::string value = line.substr(colon + 1);
    h.fields.emplace_back(line.substr(0, colon), value);
  }
  for (auto& [n, v] : h.fields) {
    const auto first = v.find_first_not_of(" \t");
    v = first == std::string::npos ? std::string() : v.substr(first);
    while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.pop_back();
  }
  return h;
}

struct Entity {
  Header header;
  std::string body;
};

Entity split_entity(std::string_view text) {
  const auto blank = text.find("\n\n");
  EXPECT_NE(blank, std::string_view::npos) << "no blank line after the header";
  if (blank == std::string_view::npos) return {};
  return Entity{parse_header(text.substr(0, blank + 1)), std::string(text.substr(blank + 2))};
}

/// "type/subtype; a=\"x\"; b=y" -> {"", type/subtype}, {a, x}, {b, y}.
std::map<std::string, std::string> content_params(std::string_view value) {
  std::map<std::string, std::string> out;
  std::size_t at = 0;
  bool first = true;
  while (at <= value.size()) {
    auto end = value.find(';', at);
    if (end == std::string_view::npos) end = value.size();
    std::string item(value.substr(at, end - at));
    const auto b = item.find_first_not_of(" \t");
    item = b == std::string::npos ? std::string() : item.substr(b);
    while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) item.pop_back();
    if (first) {
      out[""] = item;
      first = false;
    } else if (const auto eq = item.find('='); eq != std::string::npos) {
      std::string v = item.substr(eq + 1);
      if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
      out[item.substr(0, eq)] = v;
    }
    at = end + 1;
  }
  return out;
}

std::optional<std::string> base64_decode(std::string_view text) {
  std::string out;
  unsigned buffer = 0;
  int bits = 0;
  std::size_t padding = 0;
  for (const char c : text) {
    if (c == '\n') continue;
    int v = -1;
    if (c >= 'A' && c <= 'Z') v = c - 'A';
    if (c >= 'a' && c <= 'z') v = c - 'a' + 26;
    if (c >= '0' && c <= '9') v = c - '0' + 52;
    if (c == '+') v = 62;
    if (c == '/') v = 63;
    if (c == '=') {
      ++padding;
      continue;
    }
    if (v < 0 || padding > 0) return std::nullopt;
    buffer = (buffer << 6) | static_cast<unsigned>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((buffer >> bits) & 0xffu);
    }
  }
  return out;
}

struct Built {
  std::string json;
  std::string gzip;
  std::string message;
  MailParams params;
};

Built build(MailParams p = {}) {
  Built b;
  ReportMeta meta;
  meta.organization_name = "Example Sender Inc.";
  meta.contact_info = "tlsrpt@mail.sender.example";
  meta.day = k_day;
  meta.domain = "example.net";
  meta.report_id = make_report_id(k_day, meta.domain, "mail.sender.example", "5f2c9e01");
  AggregatedPolicy a;
  a.policy.type = PolicyType::Sts;
  a.policy.policy_domain = "example.net";
  a.policy.policy_strings = {"version: STSv1", "mode: enforce", "mx: mx.example.net",
                             "max_age: 86400"};
  a.policy.mx_hosts = {"mx.example.net"};
  a.successes = 12;
  b.json = render_report_json(meta, {a});
  auto z = gzip_compress(b.json);
  EXPECT_TRUE(z.has_value());
  b.gzip = z ? *z : std::string();
  if (p.from.empty()) {
    p.from = "tlsrpt@mail.sender.example";
    p.to = "tls-reports@example.net";
    p.domain = "example.net";
    p.submitter = "mail.sender.example";
    p.report_id = meta.report_id;
    p.filename = report_filename("mail.sender.example", "example.net", k_day, "5f2c9e01", true);
    p.date = k_sent;
    p.boundary_seed = "0123456789abcdef";
  }
  b.params = p;
  b.message = render_report_mail(p, b.gzip);
  return b;
}

/// The body parts between "--boundary" delimiters (RFC 2046 §5.1.1); checks the close delimiter.
std::vector<std::string> parts(const std::string& body, const std::string& boundary) {
  const std::string delimiter = "\n--" + boundary;
  std::vector<std::string> out;
  auto at = body.find(delimiter);
  EXPECT_NE(at, std::string::npos) << "no first delimiter";
  while (at != std::string::npos) {
    const auto start = at + delimiter.size();
    if (body.compare(start, 2, "--") == 0) {
      EXPECT_EQ(body.substr(start), "--\n") << "text after the close delimiter";
      return out;
    }
    EXPECT_EQ(body[start], '\n');
    const auto next = body.find(delimiter, start);
    EXPECT_NE(next, std::string::npos) << "no close delimiter";
    if (next == std::string::npos) return out;
    out.push_back(body.substr(start + 1, next - start - 1));
    at = next;
  }
  return out;
}

TEST(ReportMail, HeaderFieldsOfRfc8460Section53) {
  const auto b = build();
  const auto m = split_entity(b.message);
  EXPECT_EQ(m.header.one("From"), "tlsrpt@mail.sender.example");
  EXPECT_EQ(m.header.one("To"), "tls-reports@example.net");
  EXPECT_EQ(m.header.one("Date"), "Tue, 24 Nov 2026 03:07:09 +0000");
  EXPECT_EQ(m.header.one("MIME-Version"), "1.0");
  // RPT-14: both MUST be present; the submitter is contact-info's domain.
  EXPECT_EQ(m.header.one("TLS-Report-Domain"), "example.net");
  EXPECT_EQ(m.header.one("TLS-Report-Submitter"), "mail.sender.example");
  // RPT-6, RT-6 (RFC 8689 §4.2.2): deliver despite TLS failures; RT-5: the header's grammar
  // is "TLS-Required:" [FWS] "No", and "No" is its only value.
  EXPECT_EQ(m.header.one("TLS-Required"), "No");
  EXPECT_NE(b.message.find("\nTLS-Required: No\n"), std::string::npos);
  EXPECT_EQ(m.header.one("Auto-Submitted"), "auto-generated");
  const std::string message_id = m.header.one("Message-ID");
  EXPECT_TRUE(std::regex_match(message_id, std::regex(R"(^<[A-Za-z0-9._-]+@[A-Za-z0-9._-]+>$)")))
      << message_id;
  EXPECT_NE(message_id, "<" + b.params.report_id + ">");  // per message, not per report
}

// RPT-15: "Report" FWS "Domain:" FWS domain FWS "Submitter:" FWS domain FWS "Report-ID:" FWS
// "<" id-left "@" id-right ">".
TEST(ReportMail, SubjectFollowsTheGrammar) {
  const auto b = build();
  const auto m = split_entity(b.message);
  const std::string subject = m.header.one("Subject");
  std::smatch got;
  ASSERT_TRUE(std::regex_match(subject, got,
                               std::regex(R"(^Report\s+Domain:\s+(\S+)\s+Submitter:\s+(\S+)\s+)"
                                          R"(Report-ID:\s+<([^<>@\s]+)@([^<>@\s]+)>$)")))
      << subject;
  EXPECT_EQ(got[1], "example.net");
  EXPECT_EQ(got[2], "mail.sender.example");
  EXPECT_EQ(got[3].str() + "@" + got[4].str(), b.params.report_id);
  // The report id is also the JSON "report-id".
  EXPECT_NE(b.json.find("\"report-id\":\"" + b.params.report_id + "\""), std::string::npos);
}

// RPT-14 / RFC 6522: multipart/report; report-type="tlsrpt"; text/plain first, then the report.
TEST(ReportMail, MultipartReportStructure) {
  const auto b = build();
  const auto m = split_entity(b.message);
  const auto ct = content_params(m.header.one("Content-Type"));
  EXPECT_EQ(ct.at(""), "multipart/report");
  ASSERT_TRUE(ct.count("report-type"));
  EXPECT_EQ(ct.at("report-type"), "tlsrpt");
  ASSERT_TRUE(ct.count("boundary"));
  const std::string boundary = ct.at("boundary");
  EXPECT_EQ(boundary, "=_tlsrpt_0123456789abcdef");
  EXPECT_LE(boundary.size(), 70u);  // RFC 2046 §5.1.1

  const auto ps = parts("\n" + m.body, boundary);
  ASSERT_EQ(ps.size(), 2u);

  const auto text = split_entity(ps[0]);
  const auto text_ct = content_params(text.header.one("Content-Type"));
  EXPECT_EQ(text_ct.at(""), "text/plain");
  EXPECT_EQ(text_ct.at("charset"), "us-ascii");
  EXPECT_EQ(text.header.one("Content-Transfer-Encoding"), "7bit");
  EXPECT_NE(text.body.find("example.net"), std::string::npos) << text.body;
  EXPECT_NE(text.body.find("mail.sender.example"), std::string::npos) << text.body;
  EXPECT_NE(text.body.find("2026-11-23"), std::string::npos) << text.body;
  for (const char c : text.body) EXPECT_LT(static_cast<unsigned char>(c), 0x80u);

  const auto report = split_entity(ps[1]);
  EXPECT_EQ(report.header.one("Content-Type"), "application/tlsrpt+gzip");
  EXPECT_EQ(report.header.one("Content-Transfer-Encoding"), "base64");
  const auto cd = content_params(report.header.one("Content-Disposition"));
  EXPECT_EQ(cd.at(""), "attachment");
  EXPECT_EQ(cd.at("filename"),
            "mail.sender.example!example.net!1795392000!1795478400!5f2c9e01.json.gz");
}

// RPT-13/14: the attachment is base64 of the gzip of the report JSON.
TEST(ReportMail, AttachmentDecodesToTheGzippedJson) {
  const auto b = build();
  const auto m = split_entity(b.message);
  const std::string boundary = content_params(m.header.one("Content-Type")).at("boundary");
  const auto ps = parts("\n" + m.body, boundary);
  ASSERT_EQ(ps.size(), 2u);
  const auto report = split_entity(ps[1]);
  for (const auto& line : split_lines(report.body)) {
    EXPECT_LE(line.size(), 76u) << line;  // RFC 2045 §6.8
    EXPECT_TRUE(std::regex_match(line, std::regex("^[A-Za-z0-9+/]*=*$"))) << line;
  }
  const auto raw = base64_decode(report.body);
  ASSERT_TRUE(raw.has_value());
  EXPECT_EQ(*raw, b.gzip);
  const auto json = gzip_decompress(*raw, 1 << 20);
  ASSERT_TRUE(json.has_value()) << json.error().detail;
  EXPECT_EQ(*json, b.json);
}

/// RFC 5322 §2.1.1: lines SHOULD be <= 78 characters, MUST be <= 998. A longer line is only
/// acceptable when folding could not shorten it: one word after the field name or the WSP.
void expect_short_or_unfoldable(const std::string& line) {
  EXPECT_LE(line.size(), 998u);
  if (line.size() <= 78) return;
  const auto colon = line.find(": ");
  const std::string rest = line[0] == ' '               ? line.substr(1)
                           : colon != std::string::npos ? line.substr(colon + 2)
                                                        : line;
  EXPECT_EQ(rest.find(' '), std::string::npos) << "could have been folded: " << line;
}

TEST(ReportMail, LinesAreShortLfOnlyAndAscii) {
  const auto b = build();
  EXPECT_EQ(b.message.find('\r'), std::string::npos);
  for (const auto& line : split_lines(b.message)) {
    expect_short_or_unfoldable(line);
    for (const char c : line) {
      const auto u = static_cast<unsigned char>(c);
      EXPECT_TRUE(u >= 0x20 && u < 0x7f) << "byte " << static_cast<int>(u) << " in " << line;
    }
  }
}

// The boundary occurs only as the three delimiters (RFC 2046 §5.1.1).
TEST(ReportMail, BoundaryOccursOnlyAsDelimiters) {
  // Input bytes chosen so that base64 has '+', '/' and '=' padding in it.
  MailParams p;
  auto b = build();
  p = b.params;
  std::string gz;
  for (int i = 0; i < 5000; ++i) gz += static_cast<char>(0xfb ^ (i % 256));
  gz += "\xff\xef";
  const std::string message = render_report_mail(p, gz);
  const std::string boundary = "=_tlsrpt_" + p.boundary_seed;
  std::size_t count = 0;
  for (auto at = message.find(boundary); at != std::string::npos;
       at = message.find(boundary, at + 1)) {
    ++count;
  }
  EXPECT_EQ(count, 4u);  // Content-Type parameter + two delimiters + the close delimiter
  EXPECT_EQ(message.find("=_", message.find("\n\n")), message.find("\n--" + boundary) + 3);
}

TEST(ReportMail, BoundaryComesFromTheSeedsAlphanumerics) {
  MailParams p = build().params;
  p.boundary_seed = "a/b=c\"d\ne f";
  const auto m = split_entity(build(p).message);
  EXPECT_EQ(content_params(m.header.one("Content-Type")).at("boundary"), "=_tlsrpt_abcdef");
  p.boundary_seed = std::string(200, 'z');
  const auto long_seed = split_entity(build(p).message);
  EXPECT_EQ(content_params(long_seed.header.one("Content-Type")).at("boundary").size(), 70u);
}

// Header values from the network cannot add header fields (CR/LF stripped).
TEST(ReportMail, HeaderValuesCannotInjectFields) {
  MailParams p = build().params;
  p.domain = "evil.example\r\nBcc: victim@example.org";
  p.submitter = "mail.sender.example\nX-Injected: 1";
  p.to = "tls@example.net\r\nBcc: other@example.org";
  p.from = "reports@mail.sender.example\n\nbody";
  p.report_id = "a@b>\r\nX-Id: 2";
  p.filename = "x\".json.gz\r\nX-File: 3";
  const auto b = build(p);
  const auto m = split_entity(b.message);
  for (const auto& [name, value] : m.header.fields) {
    EXPECT_NE(name, "Bcc");
    EXPECT_NE(name, "X-Injected");
    EXPECT_NE(name, "X-Id");
  }
  EXPECT_EQ(b.message.find("\nBcc"), std::string::npos);
  EXPECT_EQ(b.message.find("\nX-"), std::string::npos);
  EXPECT_EQ(m.header.one("TLS-Report-Domain"), "evil.exampleBccvictimexample.org");
  EXPECT_EQ(m.header.one("To"), "tls@example.netBcc:other@example.org");
  EXPECT_EQ(m.header.all("From").size(), 1u);
}

// A long report domain: the Subject folds at its FWS and still unfolds to the grammar.
TEST(ReportMail, LongSubjectFoldsAtFws) {
  MailParams p = build().params;
  p.domain = std::string(60, 'a') + ".example.net";
  p.submitter = std::string(50, 'b') + ".sender.example";
  p.report_id = make_report_id(k_day, p.domain, p.submitter, "00ff");
  const auto b = build(p);
  for (const auto& line : split_lines(b.message)) expect_short_or_unfoldable(line);
  const auto m = split_entity(b.message);
  EXPECT_EQ(m.header.one("Subject"), "Report Domain: " + p.domain + " Submitter: " + p.submitter +
                                         " Report-ID: <" + p.report_id + ">");
}

TEST(Rfc5322Date, Format) {
  EXPECT_EQ(rfc5322_date(k_sent), "Tue, 24 Nov 2026 03:07:09 +0000");
  const auto leap =
      util::TimePoint{std::chrono::sys_days{std::chrono::year{2024} / std::chrono::February / 29}} +
      std::chrono::hours{23} + std::chrono::minutes{59} + std::chrono::seconds{59};
  EXPECT_EQ(rfc5322_date(leap), "Thu, 29 Feb 2024 23:59:59 +0000");
  EXPECT_EQ(rfc5322_date(util::TimePoint{}), "Thu, 1 Jan 1970 00:00:00 +0000");
}

}  // namespace
}  // namespace tlspolicy::tlsrpt
