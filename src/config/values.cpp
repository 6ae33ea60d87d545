// SPDX-License-Identifier: Apache-2.0
//
// The forms a setting's value takes (values.hpp): TOML readers with their
// error texts, renderers back to TOML text, the enumerations' words, and the
// checks of listeners, curl CONNECT_TO entries and domain names.
#include "values.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdio>
#include <optional>
#include <string>
#include <system_error>
#include <utility>

#include "tlspolicy/dns/name.hpp"
#include "tlspolicy/util/endpoint.hpp"
#include "tlspolicy/util/quote.hpp"

#include <arpa/inet.h>

namespace tlspolicy::config {

std::string_view to_string(ResolverMode m) noexcept {
  return detail::word_of(m, detail::k_resolver_mode_words);
}
std::string_view to_string(PolicyAction a) noexcept {
  return detail::word_of(a, detail::k_policy_action_words);
}
std::string_view to_string(PolicyVerify v) noexcept {
  return detail::word_of(v, detail::k_policy_verify_words);
}

namespace detail {

using std::chrono::milliseconds;

Unexpected<Error> value_error(std::string detail) {
  return fail(Errc::ConfigValue, Retry::Permanent, std::move(detail));
}

// ---------------------------------------------------------------- rendering

std::string quote(std::string_view s) {
  std::string out = "\"";
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\f':
        out += "\\f";
        break;
      case '\r':
        out += "\\r";
        break;
      default:
        if (u < 0x20 || u == 0x7f) {
          static constexpr std::string_view k_hex = "0123456789ABCDEF";
          out += "\\u00";
          out += k_hex[u >> 4U];
          out += k_hex[u & 0xfU];
        } else {
          out += c;
        }
    }
  }
  out += '"';
  return out;
}

std::string render_list(const std::vector<std::string>& items) {
  std::string out = "[";
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (i != 0) out += ", ";
    out += quote(items[i]);
  }
  out += ']';
  return out;
}

std::string render_duration(milliseconds d) {
  const auto ms = d.count();
  if (ms == 0) return quote("0s");
  if (ms % 3'600'000 == 0) return quote(std::to_string(ms / 3'600'000) + "h");
  if (ms % 60'000 == 0) return quote(std::to_string(ms / 60'000) + "m");
  if (ms % 1'000 == 0) return quote(std::to_string(ms / 1'000) + "s");
  return quote(std::to_string(ms) + "ms");
}

std::string render_bool(bool b) { return b ? "true" : "false"; }

std::string printable(std::string_view text) { return util::escaped(text); }

std::string where(std::string_view source, const toml::source_region& region) {
  std::string out{source};
  // A --set value is one line: its line number says nothing.
  if (region.begin.line != 0 && !source.starts_with("--set")) {
    out += ":" + std::to_string(region.begin.line);
  }
  return out;
}

// ------------------------------------------------------------------ readers

std::string_view type_name(const toml::node& n) {
  switch (n.type()) {
    case toml::node_type::string:
      return "a string";
    case toml::node_type::integer:
      return "an integer";
    case toml::node_type::floating_point:
      return "a float";
    case toml::node_type::boolean:
      return "a boolean";
    case toml::node_type::array:
      return "an array";
    case toml::node_type::table:
      return "a table";
    case toml::node_type::date:
    case toml::node_type::time:
    case toml::node_type::date_time:
      return "a date/time";
    case toml::node_type::none:
      break;
  }
  return "nothing";
}

Result<std::string> get_string(const toml::node& n) {
  if (const auto* v = n.as_string()) return v->get();
  return value_error("expected a string, got " + std::string{type_name(n)});
}

Unexpected<Error> not_one_of(const std::vector<std::string_view>& words, std::string_view got) {
  std::string list;
  for (const auto w : words) {
    if (!list.empty()) list += ", ";
    list += quote(w);
  }
  return value_error("expected one of " + list + ", got " + quote(printable(got)));
}

