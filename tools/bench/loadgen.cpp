// SPDX-License-Identifier: Apache-2.0
//
// NAME
//   tlspolicy-loadgen - closed-loop socketmap load generator (tools/bench)
// SYNOPSIS
//   tlspolicy-loadgen --connect unix:PATH|IP:PORT [--connections N] [--threads T]
//                     (--request TEXT | --keys FILE) [--requests N] [--seconds S]
//                     [--warmup S] [--drain S] [--expect PREFIX] [--stats-socket unix:PATH]
//   tlspolicy-loadgen --connect unix:PATH|IP:PORT --probe --request TEXT
//                     [--since-ns NS] [--timeout S]
// DESCRIPTION
//   Load: opens N persistent connections, then each connection sends one
//   netstring request, waits for the netstring reply and sends the next
//   (closed loop), until --requests measured replies or --warmup + --seconds
//   have passed, whichever comes first; then it sends nothing more and waits
//   up to --drain seconds for the replies still due. With --request every
//   request is TEXT; with --keys FILE each line of FILE is sent once (cold
//   lookups: the run ends when every line was answered, or at the time
//   limit). A line is REQUEST, or REQUEST<TAB>EXPECT<TAB>CLASS: the reply must
//   start with one of EXPECT's '|'-separated prefixes (instead of --expect),
//   and the line's latency and outcome are also counted under CLASS (healthy
//   and hostile domains in one run). Replies to requests sent during --warmup
//   are not measured.
//   Connections are spread over T threads, each with its own epoll loop
//   (default 1: the machine has 2 cores, one is the server's).
//   Probe: connects (retrying every millisecond while the socket does not
//   accept yet) and sends TEXT until one reply arrives, then prints the time
//   since NS (CLOCK_REALTIME nanoseconds, e.g. `date +%s%N` taken before the
//   server was started): the server's start-up time.
//   --stats-socket: while the load runs, asks that tlspolicy admin socket for
//   {"op":"stats"} every 5 ms and reports the largest "in_flight" seen.
// OUTPUT
//   One JSON object on stdout: counts, qps, latency percentiles (µs, from
//   the request's write to the reply's read), replies by status word (OK,
//   NOTFOUND, TEMP, PERM, other), replies not starting with --expect, this
//   process's CPU time; with classes, the same per class under "classes". Exit 0 when every
//   measured request was answered and none was unexpected, 1 otherwise, 64 on a usage error.
// LIMITS
//   Bounded in count and time; it talks only to the endpoint it is given.
#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

namespace {

using Clock = std::chrono::steady_clock;
using TimePoint = Clock::time_point;

constexpr std::size_t k_max_reply = 100000;  // SPEC §4

struct Options {
  std::string endpoint;
  std::size_t connections = 32;
  std::size_t threads = 1;
  std::string request;
  std::string keys_file;
  std::uint64_t max_requests = 0;  // 0: no count limit
  double seconds = 10;
  double warmup = 0;
  double drain = 5;
  double timeout = 10;
  std::string expect;
  std::string stats_socket;
  bool probe = false;
  std::int64_t since_ns = -1;
};

[[noreturn]] void usage(const char* why) {
  std::fprintf(stderr,
               "tlspolicy-loadgen: %s\n"
               "usage: tlspolicy-loadgen --connect unix:PATH|IP:PORT [--connections N] "
               "[--threads T]\n"
               "         (--request TEXT | --keys FILE) [--requests N] [--seconds S] "
               "[--warmup S] [--drain S]\n"
               "         [--expect PREFIX] [--stats-socket unix:PATH]\n"
               "       tlspolicy-loadgen --connect ENDPOINT --probe --request TEXT "
               "[--since-ns NS] [--timeout S]\n",
               why);
  std::exit(64);
}

double parse_double(const char* s) {
  char* end = nullptr;
  const double v = std::strtod(s, &end);
  if (end == s || *end != '\0' || !(v >= 0)) usage("bad number");
  return v;
}

std::uint64_t parse_u64(const char* s) {
  char* end = nullptr;
  const unsigned long long v = std::strtoull(s, &end, 10);
  if (end == s || *end != '\0') usage("bad count");
  return v;
}

Options parse_args(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    const auto value = [&]() -> const char* {
      if (i + 1 >= argc) usage("option needs a value");
      return argv[++i];
    };
    if (a == "--connect") {
      o.endpoint = value();
    } else if (a == "--connections") {
      o.connections = parse_u64(value());
    } else if (a == "--threads") {
      o.threads = parse_u64(value());
    } else if (a == "--request") {
      o.request = value();
    } else if (a == "--keys") {
      o.keys_file = value();
    } else if (a == "--requests") {
      o.max_requests = parse_u64(value());
    } else if (a == "--seconds") {
      o.seconds = parse_double(value());
    } else if (a == "--warmup") {
      o.warmup = parse_double(value());
    } else if (a == "--drain") {
      o.drain = parse_double(value());
    } else if (a == "--timeout") {
      o.timeout = parse_double(value());
    } else if (a == "--expect") {
      o.expect = value();
    } else if (a == "--stats-socket") {
      o.stats_socket = value();
    } else if (a == "--probe") {
      o.probe = true;
    } else if (a == "--since-ns") {
      o.since_ns = static_cast<std::int64_t>(parse_u64(value()));
    } else {
      usage("unknown option");
    }
  }
  if (o.endpoint.empty()) usage("--connect is required");
  if (o.request.empty() == o.keys_file.empty()) usage("give exactly one of --request, --keys");
  if (o.probe && o.request.empty()) usage("--probe needs --request");
  if (o.connections == 0 || o.connections > 10000) usage("--connections: 1..10000");
  if (o.threads == 0 || o.threads > 64) usage("--threads: 1..64");
  return o;
}

