// SPDX-License-Identifier: Apache-2.0
//
// NAME
//   event::Offload - where blocking work runs, away from the engine loop
// DESIGN
//   The loop never blocks: SQLite (a busy store waits up to store.busy_timeout),
//   the sendmail pipe and the TLS-RPT POST run on a small fixed ThreadPool, and
//   their completion comes back to the loop with Loop::post(). Tests use
//   InlineOffload, which runs both at once on the caller's thread.
//     co_await offload(where, [&] { return store.get(domain); })
// THREADS
//   ThreadPool: `threads` workers take jobs in order (FIFO); `done` runs on the
//   loop thread. Destruction stops taking jobs, finishes the queued ones and joins.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>

#include "tlspolicy/event/loop.hpp"
#include "tlspolicy/event/task.hpp"

namespace tlspolicy::event {

class Offload {
 public:
  virtual ~Offload() = default;
  /// Runs `job` where blocking is allowed, then `done` on the loop thread (or, for
  /// InlineOffload, at once on the caller's thread). Neither may throw.
  virtual void run(std::function<void()> job, std::function<void()> done) = 0;
};

class InlineOffload final : public Offload {
 public:
  void run(std::function<void()> job, std::function<void()> done) override {
    job();
    done();
  }
};

class ThreadPool final : public Offload {
 public:
  /// `loop` receives the completions; it must outlive the pool's last job.
  ThreadPool(Loop& loop, std::size_t threads, const std::string& name);
  ~ThreadPool() override;
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  void run(std::function<void()> job, std::function<void()> done) override;
  /// Runs `job` on a worker, with no completion (fire and forget).
  void submit(std::function<void()> job);
  /// Jobs queued or running now.
  [[nodiscard]] std::size_t backlog() const;

 private:
  class Impl;
  std::unique_ptr<Impl> m_impl;
};

/// Runs fn() through `where` and resumes with its result on the loop.
template <class F>
Task<std::invoke_result_t<F&>> offload(Offload& where, F fn) {
  using R = std::invoke_result_t<F&>;
  std::optional<R> result;
  struct Done {};
  co_await completion<Done>([&](auto cb) {
    where.run([&] { result.emplace(fn()); }, [cb = std::move(cb)] { cb(Done{}); });
  });
  co_return std::move(*result);
}

}  // namespace tlspolicy::event
