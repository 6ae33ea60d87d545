// SPDX-License-Identifier: Apache-2.0
//
// Logger: key=value lines on stderr. Every value is escaped, because domain
// names, TXT strings and request bytes are untrusted (no log injection).
#include "tlspolicy/util/log.hpp"

#include <cstdio>
#include <mutex>

namespace tlspolicy::util {
namespace {

bool needs_quotes(std::string_view v) {
  if (v.empty()) return true;
  for (const char c : v) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7f || c == '"' || c == '=' || c == '\\') return true;
  }
  return false;
}

void append_escaped(std::string& out, std::string_view v) {
  if (!needs_quotes(v)) {
    out += v;
    return;
  }
  out += '"';
  for (const char c : v) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (u < 0x20 || u >= 0x7f) {
      static constexpr char k_hex[] = "0123456789abcdef";
      out += "\\x";
      out += k_hex[u >> 4];
      out += k_hex[u & 0xf];
    } else {
      out += c;
    }
  }
  out += '"';
}

std::string_view level_name(Level l) {
  switch (l) {
    case Level::Debug:
      return "debug";
    case Level::Info:
      return "info";
    case Level::Notice:
      return "notice";
    case Level::Warning:
      return "warning";
    case Level::Error:
      return "error";
  }
  return "info";
}

void stderr_sink(Level level, std::string_view name, std::string_view message,
                 const std::vector<Field>& fields) {
  static std::mutex mu;  // one writer of stderr at a time: guards the fd, not a value
  std::string line = "<";
  line += std::to_string(static_cast<int>(level));
  line += ">level=";
  line += level_name(level);
  if (!name.empty()) {
    line += " component=";
    append_escaped(line, name);
  }
  line += " msg=";
  append_escaped(line, message);
  if (!fields.empty()) {
    line += ' ';
    line += format_fields(fields);
  }
  line += '\n';
  const std::lock_guard lock{mu};
  std::fwrite(line.data(), 1, line.size(), stderr);
}

}  // namespace

std::string format_fields(const std::vector<Field>& fields) {
  std::string out;
  for (const auto& f : fields) {
    if (!out.empty()) out += ' ';
    out += f.key;
    out += '=';
    append_escaped(out, f.value);
  }
  return out;
}

bool RateLimiter::allow(const std::string& key, std::chrono::steady_clock::time_point now,
                        std::size_t& suppressed) {
  const auto slots = m_slots.lock();
  if (slots->size() > 10000) slots->clear();  // bounded memory under a key flood
  auto& slot = (*slots)[key];
  if (slot.count == 0 || now - slot.start >= m_window) {
    suppressed = slot.dropped;
    slot = Slot{now, 1, 0};
    return true;
  }
  if (slot.count < m_burst) {
    ++slot.count;
    suppressed = 0;
    return true;
  }
  ++slot.dropped;
  return false;
}

namespace {
constexpr std::size_t k_log_burst = 10;
constexpr std::chrono::seconds k_log_window{60};
}  // namespace

Logger::Logger(Level min_level)
    : m_sink(std::make_shared<const LogSink>(stderr_sink)),
      m_limiter(std::make_shared<RateLimiter>(k_log_burst, k_log_window)),
      m_min_level(min_level) {}

Logger::Logger(LogSink sink, Level min_level)
    : m_sink(std::make_shared<const LogSink>(std::move(sink))),
      m_limiter(std::make_shared<RateLimiter>(k_log_burst, k_log_window)),
      m_min_level(min_level) {}

Logger Logger::with_name(std::string_view name) const {
  Logger child = *this;
  child.m_name = m_name.empty() ? std::string(name) : m_name + "." + std::string(name);
  return child;
}

void Logger::log(Level level, std::string_view message, std::initializer_list<Field> fields) const {
  if (!enabled(level) || !m_sink || !*m_sink) return;
  std::vector<Field> all(fields);
  if (static_cast<int>(level) <= static_cast<int>(Level::Warning) && m_limiter) {
    std::size_t suppressed = 0;
    if (!m_limiter->allow(m_name + '\n' + std::string(message), std::chrono::steady_clock::now(),
                          suppressed)) {
      return;
    }
    if (suppressed > 0) all.push_back({"suppressed", std::to_string(suppressed)});
  }
  (*m_sink)(level, m_name, message, all);
}

Logger null_logger() { return Logger{LogSink{}, Level::Error}; }

}  // namespace tlspolicy::util
