// SPDX-License-Identifier: Apache-2.0
//
// The _mta-sts TXT record of RFC 8461 §3.1 (RFC-CHECKLIST STS-1..STS-4, STS-6,
// STS-8): parse_sts_txt() checks one record against the §3.1 ABNF exactly
// (case-sensitive "v=STSv1" and "id=", 1..32 ALPHA/DIGIT ids, "*WSP ; *WSP"
// delimiters, an optional trailing delimiter, extension names and values as
// the ABNF allows them) and select_sts_txt() applies the "exactly one record"
// rule of STS-3 to every TXT record found. Both take untrusted bytes, never
// throw, and run in time linear in the input.
#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tlspolicy/sts/policy.hpp"
#include "tlspolicy/util/quote.hpp"

namespace tlspolicy::sts {
namespace {

constexpr std::string_view k_version = "v=STSv1";
constexpr std::size_t k_max_id_length = 32;        // §3.1: 1*32(ALPHA / DIGIT)
constexpr std::size_t k_max_ext_name_length = 32;  // §3.1: 1 + *31(...)

bool is_alpha(char c) noexcept { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); }
bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }
bool is_alnum(char c) noexcept { return is_alpha(c) || is_digit(c); }
bool is_wsp(char c) noexcept { return c == ' ' || c == '\t'; }  // RFC 5234 WSP

// sts-ext-name = (ALPHA / DIGIT) *31(ALPHA / DIGIT / "_" / "-" / ".")
bool is_ext_name_char(char c) noexcept { return is_alnum(c) || c == '_' || c == '-' || c == '.'; }

// sts-ext-value = 1*(%x21-3A / %x3C / %x3E-7E): visible ASCII except ";" and "=".
bool is_ext_value_char(char c) noexcept {
  const auto u = static_cast<unsigned char>(c);
  return u >= 0x21 && u <= 0x7E && c != ';' && c != '=';
}

Unexpected<Error> syntax(std::string detail) {
  return fail(Errc::StsTxtSyntax, Retry::Permanent, std::move(detail));
}

// Length of the "*WSP ';' *WSP" delimiter at `pos`, or 0 when there is none.
std::size_t delimiter_length(std::string_view s, std::size_t pos) noexcept {
  std::size_t i = pos;
  while (i < s.size() && is_wsp(s[i])) ++i;
  if (i == s.size() || s[i] != ';') return 0;
  ++i;
  while (i < s.size() && is_wsp(s[i])) ++i;
  return i - pos;
}

// True when the record starts with the version token "v=STSv1" as a whole
// token, i.e. followed by the end of the record, WSP or ";". "v=STSv10" is a
// different (unknown) version, not a malformed STSv1 record.
bool starts_with_version_token(std::string_view record) noexcept {
  if (!record.starts_with(k_version)) return false;
  if (record.size() == k_version.size()) return true;
  const char next = record[k_version.size()];
  return next == ';' || is_wsp(next);
}

// STS-3 filter. The RFC says to keep records that begin with "v=STSv1;", but
// its own ABNF allows WSP before the first ";" (errata 6285). Our choice: keep
// a record when "v=STSv1" is followed by *WSP and then ";" or the end of the
// record. So "v=STSv1; id=1", "v=STSv1 ;id=1", "v=STSv1" and "v=STSv1 " are
// kept (the last two then fail parse_sts_txt for lack of an id, which makes
// the domain's TXT answer invalid rather than silently policy-less), while
// "v=STSv1 id=1", "v=STSv10;..." and "V=STSv1;..." are discarded as records
// of some other kind.
bool is_candidate(std::string_view record) noexcept {
  if (!record.starts_with(k_version)) return false;
  std::size_t i = k_version.size();
  while (i < record.size() && is_wsp(record[i])) ++i;
  return i == record.size() || record[i] == ';';
}

}  // namespace

