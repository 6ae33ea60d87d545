// SPDX-License-Identifier: Apache-2.0
//
// RLIMIT_NOFILE for the daemon: see include/tlspolicy/server/fd_limit.hpp.
#include "tlspolicy/server/fd_limit.hpp"

#include <algorithm>
#include <limits>

#include <sys/resource.h>

namespace tlspolicy::server {
namespace {

constexpr std::uint64_t k_unlimited = std::numeric_limits<std::uint64_t>::max();

std::uint64_t from_rlim(rlim_t v) noexcept {
  return v == RLIM_INFINITY ? k_unlimited : static_cast<std::uint64_t>(v);
}

rlim_t to_rlim(std::uint64_t v) noexcept {
  return v == k_unlimited ? RLIM_INFINITY : static_cast<rlim_t>(v);
}

}  // namespace

FdLimitPlan plan_fd_limit(std::uint64_t soft, std::uint64_t hard, std::size_t max_connections,
                          std::size_t reserve) noexcept {
  const std::uint64_t need = static_cast<std::uint64_t>(max_connections) + reserve;
  const std::uint64_t limit = std::max(soft, std::min(need, hard));
  std::uint64_t fit = limit > reserve ? limit - reserve : limit / 2;
  fit = std::clamp<std::uint64_t>(fit, 1, std::max<std::size_t>(max_connections, 1));
  return FdLimitPlan{limit, static_cast<std::size_t>(fit)};
}

FdLimitPlan ensure_fd_limit(std::size_t max_connections, std::size_t reserve) noexcept {
  rlimit now{};
  if (::getrlimit(RLIMIT_NOFILE, &now) != 0) return FdLimitPlan{0, max_connections};
  const std::uint64_t soft = from_rlim(now.rlim_cur);
  const auto plan = plan_fd_limit(soft, from_rlim(now.rlim_max), max_connections, reserve);
  if (plan.soft == soft) return plan;
  const rlimit wanted{to_rlim(plan.soft), now.rlim_max};
  if (::setrlimit(RLIMIT_NOFILE, &wanted) != 0) {
    return plan_fd_limit(soft, soft, max_connections, reserve);
  }
  return plan;
}

}  // namespace tlspolicy::server
