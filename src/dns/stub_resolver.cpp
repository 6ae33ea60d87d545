// SPDX-License-Identifier: Apache-2.0
//
// NAME
//   stub_resolver - the "trust-ad" dns::Resolver: an asynchronous stub that asks a configured
//   validating resolver and believes its AD bit
// PROTOCOL
//   One query per lookup, class IN, RD set, CD clear, EDNS0 with DO set and a 1232-byte UDP
//   buffer, a random ID and a fresh UDP socket (so a random source port, RFC 5452 §9.2) per
//   try. A truncated UDP answer (TC) is asked again over TCP (RFC 7766 §5). Servers are tried
//   in order, each with `attempts` tries of `timeout`; the next server is asked when one gives
//   no usable answer. Reply mapping:
//     NOERROR + RRs of the type (after CNAMEs) -> Outcome::Data
//     NOERROR otherwise                        -> Outcome::NoData
//     NXDOMAIN                                 -> Outcome::NxDomain
//     SERVFAIL -> Errc::DnsServfail, REFUSED -> Errc::DnsRefused,
//     other rcodes, question mismatch, unparsable -> Errc::DnsMalformed,
//     a UDP reply with another ID -> dropped, the try goes on (RFC 5452 §9.1);
//     over TCP -> Errc::DnsMalformed,
//     no answer within the timeout -> Errc::DnsTimeout,
//     socket or connect failures -> Errc::DnsNetwork (all Retry::Transient).
//   Security: AD set -> Secure, AD clear -> Insecure (RFC 4035 §3.2.3).
// SECURITY
//   The AD bit is only as trustworthy as the path to the resolver that set it: RFC 6698 §4.1
//   and RFC 7672 §2.1.3 require a validating resolver on a trusted path (normally on the same
//   host, 127.0.0.1 / ::1). A validating resolver answers SERVFAIL for bogus data (RFC 4035
//   §5.5), so in this mode "bogus" reaches the caller as Errc::DnsServfail, never as
//   Security::Bogus. The UDP socket is connected to the server, so the kernel drops datagrams
//   from anyone else; the ID and the question section are checked as well.
// THREADS
//   Everything runs on the engine loop's thread: lookup() starts a query and returns; the
//   answer (or error) is delivered with Loop::defer(). Thousands of queries may be in flight.
// LIMITS
//   CNAME chains longer than 16 links are treated as malformed (packet.cpp).
// SEE ALSO
//   include/tlspolicy/dns/resolver.hpp, RFC 1035, RFC 2308, RFC 4035, RFC 5452, RFC 7672
#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "tlspolicy/dns/resolver.hpp"
#include "tlspolicy/event/loop.hpp"
#include "tlspolicy/util/fd.hpp"

#include "ldns.hpp"
#include "ldns_handles.hpp"
#include "options.hpp"
#include "packet.hpp"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

