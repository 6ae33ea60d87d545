// SPDX-License-Identifier: Apache-2.0
//
// DomainName: parsing and normalisation of host and mail domain names. ASCII
// input is case-folded and checked against the LDH rules; input with non-ASCII
// bytes goes through libidn2 (IDNA 2008 with UTS#46 non-transitional mapping,
// falling back to transitional processing for characters IDNA 2008 disallows,
// as Postfix's midna_domain.c does) and the resulting A-labels get the same
// checks. Every input, however malformed, yields a value or an Error with a
// human sentence naming the problem; nothing here throws or reads past the
// input (tests/fuzz/fuzz_domain_name.cpp).
//
// KNOWN LIMITS
//   Pure-ASCII "xn--" labels are accepted as LDH labels without decoding the
//   Punycode (as Postfix and most MTAs do); to_unicode() then shows them as
//   they are.
#include "tlspolicy/dns/name.hpp"

#include <algorithm>
#include <string>
#include <string_view>
#include <vector>

#include <idn2.h>

#include "tlspolicy/util/c_handle.hpp"
#include "tlspolicy/util/quote.hpp"

namespace tlspolicy::dns {

namespace {

/// Output of idn2_to_ascii_8z()/idn2_to_unicode_8z8z(): allocated by libidn2,
/// released with idn2_free().
using Idn2String = util::CHandle<char, idn2_free>;

// RFC 1035 §2.3.4: 63 octets per label, 255 octets on the wire, which is 253
// octets of text without the trailing dot.
constexpr std::size_t k_max_label_octets = 63;
constexpr std::size_t k_max_name_octets = 253;
// A U-label may take up to 4 UTF-8 bytes per code point; anything longer than
// this cannot become a name of 253 octets and is refused before libidn2.
constexpr std::size_t k_max_input_bytes = 1024;
// How much of an offending label or name an error detail quotes.

constexpr int k_idn2_flags = IDN2_NONTRANSITIONAL | IDN2_NFC_INPUT;
constexpr int k_idn2_fallback_flags = IDN2_TRANSITIONAL | IDN2_NFC_INPUT;

Unexpected<Error> syntax_error(std::string detail) {
  return fail(Errc::DomainSyntax, Retry::Permanent, std::move(detail));
}

std::string hex_byte(unsigned char c) {
  constexpr std::string_view k_digits = "0123456789abcdef";
  return {k_digits[c >> 4U], k_digits[c & 0x0fU]};
}

constexpr char ascii_lower(char c) noexcept {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

constexpr bool is_alnum(char c) noexcept {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

constexpr bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }

std::string char_name(char c) {
  const auto u = static_cast<unsigned char>(c);
  if (u >= 0x21 && u < 0x7f) return std::string{"'"} + c + "'";
  return "byte 0x" + hex_byte(u);
}

std::vector<std::string_view> split_labels(std::string_view name) {
  std::vector<std::string_view> out;
  std::size_t start = 0;
  while (true) {
    const std::size_t dot = name.find('.', start);
    if (dot == std::string_view::npos) {
      out.push_back(name.substr(start));
      return out;
    }
    out.push_back(name.substr(start, dot - start));
    start = dot + 1;
  }
}

/// Checks a lower-case ASCII name without trailing dot against the host name
/// rules; returns the error detail, or "" when the name is valid. One pass over
/// the labels without allocating: it runs for every socketmap key.
std::string ldh_problem(std::string_view name) {
  if (name.empty()) return "the name is empty";
  std::string_view tld;
  for (std::size_t start = 0;;) {
    const std::size_t dot = name.find('.', start);
    const std::string_view label =
        name.substr(start, dot == std::string_view::npos ? dot : dot - start);
    if (label.empty()) {
      return "the name " + util::quoted(name) +
             " has an empty label (a leading dot or two dots in a row)";
    }
    if (label.size() > k_max_label_octets) {
      return "label " + util::quoted(label) + " is " + std::to_string(label.size()) +
             " octets long; the limit is 63 (RFC 1035 §2.3.4)";
    }
    // RFC 952 and RFC 1123 §2.1: letters, digits and hyphen (LDH).
    for (const char c : label) {
      if (!is_alnum(c) && c != '-') {
        return "label " + util::quoted(label) + " contains " + char_name(c) +
               "; only letters, digits and hyphens are allowed (RFC 1123 §2.1)";
      }
    }
    if (label.front() == '-') return "label " + util::quoted(label) + " starts with a hyphen";
    if (label.back() == '-') return "label " + util::quoted(label) + " ends with a hyphen";
    if (dot == std::string_view::npos) {
      tld = label;
      break;
    }
    start = dot + 1;
  }
  // RFC 3696 §2: a top-level label is not all-numeric, which also keeps
  // dotted-quad IP addresses from passing as names.
  if (std::all_of(tld.begin(), tld.end(), is_digit)) {
    return "the top-level label " + util::quoted(tld) + " is all digits, so " + util::quoted(name) +
           " is not a domain name (an IP address?) (RFC 3696 §2)";
  }
  if (name.size() > k_max_name_octets) {
    return "the name is " + std::to_string(name.size()) +
           " octets long; the limit is 253 (RFC 1035 §2.3.4)";
  }
  return {};
}

int idn2_to_ascii(const std::string& in, Idn2String& out) {
  char* raw = nullptr;
  int rc = idn2_to_ascii_8z(in.c_str(), &raw, k_idn2_flags);
  out.reset(raw);
  if (rc == IDN2_DISALLOWED) {
    // Postfix midna_domain.c: retry with UTS#46 transitional processing.
    raw = nullptr;
    rc = idn2_to_ascii_8z(in.c_str(), &raw, k_idn2_fallback_flags);
    out.reset(raw);
  }
  return rc;
}

/// U-labels to A-labels (RFC 5891 §5); returns the error detail on failure.
Result<std::string> to_a_labels(std::string_view text) {
  Idn2String converted;
  const int rc = idn2_to_ascii(std::string{text}, converted);
  if (rc == IDN2_OK && converted) return std::string{converted.get()};
  // Name the label that libidn2 refuses, when one does on its own.
  for (const auto label : split_labels(text)) {
    if (label.empty()) continue;
    Idn2String ignored;
    const int label_rc = idn2_to_ascii(std::string{label}, ignored);
    if (label_rc != IDN2_OK) {
      return syntax_error("label " + util::quoted(label) +
                          " is not a valid internationalized label: " + idn2_strerror(label_rc) +
                          " (IDNA 2008, RFC 5891)");
    }
  }
  return syntax_error("the name " + util::quoted(text) + " cannot be converted to A-labels: " +
                      idn2_strerror(rc) + " (IDNA 2008, RFC 5891)");
}

}  // namespace

Result<DomainName> DomainName::parse(std::string_view text) {
  if (text.empty()) return syntax_error("the name is empty");
  if (text.size() > k_max_input_bytes) {
    return syntax_error("the name is " + std::to_string(text.size()) +
                        " bytes long; the limit is 253 octets (RFC 1035 §2.3.4)");
  }
  bool ascii = true;
  for (const char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (u == 0) return syntax_error("the name contains a NUL byte");
    if (u <= 0x20 || u == 0x7f) {
      return syntax_error("the name " + util::quoted(text) +
                          " contains whitespace or a control character");
    }
    if (u >= 0x80) ascii = false;
  }
  if (text.front() == '[') {
    return syntax_error(util::quoted(text) + " is an address literal, not a domain name");
  }

  std::string name;
  if (ascii) {
    name.resize(text.size());
    std::transform(text.begin(), text.end(), name.begin(), ascii_lower);
  } else {
    auto converted = to_a_labels(text);
    if (!converted) return Unexpected{converted.error()};
    name = std::move(*converted);
    std::transform(name.begin(), name.end(), name.begin(), ascii_lower);
  }

  // One trailing dot marks an absolute name (RFC 1034 §3.1); drop it.
  if (!name.empty() && name.back() == '.') name.pop_back();
  if (name.empty()) return syntax_error("the name " + util::quoted(text) + " has no labels");
  if (auto problem = ldh_problem(name); !problem.empty()) {
    return syntax_error(std::move(problem));
  }
  return DomainName{std::move(name)};
}

Result<DomainName> DomainName::prefixed(std::string_view label) const {
  if (label.empty()) return syntax_error("the label to prepend is empty");
  if (label.size() > k_max_label_octets) {
    return syntax_error("label " + util::quoted(label) + " is " + std::to_string(label.size()) +
                        " octets long; the limit is 63 (RFC 1035 §2.3.4)");
  }
  std::string text;
  text.reserve(label.size() + 1 + m_text.size());
  for (const char c : label) {
    // Service labels (RFC 8552 §2, e.g. "_mta-sts", "_25", "_tcp") add '_'.
    if (!is_alnum(c) && c != '-' && c != '_') {
      return syntax_error("label " + util::quoted(label) + " contains " + char_name(c) +
                          "; only letters, digits, '-' and '_' are allowed");
    }
    text += ascii_lower(c);
  }
  text += '.';
  text += m_text;
  if (text.size() > k_max_name_octets) {
    return syntax_error("the name " + util::quoted(text) + " would be " +
                        std::to_string(text.size()) +
                        " octets long; the limit is 253 (RFC 1035 §2.3.4)");
  }
  return DomainName{std::move(text)};
}

std::vector<std::string_view> DomainName::labels() const { return split_labels(m_text); }

Result<DomainName> DomainName::parent() const {
  const std::size_t dot = m_text.find('.');
  if (dot == std::string::npos) {
    return syntax_error("the name " + util::quoted(m_text) +
                        " is a single label and has no parent");
  }
  return DomainName{m_text.substr(dot + 1)};
}

std::string DomainName::to_unicode() const {
  // Only A-labels (RFC 5890 §2.3.2.1: "xn--" prefix) have a Unicode form.
  if (m_text.rfind("xn--", 0) != 0 && m_text.find(".xn--") == std::string::npos) return m_text;
  char* raw = nullptr;
  const int rc = idn2_to_unicode_8z8z(m_text.c_str(), &raw, 0);
  const Idn2String out{raw};
  if (rc != IDN2_OK || !out) return m_text;
  return std::string{out.get()};
}

}  // namespace tlspolicy::dns
