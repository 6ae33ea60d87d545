// SPDX-License-Identifier: Apache-2.0
//
// NAME
//   notify - the daemon's state told to the service manager (sd_notify(3))
// PROTOCOL
//   Datagrams of "KEY=VALUE" lines to $NOTIFY_SOCKET (a path, or "@name" in the abstract
//   namespace), as sd_notify(3) sends them; notify.cpp speaks the protocol itself:
//     READY=1 + STATUS=…         every listener open, the first generation built
//     RELOADING=1 + MONOTONIC_USEC=… + STATUS=…   a SIGHUP reload begins
//     READY=1 + STATUS=…         the reload ended, with the new or the old configuration
//     STOPPING=1 + STATUS=…      the drain of SIGTERM/SIGINT begins
//     WATCHDOG=1                 the engine loop turned (every half of WATCHDOG_USEC)
//   Without NOTIFY_SOCKET every call is a no-op; with it, a failed send is ignored (the
//   service manager's problem, never the daemon's).
// THREADS
//   Any thread; the environment is read when the object is made (never changed after).
// SEE ALSO
//   tools/systemd/tlspolicy.service (Type=notify, WatchdogSec=), docs/operations.md
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace tlspolicy::daemon {

class Notifier {
 public:
  /// Reads NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID (sd_watchdog_enabled(3)).
  Notifier();

  /// True when NOTIFY_SOCKET is set.
  [[nodiscard]] bool enabled() const noexcept { return m_enabled; }
  /// The watchdog interval the manager expects pings within (WATCHDOG_USEC, when
  /// WATCHDOG_PID is unset or names this process); nullopt when there is no watchdog.
  [[nodiscard]] std::optional<std::chrono::microseconds> watchdog() const noexcept {
    return m_watchdog;
  }

  void ready(std::string_view status) const;
  void reloading(std::string_view status) const;
  void stopping(std::string_view status) const;
  void watchdog_ping() const;

 private:
  void send(std::string_view state, std::string_view status) const;

  bool m_enabled = false;
  std::string m_socket;  ///< NOTIFY_SOCKET's address ('\0' first for the abstract namespace)
  std::optional<std::chrono::microseconds> m_watchdog;
};

/// How often to ping for a watchdog interval: half of it (sd_watchdog_enabled(3)), at least
/// 1 ms.
[[nodiscard]] std::chrono::milliseconds watchdog_period(std::chrono::microseconds interval);

}  // namespace tlspolicy::daemon
