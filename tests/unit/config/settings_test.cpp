// SPDX-License-Identifier: Apache-2.0
//
// Unit tests for the config loader: embedded defaults, file and --set
// precedence, every kind of type and value error, unknown keys, [[policy]]
// validation, durations, listeners, the nesting guard, the check-config
// listing (which must round-trip through the loader) and the documentation
// test: docs/configuration.md must mention every setting and no other.
#include "tlspolicy/config/settings.hpp"

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

#include "tlspolicy/util/log.hpp"
#include "tlspolicy/util/result.hpp"

#include <unistd.h>

namespace tlspolicy::config {
namespace {

using namespace std::chrono_literals;

Settings load_ok(std::string_view text, const std::vector<std::string>& overrides = {}) {
  auto r = load_config_text(text, overrides);
  EXPECT_TRUE(r) << (r ? "" : r.error().detail);
  if (!r) return {};
  return r->settings;
}

Error load_err(std::string_view text, const std::vector<std::string>& overrides = {}) {
  auto r = load_config_text(text, overrides);
  EXPECT_FALSE(r) << "expected an error for: " << text;
  if (r) return {};
  EXPECT_EQ(r.error().retry, Retry::Permanent);
  return r.error();
}

const SettingValue* find_value(const LoadedConfig& c, std::string_view name) {
  for (const auto& v : c.values) {
    if (v.name == name) return &v;
  }
  return nullptr;
}

class TempFile {
 public:
  explicit TempFile(std::string_view text) {
    std::string tmpl =
        (std::filesystem::temp_directory_path() / "tlspolicy-config-XXXXXX").string();
    const int fd = mkstemp(tmpl.data());
    EXPECT_GE(fd, 0);
    if (fd >= 0) close(fd);
    m_path = tmpl;
    std::ofstream{m_path, std::ios::binary} << text;
  }
  ~TempFile() {
    std::error_code ec;
    std::filesystem::remove(m_path, ec);
  }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  [[nodiscard]] const std::filesystem::path& path() const { return m_path; }

