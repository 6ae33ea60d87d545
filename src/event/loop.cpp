// SPDX-License-Identifier: Apache-2.0
//
// event::Loop: epoll + eventfd + a timer heap (see include/tlspolicy/event/loop.hpp).
#include "tlspolicy/event/loop.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <future>
#include <map>
#include <queue>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "tlspolicy/util/fd.hpp"
#include "tlspolicy/util/locked.hpp"

#include <pthread.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

namespace tlspolicy::event {
namespace {

constexpr std::uint64_t k_wakeup_token = ~std::uint64_t{0};
constexpr int k_max_events = 128;

std::system_error sys_error(const char* what) { return {errno, std::generic_category(), what}; }

std::uint64_t token(std::uint32_t slot, std::uint32_t generation) {
  return (std::uint64_t{generation} << 32U) | slot;
}

}  // namespace

class Loop::Impl {
 public:
  struct Slot {
    int fd = -1;
    std::uint32_t generation = 0;
    bool used = false;
    /// Shared, so that a callback that removes (or replaces) its own watch keeps running on
    /// a copy of the pointer, not on the slot's storage.
    std::shared_ptr<std::function<void(std::uint32_t)>> on_ready;
  };
  struct Timer {
    Clock::time_point at;
    TimerId id;
    bool operator>(const Timer& o) const { return at != o.at ? at > o.at : id > o.id; }
  };

  Impl() {
    util::Fd epoll{::epoll_create1(EPOLL_CLOEXEC)};
    if (!epoll) throw sys_error("epoll_create1");
    util::Fd event{::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)};
    if (!event) throw sys_error("eventfd");
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = k_wakeup_token;
    if (::epoll_ctl(epoll.get(), EPOLL_CTL_ADD, event.get(), &ev) != 0)
      throw sys_error("epoll_ctl");
    m_epoll = std::move(epoll);
    m_event = std::move(event);
  }

  std::uint32_t add_watch(int fd, std::uint32_t events, std::function<void(std::uint32_t)> fn) {
    std::uint32_t slot = 0;
    if (!m_free.empty()) {
      slot = m_free.back();
      m_free.pop_back();
    } else {
      slot = static_cast<std::uint32_t>(m_slots.size());
      m_slots.emplace_back();
    }
    auto& s = m_slots[slot];
    epoll_event ev{};
    ev.events = events;
    ev.data.u64 = token(slot, s.generation);
    if (::epoll_ctl(m_epoll.get(), EPOLL_CTL_ADD, fd, &ev) != 0) {
      const auto error = sys_error("epoll_ctl ADD");
      m_free.push_back(slot);
      throw error;
    }
    s.fd = fd;
    s.used = true;
    s.on_ready = std::make_shared<std::function<void(std::uint32_t)>>(std::move(fn));
    return slot;
  }

  void modify(std::uint32_t slot, std::uint32_t events) {
    auto& s = m_slots.at(slot);
    epoll_event ev{};
    ev.events = events;
    ev.data.u64 = token(slot, s.generation);
    if (::epoll_ctl(m_epoll.get(), EPOLL_CTL_MOD, s.fd, &ev) != 0) throw sys_error("epoll_ctl MOD");
  }

  void remove(std::uint32_t slot) {
    auto& s = m_slots.at(slot);
    if (!s.used) return;
    // The descriptor may already be closed by its owner (curl closes its sockets before
    // telling us): then the kernel dropped it from the epoll set, and ENOENT/EBADF is fine.
    (void)::epoll_ctl(m_epoll.get(), EPOLL_CTL_DEL, s.fd, nullptr);
    s.used = false;
    s.fd = -1;
    ++s.generation;  // events of this batch for the old registration are dropped
    s.on_ready.reset();
    m_free.push_back(slot);
  }

  TimerId add_timer(std::chrono::milliseconds delay, std::function<void()> fn) {
    const TimerId id = ++m_next_timer;
    m_timers.emplace(id, std::move(fn));
    m_heap.push(Timer{Clock::now() + std::max(delay, std::chrono::milliseconds{0}), id});
    return id;
  }

  bool cancel_timer(TimerId id) { return m_timers.erase(id) > 0; }

  void post(std::function<void()> fn) {
    bool was_empty = false;
    {
      auto q = m_posted.lock();
      was_empty = q->empty();
      q->push_back(std::move(fn));
    }
    if (was_empty) wake();
  }

  void wake() const noexcept {
    const std::uint64_t one = 1;
    [[maybe_unused]] const auto n = ::write(m_event.get(), &one, sizeof one);
  }

  void run(const std::function<bool()>* done) {
    m_thread.store(std::this_thread::get_id(), std::memory_order_release);
    std::array<epoll_event, k_max_events> events{};
    while (!m_stop.load(std::memory_order_acquire)) {
      run_ready();
      if (done != nullptr && (*done)()) break;
      if (m_stop.load(std::memory_order_acquire)) break;
      const int n = ::epoll_wait(m_epoll.get(), events.data(), k_max_events, wait_ms());
      if (n < 0 && errno != EINTR) throw sys_error("epoll_wait");
      for (int i = 0; i < n; ++i) dispatch(events[static_cast<std::size_t>(i)]);
      expire_timers();
    }
    m_thread.store(std::thread::id{}, std::memory_order_release);
  }

  std::size_t pending() const {
    const auto watches = m_slots.size() - m_free.size();
    return watches + m_timers.size() + m_deferred.size() + m_posted.lock()->size();
  }

