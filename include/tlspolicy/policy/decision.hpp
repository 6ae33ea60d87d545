// SPDX-License-Identifier: Apache-2.0
//
// policy::Decision: the answer tlspolicy gives for one recipient domain (SPEC
// §3). The JSON protocol and `lookup --json` print exactly this object; the
// `postfix` field is the socketmap reply the same decision produces.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tlspolicy/dns/answer.hpp"
#include "tlspolicy/sts/policy.hpp"
#include "tlspolicy/tlsrpt/model.hpp"
#include "tlspolicy/util/clock.hpp"
#include "tlspolicy/util/result.hpp"

namespace tlspolicy::policy {

enum class Action { RequireTls, Opportunistic, Defer, Bounce };
/// How the peer certificate is authenticated when TLS is used.
enum class Verify { Dane, Pkix, None };
enum class Source { Local, Dane, MtaSts, RequireTls, None };

[[nodiscard]] std::string_view to_string(Action a) noexcept;
[[nodiscard]] std::string_view to_string(Verify v) noexcept;
[[nodiscard]] std::string_view to_string(Source s) noexcept;

struct MxHost {
  std::string host;
  std::uint16_t preference = 0;
  bool allowed = true;  ///< false: MTA-STS enforce patterns do not match (STS-27)
  Verify verify = Verify::None;
  std::vector<dns::TlsaRecord> tlsa;
  /// RFC 7672 §2.2.3: the name whose TLSA RRset was used; "" without TLSA.
  /// TLS-RPT files DANE results under it (RFC 8460 §1.1). Not in the JSON.
  std::string tlsa_base_domain;
};

struct StsInfo {
  std::string id;
  sts::StsMode mode = sts::StsMode::None;
  std::vector<std::string> mx;
  std::chrono::seconds max_age{0};
  util::TimePoint fetched_at;
  util::TimePoint expires_at;
  bool from_cache = false;
  /// The policy body as fetched (not part of the JSON decision object; the
  /// socketmap TLS-RPT variant quotes its lines as policy_string).
  std::string policy_text;
};

struct RequireTlsInfo {
  bool requested = false;
  bool satisfiable = false;
  bool peer_must_advertise = false;
};

struct TlsRptInfo {
  std::vector<std::string> rua;
};

/// The Postfix TLS level a socketmap reply names ("OK <level> ...").
/// Spelled as Postfix spells them in exactly one place (decision.cpp).
enum class TlsLevel { None, May, Encrypt, Dane, DaneOnly, Verify, Secure };
[[nodiscard]] std::string_view to_string(TlsLevel l) noexcept;

struct Decision {
  std::string domain;
  Action action = Action::Opportunistic;
  Verify verify = Verify::None;
  Source source = Source::None;
  std::vector<MxHost> mx;
  std::optional<StsInfo> mta_sts;
  dns::Security dnssec = dns::Security::Indeterminate;
  RequireTlsInfo requiretls;
  std::optional<TlsRptInfo> tlsrpt;
  std::string postfix;  ///< exact socketmap reply, see socketmap_reply()
  std::string reason;   ///< one human sentence
  std::chrono::seconds ttl{0};
  /// When the decision was made (the engine's clock): `ttl` counts from here
  /// (not part of the JSON object; remaining_ttl() is what callers are told).
  util::TimePoint decided_at;
  /// Step-by-step trail (printed with --explain).
  std::vector<std::string> explain;
  /// Failures met while deciding (not part of the decision object; the CLI
  /// prints them on stderr, TLS-RPT will count them).
  std::vector<Error> failures;
  /// The same failures as TLS-RPT results (RFC 8460 §4.3), filled only when
  /// the engine looks up TLSRPT records (EngineOptions::tlsrpt). Not in the JSON.
  std::vector<tlsrpt::PolicyResult> tlsrpt_results;

  /// For require-tls decisions: the Postfix level and its match names.
  TlsLevel postfix_level = TlsLevel::None;
  std::vector<std::string> postfix_match;  ///< Postfix syntax: ".example.com" for "*.example.com"
  bool servername_hostname = false;        ///< append "servername=hostname"
};

/// A reason as the text of a socketmap TEMP or PERM reply, the one rule for every reply: on one
/// line (control characters become spaces), commas become semicolons (Exim 4.96's
/// ${extract json} stops at a comma inside a string, and the reply is also the decision's
/// "postfix" member). The wire's length cap is proto's (k_max_reason_bytes).
[[nodiscard]] std::string socketmap_reason(std::string_view reason);

/// The socketmap reply (Postfix dict_sockmap, SPEC §4) for a decision:
///  require-tls  → "OK <level>[ match=a:b][ servername=hostname]"
///  defer        → "TEMP <reason>"
///  otherwise    → "NOTFOUND " (Postfix applies its own defaults; a bounce for
///                 a null MX is Postfix's own RFC 7505 handling).
[[nodiscard]] std::string socketmap_reply(const Decision& d);

/// True when the decision's socketmap reply lets Postfix authenticate at
/// least one MX host: dane-only, secure or verify, or dane with a host that
/// has usable TLSA records (RT-9: what Postfix 3.11's REQUIRETLS "enforce"
/// needs). False for defer, bounce, opportunistic and unauthenticated TLS.
[[nodiscard]] bool authenticates_some_host(const Decision& d) noexcept;

/// What is left of d.ttl at `now` (never negative): the "ttl" callers get
/// for a decision answered from memory.
[[nodiscard]] std::chrono::seconds remaining_ttl(const Decision& d, util::TimePoint now) noexcept;

/// An MTA-STS mx pattern in Postfix match syntax: "*.x" → ".x".
[[nodiscard]] std::string postfix_match_name(std::string_view sts_pattern);

}  // namespace tlspolicy::policy
