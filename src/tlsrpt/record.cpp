// SPDX-License-Identifier: Apache-2.0
//
// The TLSRPT TXT record of RFC 8460 §3 (RFC-CHECKLIST RPT-1, RPT-2):
// parse_tlsrpt_record() checks one record against the §3 ABNF (reproduced in
// include/tlspolicy/tlsrpt/record.hpp) and extracts the usable "rua" URIs;
// select_tlsrpt_record() applies the "exactly one record" rule. Both take
// untrusted bytes, never throw, and run in time linear in the input. Error
// details quote the record cut and escaped.
#include "tlspolicy/tlsrpt/record.hpp"

#include <algorithm>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tlspolicy/util/quote.hpp"
#include "tlspolicy/util/txt_fields.hpp"

namespace tlspolicy::tlsrpt {
namespace {

constexpr std::string_view k_version = "v=TLSRPTv1";
constexpr std::size_t k_max_local_part = 64;  // RFC 5321 §4.5.3.1.1

bool is_alpha(char c) noexcept { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); }
bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }
bool is_alnum(char c) noexcept { return is_alpha(c) || is_digit(c); }
bool is_wsp(char c) noexcept { return c == ' ' || c == '\t'; }  // RFC 5234 WSP
bool is_hex(char c) noexcept {
  return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}
char ascii_lower(char c) noexcept {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

// RFC 3986 characters a URI may hold outside percent-encodings: unreserved,
// gen-delims and sub-delims, minus "!" which RFC 8460 §3 requires encoded
// ("," and ";" never reach here: they end the URI).
bool is_uri_char(char c) noexcept {
  if (is_alnum(c)) return true;
  constexpr std::string_view k_other = "-._~:/?#[]@$&'()*+=";
  return k_other.find(c) != std::string_view::npos;
}

// RFC 5322 atext, and "." for dot-atom-text.
bool is_local_part_char(char c) noexcept {
  if (is_alnum(c)) return true;
  constexpr std::string_view k_other = "!#$%&'*+-/=?^_`{|}~.";
  return k_other.find(c) != std::string_view::npos;
}

Unexpected<Error> syntax(std::string detail) {
  return fail(Errc::InvalidArgument, Retry::Permanent, std::move(detail));
}

// Percent-decodes `s`; nullopt when a "%" is not followed by two hex digits.
std::optional<std::string> percent_decode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out += s[i];
      continue;
    }
    if (i + 2 >= s.size() || !is_hex(s[i + 1]) || !is_hex(s[i + 2])) return std::nullopt;
    const auto nibble = [](char c) {
      return static_cast<unsigned>(is_digit(c) ? c - '0' : ascii_lower(c) - 'a' + 10);
    };
    out += static_cast<char>((nibble(s[i + 1]) << 4U) | nibble(s[i + 2]));
    i += 2;
  }
  return out;
}

// RFC 3986 scheme ":" followed by URI characters and well-formed
// percent-encodings. Returns the scheme in lower case, or "" when `uri` is not
// such a URI.
std::string uri_scheme(std::string_view uri) {
  const std::size_t colon = uri.find(':');
  if (colon == std::string_view::npos || colon == 0 || !is_alpha(uri[0])) return {};
  std::string scheme;
  for (std::size_t i = 0; i < colon; ++i) {
    const char c = uri[i];
    if (!is_alnum(c) && c != '+' && c != '-' && c != '.') return {};
    scheme += ascii_lower(c);
  }
  for (std::size_t i = colon + 1; i < uri.size(); ++i) {
    const char c = uri[i];
    if (c == '%') {
      if (i + 2 >= uri.size() || !is_hex(uri[i + 1]) || !is_hex(uri[i + 2])) return {};
      i += 2;
    } else if (!is_uri_char(c)) {
      return {};
    }
  }
  return scheme;
}

// One decoded addr-spec (see RuaTarget::mailbox for what is accepted).
bool valid_mailbox(std::string_view address) {
  const std::size_t at = address.rfind('@');
  if (at == std::string_view::npos || at == 0 || at > k_max_local_part) return false;
  const std::string_view local = address.substr(0, at);
  if (!std::all_of(local.begin(), local.end(), is_local_part_char)) return false;
  if (local.front() == '.' || local.back() == '.' || local.find("..") != std::string_view::npos) {
    return false;
  }
  const std::string_view domain = address.substr(at + 1);
  if (domain.empty() || domain.back() == '.') return false;  // a bare dot would be dropped
  return dns::DomainName::parse(domain).has_value();
}

