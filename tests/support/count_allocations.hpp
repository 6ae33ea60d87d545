// SPDX-License-Identifier: Apache-2.0
//
// Counts allocations: replaces the global operator new and delete (malloc/free underneath,
// so ASan still sees every block). Include it in exactly ONE source file of a test binary:
// it defines the replacement functions (which may not be inline).
//   testing::count_allocations(true) on a thread starts counting that thread's allocations,
//   testing::count_allocations(false) stops; testing::allocations() is the total counted.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdlib>
#include <new>

namespace tlspolicy::testing {

inline thread_local bool t_count_allocations = false;
inline std::atomic<std::size_t> g_allocations{0};

/// Starts (true) or stops (false) counting the calling thread's allocations.
inline void count_allocations(bool on) noexcept { t_count_allocations = on; }
/// Allocations counted so far, every thread together.
inline std::size_t allocations() noexcept { return g_allocations.load(); }
/// Sets the count back to 0.
inline void reset_allocations() noexcept { g_allocations.store(0); }

inline void* counted_malloc(std::size_t n) noexcept {
  if (t_count_allocations) g_allocations.fetch_add(1, std::memory_order_relaxed);
  return std::malloc(n == 0 ? 1 : n);
}

}  // namespace tlspolicy::testing

// NOLINTBEGIN: the replaceable global allocation functions. GCC, inlining them at -O2, takes
// the free() of memory from this malloc() for a mismatch.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
void* operator new(std::size_t n) {
  if (void* p = tlspolicy::testing::counted_malloc(n)) return p;
  throw std::bad_alloc{};
}
void* operator new[](std::size_t n) {
  if (void* p = tlspolicy::testing::counted_malloc(n)) return p;
  throw std::bad_alloc{};
}
void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
  return tlspolicy::testing::counted_malloc(n);
}
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept {
  return tlspolicy::testing::counted_malloc(n);
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }
#pragma GCC diagnostic pop
// NOLINTEND
