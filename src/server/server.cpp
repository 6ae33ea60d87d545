// SPDX-License-Identifier: Apache-2.0
//
// The event loop behind server::Server: one epoll thread, level-triggered.
// Connection states: Reading (waiting for a complete request), Awaiting (one
// request is with the handler; input is not read), Closing (flush the output,
// then close). Timers are two lists ordered by deadline (every connection has
// the same idle and request timeout, so appending keeps them sorted); the
// epoll_wait timeout is the nearest deadline. Replies from other threads come
// through CompletionQueue (mutex + eventfd); replies given on the loop thread
// (synchronous handlers) skip the lock and the wake-up. A cached answer
// allocates nothing here: timer list nodes are recycled (m_spare) and the
// local completions reuse one buffer.
#include "tlspolicy/server/server.hpp"

#include <algorithm>
#include <array>
#include <cerrno>
#include <list>
#include <optional>
#include <stdexcept>
#include <system_error>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "tlspolicy/util/locked.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

namespace tlspolicy::server {

namespace detail {

struct Completion {
  std::uint64_t connection = 0;
  std::uint64_t sequence = 0;
  std::string reply;
  bool close_after = false;
};

/// Shared by the Server and every Responder; outlives the Server while Responders exist.
class CompletionQueue {
 public:
  explicit CompletionQueue(util::Fd event) : m_event(std::move(event)) {}

  /// Any thread.
  void push(Completion c) {
    if (on_loop_thread()) {  // synchronous reply: no lock, no wake-up
      local_slot() = std::move(c);
      return;
    }
    push_remote(std::move(c));
  }

  /// Any thread; on the loop thread the reply is copied into a slot whose buffer is reused.
  void push_view(std::uint64_t connection, std::uint64_t sequence, std::string_view reply,
                 bool close_after) {
    if (on_loop_thread()) {
      Completion& slot = local_slot();
      slot.connection = connection;
      slot.sequence = sequence;
      slot.reply.assign(reply);
      slot.close_after = close_after;
      return;
    }
    push_remote({connection, sequence, std::string{reply}, close_after});
  }

  void wake() const noexcept {
    const std::uint64_t one = 1;
    [[maybe_unused]] const auto n = ::write(m_event.get(), &one, sizeof one);
  }

  // Loop thread only.
  void set_loop_thread(std::thread::id id) noexcept {
    m_loop_thread.store(id, std::memory_order_release);
  }
  void clear_wakeup() const noexcept {
    std::uint64_t value = 0;
    [[maybe_unused]] const auto n = ::read(m_event.get(), &value, sizeof value);
  }
  [[nodiscard]] std::vector<Completion> take_remote() {
    std::vector<Completion> out;
    std::swap(out, *m_remote.lock());
    return out;
  }
  /// Swaps the loop thread's own completions with `out` (whose first `used` entries were
  /// handled) and returns how many `out` now holds. The entries are kept, not destroyed, so
  /// their reply buffers are reused: the synchronous path allocates nothing.
  std::size_t take_local(std::vector<Completion>& out) {
    std::swap(out, m_local);
    return std::exchange(m_local_used, 0);
  }
  [[nodiscard]] bool has_local() const noexcept { return m_local_used > 0; }
  [[nodiscard]] int event_fd() const noexcept { return m_event.get(); }

 private:
  util::Fd m_event;
  std::atomic<std::thread::id> m_loop_thread{};
  [[nodiscard]] bool on_loop_thread() const noexcept {
    return m_loop_thread.load(std::memory_order_acquire) == std::this_thread::get_id();
  }
  void push_remote(Completion c) {
    bool was_empty = false;
    {
      auto queue = m_remote.lock();
      was_empty = queue->empty();
      queue->push_back(std::move(c));
    }
    // The loop drains the whole queue per wake-up, so only the first push needs one.
    if (was_empty) wake();
  }
  /// The next free entry of m_local (loop thread).
  Completion& local_slot() {
    if (m_local_used == m_local.size()) m_local.emplace_back();
    return m_local[m_local_used++];
  }