// Appends the targets `uri` gives (none when it is not usable) to `out`.
void add_targets(std::string_view uri, std::vector<RuaTarget>& out) {
  const std::string scheme = uri_scheme(uri);
  if (scheme == "https") {
    // RFC 3986 hier-part "//" authority path-abempty; require a host.
    const std::string_view rest = uri.substr(scheme.size() + 1);
    if (!rest.starts_with("//")) return;
    const std::string_view authority = rest.substr(2, rest.find_first_of("/?#", 2) - 2);
    const std::size_t at = authority.rfind('@');
    std::string_view host = at == std::string_view::npos ? authority : authority.substr(at + 1);
    if (const std::size_t colon = host.rfind(':');
        colon != std::string_view::npos && host.find(']', colon) == std::string_view::npos) {
      host = host.substr(0, colon);
    }
    if (host.empty()) return;
    out.push_back(RuaTarget{RuaTarget::Kind::Https, std::string{uri}, {}});
    return;
  }
  if (scheme == "mailto") {
    // RFC 6068: "mailto:" [ to ] [ hfields ]; "#" is no part of it either.
    std::string_view to = uri.substr(scheme.size() + 1);
    to = to.substr(0, to.find_first_of("?#"));
    const auto decoded = percent_decode(to);
    if (!decoded || decoded->empty()) return;
    // to = addr-spec *("," addr-spec), the commas encoded as %2C (RPT-1).
    std::vector<RuaTarget> targets;
    std::size_t start = 0;
    while (start <= decoded->size()) {
      const std::size_t comma = std::min(decoded->find(',', start), decoded->size());
      const std::string_view address = std::string_view{*decoded}.substr(start, comma - start);
      if (!valid_mailbox(address)) return;  // one bad address spoils the URI
      targets.push_back(RuaTarget{RuaTarget::Kind::Mailto, std::string{uri}, std::string{address}});
      start = comma + 1;
    }
    out.insert(out.end(), targets.begin(), targets.end());
  }
  // Other schemes: not for us (RPT-1 names only mailto and https).
}

}  // namespace

Result<TlsRptRecord> parse_tlsrpt_record(std::string_view record) {
  // RFC 8460 §3 (RPT-1): the record begins with v=TLSRPTv1, case-sensitive.
  if (!util::txt_has_version(record, k_version)) {
    return syntax("The TXT record " + util::quoted(record) +
                  " does not begin with \"v=TLSRPTv1\".");
  }

  // tlsrpt-record = tlsrpt-version 1*(field-delim tlsrpt-field) [field-delim]
  util::TxtFieldReader fields{record, k_version.size(), Errc::InvalidArgument};
  bool have_rua = false;
  std::vector<RuaTarget> targets;
  for (;;) {
    auto field = fields.next();
    if (!field) return Unexpected{field.error()};
    if (!*field) break;
    const std::string_view name = **field;

    if (name == "rua") {
      // tlsrpt-rua = %s"rua=" tlsrpt-uri *(*WSP "," *WSP tlsrpt-uri)
      have_rua = true;
      std::size_t pos = fields.pos();
      while (true) {
        const std::size_t uri_start = pos;
        while (pos < record.size() && !is_wsp(record[pos]) && record[pos] != ',' &&
               record[pos] != ';') {
          ++pos;
        }
        if (pos == uri_start) {
          return syntax("The TXT record has an empty URI in \"rua\" at offset " +
                        std::to_string(pos) + ".");
        }
        add_targets(record.substr(uri_start, pos - uri_start), targets);
        std::size_t next = pos;
        while (next < record.size() && is_wsp(record[next])) ++next;
        if (next == record.size() || record[next] != ',') break;  // WSP belongs to the delimiter
        ++next;
        while (next < record.size() && is_wsp(record[next])) ++next;
        pos = next;
      }
      fields.advance_to(pos);
      continue;
    }

    // tlsrpt-extension: ignored (RPT-2) once it has the grammar's shape. A
    // repeated "v" is an extension like any other.
    if (fields.ext_value().empty()) {
      return syntax("The TXT record field " + util::quoted(name) +
                    " has an empty or invalid value.");
    }
  }

  if (!have_rua) {
    return syntax("The TXT record " + util::quoted(record) +
                  " has no \"rua\" field, which RFC 8460 section 3 requires.");
  }
  TlsRptRecord out;
  for (auto& t : targets) {
    if (out.rua.size() == k_max_rua_targets) break;
    if (std::find(out.rua.begin(), out.rua.end(), t) == out.rua.end()) {
      out.rua.push_back(std::move(t));
    }
  }
  if (out.rua.empty()) {
    return syntax("The TXT record " + util::quoted(record) +
                  " has no usable \"rua\" URI (a well-formed mailto: or https: URI).");
  }
  return out;
}

Result<std::optional<TlsRptRecord>> select_tlsrpt_record(
    const std::vector<std::string>& txt_records) {
  const std::string* chosen = nullptr;
  std::size_t count = 0;
  for (const auto& r : txt_records) {
    if (!util::txt_is_candidate(r, k_version)) continue;
    ++count;
    chosen = &r;
  }
  // RFC 8460 §3: "If the number of resulting records is not one, senders
  // MUST assume the recipient domain does not implement TLSRPT."
  if (count != 1) return std::optional<TlsRptRecord>{};
  auto parsed = parse_tlsrpt_record(*chosen);
  if (!parsed) return std::optional<TlsRptRecord>{};
  return std::optional<TlsRptRecord>{std::move(*parsed)};
}

Result<dns::DomainName> tlsrpt_query_name(const dns::DomainName& domain) {
  auto tls = domain.prefixed("_tls");
  if (!tls) return Unexpected{tls.error()};
  return tls->prefixed("_smtp");
}

}  // namespace tlspolicy::tlsrpt
