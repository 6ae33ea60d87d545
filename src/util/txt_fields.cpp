// SPDX-License-Identifier: Apache-2.0
//
// The shared field grammar of the MTA-STS and TLSRPT TXT records (txt_fields.hpp).
#include "tlspolicy/util/txt_fields.hpp"

#include <string>

#include "tlspolicy/util/quote.hpp"

namespace tlspolicy::util {
namespace {

constexpr std::size_t k_max_ext_name_length = 32;  // 1 + *31(...)

bool is_alnum(char c) noexcept {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}
bool is_wsp(char c) noexcept { return c == ' ' || c == '\t'; }  // RFC 5234 WSP
bool is_ext_name_char(char c) noexcept { return is_alnum(c) || c == '_' || c == '-' || c == '.'; }
// %x21-3A / %x3C / %x3E-7E: visible ASCII except ';' and '='.
bool is_ext_value_char(char c) noexcept {
  const auto u = static_cast<unsigned char>(c);
  return u >= 0x21 && u <= 0x7E && c != ';' && c != '=';
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

}  // namespace

bool txt_has_version(std::string_view record, std::string_view version) noexcept {
  if (!record.starts_with(version)) return false;
  if (record.size() == version.size()) return true;
  const char next = record[version.size()];
  return next == ';' || is_wsp(next);
}

bool txt_is_candidate(std::string_view record, std::string_view version) noexcept {
  if (!record.starts_with(version)) return false;
  std::size_t i = version.size();
  while (i < record.size() && is_wsp(record[i])) ++i;
  return i == record.size() || record[i] == ';';
}

Result<std::optional<std::string_view>> TxtFieldReader::next() {
  const auto syntax = [this](std::string detail) {
    return fail(m_code, Retry::Permanent, std::move(detail));
  };
  if (m_pos >= m_record.size()) return std::optional<std::string_view>{};
  const std::size_t delim = delimiter_length(m_record, m_pos);
  if (delim == 0) {
    return syntax("The TXT record has " + quoted(m_record.substr(m_pos)) + " at offset " +
                  std::to_string(m_pos) + " where a \";\" field delimiter is required.");
  }
  m_pos += delim;
  // One optional trailing delimiter.
  if (m_pos == m_record.size()) return std::optional<std::string_view>{};

  const std::size_t start = m_pos;
  while (m_pos < m_record.size() && is_ext_name_char(m_record[m_pos])) ++m_pos;
  const std::string_view name = m_record.substr(start, m_pos - start);
  if (name.empty() && m_record[m_pos] == ';') {
    return syntax("The TXT record has an empty field at offset " + std::to_string(m_pos) +
                  " (two \";\" delimiters in a row).");
  }
  if (name.empty() || !is_alnum(name.front()) || name.size() > k_max_ext_name_length) {
    return syntax("The TXT record has an invalid field name at offset " + std::to_string(start) +
                  " (" + quoted(m_record.substr(start)) +
                  "); names are 1 to 32 letters, digits, \"_\", \"-\" or \".\", starting with a "
                  "letter or digit.");
  }
  if (m_pos == m_record.size() || m_record[m_pos] != '=') {
    return syntax("The TXT record field " + quoted(name) + " at offset " + std::to_string(start) +
                  " is not followed by \"=\".");
  }
  ++m_pos;
  return std::optional<std::string_view>{name};
}

std::string_view TxtFieldReader::ext_value() noexcept {
  const std::size_t start = m_pos;
  while (m_pos < m_record.size() && is_ext_value_char(m_record[m_pos])) ++m_pos;
  return m_record.substr(start, m_pos - start);
}

}  // namespace tlspolicy::util
