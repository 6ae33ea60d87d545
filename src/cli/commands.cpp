// SPDX-License-Identifier: Apache-2.0
//
// The subcommands of tlspolicy (see commands.hpp for the synopsis and exit
// statuses, docs/man/ for the manual pages).
#include "commands.hpp"

#include <chrono>
#include <ostream>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "tlspolicy/config/settings.hpp"
#include "tlspolicy/daemon/daemon.hpp"
#include "tlspolicy/daemon/runtime.hpp"
#include "tlspolicy/policy/engine.hpp"
#include "tlspolicy/proto/cache_json.hpp"
#include "tlspolicy/proto/decision_json.hpp"
#include "tlspolicy/proto/json_response.hpp"
#include "tlspolicy/proto/status_json.hpp"
#include "tlspolicy/util/version.hpp"

#include "admin_client.hpp"
#include "report_commands.hpp"
#include "status_text.hpp"

namespace tlspolicy::cli {
namespace {

/// How long `lookup --socket` waits for the daemon's decision.
constexpr std::chrono::milliseconds k_lookup_timeout{60'000};
/// How long the admin commands wait (cache.refresh fetches over HTTPS).
constexpr std::chrono::milliseconds k_admin_timeout{120'000};

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

/// The daemon's answer to one request, or the exit status to return.
struct Answer {
  int rc = k_exit_ok;
  proto::JsonResponse response;
};

/// One request line to `endpoint`; prints why on failure. Error responses are
/// printed and mapped to exit statuses here.
Answer ask_daemon(const std::string& endpoint, const std::string& request,
                  std::chrono::milliseconds timeout, std::ostream& err) {
  auto line = exchange_line(endpoint, request, timeout);
  if (!line) {
    err << "tlspolicy: daemon not reachable: " << line.error().detail << '\n';
    return {line.error().retry == Retry::Permanent ? k_exit_usage : k_exit_unavailable, {}};
  }
  auto response = proto::parse_json_response(*line);
  if (!response) {
    err << "tlspolicy: unreadable answer from " << endpoint << ": " << response.error().detail
        << '\n';
    return {k_exit_software, {}};
  }
  if (response->status == "ok") return {k_exit_ok, std::move(*response)};
  const auto& code = response->error_code;
  err << "tlspolicy: " << (code.empty() ? response->status : code) << ": "
      << response->error_message << '\n';
  if (code == "not-found") return {k_exit_noinput, {}};
  if (code == "bad-domain") return {k_exit_dataerr, {}};
  if (code == "admin-only") {
    err << "tlspolicy: " << endpoint << " is not the admin socket (setting server.admin)\n";
    return {k_exit_usage, {}};
  }
  if (code == "fetch-failed" || code == "internal" || code == "timeout") {
    return {k_exit_tempfail, {}};
  }
  return {k_exit_software, {}};
}

/// The member `key` of an ok answer, or nullptr after printing why.
const std::string* payload(const Answer& a, std::string_view key, std::ostream& err) {
  const auto* text = a.response.member(key);
  if (text == nullptr) err << "tlspolicy: the daemon's answer has no \"" << key << "\"\n";
  return text;
}

int cmd_lookup_socket(const std::string& endpoint, const dns::DomainName& domain, bool json,
                      bool explain, bool requiretls, const std::string& recipient,
                      std::ostream& out, std::ostream& err) {
  const auto answer = ask_daemon(
      endpoint, proto::render_decide_request(domain.str(), requiretls, recipient, explain),
      k_lookup_timeout, err);
  if (answer.rc != k_exit_ok) return answer.rc;
  const auto* text = payload(answer, "decision", err);
  if (text == nullptr) return k_exit_software;
  auto decision = proto::decision_from_json(*text);
  if (!decision) {
    err << "tlspolicy: unreadable decision: " << decision.error().detail << '\n';
    return k_exit_software;
  }
  if (json) {
    out << *text << '\n';
  } else {
    print_summary(out, *decision, explain);
  }
  // The wire carries no failure list: only defer is visible in the status.
  return decision->action == policy::Action::Defer ? k_exit_tempfail : k_exit_ok;
}

int cmd_lookup(const GlobalOptions& g, const std::string& domain_text, bool json, bool explain,
               bool requiretls, const std::string& recipient, const std::string& socket,
               std::ostream& out, std::ostream& err) {
  const auto domain = dns::DomainName::parse(domain_text);
  if (!domain) {
    err << "tlspolicy: invalid domain \"" << domain_text << "\": " << domain.error().detail << '\n';
    return k_exit_dataerr;
  }
  if (!socket.empty()) {
    return cmd_lookup_socket(socket, *domain, json, explain, requiretls, recipient, out, err);
  }
  auto cfg = load(g);
  if (!cfg) {
    print_error(err, "configuration", cfg.error());
    return k_exit_config;
  }
  // Diagnostics of a one-shot lookup go to stderr through the logger only at
  // debug; failures are printed below in one readable block.
  const auto level =
      cfg->settings.log_level == util::Level::Debug ? util::Level::Debug : util::Level::Error;
  auto engine = daemon::Standalone::build(cfg->settings, util::Logger{level});
  if (!engine) {
    print_error(err, "cannot start", engine.error());
    return k_exit_config;
  }
  const policy::DecideRequest req{*domain,
                                  requiretls || policy::recipient_requests_requiretls(recipient)};
  const auto decision = (*engine)->decide(req);
  if (json) {
    out << proto::decision_to_json(decision, explain) << '\n';
  } else {
    print_summary(out, decision, explain);
  }
  for (const auto& f : decision.failures) print_error(err, "warning", f);
  if (decision.action == policy::Action::Defer) return k_exit_tempfail;
  return decision.failures.empty() ? k_exit_ok : k_exit_unavailable;
}

// --- commands that talk to the admin socket --------------------------------------

struct AdminOptions {
  std::string socket;  ///< empty: the setting server.admin
  bool json = false;
  bool counters = false;  ///< stats: the raw counters only, without the summary
  std::string domain;
};

/// `stats` without --json or --counters: the daemon's "status" summary above the counters.
/// A daemon that cannot give it (an older one, a store error) still gets its counters shown.
void print_status_summary(const std::string& endpoint, std::ostream& out, std::ostream& err) {
  const auto answer = ask_daemon(endpoint, proto::render_admin_request(proto::JsonOp::Status, ""),
                                 k_admin_timeout, err);
  if (answer.rc != k_exit_ok) {
    err << "tlspolicy: no summary from the daemon; its counters follow\n";
    return;
  }
  const auto* text = payload(answer, "summary", err);
  if (text == nullptr) return;
  const auto summary = proto::status_summary_from_json(*text);
  if (!summary) {
    err << "tlspolicy: unreadable summary: " << summary.error().detail << '\n';
    return;
  }
  print_status(out, *summary);
  out << "counters:\n";
}

void print_policy_line(std::ostream& out, const cache::CachedPolicy& p, util::TimePoint now) {
  out << p.domain << "  " << sts::to_string(p.policy.mode) << "  id " << p.id << "  max_age "
      << p.policy.max_age.count() << "s  expires " << util::format_rfc3339(p.expires_at)
      << (p.expires_at <= now ? " (expired)" : "") << "  mx ";
  for (std::size_t i = 0; i < p.policy.mx.size(); ++i) out << (i ? "," : "") << p.policy.mx[i];
  if (!p.fetched_by.empty()) out << "  fetched by " << p.fetched_by;
  out << '\n';
}

void print_policy(std::ostream& out, const cache::CachedPolicy& p, util::TimePoint now) {
  out << "domain:     " << p.domain << '\n'
      << "id:         " << p.id << '\n'
      << "mode:       " << sts::to_string(p.policy.mode) << '\n'
      << "max_age:    " << p.policy.max_age.count() << "s\n"
      << "fetched_at: " << util::format_rfc3339(p.fetched_at) << '\n'
      << (p.fetched_by.empty() ? "" : "fetched_by: " + p.fetched_by + "\n")
      << "expires_at: " << util::format_rfc3339(p.expires_at)
      << (p.expires_at <= now ? " (expired)" : "") << '\n';
  for (const auto& mx : p.policy.mx) out << "mx:         " << mx << '\n';
  out << "policy:\n";
  std::size_t start = 0;
  while (start < p.policy_text.size()) {
    auto end = p.policy_text.find('\n', start);
    if (end == std::string::npos) end = p.policy_text.size();
    std::string_view line{p.policy_text.data() + start, end - start};
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    out << "  " << line << '\n';
    start = end + 1;
  }
}

int cmd_admin(const GlobalOptions& g, proto::JsonOp op, const AdminOptions& o, std::ostream& out,
              std::ostream& err) {
  std::string domain;
  if (!o.domain.empty()) {
    const auto name = dns::DomainName::parse(o.domain);
    if (!name) {
      err << "tlspolicy: invalid domain \"" << o.domain << "\": " << name.error().detail << '\n';
      return k_exit_dataerr;
    }
    domain = name->str();
  }
  std::string endpoint = o.socket;
  if (endpoint.empty()) {
    const auto cfg = load(g);
    if (!cfg) {
      print_error(err, "configuration", cfg.error());
      return k_exit_config;
    }
    endpoint = cfg->settings.server.admin;
  }
  const auto answer =
      ask_daemon(endpoint, proto::render_admin_request(op, domain), k_admin_timeout, err);
  if (answer.rc != k_exit_ok) return answer.rc;
  const auto now = util::SystemClock{}.now();

  switch (op) {
    case proto::JsonOp::CacheList:
    case proto::JsonOp::CacheExport: {
      const auto* text = payload(answer, "entries", err);
      if (text == nullptr) return k_exit_software;
      if (o.json || op == proto::JsonOp::CacheExport) {
        out << *text << '\n';
        return k_exit_ok;
      }
      auto entries = proto::cached_policies_from_json(*text);
      if (!entries) {
        err << "tlspolicy: unreadable answer: " << entries.error().detail << '\n';
        return k_exit_software;
      }
      if (entries->empty()) out << "no stored MTA-STS policies\n";
      for (const auto& p : *entries) print_policy_line(out, p, now);
      return k_exit_ok;
    }
    case proto::JsonOp::CacheShow: {
      const auto* text = payload(answer, "entry", err);
      if (text == nullptr) return k_exit_software;
      if (o.json) {
        out << *text << '\n';
        return k_exit_ok;
      }
      auto entry = proto::cached_policy_from_json(*text);
      if (!entry) {
        err << "tlspolicy: unreadable answer: " << entry.error().detail << '\n';
        return k_exit_software;
      }
      print_policy(out, *entry, now);
      return k_exit_ok;
    }
    case proto::JsonOp::CachePurge: {
      const auto* removed = answer.response.member("removed");
      if (o.json) {
        out << "{\"removed\":" << (removed ? *removed : "null") << "}\n";
        return k_exit_ok;
      }
      out << "removed " << (removed ? *removed : "?") << " stored "
          << (removed && *removed == "1" ? "policy" : "policies") << " and forgot "
          << (domain.empty() ? "every decision" : "the decisions for " + domain) << '\n';
      return k_exit_ok;
    }
    case proto::JsonOp::CacheRefresh: {
      const auto* text = payload(answer, "mta_sts", err);
      if (text == nullptr) return k_exit_software;
      if (o.json) {
        out << *text << '\n';
        return k_exit_ok;
      }
      out << "refreshed " << domain << '\n';
      auto rows = proto::flatten_json_object(*text);
      if (!rows) {
        out << "mta-sts:  none applies now\n";
        return k_exit_ok;
      }
      for (const auto& [name, value] : *rows) out << name << ": " << value << '\n';
      return k_exit_ok;
    }
    case proto::JsonOp::Stats: {
      const auto* text = payload(answer, "stats", err);
      if (text == nullptr) return k_exit_software;
      if (o.json) {
        out << *text << '\n';
        return k_exit_ok;
      }
      auto rows = proto::flatten_json_object(*text);
      if (!rows) {
        err << "tlspolicy: unreadable answer: " << rows.error().detail << '\n';
        return k_exit_software;
      }
      if (!o.counters) print_status_summary(endpoint, out, err);
      for (const auto& [name, value] : *rows) out << name << ": " << value << '\n';
      return k_exit_ok;
    }
    default:
      return k_exit_software;
  }
}

/// What `check-config` prints.
enum class CheckConfigOutput { Effective, Defaults, Example };

int cmd_check_config(const GlobalOptions& g, CheckConfigOutput what, std::ostream& out,
                     std::ostream& err) {
  if (what != CheckConfigOutput::Effective) {
    out << config::defaults_toml(what == CheckConfigOutput::Example);
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
  return daemon::run(file, g.sets, err);
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
  std::string lookup_socket;
  lookup->add_option("--socket", lookup_socket,
                     "Ask the running daemon on this JSON socket (unix:PATH, PATH or IP:port) "
                     "instead of deciding in process");

  // cache list|show|purge|refresh|export and stats: requests to the admin socket.
  AdminOptions admin;
  const auto admin_flags = [&admin](CLI::App* cmd) {
    cmd->add_option("--socket", admin.socket,
                    "Admin socket (unix:PATH, PATH or IP:port; default: setting server.admin)");
    cmd->add_flag("--json", admin.json, "Print the answer's JSON payload");
  };
  auto* cache = app.add_subcommand("cache", "Inspect and manage the stored MTA-STS policies");
  cache->require_subcommand(1);
  auto* cache_list = cache->add_subcommand("list", "List the stored policies");
  cache_list->add_option("domain", admin.domain, "Only this policy domain");
  auto* cache_show = cache->add_subcommand("show", "Show one stored policy with its text");
  cache_show->add_option("domain", admin.domain, "Policy domain")->required();
  auto* cache_purge =
      cache->add_subcommand("purge", "Delete stored policies and in-memory decisions");
  cache_purge->add_option("domain", admin.domain, "Only this domain (default: all)");
  auto* cache_refresh = cache->add_subcommand(
      "refresh", "Fetch a domain's policy anew; a failed fetch keeps the stored one");
  cache_refresh->add_option("domain", admin.domain, "Policy domain")->required();
  auto* cache_export =
      cache->add_subcommand("export", "Print every stored policy with its text as a JSON array");
  for (auto* cmd : {cache_list, cache_show, cache_purge, cache_refresh, cache_export}) {
    admin_flags(cmd);
  }
  auto* stats = app.add_subcommand(
      "stats",
      "Show what the running daemon holds (cache, TLS-RPT failures, reports), then its counters");
  admin_flags(stats);
  stats->add_flag("--counters", admin.counters, "Only the raw counters, without the summary");

  // report list|show|generate|send: TLS-RPT, on the store directly.
  auto* report = app.add_subcommand("report", "TLS-RPT results and daily reports (RFC 8460)");
  report->require_subcommand(1);
  ReportCommandOptions report_options;
  auto* report_list = report->add_subcommand("list", "Results per day and domain, report states");
  auto* report_show = report->add_subcommand("show", "Print one day's report JSON for a domain");
  auto* report_generate =
      report->add_subcommand("generate", "Make the reports of finished days now");
  auto* report_send =
      report->add_subcommand("send", "Make and deliver every report not yet sent, now");
  for (auto* cmd : {report_list, report_show, report_generate, report_send}) {
    auto* date = cmd->add_option("--date", report_options.date, "UTC day, YYYY-MM-DD");
    auto* dom = cmd->add_option("--domain", report_options.domain, "Report (recipient) domain");
    if (cmd == report_show) {
      date->required();
      dom->required();
    }
  }
  report_generate->add_option("--out", report_options.out_dir,
                              "Also write each report as an RFC 8460 .json.gz file here");

  auto* check = app.add_subcommand("check-config", "Show every setting, its value and its origin");
  CheckConfigOutput check_output = CheckConfigOutput::Effective;
  check->add_flag_callback(
      "--defaults", [&] { check_output = CheckConfigOutput::Defaults; },
      "Print the embedded defaults as a configuration file (TOML) that --config accepts");
  check->add_flag_callback(
      "--example", [&] { check_output = CheckConfigOutput::Example; },
      "Print the example configuration file: every setting commented out, with its default");

  auto* serve = app.add_subcommand("serve", "Run the daemon");
  auto* version = app.add_subcommand("version", "Print the version");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e, out, err);
    return rc == 0 ? k_exit_ok : k_exit_usage;
  }

  try {
    if (*lookup) {
      return cmd_lookup(g, domain, json, explain, requiretls, recipient, lookup_socket, out, err);
    }
    if (*cache) {
      const auto op = *cache_list      ? proto::JsonOp::CacheList
                      : *cache_show    ? proto::JsonOp::CacheShow
                      : *cache_purge   ? proto::JsonOp::CachePurge
                      : *cache_refresh ? proto::JsonOp::CacheRefresh
                                       : proto::JsonOp::CacheExport;
      return cmd_admin(g, op, admin, out, err);
    }
    if (*stats) return cmd_admin(g, proto::JsonOp::Stats, admin, out, err);
    if (*report) {
      auto cfg = load(g);
      if (!cfg) {
        print_error(err, "configuration", cfg.error());
        return k_exit_config;
      }
      const auto command = *report_list   ? ReportCommand::List
                           : *report_show ? ReportCommand::Show
                           : *report_send ? ReportCommand::Send
                                          : ReportCommand::Generate;
      return cmd_report(cfg->settings, command, report_options, out, err);
    }
    if (*check) return cmd_check_config(g, check_output, out, err);
    if (*serve) return cmd_serve(g, err);
    if (*version) {
      out << "tlspolicy " << util::version() << '\n';
      return k_exit_ok;
    }
  } catch (const std::exception& e) {
    err << "tlspolicy: internal error: " << e.what() << '\n';
    return k_exit_software;
  }
  return k_exit_usage;
}

}  // namespace tlspolicy::cli