Result<bool> get_bool(const toml::node& n) {
  if (const auto* v = n.as_boolean()) return v->get();
  return value_error("expected a boolean (true or false), got " + std::string{type_name(n)});
}

Result<std::int64_t> get_integer(const toml::node& n, std::int64_t lo, std::int64_t hi) {
  const auto* v = n.as_integer();
  if (v == nullptr) return value_error("expected an integer, got " + std::string{type_name(n)});
  const std::int64_t i = v->get();
  if (i < lo || i > hi) {
    return value_error("expected an integer from " + std::to_string(lo) + " to " +
                       std::to_string(hi) + ", got " + std::to_string(i));
  }
  return i;
}

Result<std::vector<std::string>> get_string_list(const toml::node& n) {
  const auto* arr = n.as_array();
  if (arr == nullptr) {
    return value_error("expected a list of strings, got " + std::string{type_name(n)});
  }
  std::vector<std::string> out;
  out.reserve(arr->size());
  for (std::size_t i = 0; i < arr->size(); ++i) {
    const auto* s = (*arr)[i].as_string();
    if (s == nullptr) {
      return value_error("list element " + std::to_string(i + 1) + ": expected a string, got " +
                         std::string{type_name((*arr)[i])});
    }
    out.push_back(s->get());
  }
  return out;
}

/// "500ms", "5s", "5m", "1h", "30" (seconds), or a TOML integer of seconds.
Result<milliseconds> get_duration(const toml::node& n, milliseconds lo, milliseconds hi) {
  constexpr std::string_view k_expect =
      "expected a duration such as \"500ms\", \"5s\", \"5m\", "
      "\"1h\" or an integer of seconds";
  constexpr std::int64_t k_max_number = 1'000'000'000;  // no overflow below, any unit
  std::int64_t number = 0;
  std::int64_t unit_ms = 1000;
  if (const auto* i = n.as_integer()) {
    number = i->get();
    if (number < 0 || number > k_max_number) {
      return value_error(std::string{k_expect} + ", got " + std::to_string(number));
    }
  } else if (const auto* s = n.as_string()) {
    const std::string_view text = s->get();
    const auto* const first = text.data();
    const auto* const last = text.data() + text.size();
    const auto [end, ec] = std::from_chars(first, last, number);
    const std::string_view unit{end, static_cast<std::size_t>(last - end)};
    bool ok = ec == std::errc{} && end != first && text.front() != '-' && number <= k_max_number;
    if (ok) {
      if (unit.empty() || unit == "s") {
        unit_ms = 1000;
      } else if (unit == "ms") {
        unit_ms = 1;
      } else if (unit == "m") {
        unit_ms = 60'000;
      } else if (unit == "h") {
        unit_ms = 3'600'000;
      } else {
        ok = false;
      }
    }
    if (!ok) return value_error(std::string{k_expect} + ", got " + quote(printable(text)));
  } else {
    return value_error(std::string{k_expect} + ", got " + std::string{type_name(n)});
  }
  const milliseconds d{number * unit_ms};
  if (d < lo || d > hi) {
    return value_error("duration must be from " + render_duration(lo) + " to " +
                       render_duration(hi) + ", got " + render_duration(d));
  }
  return d;
}

/// "" or an absolute path.
Result<std::string> get_optional_path(const toml::node& n) {
  auto s = get_string(n);
  if (!s) return s;
  if (!s->empty() && s->front() != '/') {
    return value_error("expected an absolute path (or \"\"), got " + quote(printable(*s)));
  }
  if (s->find('\0') != std::string::npos) return value_error("path contains a NUL byte");
  return s;
}

Result<std::uint32_t> get_octal_mode(const toml::node& n) {
  auto v = get_string(n);
  if (!v) return Unexpected{v.error()};
  const bool octal =
      !v->empty() && v->size() <= 4 && v->find_first_not_of("01234567") == std::string::npos;
  if (!octal) return value_error("\"" + *v + "\" is not an octal mode such as \"0660\"");
  return static_cast<std::uint32_t>(std::stoul(*v, nullptr, 8));
}