 private:
  std::filesystem::path m_path;
};

// ----------------------------------------------------------------- defaults

TEST(ConfigDefaults, EmbeddedDefaults) {
  auto r = load_config_text("", {});
  ASSERT_TRUE(r) << r.error().detail;
  const Settings& s = r->settings;
  EXPECT_EQ(s.log_level, util::Level::Info);
  EXPECT_EQ(s.resolver.mode, ResolverMode::Validate);
  EXPECT_TRUE(s.resolver.servers.empty());
  EXPECT_EQ(s.resolver.trust_anchor, "/usr/share/dns/root.key");
  EXPECT_EQ(s.resolver.root_hints, "");
  EXPECT_EQ(s.resolver.timeout, 5s);
  EXPECT_EQ(s.resolver.attempts, 2);
  EXPECT_EQ(s.mta_sts.ca_file, "");
  EXPECT_TRUE(s.mta_sts.exclude.empty());
  EXPECT_FALSE(s.mta_sts.allow_private_addresses);
  EXPECT_EQ(s.mta_sts.connect_timeout, 5s);
  EXPECT_EQ(s.mta_sts.fetch_timeout, 15s);
  EXPECT_EQ(s.mta_sts.max_policy_bytes, 65536U);
  EXPECT_EQ(s.mta_sts.retry_interval, 5min);
  EXPECT_TRUE(s.mta_sts.connect_to.empty());
  EXPECT_EQ(s.store.busy_timeout, 5s);
  EXPECT_EQ(s.store.url, "");  // SQLite only
  EXPECT_EQ(s.store.timeout, 2s);
  EXPECT_FALSE(s.fleet.node.empty());  // the host name
  EXPECT_TRUE(s.policies.empty());
  EXPECT_FALSE(r->file.has_value());

  ASSERT_FALSE(s.state_dir.empty());
  EXPECT_TRUE(s.state_dir.is_absolute());
  EXPECT_EQ(s.store.path, s.state_dir / "policies.sqlite");
  if (geteuid() == 0) {
    EXPECT_EQ(s.state_dir, "/var/lib/tlspolicy");
    EXPECT_EQ(s.server.socketmap, "unix:/run/tlspolicy/socketmap.sock");
    EXPECT_EQ(s.server.json, "unix:/run/tlspolicy/tlspolicy.sock");
    EXPECT_EQ(s.server.admin, "unix:/run/tlspolicy/admin.sock");
  } else {
    EXPECT_TRUE(s.server.socketmap.starts_with("unix:/"));
    EXPECT_TRUE(s.server.socketmap.ends_with("/tlspolicy/socketmap.sock") ||
                s.server.socketmap.ends_with("/run/socketmap.sock"));
  }
}

TEST(ConfigDefaults, NonRootDerivesFromXdg) {
  if (geteuid() == 0) GTEST_SKIP() << "running as root: the root defaults apply";
  setenv("XDG_STATE_HOME", "/xdg/state", 1);
  setenv("XDG_RUNTIME_DIR", "/xdg/run", 1);
  const Settings s = load_ok("");
  EXPECT_EQ(s.state_dir, "/xdg/state/tlspolicy");
  EXPECT_EQ(s.store.path, "/xdg/state/tlspolicy/policies.sqlite");
  EXPECT_EQ(s.server.json, "unix:/xdg/run/tlspolicy/tlspolicy.sock");
  unsetenv("XDG_RUNTIME_DIR");
  const Settings t = load_ok("");
  EXPECT_EQ(t.server.admin, "unix:/xdg/state/tlspolicy/run/admin.sock");
  unsetenv("XDG_STATE_HOME");
}

TEST(ConfigDefaults, StateDirDrivesDerivedDefaults) {
  const Settings s = load_ok("state_dir = \"/srv/tp\"\n");
  EXPECT_EQ(s.state_dir, "/srv/tp");
  EXPECT_EQ(s.store.path, "/srv/tp/policies.sqlite");
  const Settings t = load_ok("state_dir = \"/srv/tp\"\n[store]\npath = \"/db/p.sqlite\"\n");
  EXPECT_EQ(t.store.path, "/db/p.sqlite");
}

TEST(ConfigDefaults, ValuesListFollowsTheTable) {
  auto r = load_config_text("", {});
  ASSERT_TRUE(r);
  const auto& docs = setting_docs();
  ASSERT_EQ(r->values.size(), docs.size());
  for (std::size_t i = 0; i < docs.size(); ++i) {
    EXPECT_EQ(r->values[i].name, docs[i].name);
    EXPECT_EQ(r->values[i].origin, Origin::Default) << docs[i].name;
    EXPECT_FALSE(r->values[i].value.empty()) << docs[i].name;
  }
  EXPECT_EQ(r->values.back().name, "policy");
  EXPECT_EQ(r->values.back().value, "[]");
  EXPECT_EQ(find_value(*r, "resolver.timeout")->value, "\"5s\"");
  EXPECT_EQ(find_value(*r, "mta_sts.retry_interval")->value, "\"5m\"");
  EXPECT_EQ(find_value(*r, "resolver.attempts")->value, "2");
  EXPECT_EQ(find_value(*r, "mta_sts.allow_private_addresses")->value, "false");
  EXPECT_EQ(find_value(*r, "resolver.servers")->value, "[]");
}

TEST(ConfigDefaults, SettingDocsAreComplete) {
  std::set<std::string> names;
  for (const auto& d : setting_docs()) {
    EXPECT_TRUE(names.insert(d.name).second) << "duplicate " << d.name;
    EXPECT_FALSE(d.type.empty()) << d.name;
    EXPECT_FALSE(d.default_value.empty()) << d.name;
    EXPECT_FALSE(d.doc.empty()) << d.name;
    EXPECT_EQ(d.doc.find('\n'), std::string::npos) << d.name;
  }
  for (const char* required : {"state_dir",
                               "log.level",
                               "resolver.mode",
                               "resolver.servers",
                               "resolver.trust_anchor",
                               "resolver.root_hints",
                               "resolver.timeout",
                               "resolver.attempts",
                               "mta_sts.ca_file",
                               "mta_sts.exclude",
                               "mta_sts.allow_private_addresses",
                               "mta_sts.connect_timeout",
                               "mta_sts.fetch_timeout",
                               "mta_sts.max_policy_bytes",
                               "mta_sts.retry_interval",
                               "mta_sts.connect_to",
                               "store.path",
                               "store.busy_timeout",
                               "store.url",
                               "store.timeout",
                               "fleet.node",
                               "server.socketmap",
                               "server.json",
                               "server.admin",
                               "policy"}) {
    EXPECT_TRUE(names.contains(required)) << required;
  }
}

/// The `[section]` or top level of each `key = ...` line of a TOML text, as "section.key";
/// `commented` also reads lines that start with '#' followed by a key.
std::vector<std::string> keys_of(const std::string& text, bool commented) {
  std::vector<std::string> keys;
  std::string section;
  std::istringstream in{text};
  for (std::string line; std::getline(in, line);) {
    if (line.starts_with("[[")) break;  // the example [[policy]] table ends the file
    if (line.starts_with("[")) {
      section = line.substr(1, line.find(']') - 1);
      continue;
    }
    if (commented && line.starts_with("#") && line.find(" = ") != std::string::npos &&
        line.find(' ') == line.find(" = ")) {
      line.erase(0, 1);
    }
    const auto eq = line.find(" = ");
    if (line.empty() || line.starts_with("#") || eq == std::string::npos) continue;
    keys.push_back(section.empty() ? line.substr(0, eq) : section + "." + line.substr(0, eq));
  }
  return keys;
}

// check-config --defaults: a file that loads to exactly the embedded defaults, each setting
// once, under its own table, in the table's order.
TEST(ConfigDefaults, DefaultsFileLoadsToTheDefaults) {
  const std::string text = defaults_toml(false);
  const auto from_file = load_config_text(text, {});
  ASSERT_TRUE(from_file) << from_file.error().detail << "\n" << text;
  const auto embedded = load_config_text("", {});
  ASSERT_TRUE(embedded);
  ASSERT_EQ(from_file->values.size(), embedded->values.size());
  for (std::size_t i = 0; i < embedded->values.size(); ++i) {
    EXPECT_EQ(from_file->values[i].name, embedded->values[i].name);
    EXPECT_EQ(from_file->values[i].value, embedded->values[i].value) << embedded->values[i].name;
    EXPECT_EQ(from_file->values[i].origin, Origin::File) << embedded->values[i].name;
  }
  const auto keys = keys_of(text, false);
  std::vector<std::string> names;
  for (const auto& d : setting_docs()) names.push_back(d.name);
  // The top-level keys come first (TOML puts them before any table): state_dir, policy.
  std::vector<std::string> expected{"state_dir", "policy"};
  for (const auto& n : names) {
    if (n.find('.') != std::string::npos) expected.push_back(n);
  }
  EXPECT_EQ(keys, expected);
}

// check-config --example: the shipped /etc/tlspolicy/tlspolicy.toml. Nothing is set (it loads to
// the defaults with no value from the file), every setting appears commented with its default,
// and the example [[policy]] table is valid once uncommented.
TEST(ConfigDefaults, ExampleFileCommentsEverySetting) {
  const std::string text = defaults_toml(true);
  const auto loaded = load_config_text(text, {});
  ASSERT_TRUE(loaded) << loaded.error().detail;
  for (const auto& v : loaded->values) EXPECT_EQ(v.origin, Origin::Default) << v.name;
  EXPECT_TRUE(keys_of(text, false).empty());
  auto keys = keys_of(text, true);
  std::set<std::string> listed(keys.begin(), keys.end());
  EXPECT_EQ(listed.size(), keys.size()) << "a setting listed twice";
  for (const auto& d : setting_docs()) {
    if (d.name != "policy") {
      EXPECT_TRUE(listed.contains(d.name)) << d.name;
    }
  }
  const auto policy_at = text.find("#[[policy]]");
  ASSERT_NE(policy_at, std::string::npos);
  std::string uncommented;
  std::istringstream in{text.substr(policy_at)};
  for (std::string line; std::getline(in, line);) uncommented += line.substr(1) + "\n";
  const auto with_policy = load_ok(uncommented);
  ASSERT_EQ(with_policy.policies.size(), 1U);
  EXPECT_EQ(with_policy.policies[0].domain, "example.org");
}

TEST(ConfigDefaults, OriginNames) {
  EXPECT_EQ(to_string(Origin::Default), "default");
  EXPECT_EQ(to_string(Origin::File), "file");
  EXPECT_EQ(to_string(Origin::CommandLine), "command-line");
}

// ------------------------------------------------------- file and --set

constexpr std::string_view k_full = R"(
state_dir = "/srv/tlspolicy"
[log]
level = "debug"
[resolver]
mode = "validate"
servers = ["127.0.0.1@5353", "::1", "192.0.2.1"]
trust_anchor = "/etc/unbound/root.key"
root_hints = "/etc/unbound/root.hints"
timeout = "250ms"
attempts = 3
[mta_sts]
ca_file = "/etc/ssl/test-ca.pem"
exclude = ["Example.COM.", "bücher.example"]
allow_private_addresses = true
connect_timeout = 2
fetch_timeout = "1m"
max_policy_bytes = 1024
retry_interval = 0
connect_to = ["mta-sts.example.com:443:127.0.0.1:8443", "::[::1]:"]
[store]
path = "/tmp/p.sqlite"
busy_timeout = "100ms"
url = "postgresql://tlspolicy@db.example:5432/tlspolicy"
timeout = "500ms"
[fleet]
node = "mx-out-1"
[limits]
decision_deadline = "5s"
max_mx_hosts = 4
max_in_flight = 500
max_connections = 2048
[server]
socketmap = "unix:/tmp/sm.sock"
json = "127.0.0.1:8461"
admin = "[::1]:8462"
metrics = "127.0.0.1:9466"
socket_mode = "0660"
socket_owner = "tlspolicy"
socket_group = "postfix"

[tlsrpt]
enabled = false
socket = "unix:/tmp/tlsrpt.sock"
send = true
submitter = "Example.NET"
contact_info = "tls-reports@example.net"
organization_name = "Example Net"
sendmail = ["/usr/lib/sendmail", "-t"]
send_success_reports = false
max_delay = "10m"
keep_days = 30

[[policy]]
domain = "Dane.Example."
action = "require-tls"
verify = "dane"

[[policy]]
domain = "pkix.example"
action = "require-tls"
verify = "pkix"
match = [".Example.NET", "mx.example.org."]

[[policy]]
domain = "plain.example"
action = "opportunistic"
)";

TEST(ConfigValues, SocketModeMustBeOctal) {
  EXPECT_FALSE(load_config_text("[server]\nsocket_mode = \"0999\"\n", {}));
  EXPECT_FALSE(load_config_text("[server]\nsocket_mode = \"rw\"\n", {}));
  auto ok = load_config_text("[server]\nsocket_mode = \"600\"\n", {});
  ASSERT_TRUE(ok) << ok.error().detail;
  EXPECT_EQ(ok->settings.server.socket_mode, 0600u);
}

TEST(ConfigFile, OverridesEveryDefault) {
  const TempFile f{k_full};
  auto r = load_config(f.path(), {});
  ASSERT_TRUE(r) << r.error().detail;
  ASSERT_TRUE(r->file);
  EXPECT_EQ(*r->file, f.path());
  const Settings& s = r->settings;
  EXPECT_EQ(s.state_dir, "/srv/tlspolicy");
  EXPECT_EQ(s.log_level, util::Level::Debug);
  EXPECT_EQ(s.resolver.mode, ResolverMode::Validate);
  EXPECT_EQ(s.resolver.servers, (std::vector<std::string>{"127.0.0.1@5353", "::1", "192.0.2.1"}));
  EXPECT_EQ(s.resolver.trust_anchor, "/etc/unbound/root.key");
  EXPECT_EQ(s.resolver.root_hints, "/etc/unbound/root.hints");
  EXPECT_EQ(s.resolver.timeout, 250ms);
  EXPECT_EQ(s.resolver.attempts, 3);
  EXPECT_EQ(s.mta_sts.ca_file, "/etc/ssl/test-ca.pem");
  EXPECT_EQ(s.mta_sts.exclude, (std::vector<std::string>{"example.com", "xn--bcher-kva.example"}));
  EXPECT_TRUE(s.mta_sts.allow_private_addresses);
  EXPECT_EQ(s.mta_sts.connect_timeout, 2s);
  EXPECT_EQ(s.mta_sts.fetch_timeout, 1min);
  EXPECT_EQ(s.mta_sts.max_policy_bytes, 1024U);
  EXPECT_EQ(s.mta_sts.retry_interval, 0s);
  EXPECT_EQ(s.mta_sts.connect_to.size(), 2U);
  EXPECT_EQ(s.store.path, "/tmp/p.sqlite");
  EXPECT_EQ(s.store.busy_timeout, 100ms);
  EXPECT_EQ(s.store.url, "postgresql://tlspolicy@db.example:5432/tlspolicy");
  EXPECT_EQ(s.store.timeout, 500ms);
  EXPECT_EQ(s.fleet.node, "mx-out-1");
  EXPECT_EQ(s.limits.decision_deadline, 5s);
  EXPECT_EQ(s.limits.max_mx_hosts, 4U);
  EXPECT_EQ(s.limits.max_in_flight, 500U);
  EXPECT_EQ(s.limits.max_connections, 2048U);
  EXPECT_EQ(s.server.socketmap, "unix:/tmp/sm.sock");
  EXPECT_EQ(s.server.json, "127.0.0.1:8461");
  EXPECT_EQ(s.server.admin, "[::1]:8462");
  EXPECT_EQ(s.server.metrics, "127.0.0.1:9466");
  EXPECT_EQ(s.server.socket_mode, 0660u);
  EXPECT_EQ(s.server.socket_owner, "tlspolicy");
  EXPECT_EQ(s.server.socket_group, "postfix");
  EXPECT_FALSE(s.tlsrpt.enabled);
  EXPECT_EQ(s.tlsrpt.socket, "unix:/tmp/tlsrpt.sock");
  EXPECT_TRUE(s.tlsrpt.send);
  EXPECT_EQ(s.tlsrpt.submitter, "example.net");
  EXPECT_EQ(s.tlsrpt.contact_info, "tls-reports@example.net");
  EXPECT_EQ(s.tlsrpt.organization_name, "Example Net");
  EXPECT_EQ(s.tlsrpt.sendmail, (std::vector<std::string>{"/usr/lib/sendmail", "-t"}));
  EXPECT_FALSE(s.tlsrpt.send_success_reports);
  EXPECT_EQ(s.tlsrpt.max_delay, 10min);
  EXPECT_EQ(s.tlsrpt.keep_days, 30);
  ASSERT_EQ(s.policies.size(), 3U);
  EXPECT_EQ(s.policies[0],
            (LocalPolicy{"dane.example", PolicyAction::RequireTls, PolicyVerify::Dane, {}}));
  EXPECT_EQ(s.policies[1], (LocalPolicy{"pkix.example",
                                        PolicyAction::RequireTls,
                                        PolicyVerify::Pkix,
                                        {".example.net", "mx.example.org"}}));
  EXPECT_EQ(s.policies[2],
            (LocalPolicy{"plain.example", PolicyAction::Opportunistic, PolicyVerify::None, {}}));
  for (const auto& v : r->values) EXPECT_EQ(v.origin, Origin::File) << v.name;
}

// RPT-14: the submitter is the domain of contact-info; each is derived from the other.
TEST(TlsRptSettings, SubmitterAndContactDeriveFromEachOther) {
  auto from_contact = load_config_text("[tlsrpt]\ncontact_info = \"rpt@Mail.Example.ORG\"\n", {});
  ASSERT_TRUE(from_contact) << from_contact.error().detail;
  EXPECT_EQ(from_contact->settings.tlsrpt.submitter, "mail.example.org");
  EXPECT_EQ(from_contact->settings.tlsrpt.organization_name, "mail.example.org");

  auto from_submitter = load_config_text("[tlsrpt]\nsubmitter = \"example.org\"\n", {});
  ASSERT_TRUE(from_submitter) << from_submitter.error().detail;
  EXPECT_EQ(from_submitter->settings.tlsrpt.contact_info, "postmaster@example.org");

  EXPECT_FALSE(load_config_text(
      "[tlsrpt]\nsubmitter = \"example.org\"\ncontact_info = \"a@example.net\"\n", {}));
  EXPECT_FALSE(load_config_text("[tlsrpt]\ncontact_info = \"no-at-sign\"\n", {}));
  EXPECT_FALSE(load_config_text("[tlsrpt]\nsend = true\nsubmitter = \"localhost\"\n", {}));
  EXPECT_FALSE(load_config_text("[tlsrpt]\nsocket = \"127.0.0.1:25\"\n", {}));
  EXPECT_FALSE(load_config_text("[tlsrpt]\nsendmail = [\"sendmail\"]\n", {}));
}

TEST(TlsRptSettings, DatagramSocketSitsBesideTheJsonSocket) {
  auto r = load_config_text("[server]\njson = \"unix:/srv/x/json.sock\"\n", {});
  ASSERT_TRUE(r) << r.error().detail;
  EXPECT_EQ(r->settings.tlsrpt.socket, "unix:/srv/x/tlsrpt.sock");
}

TEST(ConfigFile, OnlyGivenKeysComeFromTheFile) {
  const TempFile f{"[resolver]\nattempts = 4\n"};
  auto r = load_config(f.path(), {});
  ASSERT_TRUE(r) << r.error().detail;
  EXPECT_EQ(find_value(*r, "resolver.attempts")->origin, Origin::File);
  EXPECT_EQ(find_value(*r, "resolver.attempts")->value, "4");
  EXPECT_EQ(find_value(*r, "resolver.mode")->origin, Origin::Default);
  EXPECT_EQ(find_value(*r, "policy")->origin, Origin::Default);
}

TEST(ConfigFile, MissingFileIsAnError) {
  auto r = load_config(std::filesystem::path{"/nonexistent/tlspolicy.toml"}, {});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::ConfigSyntax);
  EXPECT_NE(r.error().detail.find("cannot read /nonexistent/tlspolicy.toml"), std::string::npos)
      << r.error().detail;
}