  util::Locked<std::vector<Completion>> m_remote;
  std::vector<Completion> m_local;  // loop thread only; entries [0, m_local_used) are pending
  std::size_t m_local_used = 0;
};

}  // namespace detail

Responder::Responder(std::shared_ptr<detail::CompletionQueue> queue, std::uint64_t connection,
                     std::uint64_t sequence) noexcept
    : m_queue(std::move(queue)), m_connection(connection), m_sequence(sequence) {}

void Responder::operator()(std::string reply, bool close_after) const {
  m_queue->push({m_connection, m_sequence, std::move(reply), close_after});
}

void Responder::send_view(std::string_view reply, bool close_after) const {
  m_queue->push_view(m_connection, m_sequence, reply, close_after);
}

namespace {

using SteadyClock = std::chrono::steady_clock;
using SteadyTime = SteadyClock::time_point;
using Ids = std::list<std::uint64_t>;

constexpr std::uint64_t k_event_token = 0;
constexpr std::uint64_t k_first_connection_id = std::uint64_t{1} << 32;
constexpr std::size_t k_framing_allowance = 64;  // netstring length prefix, separators
constexpr std::size_t k_read_chunk = std::size_t{64} * 1024;
constexpr int k_max_events = 256;
constexpr int k_accepts_per_event = 64;
constexpr auto k_accept_pause = std::chrono::milliseconds(100);
constexpr auto k_log_interval = std::chrono::seconds(1);

void relaxed_inc(std::atomic<std::uint64_t>& counter) noexcept {
  counter.fetch_add(1, std::memory_order_relaxed);
}

std::system_error sys_error(const char* what) { return {errno, std::generic_category(), what}; }

enum class State { Reading, Awaiting, Closing, Closed };

struct Listener {
  std::string name;
  util::Fd fd;
  std::unique_ptr<Protocol> protocol;
  Handler handler;
  bool tcp = false;
  bool paused = false;
};

struct Connection {
  util::Fd fd;
  std::size_t listener = 0;
  State state = State::Reading;
  bool peer_eof = false;
  std::uint64_t sequence = 0;
  std::uint32_t events = 0;
  std::string in;
  std::string out;
  std::size_t out_offset = 0;
  SteadyTime idle_deadline{};
  SteadyTime request_deadline{};
  std::optional<Ids::iterator> idle_pos;
  std::optional<Ids::iterator> request_pos;

  [[nodiscard]] std::size_t unsent() const noexcept { return out.size() - out_offset; }
};

/// Logs at most once per interval, with the number of suppressed events.
class RateLimitedLog {
 public:
  void warn(const util::Logger& log, std::string_view message, SteadyTime now) {
    ++m_suppressed;
    if (now < m_next) return;
    log.warn(message, {{"count", std::to_string(m_suppressed)}});
    m_suppressed = 0;
    m_next = now + k_log_interval;
  }

 private:
  SteadyTime m_next{};
  std::uint64_t m_suppressed = 0;
};

}  // namespace

class Server::Impl {
 public:
  Impl(ServerOptions options, util::Logger log)
      : m_options(std::move(options)), m_log(std::move(log)) {
    util::Fd epoll{::epoll_create1(EPOLL_CLOEXEC)};
    if (!epoll) throw sys_error("epoll_create1");
    util::Fd event{::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)};
    if (!event) throw sys_error("eventfd");
    m_epoll = std::move(epoll);
    m_queue = std::make_shared<detail::CompletionQueue>(std::move(event));
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = k_event_token;
    if (::epoll_ctl(m_epoll.get(), EPOLL_CTL_ADD, m_queue->event_fd(), &ev) != 0) {
      throw sys_error("epoll_ctl");
    }
  }

  ~Impl() { stop(std::chrono::milliseconds(0)); }

  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;

