// SPDX-License-Identifier: Apache-2.0
//
// FakeClock: a settable Clock. Tests move time with advance(); none sleeps.
#pragma once

#include <atomic>
#include <chrono>

#include "tlspolicy/util/clock.hpp"

namespace tlspolicy::testing {

class FakeClock final : public util::Clock {
 public:
  explicit FakeClock(util::TimePoint start = util::TimePoint{std::chrono::seconds{1'780'000'000}})
      : m_now(start.time_since_epoch().count()) {}
  [[nodiscard]] util::TimePoint now() const override {
    return util::TimePoint{std::chrono::seconds{m_now.load()}};
  }
  void advance(std::chrono::seconds s) { m_now += s.count(); }

 private:
  std::atomic<long long> m_now;
};

}  // namespace tlspolicy::testing
