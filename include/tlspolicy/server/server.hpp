// SPDX-License-Identifier: Apache-2.0
//
// NAME
//   server - protocol-agnostic event-driven server for the daemon's sockets
// DESIGN
//   One loop thread (epoll) serves every listener and every connection. Each
//   listener has a Protocol (framing: netstring, JSON lines, ...) and a Handler
//   (the work). The server owns sockets, buffers, limits, timers and reply
//   ordering; it knows nothing about request contents.
//   At most one request per connection is outstanding: the next request is
//   decoded only after the reply to the previous one was queued, so replies
//   are in request order (Postfix and Exim send one request at a time;
//   pipelined requests are buffered and answered in turn).
//   The synchronous path allocates nothing once warm: a request reaches its
//   Handler as a view into the connection's input buffer, a reply given with
//   Responder::send_view during the call is copied into a reused slot, and
//   framing appends to the connection's output buffer
//   (tests/unit/server/alloc_test.cpp).
// LIMITS
//   ServerOptions: connections, request bytes, idle time, request time, and
//   unsent output per connection; each hit is counted in ServerStats.
// THREADS
//   Protocol and Handler are called on the loop thread only. A Handler may
//   answer later from any thread through its Responder (mutex-protected queue
//   plus an eventfd wake-up).
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "tlspolicy/util/fd.hpp"
#include "tlspolicy/util/log.hpp"

namespace tlspolicy::server {

/// Why the server answers a request itself instead of the handler.
enum class Failure {
  TooLarge,   ///< request (or unterminated input) longer than max_request_bytes; connection closed
  Malformed,  ///< framing error (e.g. bad netstring); connection closed
  Timeout,    ///< the handler did not answer within request_timeout; connection stays open
  Internal,   ///< the handler or protocol threw; connection closed
};

/// Result of one Protocol::decode() call.
struct Frame {
  enum class Status {
    NeedMore,  ///< no complete request in the buffer yet
    Request,   ///< text() is one request; `consumed` bytes of the buffer are its framing
    Bad,       ///< the input is unusable; the server replies failure_reply(failure) and closes
  };
  Status status = Status::NeedMore;
  /// The request: a view into the input buffer, valid until the server erases the `consumed`
  /// bytes (after the Handler returned), or `owned` when the protocol had to rebuild it.
  std::string_view request;
  std::size_t consumed = 0;
  std::string owned;
  bool is_owned = false;
  Failure failure = Failure::Malformed;

  [[nodiscard]] std::string_view text() const noexcept {
    return is_owned ? std::string_view{owned} : request;
  }
  [[nodiscard]] static Frame need_more() { return {}; }
  /// A request that is `request`, a view into the buffer, framed by its first `consumed` bytes.
  [[nodiscard]] static Frame of(std::string_view request, std::size_t consumed) {
    Frame f;
    f.status = Status::Request;
    f.request = request;
    f.consumed = consumed;
    return f;
  }
  /// A request the protocol rebuilt (not a plain slice of the buffer).
  [[nodiscard]] static Frame of_owned(std::string request, std::size_t consumed) {
    Frame f;
    f.status = Status::Request;
    f.owned = std::move(request);
    f.is_owned = true;
    f.consumed = consumed;
    return f;
  }
  [[nodiscard]] static Frame bad(Failure why) {
    Frame f;
    f.status = Status::Bad;
    f.failure = why;
    return f;
  }
};

/// Framing of one wire protocol. One object per listener, shared by its connections, called
/// on the loop thread only (so it needs no locking); it keeps no per-connection state: the
/// connection's unparsed input is passed in. May throw (the connection gets an internal error).
class Protocol {
 public:
  virtual ~Protocol() = default;

  /// Finds the first complete request at the front of `in` and returns it (Frame::of, a view
  /// into `in`; the server erases Frame::consumed bytes once the Handler returned). `eof`: the peer
  /// shut down its sending side, nothing more will arrive; a protocol that accepts an
  /// unterminated last request (JSON lines: Exim ${readsocket}) returns it now. A request, or
  /// an incomplete one already in `in`, longer than `max_request_bytes` gives
  /// Frame::bad(Failure::TooLarge). (The server also gives up when `in` grows past
  /// max_request_bytes plus a small framing allowance without a request.)
  [[nodiscard]] virtual Frame decode(std::string& in, bool eof, std::size_t max_request_bytes) = 0;

  /// Appends `reply` framed for the wire to `out` (netstring, line + '\n', ...).
  virtual void encode(std::string_view reply, std::string& out) = 0;

