// SPDX-License-Identifier: Apache-2.0
//
// The settings table: the single source of truth for every tunable of
// tlspolicy (HOUSE-STYLE §8). Each row gives the name, type, default, a
// one-line doc and the function that parses and validates a TOML value into
// Settings; the loader, `check-config`, setting_docs() and the documentation
// test all derive from this table. Also here: the typed value parsers
// (strings, enums, durations, paths, listeners), the [[policy]] parser and
// the nesting pre-check that keeps toml++ from recursing off the stack.
#include "settings_table.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <initializer_list>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "tlspolicy/dns/name.hpp"
#include "tlspolicy/dns/resolver.hpp"
#include "tlspolicy/util/endpoint.hpp"
#include "tlspolicy/util/quote.hpp"

#include <arpa/inet.h>
#include <pwd.h>
#include <sys/un.h>
#include <unistd.h>

namespace tlspolicy::config::detail {
namespace {

using std::chrono::milliseconds;
using namespace std::chrono_literals;

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

// ------------------------------------------------------------ typed parsers

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

Result<std::string> get_enum(const toml::node& n, std::initializer_list<std::string_view> allowed) {
  auto s = get_string(n);
  if (!s) return s;
  std::string list;
  for (const auto a : allowed) {
    if (*s == a) return s;
    if (!list.empty()) list += ", ";
    list += quote(a);
  }
  return value_error("expected one of " + list + ", got " + quote(printable(*s)));
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

// ------------------------------------------------------- derived defaults

std::optional<std::string> env_absolute(const char* name) {
  const char* v = std::getenv(name);  // NOLINT(concurrency-mt-unsafe): read at load only
  if (v == nullptr || v[0] != '/') return std::nullopt;
  return std::string{v};
}

std::optional<std::string> home_dir() {
  if (auto h = env_absolute("HOME")) return h;
  std::array<char, 4096> buf{};
  passwd pw{};
  passwd* found = nullptr;
  if (getpwuid_r(geteuid(), &pw, buf.data(), buf.size(), &found) == 0 && found != nullptr &&
      found->pw_dir != nullptr && found->pw_dir[0] == '/') {
    return std::string{found->pw_dir};
  }
  return std::nullopt;
}

Result<void> derive_state_dir(Settings& s) {
  if (!s.state_dir.empty()) return {};
  if (geteuid() == 0) {
    s.state_dir = "/var/lib/tlspolicy";
  } else if (auto xdg = env_absolute("XDG_STATE_HOME")) {
    s.state_dir = std::filesystem::path{*xdg} / "tlspolicy";
  } else if (auto home = home_dir()) {
    s.state_dir = std::filesystem::path{*home} / ".local/state/tlspolicy";
  } else {
    return value_error("no $XDG_STATE_HOME or home directory to derive it from; set it");
  }
  return {};
}

std::filesystem::path run_dir(const Settings& s) {
  if (geteuid() == 0) return "/run/tlspolicy";
  if (auto xdg = env_absolute("XDG_RUNTIME_DIR")) return std::filesystem::path{*xdg} / "tlspolicy";
  return s.state_dir / "run";
}

Result<void> derive_listener(const Settings& s, std::string& field, std::string_view file) {
  if (!field.empty()) return {};
  std::string value = "unix:" + (run_dir(s) / file).string();
  if (auto ok = check_listener(value); !ok) return ok;
  field = std::move(value);
  return {};
}

/// The host's name, lower case, as the default TLS-RPT submitter.
std::string host_name() {
  std::array<char, 256> buf{};
  if (gethostname(buf.data(), buf.size() - 1) != 0) return "localhost";
  std::string name{buf.data()};
  std::transform(name.begin(), name.end(), name.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return name.empty() ? "localhost" : name;
}

/// RFC 8460 §5.3 (RPT-14): the submitter is the domain of contact-info.
/// Fills in whichever of the two is empty, then checks they agree.
Result<void> derive_submitter(Settings& s) {
  auto& r = s.tlsrpt;
  const auto at = r.contact_info.rfind('@');
  if (!r.contact_info.empty() &&
      (at == std::string::npos || at == 0 || at + 1 == r.contact_info.size())) {
    return value_error("tlsrpt.contact_info must be an e-mail address, got " +
                       quote(printable(r.contact_info)));
  }
  if (r.submitter.empty()) {
    r.submitter = r.contact_info.empty() ? host_name() : r.contact_info.substr(at + 1);
    if (auto d = normalise_domain(r.submitter)) r.submitter = *d;
  }
  if (r.contact_info.empty()) r.contact_info = "postmaster@" + r.submitter;
  const auto contact_domain =
      normalise_domain(r.contact_info.substr(r.contact_info.rfind('@') + 1));
  if (!contact_domain || *contact_domain != r.submitter) {
    return value_error("the submitter " + quote(r.submitter) +
                       " must be the domain of tlsrpt.contact_info " + quote(r.contact_info) +
                       " (RFC 8460 5.3)");
  }
  if (r.send && r.submitter.find('.') == std::string::npos) {
    return value_error("tlsrpt.send needs a fully qualified submitter domain, got " +
                       quote(r.submitter) + "; set tlsrpt.contact_info");
  }
  return {};
}

// -------------------------------------------------------------- the table

constexpr milliseconds k_max_timeout = 1h;

const std::vector<SettingRow> k_settings_table = {
    {"state_dir", "path", "\"\"",
     "\"/var/lib/tlspolicy\" (root), else \"$XDG_STATE_HOME/tlspolicy\" or "
     "\"$HOME/.local/state/tlspolicy\"",
     "Directory for the policy store and, for non-root users without $XDG_RUNTIME_DIR, the "
     "sockets; absolute; empty = derived.",
     [](const toml::node& n, Settings& s) -> Result<void> {
       auto v = get_optional_path(n);
       if (!v) return Unexpected{v.error()};
       s.state_dir = *v;
       return {};
     },
     [](const Settings& s) { return quote(s.state_dir.string()); }, derive_state_dir},

    {"log.level", "string", "\"info\"", "",
     "Least severe message logged: \"debug\", \"info\", \"notice\", \"warning\" or \"error\".",
     [](const toml::node& n, Settings& s) -> Result<void> {
       auto v = get_enum(n, {"debug", "info", "notice", "warning", "error"});
       if (!v) return Unexpected{v.error()};
       s.log_level = *v;
       return {};
     },
     [](const Settings& s) { return quote(s.log_level); }, nullptr},

    {"resolver.mode", "string", "\"validate\"", "",
     "\"validate\" (in-process DNSSEC validation with libunbound) or \"trust-ad\" (trust the "
     "AD bit of a local validating resolver in resolver.servers).",
     [](const toml::node& n, Settings& s) -> Result<void> {
       auto v = get_enum(n, {"trust-ad", "validate"});
       if (!v) return Unexpected{v.error()};
       s.resolver.mode = *v;
       return {};
     },
     [](const Settings& s) { return quote(s.resolver.mode); }, nullptr},

    {"resolver.servers", "list of strings", "[]", "",
     "Resolvers to query, each \"IP\" or \"IP@port\"; empty = the nameservers of "
     "/etc/resolv.conf.",
     [](const toml::node& n, Settings& s) -> Result<void> {
       auto v = get_string_list(n);
       if (!v) return Unexpected{v.error()};
       for (const auto& server : *v) {
         if (auto a = dns::parse_server_address(server); !a) {
           return value_error("invalid server " + quote(printable(server)) +
                              " (expected \"IP\" or \"IP@port\"): " + a.error().detail);
         }
       }
       s.resolver.servers = std::move(*v);
       return {};
     },
     [](const Settings& s) { return render_list(s.resolver.servers); }, nullptr},

    {"resolver.trust_anchor", "path", "\"/usr/share/dns/root.key\"", "",
     "DNSKEY/DS trust anchor file for the validate mode; absolute.",
     [](const toml::node& n, Settings& s) -> Result<void> {
       auto v = get_optional_path(n);
       if (!v) return Unexpected{v.error()};
       s.resolver.trust_anchor = *v;
       return {};
     },
     [](const Settings& s) { return quote(s.resolver.trust_anchor); }, nullptr},

    {"resolver.root_hints", "path", "\"\"", "",
     "Validate mode: a root hints file (Unbound's format) to iterate from instead of "
     "forwarding; empty = forward.",
     [](const toml::node& n, Settings& s) -> Result<void> {
       auto v = get_optional_path(n);
       if (!v) return Unexpected{v.error()};
       s.resolver.root_hints = *v;
       return {};
     },
     [](const Settings& s) { return quote(s.resolver.root_hints); }, nullptr},

    {"resolver.timeout", "duration", "\"5s\"", "",
     "Time allowed for one query to one server (1ms to 1h).",
     [](const toml::node& n, Settings& s) -> Result<void> {
       auto v = get_duration(n, 1ms, k_max_timeout);
       if (!v) return Unexpected{v.error()};
       s.resolver.timeout = *v;
       return {};
     },
     [](const Settings& s) { return render_duration(s.resolver.timeout); }, nullptr},

    {"resolver.attempts", "integer", "2", "", "Attempts per server before giving up (1 to 10).",
     [](const toml::node& n, Settings& s) -> Result<void> {
       auto v = get_integer(n, 1, 10);
       if (!v) return Unexpected{v.error()};
       s.resolver.attempts = static_cast<int>(*v);
       return {};
     },
     [](const Settings& s) { return std::to_string(s.resolver.attempts); }, nullptr},

    {"mta_sts.ca_file", "path", "\"\"", "",
     "CA bundle (PEM) for policy HTTPS; absolute; empty = the system bundle.",
     [](const toml::node& n, Settings& s) -> Result<void> {
       auto v = get_optional_path(n);
       if (!v) return Unexpected{v.error()};
       s.mta_sts.ca_file = *v;
       return {};
     },
     [](const Settings& s) { return quote(s.mta_sts.ca_file); }, nullptr},

    {"mta_sts.exclude", "list of strings", "[]", "",
     "Domains never subjected to MTA-STS (exact names, normalised to A-labels).",
     [](const toml::node& n, Settings& s) -> Result<void> {
       auto v = get_string_list(n);
       if (!v) return Unexpected{v.error()};
       std::vector<std::string> out;
       for (const auto& d : *v) {
         auto name = normalise_domain(d);
         if (!name) return Unexpected{name.error()};
         if (std::find(out.begin(), out.end(), *name) == out.end()) out.push_back(*name);
       }
       s.mta_sts.exclude = std::move(out);
       return {};
     },
     [](const Settings& s) { return render_list(s.mta_sts.exclude); }, nullptr},

    {"mta_sts.allow_private_addresses", "bool", "false", "",
     "Allow policy hosts (mta-sts.<domain>) on loopback, private or link-local addresses.",
     [](const toml::node& n, Settings& s) -> Result<void> {
       auto v = get_bool(n);
       if (!v) return Unexpected{v.error()};
       s.mta_sts.allow_private_addresses = *v;
       return {};
     },
     [](const Settings& s) { return render_bool(s.mta_sts.allow_private_addresses); }, nullptr},

    {"mta_sts.connect_timeout", "duration", "\"5s\"", "",
     "Time allowed to connect to a policy host (1ms to 1h).",
     [](const toml::node& n, Settings& s) -> Result<void> {
       auto v = get_duration(n, 1ms, k_max_timeout);
       if (!v) return Unexpected{v.error()};
       s.mta_sts.connect_timeout = *v;
       return {};
     },
     [](const Settings& s) { return render_duration(s.mta_sts.connect_timeout); }, nullptr},

    {"mta_sts.fetch_timeout", "duration", "\"15s\"", "",
     "Total time allowed for one policy fetch (1ms to 1h).",
     [](const toml::node& n, Settings& s) -> Result<void> {
       auto v = get_duration(n, 1ms, k_max_timeout);
       if (!v) return Unexpected{v.error()};
       s.mta_sts.fetch_timeout = *v;
       return {};
     },
     [](const Settings& s) { return render_duration(s.mta_sts.fetch_timeout); }, nullptr},

    {"mta_sts.max_policy_bytes", "integer", "65536", "",
     "Largest policy body accepted, in bytes (1024 to 1048576).",
     [](const toml::node& n, Settings& s) -> Result<void> {
       auto v = get_integer(n, 1024, 1'048'576);
       if (!v) return Unexpected{v.error()};
       s.mta_sts.max_policy_bytes = static_cast<std::size_t>(*v);
       return {};
     },
     [](const Settings& s) { return std::to_string(s.mta_sts.max_policy_bytes); }, nullptr},

    {"mta_sts.retry_interval", "duration", "\"5m\"", "",
     "Least time between failed fetches for one policy id, whole seconds; RFC 8461 3.3 asks "
     "for at least 5m.",
     [](const toml::node& n, Settings& s) -> Result<void> {
       auto v = get_duration(n, 0ms, 24h);
       if (!v) return Unexpected{v.error()};
       if (v->count() % 1000 != 0) return value_error("expected whole seconds");
       s.mta_sts.retry_interval = std::chrono::duration_cast<std::chrono::seconds>(*v);
       return {};
     },
     [](const Settings& s) { return render_duration(s.mta_sts.retry_interval); }, nullptr},

    {"mta_sts.connect_to", "list of strings", "[]", "",
     "Test hook: curl CONNECT_TO entries \"HOST:PORT:ADDR:PORT\" redirecting policy fetches.",
     [](const toml::node& n, Settings& s) -> Result<void> {
       auto v = get_string_list(n);
       if (!v) return Unexpected{v.error()};
       for (const auto& e : *v) {
         if (!valid_connect_to(e)) {
           return value_error("invalid entry " + quote(printable(e)) +
                              " (expected \"HOST:PORT:CONNECT-TO-HOST:CONNECT-TO-PORT\")");
         }
       }
       s.mta_sts.connect_to = std::move(*v);
       return {};
     },
     [](const Settings& s) { return render_list(s.mta_sts.connect_to); }, nullptr},

    {"store.path", "path", "\"\"", "\"<state_dir>/policies.sqlite\"",
     "SQLite policy store; absolute; empty = derived from state_dir.",
     [](const toml::node& n, Settings& s) -> Result<void> {
       auto v = get_optional_path(n);
       if (!v) return Unexpected{v.error()};
       s.store.path = *v;
       return {};
     },
     [](const Settings& s) { return quote(s.store.path.string()); },
     [](Settings& s) -> Result<void> {
       if (s.store.path.empty()) s.store.path = s.state_dir / "policies.sqlite";
       return {};
     }},

    {"store.busy_timeout", "duration", "\"5s\"", "",
     "How long a store access waits for a lock held by another process (0 to 1h).",
     [](const toml::node& n, Settings& s) -> Result<void> {
       auto v = get_duration(n, 0ms, k_max_timeout);
       if (!v) return Unexpected{v.error()};
       s.store.busy_timeout = *v;
       return {};
     },
     [](const Settings& s) { return render_duration(s.store.busy_timeout); }, nullptr},

    {"store.url", "string", "\"\"", "",
     "\"\" = SQLite at store.path only; \"postgresql://user@host:port/db?...\" = a PostgreSQL "
     "shared by a fleet (libpq URI; the password comes from ~/.pgpass or PGPASSFILE, never from "
     "here), with store.path as the local copy.",
     [](const toml::node& n, Settings& s) -> Result<void> {
       auto v = get_string(n);
       if (!v) return Unexpected{v.error()};
       if (!v->empty() && !v->starts_with("postgresql://") && !v->starts_with("postgres://")) {
         return value_error("must be \"\" or a postgresql:// connection URI");
       }
       s.store.url = *v;
       return {};
     },
     [](const Settings& s) { return quote(s.store.url); }, nullptr},

    {"store.timeout", "duration", "\"2s\"", "",
     "How long one PostgreSQL call may take (100ms to 1m); then the node answers from memory and "
     "its local copy and retries later.",
     [](const toml::node& n, Settings& s) -> Result<void> {
       auto v = get_duration(n, 100ms, 1min);
       if (!v) return Unexpected{v.error()};
       s.store.timeout = *v;
       return {};
     },
     [](const Settings& s) { return render_duration(s.store.timeout); }, nullptr},

    {"fleet.node", "string", "\"\"", "the host name",
     "This daemon's name in logs, stats, the shared store and its reports' claims.",
     [](const toml::node& n, Settings& s) -> Result<void> {
       auto v = get_string(n);
       if (!v) return Unexpected{v.error()};
       if (v->find_first_of(" \t\r\n") != std::string::npos) {
         return value_error("no white space allowed");
       }
       s.fleet.node = *v;
       return {};
     },
     [](const Settings& s) { return quote(s.fleet.node); },
     [](Settings& s) -> Result<void> {
       if (s.fleet.node.empty()) s.fleet.node = host_name();
       return {};
     }},

    {"limits.decision_deadline", "duration", "\"10s\"", "",
     "Every query is answered within this (1s to 5m): a lookup that takes longer answers a defer "
     "and goes on.",
     [](const toml::node& n, Settings& s) -> Result<void> {
       auto v = get_duration(n, 1000ms, 5min);
       if (!v) return Unexpected{v.error()};
       s.limits.decision_deadline = *v;
       return {};
     },
     [](const Settings& s) { return render_duration(s.limits.decision_deadline); }, nullptr},

    {"limits.max_mx_hosts", "integer", "10", "",
     "MX hosts looked up and used per domain, by preference (1 to 100); the others are not used.",
     [](const toml::node& n, Settings& s) -> Result<void> {
       auto v = get_integer(n, 1, 100);
       if (!v) return Unexpected{v.error()};
       s.limits.max_mx_hosts = static_cast<std::size_t>(*v);
       return {};
     },
     [](const Settings& s) { return std::to_string(s.limits.max_mx_hosts); }, nullptr},

    {"limits.max_in_flight", "integer", "10000", "",
     "Cold lookups at once (1 to 1000000); beyond: an overload defer.",
     [](const toml::node& n, Settings& s) -> Result<void> {
       auto v = get_integer(n, 1, 1000000);
       if (!v) return Unexpected{v.error()};
       s.limits.max_in_flight = static_cast<std::size_t>(*v);
       return {};
     },
     [](const Settings& s) { return std::to_string(s.limits.max_in_flight); }, nullptr},

    {"limits.max_connections", "integer", "4096", "",
     "Client connections at once, all listeners together (16 to 100000); beyond: closed at "
     "once. The descriptor limit is raised to fit.",
     [](const toml::node& n, Settings& s) -> Result<void> {
       auto v = get_integer(n, 16, 100000);
       if (!v) return Unexpected{v.error()};
       s.limits.max_connections = static_cast<std::size_t>(*v);
       return {};
     },
     [](const Settings& s) { return std::to_string(s.limits.max_connections); }, nullptr},

    {"server.socketmap", "listener", "\"\"", "\"unix:<run dir>/socketmap.sock\"",
     "Postfix socketmap listener: \"unix:/path\", \"IPv4:port\" or \"[IPv6]:port\".",
     [](const toml::node& n, Settings& s) -> Result<void> {
       auto v = get_string(n);
       if (!v) return Unexpected{v.error()};
       if (auto ok = check_listener(*v); !ok) return ok;
       s.server.socketmap = *v;
       return {};
     },
     [](const Settings& s) { return quote(s.server.socketmap); },
     [](Settings& s) { return derive_listener(s, s.server.socketmap, "socketmap.sock"); }},

    {"server.json", "listener", "\"\"", "\"unix:<run dir>/tlspolicy.sock\"",
     "JSON-lines listener (decide, report): \"unix:/path\", \"IPv4:port\" or \"[IPv6]:port\".",
     [](const toml::node& n, Settings& s) -> Result<void> {
       auto v = get_string(n);
       if (!v) return Unexpected{v.error()};
       if (auto ok = check_listener(*v); !ok) return ok;
       s.server.json = *v;
       return {};
     },
     [](const Settings& s) { return quote(s.server.json); },
     [](Settings& s) { return derive_listener(s, s.server.json, "tlspolicy.sock"); }},

    {"server.admin", "listener", "\"\"", "\"unix:<run dir>/admin.sock\"",
     "JSON-lines listener that also accepts admin ops (cache.*): \"unix:/path\" or \"IP:port\".",
     [](const toml::node& n, Settings& s) -> Result<void> {
       auto v = get_string(n);
       if (!v) return Unexpected{v.error()};
       if (auto ok = check_listener(*v); !ok) return ok;
       s.server.admin = *v;
       return {};
     },
     [](const Settings& s) { return quote(s.server.admin); },
     [](Settings& s) { return derive_listener(s, s.server.admin, "admin.sock"); }},

    {"server.metrics", "listener", "\"\"", "",
     "Prometheus /metrics listener (HTTP): \"\" = off, \"IPv4:port\", \"[IPv6]:port\" or "
     "\"unix:/path\".",
     [](const toml::node& n, Settings& s) -> Result<void> {
       auto v = get_string(n);
       if (!v) return Unexpected{v.error()};
       if (!v->empty()) {
         if (auto ok = check_listener(*v); !ok) return ok;
       }
       s.server.metrics = *v;
       return {};
     },
     [](const Settings& s) { return quote(s.server.metrics); }, nullptr},

    {"server.socket_mode", "string", "\"0666\"", "",
     "Permission bits (octal) of the socketmap and JSON Unix sockets; the admin socket is "
     "always 0600.",
     [](const toml::node& n, Settings& s) -> Result<void> {
       auto v = get_string(n);
       if (!v) return Unexpected{v.error()};
       const bool octal =
           !v->empty() && v->size() <= 4 && v->find_first_not_of("01234567") == std::string::npos;
       if (!octal) return value_error("\"" + *v + "\" is not an octal mode such as \"0660\"");
       s.server.socket_mode = static_cast<std::uint32_t>(std::stoul(*v, nullptr, 8));
       return {};
     },
     [](const Settings& s) {
       char buf[8];
       std::snprintf(buf, sizeof buf, "%04o", s.server.socket_mode);
       return quote(buf);
     },
     nullptr},

    {"server.socket_owner", "string", "\"\"", "",
     "Owner (name or number) of the Unix sockets; \"\" = the daemon's user.",
     [](const toml::node& n, Settings& s) -> Result<void> {
       auto v = get_string(n);
       if (!v) return Unexpected{v.error()};
       s.server.socket_owner = *v;
       return {};
     },
     [](const Settings& s) { return quote(s.server.socket_owner); }, nullptr},

    {"server.socket_group", "string", "\"\"", "",
     "Group (name or number) of the Unix sockets, e.g. \"postfix\" with socket_mode \"0660\"; "
     "\"\" = the daemon's group.",
     [](const toml::node& n, Settings& s) -> Result<void> {
       auto v = get_string(n);
       if (!v) return Unexpected{v.error()};
       s.server.socket_group = *v;
       return {};
     },
     [](const Settings& s) { return quote(s.server.socket_group); }, nullptr},

    {"tlsrpt.enabled", "bool", "true", "",
     "Collect TLS-RPT results: libtlsrpt datagrams, the JSON report op and the engine's own "
     "failures (RFC 8460).",
     [](const toml::node& n, Settings& s) -> Result<void> {
       auto v = get_bool(n);
       if (!v) return Unexpected{v.error()};
       s.tlsrpt.enabled = *v;
       return {};
     },
     [](const Settings& s) { return render_bool(s.tlsrpt.enabled); }, nullptr},

    {"tlsrpt.socket", "listener", "\"\"",
     "\"tlsrpt.sock\" beside the server.json socket, else \"unix:<run dir>/tlsrpt.sock\"",
     "Unix datagram socket for libtlsrpt (Postfix smtp_tlsrpt_socket_name): \"unix:/path\".",
     [](const toml::node& n, Settings& s) -> Result<void> {
       auto v = get_string(n);
       if (!v) return Unexpected{v.error()};
       if (!v->empty() && !v->starts_with("unix:")) {
         return value_error("expected \"unix:/absolute/path\", got " + quote(printable(*v)));
       }
       if (auto ok = check_listener(*v); !ok) return ok;
       s.tlsrpt.socket = *v;
       return {};
     },
     [](const Settings& s) { return quote(s.tlsrpt.socket); },
     [](Settings& s) -> Result<void> {
       // Beside the JSON socket, so that daemons with their own sockets
       // (tests, several instances) never share a datagram socket.
       if (s.tlsrpt.socket.empty() && s.server.json.starts_with("unix:")) {
         const std::filesystem::path json{s.server.json.substr(5)};
         s.tlsrpt.socket = "unix:" + (json.parent_path() / "tlsrpt.sock").string();
         if (auto ok = check_listener(s.tlsrpt.socket); !ok) s.tlsrpt.socket.clear();
       }
       return derive_listener(s, s.tlsrpt.socket, "tlsrpt.sock");
     }},

    {"tlsrpt.send", "bool", "false", "",
     "Deliver the daily reports to the domains' rua addresses; false keeps them for "
     "`tlspolicy report` only.",
     [](const toml::node& n, Settings& s) -> Result<void> {
       auto v = get_bool(n);
       if (!v) return Unexpected{v.error()};
       s.tlsrpt.send = *v;
       return {};
     },
     [](const Settings& s) { return render_bool(s.tlsrpt.send); }, nullptr},

    {"tlsrpt.submitter", "string", "\"\"", "the domain of contact_info, else the host name",
     "Report submitter domain (TLS-Report-Submitter); must be the domain of contact_info.",
     [](const toml::node& n, Settings& s) -> Result<void> {
       auto v = get_string(n);
       if (!v) return Unexpected{v.error()};
       if (v->empty()) {
         s.tlsrpt.submitter.clear();
         return {};
       }
       auto d = normalise_domain(*v);
       if (!d) return Unexpected{d.error()};
       s.tlsrpt.submitter = *d;
       return {};
     },
     [](const Settings& s) { return quote(s.tlsrpt.submitter); }, derive_submitter},

    {"tlsrpt.contact_info", "string", "\"\"", "\"postmaster@<submitter>\"",
     "Report contact-info: the e-mail address that sends the reports and answers for them.",
     [](const toml::node& n, Settings& s) -> Result<void> {
       auto v = get_string(n);
       if (!v) return Unexpected{v.error()};
       if (v->find_first_of(" \t\r\n<>\"") != std::string::npos) {
         return value_error("expected a bare e-mail address, got " + quote(printable(*v)));
       }
       s.tlsrpt.contact_info = *v;
       return {};
     },
     [](const Settings& s) { return quote(s.tlsrpt.contact_info); }, nullptr},

    {"tlsrpt.organization_name", "string", "\"\"", "the submitter", "Report organization-name.",
     [](const toml::node& n, Settings& s) -> Result<void> {
       auto v = get_string(n);
       if (!v) return Unexpected{v.error()};
       if (v->find_first_of("\r\n") != std::string::npos) {
         return value_error("line breaks are not allowed");
       }
       s.tlsrpt.organization_name = *v;
       return {};
     },
     [](const Settings& s) { return quote(s.tlsrpt.organization_name); },
     [](Settings& s) -> Result<void> {
       if (s.tlsrpt.organization_name.empty()) s.tlsrpt.organization_name = s.tlsrpt.submitter;
       return {};
     }},

    {"tlsrpt.sendmail", "list of strings", "[\"/usr/sbin/sendmail\", \"-oi\"]", "",
     "Command (no shell) that mails reports; \"-f <contact_info> <rua mailbox>\" is appended.",
     [](const toml::node& n, Settings& s) -> Result<void> {
       auto v = get_string_list(n);
       if (!v) return Unexpected{v.error()};
       if (v->empty() || v->front().empty() || v->front().front() != '/') {
         return value_error("expected a list whose first element is an absolute path");
       }
       s.tlsrpt.sendmail = std::move(*v);
       return {};
     },
     [](const Settings& s) { return render_list(s.tlsrpt.sendmail); }, nullptr},

    {"tlsrpt.send_success_reports", "bool", "true", "",
     "Also send reports for days whose sessions all succeeded.",
     [](const toml::node& n, Settings& s) -> Result<void> {
       auto v = get_bool(n);
       if (!v) return Unexpected{v.error()};
       s.tlsrpt.send_success_reports = *v;
       return {};
     },
     [](const Settings& s) { return render_bool(s.tlsrpt.send_success_reports); }, nullptr},

    {"tlsrpt.max_delay", "duration", "\"4h\"", "",
     "Reports go out at a random time up to this long after the UTC day ends (RFC 8460 4.1; "
     "1s to 24h).",
     [](const toml::node& n, Settings& s) -> Result<void> {
       auto v = get_duration(n, 1s, 24h);
       if (!v) return Unexpected{v.error()};
       s.tlsrpt.max_delay = std::chrono::duration_cast<std::chrono::seconds>(*v);
       return {};
     },
     [](const Settings& s) { return render_duration(s.tlsrpt.max_delay); }, nullptr},

    {"tlsrpt.keep_days", "integer", "14", "",
     "Days that results and reports are kept in the store (2 to 366).",
     [](const toml::node& n, Settings& s) -> Result<void> {
       auto v = get_integer(n, 2, 366);
       if (!v) return Unexpected{v.error()};
       s.tlsrpt.keep_days = static_cast<int>(*v);
       return {};
     },
     [](const Settings& s) { return std::to_string(s.tlsrpt.keep_days); }, nullptr},
};

}  // namespace

std::span<const SettingRow> settings_table() { return k_settings_table; }

const SettingRow* find_row(std::string_view name) {
  for (const auto& row : k_settings_table) {
    if (row.name == name) return &row;
  }
  return nullptr;
}

bool is_section(std::string_view name) {
  return std::any_of(k_settings_table.begin(), k_settings_table.end(), [&](const SettingRow& r) {
    return r.name.size() > name.size() + 1 && r.name.starts_with(name) &&
           r.name[name.size()] == '.';
  });
}

std::string where(std::string_view source, const toml::source_region& region) {
  std::string out{source};
  // A --set value is one line: its line number says nothing.
  if (region.begin.line != 0 && !source.starts_with("--set")) {
    out += ":" + std::to_string(region.begin.line);
  }
  return out;
}

std::string printable(std::string_view text) { return util::escaped(text); }

// ------------------------------------------------------------- [[policy]]

Result<void> parse_policies(const toml::node& value, std::string_view source,
                            std::vector<LocalPolicy>& out) {
  const auto* arr = value.as_array();
  if (arr == nullptr) {
    return value_error("invalid value for 'policy' in " + where(source, value.source()) +
                       ": expected an array of tables ([[policy]]), got " +
                       std::string{type_name(value)});
  }
  std::vector<LocalPolicy> policies;
  std::set<std::string> seen;
  for (std::size_t i = 0; i < arr->size(); ++i) {
    const toml::node& entry = (*arr)[i];
    const std::string at = where(source, entry.source());
    const auto* tbl = entry.as_table();
    if (tbl == nullptr) {
      return value_error("invalid value for 'policy' in " + at + ": entry " +
                         std::to_string(i + 1) + " is " + std::string{type_name(entry)} +
                         ", expected a table");
    }
    // Points at the offending value when there is one, else at the table.
    auto field_error = [&](std::string_view key, const std::string& detail,
                           const toml::node* node = nullptr) {
      const std::string loc = node != nullptr ? where(source, node->source()) : at;
      return value_error("invalid value for 'policy." + std::string{key} + "' in " + loc + ": " +
                         detail);
    };
    for (const auto& [key, node] : *tbl) {
      const std::string_view k = key.str();
      if (k != "domain" && k != "action" && k != "verify" && k != "match") {
        return fail(Errc::ConfigSyntax, Retry::Permanent,
                    "unknown setting 'policy." + printable(k) + "' in " +
                        where(source, key.source()) +
                        " (a [[policy]] has domain, action, verify, match)");
      }
    }
    LocalPolicy p;
    const toml::node* domain = tbl->get("domain");
    if (domain == nullptr) return field_error("domain", "every [[policy]] needs a domain");
    auto d = get_string(*domain);
    if (!d) return field_error("domain", d.error().detail, domain);
    auto nd = normalise_domain(*d);
    if (!nd) return field_error("domain", nd.error().detail, domain);
    p.domain = *nd;
    if (!seen.insert(p.domain).second) {
      return field_error("domain", "duplicate [[policy]] for domain " + quote(p.domain), domain);
    }

    const toml::node* action = tbl->get("action");
    if (action == nullptr) {
      return field_error("action", "missing; expected \"require-tls\" or \"opportunistic\"");
    }
    auto a = get_enum(*action, {"require-tls", "opportunistic"});
    if (!a) return field_error("action", a.error().detail, action);
    p.action = *a;

    const toml::node* verify = tbl->get("verify");
    if (p.action == "opportunistic") {
      if (verify != nullptr) {
        return field_error("verify", "not allowed with action = \"opportunistic\"", verify);
      }
    } else {
      if (verify == nullptr) {
        return field_error(
            "verify", "action = \"require-tls\" needs verify = \"dane\", \"pkix\" or \"none\"");
      }
      auto v = get_enum(*verify, {"dane", "pkix", "none"});
      if (!v) return field_error("verify", v.error().detail, verify);
      p.verify = *v;
    }

    if (const toml::node* match = tbl->get("match")) {
      if (p.verify != "pkix") {
        return field_error("match", "only allowed with verify = \"pkix\"", match);
      }
      auto names = get_string_list(*match);
      if (!names) return field_error("match", names.error().detail, match);
      for (const auto& name : *names) {
        auto m = normalise_match(name);
        if (!m) return field_error("match", m.error().detail, match);
        p.match.push_back(*m);
      }
    }
    policies.push_back(std::move(p));
  }
  out = std::move(policies);
  return {};
}

std::string render_policies(const std::vector<LocalPolicy>& policies) {
  std::string out = "[";
  for (std::size_t i = 0; i < policies.size(); ++i) {
    const auto& p = policies[i];
    if (i != 0) out += ", ";
    out += "{domain = " + quote(p.domain) + ", action = " + quote(p.action);
    if (!p.verify.empty()) out += ", verify = " + quote(p.verify);
    if (!p.match.empty()) out += ", match = " + render_list(p.match);
    out += '}';
  }
  out += ']';
  return out;
}

// ---------------------------------------------------------- nesting check

std::size_t excessive_nesting_line(std::string_view text) {
  // Tables nest once per '.' of a dotted key or table header and once per
  // '[' / '{'. No tlspolicy setting is deeper than 3; these limits bound
  // the tree toml++ builds (and destroys recursively) to ~1000 levels.
  constexpr int k_max_chain = 32;
  constexpr int k_max_brackets = 32;
  std::size_t line = 1;
  int brackets = 0;
  int chain = 0;
  bool prev_key = false;   // last significant token was a key-like token
  bool after_dot = false;  // last significant token was a '.' after a key
  std::size_t i = 0;
  const std::size_t n = text.size();
  auto key_token = [&] {
    if (!after_dot) chain = 0;
    after_dot = false;
    prev_key = true;
  };
  while (i < n) {
    const char c = text[i];
    if (c == '\n') {
      ++line;
      chain = 0;
      prev_key = after_dot = false;
      ++i;
    } else if (c == ' ' || c == '\t' || c == '\r') {
      ++i;
    } else if (c == '#') {
      while (i < n && text[i] != '\n') ++i;
    } else if (c == '"' || c == '\'') {
      const bool multi = text.substr(i, 3) == std::string(3, c);
      const bool basic = c == '"';
      i += multi ? 3 : 1;
      while (i < n) {
        const char d = text[i];
        if (basic && d == '\\') {
          if (i + 1 < n && text[i + 1] == '\n') ++line;
          i += 2;
          continue;
        }
        if (d == '\n') {
          if (!multi) break;  // unterminated; toml++ reports it
          ++line;
        }
        if (d == c && (!multi || text.substr(i, 3) == std::string(3, c))) {
          i += multi ? 3 : 1;
          break;
        }
        ++i;
      }
      key_token();
    } else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '_' || c == '-' || c == '+') {
      while (i < n && ((text[i] >= 'a' && text[i] <= 'z') || (text[i] >= 'A' && text[i] <= 'Z') ||
                       (text[i] >= '0' && text[i] <= '9') || text[i] == '_' || text[i] == '-' ||
                       text[i] == '+')) {
        ++i;
      }
      key_token();
    } else if (c == '.') {
      if (prev_key) {
        ++chain;
        after_dot = true;
      } else {
        chain = 0;
        after_dot = false;
      }
      prev_key = false;
      ++i;
    } else {
      if (c == '[' || c == '{') ++brackets;
      if ((c == ']' || c == '}') && brackets > 0) --brackets;
      chain = 0;
      prev_key = after_dot = false;
      ++i;
    }
    if (chain > k_max_chain || brackets > k_max_brackets) return line;
  }
  return 0;
}

}  // namespace tlspolicy::config::detail