struct Endpoint {
  sockaddr_storage addr{};
  socklen_t len = 0;
  bool tcp = false;
};

Endpoint parse_endpoint(const std::string& s) {
  Endpoint e;
  if (s.rfind("unix:", 0) == 0) {
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    const std::string path = s.substr(5);
    if (path.empty() || path.size() >= sizeof sa.sun_path) usage("bad unix: path");
    std::memcpy(sa.sun_path, path.c_str(), path.size() + 1);
    std::memcpy(&e.addr, &sa, sizeof sa);
    e.len = sizeof sa;
    return e;
  }
  const auto colon = s.rfind(':');
  if (colon == std::string::npos) usage("endpoint: unix:PATH or IP:PORT");
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  const long port = std::strtol(s.c_str() + colon + 1, nullptr, 10);
  if (port <= 0 || port > 65535) usage("bad port");
  sa.sin_port = htons(static_cast<std::uint16_t>(port));
  if (::inet_pton(AF_INET, s.substr(0, colon).c_str(), &sa.sin_addr) != 1) usage("bad IPv4");
  std::memcpy(&e.addr, &sa, sizeof sa);
  e.len = sizeof sa;
  e.tcp = true;
  return e;
}

/// A blocking connect; the socket is made non-blocking afterwards. -1 on failure (errno set).
int connect_to(const Endpoint& e, bool nonblocking) {
  const int fd = ::socket(e.addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&e.addr), e.len) != 0) {
    const int saved = errno;
    ::close(fd);
    errno = saved;
    return -1;
  }
  if (e.tcp) {
    const int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  if (nonblocking) {
    const int one = 1;
    ::ioctl(fd, FIONBIO, &one);
  }
  return fd;
}

std::string netstring(std::string_view s) {
  return std::to_string(s.size()) + ":" + std::string(s) + ",";
}

enum class Parse { Incomplete, Done, Bad };

/// One netstring from the front of `in` into `out` (erased from `in`).
Parse take_netstring(std::string& in, std::string& out) {
  std::size_t len = 0;
  std::size_t i = 0;
  while (i < in.size() && in[i] >= '0' && in[i] <= '9') {
    len = len * 10 + static_cast<std::size_t>(in[i] - '0');
    if (len > k_max_reply) return Parse::Bad;
    ++i;
  }
  if (i == in.size()) return Parse::Incomplete;
  if (in[i] != ':' || i == 0) return Parse::Bad;
  if (i + 1 + len >= in.size()) return Parse::Incomplete;
  if (in[i + 1 + len] != ',') return Parse::Bad;
  out.assign(in, i + 1, len);
  in.erase(0, i + 2 + len);
  return Parse::Done;
}

