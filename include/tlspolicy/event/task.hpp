// SPDX-License-Identifier: Apache-2.0
//
// NAME
//   event::Task - the coroutine type the engine's decision steps are written in
// DESIGN
//   Task<T> is lazy: it starts when awaited (or spawned) and, when it ends,
//   resumes its awaiter by symmetric transfer, so long chains of tasks do not
//   grow the stack. Exceptions travel to the awaiter. Nothing here knows about
//   threads: a task runs where it is resumed, which in the daemon is always
//   the engine loop's thread (event::Loop), so the steps need no locks.
//     co_await task                         run a step and take its result
//     when_all(tasks...) / when_all(vector) run steps concurrently, wait for all
//     completion<T>(start)                  turn a callback API into an awaitable:
//                                           start(cb) begins the operation, cb(T)
//                                           ends it (inline, or later on the loop)
//     spawn(task, done)                     start a task nobody awaits; done(T)
//     sync_wait(task, loop)                 run a task to its end (CLI, tests)
// LIMITS
//   A Task is awaited once. Tasks given to spawn() must not throw (an escaping
//   exception terminates the process): the engine turns failures into values.
//   GCC 12 evaluates a co_await inside both arms of ?: — write an if instead.
//   GCC 12 destroys a braced temporary argument of a co_await'ed call twice
//   (co_await f(T{...})): name it first, then pass std::move(name).
#pragma once

#include <atomic>
#include <coroutine>
#include <cstddef>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "tlspolicy/event/loop.hpp"

namespace tlspolicy::event {

template <class T = void>
class Task;

namespace detail {

struct TaskFinal {
  [[nodiscard]] bool await_ready() const noexcept { return false; }
  template <class P>
  std::coroutine_handle<> await_suspend(std::coroutine_handle<P> h) const noexcept {
    return h.promise().continuation;
  }
  void await_resume() const noexcept {}
};

struct TaskPromiseBase {
  std::coroutine_handle<> continuation = std::noop_coroutine();
  std::exception_ptr error;
  [[nodiscard]] std::suspend_always initial_suspend() const noexcept { return {}; }
  [[nodiscard]] TaskFinal final_suspend() const noexcept { return {}; }
  void unhandled_exception() noexcept { error = std::current_exception(); }
};

template <class T>
struct TaskPromise : TaskPromiseBase {
  std::optional<T> value;
  Task<T> get_return_object() noexcept;
  template <class U>
  void return_value(U&& v) {
    value.emplace(std::forward<U>(v));
  }
  T take() {
    if (error) std::rethrow_exception(error);
    return std::move(*value);
  }
};

template <>
struct TaskPromise<void> : TaskPromiseBase {
  Task<void> get_return_object() noexcept;
  void return_void() noexcept {}
  void take() const {
    if (error) std::rethrow_exception(error);
  }
};

/// A coroutine that starts at once and frees itself at its end (spawn, sync_wait).
struct Detached {
  struct promise_type {
    Detached get_return_object() noexcept { return {}; }
    [[nodiscard]] std::suspend_never initial_suspend() const noexcept { return {}; }
    [[nodiscard]] std::suspend_never final_suspend() const noexcept { return {}; }
    void return_void() noexcept {}
    [[noreturn]] void unhandled_exception() noexcept { std::terminate(); }
  };
};

}  // namespace detail

template <class T>
class [[nodiscard]] Task {
 public:
  using promise_type = detail::TaskPromise<T>;
  using Handle = std::coroutine_handle<promise_type>;

  Task() = default;
  explicit Task(Handle h) noexcept : m_h(h) {}
  Task(Task&& other) noexcept : m_h(std::exchange(other.m_h, {})) {}
  Task& operator=(Task&& other) noexcept {
    if (this != &other) {
      reset();
      m_h = std::exchange(other.m_h, {});
    }
    return *this;
  }
  Task(const Task&) = delete;
  Task& operator=(const Task&) = delete;
  ~Task() { reset(); }

  auto operator co_await() && noexcept {
    struct Awaiter {
      Handle h;
      [[nodiscard]] bool await_ready() const noexcept { return false; }
      std::coroutine_handle<> await_suspend(std::coroutine_handle<> awaiting) noexcept {
        h.promise().continuation = awaiting;
        return h;
      }
      T await_resume() { return h.promise().take(); }
    };
    return Awaiter{m_h};
  }

