// SPDX-License-Identifier: Apache-2.0
//
// The settings table: the single source of truth for every tunable of
// tlspolicy (HOUSE-STYLE §8), one entry per setting. Each entry is made by a
// typed builder (text, path, boolean, integer, duration, string_list,
// listener, enumeration, octal_mode) from the setting's name, where it lives
// in Settings, its default, its range and its one-line doc, plus a named
// check when the setting needs more than its type's validation and a named
// derivation (derived.cpp) when its default depends on other settings or on
// the host. The loader, `check-config`, setting_docs(), defaults_toml() and
// the documentation test all derive from this table.
//
// Adding a setting: a member in Settings (include/tlspolicy/config/settings.hpp),
// one row here, one entry in docs/configuration.md.
#include "settings_table.hpp"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "tlspolicy/dns/resolver.hpp"

#include "derived.hpp"
#include "values.hpp"

namespace tlspolicy::config::detail {
namespace {

using std::chrono::milliseconds;
using namespace std::chrono_literals;

// ------------------------------------------------------------ row builders
//
// A row names its member by a pointer into the member's section, `&Resolver::timeout`, or into
// Settings for a top-level one, `&Settings::state_dir`; section_of() finds the section from the
// pointer's class. So a row stays one short entry, the compiler checks that the member exists
// and has the type its builder expects, and no row repeats its section. The alternatives read
// worse in 40 rows: an accessor lambda per row (`[](auto& s) -> auto& { return
// s.resolver.timeout; }`) costs two more lines of each entry, and an explicit two-level
// pointer (`&Settings::resolver, &Settings::Resolver::timeout`) names the section twice.

/// The section of `s` that holds members of class `Section` (`s` itself for Settings). A new
/// section of Settings gets a line here.
template <class Section, class S>
auto& section_of(S& s) {
  if constexpr (std::is_same_v<Section, Settings>) {
    return s;
  } else if constexpr (std::is_same_v<Section, Settings::Resolver>) {
    return s.resolver;
  } else if constexpr (std::is_same_v<Section, Settings::MtaSts>) {
    return s.mta_sts;
  } else if constexpr (std::is_same_v<Section, Settings::Store>) {
    return s.store;
  } else if constexpr (std::is_same_v<Section, Settings::Fleet>) {
    return s.fleet;
  } else if constexpr (std::is_same_v<Section, Settings::Limits>) {
    return s.limits;
  } else if constexpr (std::is_same_v<Section, Settings::Server>) {
    return s.server;
  } else {
    static_assert(std::is_same_v<Section, Settings::TlsRpt>, "a section missing in section_of");
    return s.tlsrpt;
  }
}

/// The member `member` points at, in `s` (Settings& or const Settings&).
template <class Section, class T, class S>
auto& member_of(S& s, T Section::*member) {
  return section_of<Section>(s).*member;
}

/// A check a row adds to what its type validates: it returns a ConfigValue error (whose detail
/// names neither the setting nor the source) or normalises the value in place.
template <class T>
using Check = Result<void> (*)(T& value);

/// The parse function of a row: `read` the TOML value as a V, apply the row's `check`, then
/// store it in the member, converted to the member's type T (an integer type, a unit).
template <class V, class Section, class T, class Read>
SettingRow::Parse parser(T Section::*member, Read read, Check<V> check = nullptr) {
  return [member, read, check](const toml::node& n, Settings& s) -> Result<void> {
    Result<V> v = read(n);
    if (!v) return Unexpected{v.error()};
    if (check != nullptr) {
      if (auto ok = check(*v); !ok) return ok;
    }
    if constexpr (std::is_same_v<V, milliseconds>) {
      member_of(s, member) = std::chrono::duration_cast<T>(*v);
    } else if constexpr (std::is_integral_v<V> && !std::is_same_v<V, bool>) {
      member_of(s, member) = static_cast<T>(*v);
    } else {
      member_of(s, member) = std::move(*v);
    }
    return {};
  };
}

/// The render function of a row: `render` applied to the member.
template <class Section, class T, class Render>
SettingRow::Render renderer(T Section::*member, Render render) {
  return [member, render](const Settings& s) { return render(member_of(s, member)); };
}

std::string quote_string(const std::string& s) { return quote(s); }
std::string quote_path(const std::filesystem::path& p) { return quote(p.string()); }
std::string render_integer(std::int64_t i) { return std::to_string(i); }

template <class Section>
SettingRow text(std::string_view name, std::string Section::*member, std::string_view def,
                std::string_view doc, Check<std::string> check = nullptr) {
  return {name,
          "string",
          quote(def),
          {},
          doc,
          parser<std::string>(member, get_string, check),
          renderer(member, quote_string)};
}

/// "" or an absolute path, in a std::string or a std::filesystem::path.
template <class Section, class T>
SettingRow path(std::string_view name, T Section::*member, std::string_view def,
                std::string_view doc) {
  return {name,
          "path",
          quote(def),
          {},
          doc,
          parser<std::string>(member, get_optional_path),
          [member](const Settings& s) {
            if constexpr (std::is_same_v<T, std::filesystem::path>) {
              return quote_path(member_of(s, member));
            } else {
              return quote_string(member_of(s, member));
            }
          }};
}

template <class Section>
SettingRow boolean(std::string_view name, bool Section::*member, bool def, std::string_view doc) {
  return {name,
          "bool",
          render_bool(def),
          {},
          doc,
          parser<bool>(member, get_bool),
          renderer(member, render_bool)};
}

/// An integer from lo to hi, stored in the member's own integer type.
template <class Section, class T>
SettingRow integer(std::string_view name, T Section::*member, std::int64_t def, std::int64_t lo,
                   std::int64_t hi, std::string_view doc) {
  return {name,
          "integer",
          render_integer(def),
          {},
          doc,
          parser<std::int64_t>(member,
                               [lo, hi](const toml::node& n) { return get_integer(n, lo, hi); }),
          renderer(member, [](T i) { return render_integer(static_cast<std::int64_t>(i)); })};
}

/// A duration from lo to hi, stored in the member's own unit (whole seconds truncate).
template <class Section, class T>
SettingRow duration(std::string_view name, T Section::*member, milliseconds def, milliseconds lo,
                    milliseconds hi, std::string_view doc, Check<milliseconds> check = nullptr) {
  return {name,
          "duration",
          render_duration(def),
          {},
          doc,
          parser<milliseconds>(
              member, [lo, hi](const toml::node& n) { return get_duration(n, lo, hi); }, check),
          renderer(member, [](T d) { return render_duration(d); })};
}

template <class Section>
SettingRow string_list(std::string_view name, std::vector<std::string> Section::*member,
                       const std::vector<std::string>& def, std::string_view doc,
                       Check<std::vector<std::string>> check = nullptr) {
  return {name,
          "list of strings",
          render_list(def),
          {},
          doc,
          parser<std::vector<std::string>>(member, get_string_list, check),
          renderer(member, render_list)};
}

/// "unix:/path", "IPv4:port" or "[IPv6]:port" (check_listener), or "". The row's `check` runs
/// first.
template <class Section>
SettingRow listener(std::string_view name, std::string Section::*member, std::string_view def,
                    std::string_view doc, Check<std::string> check = nullptr) {
  return {name,
          "listener",
          quote(def),
          {},
          doc,
          parser<std::string>(member,
                              [check](const toml::node& n) -> Result<std::string> {
                                auto v = get_string(n);
                                if (!v) return v;
                                if (check != nullptr) {
                                  if (auto ok = check(*v); !ok) return Unexpected{ok.error()};
                                }
                                if (auto ok = check_listener(*v); !ok) {
                                  return Unexpected{ok.error()};
                                }
                                return v;
                              }),
          renderer(member, quote_string)};
}

/// One of `words` (values.hpp), stored as the enumerator.
template <class Section, class E, std::size_t N>
SettingRow enumeration(std::string_view name, E Section::*member, E def,
                       const std::array<Word<E>, N>& words, std::string_view doc) {
  return {name,
          "string",
          quote(word_of(def, words)),
          {},
          doc,
          parser<E>(member, [&words](const toml::node& n) { return get_enum(n, words); }),
          renderer(member, [&words](E e) { return quote(word_of(e, words)); })};
}

/// Permission bits, written as an octal string ("0660").
template <class Section>
SettingRow octal_mode(std::string_view name, std::uint32_t Section::*member, std::uint32_t def,
                      std::string_view doc) {
  return {name,
          "string",
          render_octal_mode(def),
          {},
          doc,
          parser<std::uint32_t>(member, get_octal_mode),
          renderer(member, render_octal_mode)};
}

// ------------------------------------------------- checks of single settings

Result<void> server_addresses(std::vector<std::string>& servers) {
  for (const auto& server : servers) {
    if (auto a = dns::parse_server_address(server); !a) {
      return value_error("invalid server " + quote(printable(server)) +
                         " (expected \"IP\" or \"IP@port\"): " + a.error().detail);
    }
  }
  return {};
}

/// Normalised to A-labels, duplicates dropped (first kept).
Result<void> normalise_domains(std::vector<std::string>& domains) {
  std::vector<std::string> out;
  for (const auto& d : domains) {
    auto name = normalise_domain(d);
    if (!name) return Unexpected{name.error()};
    if (std::find(out.begin(), out.end(), *name) == out.end()) out.push_back(*name);
  }
  domains = std::move(out);
  return {};
}

Result<void> whole_seconds(milliseconds& d) {
  if (d.count() % 1000 != 0) return value_error("expected whole seconds");
  return {};
}

Result<void> connect_to_entries(std::vector<std::string>& entries) {
  for (const auto& e : entries) {
    if (!valid_connect_to(e)) {
      return value_error("invalid entry " + quote(printable(e)) +
                         " (expected \"HOST:PORT:CONNECT-TO-HOST:CONNECT-TO-PORT\")");
    }
  }
  return {};
}

Result<void> postgresql_uri(std::string& url) {
  if (!url.empty() && !url.starts_with("postgresql://") && !url.starts_with("postgres://")) {
    return value_error("must be \"\" or a postgresql:// connection URI");
  }
  return {};
}

Result<void> no_white_space(std::string& s) {
  if (s.find_first_of(" \t\r\n") != std::string::npos) return value_error("no white space allowed");
  return {};
}

/// libtlsrpt speaks Unix datagrams only.
Result<void> unix_only(std::string& listener) {
  if (!listener.empty() && !listener.starts_with("unix:")) {
    return value_error("expected \"unix:/absolute/path\", got " + quote(printable(listener)));
  }
  return {};
}

/// "" (derived) or a domain, normalised.
Result<void> optional_domain(std::string& s) {
  if (s.empty()) return {};
  auto d = normalise_domain(s);
  if (!d) return Unexpected{d.error()};
  s = *d;
  return {};
}

/// Goes into a report and a From header as it is: no spaces, angle brackets or quotes.
Result<void> bare_address(std::string& s) {
  if (s.find_first_of(" \t\r\n<>\"") != std::string::npos) {
    return value_error("expected a bare e-mail address, got " + quote(printable(s)));
  }
  return {};
}

Result<void> one_line(std::string& s) {
  if (s.find_first_of("\r\n") != std::string::npos)
    return value_error("line breaks are not allowed");
  return {};
}

/// argv of a command run without a shell: the program by absolute path.
Result<void> absolute_command(std::vector<std::string>& argv) {
  if (argv.empty() || argv.front().empty() || argv.front().front() != '/') {
    return value_error("expected a list whose first element is an absolute path");
  }
  return {};
}

// -------------------------------------------------------------- the table

constexpr milliseconds k_max_timeout = 1h;

const std::vector<SettingRow>& rows() {
  using Resolver = Settings::Resolver;
  using MtaSts = Settings::MtaSts;
  using Store = Settings::Store;
  using Fleet = Settings::Fleet;
  using Limits = Settings::Limits;
  using Server = Settings::Server;
  using TlsRpt = Settings::TlsRpt;
  static const std::vector<SettingRow> k_rows = {
      path("state_dir", &Settings::state_dir, "",
           "Directory for the policy store and, for non-root users without $XDG_RUNTIME_DIR, the "
           "sockets; absolute; empty = derived.")
          .derived("\"/var/lib/tlspolicy\" (root), else \"$XDG_STATE_HOME/tlspolicy\" or "
                   "\"$HOME/.local/state/tlspolicy\"",
                   derive_state_dir),

      enumeration("log.level", &Settings::log_level, util::Level::Info, k_log_level_words,
                  "Least severe message logged: \"debug\", \"info\", \"notice\", \"warning\" or "
                  "\"error\"."),

      // resolver
      enumeration("resolver.mode", &Resolver::mode, ResolverMode::Validate, k_resolver_mode_words,
                  "\"validate\" (in-process DNSSEC validation with libunbound) or \"trust-ad\" "
                  "(trust the AD bit of a local validating resolver in resolver.servers)."),
      string_list("resolver.servers", &Resolver::servers, {},
                  "Resolvers to query, each \"IP\" or \"IP@port\"; empty = the nameservers of "
                  "/etc/resolv.conf.",
                  server_addresses),
      path("resolver.trust_anchor", &Resolver::trust_anchor, "/usr/share/dns/root.key",
           "DNSKEY/DS trust anchor file for the validate mode; absolute."),
      path("resolver.root_hints", &Resolver::root_hints, "",
           "Validate mode: a root hints file (Unbound's format) to iterate from instead of "
           "forwarding; empty = forward."),
      duration("resolver.timeout", &Resolver::timeout, 5s, 1ms, k_max_timeout,
               "Time allowed for one query to one server (1ms to 1h)."),
      integer("resolver.attempts", &Resolver::attempts, 2, 1, 10,
              "Attempts per server before giving up (1 to 10)."),

      // mta_sts
      path("mta_sts.ca_file", &MtaSts::ca_file, "",
           "CA bundle (PEM) for policy HTTPS; absolute; empty = the system bundle."),
      string_list("mta_sts.exclude", &MtaSts::exclude, {},
                  "Domains never subjected to MTA-STS (exact names, normalised to A-labels).",
                  normalise_domains),
      boolean("mta_sts.allow_private_addresses", &MtaSts::allow_private_addresses, false,
              "Allow policy hosts (mta-sts.<domain>) on loopback, private or link-local "
              "addresses."),
      duration("mta_sts.connect_timeout", &MtaSts::connect_timeout, 5s, 1ms, k_max_timeout,
               "Time allowed to connect to a policy host (1ms to 1h)."),
      duration("mta_sts.fetch_timeout", &MtaSts::fetch_timeout, 15s, 1ms, k_max_timeout,
               "Total time allowed for one policy fetch (1ms to 1h)."),
      integer("mta_sts.max_policy_bytes", &MtaSts::max_policy_bytes, 65536, 1024, 1'048'576,
              "Largest policy body accepted, in bytes (1024 to 1048576)."),
      duration("mta_sts.retry_interval", &MtaSts::retry_interval, 5min, 0ms, 24h,
               "Least time between failed fetches for one policy id, whole seconds; RFC 8461 3.3 "
               "asks for at least 5m.",
               whole_seconds),
      string_list("mta_sts.connect_to", &MtaSts::connect_to, {},
                  "Test hook: curl CONNECT_TO entries \"HOST:PORT:ADDR:PORT\" redirecting policy "
                  "fetches.",
                  connect_to_entries),

      // store
      path("store.path", &Store::path, "",
           "SQLite policy store; absolute; empty = derived from state_dir.")
          .derived("\"<state_dir>/policies.sqlite\"", derive_store_path),
      duration("store.busy_timeout", &Store::busy_timeout, 5s, 0ms, k_max_timeout,
               "How long a store access waits for a lock held by another process (0 to 1h)."),
      text("store.url", &Store::url, "",
           "\"\" = SQLite at store.path only; \"postgresql://user@host:port/db?...\" = a "
           "PostgreSQL shared by a fleet (libpq URI; the password comes from ~/.pgpass or "
           "PGPASSFILE, never from here), with store.path as the local copy.",
           postgresql_uri),
      duration("store.timeout", &Store::timeout, 2s, 100ms, 1min,
               "How long one PostgreSQL call may take (100ms to 1m); then the node answers from "
               "memory and its local copy and retries later."),

      // fleet
      text("fleet.node", &Fleet::node, "",
           "This daemon's name in logs, stats, the shared store and its reports' claims.",
           no_white_space)
          .derived("the host name", derive_fleet_node),

      // limits
      duration("limits.decision_deadline", &Limits::decision_deadline, 10s, 1000ms, 5min,
               "Every query is answered within this (1s to 5m): a lookup that takes longer "
               "answers a defer and goes on."),
      integer("limits.max_mx_hosts", &Limits::max_mx_hosts, 10, 1, 100,
              "MX hosts looked up and used per domain, by preference (1 to 100); the others are "
              "not used."),
      integer("limits.max_in_flight", &Limits::max_in_flight, 10000, 1, 1000000,
              "Cold lookups at once (1 to 1000000); beyond: an overload defer."),
      integer("limits.max_connections", &Limits::max_connections, 4096, 16, 100000,
              "Client connections at once, all listeners together (16 to 100000); beyond: closed "
              "at once. The descriptor limit is raised to fit."),

      // server
      listener("server.socketmap", &Server::socketmap, "",
               "Postfix socketmap listener: \"unix:/path\", \"IPv4:port\" or \"[IPv6]:port\".")
          .derived("\"unix:<run dir>/socketmap.sock\"", derive_socketmap),
      listener("server.json", &Server::json, "",
               "JSON-lines listener (decide, report): \"unix:/path\", \"IPv4:port\" or "
               "\"[IPv6]:port\".")
          .derived("\"unix:<run dir>/tlspolicy.sock\"", derive_json),
      listener("server.admin", &Server::admin, "",
               "JSON-lines listener that also accepts admin ops (cache.*): \"unix:/path\" or "
               "\"IP:port\".")
          .derived("\"unix:<run dir>/admin.sock\"", derive_admin),
      listener("server.metrics", &Server::metrics, "",
               "Prometheus /metrics listener (HTTP): \"\" = off, \"IPv4:port\", \"[IPv6]:port\" "
               "or \"unix:/path\"."),
      octal_mode("server.socket_mode", &Server::socket_mode, 0666,
                 "Permission bits (octal) of the socketmap and JSON Unix sockets; the admin socket "
                 "is always 0600."),
      text("server.socket_owner", &Server::socket_owner, "",
           "Owner (name or number) of the Unix sockets; \"\" = the daemon's user."),
      text("server.socket_group", &Server::socket_group, "",
           "Group (name or number) of the Unix sockets, e.g. \"postfix\" with socket_mode "
           "\"0660\"; \"\" = the daemon's group."),

      // tlsrpt
      boolean("tlsrpt.enabled", &TlsRpt::enabled, true,
              "Collect TLS-RPT results: libtlsrpt datagrams, the JSON report op and the engine's "
              "own failures (RFC 8460)."),
      listener("tlsrpt.socket", &TlsRpt::socket, "",
               "Unix datagram socket for libtlsrpt (Postfix smtp_tlsrpt_socket_name): "
               "\"unix:/path\".",
               unix_only)
          .derived("\"tlsrpt.sock\" beside the server.json socket, else "
                   "\"unix:<run dir>/tlsrpt.sock\"",
                   derive_tlsrpt_socket),
      boolean("tlsrpt.send", &TlsRpt::send, false,
              "Deliver the daily reports to the domains' rua addresses; false keeps them for "
              "`tlspolicy report` only."),
      text("tlsrpt.submitter", &TlsRpt::submitter, "",
           "Report submitter domain (TLS-Report-Submitter); must be the domain of contact_info.",
           optional_domain)
          .derived("the domain of contact_info, else the host name", derive_submitter),
      text("tlsrpt.contact_info", &TlsRpt::contact_info, "",
           "Report contact-info: the e-mail address that sends the reports and answers for "
           "them.",
           bare_address)
          .derived("\"postmaster@<submitter>\"", nullptr),  // derive_submitter fills it in
      text("tlsrpt.organization_name", &TlsRpt::organization_name, "", "Report organization-name.",
           one_line)
          .derived("the submitter", derive_organization_name),
      string_list("tlsrpt.sendmail", &TlsRpt::sendmail, {"/usr/sbin/sendmail", "-oi"},
                  "Command (no shell) that mails reports; \"-f <contact_info> <rua mailbox>\" is "
                  "appended.",
                  absolute_command),
      boolean("tlsrpt.send_success_reports", &TlsRpt::send_success_reports, true,
              "Also send reports for days whose sessions all succeeded."),
      duration("tlsrpt.max_delay", &TlsRpt::max_delay, 4h, 1s, 24h,
               "Reports go out at a random time up to this long after the UTC day ends (RFC 8460 "
               "4.1; 1s to 24h)."),
      integer("tlsrpt.keep_days", &TlsRpt::keep_days, 14, 2, 366,
              "Days that results and reports are kept in the store (2 to 366)."),
  };
  return k_rows;
}

}  // namespace

std::span<const SettingRow> settings_table() { return rows(); }

const SettingRow* find_row(std::string_view name) {
  for (const auto& row : rows()) {
    if (row.name == name) return &row;
  }
  return nullptr;
}

bool is_section(std::string_view name) {
  const auto& table = rows();
  return std::any_of(table.begin(), table.end(), [&](const SettingRow& r) {
    return r.name.size() > name.size() + 1 && r.name.starts_with(name) &&
           r.name[name.size()] == '.';
  });
}

}  // namespace tlspolicy::config::detail
