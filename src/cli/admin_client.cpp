// SPDX-License-Identifier: Apache-2.0
//
// Blocking one-shot client of the JSON lines protocol (see admin_client.hpp).
// Plain POSIX sockets with poll() deadlines; the CLI runs one exchange and exits.
#include "admin_client.hpp"

#include <cerrno>
#include <cstring>

#include "tlspolicy/util/endpoint.hpp"
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

/// Connects a blocking socket to `endpoint`: util::parse_endpoint's grammar (a relative
/// "unix:" path allowed), or a bare path ("/run/…", "./x.sock").
Result<util::Fd> connect_to(std::string_view endpoint) {
  const bool bare_path = endpoint.starts_with('/') || endpoint.starts_with('.');
  auto where = util::parse_endpoint(
      bare_path ? "unix:" + std::string{endpoint} : std::string{endpoint}, util::UnixPath::AnyPath);
  if (!where) return Unexpected{where.error()};
  sockaddr_storage storage{};
  socklen_t len = 0;
  switch (where->kind) {
    case util::Endpoint::Kind::Unix: {
      auto* sa = reinterpret_cast<sockaddr_un*>(&storage);  // NOLINT: the sockets API
      sa->sun_family = AF_UNIX;
      std::memcpy(sa->sun_path, where->path.data(), where->path.size());
      len = sizeof(sockaddr_un);
      break;
    }
    case util::Endpoint::Kind::Ipv4: {
      auto* sa = reinterpret_cast<sockaddr_in*>(&storage);  // NOLINT: the sockets API
      sa->sin_family = AF_INET;
      sa->sin_port = htons(where->port);
      (void)::inet_pton(AF_INET, where->address.c_str(), &sa->sin_addr);  // checked when parsed
      len = sizeof(sockaddr_in);
      break;
    }
    case util::Endpoint::Kind::Ipv6: {
      auto* sa = reinterpret_cast<sockaddr_in6*>(&storage);  // NOLINT: the sockets API
      sa->sin6_family = AF_INET6;
      sa->sin6_port = htons(where->port);
      (void)::inet_pton(AF_INET6, where->address.c_str(), &sa->sin6_addr);  // checked when parsed
      len = sizeof(sockaddr_in6);
      break;
    }
  }
  util::Fd fd{::socket(storage.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0)};
  if (!fd) return io_error(endpoint, "cannot create a socket for", errno);
  // NOLINTNEXTLINE(cppcoreguidelines-pro-type-reinterpret-cast): the sockets API
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&storage), len) != 0) {
    return io_error(endpoint, "cannot connect to", errno);
  }
  return fd;
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
    if (!util::wait_ready(fd->get(), POLLOUT, deadline))
      return io_error(endpoint, "timeout writing to");
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
    if (!util::wait_ready(fd->get(), POLLIN, deadline)) {
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
