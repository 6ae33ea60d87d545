// SPDX-License-Identifier: Apache-2.0
//
// Small structured logger: constant messages, variables in key=value fields,
// every value escaped (domain names and request bytes are untrusted). The
// default sink writes one line per event to stderr (journald picks it up).
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "tlspolicy/util/locked.hpp"

namespace tlspolicy::util {

enum class Level { Debug = 7, Info = 6, Notice = 5, Warning = 4, Error = 3 };

struct Field {
  std::string key;
  std::string value;
};

/// A sink receives fully formed events. Thread-safe implementations only.
using LogSink = std::function<void(Level, std::string_view name, std::string_view message,
                                   const std::vector<Field>& fields)>;

/// Rate limit for repeated log events: at most `burst` events per key in
/// each `window`; the first event after a window with suppressed ones
/// reports how many were dropped. Thread-safe; time is passed in (tests).
class RateLimiter {
 public:
  RateLimiter(std::size_t burst, std::chrono::seconds window) : m_burst(burst), m_window(window) {}
  /// Whether to emit an event with `key` at `now`; `suppressed` gets the
  /// number dropped since the last emitted one.
  [[nodiscard]] bool allow(const std::string& key, std::chrono::steady_clock::time_point now,
                           std::size_t& suppressed);

 private:
  struct Slot {
    std::chrono::steady_clock::time_point start;
    std::size_t count = 0;
    std::size_t dropped = 0;
  };
  std::size_t m_burst;
  std::chrono::seconds m_window;
  util::Locked<std::unordered_map<std::string, Slot>> m_slots;
};

class Logger {
 public:
  /// A logger that writes to stderr at `min_level` and above.
  explicit Logger(Level min_level = Level::Info);
  Logger(LogSink sink, Level min_level);

  [[nodiscard]] Logger with_name(std::string_view name) const;

  void log(Level level, std::string_view message, std::initializer_list<Field> fields = {}) const;
  void debug(std::string_view m, std::initializer_list<Field> f = {}) const {
    log(Level::Debug, m, f);
  }
  void info(std::string_view m, std::initializer_list<Field> f = {}) const {
    log(Level::Info, m, f);
  }
  void warn(std::string_view m, std::initializer_list<Field> f = {}) const {
    log(Level::Warning, m, f);
  }
  void error(std::string_view m, std::initializer_list<Field> f = {}) const {
    log(Level::Error, m, f);
  }

  [[nodiscard]] bool enabled(Level level) const noexcept {
    return static_cast<int>(level) <= static_cast<int>(m_min_level);
  }

 private:
  std::shared_ptr<const LogSink> m_sink;
  /// Warnings and errors: at most 10 per component and message per minute,
  /// so a flood of bad requests or failing domains cannot flood the journal.
  std::shared_ptr<RateLimiter> m_limiter;
  std::string m_name;
  Level m_min_level;
};

/// "key=value" text with the value quoted and escaped when needed.
[[nodiscard]] std::string format_fields(const std::vector<Field>& fields);

/// A logger that drops everything (tests, fuzz targets).
[[nodiscard]] Logger null_logger();

}  // namespace tlspolicy::util
