// SPDX-License-Identifier: Apache-2.0
//
// NAME
//   tlspolicy-floor - do-nothing socketmap server: the floor of the benchmark
// SYNOPSIS
//   tlspolicy-floor --listen unix:PATH|IP:PORT [--reply TEXT]
// DESCRIPTION
//   Answers every netstring request with the same netstring reply (TEXT,
//   default an MTA-STS "OK secure ..." answer of typical length), on one
//   thread with one level-triggered epoll loop: what any socketmap server
//   must at least do (accept, read, frame, write), and nothing else. SPEC §5
//   measures tlspolicy's cached answers against it with the same load
//   generator (tools/bench/run.sh, docs/performance.md).
// PROTOCOL
//   Netstrings ("<len>:<bytes>,") in both directions; pipelined requests are
//   answered in order. A malformed or over-long (> 10000 bytes) request
//   closes the connection.
// SIGNALS
//   SIGTERM, SIGINT: exit 0 (the Unix socket file is removed).
#include <array>
#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <unordered_map>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

namespace {

constexpr std::size_t k_max_request = 10000;
constexpr int k_max_events = 256;

volatile std::sig_atomic_t g_stop = 0;

extern "C" void on_signal(int /*sig*/) { g_stop = 1; }

[[noreturn]] void die(const char* what) {
  std::fprintf(stderr, "tlspolicy-floor: %s: %s\n", what, std::strerror(errno));
  std::exit(1);
}

[[noreturn]] void usage() {
  std::fprintf(stderr, "usage: tlspolicy-floor --listen unix:PATH|IP:PORT [--reply TEXT]\n");
  std::exit(64);
}

struct Conn {
  std::string in;
  std::string out;
  std::size_t out_off = 0;
  bool want_out = false;
};

/// Removes every complete netstring from the front of `in`, appending `reply` for each.
/// Returns false when the input is malformed.
bool answer_all(std::string& in, std::string& out, std::string_view reply) {
  std::size_t pos = 0;
  for (;;) {
    std::size_t len = 0;
    std::size_t i = pos;
    while (i < in.size() && in[i] >= '0' && in[i] <= '9') {
      len = len * 10 + static_cast<std::size_t>(in[i] - '0');
      if (len > k_max_request) return false;
      ++i;
    }
    if (i == in.size()) break;  // length incomplete
    if (in[i] != ':' || i == pos) return false;
    const std::size_t end = i + 1 + len;  // the ',' position
    if (end >= in.size()) break;          // payload or comma incomplete
    if (in[end] != ',') return false;
    out += reply;
    pos = end + 1;
  }
  in.erase(0, pos);
  return in.size() <= k_max_request + 8;
}

int listen_on(const std::string& endpoint) {
  if (endpoint.rfind("unix:", 0) == 0) {
    const std::string path = endpoint.substr(5);
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    if (path.empty() || path.size() >= sizeof sa.sun_path) usage();
    std::memcpy(sa.sun_path, path.c_str(), path.size() + 1);
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) die("socket");
    ::unlink(path.c_str());
    if (::bind(fd, reinterpret_cast<const sockaddr*>(&sa), sizeof sa) != 0) die("bind");
    if (::listen(fd, 1024) != 0) die("listen");
    return fd;
  }
  const auto colon = endpoint.rfind(':');
  if (colon == std::string::npos) usage();
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  const long port = std::strtol(endpoint.c_str() + colon + 1, nullptr, 10);
  if (port <= 0 || port > 65535) usage();
  sa.sin_port = htons(static_cast<std::uint16_t>(port));
  if (::inet_pton(AF_INET, endpoint.substr(0, colon).c_str(), &sa.sin_addr) != 1) usage();
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) die("socket");
  const int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (::bind(fd, reinterpret_cast<const sockaddr*>(&sa), sizeof sa) != 0) die("bind");
  if (::listen(fd, 1024) != 0) die("listen");
  return fd;
}

}  // namespace

