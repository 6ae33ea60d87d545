// SPDX-License-Identifier: Apache-2.0
//
// The TLSRPT TXT record of RFC 8460 §3 (RFC-CHECKLIST RPT-1, RPT-2): where a
// report domain wants its reports. Published at "_smtp._tls.<domain>":
//
//   tlsrpt-record    = tlsrpt-version 1*(field-delim tlsrpt-field) [field-delim]
//   field-delim      = *WSP ";" *WSP
//   tlsrpt-field     = tlsrpt-rua / tlsrpt-extension
//   tlsrpt-version   = %s"v=TLSRPTv1"
//   tlsrpt-rua       = %s"rua=" tlsrpt-uri *(*WSP "," *WSP tlsrpt-uri)
//   tlsrpt-uri       = URI   ; RFC 3986; "," "!" ";" MUST be percent-encoded
//   tlsrpt-extension = tlsrpt-ext-name "=" tlsrpt-ext-value
//   tlsrpt-ext-name  = (ALPHA / DIGIT) *31(ALPHA / DIGIT / "_" / "-" / ".")
//   tlsrpt-ext-value = 1*(%x21-3A / %x3C / %x3E-7E)
//
// The parser follows this grammar exactly (field names are case-sensitive,
// so "RUA=" is an unknown extension); unknown fields are ignored (RPT-2).
// Every "rua" field counts (the grammar allows several); their URIs are kept
// in order, duplicates once, at most k_max_rua_targets. A URI that is not a
// well-formed "mailto:" (RFC 6068) or "https:" URI, or has another scheme,
// is skipped; a record left without any URI is an error. Parsers take
// untrusted bytes, never throw, run in linear time, and are fuzzed.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tlspolicy/dns/name.hpp"
#include "tlspolicy/util/result.hpp"

namespace tlspolicy::tlsrpt {

/// Most report destinations kept from one record.
inline constexpr std::size_t k_max_rua_targets = 16;

/// One report destination from "rua" (RPT-4, RPT-5, RPT-6).
struct RuaTarget {
  enum class Kind { Mailto, Https };
  Kind kind = Kind::Mailto;
  /// The URI as written in the record (percent-encoding kept); the scheme may
  /// be in any case ("HTTPS:" is https).
  std::string uri;
  /// Mailto only ("" for Https): one addr-spec, percent-decoded, without
  /// "mailto:" and without any "?" header fields. A mailto URI that lists
  /// several addresses (RFC 6068 "to", commas encoded as %2C per RPT-1)
  /// gives one target per address, each with the same `uri`. The address is
  /// checked: a dot-atom-text local part of printable ASCII (RFC 5322
  /// atext and "."; no quoted strings, no spaces, no non-ASCII), "@", and a
  /// domain that dns::DomainName::parse accepts (kept as written).
  std::string mailbox;
  friend bool operator==(const RuaTarget&, const RuaTarget&) = default;
};

struct TlsRptRecord {
  std::vector<RuaTarget> rua;  ///< never empty in a parsed record
  friend bool operator==(const TlsRptRecord&, const TlsRptRecord&) = default;
};

/// Parses one TXT record whose strings are already concatenated (RPT-2).
/// Errors (Errc::InvalidArgument, Retry::Permanent): the record does not
/// begin with the "v=TLSRPTv1" token; a delimiter, field name or extension
/// value outside the grammar above; no "rua" field; no usable URI.
[[nodiscard]] Result<TlsRptRecord> parse_tlsrpt_record(std::string_view txt);

/// RPT-2: from every TXT record at _smtp._tls.<domain> (each already
/// concatenated), discards those that do not begin with "v=TLSRPTv1;". As for
/// MTA-STS (sts::select_sts_txt), WSP before the ";" is allowed, since the
/// §3 ABNF allows it, and a record that is just "v=TLSRPTv1" (with optional
/// trailing WSP) also counts as a TLSRPT record. If exactly one remains and
/// it parses, returns it. Otherwise (none, several, or the one is invalid)
/// returns nullopt: RFC 8460 §3 says the sender then MUST assume the domain
/// does not implement TLSRPT, so that is "no reporting", not an error. The
/// Result never holds an error today; it leaves room for one.
[[nodiscard]] Result<std::optional<TlsRptRecord>> select_tlsrpt_record(
    const std::vector<std::string>& txt_records);

/// RPT-1: the owner name of the TLSRPT TXT record, "_smtp._tls.<domain>".
/// Errors: Errc::DomainSyntax when the result would exceed 253 octets.
[[nodiscard]] Result<dns::DomainName> tlsrpt_query_name(const dns::DomainName& domain);

}  // namespace tlspolicy::tlsrpt
