// SPDX-License-Identifier: Apache-2.0
//
// NAME
//   tlspolicy-delayer - holds every packet of one netfilter queue for a fixed time (tools/bench)
// SYNOPSIS
//   tlspolicy-delayer --queue N --delay-ms MS
// DESCRIPTION
//   The kernel here has no sch_netem, so the benchmark makes distance with netfilter: an
//   iptables rule (-j NFQUEUE --queue-num N) inside the network namespace the benchmark
//   creates hands each matching packet to this program, which gives it back (NF_ACCEPT)
//   MS milliseconds later, in arrival order. A rule per direction on mangle PREROUTING (every
//   loopback packet passes it once, after its sender let go of it) delays a round trip by
//   2 × MS. Only the packet's metadata is copied
//   to user space. Runs until SIGTERM or SIGINT; then accepts what it still holds and exits 0.
//   Prints "ready" on stdout once the queue is bound.
// LIMITS
//   At most 1 000 000 packets held (the kernel queue is sized to match; a packet that does not
//   fit is dropped by the kernel, as a congested link would). Exit 1 when the queue cannot be
//   bound (no CAP_NET_ADMIN, queue taken, no nfnetlink_queue), 64 on a usage error.
#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <string_view>

#include <arpa/inet.h>
#include <poll.h>
#include <sys/socket.h>

extern "C" {
#include <libnetfilter_queue/libnetfilter_queue.h>
#include <linux/netfilter.h>
}

namespace {

using Clock = std::chrono::steady_clock;

constexpr std::uint32_t k_max_held = 1000000;

volatile std::sig_atomic_t g_stop = 0;
void on_signal(int) { g_stop = 1; }

struct Held {
  std::uint32_t id;
  Clock::time_point release;
};

struct Delayer {
  std::chrono::microseconds delay{};
  std::deque<Held> held;
  std::uint64_t seen = 0;
};

int on_packet(nfq_q_handle* /*qh*/, nfgenmsg* /*msg*/, nfq_data* data, void* arg) {
  auto& d = *static_cast<Delayer*>(arg);
  const nfqnl_msg_packet_hdr* hdr = nfq_get_msg_packet_hdr(data);
  if (hdr == nullptr) return 0;
  d.held.push_back(Held{ntohl(hdr->packet_id), Clock::now() + d.delay});
  ++d.seen;
  return 0;
}

[[noreturn]] void usage(const char* why) {
  std::fprintf(stderr, "tlspolicy-delayer: %s\nusage: tlspolicy-delayer --queue N --delay-ms MS\n",
               why);
  std::exit(64);
}

}  // namespace

int main(int argc, char** argv) {
  long queue = -1;
  double delay_ms = -1;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string_view a = argv[i];
    if (a == "--queue") {
      queue = std::strtol(argv[i + 1], nullptr, 10);
    } else if (a == "--delay-ms") {
      delay_ms = std::strtod(argv[i + 1], nullptr);
    } else {
      usage("unknown option");
    }
  }
  if (argc % 2 == 0 || queue < 0 || queue > 65535 || !(delay_ms >= 0) || delay_ms > 60000) {
    usage("--queue 0..65535 and --delay-ms 0..60000 are required");
  }
  Delayer d;
  d.delay = std::chrono::microseconds{static_cast<std::int64_t>(delay_ms * 1000)};

  nfq_handle* h = nfq_open();
  if (h == nullptr) {
    std::perror("tlspolicy-delayer: nfq_open");
    return 1;
  }
  nfq_q_handle* qh = nfq_create_queue(h, static_cast<std::uint16_t>(queue), &on_packet, &d);
  if (qh == nullptr) {
    std::fprintf(stderr, "tlspolicy-delayer: cannot bind queue %ld: %s\n", queue,
                 std::strerror(errno));
    nfq_close(h);
    return 1;
  }
  if (nfq_set_mode(qh, NFQNL_COPY_META, 0) < 0 || nfq_set_queue_maxlen(qh, k_max_held) < 0) {
    std::perror("tlspolicy-delayer: queue settings");
    return 1;
  }
  nfnl_rcvbufsiz(nfq_nfnlh(h), 32U << 20U);
  std::signal(SIGTERM, on_signal);
  std::signal(SIGINT, on_signal);
  std::printf("ready\n");
  std::fflush(stdout);

  const int fd = nfq_fd(h);
  alignas(8) char buf[65536];
  const auto release_due = [&](Clock::time_point now) {
    while (!d.held.empty() && d.held.front().release <= now) {
      nfq_set_verdict(qh, d.held.front().id, NF_ACCEPT, 0, nullptr);
      d.held.pop_front();
    }
  };
  while (g_stop == 0) {
    int wait_ms = 100;
    if (!d.held.empty()) {
      const auto left =
          std::chrono::ceil<std::chrono::milliseconds>(d.held.front().release - Clock::now());
      wait_ms = static_cast<int>(std::clamp<std::int64_t>(left.count(), 0, 100));
    }
    pollfd p{fd, POLLIN, 0};
    const int n = ::poll(&p, 1, wait_ms);
    if (n > 0 && (p.revents & POLLIN) != 0) {
      for (;;) {  // drain what the kernel queued
        const auto got = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
        if (got < 0) break;
        nfq_handle_packet(h, buf, static_cast<int>(got));
      }
    }
    release_due(Clock::now());
  }
  release_due(Clock::time_point::max());
  std::fprintf(stderr, "tlspolicy-delayer: queue %ld: %llu packets delayed %.1f ms\n", queue,
               static_cast<unsigned long long>(d.seen), delay_ms);
  nfq_destroy_queue(qh);
  nfq_close(h);
  return 0;
}
