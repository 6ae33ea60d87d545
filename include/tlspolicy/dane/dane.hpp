// SPDX-License-Identifier: Apache-2.0
//
// dane: DANE for SMTP (RFC 7672) per MX host, over DNSSEC-validated lookups:
// secure address lookup, then TLSA at _<port>._tcp.<host> with the CNAME
// rules of RFC 7672 §2.2.2–2.2.3 (expanded name first, then the original),
// usability (RFC 6698 §4.1, RFC 7672 §3.1.3: usages 2 and 3 only) and digest
// algorithm agility (RFC 7671 §9). The engine aggregates host results over
// the MX RRset (policy/engine.cpp).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tlspolicy/dns/answer.hpp"
#include "tlspolicy/dns/resolver.hpp"
#include "tlspolicy/event/task.hpp"
#include "tlspolicy/util/log.hpp"
#include "tlspolicy/util/result.hpp"

namespace tlspolicy::dane {

/// What DANE says about one MX host (RFC 7672 §2.2, DANE-5).
enum class HostStatus {
  Authenticated,    ///< (a) secure TLSA with at least one usable record: DANE-authenticated TLS
  Unauthenticated,  ///< (b) secure, non-empty TLSA, all records unusable: TLS without
                    ///< authentication
  NoDane,           ///< (c) insecure address/TLSA, or secure denial: pre-DANE opportunistic TLS
  Unusable,  ///< (d) lookup error or bogus: the host is unreachable (try the next MX, or delay)
  /// The host does not exist or has no address records: a definitive DNS
  /// answer, not a lookup error. The host cannot be used, but nothing is
  /// worth retrying for it (SPEC §3 step 3: not a transient failure).
  Absent,
};
[[nodiscard]] std::string_view to_string(HostStatus s) noexcept;

struct HostResult {
  std::string host;  ///< the MX host name as in the MX RRset
  HostStatus status = HostStatus::NoDane;
  /// Records to authenticate with, after dropping unusable ones and applying
  /// digest agility (RFC 7671 §9); empty unless Authenticated.
  std::vector<dns::TlsaRecord> tlsa;
  /// Every TLSA record as published (for reports and --explain).
  std::vector<dns::TlsaRecord> published;
  /// The TLSA base domain (RFC 7672 §2.2.3): the name whose
  /// _port._tcp TLSA RRset was used; "" when none.
  std::string tlsa_base_domain;
  /// Smallest TTL of the address and TLSA answers the status rests on
  /// (empty when none answered): how long the host's DANE status may be
  /// reused. A TTL of 0 is 0 (RFC 2308 §5, RFC 1035 §3.2.1), never "unknown".
  std::optional<std::chrono::seconds> ttl;
  /// An address family failed (lookup error, bogus, indeterminate) while the
  /// other answered, and the host goes on with the family that answered
  /// (SPEC §3 step 3). The status rests on a transient failure.
  bool family_failed = false;
  /// Why the host is Unusable (errc text and detail), "" otherwise.
  std::string error;
  /// Unusable because an answer was DNSSEC-bogus (RFC 8460 §4.3.2
  /// dnssec-invalid), not because of a transient lookup failure.
  bool dnssec_bogus = false;
  /// Step-by-step trail for --explain.
  std::vector<std::string> trail;
};

/// RFC 6698 §4.1, RFC 7672 §3.1.3 (DANE-2, DANE-15): a TLSA record is
/// usable when usage is 2 (DANE-TA) or 3 (DANE-EE), selector 0 or 1, matching
/// type 0 (full data, non-empty), 1 (SHA2-256, 32 octets) or 2 (SHA2-512,
/// 64 octets). PKIX-TA(0) and PKIX-EE(1) are unusable for SMTP.
[[nodiscard]] bool usable(const dns::TlsaRecord& r) noexcept;

/// RFC 7671 §9 (DANE-16): drop unusable records, then for each
/// (usage, selector) keep the Full(0) records and those with the strongest
/// digest present (SHA2-512 over SHA2-256). Order is preserved.
[[nodiscard]] std::vector<dns::TlsaRecord> select_for_authentication(
    const std::vector<dns::TlsaRecord>& records);

class DaneLookup {
 public:
  /// Keeps a reference: the resolver must outlive this object, and this object every
  /// lookup it started (active() == 0).
  DaneLookup(dns::Resolver& resolver, util::Logger log);

  /// Looks up the DANE status of one MX host (already known to come from a
  /// secure MX RRset, or an implicit MX of a secure domain). `host` is the
  /// MX exchange text; a host that is not a valid domain name (an IP
  /// literal, ...) is Absent. A coroutine step: the A, AAAA and TLSA lookups
  /// of the host go out together.
  [[nodiscard]] event::Task<HostResult> lookup_host(std::string host, std::uint16_t port = 25);

  /// Lookups started and not ended, including a TLSA lookup whose answer was not needed.
  [[nodiscard]] std::size_t active() const noexcept { return m_active.load(); }

 private:
  [[nodiscard]] event::Task<Result<dns::DnsAnswer>> tlsa_lookup(const dns::DomainName& name,
                                                                std::uint16_t port);

  dns::Resolver& m_resolver;
  util::Logger m_log;
  std::atomic<std::size_t> m_active{0};
};

}  // namespace tlspolicy::dane