 private:
  void reset() noexcept {
    if (m_h) m_h.destroy();
    m_h = {};
  }
  Handle m_h;
};

namespace detail {

template <class T>
Task<T> TaskPromise<T>::get_return_object() noexcept {
  return Task<T>{std::coroutine_handle<TaskPromise<T>>::from_promise(*this)};
}

inline Task<void> TaskPromise<void>::get_return_object() noexcept {
  return Task<void>{std::coroutine_handle<TaskPromise<void>>::from_promise(*this)};
}

// --- when_all ----------------------------------------------------------------------------------

struct JoinState {
  std::size_t pending = 0;
  std::coroutine_handle<> parent;
  bool parent_waiting = false;
  std::exception_ptr error;
};

/// Runs one task of a when_all; the last to finish resumes the parent.
class JoinRunner {
 public:
  struct promise_type {
    JoinState* state = nullptr;
    JoinRunner get_return_object() noexcept {
      return JoinRunner{std::coroutine_handle<promise_type>::from_promise(*this)};
    }
    [[nodiscard]] std::suspend_always initial_suspend() const noexcept { return {}; }
    struct Final {
      [[nodiscard]] bool await_ready() const noexcept { return false; }
      std::coroutine_handle<> await_suspend(std::coroutine_handle<promise_type> h) noexcept {
        JoinState& s = *h.promise().state;
        if (--s.pending == 0 && s.parent_waiting) return s.parent;
        return std::noop_coroutine();
      }
      void await_resume() const noexcept {}
    };
    [[nodiscard]] Final final_suspend() const noexcept { return {}; }
    void return_void() noexcept {}
    void unhandled_exception() noexcept {
      if (!state->error) state->error = std::current_exception();
    }
  };
  using Handle = std::coroutine_handle<promise_type>;

  explicit JoinRunner(Handle h) noexcept : m_h(h) {}
  JoinRunner(JoinRunner&& other) noexcept : m_h(std::exchange(other.m_h, {})) {}
  JoinRunner& operator=(JoinRunner&&) = delete;
  JoinRunner(const JoinRunner&) = delete;
  JoinRunner& operator=(const JoinRunner&) = delete;
  ~JoinRunner() {
    if (m_h) m_h.destroy();
  }
  [[nodiscard]] Handle handle() const noexcept { return m_h; }

