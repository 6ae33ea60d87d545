// SPDX-License-Identifier: Apache-2.0
//
// The service manager notifications (notify.hpp). The sd_notify(3) protocol itself, not
// libsystemd: one datagram to the Unix socket NOTIFY_SOCKET names ("@" = the abstract
// namespace), and WATCHDOG_USEC / WATCHDOG_PID read as sd_watchdog_enabled(3) reads them. systemd
// documents the protocol as a stable interface to be reimplemented (sd_notify(3), NOTES);
// linking libsystemd brought it and five more libraries, about 0.7 MB of resident memory
// (docs/performance.md), against the 30 MB bar.
#include "notify.hpp"

#include <charconv>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <optional>
#include <string>

#include "tlspolicy/util/fd.hpp"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

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

/// An unsigned decimal environment variable; nullopt when unset or not a number.
std::optional<std::uint64_t> env_number(const char* name) {
  const char* v = std::getenv(name);  // NOLINT(concurrency-mt-unsafe): read at start only
  if (v == nullptr || *v == '\0') return std::nullopt;
  std::uint64_t n = 0;
  const auto* end = v + std::strlen(v);
  const auto [ptr, ec] = std::from_chars(v, end, n);
  if (ec != std::errc{} || ptr != end) return std::nullopt;
  return n;
}

std::uint64_t monotonic_usec() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1000000U +
         static_cast<std::uint64_t>(ts.tv_nsec) / 1000U;
}

}  // namespace

Notifier::Notifier() {
  const char* socket = std::getenv("NOTIFY_SOCKET");  // NOLINT(concurrency-mt-unsafe)
  const std::string_view path = socket == nullptr ? std::string_view{} : std::string_view{socket};
  // A file system path or "@abstract"; anything else (vsock:, too long) is not for us.
  if ((path.starts_with('/') || path.starts_with('@')) &&
      path.size() < sizeof(sockaddr_un::sun_path)) {
    m_socket = std::string{path};
    if (m_socket.front() == '@') m_socket.front() = '\0';
  }
  m_enabled = !m_socket.empty();
  // sd_watchdog_enabled(3): WATCHDOG_USEC, for this process when WATCHDOG_PID names one.
  const auto usec = env_number("WATCHDOG_USEC");
  const auto pid = env_number("WATCHDOG_PID");
  const bool ours = !pid || *pid == static_cast<std::uint64_t>(::getpid());
  if (m_enabled && usec && *usec > 0 && ours) m_watchdog = std::chrono::microseconds(*usec);
}

void Notifier::send(std::string_view state, std::string_view status) const {
  if (!m_enabled) return;
  std::string message(state);
  if (!status.empty()) message += "\nSTATUS=" + one_line(status);
  const util::Fd fd{::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)};
  if (!fd) return;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, m_socket.data(), m_socket.size());
  const auto len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + m_socket.size());
  // The manager tells the sender by the kernel's credentials (NotifyAccess=main). A lost
  // notification is not an error of ours: the manager's timeouts apply.
  // NOLINTNEXTLINE(cppcoreguidelines-pro-type-reinterpret-cast): the sockets API
  (void)::sendto(fd.get(), message.data(), message.size(), MSG_NOSIGNAL,
                 reinterpret_cast<const sockaddr*>(&addr), len);
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