enum Status : std::size_t { k_ok, k_notfound, k_temp, k_perm, k_other, k_statuses };
constexpr std::array<const char*, k_statuses> k_status_names{"OK", "NOTFOUND", "TEMP", "PERM",
                                                             "other"};

Status classify(std::string_view reply) {
  const auto word = reply.substr(0, reply.find(' '));
  if (word == "OK") return k_ok;
  if (word == "NOTFOUND") return k_notfound;
  if (word == "TEMP") return k_temp;
  if (word == "PERM") return k_perm;
  return k_other;
}

std::string json_escape(std::string_view s) {
  std::string out;
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += ch;
    } else if (c < 0x20 || c >= 0x7f) {
      std::array<char, 8> hex{};
      std::snprintf(hex.data(), hex.size(), "\\u%04x", c);
      out += hex.data();
    } else {
      out += ch;
    }
  }
  return out;
}

double cpu_seconds() {
  rusage ru{};
  ::getrusage(RUSAGE_SELF, &ru);
  const auto tv = [](const timeval& t) {
    return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6;
  };
  return tv(ru.ru_utime) + tv(ru.ru_stime);
}

// ---- probe ----------------------------------------------------------------------------------

int run_probe(const Options& o, const Endpoint& e) {
  const auto deadline = Clock::now() + std::chrono::duration<double>(o.timeout);
  const std::string req = netstring(o.request);
  std::string last_error = "no attempt";
  while (Clock::now() < deadline) {
    const int fd = connect_to(e, false);
    if (fd < 0) {
      last_error = std::string("connect: ") + std::strerror(errno);
      ::usleep(1000);
      continue;
    }
    std::string in;
    std::string reply;
    bool sent =
        ::send(fd, req.data(), req.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(req.size());
    while (sent && Clock::now() < deadline) {
      pollfd p{fd, POLLIN, 0};
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      if (::poll(&p, 1, static_cast<int>(std::max<std::int64_t>(1, left.count()))) <= 0) continue;
      std::array<char, 4096> buf{};
      const auto n = ::read(fd, buf.data(), buf.size());
      if (n <= 0) break;
      in.append(buf.data(), static_cast<std::size_t>(n));
      const Parse p2 = take_netstring(in, reply);
      if (p2 == Parse::Incomplete) continue;
      ::close(fd);
      if (p2 == Parse::Bad) {
        std::fprintf(stderr, "tlspolicy-loadgen: probe: malformed reply\n");
        return 1;
      }
      timespec ts{};
      ::clock_gettime(CLOCK_REALTIME, &ts);
      const std::int64_t now_ns = static_cast<std::int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
      const double ready_ms =
          o.since_ns >= 0 ? static_cast<double>(now_ns - o.since_ns) / 1e6 : -1.0;
      std::printf("{\"ready_ms\":%.1f,\"reply\":\"%s\"}\n", ready_ms, json_escape(reply).c_str());
      return 0;
    }
    last_error = "no reply";
    ::close(fd);
    ::usleep(1000);
  }
  std::fprintf(stderr, "tlspolicy-loadgen: probe: no reply within %.1f s (%s)\n", o.timeout,
               last_error.c_str());
  return 1;
}

// ---- load -----------------------------------------------------------------------------------

/// A request and what its reply must start with (one of `expect`; empty: --expect).
struct Key {
  std::string request;  ///< framed (netstring)
  std::vector<std::string> expect;
  std::size_t cls = 0;  ///< index into Shared::classes
};

struct Shared {
  const Options& options;
  std::vector<Key> requests;         // keys mode: one per line; else one constant request
  std::vector<std::string> classes;  // keys mode with classes; [0] is "" (no class)
  bool keys_mode = false;
  TimePoint start;
  TimePoint measure_from;
  TimePoint deadline;
  std::atomic<std::uint64_t> next_key{0};
  std::atomic<std::uint64_t> measured_budget{0};  // measured sends taken so far
  std::atomic<bool> stop{false};
};

struct ClassResult {
  std::vector<std::uint64_t> latencies_ns;
  std::uint64_t unexpected = 0;
  std::string first_unexpected;
};

struct ThreadResult {
  std::vector<ClassResult> classes;         // by Shared::classes index
  std::vector<std::uint64_t> latencies_ns;  // measured requests
  std::array<std::uint64_t, k_statuses> statuses{};
  std::uint64_t unexpected = 0;
  std::string first_unexpected;
  std::uint64_t errors = 0;      // connections lost (reset, malformed reply)
  std::uint64_t unanswered = 0;  // measured requests without a reply at the end
  std::uint64_t sent = 0;
  TimePoint last_reply{};
  std::size_t max_outstanding = 0;
};

struct Conn {
  int fd = -1;
  bool busy = false;
  bool measured = false;
  TimePoint sent_at{};
  std::string in;
  const Key* key = nullptr;  ///< the request in flight
};

class Worker {
 public:
  Worker(Shared& shared, std::vector<int> fds) : m_shared(shared) {
    m_conns.reserve(fds.size());
    for (const int fd : fds) m_conns.push_back(Conn{fd, false, false, {}, {}, nullptr});
    m_result.classes.resize(shared.classes.size());
  }

  ThreadResult run() {
    const int ep = ::epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) {
      m_result.errors = m_conns.size();
      return std::move(m_result);
    }
    for (std::size_t i = 0; i < m_conns.size(); ++i) {
      epoll_event ev{};
      ev.events = EPOLLIN;
      ev.data.u64 = i;
      ::epoll_ctl(ep, EPOLL_CTL_ADD, m_conns[i].fd, &ev);
    }
    for (auto& c : m_conns) send_next(c, Clock::now());
    std::vector<epoll_event> events(m_conns.size() + 1);
    std::array<char, 16384> buf{};
    std::string reply;
    const auto drain_until =
        m_shared.deadline + std::chrono::duration_cast<Clock::duration>(
                                std::chrono::duration<double>(m_shared.options.drain));
    for (;;) {
      TimePoint now = Clock::now();
      if (now >= m_shared.deadline) m_shared.stop.store(true, std::memory_order_relaxed);
      if (m_outstanding == 0 && (m_shared.stop.load(std::memory_order_relaxed) || m_live == 0)) {
        break;
      }
      if (now >= drain_until) break;
      const auto limit =
          m_shared.stop.load(std::memory_order_relaxed) ? drain_until : m_shared.deadline;
      const auto wait = std::chrono::ceil<std::chrono::milliseconds>(limit - now).count();
      const int n = ::epoll_wait(ep, events.data(), static_cast<int>(events.size()),
                                 static_cast<int>(std::clamp<std::int64_t>(wait, 0, 100)));
      if (n < 0 && errno != EINTR) break;
      now = Clock::now();
      for (int k = 0; k < n; ++k) {
        Conn& c = m_conns[events[static_cast<std::size_t>(k)].data.u64];
        if (c.fd < 0) continue;
        const auto got = ::read(c.fd, buf.data(), buf.size());
        if (got <= 0) {
          if (got < 0 && (errno == EAGAIN || errno == EINTR)) continue;
          lose(c);
          continue;
        }
        c.in.append(buf.data(), static_cast<std::size_t>(got));
        for (;;) {
          const Parse p = take_netstring(c.in, reply);
          if (p == Parse::Incomplete) break;
          if (p == Parse::Bad || !c.busy) {  // a reply nobody asked for is as bad
            lose(c);
            break;
          }
          on_reply(c, reply, now);
          send_next(c, now);
        }
      }
    }
    for (auto& c : m_conns) {
      if (c.busy && c.measured) ++m_result.unanswered;
      if (c.fd >= 0) ::close(c.fd);
      c.fd = -1;
    }
    ::close(ep);
    return std::move(m_result);
  }

 private:
  void on_reply(Conn& c, const std::string& reply, TimePoint now) {
    c.busy = false;
    --m_outstanding;
    if (!c.measured) return;
    const auto ns = static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(now - c.sent_at).count());
    m_result.latencies_ns.push_back(ns);
    ++m_result.statuses[classify(reply)];
    const auto& expect = c.key->expect;
    const bool as_expected =
        expect.empty()
            ? m_shared.options.expect.empty() || reply.rfind(m_shared.options.expect, 0) == 0
            : std::any_of(expect.begin(), expect.end(),
                          [&](const std::string& e) { return reply.rfind(e, 0) == 0; });
    auto& cls = m_result.classes[c.key->cls];
    cls.latencies_ns.push_back(ns);
    if (!as_expected) {
      const std::string shown = reply.substr(0, 200);
      if (m_result.unexpected++ == 0) m_result.first_unexpected = shown;
      if (cls.unexpected++ == 0) cls.first_unexpected = shown;
    }
    m_result.last_reply = now;
  }

  void send_next(Conn& c, TimePoint now) {
    if (c.fd < 0 || m_shared.stop.load(std::memory_order_relaxed)) return;
    const Key* key = nullptr;
    const bool measured = now >= m_shared.measure_from;
    if (m_shared.keys_mode) {
      const auto i = m_shared.next_key.fetch_add(1, std::memory_order_relaxed);
      if (i >= m_shared.requests.size()) {
        m_shared.stop.store(true, std::memory_order_relaxed);
        return;
      }
      key = &m_shared.requests[i];
    } else {
      key = &m_shared.requests.front();
    }
    const std::string* req = &key->request;
    if (measured && m_shared.options.max_requests > 0) {
      const auto taken = m_shared.measured_budget.fetch_add(1, std::memory_order_relaxed);
      if (taken >= m_shared.options.max_requests) {
        m_shared.stop.store(true, std::memory_order_relaxed);
        return;
      }
    }
    // Requests are small: one send; a short write here means a broken peer.
    const auto n = ::send(c.fd, req->data(), req->size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n != static_cast<ssize_t>(req->size())) {
      lose(c);
      return;
    }
    c.busy = true;
    c.measured = measured;
    c.sent_at = now;
    c.key = key;
    ++m_result.sent;
    ++m_outstanding;
    m_result.max_outstanding = std::max(m_result.max_outstanding, m_outstanding);
  }

  void lose(Conn& c) {
    ++m_result.errors;
    if (c.busy) {
      --m_outstanding;
      if (c.measured) ++m_result.unanswered;
    }
    c.busy = false;
    ::close(c.fd);
    c.fd = -1;
    --m_live;
  }

  Shared& m_shared;
  std::vector<Conn> m_conns;
  ThreadResult m_result;
  std::size_t m_outstanding = 0;
  std::size_t m_live = 0;

 public:
  void set_live() { m_live = m_conns.size(); }
};

