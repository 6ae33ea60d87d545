// SPDX-License-Identifier: Apache-2.0
//
// Listening sockets: endpoint parsing ("unix:/path", "IP:port", "[IPv6]:port"),
// safe replacement of stale unix sockets, socket file permissions, and the
// systemd socket-activation hand-over (sd_listen_fds(3): LISTEN_PID,
// LISTEN_FDS, LISTEN_FDNAMES; descriptors start at SD_LISTEN_FDS_START = 3).
#include "tlspolicy/server/listen.hpp"

#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <system_error>
#include <vector>

#include "tlspolicy/util/endpoint.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

namespace tlspolicy::server {
namespace {

constexpr int k_systemd_first_fd = 3;  // SD_LISTEN_FDS_START

Unexpected<Error> sys_fail(std::string_view what, std::string_view subject) {
  const int saved = errno;
  return fail(Errc::Internal, Retry::Permanent,
              std::string(what) + " " + std::string(subject) + ": " + std::strerror(saved));
}

Unexpected<Error> config_fail(std::string detail) {
  return fail(Errc::ConfigValue, Retry::Permanent, std::move(detail));
}

template <class Int>
bool parse_number(std::string_view text, Int& out) {
  if (text.empty()) return false;
  const auto* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, out);
  return ec == std::errc() && ptr == end;
}

util::Fd new_socket(int family, int type = SOCK_STREAM) {
  return util::Fd{::socket(family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)};
}

/// True when something is bound to (stream: accepts on) the unix socket at `path`.
bool socket_in_use(const sockaddr_un& addr, int type) {
  util::Fd probe = new_socket(AF_UNIX, type);
  if (!probe) return true;  // cannot tell: do not remove it
  const int rc = ::connect(probe.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr);
  // A full backlog (EAGAIN) still means a live listener.
  return rc == 0 || (errno != ECONNREFUSED && errno != ENOENT);
}

Result<uid_t> lookup_user(const std::string& name) {
  uid_t uid = 0;
  if (parse_number(name, uid)) return uid;
  std::vector<char> buf(16384);
  passwd pw{};
  passwd* found = nullptr;
  const int rc = ::getpwnam_r(name.c_str(), &pw, buf.data(), buf.size(), &found);
  if (rc != 0 || found == nullptr) return config_fail("unknown user " + name);
  return pw.pw_uid;
}

Result<gid_t> lookup_group(const std::string& name) {
  gid_t gid = 0;
  if (parse_number(name, gid)) return gid;
  std::vector<char> buf(16384);
  group gr{};
  group* found = nullptr;
  const int rc = ::getgrnam_r(name.c_str(), &gr, buf.data(), buf.size(), &found);
  if (rc != 0 || found == nullptr) return config_fail("unknown group " + name);
  return gr.gr_gid;
}

/// A bound unix socket of `type`: SOCK_STREAM listening, or SOCK_DGRAM.
Result<util::Fd> bind_unix(const std::string& path, const ListenOptions& options, int type) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.empty() || path.front() != '/') return config_fail("unix socket path must be absolute");
  if (path.size() >= sizeof addr.sun_path) return config_fail("unix socket path too long: " + path);
  std::memcpy(addr.sun_path, path.data(), path.size());

  std::error_code ec;
  const std::filesystem::path parent = std::filesystem::path(path).parent_path();
  if (!std::filesystem::exists(parent, ec)) {
    std::filesystem::create_directories(parent, ec);
    if (ec) {
      return fail(Errc::Internal, Retry::Permanent,
                  "create directory " + parent.string() + ": " + ec.message());
    }
  }

  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) return config_fail("not a socket, not replacing: " + path);
    if (socket_in_use(addr, type)) {
      return config_fail("socket in use by another process: " + path);
    }
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) return sys_fail("unlink", path);
  }

  util::Fd fd = new_socket(AF_UNIX, type);
  if (!fd) return sys_fail("socket", path);
  // Linux creates the socket file with the socket inode's mode minus the umask; setting it
  // before bind() leaves no window with wider permissions. chmod() below makes it exact.
  if (options.mode) ::fchmod(fd.get(), static_cast<mode_t>(*options.mode));
  if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
    return sys_fail("bind", path);
  }
  if (options.mode && ::chmod(path.c_str(), static_cast<mode_t>(*options.mode)) != 0) {
    return sys_fail("chmod", path);
  }
  if (!options.owner.empty() || !options.group.empty()) {
    uid_t uid = static_cast<uid_t>(-1);
    gid_t gid = static_cast<gid_t>(-1);
    if (!options.owner.empty()) {
      auto u = lookup_user(options.owner);
      if (!u) return Unexpected{u.error()};
      uid = *u;
    }
    if (!options.group.empty()) {
      auto g = lookup_group(options.group);
      if (!g) return Unexpected{g.error()};
      gid = *g;
    }
    if (::lchown(path.c_str(), uid, gid) != 0) return sys_fail("chown", path);
  }
  if (type == SOCK_STREAM && ::listen(fd.get(), options.backlog) != 0) {
    return sys_fail("listen", path);
  }
  return fd;
}

