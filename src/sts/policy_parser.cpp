// SPDX-License-Identifier: Apache-2.0
//
// The MTA-STS policy body of RFC 8461 §3.2 (RFC-CHECKLIST STS-8, STS-20..STS-24)
// with the choices of SPEC §3: parse_sts_policy() reads "key: value" lines
// ended by LF or CRLF (errata 6253), tolerates blank lines and trailing WSP,
// rejects leading WSP, keeps the first copy of every key but mx, ignores
// unknown keys, clamps max_age to one year and normalises mx patterns through
// dns::DomainName. It takes untrusted bytes from the network, never throws,
// and runs in time linear in the body (one pass over the lines).
// policy_lines() splits a body the same way for TLS-RPT (RFC 8460 §4.5), so
// a report quotes exactly the lines the parser read.
//
// Choices where the RFC is open (also listed in docs/decision-rules.md):
//  - A line "key: value" must have a key made of the ext-name characters
//    (letters, digits, "_", "-", "."; starting with a letter or digit). The
//    32-character limit of sts-policy-ext-name is not enforced for unknown
//    keys, and their values may be empty or contain HTAB ("loosely checked"),
//    but must be valid UTF-8 without other control characters, as
//    sts-policy-vchar demands.
//  - Later copies of version, mode and max_age are ignored without being
//    validated (STS-8: "every copy after the first SHALL be ignored").
//  - A syntactically invalid mx pattern makes the whole policy invalid: the
//    body does not match the §3.2 grammar, and silently dropping a pattern
//    would change which MX hosts an enforce policy allows. One trailing dot,
//    upper case and U-labels are normalised, not fatal (SPEC §3).
//  - A CR that is not part of a CRLF line end is an error (it is neither a
//    line terminator nor WSP nor sts-policy-vchar).
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tlspolicy/dns/name.hpp"
#include "tlspolicy/sts/policy.hpp"
#include "tlspolicy/util/quote.hpp"

namespace tlspolicy::sts {
namespace {

constexpr std::size_t k_max_age_digits = 10;  // §3.2: 1*10(DIGIT)

bool is_alpha(char c) noexcept { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); }
bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }
bool is_alnum(char c) noexcept { return is_alpha(c) || is_digit(c); }
bool is_wsp(char c) noexcept { return c == ' ' || c == '\t'; }  // RFC 5234 WSP

// sts-policy-ext-name characters (the length limit is not enforced, see above).
bool is_valid_key(std::string_view key) noexcept {
  if (key.empty() || !is_alnum(key.front())) return false;
  for (const char c : key) {
    if (!is_alnum(c) && c != '_' && c != '-' && c != '.') return false;
  }
  return true;
}

// Length of the UTF-8 sequence (RFC 3629 UTF8-2/3/4, no overlongs, no
// surrogates, nothing above U+10FFFF) starting at s[i], or 0 if invalid.
std::size_t utf8_sequence_length(std::string_view s, std::size_t i) noexcept {
  const auto at = [&](std::size_t k) -> unsigned {
    return i + k < s.size() ? static_cast<unsigned char>(s[i + k]) : 0U;
  };
  const auto tail = [](unsigned b) { return b >= 0x80U && b <= 0xBFU; };
  const unsigned b0 = at(0);
  if (b0 >= 0xC2U && b0 <= 0xDFU) return tail(at(1)) ? 2 : 0;
  if (b0 >= 0xE0U && b0 <= 0xEFU) {
    const unsigned b1 = at(1);
    const bool ok1 = b0 == 0xE0U   ? (b1 >= 0xA0U && b1 <= 0xBFU)
                     : b0 == 0xEDU ? (b1 >= 0x80U && b1 <= 0x9FU)
                                   : tail(b1);
    return ok1 && tail(at(2)) ? 3 : 0;
  }
  if (b0 >= 0xF0U && b0 <= 0xF4U) {
    const unsigned b1 = at(1);
    const bool ok1 = b0 == 0xF0U   ? (b1 >= 0x90U && b1 <= 0xBFU)
                     : b0 == 0xF4U ? (b1 >= 0x80U && b1 <= 0x8FU)
                                   : tail(b1);
    return ok1 && tail(at(2)) && tail(at(3)) ? 4 : 0;
  }
  return 0;
}