/// Polls {"op":"stats"} on a tlspolicy admin socket; keeps the largest "in_flight".
class StatsPoller {
 public:
  StatsPoller(const std::string& endpoint, const std::atomic<bool>& stop)
      : m_thread([this, endpoint, &stop] { run(endpoint, stop); }) {}
  ~StatsPoller() { finish(); }
  StatsPoller(const StatsPoller&) = delete;
  StatsPoller& operator=(const StatsPoller&) = delete;
  /// Waits for the poller (its `stop` must be set) and returns the largest in_flight seen,
  /// -1 when no answer came.
  std::int64_t finish() {
    if (m_thread.joinable()) m_thread.join();
    return m_peak.load();
  }

 private:
  void run(const std::string& endpoint, const std::atomic<bool>& stop) {
    const Endpoint e = parse_endpoint(endpoint);
    const int fd = connect_to(e, false);
    if (fd < 0) return;
    const std::string req = "{\"op\":\"stats\"}\n";
    std::string in;
    std::array<char, 8192> buf{};
    while (!stop.load(std::memory_order_relaxed)) {
      if (::send(fd, req.data(), req.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(req.size())) {
        break;
      }
      std::size_t nl = std::string::npos;
      while ((nl = in.find('\n')) == std::string::npos) {
        const auto n = ::read(fd, buf.data(), buf.size());
        if (n <= 0) {
          ::close(fd);
          return;
        }
        in.append(buf.data(), static_cast<std::size_t>(n));
      }
      const std::string line = in.substr(0, nl);
      in.erase(0, nl + 1);
      const auto at = line.find("\"in_flight\":");
      if (at != std::string::npos) {
        const long long v = std::strtoll(line.c_str() + at + 12, nullptr, 10);
        if (v > m_peak.load()) m_peak.store(v);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    ::close(fd);
  }

  std::atomic<std::int64_t> m_peak{-1};
  std::thread m_thread;  // last: starts after the members it uses exist
};

std::uint64_t percentile(const std::vector<std::uint64_t>& sorted, double p) {
  if (sorted.empty()) return 0;
  const auto rank =
      static_cast<std::size_t>(std::ceil(p / 100.0 * static_cast<double>(sorted.size())));
  return sorted[std::min(sorted.size() - 1, rank == 0 ? 0 : rank - 1)];
}

int run_load(const Options& o, const Endpoint& e) {
  Shared shared{o, {}, {""}, false, {}, {}, {}, {}, {}, {}};
  if (!o.keys_file.empty()) {
    std::ifstream f(o.keys_file);
    if (!f) usage("cannot read --keys file");
    std::string line;
    while (std::getline(f, line)) {
      if (line.empty()) continue;
      const auto tab = line.find('\t');
      Key key{netstring(line.substr(0, tab)), {}, 0};
      if (tab != std::string::npos) {
        const auto tab2 = line.find('\t', tab + 1);
        const std::string expect = line.substr(tab + 1, tab2 - tab - 1);
        for (std::size_t at = 0; at <= expect.size();) {
          const auto bar = std::min(expect.find('|', at), expect.size());
          if (bar > at) key.expect.push_back(expect.substr(at, bar - at));
          at = bar + 1;
        }
        if (tab2 != std::string::npos) {
          const std::string cls = line.substr(tab2 + 1);
          const auto it = std::find(shared.classes.begin(), shared.classes.end(), cls);
          key.cls = static_cast<std::size_t>(it - shared.classes.begin());
          if (it == shared.classes.end()) shared.classes.push_back(cls);
        }
      }
      shared.requests.push_back(std::move(key));
    }
    if (shared.requests.empty()) usage("--keys file is empty");
    shared.keys_mode = true;
  } else {
    shared.requests.push_back(Key{netstring(o.request), {}, 0});
  }

  // Thousands of connections at once: raise the soft descriptor limit to the hard one.
  if (rlimit nofile{};
      ::getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < nofile.rlim_max) {
    nofile.rlim_cur = nofile.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &nofile);
  }
  std::vector<int> fds;
  for (std::size_t i = 0; i < o.connections; ++i) {
    const int fd = connect_to(e, true);
    if (fd < 0) {
      std::fprintf(stderr, "tlspolicy-loadgen: connect %s: %s (after %zu connections)\n",
                   o.endpoint.c_str(), std::strerror(errno), i);
      for (const int f : fds) ::close(f);
      return 1;
    }
    fds.push_back(fd);
  }

  const std::size_t nthreads = std::min(o.threads, fds.size());
  std::vector<Worker> workers;
  workers.reserve(nthreads);
  for (std::size_t t = 0; t < nthreads; ++t) {
    std::vector<int> mine;
    for (std::size_t i = t; i < fds.size(); i += nthreads) mine.push_back(fds[i]);
    workers.emplace_back(shared, std::move(mine));
    workers.back().set_live();
  }

  const double cpu_before = cpu_seconds();
  shared.start = Clock::now();
  const auto secs = [](double s) {
    return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s));
  };
  shared.measure_from = shared.start + secs(o.warmup);
  shared.deadline = shared.measure_from + secs(o.seconds);
  std::vector<ThreadResult> results(nthreads);
  std::int64_t stats_peak = -1;
  {
    std::atomic<bool> finished{false};
    std::optional<StatsPoller> poller;
    if (!o.stats_socket.empty()) poller.emplace(o.stats_socket, finished);
    std::vector<std::thread> threads;
    for (std::size_t t = 1; t < nthreads; ++t) {
      threads.emplace_back([&, t] { results[t] = workers[t].run(); });
    }
    results[0] = workers[0].run();
    for (auto& th : threads) th.join();
    finished.store(true);
    if (poller) stats_peak = poller->finish();
  }
  const double cpu = cpu_seconds() - cpu_before;

