// SPDX-License-Identifier: Apache-2.0
//
// The service manager notifications (src/daemon/notify.hpp), the sd_notify(3) protocol: the
// test binds the datagram socket that NOTIFY_SOCKET names, as systemd would (a path, or a
// name in the abstract namespace), and reads what arrives. Each test sets the variables it needs
// (one process per test under ctest; nothing else runs threads here).
#include "notify.hpp"

#include <chrono>
#include <cstddef>
#include <cstdlib>
#include <string>

#include <gtest/gtest.h>

#include "tlspolicy/util/fd.hpp"

#include "support/testing.hpp"
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

namespace tlspolicy::daemon {
namespace {

using namespace std::chrono_literals;

/// A bound Unix datagram socket and NOTIFY_SOCKET naming it.
class NotifySocket {
 public:
  /// `abstract`: "@tlspolicy-test-<pid>" in the abstract namespace, as systemd's own
  /// manager socket may be; else a file in a temporary directory.
  explicit NotifySocket(bool abstract = false)
      : m_path(abstract ? "@tlspolicy-test-" + std::to_string(::getpid())
                        : (m_dir.path() / "notify.sock").string()) {
    m_fd = util::Fd{::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)};
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    m_path.copy(addr.sun_path, sizeof addr.sun_path - 1);
    socklen_t len = sizeof addr;
    if (abstract) {
      addr.sun_path[0] = '\0';
      len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + m_path.size());
    }
    EXPECT_EQ(::bind(m_fd.get(), reinterpret_cast<const sockaddr*>(&addr), len), 0);
    ::setenv("NOTIFY_SOCKET", m_path.c_str(), 1);
  }
  ~NotifySocket() { ::unsetenv("NOTIFY_SOCKET"); }
  NotifySocket(const NotifySocket&) = delete;
  NotifySocket& operator=(const NotifySocket&) = delete;

  /// The next datagram, "" when none is waiting (sd_notify() has sent before it returns).
  std::string next() {
    char buffer[4096];
    const auto n = ::recv(m_fd.get(), buffer, sizeof buffer, 0);
    return n > 0 ? std::string(buffer, static_cast<std::size_t>(n)) : std::string{};
  }

 private:
  testing::TempDir m_dir;
  std::string m_path;
  util::Fd m_fd;
};

TEST(Notifier, WithoutNotifySocketDoesNothing) {
  ::unsetenv("NOTIFY_SOCKET");
  ::setenv("WATCHDOG_USEC", "30000000", 1);
  const Notifier notify;
  EXPECT_FALSE(notify.enabled());
  EXPECT_FALSE(notify.watchdog());
  notify.ready("serving");  // nowhere to go: no error, no crash
  ::unsetenv("WATCHDOG_USEC");
}

TEST(Notifier, SendsEachStateWithItsStatusLine) {
  NotifySocket socket;
  const Notifier notify;
  ASSERT_TRUE(notify.enabled());
  notify.ready("serving: resolver validate");
  EXPECT_EQ(socket.next(), "READY=1\nSTATUS=serving: resolver validate");
  notify.reloading("reloading");
  const auto reloading = socket.next();
  EXPECT_EQ(reloading.rfind("RELOADING=1\nMONOTONIC_USEC=", 0), 0U) << reloading;
  EXPECT_NE(reloading.find("\nSTATUS=reloading"), std::string::npos) << reloading;
  notify.stopping("stopping");
  EXPECT_EQ(socket.next(), "STOPPING=1\nSTATUS=stopping");
  notify.watchdog_ping();
  EXPECT_EQ(socket.next(), "WATCHDOG=1");
  EXPECT_EQ(socket.next(), "");
}

TEST(Notifier, AbstractNamespaceSocket) {
  NotifySocket socket{true};
  const Notifier n;
  ASSERT_TRUE(n.enabled());
  n.ready("ok");
  EXPECT_EQ(socket.next(), "READY=1\nSTATUS=ok");
}

TEST(Notifier, SocketsItCannotSpeakToAreOff) {
  ::setenv("NOTIFY_SOCKET", "vsock:2:1234", 1);
  EXPECT_FALSE(Notifier{}.enabled());
  ::setenv("NOTIFY_SOCKET", "relative.sock", 1);
  EXPECT_FALSE(Notifier{}.enabled());
  ::unsetenv("NOTIFY_SOCKET");
}

TEST(Notifier, StatusStaysOneLine) {
  NotifySocket socket;
  const Notifier notify;
  notify.ready("reload failed: line 1\nREADY=0");
  EXPECT_EQ(socket.next(), "READY=1\nSTATUS=reload failed: line 1 READY=0");
}

TEST(Notifier, WatchdogForThisProcess) {
  NotifySocket socket;
  ::setenv("WATCHDOG_USEC", "30000000", 1);
  ::setenv("WATCHDOG_PID", std::to_string(::getpid()).c_str(), 1);
  const Notifier notify;
  ASSERT_TRUE(notify.watchdog());
  EXPECT_EQ(*notify.watchdog(), 30s);
  EXPECT_EQ(watchdog_period(*notify.watchdog()), 15s);
  ::unsetenv("WATCHDOG_USEC");
  ::unsetenv("WATCHDOG_PID");
}

TEST(Notifier, NoWatchdogForAnotherProcess) {
  NotifySocket socket;
  ::setenv("WATCHDOG_USEC", "30000000", 1);
  ::setenv("WATCHDOG_PID", std::to_string(::getpid() + 1).c_str(), 1);
  const Notifier notify;
  EXPECT_FALSE(notify.watchdog());
  ::unsetenv("WATCHDOG_USEC");
  ::unsetenv("WATCHDOG_PID");
}

TEST(Notifier, WatchdogPeriodIsHalfTheIntervalAndNeverZero) {
  EXPECT_EQ(watchdog_period(2s), 1s);
  EXPECT_EQ(watchdog_period(1us), 1ms);
}

}  // namespace
}  // namespace tlspolicy::daemon
