// SPDX-License-Identifier: Apache-2.0
//
// Plain value types for DNS answers. Nothing from ldns or libunbound leaves
// src/dns/: the resolvers copy what the rest of the program needs into these.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace tlspolicy::dns {

enum class RrType : std::uint16_t {
  A = 1,
  Cname = 5,
  Mx = 15,
  Txt = 16,
  Aaaa = 28,
  Tlsa = 52,
};

/// DNSSEC state of an answer (RFC 4035 §4.3): Secure (validated chain),
/// Insecure (provably unsigned), Bogus (validation failed), Indeterminate
/// (the state could not be established, e.g. a non-validating upstream).
enum class Security { Secure, Insecure, Bogus, Indeterminate };

/// What the answer says: records, the name exists without records of the
/// type (NODATA), or the name does not exist (NXDOMAIN).
enum class Outcome { Data, NoData, NxDomain };

struct MxRecord {
  std::uint16_t preference = 0;
  /// The exchange as it appeared on the wire, lower-cased, without the
  /// trailing dot; "" for the root (the null MX of RFC 7505 is "0 .").
  std::string exchange;
  friend bool operator==(const MxRecord&, const MxRecord&) = default;
};

struct TxtRecord {
  /// The character-strings of one TXT RR, in order, bytes as received.
  std::vector<std::string> strings;
  /// The strings concatenated without separators (RFC 8461 §3.1, RFC 8460 §3).
  [[nodiscard]] std::string joined() const;
  friend bool operator==(const TxtRecord&, const TxtRecord&) = default;
};

struct TlsaRecord {
  std::uint8_t usage = 0;
  std::uint8_t selector = 0;
  std::uint8_t mtype = 0;
  std::vector<std::uint8_t> data;
  friend bool operator==(const TlsaRecord&, const TlsaRecord&) = default;
};

struct DnsAnswer {
  std::string qname;  ///< the name asked for (normalised text)
  RrType qtype = RrType::A;
  Outcome outcome = Outcome::NoData;
  Security security = Security::Indeterminate;
  /// Smallest TTL of the answer RRset (or the negative TTL from the SOA
  /// minimum for NXDOMAIN/NODATA; 0 when unknown).
  std::chrono::seconds ttl{0};
  /// The final owner name after following CNAMEs ("" when no CNAME was seen).
  std::string canonical_name;
  std::vector<MxRecord> mx;            ///< qtype Mx
  std::vector<TxtRecord> txt;          ///< qtype Txt
  std::vector<std::string> addresses;  ///< qtype A / Aaaa, textual
  std::vector<TlsaRecord> tlsa;        ///< qtype Tlsa
  /// Why the answer is Bogus or Indeterminate; for logs, never parsed.
  std::string why;
};

[[nodiscard]] std::string_view to_string(RrType t) noexcept;
[[nodiscard]] std::string_view to_string(Security s) noexcept;
[[nodiscard]] std::string_view to_string(Outcome o) noexcept;

}  // namespace tlspolicy::dns
