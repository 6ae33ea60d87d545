// SPDX-License-Identifier: Apache-2.0
//
// NAME
//   report - the RFC 8460 aggregate report: JSON (§4), gzip (§5.2), file name (§5.1), report id
// FORMAT
//   One JSON object, member order as RFC 8460 §4.4 lists them, compact (no whitespace):
//     organization-name, date-range{start-datetime,end-datetime}, contact-info, report-id,
//     policies[{policy{policy-type,policy-string[],policy-domain,mx-host[]},
//               summary{total-successful-session-count,total-failure-session-count},
//               failure-details[{result-type,sending-mta-ip,receiving-mx-hostname,
//                                receiving-mx-helo,receiving-ip,failed-session-count,
//                                additional-information,failure-reason-code}]}]
//   Choices where RFC 8460 leaves room (docs/tlsrpt.md):
//   - date-range is [<day>T00:00:00Z, <day+1>T00:00:00Z): one full UTC day, 00:00-24:00 (§4.1,
//     RPT-8), with an exclusive end that equals the next report's start (the §4.4 example ends
//     at 23:59:59Z, which leaves the last second of the day uncovered).
//   - "policy-string" is left out when there is no policy to encode (no-policy-found: §4.3 says
//     it encodes "the applied policy"); "mx-host" when the policy names none (TLSA, no policy);
//     "failure-details" when there are none; optional failure-detail fields when empty.
// LIMITS
//   Counts are capped at 2^53-1 so that every reader's IEEE double holds them exactly
//   (RFC 7493 §2.2). Strings are repaired to I-JSON (RFC 7493 §2.1): invalid UTF-8, UTF-16
//   surrogates and Unicode noncharacters become U+FFFD; nothing throws on bad bytes.
// SEE ALSO
//   RFC 8460 §4, §5.1, §5.2; RFC 7493; RFC 5322 §3.6.4 (msg-id); mail.cpp
#include "tlspolicy/tlsrpt/report.hpp"

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <climits>

#define ZLIB_CONST  // next_in is const: no cast needed to compress a string_view
#include <nlohmann/json.hpp>

#include "tlspolicy/util/clock.hpp"

#include "text_chars.hpp"
#include <zlib.h>