namespace tlspolicy::dns {

namespace {

using detail::LdnsPacket;
using detail::LdnsRdf;
using detail::LdnsResolver;

// DNS Flag Day 2020: a 1232-byte EDNS buffer avoids IP fragmentation; larger
// answers come back truncated and are asked again over TCP.
constexpr std::uint16_t k_edns_udp_size = 1232;
constexpr int k_max_attempts = 255;
constexpr std::size_t k_max_message = 65535;

struct Server {
  ServerAddress address;
  sockaddr_storage sockaddr{};
  socklen_t sockaddr_len = 0;
  std::string label;  ///< "IP@port", for error details
};

std::string status_text(ldns_status s) {
  const char* text = ldns_get_errorstr_by_id(s);
  return text != nullptr ? std::string{text} : "ldns status " + std::to_string(static_cast<int>(s));
}

Unexpected<Error> invalid(std::string detail) { return detail::invalid_option(std::move(detail)); }

std::uint16_t random_id() {
  std::uint16_t id = 0;
  if (::getrandom(&id, sizeof id, 0) != static_cast<ssize_t>(sizeof id)) {
    id = static_cast<std::uint16_t>(std::chrono::steady_clock::now().time_since_epoch().count());
  }
  return id;
}

/// The query in wire form: IN, RD, DO, EDNS 1232, the given ID.
Result<std::vector<std::uint8_t>> query_wire(const DomainName& name, RrType type,
                                             std::uint16_t id) {
  const LdnsRdf qname{ldns_dname_new_frm_str((name.str() + ".").c_str())};
  if (!qname) return fail(Errc::Internal, Retry::Transient, "ldns cannot represent " + name.str());
  LdnsPacket pkt{ldns_pkt_query_new(ldns_rdf_clone(qname.get()),
                                    static_cast<ldns_rr_type>(static_cast<std::uint16_t>(type)),
                                    LDNS_RR_CLASS_IN, LDNS_RD)};
  if (!pkt) return fail(Errc::Internal, Retry::Transient, "out of memory (ldns_pkt_query_new)");
  ldns_pkt_set_id(pkt.get(), id);
  ldns_pkt_set_cd(pkt.get(), false);  // the resolver validates
  ldns_pkt_set_edns_udp_size(pkt.get(), k_edns_udp_size);
  ldns_pkt_set_edns_do(pkt.get(), true);  // RFC 3225: DNSSEC OK, so the AD bit is meaningful
  std::uint8_t* wire = nullptr;
  std::size_t size = 0;
  if (const ldns_status s = ldns_pkt2wire(&wire, pkt.get(), &size); s != LDNS_STATUS_OK) {
    return fail(Errc::Internal, Retry::Transient,
                "cannot encode the query (" + status_text(s) + ")");
  }
  std::vector<std::uint8_t> out(wire, wire + size);
  std::free(wire);  // NOLINT: allocated by ldns with malloc
  return out;
}

class StubResolver final : public Resolver {
 public:
  StubResolver(event::Loop& loop, std::vector<Server> servers, std::chrono::milliseconds timeout,
               int attempts)
      : m_loop(loop), m_servers(std::move(servers)), m_timeout(timeout), m_attempts(attempts) {}

  ~StubResolver() override { end_all("the resolver is shutting down"); }
  StubResolver(const StubResolver&) = delete;
  StubResolver& operator=(const StubResolver&) = delete;

  void lookup(const DomainName& name, RrType type, Callback done) override {
    auto q = std::make_unique<Query>(*this, ++m_next_id, name, type, std::move(done));
    Query& query = *q;
    m_queries.emplace(query.id, std::move(q));
    query.try_server(0);
  }

  void cancel_all() override { end_all("lookup cancelled: tlspolicy is shutting down"); }

 private:
  struct Query {
    StubResolver& owner;
    std::uint64_t id;
    DomainName name;
    RrType type;
    Callback done;
    std::string what;
    std::size_t server = 0;
    int attempt = 0;
    std::uint16_t dns_id = 0;
    std::vector<std::uint8_t> wire;
    util::Fd socket;
    event::Watch watch;
    std::optional<event::TimerId> timer;
    bool tcp = false;
    std::vector<std::uint8_t> out;  ///< TCP: bytes still to send
    std::vector<std::uint8_t> in;   ///< TCP: bytes received so far
    std::vector<std::string> errors;
    Error last;

    Query(StubResolver& o, std::uint64_t i, DomainName n, RrType t, Callback d)
        : owner(o),
          id(i),
          name(std::move(n)),
          type(t),
          done(std::move(d)),
          what(name.str() + " " + std::string{to_string(type)}) {}

    const Server& srv() const { return owner.m_servers[server]; }

    void stop_io() {
      watch.reset();
      socket.reset();
      if (timer) owner.m_loop.cancel(*timer);
      timer.reset();
    }

    void try_server(std::size_t index) {
      server = index;
      attempt = 0;
      send_udp();
    }

    /// One more try of this server, the next server, or the end.
    void failed_try(Error e) {
      stop_io();
      last = std::move(e);
      if (++attempt < owner.m_attempts && last.code == Errc::DnsTimeout) {
        send_udp();
        return;
      }
      errors.push_back(last.detail);
      if (server + 1 < owner.m_servers.size()) {
        try_server(server + 1);
        return;
      }
      Error all = std::move(last);
      all.detail.clear();
      for (const auto& d : errors) all.detail += (all.detail.empty() ? "" : "; ") + d;
      owner.finish(id, Unexpected{std::move(all)});
    }