std::string render_octal_mode(std::uint32_t mode) {
  std::array<char, 8> buf{};
  std::snprintf(buf.data(), buf.size(), "%04o", mode);
  return quote(buf.data());
}

// ------------------------------------------------------------ shared checks

namespace {

bool valid_port(std::string_view text) {
  unsigned port = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), port);
  return ec == std::errc{} && end == text.data() + text.size() && port >= 1 && port <= 65535;
}

bool valid_ip(std::string_view text, bool v6) {
  const std::string s{text};
  std::array<unsigned char, 16> buf{};
  return inet_pton(v6 ? AF_INET6 : AF_INET, s.c_str(), buf.data()) == 1;
}

/// "unix:/abs/path", "IPv4:port" or "[IPv6]:port" (util::parse_endpoint), a port from 1; an
/// empty string is OK (derived later).
}  // namespace

Result<void> check_listener(std::string_view text) {
  if (text.empty()) return {};
  auto endpoint = util::parse_endpoint(text);
  if (!endpoint) return value_error(endpoint.error().detail);
  if (endpoint->kind != util::Endpoint::Kind::Unix && endpoint->port == 0) {
    return value_error("port 0 in " + util::quoted(text) + ": a listener needs a fixed port");
  }
  return {};
}

/// One field of a curl CONNECT_TO entry: a host (name, IPv4 or [IPv6]) or
/// empty, then ':'. Returns the rest after the colon.
namespace {

std::optional<std::string_view> take_host(std::string_view& text) {
  std::string_view host;
  if (!text.empty() && text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string_view::npos || !valid_ip(text.substr(1, close - 1), true)) {
      return std::nullopt;
    }
    host = text.substr(0, close + 1);
    text.remove_prefix(close + 1);
  } else {
    const auto colon = text.find(':');
    if (colon == std::string_view::npos) return std::nullopt;
    host = text.substr(0, colon);
    text.remove_prefix(colon);
    const bool ldh = std::all_of(host.begin(), host.end(), [](char c) {
      return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
             c == '-' || c == '.' || c == '_';
    });
    if (!ldh) return std::nullopt;
  }
  if (text.empty() || text.front() != ':') return std::nullopt;
  text.remove_prefix(1);
  return host;
}

}  // namespace

/// "HOST:PORT:CONNECT-TO-HOST:CONNECT-TO-PORT" (curl CURLOPT_CONNECT_TO);
/// hosts and ports may be empty, ports are 1..65535.
bool valid_connect_to(std::string_view text) {
  std::string_view rest = text;
  if (!take_host(rest)) return false;
  const auto c1 = rest.find(':');
  if (c1 == std::string_view::npos) return false;
  if (c1 != 0 && !valid_port(rest.substr(0, c1))) return false;
  rest.remove_prefix(c1 + 1);
  // The connect-to host is followed by ":PORT" (possibly empty): append a
  // sentinel-free parse by searching from the right.
  const auto c2 = rest.rfind(':');
  if (c2 == std::string_view::npos) return false;
  std::string_view target = rest.substr(0, c2 + 1);
  const std::string_view port = rest.substr(c2 + 1);
  if (!port.empty() && !valid_port(port)) return false;
  if (!take_host(target) || !target.empty()) return false;
  return true;
}

Result<std::string> normalise_domain(std::string_view text) {
  auto name = dns::DomainName::parse(text);
  if (!name) {
    return value_error("invalid domain " + quote(printable(text)) + ": " + name.error().detail);
  }
  return name->str();
}

/// A Postfix match= name: a domain, or ".domain" for its subdomains.
Result<std::string> normalise_match(std::string_view text) {
  const bool dot = !text.empty() && text.front() == '.';
  auto name = normalise_domain(dot ? text.substr(1) : text);
  if (!name) return name;
  return dot ? "." + *name : *name;
}

}  // namespace detail
}  // namespace tlspolicy::config