TEST(ConfigFile, DirectoryIsAnError) {
  auto r = load_config(std::filesystem::temp_directory_path(), {});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::ConfigSyntax);
  EXPECT_NE(r.error().detail.find("cannot read"), std::string::npos) << r.error().detail;
}

TEST(ConfigFile, DefaultFileOnlyWhenPresent) {
  auto r = load_config(std::nullopt, {});
  if (std::filesystem::exists(k_default_config_file)) {
    if (r) {
      ASSERT_TRUE(r->file);
      EXPECT_EQ(*r->file, k_default_config_file);
    }
  } else {
    ASSERT_TRUE(r) << r.error().detail;
    EXPECT_FALSE(r->file);
  }
}

TEST(ConfigFile, ErrorsNameKeyAndFile) {
  const TempFile f{"[resolver]\nmod = \"validate\"\n"};
  auto r = load_config(f.path(), {});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::ConfigSyntax);
  EXPECT_NE(r.error().detail.find("unknown setting 'resolver.mod' in " + f.path().string() + ":2"),
            std::string::npos)
      << r.error().detail;

  const TempFile g{"\n\n[resolver]\ntimeout = \"soon\"\n"};
  auto q = load_config(g.path(), {});
  ASSERT_FALSE(q);
  EXPECT_EQ(q.error().code, Errc::ConfigValue);
  EXPECT_NE(q.error().detail.find("'resolver.timeout' in " + g.path().string() + ":4"),
            std::string::npos)
      << q.error().detail;
}