  void add_listener(std::string name, util::Fd fd, std::unique_ptr<Protocol> protocol,
                    Handler handler) {
    if (m_thread.joinable()) throw std::logic_error("Server::add_listener after start()");
    if (!fd || !protocol || !handler) throw std::invalid_argument("Server::add_listener");
    Listener listener{std::move(name), std::move(fd), std::move(protocol), std::move(handler)};
    sockaddr_storage addr{};
    socklen_t len = sizeof addr;
    if (::getsockname(listener.fd.get(), reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
      listener.tcp = addr.ss_family == AF_INET || addr.ss_family == AF_INET6;
    }
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = m_listeners.size() + 1;
    if (::epoll_ctl(m_epoll.get(), EPOLL_CTL_ADD, listener.fd.get(), &ev) != 0) {
      throw sys_error("epoll_ctl");
    }
    m_listeners.push_back(std::move(listener));
  }

  void start() {
    if (m_thread.joinable() || *m_stopped.lock()) throw std::logic_error("Server::start twice");
    m_thread = std::thread([this] { run(); });
    // Named for ps -L and top -H (docs/architecture.md, "Thread roles").
    (void)pthread_setname_np(m_thread.native_handle(), m_options.thread_name.c_str());
  }

  void stop(std::chrono::milliseconds drain_timeout) {
    const auto stopped = m_stopped.lock();
    *stopped = true;
    if (!m_thread.joinable()) return;
    m_drain_timeout.store(drain_timeout, std::memory_order_relaxed);
    m_stop_requested.store(true, std::memory_order_release);
    m_queue->wake();
    m_thread.join();
  }

  [[nodiscard]] const ServerStats& stats() const noexcept { return m_stats; }

 private:
  // ---- loop ------------------------------------------------------------------------------

  void run() {
    m_queue->set_loop_thread(std::this_thread::get_id());
    std::array<epoll_event, k_max_events> events{};
    try {
      for (;;) {
        m_now = SteadyClock::now();
        if (!m_draining && m_stop_requested.load(std::memory_order_acquire)) begin_drain();
        if (m_draining && (m_live == 0 || m_now >= m_drain_deadline)) break;
        const int n = ::epoll_wait(m_epoll.get(), events.data(), k_max_events, wait_ms());
        if (n < 0 && errno != EINTR) throw sys_error("epoll_wait");
        m_now = SteadyClock::now();
        for (int i = 0; i < n; ++i) on_event(events[static_cast<std::size_t>(i)]);
        expire_timers();
        process_local_completions();
        process_ready();
        reap();
      }
    } catch (const std::exception& e) {
      // Only system failures of epoll itself get here; connections are closed below.
      m_log.error("event loop failed", {{"error", e.what()}});
    }
    m_queue->set_loop_thread({});
    for (auto& [id, c] : m_conns) close(c);
    m_conns.clear();
    m_listeners.clear();
  }

  [[nodiscard]] int wait_ms() const {
    if (m_queue->has_local() || !m_ready.empty()) return 0;
    std::optional<SteadyTime> next;
    const auto consider = [&next](SteadyTime t) {
      if (!next || t < *next) next = t;
    };
    if (!m_idle.empty()) consider(m_conns.at(m_idle.front()).idle_deadline);
    if (!m_pending.empty()) consider(m_conns.at(m_pending.front()).request_deadline);
    if (m_draining) consider(m_drain_deadline);
    if (m_accept_paused) consider(m_accept_resume);
    if (!next) return -1;
    if (*next <= m_now) return 0;
    const auto ms = std::chrono::ceil<std::chrono::milliseconds>(*next - m_now).count();
    return static_cast<int>(std::min<std::int64_t>(ms, 60'000));
  }

  void on_event(const epoll_event& ev) {
    const std::uint64_t token = ev.data.u64;
    if (token == k_event_token) {
      m_queue->clear_wakeup();
      process_completions(m_queue->take_remote());
      return;
    }
    if (token < k_first_connection_id) {
      accept_from(static_cast<std::size_t>(token - 1));
      return;
    }
    const auto it = m_conns.find(token);
    if (it == m_conns.end() || it->second.state == State::Closed) return;
    Connection& c = it->second;
    if ((ev.events & EPOLLERR) != 0 ||
        ((ev.events & EPOLLHUP) != 0 && (ev.events & EPOLLIN) == 0) ||
        ((ev.events & EPOLLHUP) != 0 && c.state == State::Awaiting)) {
      // The peer is gone. A request in flight has nobody to answer to.
      relaxed_inc(m_stats.aborted);
      close(c);
      return;
    }
    if ((ev.events & EPOLLOUT) != 0 && !flush(c)) return;
    if ((ev.events & EPOLLIN) != 0 && c.state == State::Reading && !c.peer_eof) {
      if (!read_from(c)) return;
      m_current = token;
      process_input(token, c);
      m_current = 0;
    }
    if (c.state != State::Closed) update_interest(token, c);
  }

  // ---- accepting -------------------------------------------------------------------------

  void accept_from(std::size_t index) {
    Listener& listener = m_listeners.at(index);
    for (int i = 0; i < k_accepts_per_event && listener.fd; ++i) {
      util::Fd fd{::accept4(listener.fd.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC)};
      if (!fd) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) return;
        if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO) continue;
        // EMFILE, ENFILE, ENOBUFS, ENOMEM: the pending connection stays in the backlog and
        // epoll would report it at once again; pause accepting for a moment instead.
        relaxed_inc(m_stats.accept_errors);
        m_accept_error_log.warn(m_log, "accept failed, pausing", m_now);
        pause_accepting();
        return;
      }
      if (m_draining) continue;  // fd closes here
      if (m_live >= m_options.max_connections) {
        relaxed_inc(m_stats.rejected_max_connections);
        m_limit_log.warn(m_log, "connection limit reached, closing new connections", m_now);
        continue;
      }
      if (listener.tcp) {
        const int one = 1;  // request/response: do not wait for more output
        ::setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      }
      const std::uint64_t id = m_next_id++;
      epoll_event ev{};
      ev.events = EPOLLIN;
      ev.data.u64 = id;
      if (::epoll_ctl(m_epoll.get(), EPOLL_CTL_ADD, fd.get(), &ev) != 0) {
        relaxed_inc(m_stats.accept_errors);
        continue;
      }
      Connection& c = m_conns[id];
      c.fd = std::move(fd);
      c.listener = index;
      c.events = EPOLLIN;
      touch_idle(id, c);
      ++m_live;
      relaxed_inc(m_stats.accepted);
      m_stats.active.store(m_live, std::memory_order_relaxed);
    }
  }