    void arm_timer() {
      const auto self = id;
      StubResolver* o = &owner;
      timer = owner.m_loop.after(owner.m_timeout, [o, self] {
        auto* q = o->find(self);
        if (q == nullptr) return;
        q->timer.reset();
        q->failed_try(Error{Errc::DnsTimeout, Retry::Transient,
                            "no answer from " + q->srv().label + " within " +
                                std::to_string(o->m_timeout.count()) + " ms"});
      });
    }

    void send_udp() {
      tcp = false;
      dns_id = random_id();
      auto w = query_wire(name, type, dns_id);
      if (!w) {
        owner.finish(id, Unexpected{w.error()});
        return;
      }
      wire = std::move(*w);
      if (auto ok = open(SOCK_DGRAM); !ok) {
        failed_try(ok.error());
        return;
      }
      if (::send(socket.get(), wire.data(), wire.size(), 0) < 0) {
        failed_try(network("send to"));
        return;
      }
      watch_for(EPOLLIN);
      arm_timer();
    }

    void send_tcp() {
      stop_io();
      tcp = true;
      if (auto ok = open(SOCK_STREAM); !ok) {
        failed_try(ok.error());
        return;
      }
      out.clear();
      out.push_back(static_cast<std::uint8_t>(wire.size() >> 8U));
      out.push_back(static_cast<std::uint8_t>(wire.size() & 0xffU));
      out.insert(out.end(), wire.begin(), wire.end());
      in.clear();
      watch_for(EPOLLOUT);  // connected (or failed) when writable
      arm_timer();
    }