TEST(ConfigFile, TomlSyntaxError) {
  const Error e = load_err("[resolver\nmode = 1\n");
  EXPECT_EQ(e.code, Errc::ConfigSyntax);
  EXPECT_NE(e.detail.find("TOML syntax error in <config text>:1"), std::string::npos) << e.detail;
  EXPECT_EQ(load_err("a = 1\na = 2\n").code, Errc::ConfigSyntax);
  EXPECT_EQ(load_err("x = \"unterminated\n").code, Errc::ConfigSyntax);
  EXPECT_EQ(load_err(std::string_view{"x = \"\xff\"\n"}).code, Errc::ConfigSyntax);
}

TEST(ConfigSet, OverridesFileAndDefaults) {
  const TempFile f{"[resolver]\nmode = \"validate\"\nattempts = 4\n"};
  auto r = load_config(f.path(), {"resolver.mode=trust-ad", "resolver.servers=[\"127.0.0.1@5353\"]",
                                  "resolver.timeout=250ms", "log.level = \"error\"",
                                  "mta_sts.allow_private_addresses=true", "state_dir=/tmp/x y"});
  ASSERT_TRUE(r) << r.error().detail;
  const Settings& s = r->settings;
  EXPECT_EQ(s.resolver.mode, ResolverMode::TrustAd);
  EXPECT_EQ(s.resolver.servers, std::vector<std::string>{"127.0.0.1@5353"});
  EXPECT_EQ(s.resolver.timeout, 250ms);
  EXPECT_EQ(s.resolver.attempts, 4);
  EXPECT_EQ(s.log_level, util::Level::Error);
  EXPECT_TRUE(s.mta_sts.allow_private_addresses);
  EXPECT_EQ(s.state_dir, "/tmp/x y");
  EXPECT_EQ(s.store.path, "/tmp/x y/policies.sqlite");
  EXPECT_EQ(find_value(*r, "resolver.mode")->origin, Origin::CommandLine);
  EXPECT_EQ(find_value(*r, "resolver.attempts")->origin, Origin::File);
  EXPECT_EQ(find_value(*r, "resolver.root_hints")->origin, Origin::Default);
}