 private:
  Handle m_h;
};

template <class T>
JoinRunner run_into(Task<T> task, std::optional<T>& out) {
  out.emplace(co_await std::move(task));
}

/// Starts every runner; suspends the parent unless all ended inline.
struct JoinAwaiter {
  std::vector<JoinRunner>& runners;
  JoinState& state;
  [[nodiscard]] bool await_ready() const noexcept { return runners.empty(); }
  bool await_suspend(std::coroutine_handle<> parent) {
    state.parent = parent;
    state.pending = runners.size();
    for (auto& r : runners) {
      r.handle().promise().state = &state;
      r.handle().resume();
    }
    if (state.pending == 0) return false;
    state.parent_waiting = true;
    return true;
  }
  void await_resume() const {
    if (state.error) std::rethrow_exception(state.error);
  }
};

}  // namespace detail

/// Runs every task concurrently; the results in the order of the tasks.
template <class T>
Task<std::vector<T>> when_all(std::vector<Task<T>> tasks) {
  std::vector<std::optional<T>> results(tasks.size());
  detail::JoinState state;
  std::vector<detail::JoinRunner> runners;
  runners.reserve(tasks.size());
  for (std::size_t i = 0; i < tasks.size(); ++i) {
    runners.push_back(detail::run_into(std::move(tasks[i]), results[i]));
  }
  co_await detail::JoinAwaiter{runners, state};
  std::vector<T> out;
  out.reserve(results.size());
  for (auto& r : results) out.push_back(std::move(*r));
  co_return out;
}

/// Runs the tasks concurrently; their results as a tuple.
template <class... T>
Task<std::tuple<T...>> when_all(Task<T>... tasks) {
  std::tuple<std::optional<T>...> results;
  detail::JoinState state;
  std::vector<detail::JoinRunner> runners;
  runners.reserve(sizeof...(T));
  [&]<std::size_t... I>(std::index_sequence<I...>) {
    (runners.push_back(detail::run_into(std::move(tasks), std::get<I>(results))), ...);
  }
  (std::index_sequence_for<T...>{});
  co_await detail::JoinAwaiter{runners, state};
  co_return std::apply([](auto&... r) { return std::tuple<T...>{std::move(*r)...}; }, results);
}

/// An awaitable for a callback API: `start(cb)` begins the operation and `cb(T)` ends it,
/// inline or later from the loop (never from another thread). The awaiting coroutine
/// resumes inside cb, so cb must be called where that is safe (loop callbacks deliver
/// completions with Loop::defer).
template <class T, class Start>
auto completion(Start start) {
  struct Awaiter {
    Start start;
    std::optional<T> result;
    std::coroutine_handle<> waiting;
    bool suspended = false;
    [[nodiscard]] bool await_ready() const noexcept { return false; }
    bool await_suspend(std::coroutine_handle<> h) {
      waiting = h;
      start([this](T value) {
        result.emplace(std::move(value));
        if (suspended) waiting.resume();
      });
      if (result) return false;  // ended inline
      suspended = true;
      return true;
    }
    T await_resume() { return std::move(*result); }
  };
  return Awaiter{std::move(start), std::nullopt, {}, false};
}

/// A task started now whose result is awaited later, or never: work that may be needed is
/// begun early (the TLSA lookup of an MX host beside its address lookups) without making the
/// caller wait for it when it turns out not to be. `active`, when given, counts the started
/// tasks that have not ended (so their owner is not destroyed under them). Awaited once.
template <class T>
class [[nodiscard]] Started {
  struct State {
    std::optional<T> result;
    std::exception_ptr error;
    std::coroutine_handle<> waiter;
  };

 public:
  explicit Started(Task<T> task, std::atomic<std::size_t>* active = nullptr)
      : m_state(std::make_shared<State>()) {
    if (active != nullptr) ++*active;
    [](Task<T> t, std::shared_ptr<State> st, std::atomic<std::size_t>* n) -> detail::Detached {
      try {
        st->result.emplace(co_await std::move(t));
      } catch (...) {
        st->error = std::current_exception();
      }
      if (n != nullptr) --*n;
      if (auto w = std::exchange(st->waiter, {})) w.resume();
    }(std::move(task), m_state, active);
  }

  auto operator co_await() {
    struct Awaiter {
      std::shared_ptr<State> st;
      [[nodiscard]] bool await_ready() const noexcept { return st->result || st->error; }
      void await_suspend(std::coroutine_handle<> h) noexcept { st->waiter = h; }
      T await_resume() {
        if (st->error) std::rethrow_exception(st->error);
        return std::move(*st->result);
      }
    };
    return Awaiter{m_state};
  }

 private:
  std::shared_ptr<State> m_state;
};

/// Starts `task`; `done(result)` runs when it ends. The task must not throw.
template <class T, class Done>
void spawn(Task<T> task, Done done) {
  [](Task<T> t, Done d) -> detail::Detached {
    if constexpr (std::is_void_v<T>) {
      co_await std::move(t);
      d();
    } else {
      d(co_await std::move(t));
    }
  }(std::move(task), std::move(done));
}

/// Runs `task` to its end: inline when everything it waits for completes inline (fakes), or
/// by running `loop` until it ends. Rethrows the task's exception.
template <class T>
T sync_wait(Task<T> task, Loop* loop = nullptr) {
  std::optional<T> out;
  std::exception_ptr error;
  bool done = false;
  [](Task<T> t, std::optional<T>& o, std::exception_ptr& e, bool& d) -> detail::Detached {
    try {
      o.emplace(co_await std::move(t));
    } catch (...) {
      e = std::current_exception();
    }
    d = true;
  }(std::move(task), out, error, done);
  if (!done) {
    if (loop == nullptr) throw std::logic_error("sync_wait: the task waits and no loop runs it");
    loop->run_until([&done] { return done; });
  }
  if (error) std::rethrow_exception(error);
  if (!out) throw std::logic_error("sync_wait: the loop stopped before the task ended");
  return std::move(*out);
}

}  // namespace tlspolicy::event
