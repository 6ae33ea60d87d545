// SPDX-License-Identifier: Apache-2.0
//
// Private to src/daemon: the daemon's own work on the engine loop, beside the decisions.
//   TLS-RPT datagrams  the libtlsrpt socket (Postfix 3.10+ smtp_tlsrpt_socket_name) is
//                      watched on the loop; each datagram is parsed there and counted in
//                      the store on the pool. Malformed or oversized ones are counted and
//                      dropped, never fatal.
//   policy refresh     every 10 minutes, stored policies due for refresh (about daily) are
//                      fetched anew, a few at once (STS-34, STS-35; RFC 8461 §3.3, §10.2).
//   TLS-RPT reports    every minute (first 5 s after start, to catch up on days that ended
//                      while it was down) the pool makes the day's reports and sends those
//                      due (RFC 8460 §4.1, §5); a tick still running is not started again.
// THREADS
//   Construct, use and destroy on the engine loop's thread. Destruction stops the timers and
//   the watch; a refresh pass or tick already running ends on its own (shutdown() cancels
//   the lookups it waits for).
#pragma once

#include <atomic>
#include <memory>
#include <vector>

#include "tlspolicy/event/loop.hpp"
#include "tlspolicy/util/fd.hpp"

#include "state.hpp"

namespace tlspolicy::daemon {

class Maintenance {
 public:
  /// `datagrams`: the TLS-RPT socket (non-blocking), or an empty Fd when collection is off.
  Maintenance(Context& ctx, util::Fd datagrams);
  ~Maintenance();
  Maintenance(const Maintenance&) = delete;
  Maintenance& operator=(const Maintenance&) = delete;

 private:
  void receive();
  void count(std::string_view bytes, std::size_t size);
  void refresh();
  void tick();

  Context& m_ctx;
  util::Fd m_socket;
  event::Watch m_watch;
  std::vector<char> m_buffer;
  event::TimerId m_refresh_timer = 0;
  event::TimerId m_tick_timer = 0;
  std::shared_ptr<bool> m_refreshing = std::make_shared<bool>(false);
  std::shared_ptr<std::atomic<bool>> m_ticking = std::make_shared<std::atomic<bool>>(false);
};

}  // namespace tlspolicy::daemon