  ThreadResult all;
  all.classes.resize(shared.classes.size());
  TimePoint last = shared.measure_from;
  for (auto& r : results) {
    for (std::size_t k = 0; k < r.classes.size(); ++k) {
      auto& into = all.classes[k];
      const auto& from = r.classes[k];
      into.latencies_ns.insert(into.latencies_ns.end(), from.latencies_ns.begin(),
                               from.latencies_ns.end());
      if (into.unexpected == 0 && from.unexpected > 0)
        into.first_unexpected = from.first_unexpected;
      into.unexpected += from.unexpected;
    }
    all.latencies_ns.insert(all.latencies_ns.end(), r.latencies_ns.begin(), r.latencies_ns.end());
    for (std::size_t s = 0; s < k_statuses; ++s) all.statuses[s] += r.statuses[s];
    if (all.unexpected == 0 && r.unexpected > 0) all.first_unexpected = r.first_unexpected;
    all.unexpected += r.unexpected;
    all.errors += r.errors;
    all.unanswered += r.unanswered;
    all.sent += r.sent;
    all.max_outstanding += r.max_outstanding;
    last = std::max(last, r.last_reply);
  }
  std::sort(all.latencies_ns.begin(), all.latencies_ns.end());
  const double window = std::chrono::duration<double>(last - shared.measure_from).count();
  const std::size_t measured = all.latencies_ns.size();
  const double qps = window > 0 ? static_cast<double>(measured) / window : 0.0;
  const auto us = [](std::uint64_t ns) { return static_cast<double>(ns) / 1000.0; };
  const std::size_t keys_total = shared.keys_mode ? shared.requests.size() : 0;
  const std::size_t keys_unsent =
      shared.keys_mode ? keys_total - std::min<std::size_t>(keys_total, shared.next_key.load()) : 0;

