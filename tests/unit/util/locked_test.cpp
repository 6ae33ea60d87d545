// SPDX-License-Identifier: Apache-2.0
//
// util::Locked and util::SharedLocked: the value only through a guard, the lock held for the
// guard's life (readers together, a writer alone), a timed lock that gives up.
#include "tlspolicy/util/locked.hpp"

#include <atomic>
#include <chrono>
#include <cstddef>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

namespace tlspolicy::util {
namespace {

using namespace std::chrono_literals;

TEST(Locked, GuardGivesTheValueAndHoldsTheLock) {
  Locked<std::vector<int>> v{std::size_t{3}, 7};
  {
    const auto g = v.lock();
    EXPECT_EQ(g->size(), 3U);
    g->push_back(1);
  }
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 1000; ++i) v.lock()->push_back(i);
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(v.lock()->size(), 4004U);  // no push lost: each ran alone
}

// Not under ThreadSanitizer: GCC 12's TSan does not intercept pthread_mutex_clocklock, which
// std::timed_mutex::try_lock_for uses, and then reports the guard's unlock as the unlock of an
// unlocked mutex.
#if !defined(__SANITIZE_THREAD__)
TEST(Locked, TimedLockGivesUpWhileAnotherHoldsIt) {
  Locked<int, std::timed_mutex> v{5};
  {
    const auto held = v.lock();
    std::optional<Locked<int, std::timed_mutex>::Guard> other;
    std::thread t{[&] { other = v.try_lock_for(20ms); }};
    t.join();
    EXPECT_FALSE(other.has_value());
  }
  auto free = v.try_lock_for(20ms);
  ASSERT_TRUE(free.has_value());
  EXPECT_EQ(**free, 5);
}
#endif

TEST(SharedLocked, ReadersTogetherWriterAlone) {
  SharedLocked<int> v{0};
  std::atomic<bool> wrote{false};
  std::thread writer;
  {
    const auto r1 = v.read();
    int seen = -1;
    std::thread reader{[&] { seen = *v.read(); }};  // shares the lock with r1
    reader.join();
    EXPECT_EQ(seen, 0);

    writer = std::thread{[&] {
      *v.write() = 1;
      wrote = true;
    }};
    std::this_thread::sleep_for(20ms);
    EXPECT_FALSE(wrote) << "a writer ran beside a reader";
    EXPECT_EQ(*r1, 0);
  }  // r1 released: the writer goes in
  writer.join();
  EXPECT_TRUE(wrote);
  EXPECT_EQ(*v.read(), 1);
}

}  // namespace
}  // namespace tlspolicy::util
