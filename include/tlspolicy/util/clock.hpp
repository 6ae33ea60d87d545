// SPDX-License-Identifier: Apache-2.0
//
// Clock: the only source of "now". Production code takes a const Clock&;
// tests inject a FakeClock (tests/support/fake_clock.hpp) and never sleep.
#pragma once

#include <chrono>
#include <string>

namespace tlspolicy::util {

using TimePoint = std::chrono::sys_seconds;

class Clock {
 public:
  virtual ~Clock() = default;
  /// Wall-clock time, whole seconds. Thread-safe.
  [[nodiscard]] virtual TimePoint now() const = 0;
};

class SystemClock final : public Clock {
 public:
  [[nodiscard]] TimePoint now() const override {
    return std::chrono::time_point_cast<std::chrono::seconds>(std::chrono::system_clock::now());
  }
};

/// RFC 3339 UTC text, e.g. "2026-11-24T07:00:00Z" (src/util/time.cpp).
[[nodiscard]] std::string format_rfc3339(TimePoint t);

}  // namespace tlspolicy::util
