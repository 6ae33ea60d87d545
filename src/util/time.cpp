// SPDX-License-Identifier: Apache-2.0
//
// RFC 3339 formatting of whole-second UTC time points.
#include <chrono>
#include <cstdio>
#include <string>

#include "tlspolicy/util/clock.hpp"

namespace tlspolicy::util {

std::string format_rfc3339(TimePoint t) {
  const auto days = std::chrono::floor<std::chrono::days>(t);
  const std::chrono::year_month_day ymd{days};
  const std::chrono::hh_mm_ss hms{t - days};
  std::string out(20, '\0');
  const int n = std::snprintf(
      out.data(), out.size() + 1, "%04d-%02u-%02uT%02ld:%02ld:%02ldZ", static_cast<int>(ymd.year()),
      static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
      static_cast<long>(hms.hours().count()), static_cast<long>(hms.minutes().count()),
      static_cast<long>(hms.seconds().count()));
  out.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
  return out;
}

}  // namespace tlspolicy::util