Result<util::Fd> listen_inet(std::string_view endpoint, const util::Endpoint& where,
                             const ListenOptions& options) {
  const bool v6 = where.kind == util::Endpoint::Kind::Ipv6;
  sockaddr_storage storage{};
  socklen_t len = 0;
  if (v6) {
    auto* sa = reinterpret_cast<sockaddr_in6*>(&storage);
    sa->sin6_family = AF_INET6;
    sa->sin6_port = htons(where.port);
    (void)::inet_pton(AF_INET6, where.address.c_str(), &sa->sin6_addr);  // checked by the parser
    len = sizeof(sockaddr_in6);
  } else {
    auto* sa = reinterpret_cast<sockaddr_in*>(&storage);
    sa->sin_family = AF_INET;
    sa->sin_port = htons(where.port);
    (void)::inet_pton(AF_INET, where.address.c_str(), &sa->sin_addr);  // checked by the parser
    len = sizeof(sockaddr_in);
  }
  util::Fd fd = new_socket(storage.ss_family);
  if (!fd) return sys_fail("socket", endpoint);
  const int one = 1;
  ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (v6) ::setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&storage), len) != 0) {
    return sys_fail("bind", endpoint);
  }
  if (::listen(fd.get(), options.backlog) != 0) return sys_fail("listen", endpoint);
  return fd;
}

}  // namespace

Result<util::Fd> listen_endpoint(std::string_view endpoint, const ListenOptions& options) {
  auto where = util::parse_endpoint(endpoint);
  if (!where) return config_fail(where.error().detail);
  if (where->kind == util::Endpoint::Kind::Unix) {
    return bind_unix(where->path, options, SOCK_STREAM);
  }
  return listen_inet(endpoint, *where, options);
}

Result<util::Fd> bind_datagram_endpoint(std::string_view endpoint, const ListenOptions& options) {
  auto where = util::parse_endpoint(endpoint);
  if (!where) return config_fail(where.error().detail);
  if (where->kind != util::Endpoint::Kind::Unix) {
    return config_fail("a datagram socket must be \"unix:/path\": " + std::string(endpoint));
  }
  return bind_unix(where->path, options, SOCK_DGRAM);
}

Result<std::uint16_t> bound_port(const util::Fd& socket) {
  sockaddr_storage storage{};
  socklen_t len = sizeof storage;
  if (::getsockname(socket.get(), reinterpret_cast<sockaddr*>(&storage), &len) != 0) {
    return sys_fail("getsockname", "");
  }
  if (storage.ss_family == AF_INET) {
    return ntohs(reinterpret_cast<const sockaddr_in*>(&storage)->sin_port);
  }
  if (storage.ss_family == AF_INET6) {
    return ntohs(reinterpret_cast<const sockaddr_in6*>(&storage)->sin6_port);
  }
  return fail(Errc::InvalidArgument, Retry::Permanent, "not a TCP socket");
}

Result<std::multimap<std::string, util::Fd>> adopt_systemd_fds() {
  const auto env = [](const char* name) -> std::string_view {
    const char* value = std::getenv(name);  // NOLINT(concurrency-mt-unsafe): startup only
    return value != nullptr ? value : "";
  };
  return adopt_systemd_fds(env("LISTEN_PID"), env("LISTEN_FDS"), env("LISTEN_FDNAMES"),
                           k_systemd_first_fd);
}

Result<std::multimap<std::string, util::Fd>> adopt_systemd_fds(std::string_view listen_pid,
                                                               std::string_view listen_fds,
                                                               std::string_view listen_fdnames,
                                                               int first_fd) {
  std::multimap<std::string, util::Fd> out;
  pid_t pid = 0;
  // Not for us (unset, or inherited from a parent that was socket-activated).
  if (!parse_number(listen_pid, pid) || pid != ::getpid()) return out;
  int count = 0;
  if (!parse_number(listen_fds, count) || count < 0 || count > 1024) {
    return config_fail("bad LISTEN_FDS: " + std::string(listen_fds));
  }
  std::vector<std::string> names;
  if (!listen_fdnames.empty()) {
    std::size_t start = 0;
    for (;;) {
      const auto colon = listen_fdnames.find(':', start);
      names.emplace_back(listen_fdnames.substr(start, colon - start));
      if (colon == std::string_view::npos) break;
      start = colon + 1;
    }
  }
  for (int i = 0; i < count; ++i) {
    const int fd = first_fd + i;
    const int fd_flags = ::fcntl(fd, F_GETFD);
    if (fd_flags < 0) return sys_fail("fcntl", "LISTEN_FDS descriptor " + std::to_string(fd));
    util::Fd owned{fd};
    ::fcntl(fd, F_SETFD, fd_flags | FD_CLOEXEC);
    const int fl_flags = ::fcntl(fd, F_GETFL);
    if (fl_flags >= 0) ::fcntl(fd, F_SETFL, fl_flags | O_NONBLOCK);
    const auto index = static_cast<std::size_t>(i);
    std::string name = index < names.size() && !names[index].empty() ? names[index] : "unknown";
    out.emplace(std::move(name), std::move(owned));
  }
  return out;
}

}  // namespace tlspolicy::server
