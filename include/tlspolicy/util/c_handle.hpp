// SPDX-License-Identifier: Apache-2.0
//
// CHandle<T, Free>: std::unique_ptr with a zero-size deleter for C library
// handles. Each module declares its aliases in a private header, with a note
// on which call produced the handle (so the matching free function is used).
#pragma once

#include <memory>

namespace tlspolicy::util {

template <auto Free>
struct CFree {
  template <class T>
  void operator()(T* p) const noexcept {
    Free(p);  // unique_ptr never calls a deleter with nullptr
  }
};

template <class T, auto Free>
using CHandle = std::unique_ptr<T, CFree<Free>>;

}  // namespace tlspolicy::util
