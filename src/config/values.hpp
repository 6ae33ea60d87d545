// SPDX-License-Identifier: Apache-2.0
//
// Private to src/config: the forms a setting's value takes. Readers that take
// a TOML node and return the typed value or an Errc::ConfigValue whose detail
// names neither the setting nor the source (the loader adds both); renderers
// that write a value back as TOML text; the words of the enumerations; and
// the checks several settings share (listeners, curl CONNECT_TO entries,
// domain names). Includes toml++, like every private header of src/config.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <toml++/toml.h>

#include "tlspolicy/config/settings.hpp"
#include "tlspolicy/util/log.hpp"
#include "tlspolicy/util/result.hpp"

namespace tlspolicy::config::detail {

[[nodiscard]] Unexpected<Error> value_error(std::string detail);

// ------------------------------------------------------------ TOML text

/// `s` as a TOML basic string, in double quotes, escaped as TOML requires.
[[nodiscard]] std::string quote(std::string_view s);
[[nodiscard]] std::string render_list(const std::vector<std::string>& items);
/// In the largest unit that is exact: "5m", "1500ms", "0s".
[[nodiscard]] std::string render_duration(std::chrono::milliseconds d);
[[nodiscard]] std::string render_bool(bool b);

/// Printable, bounded copy of untrusted text for error messages.
[[nodiscard]] std::string printable(std::string_view text);

/// "<source>:<line>" when the region knows its line, else "<source>".
[[nodiscard]] std::string where(std::string_view source, const toml::source_region& region);

// ---------------------------------------------------------------- readers

/// "a string", "an integer", ...: what a node is, for "expected X, got Y".
[[nodiscard]] std::string_view type_name(const toml::node& n);

[[nodiscard]] Result<std::string> get_string(const toml::node& n);
[[nodiscard]] Result<bool> get_bool(const toml::node& n);
[[nodiscard]] Result<std::int64_t> get_integer(const toml::node& n, std::int64_t lo,
                                               std::int64_t hi);
[[nodiscard]] Result<std::vector<std::string>> get_string_list(const toml::node& n);
/// "500ms", "5s", "5m", "1h", "30" (seconds), or a TOML integer of seconds, from lo to hi.
[[nodiscard]] Result<std::chrono::milliseconds> get_duration(const toml::node& n,
                                                             std::chrono::milliseconds lo,
                                                             std::chrono::milliseconds hi);
/// "" or an absolute path.
[[nodiscard]] Result<std::string> get_optional_path(const toml::node& n);
/// Permission bits as an octal string of up to 4 digits: "0660".
[[nodiscard]] Result<std::uint32_t> get_octal_mode(const toml::node& n);
[[nodiscard]] std::string render_octal_mode(std::uint32_t mode);

// ------------------------------------------------------------ enumerations

/// One word of an enumeration as the config file spells it.
template <class E>
struct Word {
  E value;
  std::string_view text;
};

/// The words, in the order error messages list them ("expected one of ...").
inline constexpr std::array<Word<util::Level>, 5> k_log_level_words{{
    {util::Level::Debug, "debug"},
    {util::Level::Info, "info"},
    {util::Level::Notice, "notice"},
    {util::Level::Warning, "warning"},
    {util::Level::Error, "error"},
}};
inline constexpr std::array<Word<ResolverMode>, 2> k_resolver_mode_words{{
    {ResolverMode::TrustAd, "trust-ad"},
    {ResolverMode::Validate, "validate"},
}};
inline constexpr std::array<Word<PolicyAction>, 2> k_policy_action_words{{
    {PolicyAction::RequireTls, "require-tls"},
    {PolicyAction::Opportunistic, "opportunistic"},
}};
inline constexpr std::array<Word<PolicyVerify>, 3> k_policy_verify_words{{
    {PolicyVerify::Dane, "dane"},
    {PolicyVerify::Pkix, "pkix"},
    {PolicyVerify::None, "none"},
}};

/// `expected one of "a", "b", got "x"`.
[[nodiscard]] Unexpected<Error> not_one_of(const std::vector<std::string_view>& words,
                                           std::string_view got);

template <class E, std::size_t N>
[[nodiscard]] Result<E> get_enum(const toml::node& n, const std::array<Word<E>, N>& words) {
  auto s = get_string(n);
  if (!s) return Unexpected{s.error()};
  std::vector<std::string_view> texts;
  for (const auto& w : words) {
    if (*s == w.text) return w.value;
    texts.push_back(w.text);
  }
  return not_one_of(texts, *s);
}

template <class E, std::size_t N>
[[nodiscard]] std::string_view word_of(E value, const std::array<Word<E>, N>& words) noexcept {
  for (const auto& w : words) {
    if (w.value == value) return w.text;
  }
  return words.front().text;  // unreachable for a complete table
}

// ------------------------------------------------------------ shared checks

/// "unix:/abs/path", "IPv4:port" or "[IPv6]:port" (util::parse_endpoint) with a port from 1;
/// "" is accepted (derived, or off).
[[nodiscard]] Result<void> check_listener(std::string_view text);

/// "HOST:PORT:CONNECT-TO-HOST:CONNECT-TO-PORT" (curl CURLOPT_CONNECT_TO); hosts and ports may
/// be empty, ports are 1..65535.
[[nodiscard]] bool valid_connect_to(std::string_view text);

/// The A-label form of a domain name (dns::DomainName), or an error naming it.
[[nodiscard]] Result<std::string> normalise_domain(std::string_view text);

/// A Postfix match= name: a domain, or ".domain" for its subdomains.
[[nodiscard]] Result<std::string> normalise_match(std::string_view text);

}  // namespace tlspolicy::config::detail