TEST(ConfigSet, LaterOverrideWins) {
  const Settings s = load_ok("", {"resolver.attempts=3", "resolver.attempts=5"});
  EXPECT_EQ(s.resolver.attempts, 5);
}

TEST(ConfigSet, BareStringAndEmptyValue) {
  const Settings s = load_ok("mta_sts.ca_file = \"/x.pem\"", {"mta_sts.ca_file="});
  EXPECT_EQ(s.mta_sts.ca_file, "");
  // A value that parses as more than one TOML key is taken as a string.
  const Error e = load_err("", {"log.level=info\nstate_dir = \"/x\""});
  EXPECT_EQ(e.code, Errc::ConfigValue);
}

TEST(ConfigSet, Errors) {
  Error e = load_err("", {"resolver.mod=validate"});
  EXPECT_EQ(e.code, Errc::ConfigSyntax);
  EXPECT_NE(e.detail.find("unknown setting 'resolver.mod' in --set"), std::string::npos)
      << e.detail;
  e = load_err("", {"resolver.mode"});
  EXPECT_EQ(e.code, Errc::ConfigSyntax);
  e = load_err("", {"=x"});
  EXPECT_EQ(e.code, Errc::ConfigSyntax);
  e = load_err("", {"resolver=x"});
  EXPECT_EQ(e.code, Errc::ConfigSyntax);
  e = load_err("", {"resolver.attempts=many"});
  EXPECT_EQ(e.code, Errc::ConfigValue);
  EXPECT_NE(e.detail.find("'resolver.attempts' in --set"), std::string::npos) << e.detail;
  e = load_err("", {"resolver.mode=bogus"});
  EXPECT_EQ(e.code, Errc::ConfigValue);
}

TEST(ConfigSet, PolicyReplacesFilePolicies) {
  auto r = load_config_text(
      "[[policy]]\ndomain = \"a.example\"\naction = \"opportunistic\"\n",
      {R"(policy=[{domain = "b.example", action = "require-tls", verify = "none"}])"});
  ASSERT_TRUE(r) << r.error().detail;
  ASSERT_EQ(r->settings.policies.size(), 1U);
  EXPECT_EQ(r->settings.policies[0].domain, "b.example");
  EXPECT_EQ(find_value(*r, "policy")->origin, Origin::CommandLine);
}

// ------------------------------------------------------- type errors

struct BadValue {
  std::string_view toml;
  std::string_view key;
};

TEST(ConfigErrors, EveryTypeError) {
  const BadValue cases[] = {
      {"state_dir = 1", "state_dir"},
      {"state_dir = \"relative/dir\"", "state_dir"},
      {"log.level = \"verbose\"", "log.level"},
      {"log.level = true", "log.level"},
      {"resolver.mode = \"recursive\"", "resolver.mode"},
      {"resolver.mode = [\"trust-ad\"]", "resolver.mode"},
      {"resolver.servers = \"127.0.0.1\"", "resolver.servers"},
      {"resolver.servers = [1]", "resolver.servers"},
      {"resolver.servers = [\"localhost\"]", "resolver.servers"},
      {"resolver.servers = [\"127.0.0.1@99999\"]", "resolver.servers"},
      {"resolver.trust_anchor = 5", "resolver.trust_anchor"},
      {"resolver.root_hints = \"root.hints\"", "resolver.root_hints"},
      {"resolver.timeout = 1.5", "resolver.timeout"},
      {"resolver.timeout = \"0s\"", "resolver.timeout"},
      {"resolver.timeout = \"2h\"", "resolver.timeout"},
      {"resolver.attempts = 0", "resolver.attempts"},
      {"resolver.attempts = 11", "resolver.attempts"},
      {"resolver.attempts = \"2\"", "resolver.attempts"},
      {"mta_sts.ca_file = false", "mta_sts.ca_file"},
      {"mta_sts.exclude = [\"not a domain\"]", "mta_sts.exclude"},
      {"mta_sts.exclude = [\"192.0.2.1\"]", "mta_sts.exclude"},
      {"mta_sts.exclude = \"example.com\"", "mta_sts.exclude"},
      {"mta_sts.allow_private_addresses = \"yes\"", "mta_sts.allow_private_addresses"},
      {"mta_sts.allow_private_addresses = 1", "mta_sts.allow_private_addresses"},
      {"mta_sts.connect_timeout = -1", "mta_sts.connect_timeout"},
      {"mta_sts.fetch_timeout = \"fast\"", "mta_sts.fetch_timeout"},
      {"mta_sts.max_policy_bytes = 1023", "mta_sts.max_policy_bytes"},
      {"mta_sts.max_policy_bytes = 1048577", "mta_sts.max_policy_bytes"},
      {"mta_sts.max_policy_bytes = 9223372036854775807", "mta_sts.max_policy_bytes"},
      {"mta_sts.retry_interval = \"-5m\"", "mta_sts.retry_interval"},
      {"mta_sts.retry_interval = \"1500ms\"", "mta_sts.retry_interval"},
      {"mta_sts.retry_interval = \"25h\"", "mta_sts.retry_interval"},
      {"mta_sts.connect_to = [\"example.com:443\"]", "mta_sts.connect_to"},
      {"mta_sts.connect_to = [\"a:443:b:99999\"]", "mta_sts.connect_to"},
      {"store.path = \"db.sqlite\"", "store.path"},
      {"store.busy_timeout = {}", "store.busy_timeout"},
      {"store.url = \"mysql://x\"", "store.url"},
      {"store.url = 5", "store.url"},
      {"store.timeout = \"10ms\"", "store.timeout"},
      {"fleet.node = \"a b\"", "fleet.node"},
      {"server.socketmap = \"/run/x.sock\"", "server.socketmap"},
      {"server.socketmap = \"unix:relative.sock\"", "server.socketmap"},
      {"server.json = \"localhost:8461\"", "server.json"},
      {"server.json = \"127.0.0.1\"", "server.json"},
      {"server.json = \"127.0.0.1:0\"", "server.json"},
      {"server.admin = \"::1:8462\"", "server.admin"},
      {"server.admin = 8462", "server.admin"},
      {"server.metrics = \"9466\"", "server.metrics"},
      {"resolver = 1", "resolver"},
      {"policy = 1", "policy"},
      {"policy = [1]", "policy"},
  };
  for (const auto& c : cases) {
    const Error e = load_err(c.toml);
    EXPECT_EQ(e.code, Errc::ConfigValue) << c.toml << ": " << e.detail;
    EXPECT_NE(e.detail.find("'" + std::string{c.key} + "'"), std::string::npos)
        << c.toml << ": " << e.detail;
    EXPECT_NE(e.detail.find("<config text>"), std::string::npos) << e.detail;
  }
}

