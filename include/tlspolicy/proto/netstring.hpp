// SPDX-License-Identifier: Apache-2.0
//
// NAME
//   netstring - netstring framing for the Postfix socketmap protocol
// PROTOCOL
//   <length> ":" <payload> "," where <length> is the payload size in bytes as
//   ASCII decimal digits without leading zeros ("0:," is the empty payload).
//   D. J. Bernstein, "Netstrings" (1997); Postfix netstring(3), used by
//   dict_sockmap(3) / socketmap_table(5).
// LIMITS
//   The decoder is built with a maximum payload size (socketmap requests:
//   k_max_socketmap_request_bytes = 10000). The length field has at most
//   k_max_netstring_digits digits. Once the pending input has been drained
//   with next(), the decoder holds at most max + k_max_netstring_digits + 1
//   bytes. Decoding is linear in the input.
// SECURITY
//   Input is untrusted. A malformed or oversized length, or a missing
//   trailing ",", puts the decoder into a permanent error state: the server
//   answers one "PERM ..." netstring and closes the connection, because the
//   framing of everything after the error is unknown. Never throws.
// SEE ALSO
//   docs/protocols/socketmap.md, include/tlspolicy/proto/socketmap.hpp
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "tlspolicy/util/result.hpp"

namespace tlspolicy::proto {

/// Most digits a length field may have before its ':' (999999 bytes).
inline constexpr std::size_t k_max_netstring_digits = 6;

/// "<len>:<payload>,". Never fails.
[[nodiscard]] std::string encode_netstring(std::string_view payload);

/// Incremental netstring decoder for one connection. Not thread-safe (one
/// decoder per connection); never blocks; never throws.
///
/// Usage: after each read(), feed() the bytes, then call next() until it
/// returns nullopt (more bytes needed) or an Error (close after replying).
class NetstringDecoder {
 public:
  /// `max_payload`: largest accepted payload in bytes.
  explicit NetstringDecoder(std::size_t max_payload) noexcept : m_max(max_payload) {}

  /// Appends bytes to the pending input. Ignored once the decoder failed.
  void feed(std::string_view bytes);

  /// The next complete payload; nullopt when more bytes are needed; an
  /// Error (Retry::Permanent) for broken framing: Errc::RequestTooLarge for a
  /// length above the maximum or more than k_max_netstring_digits digits,
  /// Errc::RequestMalformed for a non-digit where the length belongs, a
  /// leading zero other than "0:", or a byte other than ',' after the payload.
  /// After an Error every later call returns the same Error.
  [[nodiscard]] Result<std::optional<std::string>> next();

  /// True once next() has reported an Error.
  [[nodiscard]] bool failed() const noexcept { return m_error.has_value(); }

  /// Bytes held: pending input not yet looked at by next() plus the partial
  /// netstring being assembled (length digits and payload).
  [[nodiscard]] std::size_t buffered() const noexcept;

  /// The payload limit this decoder was built with.
  [[nodiscard]] std::size_t max_payload() const noexcept { return m_max; }

 private:
  enum class State { Length, Payload, Comma };

  Result<std::optional<std::string>> fail_with(Errc code, std::string detail);

  std::size_t m_max;
  State m_state = State::Length;
  std::size_t m_digits = 0;  ///< digits of the current length seen so far
  bool m_leading_zero = false;
  std::size_t m_length = 0;  ///< value of the length field
  std::string m_payload;     ///< payload bytes collected so far
  std::string m_pending;     ///< fed, not yet consumed by next()
  std::size_t m_pos = 0;     ///< consumed prefix of m_pending
  std::optional<Error> m_error;
};

}  // namespace tlspolicy::proto
