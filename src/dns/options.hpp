// SPDX-License-Identifier: Apache-2.0
//
// Private to src/dns: the checks both resolver back-ends make of their options.
#pragma once

#include <chrono>
#include <limits>
#include <string>
#include <utility>

#include "tlspolicy/util/result.hpp"

namespace tlspolicy::dns::detail {

inline Unexpected<Error> invalid_option(std::string detail) {
  return fail(Errc::InvalidArgument, Retry::Permanent, std::move(detail));
}

/// A query timeout is positive and fits poll()'s and libunbound's int milliseconds.
inline Result<void> check_timeout(std::chrono::milliseconds timeout) {
  if (timeout <= std::chrono::milliseconds::zero()) {
    return invalid_option("the DNS timeout must be positive, got " +
                          std::to_string(timeout.count()) + " ms");
  }
  if (timeout.count() > std::numeric_limits<int>::max()) {
    return invalid_option("the DNS timeout of " + std::to_string(timeout.count()) +
                          " ms is too long");
  }
  return {};
}

}  // namespace tlspolicy::dns::detail
