// SPDX-License-Identifier: Apache-2.0
//
// event::Task, when_all, completion, spawn, sync_wait and event::Loop: the machinery the
// engine's decision steps run on.
#include "tlspolicy/event/task.hpp"

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "tlspolicy/event/loop.hpp"
#include "tlspolicy/event/offload.hpp"
#include "tlspolicy/util/fd.hpp"

#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

namespace tlspolicy::event {
namespace {

using namespace std::chrono_literals;

Task<int> value(int v) { co_return v; }

Task<int> sum(int a, int b) {
  const int x = co_await value(a);
  const int y = co_await value(b);
  co_return x + y;
}

Task<int> thrower() {
  throw std::runtime_error("boom");
  co_return 0;
}

/// Completes later, on the loop: after `delay` (a timer), through defer().
Task<int> later(Loop& loop, int v, std::chrono::milliseconds delay) {
  co_return co_await completion<int>(
      [&loop, v, delay](auto cb) { loop.after(delay, [cb, v] { cb(v); }); });
}

TEST(Task, ChainsRunInlineWhenNothingWaits) { EXPECT_EQ(sync_wait(sum(2, 3)), 5); }

TEST(Task, ExceptionsReachTheAwaiter) {
  EXPECT_THROW((void)sync_wait(thrower()), std::runtime_error);
  auto outer = []() -> Task<std::string> {
    try {
      (void)co_await thrower();
    } catch (const std::runtime_error& e) {
      co_return std::string{"caught "} + e.what();
    }
    co_return std::string{};
  };
  EXPECT_EQ(sync_wait(outer()), "caught boom");
}

TEST(Task, NestedChains) {
  // (Symmetric transfer keeps the stack flat only where the compiler makes it a tail call,
  // which GCC does not at -O0: the engine nests a handful of steps, never thousands.)
  struct Deep {
    static Task<int> down(int n) {
      if (n == 0) co_return 0;  // (GCC 12 evaluates a co_await inside ?: in both arms)
      co_return 1 + co_await down(n - 1);
    }
  };
  EXPECT_EQ(sync_wait(Deep::down(500)), 500);
}

TEST(WhenAll, InlineTasksInOrder) {
  std::vector<Task<int>> tasks;
  for (int i = 0; i < 5; ++i) tasks.push_back(value(i * 10));
  EXPECT_EQ(sync_wait(when_all(std::move(tasks))), (std::vector<int>{0, 10, 20, 30, 40}));
  const auto [a, b] = sync_wait(when_all(value(1), sum(2, 3)));
  EXPECT_EQ(a, 1);
  EXPECT_EQ(b, 5);
  EXPECT_TRUE(sync_wait(when_all(std::vector<Task<int>>{})).empty());
}

TEST(WhenAll, RunsConcurrentlyOnTheLoop) {
  Loop loop;
  std::vector<Task<int>> tasks;
  // Three 100 ms waits together take about 100 ms, not 300 ms.
  for (int i = 0; i < 3; ++i) tasks.push_back(later(loop, i, 100ms));
  const auto start = std::chrono::steady_clock::now();
  const auto got = sync_wait(when_all(std::move(tasks)), &loop);
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(got, (std::vector<int>{0, 1, 2}));
  EXPECT_LT(took, 250ms);
  const auto [x, y] = sync_wait(when_all(later(loop, 7, 10ms), value(8)), &loop);
  EXPECT_EQ(x + y, 15);
}

TEST(WhenAll, AnExceptionReachesTheParentAfterAllEnded) {
  Loop loop;
  int ended = 0;
  auto counted = [&](std::chrono::milliseconds d) -> Task<int> {
    const int v = co_await later(loop, 1, d);
    ++ended;
    co_return v;
  };
  std::vector<Task<int>> tasks;
  tasks.push_back(counted(20ms));
  tasks.push_back(thrower());
  tasks.push_back(counted(40ms));
  EXPECT_THROW((void)sync_wait(when_all(std::move(tasks)), &loop), std::runtime_error);
  EXPECT_EQ(ended, 2);
}

TEST(Spawn, DoneRunsWithTheResult) {
  Loop loop;
  int got = 0;
  spawn(later(loop, 42, 5ms), [&](int v) {
    got = v;
    loop.stop();
  });
  loop.run();
  EXPECT_EQ(got, 42);
}

TEST(Loop, TimersFireInOrderAndCancelledOnesDoNot) {
  Loop loop;
  std::vector<int> fired;
  loop.after(30ms, [&] { fired.push_back(3); });
  loop.after(10ms, [&] { fired.push_back(1); });
  const TimerId cancelled = loop.after(20ms, [&] { fired.push_back(2); });
  loop.after(40ms, [&] { loop.stop(); });
  EXPECT_TRUE(loop.cancel(cancelled));
  EXPECT_FALSE(loop.cancel(cancelled));
  loop.run();
  EXPECT_EQ(fired, (std::vector<int>{1, 3}));
}

TEST(Loop, PostFromAnotherThreadWakesTheLoop) {
  Loop loop;
  std::atomic<int> ran{0};
  std::thread t{[&] {
    std::this_thread::sleep_for(20ms);
    loop.post([&] {
      ++ran;
      loop.stop();
    });
  }};
  loop.run();
  t.join();
  EXPECT_EQ(ran.load(), 1);
}

TEST(Loop, WatchSeesReadableAndStopsWhenReset) {
  Loop loop;
  int fds[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
  const util::Fd a{fds[0]};
  const util::Fd b{fds[1]};
  int calls = 0;
  Watch w = loop.watch(a.get(), EPOLLIN, [&](std::uint32_t events) {
    EXPECT_TRUE(events & EPOLLIN);
    char c = 0;
    EXPECT_EQ(::read(a.get(), &c, 1), 1);
    if (++calls == 2) w.reset();  // a watch may remove itself
  });
  ASSERT_EQ(::write(b.get(), "xy", 2), 2);
  loop.after(50ms, [&] { loop.stop(); });
  loop.run();
  EXPECT_EQ(calls, 2);
  EXPECT_FALSE(w);
  EXPECT_EQ(loop.pending(), 0u);
}

TEST(Offload, PoolRunsJobsOffTheLoopAndResumesOnIt) {
  Loop loop;
  ThreadPool pool{loop, 2, "test"};
  auto work = [&]() -> Task<bool> {
    const auto loop_thread = std::this_thread::get_id();
    const auto job_thread = co_await offload(pool, [] { return std::this_thread::get_id(); });
    co_return job_thread != loop_thread&& std::this_thread::get_id() == loop_thread;
  };
  EXPECT_TRUE(sync_wait(work(), &loop));
  InlineOffload inline_offload;
  EXPECT_EQ(sync_wait(offload(inline_offload, [] { return 7; })), 7);
}

}  // namespace
}  // namespace tlspolicy::event
