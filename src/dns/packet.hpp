// SPDX-License-Identifier: Apache-2.0
//
// Private to src/dns: turning a parsed DNS reply (an ldns_pkt) into the plain
// DnsAnswer both resolver backends return. The trust-ad backend feeds it the
// packet its stub query got back; the validate backend feeds it libunbound's
// answer_packet after ldns_wire2pkt(). The caller has checked the rcode
// (NOERROR or NXDOMAIN) and decides the Security; this code follows the CNAME
// chain (RFC 1034 §3.6.2), copies the RDATA of the asked type and computes the
// TTL (RFC 2308 §5 for negative answers). Nothing from ldns leaves src/dns/.
#pragma once

#include <optional>
#include <string>

#include "tlspolicy/dns/answer.hpp"
#include "tlspolicy/dns/name.hpp"
#include "tlspolicy/util/result.hpp"

#include "ldns.hpp"

namespace tlspolicy::dns::detail {

/// Reads a NOERROR or NXDOMAIN reply for `name`/`type` into a DnsAnswer with
/// the given security. `where` names the source in error details ("IP@port").
/// Errors: Errc::DnsMalformed (CNAME chain over 16 links or a loop, RDATA that
/// does not fit its type), Errc::Internal (ldns cannot represent the name).
/// `reply` is borrowed; nothing in the result points into it.
[[nodiscard]] Result<DnsAnswer> answer_from_packet(const ldns_pkt* reply, const DomainName& name,
                                                   RrType type, Security security,
                                                   const std::string& where);

/// True when the question section holds exactly `name`/`type`/IN (the RFC
/// 5452 §9.1 check).
[[nodiscard]] bool question_matches(const ldns_pkt* reply, const DomainName& name, RrType type);

/// The textual form of an A (4 bytes) or AAAA (16 bytes) rdf; nullopt when
/// the size does not fit `type`.
[[nodiscard]] std::optional<std::string> address_text(const ldns_rdf* rdf, RrType type);

/// "NOERROR", "SERVFAIL", ... or "RCODEn".
[[nodiscard]] std::string rcode_name(ldns_pkt_rcode rcode);

}  // namespace tlspolicy::dns::detail
