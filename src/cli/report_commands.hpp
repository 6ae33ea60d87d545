// SPDX-License-Identifier: Apache-2.0
//
// NAME
//   tlspolicy report - TLS-RPT results and reports (RFC 8460)
// SYNOPSIS
//   tlspolicy report list [--date YYYY-MM-DD] [--domain DOMAIN]
//   tlspolicy report show --date YYYY-MM-DD --domain DOMAIN
//   tlspolicy report generate [--date YYYY-MM-DD] [--domain DOMAIN] [--out DIR]
//   tlspolicy report send [--date YYYY-MM-DD] [--domain DOMAIN]
// DESCRIPTION
//   Works on the store directly (store.path), beside a running daemon.
//   list: results per UTC day and report domain, with the report's state.
//   show: the RFC 8460 §4 JSON of one day and domain (its report id once made).
//   generate: makes the reports of finished days now (the daemon does so each
//   minute); --out writes each as an RFC 8460 §5.1 .json.gz file.
//   send: makes them, then delivers every matching report that is not yet
//   sent, at once and whatever tlsrpt.send says; a sent report is never sent
//   again.
// EXIT STATUS
//   0 done · 64 usage (bad date) · 65 invalid domain · 66 show: nothing counted
//   for that day and domain · 75 send: some report is not delivered yet ·
//   78 configuration or store error.
#pragma once

#include <iosfwd>
#include <string>

#include "tlspolicy/config/settings.hpp"

namespace tlspolicy::cli {

enum class ReportCommand { List, Show, Generate, Send };

struct ReportCommandOptions {
  std::string date;     ///< "" = every day
  std::string domain;   ///< "" = every domain
  std::string out_dir;  ///< generate: write .json.gz files here
};

[[nodiscard]] int cmd_report(const config::Settings& settings, ReportCommand command,
                             const ReportCommandOptions& options, std::ostream& out,
                             std::ostream& err);

}  // namespace tlspolicy::cli