// sts-policy-vchar / %x20 (and, loosely, HTAB) throughout; nothing else.
bool is_valid_value_text(std::string_view v) noexcept {
  std::size_t i = 0;
  while (i < v.size()) {
    const auto u = static_cast<unsigned char>(v[i]);
    if (u < 0x80U) {
      if ((u < 0x20U && v[i] != '\t') || u == 0x7FU) return false;
      ++i;
      continue;
    }
    const std::size_t n = utf8_sequence_length(v, i);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

Unexpected<Error> syntax(std::string detail) {
  return fail(Errc::StsPolicySyntax, Retry::Permanent, std::move(detail));
}

Unexpected<Error> line_error(std::size_t line, const std::string& problem) {
  return syntax("Line " + std::to_string(line) + " of the policy " + problem);
}

// `["*."] Domain` (§3.2, STS-23) normalised: "*." kept, the rest through
// DomainName (lower-case A-labels, one trailing dot dropped).
Result<std::string> normalise_mx(std::string_view value) {
  // Only printable ASCII and UTF-8 reach DomainName: no WSP, CTLs or NULs
  // (a NUL would silently truncate the name in a C library).
  for (const char c : value) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20U || u == 0x7FU) {
      return fail(Errc::DomainSyntax, Retry::Permanent,
                  "it contains whitespace or a control character");
    }
  }
  if (!is_valid_value_text(value)) {
    return fail(Errc::DomainSyntax, Retry::Permanent, "it is not valid UTF-8");
  }
  const bool wildcard = value.starts_with("*.");
  const std::string_view domain = wildcard ? value.substr(2) : value;
  auto name = dns::DomainName::parse(domain);
  if (!name) return Unexpected{name.error()};
  if (name->str().empty()) {
    return fail(Errc::DomainSyntax, Retry::Permanent, "it names the DNS root");
  }
  return wildcard ? "*." + name->str() : name->str();
}

// Trims RFC 5234 WSP on the right.
std::string_view trim_right(std::string_view s) noexcept {
  while (!s.empty() && is_wsp(s.back())) s.remove_suffix(1);
  return s;
}

// Trims RFC 5234 WSP on the left (sts-policy-field-delim = ":" *WSP).
std::string_view trim_left(std::string_view s) noexcept {
  while (!s.empty() && is_wsp(s.front())) s.remove_prefix(1);
  return s;
}

// Calls fn(line_number, line) for every line of `body`: split at LF, one CR
// before each LF removed (errata 6253), trailing WSP removed. fn returns false
// to stop. Used by the parser and by policy_lines().
template <class Fn>
void for_each_line(std::string_view body, Fn&& fn) {
  std::size_t pos = 0;
  std::size_t number = 0;
  while (pos <= body.size()) {
    const std::size_t lf = body.find('\n', pos);
    const bool last = lf == std::string_view::npos;
    std::string_view line = body.substr(pos, (last ? body.size() : lf) - pos);
    pos = last ? body.size() + 1 : lf + 1;
    ++number;
    if (!last && line.ends_with('\r')) line.remove_suffix(1);
    if (!fn(number, trim_right(line))) return;
  }
}

// A key that differs from a known key only in case, for a hint in details.
bool is_known_key_in_other_case(std::string_view key) noexcept {
  constexpr std::string_view k_known[] = {"version", "mode", "max_age", "mx"};
  for (const auto known : k_known) {
    if (key.size() != known.size() || key == known) continue;
    bool same = true;
    for (std::size_t i = 0; i < key.size() && same; ++i) {
      const char c = key[i];
      const char lower = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
      same = lower == known[i];
    }
    if (same) return true;
  }
  return false;
}

}  // namespace