// Enumerations are parsed once, at load: an unknown word is an error naming the key and
// listing the words.
TEST(ConfigErrors, UnknownEnumerationWords) {
  const std::string_view cases[][2] = {
      {"log.level = \"verbose\"",
       "invalid value for 'log.level' in <config text>:1: expected one of \"debug\", \"info\", "
       "\"notice\", \"warning\", \"error\", got \"verbose\""},
      {"[resolver]\nmode = \"Validate\"",
       "invalid value for 'resolver.mode' in <config text>:2: expected one of \"trust-ad\", "
       "\"validate\", got \"Validate\""},
      {"[[policy]]\ndomain = \"a.example\"\naction = \"deliver\"",
       "invalid value for 'policy.action' in <config text>:3: expected one of \"require-tls\", "
       "\"opportunistic\", got \"deliver\""},
      {"[[policy]]\ndomain = \"a.example\"\naction = \"require-tls\"\nverify = \"dnssec\"",
       "invalid value for 'policy.verify' in <config text>:4: expected one of \"dane\", "
       "\"pkix\", \"none\", got \"dnssec\""},
  };
  for (const auto& c : cases) {
    const Error e = load_err(c[0]);
    EXPECT_EQ(e.code, Errc::ConfigValue) << c[0];
    EXPECT_NE(e.detail.find(c[1]), std::string::npos) << e.detail;
  }
}

TEST(ConfigValues, EnumerationWords) {
  EXPECT_EQ(to_string(ResolverMode::Validate), "validate");
  EXPECT_EQ(to_string(ResolverMode::TrustAd), "trust-ad");
  EXPECT_EQ(to_string(PolicyAction::RequireTls), "require-tls");
  EXPECT_EQ(to_string(PolicyAction::Opportunistic), "opportunistic");
  EXPECT_EQ(to_string(PolicyVerify::Dane), "dane");
  EXPECT_EQ(to_string(PolicyVerify::Pkix), "pkix");
  EXPECT_EQ(to_string(PolicyVerify::None), "none");
  for (const auto* level : {"debug", "info", "notice", "warning", "error"}) {
    auto r = load_config_text(std::string{"log.level = \""} + level + "\"", {});
    ASSERT_TRUE(r) << level;
    EXPECT_EQ(find_value(*r, "log.level")->value, std::string{"\""} + level + "\"");
  }
  EXPECT_EQ(load_ok("log.level = \"warning\"").log_level, util::Level::Warning);
  EXPECT_EQ(load_ok("log.level = \"notice\"").log_level, util::Level::Notice);
}

TEST(ConfigErrors, UnixSocketPathTooLong) {
  const std::string path(120, 'a');
  const Error e = load_err("server.socketmap = \"unix:/" + path + "\"");
  EXPECT_EQ(e.code, Errc::ConfigValue);
  EXPECT_NE(e.detail.find("longer than"), std::string::npos) << e.detail;
}

TEST(ConfigErrors, UnknownKeys) {
  const std::string_view cases[][2] = {
      {"[resolver]\nmod = \"x\"", "unknown setting 'resolver.mod' in <config text>:2"},
      {"[foo]\nbar = 1", "unknown setting 'foo' in <config text>:1"},
      {"level = \"debug\"", "unknown setting 'level'"},
      {"[resolver.sub]\nx = 1", "unknown setting 'resolver.sub'"},
      {"[log]\nlevel = \"info\"\n[[log.x]]\n", "unknown setting 'log.x'"},
      {"[[policy]]\ndomain = \"a.example\"\naction = \"opportunistic\"\nverfy = \"dane\"",
       "unknown setting 'policy.verfy' in <config text>:4"},
  };
  for (const auto& c : cases) {
    const Error e = load_err(c[0]);
    EXPECT_EQ(e.code, Errc::ConfigSyntax) << c[0];
    EXPECT_NE(e.detail.find(c[1]), std::string::npos) << e.detail;
  }
}

TEST(ConfigErrors, FirstErrorInFileOrder) {
  const Error e = load_err("[resolver]\nzzz = 1\naaa = 2\n");
  EXPECT_NE(e.detail.find("'resolver.zzz'"), std::string::npos) << e.detail;
}

// ------------------------------------------------------------ [[policy]]

