// SPDX-License-Identifier: Apache-2.0
//
// NAME
//   socketmap - Postfix socketmap adapter for the policy engine
// PROTOCOL
//   One netstring request "<mapname> <space> <key>", one netstring reply
//   (Postfix socketmap_table(5), dict_sockmap.c). Replies: "OK <policy>",
//   "NOTFOUND ", "TEMP <reason>", "PERM <reason>". Postfix splits the reply
//   at the first space and compares the status word exactly.
//   Map names "tlsrpt" and "QUERYwithTLSRPT" select the TLS-RPT variant:
//   an MTA-STS "OK secure ..." reply gets the Postfix 3.10 attributes
//     policy_type=sts policy_domain=<domain> mx_host_pattern=<pattern>...
//     { policy_string = <policy line> }...
//   (Postfix src/smtp/smtp_tls_policy.c tls_policy_lookup_one(): tokens are
//   separated by whitespace or commas; a value with whitespace is written
//   "{ name = value }"). Any other map name ("postfix", "QUERY", ...) gets
//   the plain reply.
// LIMITS
//   Request <= 10000 bytes; reply <= 100000 bytes (Postfix dict_sockmap.c
//   DICT_SOCKMAP_DEF_MAX_REPLY). TEMP/PERM reasons <= k_max_reason_bytes.
// SECURITY
//   Unauthenticated local socket: rely on file permissions and peer
//   credentials. Keys are untrusted; replies never contain control
//   characters. Parsers never throw.
// SEE ALSO
//   docs/protocols/socketmap.md, docs/decision-rules.md, RFC 8461, RFC 8460,
//   RFC 7672
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "tlspolicy/policy/decision.hpp"
#include "tlspolicy/util/result.hpp"

namespace tlspolicy::proto {

/// Largest request payload accepted (SPEC §4); bigger netstrings get PERM.
inline constexpr std::size_t k_max_socketmap_request_bytes = 10000;
/// Largest reply payload Postfix reads (dict_sockmap.c, 100000).
inline constexpr std::size_t k_max_socketmap_reply_bytes = 100000;
/// Longest reason text in a TEMP/PERM reply.
inline constexpr std::size_t k_max_reason_bytes = 512;
/// The "no policy" reply; Postfix then uses its own smtp_tls_security_level.
inline constexpr std::string_view k_notfound_reply = "NOTFOUND ";

/// Views into the request payload it was parsed from: valid as long as that.
struct SocketmapRequest {
  std::string_view map_name;
  std::string_view key;
  friend bool operator==(const SocketmapRequest&, const SocketmapRequest&) = default;
};

/// Splits a request payload "NAME key" at the first space. The key is the
/// rest of the payload, as sent. Errors (Errc::InvalidArgument, Permanent →
/// "PERM"): no space, empty name, empty key. Allocates nothing on success.
[[nodiscard]] Result<SocketmapRequest> parse_socketmap_request(std::string_view payload);

enum class KeyKind { Domain, NotADomain };

/// Domain: a key dns::DomainName::parse() accepts. NotADomain (answered with
/// k_notfound_reply without any lookup): Postfix parent-domain probes
/// (".example.com"), next-hop forms ("[host]:port", "[host]", "host:port"),
/// keys longer than 1024 bytes, and anything else that is not a valid name.
[[nodiscard]] KeyKind classify_key(std::string_view key);

/// What a socketmap name asks for (case-sensitive):
///  TlsRpt     "tlsrpt", "QUERYwithTLSRPT": smtp_tls_policy_maps with the
///             Postfix 3.10 TLS-RPT attributes;
///  RequireTls "requiretls": Postfix 3.11 smtp_requiretls_policy (RT-9);
///  Plain      every other name, "postfix" and "QUERY" included.
enum class MapKind { Plain, TlsRpt, RequireTls };
[[nodiscard]] MapKind map_kind(std::string_view map_name) noexcept;

/// The reply payload for a decision.
/// Plain: d.postfix (policy::socketmap_reply(d) when d.postfix is empty).
/// RequireTls (RT-9; SPEC §4): "OK enforce" when the plain reply lets Postfix
/// authenticate at least one MX host (policy::authenticates_some_host),
/// "TEMP <reason>" for a defer, "NOTFOUND " otherwise, so that the next item
/// of Postfix's smtp_requiretls_policy list decides.
/// TlsRpt on an MTA-STS "OK" decision (d.source == Source::MtaSts and
/// d.mta_sts present): the plain reply followed by policy_type=sts,
/// policy_domain, one mx_host_pattern per d.mta_sts->mx pattern and one
/// "{ policy_string = <line> }" per sts::policy_lines(policy_text) line.
/// DANE, local, testing, no-policy and defer decisions get the plain reply
/// (Postfix reports DANE itself; NOTFOUND/TEMP cannot carry attributes).
/// The result is at most k_max_socketmap_reply_bytes and has no control
/// characters: policy strings that do not fit are dropped from the end; if
/// the mandatory attributes do not fit, none are added; an "OK" reply that
/// is itself too long becomes "TEMP". Never throws except std::bad_alloc.
[[nodiscard]] std::string socketmap_response(const policy::Decision& d, MapKind kind,
                                             std::string_view policy_text);

/// socketmap_response() when it is the decision's own reply text unchanged (Plain, and TlsRpt
/// on a decision that takes no attributes: d.postfix, clean and within the limit): a view into
/// `d`, no allocation (the cached path). nullopt: call socketmap_response().
[[nodiscard]] std::optional<std::string_view> socketmap_response_view(const policy::Decision& d,
                                                                      MapKind kind) noexcept;

/// "TEMP <reason>" / "PERM <reason>": one line (control characters become
/// spaces), reason cut to k_max_reason_bytes on a UTF-8 boundary.
[[nodiscard]] std::string temp_reply(std::string_view reason);
[[nodiscard]] std::string perm_reply(std::string_view reason);

}  // namespace tlspolicy::proto
