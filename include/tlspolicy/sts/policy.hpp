// SPDX-License-Identifier: Apache-2.0
//
// MTA-STS (RFC 8461) value types and parsers: the _mta-sts TXT record (§3.1),
// the policy body (§3.2) and MX pattern matching (§4.1). Parsers never throw;
// they take untrusted bytes and are fuzzed (tests/fuzz/).
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tlspolicy/util/result.hpp"

namespace tlspolicy::sts {

enum class StsMode { Enforce, Testing, None };

[[nodiscard]] constexpr std::string_view to_string(StsMode m) noexcept {
  switch (m) {
    case StsMode::Enforce:
      return "enforce";
    case StsMode::Testing:
      return "testing";
    case StsMode::None:
      return "none";
  }
  return "none";
}

/// Case-sensitive (RFC 8461 §3.2 uses %s): only "enforce", "testing", "none".
[[nodiscard]] constexpr std::optional<StsMode> parse_mode(std::string_view s) noexcept {
  if (s == "enforce") return StsMode::Enforce;
  if (s == "testing") return StsMode::Testing;
  if (s == "none") return StsMode::None;
  return std::nullopt;
}

/// RFC 8461 §3.2: max_age is capped at 31557600 seconds (one year).
inline constexpr std::chrono::seconds k_max_age_limit{31557600};

struct StsTxtRecord {
  std::string id;  ///< 1..32 ALPHA/DIGIT (STS-2, STS-6: compare for equality only)
  friend bool operator==(const StsTxtRecord&, const StsTxtRecord&) = default;
};

/// Parses one TXT record (its strings already concatenated, STS-4).
/// Errors (Permanent): Errc::StsNoRecord when it does not begin with
/// "v=STSv1"; Errc::StsTxtSyntax for anything else outside the §3.1 ABNF
/// (missing or malformed id, bad field). Duplicate fields: first wins (STS-8).
[[nodiscard]] Result<StsTxtRecord> parse_sts_txt(std::string_view record);

/// STS-3: from all TXT records at _mta-sts.<domain> (each already joined),
/// discard those not beginning with "v=STSv1;" (a bare "v=STSv1" also counts),
/// require exactly one, and parse it. Errors: StsNoRecord when none is left,
/// StsTxtSyntax when more than one is left or the one left is invalid.
[[nodiscard]] Result<StsTxtRecord> select_sts_txt(const std::vector<std::string>& records);

struct StsPolicy {
  StsMode mode = StsMode::None;
  /// MX patterns in order of appearance, normalised: lower-case A-labels, no
  /// trailing dot, optional leading "*." (SPEC §3: one trailing dot or a
  /// U-label is normalised, not fatal).
  std::vector<std::string> mx;
  /// As published, clamped to k_max_age_limit (SPEC §3).
  std::chrono::seconds max_age{0};
  friend bool operator==(const StsPolicy&, const StsPolicy&) = default;
};

/// Parses a policy body (RFC 8461 §3.2, STS-20..STS-24). Accepts LF and CRLF,
/// blank lines and trailing whitespace; ignores unknown keys (STS-8) and every
/// copy of a non-mx key after the first. Requires version STSv1, a valid mode,
/// max_age of 1..10 digits, and at least one mx unless mode is none.
/// Errors: Errc::StsPolicySyntax (Permanent) with a detail naming the line.
[[nodiscard]] Result<StsPolicy> parse_sts_policy(std::string_view body);

/// RFC 8461 §4.1 (STS-25): does `pattern` ("mx.example.com" or
/// "*.example.com", normalised) match the MX host name `host` (normalised)?
/// "*" matches exactly one whole left-most label. Case-insensitive.
[[nodiscard]] bool mx_pattern_matches(std::string_view pattern, std::string_view host) noexcept;

/// True when any pattern matches `host`.
[[nodiscard]] bool mx_matches_any(const std::vector<std::string>& patterns,
                                  std::string_view host) noexcept;

/// Policy lines for TLS-RPT "policy-string" (RFC 8460 §4.5): one element per
/// non-empty line of the body, without line terminators or trailing WSP.
[[nodiscard]] std::vector<std::string> policy_lines(std::string_view body);

}  // namespace tlspolicy::sts