int main(int argc, char** argv) {
  std::string endpoint;
  std::string reply_text = "OK secure match=mx1.hot.bench.unsigned.test servername=hostname";
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--listen" && i + 1 < argc) {
      endpoint = argv[++i];
    } else if (arg == "--reply" && i + 1 < argc) {
      reply_text = argv[++i];
    } else {
      usage();
    }
  }
  if (endpoint.empty()) usage();
  const std::string reply = std::to_string(reply_text.size()) + ":" + reply_text + ",";

  struct sigaction sa {};
  sa.sa_handler = on_signal;
  ::sigaction(SIGTERM, &sa, nullptr);
  ::sigaction(SIGINT, &sa, nullptr);
  std::signal(SIGPIPE, SIG_IGN);

  const int lfd = listen_on(endpoint);
  const bool tcp = endpoint.rfind("unix:", 0) != 0;
  const int ep = ::epoll_create1(EPOLL_CLOEXEC);
  if (ep < 0) die("epoll_create1");
  epoll_event lev{};
  lev.events = EPOLLIN;
  lev.data.fd = lfd;
  if (::epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &lev) != 0) die("epoll_ctl");

  std::unordered_map<int, Conn> conns;
  std::array<epoll_event, k_max_events> events{};
  std::array<char, 64 * 1024> buf{};
  const auto close_conn = [&](int fd) {
    ::close(fd);  // also removes it from the epoll set
    conns.erase(fd);
  };
  const auto set_out_interest = [&](int fd, Conn& c, bool want) {
    if (c.want_out == want) return;
    epoll_event ev{};
    ev.events = EPOLLIN | (want ? EPOLLOUT : 0U);
    ev.data.fd = fd;
    ::epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev);
    c.want_out = want;
  };

  while (g_stop == 0) {
    const int n = ::epoll_wait(ep, events.data(), k_max_events, 500);
    if (n < 0) {
      if (errno == EINTR) continue;
      die("epoll_wait");
    }
    for (int k = 0; k < n; ++k) {
      const epoll_event& ev = events[static_cast<std::size_t>(k)];
      const int fd = ev.data.fd;
      if (fd == lfd) {
        for (;;) {
          const int c = ::accept4(lfd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
          if (c < 0) break;
          if (tcp) {
            const int one = 1;
            ::setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          }
          epoll_event cev{};
          cev.events = EPOLLIN;
          cev.data.fd = c;
          if (::epoll_ctl(ep, EPOLL_CTL_ADD, c, &cev) != 0) {
            ::close(c);
            continue;
          }
          conns[c] = Conn{};
        }
        continue;
      }
      auto it = conns.find(fd);
      if (it == conns.end()) continue;
      Conn& c = it->second;
      bool closed = false;
      if ((ev.events & (EPOLLIN | EPOLLHUP | EPOLLERR)) != 0) {
        const auto got = ::read(fd, buf.data(), buf.size());
        if (got == 0 || (got < 0 && errno != EAGAIN && errno != EINTR)) {
          closed = true;
        } else if (got > 0) {
          c.in.append(buf.data(), static_cast<std::size_t>(got));
          if (!answer_all(c.in, c.out, reply)) closed = true;
        }
      }
      if (closed) {
        close_conn(fd);
        continue;
      }
      while (c.out_off < c.out.size()) {
        const auto sent = ::send(fd, c.out.data() + c.out_off, c.out.size() - c.out_off,
                                 MSG_NOSIGNAL | MSG_DONTWAIT);
        if (sent > 0) {
          c.out_off += static_cast<std::size_t>(sent);
          continue;
        }
        if (sent < 0 && errno == EINTR) continue;
        if (sent < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
        closed = true;
        break;
      }
      if (closed) {
        close_conn(fd);
        continue;
      }
      if (c.out_off == c.out.size()) {
        c.out.clear();
        c.out_off = 0;
      }
      set_out_interest(fd, c, c.out_off < c.out.size());
    }
  }
  if (endpoint.rfind("unix:", 0) == 0) ::unlink(endpoint.substr(5).c_str());
  return 0;
}