namespace tlspolicy::tlsrpt {
namespace {

using detail::domain_chars;
using detail::filtered;
using detail::is_alnum;

using nlohmann::ordered_json;

// RFC 7493 §2.2: integers beyond 2^53-1 are not exact in IEEE 754 doubles.
constexpr std::uint64_t k_max_ijson_integer = (std::uint64_t{1} << 53) - 1;
constexpr std::string_view k_replacement = "\xEF\xBF\xBD";  // U+FFFD in UTF-8
constexpr std::size_t k_zlib_chunk = std::size_t{64} * 1024;

std::uint64_t ijson_count(std::uint64_t n) { return std::min(n, k_max_ijson_integer); }

/// Length of the valid UTF-8 sequence at s[i] (1..4), or 0 when it is not valid UTF-8 (overlong
/// forms, surrogates U+D800..U+DFFF, code points above U+10FFFF, truncated sequences).
std::size_t utf8_sequence(std::string_view s, std::size_t i, char32_t& cp) {
  const auto byte = [&s](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char b0 = byte(i);
  const auto cont = [&](std::size_t k, unsigned char lo, unsigned char hi) {
    return i + k < s.size() && byte(i + k) >= lo && byte(i + k) <= hi;
  };
  if (b0 < 0x80) {
    cp = b0;
    return 1;
  }
  if (b0 >= 0xC2 && b0 <= 0xDF && cont(1, 0x80, 0xBF)) {
    cp = static_cast<char32_t>(((b0 & 0x1Fu) << 6) | (byte(i + 1) & 0x3Fu));
    return 2;
  }
  if (b0 >= 0xE0 && b0 <= 0xEF) {
    const unsigned char lo = b0 == 0xE0 ? 0xA0 : 0x80;  // no overlong forms
    const unsigned char hi = b0 == 0xED ? 0x9F : 0xBF;  // no surrogates
    if (cont(1, lo, hi) && cont(2, 0x80, 0xBF)) {
      cp = static_cast<char32_t>(((b0 & 0x0Fu) << 12) | ((byte(i + 1) & 0x3Fu) << 6) |
                                 (byte(i + 2) & 0x3Fu));
      return 3;
    }
    return 0;
  }
  if (b0 >= 0xF0 && b0 <= 0xF4) {
    const unsigned char lo = b0 == 0xF0 ? 0x90 : 0x80;  // no overlong forms
    const unsigned char hi = b0 == 0xF4 ? 0x8F : 0xBF;  // nothing above U+10FFFF
    if (cont(1, lo, hi) && cont(2, 0x80, 0xBF) && cont(3, 0x80, 0xBF)) {
      cp = static_cast<char32_t>(((b0 & 0x07u) << 18) | ((byte(i + 1) & 0x3Fu) << 12) |
                                 ((byte(i + 2) & 0x3Fu) << 6) | (byte(i + 3) & 0x3Fu));
      return 4;
    }
  }
  return 0;
}

/// Unicode noncharacters: U+FDD0..U+FDEF and the last two code points of every plane.
bool is_noncharacter(char32_t cp) {
  return (cp >= 0xFDD0 && cp <= 0xFDEF) || (cp & 0xFFFEu) == 0xFFFEu;
}

/// RFC 7493 §2.1: I-JSON strings are UTF-8 without surrogates or noncharacters. Each offending
/// byte (or noncharacter) becomes one U+FFFD.
std::string ijson_text(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size();) {
    char32_t cp = 0;
    const std::size_t n = utf8_sequence(s, i, cp);
    if (n == 0) {
      out += k_replacement;
      ++i;
    } else if (is_noncharacter(cp)) {
      out += k_replacement;
      i += n;
    } else {
      out.append(s.substr(i, n));
      i += n;
    }
  }
  return out;
}

ordered_json string_array(const std::vector<std::string>& items) {
  auto a = ordered_json::array();
  for (const auto& s : items) a.push_back(ijson_text(s));
  return a;
}

/// RFC 8460 §4.4 "policy" object (RPT-7, RPT-11).
ordered_json policy_object(const PolicyKey& key) {
  ordered_json p;
  p["policy-type"] = std::string(to_string(key.type));  // "tlsa" / "sts" / "no-policy-found"
  if (!key.policy_strings.empty()) p["policy-string"] = string_array(key.policy_strings);
  p["policy-domain"] = ijson_text(key.policy_domain);  // A-label (RPT-9)
  if (!key.mx_hosts.empty()) p["mx-host"] = string_array(key.mx_hosts);
  return p;
}

/// RFC 8460 §4.4 "failure-details" entry; empty optional fields are left out.
ordered_json failure_detail_object(const CountedDetail& c) {
  const FailureDetail& d = c.detail;
  ordered_json f;
  const auto optional = [&f](const char* name, const std::string& value) {
    if (!value.empty()) f[name] = ijson_text(value);
  };
  f["result-type"] = std::string(to_string(d.result_type));  // RFC 8460 §4.3 (RPT-10)
  optional("sending-mta-ip", d.sending_mta_ip);
  optional("receiving-mx-hostname", d.receiving_mx_hostname);
  optional("receiving-mx-helo", d.receiving_mx_helo);
  optional("receiving-ip", d.receiving_ip);
  f["failed-session-count"] = ijson_count(c.count);
  optional("additional-information", d.additional_information);
  optional("failure-reason-code", d.failure_reason_code);
  return f;
}

ordered_json policy_entry(const AggregatedPolicy& a) {
  ordered_json e;
  e["policy"] = policy_object(a.policy);
  e["summary"] = {{"total-successful-session-count", ijson_count(a.successes)},
                  {"total-failure-session-count", ijson_count(a.failures)}};
  if (!a.details.empty()) {
    auto details = ordered_json::array();
    for (const auto& c : a.details) details.push_back(failure_detail_object(c));
    e["failure-details"] = std::move(details);
  }
  return e;
}

/// Appends the atoms of `s` (split at '.') to `atoms`, each reduced to [A-Za-z0-9_-] (a subset
/// of RFC 5322 atext), dropping empty ones: the result joins to dot-atom-text.
void append_atoms(std::string_view s, std::vector<std::string>& atoms) {
  std::string atom;
  const auto flush = [&] {
    if (!atom.empty()) atoms.push_back(std::move(atom));
    atom.clear();
  };
  for (const char c : s) {
    if (c == '.') {
      flush();
    } else if (is_alnum(c) || c == '-' || c == '_') {
      atom += c;
    }
  }
  flush();
}

std::string join_atoms(const std::vector<std::string>& atoms) {
  std::string out;
  for (const auto& a : atoms) {
    if (!out.empty()) out += '.';
    out += a;
  }
  return out;
}

/// deflateEnd / inflateEnd at scope exit.
class ZStream {
 public:
  explicit ZStream(bool inflating) : m_inflating(inflating) {}
  ~ZStream() {
    if (!m_active) return;
    if (m_inflating) {
      inflateEnd(&z);
    } else {
      deflateEnd(&z);
    }
  }
  ZStream(const ZStream&) = delete;
  ZStream& operator=(const ZStream&) = delete;
  void activate() { m_active = true; }