Result<StsTxtRecord> parse_sts_txt(std::string_view record) {
  // RFC 8461 §3.1 (STS-2): the record MUST begin with v=STSv1, case-sensitive.
  if (!starts_with_version_token(record)) {
    return fail(Errc::StsNoRecord, Retry::Permanent,
                "The TXT record " + util::quoted(record) + " does not begin with \"v=STSv1\".");
  }

  // sts-text-record = sts-version 1*(sts-field-delim sts-field) [sts-field-delim]
  std::size_t pos = k_version.size();
  bool have_id = false;
  StsTxtRecord out;
  while (pos < record.size()) {
    const std::size_t delim = delimiter_length(record, pos);
    if (delim == 0) {
      return syntax("The TXT record has " + util::quoted(record.substr(pos)) + " at offset " +
                    std::to_string(pos) + " where a \";\" field delimiter is required.");
    }
    pos += delim;
    // One optional trailing delimiter. "v=STSv1;" alone ends here too and is
    // reported below as a record without an id.
    if (pos == record.size()) break;

    // sts-field = sts-id / sts-extension; both are name "=" value.
    const std::size_t name_start = pos;
    while (pos < record.size() && is_ext_name_char(record[pos])) ++pos;
    const std::string_view name = record.substr(name_start, pos - name_start);
    if (name.empty() && record[pos] == ';') {
      return syntax("The TXT record has an empty field at offset " + std::to_string(pos) +
                    " (two \";\" delimiters in a row).");
    }
    if (name.empty() || !is_alnum(name.front()) || name.size() > k_max_ext_name_length) {
      return syntax("The TXT record has an invalid field name at offset " +
                    std::to_string(name_start) + " (" + util::quoted(record.substr(name_start)) +
                    "); names are 1 to 32 letters, digits, \"_\", \"-\" or \".\", starting "
                    "with a letter or digit.");
    }
    if (pos == record.size() || record[pos] != '=') {
      return syntax("The TXT record field " + util::quoted(name) + " at offset " +
                    std::to_string(name_start) + " is not followed by \"=\".");
    }
    ++pos;
    const std::size_t value_start = pos;
    while (pos < record.size() && is_ext_value_char(record[pos])) ++pos;
    const std::string_view value = record.substr(value_start, pos - value_start);
    if (value.empty()) {
      return syntax("The TXT record field " + util::quoted(name) + " has an empty value.");
    }

    // sts-id = %s"id=" 1*32(ALPHA / DIGIT). STS-8: only the first "id" counts;
    // later copies are ignored like any extension (they still had to satisfy
    // the extension syntax above). SPEC §3: an id outside the ABNF means no
    // usable policy, so the first "id" must be a valid sts-id.
    if (name == "id" && !have_id) {
      bool valid = value.size() <= k_max_id_length;
      for (const char c : value) valid = valid && is_alnum(c);
      if (!valid) {
        return syntax("The TXT record id " + util::quoted(value) +
                      " is not 1 to 32 letters and digits (RFC 8461 section 3.1).");
      }
      out.id = std::string{value};
      have_id = true;
    }
    // STS-8: unknown extensions (and a repeated "v") are ignored.
  }

  if (!have_id) {
    return syntax("The TXT record " + util::quoted(record) +
                  " has no \"id\" field, which RFC 8461 section 3.1 requires.");
  }
  return out;
}

Result<StsTxtRecord> select_sts_txt(const std::vector<std::string>& records) {
  // RFC 8461 §3.1 (STS-3): discard records that are not STSv1, require exactly one.
  const std::string* chosen = nullptr;
  std::size_t count = 0;
  for (const auto& r : records) {
    if (!is_candidate(r)) continue;
    ++count;
    if (chosen == nullptr) chosen = &r;
  }
  if (count == 0) {
    return fail(Errc::StsNoRecord, Retry::Permanent,
                records.empty() ? std::string{"There is no TXT record at _mta-sts."}
                                : "None of the " + std::to_string(records.size()) +
                                      " TXT records at _mta-sts begins with \"v=STSv1\".");
  }
  if (count > 1) {
    return syntax("There are " + std::to_string(count) +
                  " v=STSv1 records at _mta-sts, and RFC 8461 section 3.1 requires exactly "
                  "one.");
  }
  return parse_sts_txt(*chosen);
}

}  // namespace tlspolicy::sts