TEST(ConfigPolicy, Valid) {
  const Settings s = load_ok(R"(
[[policy]]
domain = "bücher.example"
action = "require-tls"
verify = "pkix"
[[policy]]
domain = "none.example"
action = "require-tls"
verify = "none"
[[policy]]
domain = "pkix2.example"
action = "require-tls"
verify = "pkix"
match = []
)");
  ASSERT_EQ(s.policies.size(), 3U);
  EXPECT_EQ(s.policies[0].domain, "xn--bcher-kva.example");
  EXPECT_EQ(s.policies[0].verify, PolicyVerify::Pkix);
  EXPECT_TRUE(s.policies[0].match.empty());
  EXPECT_EQ(s.policies[1].verify, PolicyVerify::None);
}

TEST(ConfigPolicy, Invalid) {
  const BadValue cases[] = {
      {"[[policy]]\naction = \"opportunistic\"", "policy.domain"},
      {"[[policy]]\ndomain = 1\naction = \"opportunistic\"", "policy.domain"},
      {"[[policy]]\ndomain = \"-bad-.example\"\naction = \"opportunistic\"", "policy.domain"},
      {"[[policy]]\ndomain = \"a.example\"", "policy.action"},
      {"[[policy]]\ndomain = \"a.example\"\naction = \"deliver\"", "policy.action"},
      {"[[policy]]\ndomain = \"a.example\"\naction = \"require-tls\"", "policy.verify"},
      {"[[policy]]\ndomain = \"a.example\"\naction = \"require-tls\"\nverify = \"dnssec\"",
       "policy.verify"},
      {"[[policy]]\ndomain = \"a.example\"\naction = \"opportunistic\"\nverify = \"none\"",
       "policy.verify"},
      {"[[policy]]\ndomain = \"a.example\"\naction = \"require-tls\"\nverify = \"dane\"\n"
       "match = [\"a.example\"]",
       "policy.match"},
      {"[[policy]]\ndomain = \"a.example\"\naction = \"require-tls\"\nverify = \"pkix\"\n"
       "match = \"a.example\"",
       "policy.match"},
      {"[[policy]]\ndomain = \"a.example\"\naction = \"require-tls\"\nverify = \"pkix\"\n"
       "match = [\"..a.example\"]",
       "policy.match"},
      {"[[policy]]\ndomain = \"a.example\"\naction = \"require-tls\"\nverify = \"pkix\"\n"
       "match = [\".\"]",
       "policy.match"},
      {"[policy]\ndomain = \"a.example\"", "policy"},
  };
  for (const auto& c : cases) {
    const Error e = load_err(c.toml);
    EXPECT_EQ(e.code, Errc::ConfigValue) << c.toml << ": " << e.detail;
    EXPECT_NE(e.detail.find("'" + std::string{c.key} + "'"), std::string::npos)
        << c.toml << ": " << e.detail;
  }
}

TEST(ConfigPolicy, DuplicateDomains) {
  const Error e = load_err(R"(
[[policy]]
domain = "example.com"
action = "opportunistic"
[[policy]]
domain = "EXAMPLE.com."
action = "require-tls"
verify = "dane"
)");
  EXPECT_EQ(e.code, Errc::ConfigValue);
  EXPECT_NE(e.detail.find("duplicate"), std::string::npos) << e.detail;
  EXPECT_NE(e.detail.find("example.com"), std::string::npos) << e.detail;
  EXPECT_NE(e.detail.find("<config text>:6"), std::string::npos) << e.detail;
}

TEST(ConfigPolicy, RenderedSummary) {
  auto r = load_config_text(R"(
[[policy]]
domain = "a.example"
action = "require-tls"
verify = "pkix"
match = [".a.example", "mx.b.example"]
[[policy]]
domain = "c.example"
action = "opportunistic"
)",
                            {});
  ASSERT_TRUE(r) << r.error().detail;
  const SettingValue* p = find_value(*r, "policy");
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->value,
            "[{domain = \"a.example\", action = \"require-tls\", verify = \"pkix\", match = "
            "[\".a.example\", \"mx.b.example\"]}, {domain = \"c.example\", action = "
            "\"opportunistic\"}]");
  EXPECT_EQ(p->origin, Origin::File);
}

TEST(ConfigPolicy, ExcludeIsNormalisedAndDeduplicated) {
  const Settings s = load_ok("mta_sts.exclude = [\"B.example\", \"b.example.\", \"a.example\"]");
  EXPECT_EQ(s.mta_sts.exclude, (std::vector<std::string>{"b.example", "a.example"}));
}

// ------------------------------------------------------------- durations

TEST(ConfigDurations, Accepted) {
  const std::pair<std::string_view, std::chrono::milliseconds> cases[] = {
      {"\"500ms\"", 500ms}, {"\"5s\"", 5s},   {"\"5m\"", 5min},  {"\"1h\"", 1h},  {"30", 30s},
      {"\"30\"", 30s},      {"\"1ms\"", 1ms}, {"\"3600s\"", 1h}, {"\"60m\"", 1h}, {"\"0001s\"", 1s},
  };
  for (const auto& [text, expected] : cases) {
    const Settings s = load_ok("resolver.timeout = " + std::string{text});
    EXPECT_EQ(s.resolver.timeout, expected) << text;
  }
  EXPECT_EQ(load_ok("store.busy_timeout = 0").store.busy_timeout, 0ms);
  EXPECT_EQ(load_ok("mta_sts.retry_interval = \"24h\"").mta_sts.retry_interval, 24h);
}

TEST(ConfigDurations, Rejected) {
  for (const std::string_view text :
       {"\"\"", "\"s\"", "\"5\"\"", "\"5 s\"", "\"5sec\"", "\"5d\"", "\"-1s\"", "\"+5s\"",
        "\"1.5s\"", "\"5S\"", "\"99999999999999999999s\"", "\"1000000001ms\"", "-5", "true",
        "[\"5s\"]", "1979-05-27", "9223372036854775807"}) {
    auto r = load_config_text("resolver.timeout = " + std::string{text}, {});
    if (r) {
      ADD_FAILURE() << "accepted " << text;
      continue;
    }
    EXPECT_TRUE(r.error().code == Errc::ConfigValue || r.error().code == Errc::ConfigSyntax)
        << text;
  }
}