  std::string classes;
  for (std::size_t k = 1; k < all.classes.size(); ++k) {
    auto& c = all.classes[k];
    std::sort(c.latencies_ns.begin(), c.latencies_ns.end());
    std::array<char, 256> nums{};
    std::snprintf(nums.data(), nums.size(),
                  "\"n\":%zu,\"p50_us\":%.1f,\"p99_us\":%.1f,\"max_us\":%.1f,\"unexpected\":%llu",
                  c.latencies_ns.size(), us(percentile(c.latencies_ns, 50)),
                  us(percentile(c.latencies_ns, 99)),
                  us(c.latencies_ns.empty() ? 0 : c.latencies_ns.back()),
                  static_cast<unsigned long long>(c.unexpected));
    classes += std::string(k > 1 ? "," : "") + "\"" + json_escape(shared.classes[k]) + "\":{" +
               nums.data() + ",\"first_unexpected\":\"" + json_escape(c.first_unexpected) + "\"}";
  }
  std::string statuses;
  for (std::size_t s = 0; s < k_statuses; ++s) {
    statuses += std::string(s ? "," : "") + "\"" + k_status_names[s] +
                "\":" + std::to_string(all.statuses[s]);
  }
  std::printf(
      "{\"endpoint\":\"%s\",\"connections\":%zu,\"threads\":%zu,\"measured\":%zu,"
      "\"seconds\":%.3f,\"qps\":%.0f,\"p50_us\":%.1f,\"p90_us\":%.1f,\"p99_us\":%.1f,"
      "\"max_us\":%.1f,\"replies\":{%s},\"unexpected\":%llu,\"first_unexpected\":\"%s\","
      "\"errors\":%llu,\"unanswered\":%llu,\"keys\":%zu,\"keys_unsent\":%zu,"
      "\"max_outstanding\":%zu,\"stats_peak_in_flight\":%lld,\"cpu_seconds\":%.3f,"
      "\"classes\":{%s}}\n",
      json_escape(o.endpoint).c_str(), fds.size(), nthreads, measured, window, qps,
      us(percentile(all.latencies_ns, 50)), us(percentile(all.latencies_ns, 90)),
      us(percentile(all.latencies_ns, 99)),
      us(all.latencies_ns.empty() ? 0 : all.latencies_ns.back()), statuses.c_str(),
      static_cast<unsigned long long>(all.unexpected), json_escape(all.first_unexpected).c_str(),
      static_cast<unsigned long long>(all.errors), static_cast<unsigned long long>(all.unanswered),
      keys_total, keys_unsent, all.max_outstanding, static_cast<long long>(stats_peak), cpu,
      classes.c_str());
  const bool complete = all.unanswered == 0 && all.errors == 0 && keys_unsent == 0;
  return complete && all.unexpected == 0 && measured > 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  std::signal(SIGPIPE, SIG_IGN);
  const Options o = parse_args(argc, argv);
  const Endpoint e = parse_endpoint(o.endpoint);
  return o.probe ? run_probe(o, e) : run_load(o, e);
}
