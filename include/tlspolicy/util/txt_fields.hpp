// SPDX-License-Identifier: Apache-2.0
//
// The "v=<version>; name=value; ..." grammar that the _mta-sts TXT record (RFC 8461 §3.1) and
// the TLSRPT record (RFC 8460 §3) share: a version token, then fields separated by
// "*WSP ';' *WSP", an optional trailing delimiter, extension names
// (ALPHA / DIGIT) *31(ALPHA / DIGIT / "_" / "-" / ".") and extension values
// 1*(%x21-3A / %x3C / %x3E-7E). Each parser keeps its own fields' meaning; this is the one
// reading of the shape. Untrusted bytes: nothing throws, time is linear in the record.
#pragma once

#include <cstddef>
#include <optional>
#include <string_view>

#include "tlspolicy/util/result.hpp"

namespace tlspolicy::util {

/// True when `record` begins with `version` ("v=STSv1") as a whole token: followed by the end,
/// WSP or ';'. "v=STSv10" is another version, not a malformed "v=STSv1" record.
[[nodiscard]] bool txt_has_version(std::string_view record, std::string_view version) noexcept;

/// The "exactly one record" filter (STS-3, RPT-2): `version`, then *WSP, then ';' or the end.
/// "v=STSv1 id=1" is not a candidate (some other record), "v=STSv1 ;id=1" is.
[[nodiscard]] bool txt_is_candidate(std::string_view record, std::string_view version) noexcept;

/// Reads the fields after the version token. next() returns each field's name and leaves the
/// reader at its value, which the caller consumes: ext_value() for the grammar's extension
/// value, or its own reading (pos()/advance_to()) for a field with a grammar of its own (rua).
class TxtFieldReader {
 public:
  /// `record` starts with a version token of `version_size` bytes; errors carry `code`.
  TxtFieldReader(std::string_view record, std::size_t version_size, Errc code) noexcept
      : m_record(record), m_pos(version_size), m_code(code) {}

  /// The next field's name (the reader then stands after its '='), nullopt after the last field
  /// and the optional trailing delimiter, or an Error with a detail that names the offset.
  [[nodiscard]] Result<std::optional<std::string_view>> next();

  /// An extension value at the current position (empty when there is none: the caller says
  /// whether that is an error).
  [[nodiscard]] std::string_view ext_value() noexcept;

  [[nodiscard]] std::size_t pos() const noexcept { return m_pos; }
  void advance_to(std::size_t pos) noexcept { m_pos = pos; }

 private:
  std::string_view m_record;
  std::size_t m_pos;
  Errc m_code;
};

}  // namespace tlspolicy::util
