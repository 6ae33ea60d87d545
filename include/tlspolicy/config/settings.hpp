// SPDX-License-Identifier: Apache-2.0
//
// Settings: every tunable of tlspolicy, with an embedded default for each, so
// that `tlspolicy serve` runs with no config file at all. One table in
// src/config/settings_table.cpp is the single source of truth: the TOML
// loader, `--set section.key=value`, `tlspolicy check-config` and the test that
// docs/configuration.md documents every key all derive from it.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tlspolicy/util/log.hpp"
#include "tlspolicy/util/result.hpp"

namespace tlspolicy::config {

/// resolver.mode: how DNSSEC answers are judged.
enum class ResolverMode {
  Validate,  ///< "validate": in-process validation (libunbound)
  TrustAd,   ///< "trust-ad": the AD bit of a trusted validating resolver
};
/// "validate" | "trust-ad": the config word, also used in logs, metrics labels and `status`.
[[nodiscard]] std::string_view to_string(ResolverMode m) noexcept;

/// [[policy]] action.
enum class PolicyAction { RequireTls, Opportunistic };
/// [[policy]] verify (require-tls only).
enum class PolicyVerify { Dane, Pkix, None };
/// The config words: "require-tls", "opportunistic"; "dane", "pkix", "none".
[[nodiscard]] std::string_view to_string(PolicyAction a) noexcept;
[[nodiscard]] std::string_view to_string(PolicyVerify v) noexcept;

/// One [[policy]] table: a local override (SPEC §3 step 1).
struct LocalPolicy {
  std::string domain;  ///< normalised
  PolicyAction action = PolicyAction::Opportunistic;
  PolicyVerify verify = PolicyVerify::None;  ///< None for opportunistic (which has no verify)
  std::vector<std::string> match;            ///< pkix: names to match (Postfix match=), normalised
  friend bool operator==(const LocalPolicy&, const LocalPolicy&) = default;
};

struct Settings {
  std::filesystem::path state_dir;
  util::Level log_level = util::Level::Info;  ///< log.level

  struct Resolver {
    ResolverMode mode = ResolverMode::Validate;
    std::vector<std::string> servers;  ///< "IP" or "IP@port"; empty = /etc/resolv.conf
    std::string trust_anchor;
    std::string root_hints;
    std::chrono::milliseconds timeout{};
    int attempts = 0;
  } resolver;

  struct MtaSts {
    std::string ca_file;
    std::vector<std::string> exclude;  ///< normalised domains
    bool allow_private_addresses = false;
    std::chrono::milliseconds connect_timeout{};
    std::chrono::milliseconds fetch_timeout{};
    std::size_t max_policy_bytes = 0;
    std::chrono::seconds retry_interval{};  ///< min time between failed fetches per id
    std::vector<std::string> connect_to;    ///< test hook, curl CONNECT_TO syntax
  } mta_sts;

  struct Store {
    std::filesystem::path path;
    std::chrono::milliseconds busy_timeout{};
    std::string url;  ///< "" = SQLite only; "postgresql://..." = the fleet's shared store
    std::chrono::milliseconds timeout{};  ///< per PostgreSQL call
  } store;

  struct Fleet {
    std::string node;  ///< this daemon's name in logs, stats and the shared store
  } fleet;

  /// Bounds on the work one query may cause (isolation from hostile domains).
  struct Limits {
    std::chrono::milliseconds decision_deadline{};  ///< answer (a defer) within this
    std::size_t max_mx_hosts = 0;                   ///< MX hosts looked up, by preference
    std::size_t max_in_flight = 0;                  ///< cold lookups at once
    std::size_t max_connections = 0;                ///< client connections at once
  } limits;
  struct Server {
    std::string socketmap;  ///< "unix:PATH" or "IP:port"
    std::string json;
    std::string admin;
    std::string metrics;               ///< Prometheus listener; "" = off
    std::uint32_t socket_mode = 0666;  ///< socketmap and JSON sockets; admin is 0600
    std::string socket_owner;          ///< "" = unchanged
    std::string socket_group;          ///< "" = unchanged
  } server;

  /// SMTP TLS Reporting (RFC 8460): collection and daily reports.
  struct TlsRpt {
    bool enabled = true;  ///< collect results (datagrams, report op, engine failures)
    std::string socket;   ///< libtlsrpt datagram socket, "unix:PATH"
    bool send = false;    ///< deliver reports (otherwise they are only kept)
    std::string organization_name;
    std::string contact_info;           ///< an e-mail address
    std::string submitter;              ///< == the domain of contact_info (RPT-14)
    std::vector<std::string> sendmail;  ///< argv; "-f FROM RCPT" are appended
    bool send_success_reports = true;   ///< also send days without failures
    std::chrono::seconds max_delay{};   ///< random delay after the UTC day (RPT-8)
    int keep_days = 0;                  ///< aggregates and reports kept this long
  } tlsrpt;

  std::vector<LocalPolicy> policies;
};

enum class Origin { Default, File, CommandLine };
[[nodiscard]] std::string_view to_string(Origin o) noexcept;

/// One row of `tlspolicy check-config`.
struct SettingValue {
  std::string name;   ///< "resolver.mode", "policy" for the [[policy]] array
  std::string value;  ///< rendered as TOML would write it
  Origin origin = Origin::Default;
};

/// One row of the settings table, for docs and --defaults.
struct SettingDoc {
  std::string name;
  std::string type;           ///< "string", "bool", "integer", "duration", "list of strings", ...
  std::string default_value;  ///< as TOML would write it (derived defaults are described)
  std::string doc;            ///< one line
};

struct LoadedConfig {
  Settings settings;
  std::vector<SettingValue> values;           ///< every setting, table order
  std::optional<std::filesystem::path> file;  ///< the file read, if any
};

/// Loads settings: embedded defaults, then `file` (TOML) when given, or the
/// default file /etc/tlspolicy/tlspolicy.toml when `file` is empty and it
/// exists; then each `overrides` entry "section.key=value" (value in TOML
/// syntax, or a bare string). Unknown keys, wrong types and invalid values are
/// errors (Errc::ConfigSyntax / ConfigValue) naming the key and the source.
/// Derived defaults (state_dir, store.path, server.*) are filled in.
[[nodiscard]] Result<LoadedConfig> load_config(const std::optional<std::filesystem::path>& file,
                                               const std::vector<std::string>& overrides);

/// Same, from TOML text (no file system access except derived defaults).
/// This is what the config fuzz target calls.
[[nodiscard]] Result<LoadedConfig> load_config_text(std::string_view toml,
                                                    const std::vector<std::string>& overrides);

/// The settings table, in order.
[[nodiscard]] const std::vector<SettingDoc>& setting_docs();

/// The embedded defaults as a TOML file that load_config() accepts and that loads to the
/// defaults (`tlspolicy check-config --defaults`): top-level keys, then one table per
/// section, each setting preceded by its type and meaning as comments. A derived default
/// (state_dir, store.path, server.*, ...) is written `""`, which derives it, and its comment
/// says what it becomes. With `commented`, every setting line is commented out and an
/// example [[policy]] table follows: the example /etc/tlspolicy/tlspolicy.toml.
[[nodiscard]] std::string defaults_toml(bool commented);

/// Default location of the config file.
inline constexpr std::string_view k_default_config_file = "/etc/tlspolicy/tlspolicy.toml";

}  // namespace tlspolicy::config