  /// The reply (unframed; encode() frames it) sent when the server fails a request itself,
  /// e.g. "TEMP timeout" (socketmap) or an error object (JSON).
  [[nodiscard]] virtual std::string failure_reply(Failure why) = 0;
};

namespace detail {
class CompletionQueue;
}

/// Completes one request. Copyable; every copy refers to the same request. Thread-safe:
/// may be called from any thread, during or after the Handler call. Only the first call
/// counts; a call after the request timed out, after the connection closed, or after the
/// server stopped is dropped (ServerStats::late_replies). Never throws except std::bad_alloc.
class Responder {
 public:
  /// Constructed by the Server only.
  Responder(std::shared_ptr<detail::CompletionQueue> queue, std::uint64_t connection,
            std::uint64_t sequence) noexcept;

  /// Sends `reply` (unframed; the Protocol frames it). `close_after`: close the connection
  /// once the reply is written.
  void operator()(std::string reply, bool close_after = false) const;
  /// The same for a reply the caller keeps: copied into a buffer the server reuses, so an
  /// answer given during the Handler call allocates nothing (the cached path).
  void send_view(std::string_view reply, bool close_after = false) const;

 private:
  std::shared_ptr<detail::CompletionQueue> m_queue;
  std::uint64_t m_connection;
  std::uint64_t m_sequence;
};

/// Does the work for one request. Called on the loop thread, so it must not block: answer
/// at once through `respond`, or hand a copy of what it needs of `request` (a view valid only
/// during the call) and `respond` to another thread. An exception escaping the handler
/// answers failure_reply(Failure::Internal) and closes that connection only.
using Handler = std::function<void(std::string_view request, const Responder& respond)>;

struct ServerOptions {
  /// Open connections across all listeners; beyond it new ones are accepted and closed at once.
  std::size_t max_connections = 1024;
  /// Longest request, passed to Protocol::decode (socketmap: 10000, SPEC §4).
  std::size_t max_request_bytes = 10000;
  /// A connection with no request in progress and no input for this long is closed.
  std::chrono::milliseconds idle_timeout = std::chrono::minutes(5);
  /// From a complete request to its reply; then the protocol's Timeout reply is sent instead.
  std::chrono::milliseconds request_timeout = std::chrono::seconds(30);
  /// A client that does not read its replies is closed once this many bytes wait unsent.
  std::size_t max_output_bytes = std::size_t{1024} * 1024;
  /// Whether input restarts idle_timeout. false: a connection with no request in progress is
  /// closed idle_timeout after it was accepted or got its last reply, however slowly it sends
  /// (a client that dribbles its request byte by byte cannot hold the connection: the
  /// metrics listener).
  bool input_extends_idle = true;
  /// The loop thread's name (ps -L), at most 15 characters.
  std::string thread_name = "tlspolicy-srv";
};

/// Counters, updated by the loop thread, readable from any thread (relaxed atomics).
struct ServerStats {
  std::atomic<std::uint64_t> accepted{0};  ///< connections accepted and served
  std::atomic<std::uint64_t> active{0};    ///< connections open now
  std::atomic<std::uint64_t> rejected_max_connections{0};
  std::atomic<std::uint64_t> accept_errors{0};  ///< EMFILE and friends
  std::atomic<std::uint64_t> requests{0};       ///< requests passed to a handler
  std::atomic<std::uint64_t> replies{0};        ///< handler replies queued for writing
  std::atomic<std::uint64_t> too_large{0};
  std::atomic<std::uint64_t> malformed{0};
  std::atomic<std::uint64_t> idle_timeouts{0};
  std::atomic<std::uint64_t> request_timeouts{0};
  std::atomic<std::uint64_t> output_overflows{0};  ///< closed: max_output_bytes exceeded
  std::atomic<std::uint64_t> internal_errors{0};   ///< handler or protocol threw
  std::atomic<std::uint64_t> late_replies{0};      ///< replies dropped (timed out, closed)
  std::atomic<std::uint64_t> aborted{0};           ///< peer vanished or socket error
};

class Server {
 public:
  /// Creates the epoll and eventfd descriptors; throws std::system_error if that fails.
  Server(ServerOptions options, util::Logger log);
  /// Stops (without drain) if still running.
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  /// Adds a listening socket (non-blocking, from listen_endpoint() or systemd). Only before
  /// start(). `name` appears in logs.
  void add_listener(std::string name, util::Fd listener, std::unique_ptr<Protocol> protocol,
                    Handler handler);

  /// Spawns the loop thread. Once.
  void start();

  /// Stops accepting, closes idle connections, lets requests in flight finish and their
  /// replies be written for up to `drain_timeout`, then closes everything and joins the loop
  /// thread. Blocks; idempotent; thread-safe, but not from the loop thread (a Handler).
  void stop(std::chrono::milliseconds drain_timeout = std::chrono::seconds(5));

  /// Thread-safe, lives as long as the Server.
  [[nodiscard]] const ServerStats& stats() const noexcept;

 private:
  class Impl;
  std::unique_ptr<Impl> m_impl;
};

}  // namespace tlspolicy::server
