// SPDX-License-Identifier: Apache-2.0
//
// NAME
//   socketmap - Postfix socketmap adapter for the policy engine
// PROTOCOL
//   Request payload "<mapname> <key>"; reply payload "OK <policy>",
//   "NOTFOUND ", "TEMP <reason>" or "PERM <reason>" (Postfix
//   socketmap_table(5); dict_sockmap.c splits the reply at the first space
//   and compares the status word exactly). The TLS-RPT variant appends the
//   Postfix 3.10 smtp_tls_policy_maps attributes to MTA-STS replies; their
//   grammar is the one src/smtp/smtp_tls_policy.c tls_policy_lookup_one()
//   parses: tokens separated by whitespace or commas (mystrtokq with
//   CHARS_COMMA_SP), a token starting with "{" is "{ name = value }" with
//   surrounding whitespace stripped (extpar, EXTPAR_FLAG_STRIP |
//   EXTPAR_FLAG_NORMAL_WS); policy_type (once, "sts" or "no-policy-found"),
//   policy_domain (once, a valid hostname), policy_ttl (once, digits),
//   policy_string and mx_host_pattern (repeatable), policy_failure (once).
//   Any of these without policy_type makes Postfix reject the whole policy
//   ("client TLS configuration problem", 4.7.5), so policy_type comes first.
// LIMITS
//   Reply <= 100000 bytes (dict_sockmap.c DICT_SOCKMAP_DEF_MAX_REPLY);
//   TEMP/PERM reasons <= 512 bytes.
// SECURITY
//   Keys are untrusted: classify_key() rejects everything that is not a
//   domain before any lookup. Replies never carry control characters, and
//   policy lines with "{" or "}" are never copied (they would end the
//   "{ ... }" token early and let a policy host inject attributes).
// SEE ALSO
//   docs/protocols/socketmap.md, docs/decision-rules.md
#include "tlspolicy/proto/socketmap.hpp"

#include <cstdint>
#include <cstring>
#include <vector>

#include "tlspolicy/dns/name.hpp"
#include "tlspolicy/sts/policy.hpp"

namespace tlspolicy::proto {
namespace {

// Postfix 3.10 attribute names (smtp_tls_policy.c EXT_POLICY_*), spelled as
// Postfix spells them; this is the only place they appear.
constexpr std::string_view k_attr_policy_type = "policy_type";
constexpr std::string_view k_attr_policy_domain = "policy_domain";
constexpr std::string_view k_attr_mx_host_pattern = "mx_host_pattern";
constexpr std::string_view k_attr_policy_string = "policy_string";
constexpr std::string_view k_policy_type_sts = "sts";

// Postfix 3.11 smtp_requiretls_policy: the map name and the one answer
// tlspolicy gives (RT-9: answers are single atoms).
constexpr std::string_view k_requiretls_map = "requiretls";
constexpr std::string_view k_requiretls_enforce = "OK enforce";

// Longest key handed to DomainName::parse: 253 octets of A-labels are at most
// about four times as long in UTF-8 U-labels.
constexpr std::size_t k_max_key_bytes = 1024;

bool is_control(char c) noexcept {
  const auto u = static_cast<unsigned char>(c);
  return u < 0x20 || u == 0x7f;
}

std::string without_controls(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (const char c : s) out += is_control(c) ? ' ' : c;
  return out;
}

/// Eight bytes at a time (every cached reply passes here): a byte below 0x20 or equal to
/// 0x7f. "x - n*k_ones & ~x & k_highs" is non-zero exactly when some byte of x is below n (n <=
/// 0x80); a byte equal to 0x7f is a zero byte of x ^ (0x7f*k_ones).
bool has_controls(std::string_view s) noexcept {
  constexpr std::uint64_t k_ones = 0x0101010101010101;
  constexpr std::uint64_t k_highs = 0x8080808080808080;
  const auto below = [](std::uint64_t x, std::uint64_t n) {
    return (x - n * k_ones) & ~x & k_highs;
  };
  std::size_t i = 0;
  for (; i + 8 <= s.size(); i += 8) {
    std::uint64_t x = 0;
    std::memcpy(&x, s.data() + i, 8);
    if ((below(x, 0x20) | below(x ^ (0x7f * k_ones), 1)) != 0) return true;
  }
  for (; i < s.size(); ++i) {
    if (is_control(s[i])) return true;
  }
  return false;
}

// A token Postfix reads as one bare "name=value" word: no separators, no
// braces, no '=' in the value part.
bool is_bare_token_value(std::string_view v) noexcept {
  if (v.empty()) return false;
  for (const char c : v) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '-' || c == '_' || c == '*';
    if (!ok) return false;
  }
  return true;
}

// Cuts `s` to at most `max` bytes without splitting a UTF-8 sequence.
std::string_view utf8_prefix(std::string_view s, std::size_t max) noexcept {
  if (s.size() <= max) return s;
  std::size_t n = max;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0U) == 0x80U) --n;
  return s.substr(0, n);
}

std::string status_reply(std::string_view status, std::string_view reason) {
  std::string out{status};
  out += ' ';
  out += policy::socketmap_reason(utf8_prefix(reason, k_max_reason_bytes));
  return out;
}

// "{ policy_string = <line> }", or empty when the line cannot be carried.
std::string policy_string_token(std::string_view line) {
  if (line.find_first_of("{}") != std::string_view::npos) return {};
  std::string value = without_controls(line);
  const auto first = value.find_first_not_of(' ');
  if (first == std::string::npos) return {};
  const auto last = value.find_last_not_of(' ');
  value = value.substr(first, last - first + 1);
  std::string token = "{ ";
  token += k_attr_policy_string;
  token += " = ";
  token += value;
  token += " }";
  return token;
}

