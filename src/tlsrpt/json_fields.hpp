// SPDX-License-Identifier: Apache-2.0
//
// Private to src/tlsrpt: reading the fields of untrusted JSON objects (libtlsrpt datagrams,
// the JSON `report` op) with the limits of model.hpp: strings at most k_max_text_bytes and
// without C0 controls (or with them turned to spaces, for free text), lists at most
// k_max_list_items, integers clamped. Every error names the field by its path ("p[0].d[1].c")
// and starts with the reader's prefix. Templates over nlohmann's json and ordered_json; never
// throws on input (find() and is_*() before get()).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tlspolicy/dns/name.hpp"
#include "tlspolicy/tlsrpt/model.hpp"
#include "tlspolicy/util/result.hpp"

namespace tlspolicy::tlsrpt::detail {

inline std::string key_path(const std::string& where, std::string_view key) {
  std::string out = where;
  if (!out.empty()) out += '.';
  out += key;
  return out;
}

inline std::string index_path(const std::string& where, std::size_t i) {
  return where + "[" + std::to_string(i) + "]";
}

/// How a string value's C0 controls are treated: a name or policy text with one is refused;
/// free text (a failure detail's words) keeps them out, as spaces.
enum class Controls { Refuse, AsSpaces };

template <class Json>
class FieldReader {
 public:
  /// `prefix` starts every error detail ("report: ").
  explicit constexpr FieldReader(std::string_view prefix) noexcept : m_prefix(prefix) {}

  [[nodiscard]] Unexpected<Error> reject(const std::string& detail) const {
    return fail(Errc::InvalidArgument, Retry::Permanent, std::string{m_prefix} + detail);
  }

  /// A string value within the limits.
  [[nodiscard]] Result<std::string> checked_text(std::string s, const std::string& where,
                                                 Controls controls = Controls::Refuse) const {
    if (s.size() > k_max_text_bytes) {
      return reject("\"" + where + "\" is longer than " + std::to_string(k_max_text_bytes) +
                    " bytes");
    }
    if (controls == Controls::AsSpaces) {
      std::replace_if(s.begin(), s.end(), is_c0, ' ');
    } else if (std::any_of(s.begin(), s.end(), is_c0)) {
      return reject("\"" + where + "\" contains a control character");
    }
    return s;
  }

  /// The string at obj[key]: nullopt when absent, an error when not a string.
  [[nodiscard]] Result<std::optional<std::string>> optional_string(
      const Json& obj, std::string_view key, const std::string& where,
      Controls controls = Controls::Refuse) const {
    const auto it = obj.find(key);
    if (it == obj.end()) return std::optional<std::string>{};
    const std::string path = key_path(where, key);
    if (!it->is_string()) return reject("\"" + path + "\" must be a string");
    auto s = checked_text(it->template get<std::string>(), path, controls);
    if (!s) return Unexpected{s.error()};
    return std::optional<std::string>{std::move(*s)};
  }

  [[nodiscard]] Result<std::string> required_string(const Json& obj, std::string_view key,
                                                    const std::string& where) const {
    auto s = optional_string(obj, key, where);
    if (!s) return Unexpected{s.error()};
    if (!*s) return reject("\"" + key_path(where, key) + "\" is missing");
    return std::move(**s);
  }

  /// The integer at obj[key], clamped to ±k_int_clamp (every valid value is small, so a
  /// clamped one is still invalid): nullopt when absent.
  [[nodiscard]] Result<std::optional<long>> optional_int(const Json& obj, std::string_view key,
                                                         const std::string& where) const {
    const auto it = obj.find(key);
    if (it == obj.end()) return std::optional<long>{};
    if (it->is_number_unsigned()) {
      const auto v = it->template get<std::uint64_t>();
      return std::optional<long>{static_cast<long>(std::min<std::uint64_t>(v, k_int_clamp))};
    }
    if (it->is_number_integer()) {
      const auto v =
          std::clamp<std::int64_t>(it->template get<std::int64_t>(), -k_int_clamp, k_int_clamp);
      return std::optional<long>{static_cast<long>(v)};
    }
    return reject("\"" + key_path(where, key) + "\" must be an integer");
  }

  [[nodiscard]] Result<long> required_int(const Json& obj, std::string_view key,
                                          const std::string& where) const {
    auto v = optional_int(obj, key, where);
    if (!v) return Unexpected{v.error()};
    if (!*v) return reject("\"" + key_path(where, key) + "\" is missing");
    return **v;
  }

  /// The array of strings at obj[key]; empty when absent.
  [[nodiscard]] Result<std::vector<std::string>> optional_string_list(
      const Json& obj, std::string_view key, const std::string& where) const {
    std::vector<std::string> out;
    const auto it = obj.find(key);
    if (it == obj.end()) return out;
    const std::string path = key_path(where, key);
    if (!it->is_array()) return reject("\"" + path + "\" must be an array of strings");
    if (it->size() > k_max_list_items) {
      return reject("\"" + path + "\" has more than " + std::to_string(k_max_list_items) +
                    " elements");
    }
    out.reserve(it->size());
    for (std::size_t i = 0; i < it->size(); ++i) {
      const Json& e = (*it)[i];
      const std::string item = index_path(path, i);
      if (!e.is_string()) return reject("\"" + item + "\" must be a string");
      auto s = checked_text(e.template get<std::string>(), item);
      if (!s) return Unexpected{s.error()};
      out.push_back(std::move(*s));
    }
    return out;
  }

  /// A report or policy domain: lower-case A-labels, no trailing dot.
  [[nodiscard]] Result<std::string> domain(const std::string& text,
                                           const std::string& where) const {
    auto name = dns::DomainName::parse(text);
    if (!name) return reject("\"" + where + "\": " + name.error().detail);
    return name->str();
  }

 private:
  static constexpr std::int64_t k_int_clamp = 1'000'000;
  static bool is_c0(char c) noexcept { return static_cast<unsigned char>(c) < 0x20; }

  std::string_view m_prefix;
};

/// A receiving MX host name: normalised when it is a domain name, else as sent.
inline std::string normalise_mx_hostname(std::string text) {
  auto name = dns::DomainName::parse(text);
  if (name) return name->str();
  return text;
}

}  // namespace tlspolicy::tlsrpt::detail
