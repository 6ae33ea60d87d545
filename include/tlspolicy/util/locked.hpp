// SPDX-License-Identifier: Apache-2.0
//
// Locked<T> and SharedLocked<T>: a value and the one mutex that guards it; the only way to
// the value is through a guard that unlocks at scope end (PowerDNS LockGuarded style,
// HOUSE-STYLE §2). SharedLocked is for state read far more often than written (the decision
// memory): read() shares the lock and gives a const value, write() takes it alone.
//
// A raw mutex stays only where it guards an activity rather than a value (one report tick at a
// time, one writer of stderr), or where a condition variable waits on it; each says so where
// it is declared (docs/architecture.md, "Shared state").
#pragma once

#include <chrono>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <utility>

namespace tlspolicy::util {

/// Access to a guarded value for as long as the guard lives.
template <class Value, class Lock>
class LockGuarded {
 public:
  LockGuarded(Lock lock, Value* value) noexcept : m_lock(std::move(lock)), m_value(value) {}
  Value* operator->() const noexcept { return m_value; }
  Value& operator*() const noexcept { return *m_value; }

 private:
  Lock m_lock;
  Value* m_value;
};

/// `Mutex` is std::mutex, or std::timed_mutex for a caller that must not wait longer than a
/// deadline (try_lock_for).
template <class T, class Mutex = std::mutex>
class Locked {
 public:
  using Guard = LockGuarded<T, std::unique_lock<Mutex>>;
  using ConstGuard = LockGuarded<const T, std::unique_lock<Mutex>>;

  template <class... Args>
  explicit Locked(Args&&... args) : m_value(std::forward<Args>(args)...) {}

  Locked(const Locked&) = delete;
  Locked& operator=(const Locked&) = delete;

  /// Blocks until the mutex is free; the guard gives access until it is destroyed.
  [[nodiscard]] Guard lock() { return {std::unique_lock(m_mutex), &m_value}; }
  [[nodiscard]] ConstGuard lock() const { return {std::unique_lock(m_mutex), &m_value}; }

  /// The guard, or nullopt when the mutex stayed taken for `wait` (a timed `Mutex` only).
  template <class Rep, class Period>
  [[nodiscard]] std::optional<Guard> try_lock_for(std::chrono::duration<Rep, Period> wait) {
    std::unique_lock lock{m_mutex, std::defer_lock};
    if (!lock.try_lock_for(wait)) return std::nullopt;
    return Guard{std::move(lock), &m_value};
  }

 private:
  mutable Mutex m_mutex;
  T m_value;
};

template <class T>
class SharedLocked {
 public:
  template <class... Args>
  explicit SharedLocked(Args&&... args) : m_value(std::forward<Args>(args)...) {}

  SharedLocked(const SharedLocked&) = delete;
  SharedLocked& operator=(const SharedLocked&) = delete;

  /// Shared with other readers; blocks while a writer holds it.
  [[nodiscard]] LockGuarded<const T, std::shared_lock<std::shared_mutex>> read() const {
    return {std::shared_lock(m_mutex), &m_value};
  }
  /// Alone.
  [[nodiscard]] LockGuarded<T, std::unique_lock<std::shared_mutex>> write() {
    return {std::unique_lock(m_mutex), &m_value};
  }

 private:
  mutable std::shared_mutex m_mutex;
  T m_value;
};

}  // namespace tlspolicy::util
