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
#include "tlspolicy/util/txt_fields.hpp"

namespace tlspolicy::sts {
namespace {

constexpr std::string_view k_version = "v=STSv1";
constexpr std::size_t k_max_id_length = 32;  // §3.1: 1*32(ALPHA / DIGIT)

bool is_alnum(char c) noexcept {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

Unexpected<Error> syntax(std::string detail) {
  return fail(Errc::StsTxtSyntax, Retry::Permanent, std::move(detail));
}

}  // namespace

Result<StsTxtRecord> parse_sts_txt(std::string_view record) {
  // RFC 8461 §3.1 (STS-2): the record MUST begin with v=STSv1, case-sensitive.
  if (!util::txt_has_version(record, k_version)) {
    return fail(Errc::StsNoRecord, Retry::Permanent,
                "The TXT record " + util::quoted(record) + " does not begin with \"v=STSv1\".");
  }

  // sts-text-record = sts-version 1*(sts-field-delim sts-field) [sts-field-delim]; each
  // sts-field (sts-id / sts-extension) is name "=" value. "v=STSv1;" alone has no field and is
  // reported below as a record without an id.
  util::TxtFieldReader fields{record, k_version.size(), Errc::StsTxtSyntax};
  bool have_id = false;
  StsTxtRecord out;
  for (;;) {
    auto name = fields.next();
    if (!name) return Unexpected{name.error()};
    if (!*name) break;
    const std::string_view value = fields.ext_value();
    if (value.empty()) {
      return syntax("The TXT record field " + util::quoted(**name) + " has an empty value.");
    }
    // sts-id = %s"id=" 1*32(ALPHA / DIGIT). STS-8: only the first "id" counts; later copies
    // are ignored like any extension (they still had to satisfy the extension syntax). SPEC
    // §3: an id outside the ABNF means no usable policy, so the first "id" must be valid.
    if (**name == "id" && !have_id) {
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

// STS-3 filter (util::txt_is_candidate). The RFC says to keep records that begin with
// "v=STSv1;", but its own ABNF allows WSP before the first ";" (errata 6285). Our choice: keep
// a record when "v=STSv1" is followed by *WSP and then ";" or the end of the record. So
// "v=STSv1; id=1", "v=STSv1 ;id=1", "v=STSv1" and "v=STSv1 " are kept (the last two then fail
// parse_sts_txt for lack of an id, which makes the domain's TXT answer invalid rather than
// silently policy-less), while "v=STSv1 id=1", "v=STSv10;..." and "V=STSv1;..." are discarded
// as records of some other kind.
Result<StsTxtRecord> select_sts_txt(const std::vector<std::string>& records) {
  // RFC 8461 §3.1 (STS-3): discard records that are not STSv1, require exactly one.
  const std::string* chosen = nullptr;
  std::size_t count = 0;
  for (const auto& r : records) {
    if (!util::txt_is_candidate(r, k_version)) continue;
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