std::string tlsrpt_sts_reply(const policy::Decision& d, std::string plain,
                             std::string_view policy_text) {
  // Mandatory part: policy_type, policy_domain and every mx_host_pattern
  // (Postfix 3.10 may authorize MX hosts by these patterns, so a partial
  // list is never sent).
  if (!is_bare_token_value(d.domain)) return plain;
  std::string reply = plain;
  reply += ' ';
  reply += k_attr_policy_type;
  reply += '=';
  reply += k_policy_type_sts;
  reply += ' ';
  reply += k_attr_policy_domain;
  reply += '=';
  reply += d.domain;
  for (const auto& pattern : d.mta_sts->mx) {
    if (!is_bare_token_value(pattern)) return plain;
    reply += ' ';
    reply += k_attr_mx_host_pattern;
    reply += '=';
    reply += pattern;
  }
  if (reply.size() > k_max_socketmap_reply_bytes) return plain;
  // Optional part: the policy lines (RFC 8460 §4.5 "policy-string"), in
  // order, as many as fit.
  for (const auto& line : sts::policy_lines(policy_text)) {
    const std::string token = policy_string_token(line);
    if (token.empty()) continue;
    if (reply.size() + 1 + token.size() > k_max_socketmap_reply_bytes) break;
    reply += ' ';
    reply += token;
  }
  return reply;
}

}  // namespace

Result<SocketmapRequest> parse_socketmap_request(std::string_view payload) {
  const auto space = payload.find(' ');
  if (space == std::string_view::npos) {
    return fail(Errc::InvalidArgument, Retry::Permanent,
                "socketmap request without a space between map name and key");
  }
  if (space == 0) return fail(Errc::InvalidArgument, Retry::Permanent, "empty socketmap name");
  if (space + 1 == payload.size()) {
    return fail(Errc::InvalidArgument, Retry::Permanent, "empty socketmap key");
  }
  return SocketmapRequest{payload.substr(0, space), payload.substr(space + 1)};
}

KeyKind classify_key(std::string_view key) {
  // Postfix smtp_tls_policy.c probes parent domains as ".example.com" and
  // looks up explicit next hops as "[host]:port", "[host]" or "host:port".
  if (key.empty() || key.size() > k_max_key_bytes) return KeyKind::NotADomain;
  if (key.front() == '.' || key.front() == '[') return KeyKind::NotADomain;
  if (key.find(':') != std::string_view::npos) return KeyKind::NotADomain;
  if (has_controls(key)) return KeyKind::NotADomain;
  return dns::DomainName::parse(key) ? KeyKind::Domain : KeyKind::NotADomain;
}

MapKind map_kind(std::string_view map_name) noexcept {
  if (map_name == "tlsrpt" || map_name == "QUERYwithTLSRPT") return MapKind::TlsRpt;
  if (map_name == k_requiretls_map) return MapKind::RequireTls;
  return MapKind::Plain;
}

std::string socketmap_response(const policy::Decision& d, MapKind kind,
                               std::string_view policy_text) {
  if (kind == MapKind::RequireTls) {
    // Postfix 3.11 smtp_reqtls_policy.c: a table miss moves on to the next
    // item of the list, a table error defers; "enforce" makes Postfix skip
    // the MX hosts it cannot authenticate and return the message when none
    // is left (RFC 8689 §4.2.1).
    if (d.action == policy::Action::Defer) return temp_reply(d.reason);
    return policy::authenticates_some_host(d) ? std::string{k_requiretls_enforce}
                                              : std::string{k_notfound_reply};
  }
  const bool tlsrpt = kind == MapKind::TlsRpt;
  std::string plain = d.postfix.empty() ? policy::socketmap_reply(d) : d.postfix;
  if (has_controls(plain)) plain = without_controls(plain);
  if (plain.size() > k_max_socketmap_reply_bytes) {
    // Never cut a policy: a reply Postfix would refuse becomes a deferral.
    const std::string_view p{plain};
    if (p.starts_with("TEMP ")) return temp_reply(p.substr(5));
    if (p.starts_with("PERM ")) return perm_reply(p.substr(5));
    return temp_reply("policy reply exceeds the socketmap limit");
  }
  if (!tlsrpt || d.source != policy::Source::MtaSts || !d.mta_sts || !plain.starts_with("OK ")) {
    return plain;
  }
  return tlsrpt_sts_reply(d, std::move(plain), policy_text);
}

std::optional<std::string_view> socketmap_response_view(const policy::Decision& d,
                                                        MapKind kind) noexcept {
  if (kind == MapKind::RequireTls || d.postfix.empty()) return std::nullopt;
  const std::string_view plain{d.postfix};
  if (has_controls(plain) || plain.size() > k_max_socketmap_reply_bytes) return std::nullopt;
  // TlsRpt adds attributes to an MTA-STS "OK" only (socketmap_response).
  if (kind == MapKind::TlsRpt && d.source == policy::Source::MtaSts && d.mta_sts &&
      plain.starts_with("OK ")) {
    return std::nullopt;
  }
  return plain;
}

std::string temp_reply(std::string_view reason) { return status_reply("TEMP", reason); }

std::string perm_reply(std::string_view reason) { return status_reply("PERM", reason); }

}  // namespace tlspolicy::proto
