// SPDX-License-Identifier: Apache-2.0
//
// Blocking one-shot client of the JSON lines protocol (see admin_client.hpp).
// Plain POSIX sockets with poll() deadlines; the CLI runs one exchange and exits.
#include "admin_client.hpp"

#include <cerrno>
#include <cstring>

#include "tlspolicy/util/fd.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

namespace tlspolicy::cli {
namespace {

using Clock = std::chrono::steady_clock;

Unexpected<Error> io_error(std::string_view endpoint, std::string_view what, int err = 0) {
  std::string detail{what};
  detail += ' ';
  detail += endpoint;
  if (err != 0) {
    detail += ": ";
    detail += std::strerror(err);
  }
  return fail(Errc::Internal, Retry::Transient, std::move(detail));
}

/// Connects a blocking socket to `endpoint`.
Result<util::Fd> connect_to(std::string_view endpoint) {
  std::string_view path = endpoint;
  const bool unix_prefix = endpoint.substr(0, 5) == "unix:";
  if (unix_prefix) path.remove_prefix(5);
  if (unix_prefix || path.substr(0, 1) == "/" || path.substr(0, 1) == ".") {
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    if (path.empty() || path.size() >= sizeof(sa.sun_path)) {
      return fail(Errc::InvalidArgument, Retry::Permanent,
                  "socket path empty or too long: " + std::string{endpoint});
    }
    std::memcpy(sa.sun_path, path.data(), path.size());
    util::Fd fd{::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)};
    if (!fd) return io_error(endpoint, "cannot create a socket for", errno);
    // NOLINTNEXTLINE(cppcoreguidelines-pro-type-reinterpret-cast): the sockets API
    if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&sa), sizeof(sa)) != 0) {
      return io_error(endpoint, "cannot connect to", errno);
    }
    return fd;
  }
  // "IP:port" or "[IPv6]:port"
  const auto colon = endpoint.rfind(':');
  if (colon == std::string_view::npos || colon + 1 == endpoint.size()) {
    return fail(Errc::InvalidArgument, Retry::Permanent,
                "not an endpoint (unix:PATH, IP:port): " + std::string{endpoint});
  }
  std::string host{endpoint.substr(0, colon)};
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  unsigned long port = 0;
  for (const char c : endpoint.substr(colon + 1)) {
    if (c < '0' || c > '9' || port > 65535) {
      return fail(Errc::InvalidArgument, Retry::Permanent, "bad port in " + std::string{endpoint});
    }
    port = port * 10 + static_cast<unsigned long>(c - '0');
  }
  if (port == 0 || port > 65535) {
    return fail(Errc::InvalidArgument, Retry::Permanent, "bad port in " + std::string{endpoint});
  }
  sockaddr_in6 sa6{};
  sockaddr_in sa4{};
  const sockaddr* sa = nullptr;
  socklen_t len = 0;
  int family = AF_INET;
  if (::inet_pton(AF_INET, host.c_str(), &sa4.sin_addr) == 1) {
    sa4.sin_family = AF_INET;
    sa4.sin_port = htons(static_cast<std::uint16_t>(port));
    sa = reinterpret_cast<const sockaddr*>(&sa4);  // NOLINT: the sockets API
    len = sizeof(sa4);
  } else if (::inet_pton(AF_INET6, host.c_str(), &sa6.sin6_addr) == 1) {
    family = AF_INET6;
    sa6.sin6_family = AF_INET6;
    sa6.sin6_port = htons(static_cast<std::uint16_t>(port));
    sa = reinterpret_cast<const sockaddr*>(&sa6);  // NOLINT: the sockets API
    len = sizeof(sa6);
  } else {
    return fail(Errc::InvalidArgument, Retry::Permanent,
                "not an IP address in " + std::string{endpoint});
  }
  util::Fd fd{::socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0)};
  if (!fd) return io_error(endpoint, "cannot create a socket for", errno);
  if (::connect(fd.get(), sa, len) != 0) return io_error(endpoint, "cannot connect to", errno);
  return fd;
}

/// Waits until `fd` is ready for `events` or the deadline passes.
bool wait_for(int fd, short events, Clock::time_point deadline) {
  for (;;) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) return false;
    pollfd p{fd, events, 0};
    const int n = ::poll(&p, 1, static_cast<int>(left));
    if (n > 0) return true;
    if (n < 0 && errno != EINTR) return false;
  }
}

}  // namespace

Result<std::string> exchange_line(std::string_view endpoint, std::string_view request,
                                  std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  auto fd = connect_to(endpoint);
  if (!fd) return Unexpected{fd.error()};
  std::string out{request};
  out += '\n';
  std::size_t sent = 0;
  while (sent < out.size()) {
    if (!wait_for(fd->get(), POLLOUT, deadline)) return io_error(endpoint, "timeout writing to");
    const auto n = ::send(fd->get(), out.data() + sent, out.size() - sent, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return io_error(endpoint, "cannot write to", errno);
    }
    sent += static_cast<std::size_t>(n);
  }
  ::shutdown(fd->get(), SHUT_WR);  // the request is complete (as Exim's ${readsocket} does)
  std::string in;
  char buf[4096];
  for (;;) {
    if (const auto nl = in.find('\n'); nl != std::string::npos) {
      in.resize(nl);
      if (!in.empty() && in.back() == '\r') in.pop_back();
      return in;
    }
    if (in.size() > k_max_response_bytes) return io_error(endpoint, "response too long from");
    if (!wait_for(fd->get(), POLLIN, deadline)) {
      return io_error(endpoint, "timeout waiting for the answer of");
    }
    const auto n = ::recv(fd->get(), buf, sizeof(buf), 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return io_error(endpoint, "cannot read from", errno);
    }
    if (n == 0) {
      if (!in.empty()) return in;
      return io_error(endpoint, "connection closed without an answer by");
    }
    in.append(buf, static_cast<std::size_t>(n));
  }
}

}  // namespace tlspolicy::cli