  void pause_accepting() {
    for (auto& l : m_listeners) {
      if (!l.fd || l.paused) continue;
      epoll_event ev{};
      ev.data.u64 = static_cast<std::uint64_t>(&l - m_listeners.data()) + 1;
      ::epoll_ctl(m_epoll.get(), EPOLL_CTL_MOD, l.fd.get(), &ev);
      l.paused = true;
    }
    m_accept_paused = true;
    m_accept_resume = m_now + k_accept_pause;
  }

  void resume_accepting() {
    for (auto& l : m_listeners) {
      if (!l.fd || !l.paused) continue;
      epoll_event ev{};
      ev.events = EPOLLIN;
      ev.data.u64 = static_cast<std::uint64_t>(&l - m_listeners.data()) + 1;
      ::epoll_ctl(m_epoll.get(), EPOLL_CTL_MOD, l.fd.get(), &ev);
      l.paused = false;
    }
    m_accept_paused = false;
  }

  // ---- input -----------------------------------------------------------------------------

  /// Returns false when the connection was closed.
  bool read_from(Connection& c) {
    for (;;) {
      const auto n = ::read(c.fd.get(), m_scratch.data(), m_scratch.size());
      if (n > 0) {
        c.in.append(m_scratch.data(), static_cast<std::size_t>(n));
        return true;
      }
      if (n == 0) {
        c.peer_eof = true;
        return true;
      }
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return true;
      relaxed_inc(m_stats.aborted);
      close(c);
      return false;
    }
  }

