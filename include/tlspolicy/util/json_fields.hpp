// SPDX-License-Identifier: Apache-2.0
//
// Reading the fields of untrusted JSON objects, for every parser that takes JSON from outside
// (libtlsrpt datagrams, the JSON `report` op, JSON-lines requests): strings at most
// `max_text_bytes` and with their C0 controls refused, turned to spaces or kept, arrays at most
// `max_list_items`, integers clamped. Every error is Errc::InvalidArgument (permanent), names
// the field by its path ("p[0].d[1].c") and starts with the reader's prefix ("report: ",
// "bad-request: "). A template over nlohmann's json and ordered_json, so this header needs no
// JSON library; never throws on input (find() and is_*() before get()).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tlspolicy/util/result.hpp"

namespace tlspolicy::util {

/// "where.key" ("key" at the top).
inline std::string json_key_path(const std::string& where, std::string_view key) {
  std::string out = where;
  if (!out.empty()) out += '.';
  out += key;
  return out;
}

/// "where[i]".
inline std::string json_index_path(const std::string& where, std::size_t i) {
  return where + "[" + std::to_string(i) + "]";
}

/// How a string value's C0 controls are treated: a name or policy text with one is refused;
/// free text (a failure detail's words) keeps them out, as spaces; a value that a later
/// check of its own reads (a domain name, an address) keeps them.
enum class Controls { Refuse, AsSpaces, Keep };

struct JsonLimits {
  std::size_t max_text_bytes;  ///< longest string value
  std::size_t max_list_items;  ///< most elements of an array
};

template <class Json>
class JsonFieldReader {
 public:
  constexpr JsonFieldReader(std::string_view prefix, JsonLimits limits) noexcept
      : m_prefix(prefix), m_limits(limits) {}

  [[nodiscard]] Unexpected<Error> reject(const std::string& detail) const {
    return fail(Errc::InvalidArgument, Retry::Permanent, std::string{m_prefix} + detail);
  }

  /// A string value within the limits.
  [[nodiscard]] Result<std::string> checked_text(std::string s, const std::string& where,
                                                 Controls controls = Controls::Refuse) const {
    if (s.size() > m_limits.max_text_bytes) {
      return reject("\"" + where + "\" is longer than " + std::to_string(m_limits.max_text_bytes) +
                    " bytes");
    }
    if (controls == Controls::AsSpaces) {
      std::replace_if(s.begin(), s.end(), is_c0, ' ');
    } else if (controls == Controls::Refuse && std::any_of(s.begin(), s.end(), is_c0)) {
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
    const std::string path = json_key_path(where, key);
    if (!it->is_string()) return reject("\"" + path + "\" must be a string");
    auto s = checked_text(it->template get<std::string>(), path, controls);
    if (!s) return Unexpected{s.error()};
    return std::optional<std::string>{std::move(*s)};
  }

  [[nodiscard]] Result<std::string> required_string(const Json& obj, std::string_view key,
                                                    const std::string& where) const {
    auto s = optional_string(obj, key, where);
    if (!s) return Unexpected{s.error()};
    if (!*s) return reject("\"" + json_key_path(where, key) + "\" is missing");
    return std::move(**s);
  }

  /// The boolean at obj[key]; false when absent.
  [[nodiscard]] Result<bool> optional_bool(const Json& obj, std::string_view key,
                                           const std::string& where) const {
    const auto it = obj.find(key);
    if (it == obj.end()) return false;
    if (!it->is_boolean())
      return reject("\"" + json_key_path(where, key) + "\" must be true or false");
    return it->template get<bool>();
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
    return reject("\"" + json_key_path(where, key) + "\" must be an integer");
  }

  [[nodiscard]] Result<long> required_int(const Json& obj, std::string_view key,
                                          const std::string& where) const {
    auto v = optional_int(obj, key, where);
    if (!v) return Unexpected{v.error()};
    if (!*v) return reject("\"" + json_key_path(where, key) + "\" is missing");
    return **v;
  }

  /// The array of strings at obj[key]; empty when absent.
  [[nodiscard]] Result<std::vector<std::string>> optional_string_list(
      const Json& obj, std::string_view key, const std::string& where) const {
    std::vector<std::string> out;
    const auto it = obj.find(key);
    if (it == obj.end()) return out;
    const std::string path = json_key_path(where, key);
    if (!it->is_array()) return reject("\"" + path + "\" must be an array of strings");
    if (auto ok = check_size(*it, path, "elements"); !ok) return Unexpected{ok.error()};
    out.reserve(it->size());
    for (std::size_t i = 0; i < it->size(); ++i) {
      const Json& e = (*it)[i];
      const std::string item = json_index_path(path, i);
      if (!e.is_string()) return reject("\"" + item + "\" must be a string");
      auto s = checked_text(e.template get<std::string>(), item);
      if (!s) return Unexpected{s.error()};
      out.push_back(std::move(*s));
    }
    return out;
  }

  /// The array of objects at obj[key] (their reading is the caller's); nullptr when absent.
  /// `items` names the elements in the error for too many ("failure details").
  [[nodiscard]] Result<const Json*> optional_object_list(const Json& obj, std::string_view key,
                                                         const std::string& where,
                                                         std::string_view items) const {
    const auto it = obj.find(key);
    if (it == obj.end()) return static_cast<const Json*>(nullptr);
    const std::string path = json_key_path(where, key);
    if (!it->is_array()) return reject("\"" + path + "\" must be an array of objects");
    if (auto ok = check_size(*it, path, items); !ok) return Unexpected{ok.error()};
    return &*it;
  }

 private:
  static constexpr std::int64_t k_int_clamp = 1'000'000;
  static bool is_c0(char c) noexcept { return static_cast<unsigned char>(c) < 0x20; }

  [[nodiscard]] Result<void> check_size(const Json& array, const std::string& path,
                                        std::string_view items) const {
    if (array.size() <= m_limits.max_list_items) return {};
    return reject("\"" + path + "\" has more than " + std::to_string(m_limits.max_list_items) +
                  " " + std::string{items});
  }

  std::string_view m_prefix;
  JsonLimits m_limits;
};

}  // namespace tlspolicy::util