  std::vector<Slot> m_slots;
  std::vector<std::uint32_t> m_free;
  std::priority_queue<Timer, std::vector<Timer>, std::greater<>> m_heap;
  std::map<TimerId, std::function<void()>> m_timers;
  TimerId m_next_timer = 0;
  std::vector<std::function<void()>> m_deferred;
  util::Locked<std::vector<std::function<void()>>> m_posted;
  std::atomic<bool> m_stop{false};
  std::atomic<std::thread::id> m_thread{};
  util::Fd m_epoll;
  util::Fd m_event;

 private:
  void dispatch(const epoll_event& ev) {
    if (ev.data.u64 == k_wakeup_token) {
      std::uint64_t value = 0;
      [[maybe_unused]] const auto n = ::read(m_event.get(), &value, sizeof value);
      return;
    }
    const auto slot = static_cast<std::uint32_t>(ev.data.u64 & 0xffffffffU);
    const auto generation = static_cast<std::uint32_t>(ev.data.u64 >> 32U);
    if (slot >= m_slots.size()) return;
    auto& s = m_slots[slot];
    if (!s.used || s.generation != generation) return;  // removed earlier in this batch
    const auto fn = s.on_ready;  // the callback may remove or reuse its own slot
    (*fn)(ev.events);
    run_ready();
  }

  // Posted functions, then deferred ones, until none is left.
  void run_ready() {
    for (;;) {
      std::vector<std::function<void()>> posted;
      std::swap(posted, *m_posted.lock());
      for (auto& fn : posted) fn();
      if (m_deferred.empty()) {
        if (m_posted.lock()->empty()) return;
        continue;
      }
      std::vector<std::function<void()>> deferred;
      std::swap(deferred, m_deferred);
      for (auto& fn : deferred) fn();
    }
  }

  void expire_timers() {
    const auto now = Clock::now();
    while (!m_heap.empty() && m_heap.top().at <= now) {
      const TimerId id = m_heap.top().id;
      m_heap.pop();
      auto it = m_timers.find(id);
      if (it == m_timers.end()) continue;  // cancelled
      auto fn = std::move(it->second);
      m_timers.erase(it);
      fn();
      run_ready();
    }
  }

  int wait_ms() {
    while (!m_heap.empty() && !m_timers.contains(m_heap.top().id)) m_heap.pop();
    if (m_heap.empty()) return -1;
    const auto left = m_heap.top().at - Clock::now();
    if (left <= Clock::duration::zero()) return 0;
    // Round up: waking a little late is fine, waking early would spin.
    const auto ms = std::chrono::ceil<std::chrono::milliseconds>(left).count();
    return static_cast<int>(std::min<decltype(ms)>(ms, 60'000));
  }
};

Watch::Watch(Watch&& other) noexcept
    : m_loop(std::exchange(other.m_loop, nullptr)), m_slot(other.m_slot) {}

Watch& Watch::operator=(Watch&& other) noexcept {
  if (this != &other) {
    reset();
    m_loop = std::exchange(other.m_loop, nullptr);
    m_slot = other.m_slot;
  }
  return *this;
}

Watch::~Watch() { reset(); }

void Watch::set_events(std::uint32_t events) {
  if (m_loop != nullptr) m_loop->m_impl->modify(m_slot, events);
}

void Watch::reset() {
  if (m_loop != nullptr) std::exchange(m_loop, nullptr)->m_impl->remove(m_slot);
}

Loop::Loop() : m_impl(std::make_unique<Impl>()) {}
Loop::~Loop() = default;

Watch Loop::watch(int fd, std::uint32_t events, std::function<void(std::uint32_t)> on_ready) {
  return Watch{this, m_impl->add_watch(fd, events, std::move(on_ready))};
}

TimerId Loop::after(std::chrono::milliseconds delay, std::function<void()> fn) {
  return m_impl->add_timer(delay, std::move(fn));
}

bool Loop::cancel(TimerId id) { return m_impl->cancel_timer(id); }

void Loop::defer(std::function<void()> fn) { m_impl->m_deferred.push_back(std::move(fn)); }

void Loop::run() { m_impl->run(nullptr); }

void Loop::run_until(const std::function<bool()>& done) { m_impl->run(&done); }

void Loop::post(std::function<void()> fn) { m_impl->post(std::move(fn)); }

void Loop::stop() {
  m_impl->m_stop.store(true, std::memory_order_release);
  m_impl->wake();
}

bool Loop::on_loop_thread() const noexcept {
  return m_impl->m_thread.load(std::memory_order_acquire) == std::this_thread::get_id();
}

std::size_t Loop::pending() const { return m_impl->pending(); }

class LoopThread::Impl {
 public:
  explicit Impl(const std::string& name) : m_thread([this] { m_loop.run(); }) {
    // Named for ps -L and top -H (at most 15 characters).
    (void)pthread_setname_np(m_thread.native_handle(), name.substr(0, 15).c_str());
  }
  Loop m_loop;
  std::thread m_thread;  // last: starts after the loop exists
};

LoopThread::LoopThread(const std::string& name) : m_impl(std::make_unique<Impl>(name)) {}

LoopThread::~LoopThread() { stop(); }

Loop& LoopThread::loop() noexcept { return m_impl->m_loop; }

void LoopThread::call(const std::function<void()>& fn) {
  std::promise<void> done;
  auto finished = done.get_future();
  m_impl->m_loop.post([&] {
    try {
      fn();
      done.set_value();
    } catch (...) {
      done.set_exception(std::current_exception());
    }
  });
  finished.get();
}

void LoopThread::stop() {
  if (!m_impl->m_thread.joinable()) return;
  m_impl->m_loop.stop();
  m_impl->m_thread.join();
}

}  // namespace tlspolicy::event
