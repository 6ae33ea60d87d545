// SPDX-License-Identifier: Apache-2.0
//
// util::Fd's close (kept out of the header so <unistd.h> stays out of include/).
#include "tlspolicy/util/fd.hpp"

#include <unistd.h>

namespace tlspolicy::util {

void Fd::reset(int fd) noexcept {
  const int old = std::exchange(m_fd, fd);
  // Linux closes the descriptor even when close() reports EINTR: never retry.
  if (old >= 0) ::close(old);
}

}  // namespace tlspolicy::util
