// SPDX-License-Identifier: Apache-2.0
//
// `tlspolicy report list|show|generate|send` (report_commands.hpp).
#include "report_commands.hpp"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "tlspolicy/daemon/runtime.hpp"
#include "tlspolicy/tlsrpt/report.hpp"

#include "commands.hpp"

namespace tlspolicy::cli {
namespace {

void print_error(std::ostream& err, std::string_view what, const Error& e) {
  err << "tlspolicy: " << what << ": " << e.detail << " [" << to_string(e.code) << "]\n";
}

std::string state_text(const std::optional<cache::ReportRow>& row) {
  if (!row) return "not made";
  std::string text{cache::to_string(row->state)};
  if (row->state == cache::ReportState::Pending) {
    text += ", next attempt " + util::format_rfc3339(row->next_attempt_at);
  } else if (row->state == cache::ReportState::Sent && row->sent_at) {
    text += " " + util::format_rfc3339(*row->sent_at) + " to " + row->sent_to;
  }
  if (!row->last_error.empty()) text += " (" + row->last_error + ")";
  return text;
}

std::optional<cache::ReportRow> find_row(const std::vector<cache::ReportRow>& rows, tlsrpt::Day day,
                                         const std::string& domain) {
  const auto it = std::find_if(rows.begin(), rows.end(), [&](const cache::ReportRow& r) {
    return r.day == day && r.domain == domain;
  });
  if (it == rows.end()) return std::nullopt;
  return *it;
}

/// The file name part of a report id: its left-hand side, file-name safe.
std::string unique_part(const std::string& report_id) {
  std::string out;
  for (const char c : report_id.substr(0, report_id.find('@'))) {
    const bool safe = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '.' || c == '-' || c == '_';
    out += safe ? c : '_';
  }
  return out;
}

int write_report_file(const daemon::Runtime& rt, const cache::ReportRow& row,
                      const std::string& dir, std::ostream& out, std::ostream& err) {
  auto json = rt.reports->render(row);
  if (!json) {
    print_error(err, "report " + row.report_id, json.error());
    return k_exit_config;
  }
  auto gz = tlsrpt::gzip_compress(*json);
  if (!gz) {
    print_error(err, "gzip", gz.error());
    return k_exit_software;
  }
  const auto path = std::filesystem::path{dir} /
                    tlsrpt::report_filename(rt.settings.tlsrpt.submitter, row.domain, row.day,
                                            unique_part(row.report_id), true);
  std::ofstream file{path, std::ios::binary | std::ios::trunc};
  file.write(gz->data(), static_cast<std::streamsize>(gz->size()));
  if (!file.flush()) {
    err << "tlspolicy: cannot write " << path.string() << '\n';
    return k_exit_config;
  }
  out << "wrote " << path.string() << '\n';
  return k_exit_ok;
}

}  // namespace

int cmd_report(const config::Settings& settings, ReportCommand command,
               const ReportCommandOptions& o, std::ostream& out, std::ostream& err) {
  cache::ReportFilter filter;
  if (!o.date.empty()) {
    auto day = tlsrpt::parse_day(o.date);
    if (!day) {
      err << "tlspolicy: --date: expected YYYY-MM-DD, got \"" << o.date << "\"\n";
      return k_exit_usage;
    }
    filter.day = *day;
  }
  if (!o.domain.empty()) {
    auto name = dns::DomainName::parse(o.domain);
    if (!name) {
      print_error(err, "invalid domain", name.error());
      return k_exit_dataerr;
    }
    filter.domain = name->str();
  }
  auto engine = daemon::Standalone::build(settings, util::Logger{util::Level::Warning});
  if (!engine) {
    print_error(err, "cannot start", engine.error());
    return k_exit_config;
  }
  const auto& rt = (*engine)->runtime();
  auto& store = *rt.report_store;
  auto& reports = *rt.reports;

  if (command == ReportCommand::Generate || command == ReportCommand::Send) {
    auto made = reports.make_reports(filter.day);
    if (!made) {
      print_error(err, "making reports", made.error());
      return k_exit_config;
    }
  }
  auto rows = store.reports(filter);
  if (!rows) {
    print_error(err, "store", rows.error());
    return k_exit_config;
  }

  switch (command) {
    case ReportCommand::List: {
      auto days = store.days(filter);
      if (!days) {
        print_error(err, "store", days.error());
        return k_exit_config;
      }
      for (const auto& d : *days) {
        const auto row = find_row(*rows, d.day, d.domain);
        out << tlsrpt::format_day(d.day) << "  " << d.domain << "  successes " << d.successes
            << "  failures " << d.failures << "  report " << (row ? row->report_id : "-") << "  "
            << state_text(row) << '\n';
      }
      return k_exit_ok;
    }
    case ReportCommand::Show: {
      auto policies = store.aggregate(*filter.day, *filter.domain);
      if (!policies) {
        print_error(err, "store", policies.error());
        return k_exit_config;
      }
      if (policies->empty()) {
        err << "tlspolicy: no TLS-RPT results for " << *filter.domain << " on " << o.date << '\n';
        return k_exit_noinput;
      }
      auto row = find_row(*rows, *filter.day, *filter.domain);
      if (!row) {
        err << "tlspolicy: the report is not made yet (the day is not over, or run `tlspolicy "
               "report generate`); its report-id is provisional\n";
        row = cache::ReportRow{};
        row->report_id = tlsrpt::make_report_id(*filter.day, *filter.domain,
                                                settings.tlsrpt.submitter, "provisional");
        row->day = *filter.day;
        row->domain = *filter.domain;
      }
      auto json = reports.render(*row);
      if (!json) {
        print_error(err, "report", json.error());
        return k_exit_config;
      }
      out << *json << '\n';
      return k_exit_ok;
    }
    case ReportCommand::Generate: {
      for (const auto& row : *rows) {
        out << "report " << row.report_id << "  " << tlsrpt::format_day(row.day) << "  "
            << row.domain << "  " << state_text(row) << '\n';
        if (!o.out_dir.empty()) {
          if (const int rc = write_report_file(rt, row, o.out_dir, out, err); rc != k_exit_ok) {
            return rc;
          }
        }
      }
      return k_exit_ok;
    }
    case ReportCommand::Send: {
      int rc = k_exit_ok;
      for (const auto& row : *rows) {
        if (row.state == cache::ReportState::Sent || row.state == cache::ReportState::Skipped) {
          continue;
        }
        auto outcome = reports.deliver(row);
        if (!outcome) {
          print_error(err, "report " + row.report_id, outcome.error());
          rc = k_exit_tempfail;
          continue;
        }
        out << "report " << row.report_id << "  " << row.domain << "  " << state_text(outcome->row)
            << '\n';
        for (const auto& line : outcome->lines) out << "  " << line << '\n';
        if (outcome->row.state != cache::ReportState::Sent &&
            outcome->row.state != cache::ReportState::Skipped) {
          rc = k_exit_tempfail;
        }
      }
      return rc;
    }
  }
  return k_exit_software;
}

}  // namespace tlspolicy::cli
