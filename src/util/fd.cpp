// SPDX-License-Identifier: Apache-2.0
//
// util::Fd's close and wait_ready (kept out of the header so <unistd.h> and <poll.h> stay out
// of include/).
#include "tlspolicy/util/fd.hpp"

#include <algorithm>
#include <cerrno>

#include <poll.h>
#include <unistd.h>

namespace tlspolicy::util {

void Fd::reset(int fd) noexcept {
  const int old = std::exchange(m_fd, fd);
  // Linux closes the descriptor even when close() reports EINTR: never retry.
  if (old >= 0) ::close(old);
}

bool wait_ready(int fd, short events, std::chrono::steady_clock::time_point deadline) {
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                          deadline - std::chrono::steady_clock::now())
                          .count();
    if (left <= 0) return false;
    pollfd p{fd, events, 0};
    const int n = ::poll(&p, 1, static_cast<int>(std::min<long long>(left, 1'000'000'000)));
    if (n > 0) return true;
    if (n == 0) return false;
    if (errno != EINTR) return true;
  }
}

}  // namespace tlspolicy::util
