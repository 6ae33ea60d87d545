// SPDX-License-Identifier: Apache-2.0
//
// Result<T>: an expected-like value-or-Error, spelled like std::expected so that
// moving to C++23 is a one-line alias. Infrastructure failures travel as Error,
// always classified Transient or Permanent; verdicts (DNSSEC state, "no policy")
// are values in the domain types, never Errors.
#pragma once

#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>

namespace tlspolicy {

/// Stable error codes. to_string() gives the text used in logs and JSON.
enum class Errc {
  InvalidArgument,
  DomainSyntax,
  DnsTimeout,
  DnsServfail,
  DnsRefused,
  DnsNetwork,
  DnsMalformed,
  DaneHostUnusable,
  FetchConnect,
  FetchTls,
  FetchTimeout,
  FetchStatus,
  FetchRedirect,
  FetchContentType,
  FetchTooLarge,
  FetchPrivateAddress,
  FetchOther,
  StsNoRecord,
  StsTxtSyntax,
  StsPolicySyntax,
  CacheIo,
  CacheSchema,
  Claimed,  ///< another fleet node holds the claim on this work (it is being done)
  ConfigSyntax,
  ConfigValue,
  RequestMalformed,  ///< a client's framing is broken (netstring syntax)
  RequestTooLarge,   ///< a client's request is over the protocol's size limit
  Internal,
};

enum class Retry { Transient, Permanent };

struct Error {
  Errc code = Errc::Internal;
  Retry retry = Retry::Permanent;
  std::string detail;
};

/// "dns-timeout", "fetch-status", ... (src/util/result.cpp).
[[nodiscard]] std::string_view to_string(Errc code) noexcept;

template <class E>
struct Unexpected {
  E value;
};
template <class E>
Unexpected(E) -> Unexpected<E>;

template <class T>
class [[nodiscard]] Result {
 public:
  using value_type = T;

  // Constrained to what T is built from, so it never hides Result's own copy and move
  // constructors (bugprone-forwarding-reference-overload does not read the constraint).
  template <class U = T>
  // NOLINTNEXTLINE(bugprone-forwarding-reference-overload)
  requires std::is_constructible_v<T, U&&> Result(U&& value)
      : m_v(std::in_place_index<0>, std::forward<U>(value)) {}                      // NOLINT
  Result(Unexpected<Error> e) : m_v(std::in_place_index<1>, std::move(e.value)) {}  // NOLINT

  [[nodiscard]] bool has_value() const noexcept { return m_v.index() == 0; }
  explicit operator bool() const noexcept { return has_value(); }

  T& value() & { return std::get<0>(m_v); }
  const T& value() const& { return std::get<0>(m_v); }
  T&& value() && { return std::get<0>(std::move(m_v)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  Error& error() & { return std::get<1>(m_v); }
  const Error& error() const& { return std::get<1>(m_v); }

 private:
  std::variant<T, Error> m_v;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Unexpected<Error> e) : m_error(std::move(e.value)), m_ok(false) {}  // NOLINT

  [[nodiscard]] bool has_value() const noexcept { return m_ok; }
  explicit operator bool() const noexcept { return m_ok; }
  void value() const {}
  const Error& error() const& { return m_error; }

 private:
  Error m_error;
  bool m_ok = true;
};

/// Shorthand for the common "return Unexpected{Error{...}}".
inline Unexpected<Error> fail(Errc code, Retry retry, std::string detail) {
  return Unexpected<Error>{Error{code, retry, std::move(detail)}};
}

}  // namespace tlspolicy
