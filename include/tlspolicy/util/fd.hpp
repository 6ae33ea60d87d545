// SPDX-License-Identifier: Apache-2.0
//
// Fd: a move-only owner of one POSIX file descriptor (ccache util/fd.hpp,
// fmt buffered_file). The destructor closes it and never throws; release()
// hands ownership back to the caller. And waiting for one to be ready.
#pragma once

#include <chrono>
#include <utility>

namespace tlspolicy::util {

class Fd {
 public:
  Fd() noexcept = default;
  /// Takes ownership of `fd` (-1 = empty).
  explicit Fd(int fd) noexcept : m_fd(fd) {}
  Fd(Fd&& other) noexcept : m_fd(other.release()) {}
  Fd& operator=(Fd&& other) noexcept {
    if (this != &other) reset(other.release());
    return *this;
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { reset(); }

  [[nodiscard]] int get() const noexcept { return m_fd; }
  [[nodiscard]] bool valid() const noexcept { return m_fd >= 0; }
  explicit operator bool() const noexcept { return valid(); }

  /// Gives up ownership without closing; the Fd becomes empty.
  [[nodiscard]] int release() noexcept { return std::exchange(m_fd, -1); }
  /// Closes the owned descriptor (errors ignored: the fd is gone either way) and owns `fd`.
  void reset(int fd = -1) noexcept;

 private:
  int m_fd = -1;
};

/// Waits with poll(2) until `fd` is ready for `events` (POLLIN, POLLOUT) or `deadline`
/// passes; false only for the deadline. An error on the socket counts as ready, so that the
/// read or write that follows reports it; EINTR waits on.
[[nodiscard]] bool wait_ready(int fd, short events, std::chrono::steady_clock::time_point deadline);

}  // namespace tlspolicy::util
