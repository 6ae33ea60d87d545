// SPDX-License-Identifier: Apache-2.0
//
// DomainName: a validated, normalised domain name. Always a lower-case A-label
// form without a trailing dot, at most 253 octets, labels of 1..63 octets.
// Construct only through the factories below; a DomainName in hand is valid.
#pragma once

#include <compare>
#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "tlspolicy/util/result.hpp"

namespace tlspolicy::dns {

class DomainName {
 public:
  /// Parses a mail domain or host name as a user, a config file or a policy
  /// gives it: U-labels are converted to A-labels (libidn2, IDNA 2008 with
  /// UTS#46 mapping), case is folded, one trailing dot is dropped. Every label
  /// must follow LDH rules (letters, digits, hyphen; no hyphen at either end),
  /// and the top-level label must not be all digits (so IP addresses are
  /// rejected). Errors: Errc::DomainSyntax, Retry::Permanent, with a detail
  /// that names the problem. Never throws.
  [[nodiscard]] static Result<DomainName> parse(std::string_view text);

  /// Builds an owner name for a DNS query by prepending one label, which may
  /// be a service label such as "_mta-sts", "_25" or "_tcp" (letters, digits,
  /// '-' and '_'). Fails with Errc::DomainSyntax when the label is malformed
  /// or the result is longer than 253 octets.
  [[nodiscard]] Result<DomainName> prefixed(std::string_view label) const;

  /// The normalised text: lower-case A-labels joined by '.', no trailing dot.
  [[nodiscard]] const std::string& str() const noexcept { return m_text; }

  /// The labels, left to right, viewing into str().
  [[nodiscard]] std::vector<std::string_view> labels() const;

  /// The name without its left-most label; empty optional-like result
  /// (Errc::DomainSyntax) for a single-label name.
  [[nodiscard]] Result<DomainName> parent() const;

  /// The Unicode form for display (U-labels where conversion succeeds).
  [[nodiscard]] std::string to_unicode() const;

  friend bool operator==(const DomainName&, const DomainName&) = default;
  friend std::strong_ordering operator<=>(const DomainName&, const DomainName&) = default;

 private:
  explicit DomainName(std::string text) : m_text(std::move(text)) {}
  std::string m_text;
};

}  // namespace tlspolicy::dns

template <>
struct std::hash<tlspolicy::dns::DomainName> {
  std::size_t operator()(const tlspolicy::dns::DomainName& n) const noexcept {
    return std::hash<std::string>{}(n.str());
  }
};
