// SPDX-License-Identifier: Apache-2.0
//
// Locked<T>: a value and the one mutex that guards it; the only way to the
// value is through lock(), whose guard unlocks at scope end (PowerDNS
// LockGuarded style, HOUSE-STYLE §2).
#pragma once

#include <mutex>
#include <utility>

namespace tlspolicy::util {

template <class T>
class Locked {
 public:
  template <class Value>
  class Guard {
   public:
    Guard(std::unique_lock<std::mutex> lock, Value* value) noexcept
        : m_lock(std::move(lock)), m_value(value) {}
    Value* operator->() const noexcept { return m_value; }
    Value& operator*() const noexcept { return *m_value; }

   private:
    std::unique_lock<std::mutex> m_lock;
    Value* m_value;
  };

  template <class... Args>
  explicit Locked(Args&&... args) : m_value(std::forward<Args>(args)...) {}

  Locked(const Locked&) = delete;
  Locked& operator=(const Locked&) = delete;

  /// Blocks until the mutex is free; the guard gives access until it is destroyed.
  [[nodiscard]] Guard<T> lock() { return Guard<T>(std::unique_lock(m_mutex), &m_value); }
  [[nodiscard]] Guard<const T> lock() const {
    return Guard<const T>(std::unique_lock(m_mutex), &m_value);
  }

 private:
  mutable std::mutex m_mutex;
  T m_value;
};

}  // namespace tlspolicy::util
