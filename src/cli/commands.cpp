// SPDX-License-Identifier: Apache-2.0
//
// The subcommands of tlspolicy (see commands.hpp for the synopsis and exit
// statuses, docs/man/ for the manual pages).
#include "commands.hpp"

#include <ostream>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "tlspolicy/config/settings.hpp"
#include "tlspolicy/policy/engine.hpp"
#include "tlspolicy/proto/decision_json.hpp"

#include "daemon.hpp"
#include "runtime.hpp"

namespace tlspolicy::cli {
namespace {

constexpr std::string_view k_version = "0.1.0";

struct GlobalOptions {
  std::string config_file;
  std::vector<std::string> sets;
};

Result<config::LoadedConfig> load(const GlobalOptions& g) {
  std::optional<std::filesystem::path> file;
  if (!g.config_file.empty()) file = g.config_file;
  return config::load_config(file, g.sets);
}

void print_error(std::ostream& err, std::string_view what, const Error& e) {
  err << "tlspolicy: " << what << ": " << e.detail << " [" << to_string(e.code) << "]\n";
}

void print_summary(std::ostream& out, const policy::Decision& d, bool explain) {
  out << "domain:   " << d.domain << '\n'
      << "action:   " << policy::to_string(d.action) << " (verify " << policy::to_string(d.verify)
      << ", source " << policy::to_string(d.source) << ")\n"
      << "reason:   " << d.reason << '\n'
      << "postfix:  " << d.postfix << '\n'
      << "dnssec:   " << dns::to_string(d.dnssec) << " (MX lookup)\n";
  for (const auto& mx : d.mx) {
    out << "mx:       " << mx.preference << ' ' << mx.host << (mx.allowed ? "" : "  NOT ALLOWED")
        << "  verify " << policy::to_string(mx.verify) << '\n';
  }
  if (d.mta_sts) {
    const auto& s = *d.mta_sts;
    out << "mta-sts:  id " << s.id << ", mode " << sts::to_string(s.mode) << ", max_age "
        << s.max_age.count() << "s, fetched " << util::format_rfc3339(s.fetched_at) << ", expires "
        << util::format_rfc3339(s.expires_at) << (s.from_cache ? " (from cache)" : "") << '\n';
    for (const auto& p : s.mx) out << "          mx " << p << '\n';
  } else {
    out << "mta-sts:  none\n";
  }
  if (d.requiretls.requested) {
    out << "requiretls: " << (d.requiretls.satisfiable ? "satisfiable" : "NOT satisfiable")
        << (d.requiretls.peer_must_advertise ? ", peer must advertise REQUIRETLS" : "") << '\n';
  }
  out << "ttl:      " << d.ttl.count() << "s\n";
  if (explain) {
    out << "explain:\n";
    for (const auto& line : d.explain) out << "  - " << line << '\n';
  }
}

int cmd_lookup(const GlobalOptions& g, const std::string& domain_text, bool json, bool explain,
               bool requiretls, const std::string& recipient, std::ostream& out,
               std::ostream& err) {
  const auto domain = dns::DomainName::parse(domain_text);
  if (!domain) {
    err << "tlspolicy: invalid domain \"" << domain_text << "\": " << domain.error().detail << '\n';
    return k_exit_dataerr;
  }
  auto cfg = load(g);
  if (!cfg) {
    print_error(err, "configuration", cfg.error());
    return k_exit_config;
  }
  // Diagnostics of a one-shot lookup go to stderr through the logger only at
  // debug; failures are printed below in one readable block.
  const auto level = cfg->settings.log_level == "debug" ? util::Level::Debug : util::Level::Error;
  auto rt = build_runtime(cfg->settings, util::Logger{level});
  if (!rt) {
    print_error(err, "cannot start", rt.error());
    return k_exit_config;
  }
  policy::DecideRequest req{*domain,
                            requiretls || policy::recipient_requests_requiretls(recipient)};
  const auto decision = (*rt)->engine->decide(req);
  if (json) {
    out << proto::decision_to_json(decision, explain) << '\n';
  } else {
    print_summary(out, decision, explain);
  }
  for (const auto& f : decision.failures) print_error(err, "warning", f);
  if (decision.action == policy::Action::Defer) return k_exit_tempfail;
  return decision.failures.empty() ? k_exit_ok : k_exit_unavailable;
}

int cmd_check_config(const GlobalOptions& g, bool defaults, std::ostream& out, std::ostream& err) {
  if (defaults) {
    for (const auto& row : config::setting_docs()) {
      out << row.name << " = " << row.default_value << "    # " << row.type << ": " << row.doc
          << '\n';
    }
    return k_exit_ok;
  }
  const auto cfg = load(g);
  if (!cfg) {
    print_error(err, "configuration", cfg.error());
    return k_exit_config;
  }
  out << "# config file: " << (cfg->file ? cfg->file->string() : std::string{"(none)"}) << '\n';
  for (const auto& v : cfg->values) {
    out << v.name << " = " << v.value << "    # " << config::to_string(v.origin) << '\n';
  }
  return k_exit_ok;
}

int cmd_serve(const GlobalOptions& g, std::ostream& err) {
  std::optional<std::filesystem::path> file;
  if (!g.config_file.empty()) file = g.config_file;
  return run_daemon(file, g.sets, err);
}

}  // namespace

int run(int argc, const char* const* argv, std::ostream& out, std::ostream& err) {
  CLI::App app{"tlspolicy - outbound transport-security policy engine for mail servers",
               "tlspolicy"};
  app.require_subcommand(1);
  app.fallthrough();
  GlobalOptions g;
  app.add_option("-c,--config", g.config_file,
                 "TOML configuration file (default /etc/tlspolicy/tlspolicy.toml if it exists)");
  app.add_option("--set", g.sets, "Override one setting: section.key=value (repeatable)")
      ->type_size(1)
      ->allow_extra_args(false);

  auto* lookup = app.add_subcommand("lookup", "Decide the TLS policy for one recipient domain");
  std::string domain;
  std::string recipient;
  bool json = false;
  bool explain = false;
  bool requiretls = false;
  lookup->add_option("domain", domain, "Recipient domain (A-label or U-label)")->required();
  lookup->add_flag("--json", json, "Print the decision object as JSON");
  lookup->add_flag("--explain", explain, "Show the step-by-step trail");
  lookup->add_flag("--requiretls", requiretls, "The message carries REQUIRETLS (RFC 8689)");
  lookup->add_option("--recipient", recipient,
                     "Recipient address; a local part ending in +requiretls marks REQUIRETLS");

  auto* check = app.add_subcommand("check-config", "Show every setting, its value and its origin");
  bool defaults = false;
  check->add_flag("--defaults", defaults, "Show the embedded defaults and what each setting means");

  auto* serve = app.add_subcommand("serve", "Run the daemon");
  auto* version = app.add_subcommand("version", "Print the version");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e, out, err);
    return rc == 0 ? k_exit_ok : k_exit_usage;
  }

  try {
    if (*lookup) return cmd_lookup(g, domain, json, explain, requiretls, recipient, out, err);
    if (*check) return cmd_check_config(g, defaults, out, err);
    if (*serve) return cmd_serve(g, err);
    if (*version) {
      out << "tlspolicy " << k_version << '\n';
      return k_exit_ok;
    }
  } catch (const std::exception& e) {
    err << "tlspolicy: internal error: " << e.what() << '\n';
    return k_exit_software;
  }
  return k_exit_usage;
}

}  // namespace tlspolicy::cli