  /// Decodes and dispatches buffered requests while the connection is Reading.
  void process_input(std::uint64_t id, Connection& c) {
    Protocol& protocol = *m_listeners[c.listener].protocol;
    while (c.state == State::Reading) {
      if (m_draining) {
        c.state = State::Closing;
        break;
      }
      Frame frame;
      try {
        frame = protocol.decode(c.in, c.peer_eof, m_options.max_request_bytes);
      } catch (const std::exception& e) {
        internal_error(id, c, "protocol", e.what());
        break;
      }
      if (frame.status == Frame::Status::Request) {
        dispatch(id, c, frame.text());
        // The request was a view into c.in: only now are its bytes gone.
        if (frame.consumed == c.in.size()) {
          c.in.clear();  // the usual case: one request per read
        } else {
          c.in.erase(0, frame.consumed);
        }
        continue;
      }
      if (frame.status == Frame::Status::NeedMore &&
          c.in.size() > m_options.max_request_bytes + k_framing_allowance) {
        frame = Frame::bad(Failure::TooLarge);
      }
      if (frame.status == Frame::Status::Bad) {
        const bool too_large = frame.failure == Failure::TooLarge;
        relaxed_inc(too_large ? m_stats.too_large : m_stats.malformed);
        // Logged as warnings, which the Logger rate-limits: a hostile
        // client cannot flood the journal.
        m_log.warn(too_large ? "request too large, closing connection"
                             : "malformed request, closing connection",
                   {{"listener", m_listeners[c.listener].name}});
        fail_and_close(c, frame.failure);
        break;
      }
      if (c.peer_eof) c.state = State::Closing;  // nothing more will come
      break;
    }
    if (m_options.input_extends_idle) touch_idle(id, c);
    flush(c);
  }

  void dispatch(std::uint64_t id, Connection& c, std::string_view request) {
    c.state = State::Awaiting;
    ++c.sequence;
    relaxed_inc(m_stats.requests);
    Responder respond(m_queue, id, c.sequence);
    try {
      m_listeners[c.listener].handler(request, respond);
    } catch (const std::exception& e) {
      internal_error(id, c, "handler", e.what());
    } catch (...) {
      internal_error(id, c, "handler", "unknown exception");
    }
    // Synchronous replies (the common case) are applied before the next request is decoded.
    process_local_completions();
    // A reply still to come: the connection is no longer idle, and the request's deadline
    // runs. (Any reply from another thread is applied after this returns.)
    if (c.state == State::Awaiting) {
      untrack(m_idle, c.idle_pos);
      c.request_deadline = m_now + m_options.request_timeout;
      track(m_pending, c.request_pos, id);
    }
  }

  // ---- replies ---------------------------------------------------------------------------

  void process_completions(std::vector<detail::Completion> completions) {
    for (auto& done : completions) complete(done);
  }

  /// complete() never runs a handler, so nothing is added to the batch while it is applied.
  void process_local_completions() {
    while (m_queue->has_local()) {
      const std::size_t n = m_queue->take_local(m_local_batch);
      for (std::size_t i = 0; i < n; ++i) complete(m_local_batch[i]);
    }
  }

  void complete(detail::Completion& done) {
    const auto it = m_conns.find(done.connection);
    if (it == m_conns.end() || it->second.state != State::Awaiting ||
        it->second.sequence != done.sequence) {
      relaxed_inc(m_stats.late_replies);
      return;
    }
    Connection& c = it->second;
    untrack(m_pending, c.request_pos);
    try {
      m_listeners[c.listener].protocol->encode(done.reply, c.out);
    } catch (const std::exception& e) {
      internal_error(done.connection, c, "protocol", e.what());
      ready(done.connection);
      return;
    }
    relaxed_inc(m_stats.replies);
    c.state = done.close_after || m_draining ? State::Closing : State::Reading;
    touch_idle(done.connection, c);
    ready(done.connection);
  }

  /// Queues a connection whose state changed outside its own event for flush + decode.
  void ready(std::uint64_t id) {
    if (id != m_current) m_ready.push_back(id);
  }

  void process_ready() {
    while (!m_ready.empty()) {
      auto ids = std::exchange(m_ready, {});
      for (const std::uint64_t id : ids) {
        const auto it = m_conns.find(id);
        if (it == m_conns.end() || it->second.state == State::Closed) continue;
        Connection& c = it->second;
        m_current = id;
        if (c.state == State::Reading) {
          process_input(id, c);
        } else {
          flush(c);
        }
        m_current = 0;
        if (c.state != State::Closed) update_interest(id, c);
      }
    }
  }