Result<StsPolicy> parse_sts_policy(std::string_view body) {
  StsPolicy policy;
  bool have_version = false;
  std::optional<StsMode> mode;
  bool have_max_age = false;
  std::optional<Error> error;
  std::string case_hint;  // first key that is a known key in the wrong case

  for_each_line(body, [&](std::size_t n, std::string_view line) {
    // Blank (or all-WSP) lines are tolerated (SPEC §3).
    if (line.empty()) return true;
    // STS-24: no leading WSP on a line.
    if (is_wsp(line.front())) {
      error =
          line_error(n, "begins with whitespace, which RFC 8461 section 3.2 does not allow.").value;
      return false;
    }
    if (line.find('\r') != std::string_view::npos) {
      error =
          line_error(n, "contains a carriage return that is not part of a CRLF line end.").value;
      return false;
    }
    const std::size_t colon = line.find(':');
    if (colon == std::string_view::npos) {
      error = line_error(n, util::quoted(line) + " has no \":\" between a key and a value.").value;
      return false;
    }
    const std::string_view key = line.substr(0, colon);
    const std::string_view value = trim_left(line.substr(colon + 1));
    if (!is_valid_key(key)) {
      std::string why;
      if (key.empty()) {
        why = "has no key before the \":\".";
      } else if (key.starts_with("\xEF\xBB\xBF")) {
        why = "begins with a UTF-8 byte-order mark, which RFC 8461 section 3.2 does not allow.";
      } else if (is_wsp(key.back())) {
        why = "has whitespace before the \":\" after the key " + util::quoted(trim_right(key)) +
              ", which RFC 8461 section 3.2 does not allow.";
      } else {
        why = "has the key " + util::quoted(key) +
              ", which is not letters, digits, \"_\", \"-\" and \".\" starting with a letter "
              "or digit.";
      }
      error = line_error(n, why).value;
      return false;
    }

    // STS-8: every copy of a key other than mx after the first is ignored.
    if (key == "version") {
      if (have_version) return true;
      if (value != "STSv1") {
        error = line_error(n, "has version " + util::quoted(value) + "; only \"STSv1\" is defined.")
                    .value;
        return false;
      }
      have_version = true;
    } else if (key == "mode") {
      if (mode) return true;
      mode = parse_mode(value);  // STS-21: case-sensitive
      if (!mode) {
        error = line_error(n, "has mode " + util::quoted(value) +
                                  ", which is not \"enforce\", \"testing\" or \"none\" (modes "
                                  "are case-sensitive).")
                    .value;
        return false;
      }
    } else if (key == "max_age") {
      if (have_max_age) return true;
      // STS-22: 1*10(DIGIT); values above one year are clamped (SPEC §3,
      // errata 7282).
      bool digits = !value.empty() && value.size() <= k_max_age_digits;
      for (const char c : value) digits = digits && is_digit(c);
      if (!digits) {
        error = line_error(n, "has max_age " + util::quoted(value) +
                                  ", which is not a number of 1 to 10 digits.")
                    .value;
        return false;
      }
      std::uint64_t seconds = 0;
      for (const char c : value) seconds = seconds * 10U + static_cast<std::uint64_t>(c - '0');
      const auto limit = static_cast<std::uint64_t>(k_max_age_limit.count());
      if (seconds > limit) seconds = limit;
      policy.max_age = std::chrono::seconds{static_cast<std::chrono::seconds::rep>(seconds)};
      have_max_age = true;
    } else if (key == "mx") {
      // STS-23: one pattern per line, every copy kept.
      auto pattern = normalise_mx(value);
      if (!pattern) {
        std::string why = pattern.error().detail;
        if (why.empty() || why.back() != '.') why += '.';
        error = line_error(n, "has the mx pattern " + util::quoted(value) +
                                  ", which is not a host name or \"*.\" and a host name: " + why)
                    .value;
        return false;
      }
      policy.mx.push_back(std::move(*pattern));
    } else {
      // STS-8: unknown keys are ignored; their value must still be text
      // (sts-policy-ext-value).
      if (!is_valid_value_text(value)) {
        error = line_error(n, "has a value for " + util::quoted(key) +
                                  " that is not valid UTF-8 text (control character, NUL or "
                                  "malformed UTF-8).")
                    .value;
        return false;
      }
      if (case_hint.empty() && is_known_key_in_other_case(key)) {
        case_hint = " (line " + std::to_string(n) + " has the key " + util::quoted(key) +
                    ", but keys are case-sensitive)";
      }
    }
    return true;
  });
  if (error) return Unexpected{std::move(*error)};

  // STS-20: version, mode and max_age are required; mx unless mode is none.
  if (!have_version) return syntax("The policy has no \"version\" line" + case_hint + ".");
  if (!mode) return syntax("The policy has no \"mode\" line" + case_hint + ".");
  if (!have_max_age) return syntax("The policy has no \"max_age\" line" + case_hint + ".");
  policy.mode = *mode;
  if (policy.mx.empty() && policy.mode != StsMode::None) {
    return syntax("The policy has mode " + std::string{to_string(policy.mode)} +
                  " but no \"mx\" line" + case_hint +
                  "; RFC 8461 section 3.2 requires at least one unless the mode is none.");
  }
  return policy;
}

std::vector<std::string> policy_lines(std::string_view body) {
  // RFC 8460 §4.5 "policy-string": one element per line of the policy, here
  // without its terminator and trailing WSP; blank lines are left out.
  std::vector<std::string> lines;
  for_each_line(body, [&](std::size_t, std::string_view line) {
    if (!line.empty()) lines.emplace_back(line);
    return true;
  });
  return lines;
}

}  // namespace tlspolicy::sts