TEST(ConfigDurations, RenderedInTheLargestExactUnit) {
  auto r = load_config_text(
      "resolver.timeout = \"1500ms\"\nmta_sts.fetch_timeout = 120\nstore.busy_timeout = 0\n"
      "mta_sts.retry_interval = \"7200s\"",
      {});
  ASSERT_TRUE(r) << r.error().detail;
  EXPECT_EQ(find_value(*r, "resolver.timeout")->value, "\"1500ms\"");
  EXPECT_EQ(find_value(*r, "mta_sts.fetch_timeout")->value, "\"2m\"");
  EXPECT_EQ(find_value(*r, "store.busy_timeout")->value, "\"0s\"");
  EXPECT_EQ(find_value(*r, "mta_sts.retry_interval")->value, "\"2h\"");
}

// -------------------------------------------------------- listeners etc.

TEST(ConfigListeners, Accepted) {
  for (const std::string_view v :
       {"unix:/run/x.sock", "127.0.0.1:1", "0.0.0.0:65535", "[::1]:8461", "[2001:db8::1]:25"}) {
    const Settings s = load_ok("server.json = \"" + std::string{v} + "\"");
    EXPECT_EQ(s.server.json, v);
  }
}

TEST(ConfigConnectTo, AcceptedForms) {
  for (const std::string_view v : {"mta-sts.example.com:443:127.0.0.1:8443", "::127.0.0.1:",
                                   ":443:[::1]:8443", "mta-sts.example.com:443:localhost:8443"}) {
    const Settings s = load_ok("mta_sts.connect_to = [\"" + std::string{v} + "\"]");
    ASSERT_EQ(s.mta_sts.connect_to.size(), 1U) << v;
  }
}

// ------------------------------------------------- round trip and limits

TEST(ConfigValues, RoundTripThroughTheLoader) {
  auto r = load_config_text(k_full, {});
  ASSERT_TRUE(r) << r.error().detail;
  std::string text;
  for (const auto& v : r->values) text += v.name + " = " + v.value + "\n";
  auto again = load_config_text(text, {});
  ASSERT_TRUE(again) << again.error().detail << "\n" << text;
  ASSERT_EQ(again->values.size(), r->values.size());
  for (std::size_t i = 0; i < r->values.size(); ++i) {
    EXPECT_EQ(again->values[i].value, r->values[i].value) << r->values[i].name;
  }
  EXPECT_EQ(again->settings.policies, r->settings.policies);
}

TEST(ConfigValues, StringsAreEscaped) {
  auto r = load_config_text("resolver.root_hints = \"/a\\\"b\\\\c\\td\"", {});
  ASSERT_TRUE(r) << r.error().detail;
  EXPECT_EQ(find_value(*r, "resolver.root_hints")->value, R"("/a\"b\\c\td")");
}

TEST(ConfigLimits, DeepNestingIsRejectedNotFatal) {
  std::string dotted = "a";
  for (int i = 0; i < 200000; ++i) dotted += ".a";
  EXPECT_EQ(load_err(dotted + " = 1\n").code, Errc::ConfigSyntax);
  EXPECT_EQ(load_err("[" + dotted + "]\n").code, Errc::ConfigSyntax);
  EXPECT_EQ(load_err("x = " + std::string(100000, '[')).code, Errc::ConfigSyntax);
  EXPECT_EQ(load_err("x = " + std::string(100000, '{')).code, Errc::ConfigSyntax);
  // Dots inside strings and floats do not count.
  const Settings s = load_ok("resolver.root_hints = \"/" + std::string(100, '.') + "\"\n");
  EXPECT_EQ(s.resolver.root_hints.size(), 101U);
}

TEST(ConfigLimits, OversizedInputIsRejected) {
  const std::string big = "# " + std::string(std::size_t{1} << 20, 'x') + "\n";
  const Error e = load_err(big);
  EXPECT_EQ(e.code, Errc::ConfigSyntax);
  EXPECT_NE(e.detail.find("larger than"), std::string::npos) << e.detail;
  const TempFile f{big};
  auto r = load_config(f.path(), {});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::ConfigSyntax);
}

// ------------------------------------------------------------------ docs

/// docs/configuration.md must mention every setting as `name`, and every
/// setting it lists in a table whose first column is "setting" must exist
/// (Postfix check-postconf-undocumented, both directions).
TEST(ConfigDocs, EverySettingDocumentedAndNoOther) {
  const std::filesystem::path doc_path =
      std::filesystem::path{TLSPOLICY_SOURCE_DIR} / "docs" / "configuration.md";
  std::ifstream in{doc_path};
  ASSERT_TRUE(in) << "cannot read " << doc_path;
  const std::string doc{std::istreambuf_iterator<char>{in}, std::istreambuf_iterator<char>{}};

  std::set<std::string> names;
  for (const auto& d : setting_docs()) {
    names.insert(d.name);
    EXPECT_NE(doc.find("`" + d.name + "`"), std::string::npos)
        << "docs/configuration.md does not document `" << d.name << "`";
  }

  std::istringstream lines{doc};
  std::string line;
  bool in_settings_table = false;
  std::size_t documented = 0;
  while (std::getline(lines, line)) {
    if (!line.starts_with("|")) {
      in_settings_table = false;
      continue;
    }
    const auto end = line.find('|', 1);
    std::string cell = line.substr(1, end == std::string::npos ? std::string::npos : end - 1);
    while (!cell.empty() && cell.front() == ' ') cell.erase(0, 1);
    while (!cell.empty() && cell.back() == ' ') cell.pop_back();
    if (cell == "setting") {
      in_settings_table = true;
      continue;
    }
    if (!in_settings_table || cell.starts_with("-")) continue;
    ASSERT_TRUE(cell.size() > 2 && cell.front() == '`' && cell.back() == '`')
        << "settings table row without a `name`: " << line;
    const std::string name = cell.substr(1, cell.size() - 2);
    EXPECT_TRUE(names.contains(name))
        << "docs/configuration.md documents `" << name << "`, which is not a setting";
    ++documented;
  }
  EXPECT_EQ(documented, names.size()) << "each setting should have exactly one table row";
}

}  // namespace
}  // namespace tlspolicy::config
