// SPDX-License-Identifier: Apache-2.0
//
// policy::evaluate: the decision rules of SPEC §3, written once, as a pure
// function of what the lookups found (Facts). The engine gathers the facts
// (policy/engine.cpp: DNS, DANE, MTA-STS discovery, TLSRPT record) and hands
// them here; nothing in this file does I/O or reads a clock.
//
// The rule, per MX host: the requirement is the STRONGER of what DANE
// (RFC 7672 §2.2) and MTA-STS (RFC 8461 §4–5) demand, never weaker than
// either alone (RFC 8461 §2; RFC-CHECKLIST DANE-21). REQUIRETLS (RFC 8689
// §4.2.1) is judged last, after local policy too, and is satisfiable only
// when every host the MTA may use is authenticated. Where Postfix's one level
// per destination cannot say the per-host result, the socketmap reply is the
// one that is never weaker. docs/decision-rules.md has the full table.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tlspolicy/dane/dane.hpp"
#include "tlspolicy/dns/answer.hpp"
#include "tlspolicy/policy/decision.hpp"
#include "tlspolicy/policy/local_rule.hpp"
#include "tlspolicy/sts/discovery.hpp"
#include "tlspolicy/util/clock.hpp"
#include "tlspolicy/util/result.hpp"

namespace tlspolicy::policy {

/// One MX host as the MX answer names it, with what DANE found for it.
struct HostFacts {
  std::string host;  ///< the exchange as in the MX RRset ("" never: null MX is handled)
  std::uint16_t preference = 0;
  /// RFC 7672 §2.2 per-host DANE status; set when the MX RRset is
  /// DNSSEC-secure (DANE-6, DANE-8), empty otherwise.
  std::optional<dane::HostResult> dane;
  /// Past limits.max_mx_hosts (by preference): not looked up, not used.
  bool beyond_limit = false;
};

/// What the `_smtp._tls` TXT lookup found (RFC 8460 §3).
struct TlsRptFacts {
  std::optional<TlsRptInfo> info;           ///< the single valid record's rua, if any
  std::optional<std::chrono::seconds> ttl;  ///< TTL of the answer, when one arrived
  bool lookup_failed = false;               ///< no usable answer (SERVFAIL, timeout, bogus)
  std::string trail;                        ///< one line for --explain ("" for none)
};

/// Everything the rules need. Fields the engine did not look up stay empty:
/// a local policy without REQUIRETLS needs no lookup at all; a failed MX
/// lookup makes the rest irrelevant.
struct Facts {
  std::string domain;  ///< normalised A-label
  bool requiretls = false;
  util::TimePoint now;
  std::optional<LocalRule> local;  ///< step 1
  /// Step 2: the MX answer (or the error). Empty only for a local policy
  /// decided alone.
  std::optional<Result<dns::DnsAnswer>> mx;
  /// The MX hosts in preference order (RFC 5321 §5.1, DANE-7), or the
  /// implicit MX; see mx_hosts().
  std::vector<HostFacts> hosts;
  bool sts_excluded = false;           ///< step 1: mta_sts.exclude
  std::optional<sts::StsOutcome> sts;  ///< step 4, unless excluded
  std::optional<TlsRptFacts> tlsrpt;
};

struct RuleOptions {
  /// TTL of a decision a local [[policy]] makes alone (no DNS TTL to follow).
  std::chrono::seconds local_ttl{300};
  /// SPEC §3: a decision that rests on a transient failure (a failed lookup
  /// or fetch) lives no longer than this (mta_sts.retry_interval), so the
  /// failed step is tried again soon.
  std::chrono::seconds transient_ttl{300};
  /// RFC 8460: describe the failures met as TLS-RPT results.
  bool tlsrpt = false;
};

/// The MX hosts an answer names, in preference order (stable for equal
/// preferences), or the implicit MX (the domain itself) for a NODATA answer
/// (RFC 5321 §5.1). Empty for NXDOMAIN and for the null MX (RFC 7505).
[[nodiscard]] std::vector<HostFacts> mx_hosts(const dns::DnsAnswer& mx, std::string_view domain);

/// True for the null MX of RFC 7505 (a single "0 ." record).
[[nodiscard]] bool is_null_mx(const dns::DnsAnswer& mx) noexcept;

/// SPEC §3, steps 1 to 6. Always a decision: infrastructure failures are
/// `defer`, never a downgrade.
[[nodiscard]] Decision evaluate(const Facts& facts, const RuleOptions& options);

/// RFC 8460 §4.3: the result type of an MTA-STS discovery failure, or
/// nullopt for failures that are not reported (store errors, a malformed TXT
/// record, which means "no MTA-STS").
[[nodiscard]] std::optional<tlsrpt::ResultType> sts_result_type(Errc code) noexcept;

/// RFC 8460 §4.5 (RPT-11): a TLSA record as a policy-string, "u s m HEX".
[[nodiscard]] std::string tlsa_policy_string(const dns::TlsaRecord& r);

}  // namespace tlspolicy::policy