    /// A non-blocking socket connected (or connecting) to the server.
    Result<void> open(int kind) {
      const auto& s = srv();
      socket.reset(::socket(s.sockaddr.ss_family, kind | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
      if (!socket) return Unexpected{network("socket for")};
      if (::connect(socket.get(), reinterpret_cast<const sockaddr*>(&s.sockaddr), s.sockaddr_len) !=
              0 &&
          errno != EINPROGRESS) {
        return Unexpected{network("connect to")};
      }
      return {};
    }

    Error network(const char* doing) const {
      return Error{
          Errc::DnsNetwork, Retry::Transient,
          std::string{"cannot "} + doing + " " + srv().label + " (" + std::strerror(errno) + ")"};
    }

    void watch_for(std::uint32_t events) {
      const auto self = id;
      StubResolver* o = &owner;
      try {
        watch = owner.m_loop.watch(socket.get(), events, [o, self](std::uint32_t ev) {
          if (auto* q = o->find(self)) q->ready(ev);
        });
      } catch (const std::system_error& e) {
        failed_try(Error{Errc::DnsNetwork, Retry::Transient, e.what()});
      }
    }

    void ready(std::uint32_t events) {
      if (!tcp) {
        std::array<std::uint8_t, k_max_message> buf{};
        const auto n = ::recv(socket.get(), buf.data(), buf.size(), 0);
        if (n < 0) {
          if (errno == EAGAIN || errno == EINTR) return;
          failed_try(network("receive from"));  // ECONNREFUSED: nobody listens there
          return;
        }
        reply(std::span<const std::uint8_t>{buf.data(), static_cast<std::size_t>(n)});
        return;
      }
      if (!out.empty()) {
        if ((events & (EPOLLERR | EPOLLHUP)) != 0U) {
          int err = 0;
          socklen_t len = sizeof err;
          (void)::getsockopt(socket.get(), SOL_SOCKET, SO_ERROR, &err, &len);
          errno = err != 0 ? err : ECONNRESET;
          failed_try(network("connect over TCP to"));
          return;
        }
        const auto n = ::send(socket.get(), out.data(), out.size(), MSG_NOSIGNAL);
        if (n < 0) {
          if (errno == EAGAIN || errno == EINTR) return;
          failed_try(network("send over TCP to"));
          return;
        }
        out.erase(out.begin(), out.begin() + n);
        if (out.empty()) watch.set_events(EPOLLIN);
        return;
      }
      std::array<std::uint8_t, 4096> buf{};
      const auto n = ::recv(socket.get(), buf.data(), buf.size(), 0);
      if (n < 0) {
        if (errno == EAGAIN || errno == EINTR) return;
        failed_try(network("receive over TCP from"));
        return;
      }
      if (n == 0) {
        failed_try(Error{Errc::DnsNetwork, Retry::Transient,
                         srv().label + " closed the TCP connection before answering " + what});
        return;
      }
      in.insert(in.end(), buf.begin(), buf.begin() + n);
      if (in.size() < 2) return;
      const std::size_t length = (std::size_t{in[0]} << 8U) | in[1];
      if (in.size() < 2 + length) return;
      reply(std::span<const std::uint8_t>{in.data() + 2, length});
    }

    void reply(std::span<const std::uint8_t> bytes) {
      ldns_pkt* raw = nullptr;
      const ldns_status s = ldns_wire2pkt(&raw, bytes.data(), bytes.size());
      const LdnsPacket pkt{raw};
      if (s != LDNS_STATUS_OK || !pkt) {
        failed_try(Error{Errc::DnsMalformed, Retry::Transient,
                         "unusable answer from " + srv().label + " (" + status_text(s) + ")"});
        return;
      }
      if (!ldns_pkt_qr(pkt.get()) || ldns_pkt_id(pkt.get()) != dns_id) {
        // Not the answer to this query: on UDP keep waiting (a stray or late datagram).
        if (!tcp) return;
        failed_try(Error{Errc::DnsMalformed, Retry::Transient,
                         "the reply from " + srv().label + " for " + what +
                             " does not answer the query (QR bit or ID mismatch)"});
        return;
      }
      if (ldns_pkt_tc(pkt.get())) {
        if (tcp) {
          failed_try(
              Error{Errc::DnsMalformed, Retry::Transient,
                    "the TCP answer from " + srv().label + " for " + what + " is truncated"});
          return;
        }
        // RFC 7766 §5 / RFC 1035 §4.2.1: a truncated UDP answer is asked again over TCP.
        send_tcp();
        return;
      }
      const ldns_pkt_rcode rcode = ldns_pkt_get_rcode(pkt.get());
      switch (rcode) {
        case LDNS_RCODE_NOERROR:
        case LDNS_RCODE_NXDOMAIN:
          break;
        case LDNS_RCODE_SERVFAIL:
          owner.finish(id, fail(Errc::DnsServfail, Retry::Transient,
                                "SERVFAIL from " + srv().label + " for " + what +
                                    " (a validating resolver also answers SERVFAIL for bogus "
                                    "DNSSEC data)"));
          return;
        case LDNS_RCODE_REFUSED:
          owner.finish(id, fail(Errc::DnsRefused, Retry::Transient,
                                "REFUSED from " + srv().label + " for " + what));
          return;
        default:
          owner.finish(id, fail(Errc::DnsMalformed, Retry::Transient,
                                "unexpected rcode " + detail::rcode_name(rcode) + " from " +
                                    srv().label + " for " + what));
          return;
      }
      if (!detail::question_matches(pkt.get(), name, type)) {
        failed_try(Error{Errc::DnsMalformed, Retry::Transient,
                         "the reply from " + srv().label + " for " + what +
                             " has a different question section"});
        return;
      }
      // RFC 4035 §3.2.3 / RFC 6840 §5.8: AD means the resolver validated the data.
      const Security security = ldns_pkt_ad(pkt.get()) ? Security::Secure : Security::Insecure;
      owner.finish(id, detail::answer_from_packet(pkt.get(), name, type, security, srv().label));
    }
  };

  Query* find(std::uint64_t id) {
    const auto it = m_queries.find(id);
    return it == m_queries.end() ? nullptr : it->second.get();
  }

  /// Ends a query: its sockets close now, its callback runs after the current callback.
  void finish(std::uint64_t id, Result<DnsAnswer> result) {
    const auto it = m_queries.find(id);
    if (it == m_queries.end()) return;
    auto q = std::move(it->second);
    m_queries.erase(it);
    q->stop_io();
    m_loop.defer([done = std::move(q->done), result = std::move(result)]() mutable {
      done(std::move(result));
    });
  }

  void end_all(const std::string& why) {
    std::vector<std::uint64_t> ids;
    ids.reserve(m_queries.size());
    for (const auto& [id, q] : m_queries) ids.push_back(id);
    for (const auto id : ids) {
      finish(id, fail(Errc::DnsNetwork, Retry::Transient, why));
    }
  }

  event::Loop& m_loop;
  std::vector<Server> m_servers;
  std::chrono::milliseconds m_timeout;
  int m_attempts;
  std::uint64_t m_next_id = 0;
  std::unordered_map<std::uint64_t, std::unique_ptr<Query>> m_queries;
};

/// The nameservers of /etc/resolv.conf, read once through ldns.
Result<std::vector<ServerAddress>> resolv_conf_servers() {
  ldns_resolver* raw = nullptr;
  const ldns_status s = ldns_resolver_new_frm_file(&raw, nullptr);
  const LdnsResolver res{raw};
  if (s != LDNS_STATUS_OK || !res) {
    return invalid("cannot read the nameservers of /etc/resolv.conf (" + status_text(s) +
                   "); set resolver.servers");
  }
  std::vector<ServerAddress> out;
  const std::size_t count = ldns_resolver_nameserver_count(res.get());
  ldns_rdf** list = ldns_resolver_nameservers(res.get());
  for (std::size_t i = 0; i < count && list != nullptr; ++i) {
    const ldns_rdf* rdf = list[i];
    const auto type = ldns_rdf_get_type(rdf);
    auto text = detail::address_text(rdf, type == LDNS_RDF_TYPE_AAAA ? RrType::Aaaa : RrType::A);
    if (!text) continue;
    const std::uint16_t port = ldns_resolver_port(res.get());
    out.push_back(ServerAddress{std::move(*text), port == 0 ? std::uint16_t{53} : port});
  }
  if (out.empty()) return invalid("/etc/resolv.conf lists no nameserver; set resolver.servers");
  return out;
}

Result<Server> server_of(ServerAddress address) {
  Server s;
  if (address.port == 0) return invalid("DNS server " + address.ip + " has port 0");
  s.label = address.ip + "@" + std::to_string(address.port);
  auto* v4 = reinterpret_cast<sockaddr_in*>(&s.sockaddr);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&s.sockaddr);
  if (::inet_pton(AF_INET, address.ip.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(address.port);
    s.sockaddr_len = sizeof(sockaddr_in);
  } else if (::inet_pton(AF_INET6, address.ip.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(address.port);
    s.sockaddr_len = sizeof(sockaddr_in6);
  } else {
    return invalid("DNS server \"" + address.ip + "\" is not an IPv4 or IPv6 address");
  }
  s.address = std::move(address);
  return s;
}

}  // namespace

Result<std::unique_ptr<Resolver>> make_trust_ad_resolver(event::Loop& loop,
                                                         const ResolverOptions& options) {
  if (auto ok = detail::check_timeout(options.timeout); !ok) return Unexpected{ok.error()};
  if (options.attempts < 1 || options.attempts > k_max_attempts) {
    return invalid("the number of DNS attempts must be from 1 to 255, got " +
                   std::to_string(options.attempts));
  }
  std::vector<ServerAddress> addresses = options.servers;
  if (addresses.empty()) {
    auto from_file = resolv_conf_servers();
    if (!from_file) return Unexpected{from_file.error()};
    addresses = std::move(*from_file);
  }
  std::vector<Server> servers;
  servers.reserve(addresses.size());
  for (auto& address : addresses) {
    auto s = server_of(std::move(address));
    if (!s) return Unexpected{s.error()};
    servers.push_back(std::move(*s));
  }
  return std::unique_ptr<Resolver>{
      std::make_unique<StubResolver>(loop, std::move(servers), options.timeout, options.attempts)};
}

}  // namespace tlspolicy::dns