  z_stream z{};

 private:
  bool m_inflating;
  bool m_active = false;
};

std::string zlib_words(const z_stream& z, int rc) {
  if (z.msg != nullptr) return z.msg;
  return "zlib error " + std::to_string(rc);
}

}  // namespace

std::string render_report_json(const ReportMeta& meta,
                               const std::vector<AggregatedPolicy>& policies) {
  ordered_json j;
  j["organization-name"] = ijson_text(meta.organization_name);
  // RFC 8460 §4.1 (RPT-8): one full UTC day; RFC 3339 date-time.
  j["date-range"] = {
      {"start-datetime", util::format_rfc3339(util::TimePoint{meta.day})},
      {"end-datetime", util::format_rfc3339(util::TimePoint{meta.day + std::chrono::days{1}})}};
  j["contact-info"] = ijson_text(meta.contact_info);
  j["report-id"] = ijson_text(meta.report_id);
  auto list = ordered_json::array();  // RPT-7: always an array
  for (const auto& p : policies) list.push_back(policy_entry(p));
  j["policies"] = std::move(list);
  // ijson_text() already made every string valid; `replace` is the belt to its braces.
  return j.dump(-1, ' ', false, ordered_json::error_handler_t::replace);
}

Result<std::string> gzip_compress(std::string_view data) {
  ZStream s{false};
  // windowBits 15 + 16: a gzip (RFC 1952) wrapper rather than zlib's (RFC 8460 §5.2).
  const int init =
      deflateInit2(&s.z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
  if (init != Z_OK) {
    return fail(Errc::Internal, Retry::Transient, "gzip: deflateInit2: " + zlib_words(s.z, init));
  }
  s.activate();
  std::string out;
  std::string chunk(k_zlib_chunk, '\0');
  s.z.next_in = reinterpret_cast<const Bytef*>(data.data());
  std::size_t left = data.size();
  int rc = Z_OK;
  do {
    if (s.z.avail_in == 0 && left > 0) {  // feed at most UINT_MAX bytes per round (uInt)
      const std::size_t n = std::min<std::size_t>(left, UINT_MAX);
      s.z.avail_in = static_cast<uInt>(n);
      left -= n;
    }
    s.z.next_out = reinterpret_cast<Bytef*>(chunk.data());
    s.z.avail_out = static_cast<uInt>(chunk.size());
    rc = deflate(&s.z, left == 0 ? Z_FINISH : Z_NO_FLUSH);
    if (rc == Z_STREAM_ERROR) {
      return fail(Errc::Internal, Retry::Transient, "gzip: deflate: " + zlib_words(s.z, rc));
    }
    out.append(chunk.data(), chunk.size() - s.z.avail_out);
  } while (rc != Z_STREAM_END);
  return out;
}

Result<std::string> gzip_decompress(std::string_view data, std::size_t max_out) {
  const auto invalid = [](std::string why) {
    return fail(Errc::InvalidArgument, Retry::Permanent, "gunzip: " + std::move(why));
  };
  if (data.empty()) return invalid("no data");
  ZStream s{true};
  const int init = inflateInit2(&s.z, 15 + 16);  // gzip wrapper only
  if (init != Z_OK) {
    return fail(Errc::Internal, Retry::Transient, "gunzip: inflateInit2: " + zlib_words(s.z, init));
  }
  s.activate();
  std::string out;
  std::string chunk(k_zlib_chunk, '\0');
  s.z.next_in = reinterpret_cast<const Bytef*>(data.data());
  std::size_t left = data.size();
  for (;;) {
    if (s.z.avail_in == 0 && left > 0) {
      const std::size_t n = std::min<std::size_t>(left, UINT_MAX);
      s.z.avail_in = static_cast<uInt>(n);
      left -= n;
    }
    s.z.next_out = reinterpret_cast<Bytef*>(chunk.data());
    s.z.avail_out = static_cast<uInt>(chunk.size());
    const int rc = inflate(&s.z, Z_NO_FLUSH);
    const std::size_t produced = chunk.size() - s.z.avail_out;
    if (produced > max_out - out.size()) {
      return invalid("output exceeds the limit of " + std::to_string(max_out) + " bytes");
    }
    out.append(chunk.data(), produced);
    if (rc == Z_STREAM_END) {
      if (s.z.avail_in == 0 && left == 0) return out;
      // Another gzip member follows (RFC 1952 §2.2: a file is a series of members).
      if (inflateReset(&s.z) != Z_OK) return invalid("cannot start the next member");
      continue;
    }
    if (rc == Z_BUF_ERROR && s.z.avail_in == 0 && left == 0) return invalid("truncated data");
    if (rc != Z_OK && rc != Z_BUF_ERROR) {
      if (rc == Z_MEM_ERROR) {
        return fail(Errc::Internal, Retry::Transient, "gunzip: out of memory");
      }
      return invalid("corrupt data: " + zlib_words(s.z, rc));
    }
  }
}

std::string report_filename(std::string_view submitter, std::string_view policy_domain, Day day,
                            std::string_view unique_id, bool gzipped) {
  // RFC 8460 §5.1 (RPT-12): begin and end are Unix seconds of the covered day (RPT-8).
  const auto begin = std::chrono::duration_cast<std::chrono::seconds>(day.time_since_epoch());
  const auto end = begin + std::chrono::days{1};
  std::string name = domain_chars(submitter) + "!" + domain_chars(policy_domain) + "!" +
                     std::to_string(begin.count()) + "!" + std::to_string(end.count());
  const std::string unique = filtered(unique_id, is_alnum);  // unique-id = 1*(ALPHA / DIGIT)
  if (!unique.empty()) name += "!" + unique;
  name += gzipped ? ".json.gz" : ".json";
  return name;
}

std::string make_report_id(Day day, std::string_view domain, std::string_view submitter,
                           std::string_view random_hex) {
  // RFC 5322 §3.6.4: msg-id = "<" id-left "@" id-right ">", both dot-atom-text here.
  std::vector<std::string> left;
  append_atoms(format_day(day), left);
  append_atoms(domain, left);
  append_atoms(random_hex, left);
  std::vector<std::string> right;
  append_atoms(submitter, right);
  const std::string host = right.empty() ? std::string("localhost") : join_atoms(right);
  return join_atoms(left) + "@" + host;
}

}  // namespace tlspolicy::tlsrpt
