// SPDX-License-Identifier: Apache-2.0
//
// event::ThreadPool (include/tlspolicy/event/offload.hpp).
#include "tlspolicy/event/offload.hpp"

#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include <pthread.h>

namespace tlspolicy::event {

class ThreadPool::Impl {
 public:
  Impl(Loop& loop, std::size_t threads, const std::string& name) : m_loop(loop) {
    const std::size_t n = threads == 0 ? 1 : threads;
    m_threads.reserve(n);
    for (std::size_t i = 0; i < n; ++i) {
      m_threads.emplace_back([this] { work(); });
      // Named for ps -L and top -H (at most 15 characters).
      (void)pthread_setname_np(m_threads.back().native_handle(), name.substr(0, 15).c_str());
    }
  }

  ~Impl() {
    {
      const std::lock_guard lock{m_mu};
      m_stop = true;
    }
    m_cv.notify_all();
    for (auto& t : m_threads) t.join();
  }

  void push(std::function<void()> job) {
    {
      const std::lock_guard lock{m_mu};
      m_jobs.push_back(std::move(job));
    }
    m_cv.notify_one();
  }

  std::size_t backlog() const {
    const std::lock_guard lock{m_mu};
    return m_jobs.size() + m_running;
  }

  Loop& m_loop;

 private:
  void work() {
    for (;;) {
      std::function<void()> job;
      {
        std::unique_lock lock{m_mu};
        m_cv.wait(lock, [this] { return m_stop || !m_jobs.empty(); });
        if (m_jobs.empty()) return;  // stopping, and every queued job ran
        job = std::move(m_jobs.front());
        m_jobs.pop_front();
        ++m_running;
      }
      job();
      const std::lock_guard lock{m_mu};
      --m_running;
    }
  }

  // A raw mutex, not util::Locked: the condition variable waits on it.
  mutable std::mutex m_mu;
  std::condition_variable m_cv;
  std::deque<std::function<void()>> m_jobs;  // guarded by m_mu
  std::size_t m_running = 0;                 // guarded by m_mu
  bool m_stop = false;                       // guarded by m_mu
  std::vector<std::thread> m_threads;        // last: starts after what it uses
};

ThreadPool::ThreadPool(Loop& loop, std::size_t threads, const std::string& name)
    : m_impl(std::make_unique<Impl>(loop, threads, name)) {}

ThreadPool::~ThreadPool() = default;

void ThreadPool::run(std::function<void()> job, std::function<void()> done) {
  m_impl->push([this, job = std::move(job), done = std::move(done)]() mutable {
    job();
    m_impl->m_loop.post(std::move(done));
  });
}

void ThreadPool::submit(std::function<void()> job) { m_impl->push(std::move(job)); }

std::size_t ThreadPool::backlog() const { return m_impl->backlog(); }

}  // namespace tlspolicy::event
