// SPDX-License-Identifier: Apache-2.0
//
// Netstring encoder and incremental decoder (D. J. Bernstein, "Netstrings";
// Postfix netstring(3)). A byte-at-a-time state machine: every input byte is
// looked at once, so decoding is linear, and the payload buffer never grows
// past the announced length, which is checked against the maximum while its
// digits arrive.
#include "tlspolicy/proto/netstring.hpp"

#include <utility>

namespace tlspolicy::proto {

std::string encode_netstring(std::string_view payload) {
  std::string out = std::to_string(payload.size());
  out.reserve(out.size() + payload.size() + 2);
  out += ':';
  out += payload;
  out += ',';
  return out;
}

void NetstringDecoder::feed(std::string_view bytes) {
  if (m_error) return;
  if (m_pos == m_pending.size()) {
    m_pending.clear();
    m_pos = 0;
  }
  m_pending.append(bytes);
}

std::size_t NetstringDecoder::buffered() const noexcept {
  return (m_pending.size() - m_pos) + m_digits + m_payload.size();
}

Result<std::optional<std::string>> NetstringDecoder::fail_with(Errc code, std::string detail) {
  m_error = Error{code, Retry::Permanent, std::move(detail)};
  m_pending.clear();
  m_pending.shrink_to_fit();
  m_payload.clear();
  m_payload.shrink_to_fit();
  m_pos = 0;
  m_digits = 0;
  m_length = 0;
  return Unexpected<Error>{*m_error};
}

Result<std::optional<std::string>> NetstringDecoder::next() {
  if (m_error) return Unexpected<Error>{*m_error};
  while (m_pos < m_pending.size()) {
    switch (m_state) {
      case State::Length: {
        const char c = m_pending[m_pos];
        if (c == ':') {
          if (m_digits == 0) return fail_with(Errc::RequestMalformed, "netstring: empty length");
          ++m_pos;
          m_state = m_length == 0 ? State::Comma : State::Payload;
          m_payload.reserve(m_length);
          break;
        }
        if (c < '0' || c > '9')
          return fail_with(Errc::RequestMalformed, "netstring: non-digit in length");
        if (m_leading_zero)
          return fail_with(Errc::RequestMalformed, "netstring: leading zero in length");
        if (m_digits == k_max_netstring_digits) {
          return fail_with(Errc::RequestTooLarge, "netstring: no ':' within 6 length digits");
        }
        if (m_digits == 0 && c == '0') m_leading_zero = true;
        m_length = m_length * 10 + static_cast<std::size_t>(c - '0');
        ++m_digits;
        ++m_pos;
        if (m_length > m_max) {
          return fail_with(Errc::RequestTooLarge, "netstring: length exceeds the limit of " +
                                                      std::to_string(m_max) + " bytes");
        }
        break;
      }
      case State::Payload: {
        const std::size_t want = m_length - m_payload.size();
        const std::size_t have = m_pending.size() - m_pos;
        const std::size_t take = want < have ? want : have;
        m_payload.append(m_pending, m_pos, take);
        m_pos += take;
        if (m_payload.size() == m_length) m_state = State::Comma;
        break;
      }
      case State::Comma: {
        if (m_pending[m_pos] != ',')
          return fail_with(Errc::RequestMalformed, "netstring: missing ',' after payload");
        ++m_pos;
        std::string out = std::move(m_payload);
        m_payload = std::string{};
        m_state = State::Length;
        m_digits = 0;
        m_leading_zero = false;
        m_length = 0;
        if (m_pos == m_pending.size()) {
          m_pending.clear();
          m_pos = 0;
        }
        return std::optional<std::string>{std::move(out)};
      }
    }
  }
  m_pending.clear();
  m_pos = 0;
  return std::optional<std::string>{};
}

}  // namespace tlspolicy::proto
