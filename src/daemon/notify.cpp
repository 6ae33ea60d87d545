// SPDX-License-Identifier: Apache-2.0
//
// The service manager notifications (notify.hpp): the one place that calls libsystemd.
#include "notify.hpp"

#include <cstdint>
#include <cstdlib>
#include <ctime>
#include <string>

#include <systemd/sd-daemon.h>

namespace tlspolicy::daemon {
namespace {

/// STATUS= is one line: a newline in it would start another assignment.
std::string one_line(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  return out;
}

std::uint64_t monotonic_usec() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1000000U +
         static_cast<std::uint64_t>(ts.tv_nsec) / 1000U;
}

}  // namespace

Notifier::Notifier() {
  const char* socket = std::getenv("NOTIFY_SOCKET");
  m_enabled = socket != nullptr && *socket != '\0';
  std::uint64_t usec = 0;
  if (m_enabled && ::sd_watchdog_enabled(0, &usec) > 0 && usec > 0) {
    m_watchdog = std::chrono::microseconds(usec);
  }
}

void Notifier::send(std::string_view state, std::string_view status) const {
  if (!m_enabled) return;
  std::string message(state);
  if (!status.empty()) message += "\nSTATUS=" + one_line(status);
  (void)::sd_notify(0, message.c_str());
}

void Notifier::ready(std::string_view status) const { send("READY=1", status); }

void Notifier::reloading(std::string_view status) const {
  // MONOTONIC_USEC lets a manager that knows Type=notify-reload tell this reload from
  // an earlier one (sd_notify(3)); others ignore it.
  send("RELOADING=1\nMONOTONIC_USEC=" + std::to_string(monotonic_usec()), status);
}

void Notifier::stopping(std::string_view status) const { send("STOPPING=1", status); }

void Notifier::watchdog_ping() const { send("WATCHDOG=1", ""); }

std::chrono::milliseconds watchdog_period(std::chrono::microseconds interval) {
  const auto half = std::chrono::duration_cast<std::chrono::milliseconds>(interval / 2);
  return half < std::chrono::milliseconds(1) ? std::chrono::milliseconds(1) : half;
}

}  // namespace tlspolicy::daemon
