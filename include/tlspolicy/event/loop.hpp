// SPDX-License-Identifier: Apache-2.0
//
// NAME
//   event::Loop - the engine's event loop: file descriptors, timers and work
//   handed in from other threads, on one thread
// DESIGN
//   One epoll descriptor, level-triggered. Watches are slots in a vector; an
//   epoll event carries the slot and its generation, so an event for a watch
//   removed earlier in the same batch is recognised and dropped. Timers are a
//   min-heap of (deadline, id) with the callbacks in a map; a cancelled timer
//   is dropped when it reaches the top. Three queues of work:
//     post()   any thread: a locked vector and an eventfd wake-up;
//     defer()  the loop thread: run after the current event, before the next
//              wait (completions are delivered this way, never from inside a
//              library's callback, so a resumed coroutine may call into that
//              library again);
//     after()  the loop thread: a timer.
// THREADS
//   The thread that calls run()/run_until() is the loop thread. post() and
//   stop() may be called from any thread; everything else on the loop thread.
//   Callbacks run on the loop thread, one at a time.
// SEE ALSO
//   event/task.hpp (coroutines on this loop), docs/architecture.md (thread roles)
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace tlspolicy::event {

class Loop;

/// A registered file descriptor. Removing the watch (destruction, reset()) stops its
/// callbacks at once, even for events already returned by the current epoll_wait. The
/// descriptor itself is not closed: it belongs to whoever registered it.
class Watch {
 public:
  Watch() = default;
  Watch(Watch&& other) noexcept;
  Watch& operator=(Watch&& other) noexcept;
  Watch(const Watch&) = delete;
  Watch& operator=(const Watch&) = delete;
  ~Watch();

  /// The epoll events to wait for (EPOLLIN, EPOLLOUT, or both; 0 = none for now).
  void set_events(std::uint32_t events);
  void reset();
  [[nodiscard]] explicit operator bool() const noexcept { return m_loop != nullptr; }

 private:
  friend class Loop;
  Watch(Loop* loop, std::uint32_t slot) noexcept : m_loop(loop), m_slot(slot) {}
  Loop* m_loop = nullptr;
  std::uint32_t m_slot = 0;
};

using TimerId = std::uint64_t;

class Loop {
 public:
  using Clock = std::chrono::steady_clock;

  /// Creates the epoll and eventfd descriptors; throws std::system_error if that fails.
  Loop();
  ~Loop();
  Loop(const Loop&) = delete;
  Loop& operator=(const Loop&) = delete;

  // --- the loop thread ---------------------------------------------------------------------
  /// Calls `on_ready(events)` while `fd` is ready for `events` (EPOLLIN/EPOLLOUT; errors and
  /// hang-ups are reported as well). Throws std::system_error when epoll refuses the fd.
  [[nodiscard]] Watch watch(int fd, std::uint32_t events,
                            std::function<void(std::uint32_t)> on_ready);
  /// Runs `fn` once, `delay` from now.
  TimerId after(std::chrono::milliseconds delay, std::function<void()> fn);
  /// Cancels a timer that has not fired; false when it already fired or never existed.
  bool cancel(TimerId id);
  /// Runs `fn` after the current callback, before the loop waits again.
  void defer(std::function<void()> fn);

  /// Runs until stop(). Returns at once if stop() was already called.
  void run();
  /// Runs until `done()` is true (checked after every round of callbacks) or stop().
  void run_until(const std::function<bool()>& done);

  // --- any thread ----------------------------------------------------------------------------
  /// Runs `fn` on the loop thread soon. Never blocks on the loop.
  void post(std::function<void()> fn);
  /// Makes run() return after the current callback.
  void stop();
  /// True on the loop thread while run()/run_until() runs.
  [[nodiscard]] bool on_loop_thread() const noexcept;

  /// Work still known to the loop: watches, timers, deferred and posted functions.
  [[nodiscard]] std::size_t pending() const;

 private:
  friend class Watch;
  class Impl;
  std::unique_ptr<Impl> m_impl;
};

/// A Loop run by a thread of its own: the daemon's engine thread, the CLI's report commands.
/// The destructor stops the loop and joins the thread.
class LoopThread {
 public:
  /// `name` names the thread (ps -L, top -H; at most 15 characters are kept).
  explicit LoopThread(const std::string& name = "loop");
  ~LoopThread();
  LoopThread(const LoopThread&) = delete;
  LoopThread& operator=(const LoopThread&) = delete;

  [[nodiscard]] Loop& loop() noexcept;
  /// Runs `fn` on the loop thread and waits for it to end (never call it from that thread);
  /// rethrows what `fn` threw.
  void call(const std::function<void()>& fn);
  /// Stops the loop and joins the thread (idempotent).
  void stop();

 private:
  class Impl;
  std::unique_ptr<Impl> m_impl;
};

}  // namespace tlspolicy::event