  /// Queues the protocol's reply for `why` and marks the connection for closing.
  void fail_and_close(Connection& c, Failure why) {
    untrack(m_pending, c.request_pos);
    c.state = State::Closing;
    try {
      auto& protocol = *m_listeners[c.listener].protocol;
      protocol.encode(protocol.failure_reply(why), c.out);
    } catch (const std::exception&) {
      close(c);  // cannot even say why
    }
  }

  void internal_error(std::uint64_t id, Connection& c, std::string_view where,
                      std::string_view what) {
    relaxed_inc(m_stats.internal_errors);
    m_log.error("request failed, closing connection", {{"listener", m_listeners[c.listener].name},
                                                       {"where", std::string(where)},
                                                       {"error", std::string(what)}});
    fail_and_close(c, Failure::Internal);
    touch_idle(id, c);
  }

  // ---- output ----------------------------------------------------------------------------

  /// Writes what the socket takes. Returns false when the connection was closed.
  bool flush(Connection& c) {
    if (c.state == State::Closed) return false;
    while (c.unsent() > 0) {
      const auto n =
          ::send(c.fd.get(), c.out.data() + c.out_offset, c.unsent(), MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n > 0) {
        c.out_offset += static_cast<std::size_t>(n);
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
      relaxed_inc(m_stats.aborted);
      close(c);
      return false;
    }
    if (c.unsent() == 0) {
      c.out.clear();
      c.out_offset = 0;
      if (c.state == State::Closing) {
        close(c);
        return false;
      }
    } else if (c.unsent() > m_options.max_output_bytes) {
      relaxed_inc(m_stats.output_overflows);
      m_overflow_log.warn(m_log, "client does not read its replies, closing", m_now);
      close(c);
      return false;
    } else if (c.out_offset > k_read_chunk && c.out_offset * 2 > c.out.size()) {
      c.out.erase(0, c.out_offset);
      c.out_offset = 0;
    }
    return true;
  }

  void update_interest(std::uint64_t id, Connection& c) {
    std::uint32_t want = 0;
    if (c.state == State::Reading && !c.peer_eof && !m_draining) want |= EPOLLIN;
    if (c.unsent() > 0) want |= EPOLLOUT;
    if (want == c.events) return;
    epoll_event ev{};
    ev.events = want;
    ev.data.u64 = id;
    if (::epoll_ctl(m_epoll.get(), EPOLL_CTL_MOD, c.fd.get(), &ev) != 0) {
      relaxed_inc(m_stats.aborted);
      close(c);
      return;
    }
    c.events = want;
  }

  // ---- timers and lifecycle --------------------------------------------------------------

  void touch_idle(std::uint64_t id, Connection& c) {
    if (c.state != State::Reading && c.state != State::Closing) return;
    c.idle_deadline = m_now + m_options.idle_timeout;
    track(m_idle, c.idle_pos, id);
  }

  /// Puts `id` at the end of `list` (the latest deadline). The node is moved, not
  /// reallocated: the connection's own node if it is in `list`, else a spare one.
  void track(Ids& list, std::optional<Ids::iterator>& pos, std::uint64_t id) {
    if (pos) {
      list.splice(list.end(), list, *pos);
      return;
    }
    if (m_spare.empty()) {
      pos = list.insert(list.end(), id);
      return;
    }
    const auto node = m_spare.begin();
    *node = id;
    list.splice(list.end(), m_spare, node);  // iterators stay valid across splice
    pos = node;
  }

  /// Takes the connection out of `list`; its node is kept in m_spare for the next track().
  void untrack(Ids& list, std::optional<Ids::iterator>& pos) {
    if (pos) m_spare.splice(m_spare.end(), list, *pos);
    pos.reset();
  }

  void expire_timers() {
    if (m_accept_paused && m_now >= m_accept_resume) resume_accepting();
    while (!m_idle.empty()) {
      Connection& c = m_conns.at(m_idle.front());
      if (c.idle_deadline > m_now) break;
      relaxed_inc(m_stats.idle_timeouts);
      m_log.debug("idle connection closed", {{"listener", m_listeners[c.listener].name}});
      close(c);
    }
    while (!m_pending.empty()) {
      const std::uint64_t id = m_pending.front();
      Connection& c = m_conns.at(id);
      if (c.request_deadline > m_now) break;
      relaxed_inc(m_stats.request_timeouts);
      m_log.warn("no decision within the request time limit, answered with a timeout",
                 {{"listener", m_listeners[c.listener].name}});
      untrack(m_pending, c.request_pos);
      // The handler's reply, if it ever comes, no longer matches (state/sequence): dropped.
      try {
        auto& protocol = *m_listeners[c.listener].protocol;
        protocol.encode(protocol.failure_reply(Failure::Timeout), c.out);
        c.state = m_draining ? State::Closing : State::Reading;
      } catch (const std::exception& e) {
        internal_error(id, c, "protocol", e.what());
      }
      touch_idle(id, c);
      ready(id);
    }
  }

  void begin_drain() {
    m_draining = true;
    m_drain_deadline = m_now + m_drain_timeout.load(std::memory_order_relaxed);
    for (auto& l : m_listeners) l.fd.reset();  // closing removes it from epoll
    for (auto& [id, c] : m_conns) {
      if (c.state == State::Reading) c.state = State::Closing;
      if (c.state == State::Closing) {
        flush(c);
        if (c.state != State::Closed) update_interest(id, c);
      }
    }
  }

  /// Closes at once; the entry is erased by reap() (events of this round may still name it).
  void close(Connection& c) {
    if (c.state == State::Closed) return;
    untrack(m_idle, c.idle_pos);
    untrack(m_pending, c.request_pos);
    c.state = State::Closed;
    c.fd.reset();
    c.in = {};
    c.out = {};
    --m_live;
    ++m_closed;
    m_stats.active.store(m_live, std::memory_order_relaxed);
  }

  /// Runs every loop iteration; walks the connections only when one was closed since.
  void reap() {
    if (m_closed == 0) return;
    std::erase_if(m_conns, [](const auto& entry) { return entry.second.state == State::Closed; });
    m_closed = 0;
  }

  ServerOptions m_options;
  util::Logger m_log;
  util::Fd m_epoll;
  std::shared_ptr<detail::CompletionQueue> m_queue;
  std::vector<Listener> m_listeners;
  ServerStats m_stats;

  /// Set by the first stop(); held while that stop joins the thread, so a second stop()
  /// waits for the first.
  util::Locked<bool> m_stopped{false};
  std::thread m_thread;
  std::atomic<bool> m_stop_requested{false};
  std::atomic<std::chrono::milliseconds> m_drain_timeout{};

  // Loop thread only.
  std::unordered_map<std::uint64_t, Connection> m_conns;
  Ids m_idle;     // Reading and Closing connections, by idle deadline
  Ids m_pending;  // Awaiting connections, by request deadline
  Ids m_spare;    // unused list nodes (at most one per tracked entry ever held)
  std::vector<detail::Completion> m_local_batch;  // reused by process_local_completions()
  std::vector<std::uint64_t> m_ready;
  std::uint64_t m_next_id = k_first_connection_id;
  std::uint64_t m_current = 0;
  std::size_t m_live = 0;
  std::size_t m_closed = 0;  // closed, not yet reaped
  SteadyTime m_now{};
  bool m_draining = false;
  SteadyTime m_drain_deadline{};
  bool m_accept_paused = false;
  SteadyTime m_accept_resume{};
  RateLimitedLog m_limit_log;
  RateLimitedLog m_accept_error_log;
  RateLimitedLog m_overflow_log;
  std::array<char, k_read_chunk> m_scratch{};
};

Server::Server(ServerOptions options, util::Logger log)
    : m_impl(std::make_unique<Impl>(std::move(options), std::move(log))) {}

Server::~Server() = default;

void Server::add_listener(std::string name, util::Fd listener, std::unique_ptr<Protocol> protocol,
                          Handler handler) {
  m_impl->add_listener(std::move(name), std::move(listener), std::move(protocol),
                       std::move(handler));
}

void Server::start() { m_impl->start(); }

void Server::stop(std::chrono::milliseconds drain_timeout) { m_impl->stop(drain_timeout); }

const ServerStats& Server::stats() const noexcept { return m_impl->stats(); }

}  // namespace tlspolicy::server
