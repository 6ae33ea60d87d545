// SPDX-License-Identifier: Apache-2.0
//
// The admin op "status" (proto/status_json.hpp) as text for people: the summary that
// `tlspolicy stats` prints above the raw counters. Times are printed in UTC, RFC 3339, with
// how far they are from the daemon's clock ("in 3h12m", "5m ago").
#pragma once

#include <ostream>
#include <string>

#include "tlspolicy/proto/status_json.hpp"
#include "tlspolicy/util/clock.hpp"

namespace tlspolicy::cli {

/// "in 3h12m", "5m ago", "now": the two largest units of |t - now| (d, h, m, s).
[[nodiscard]] std::string relative_time(util::TimePoint t, util::TimePoint now);

/// Prints the summary, relative times against s.now.
void print_status(std::ostream& out, const proto::StatusSummary& s);

}  // namespace tlspolicy::cli
