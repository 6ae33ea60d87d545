// SPDX-License-Identifier: Apache-2.0
//
// NAME
//   ldns_resolver - the "trust-ad" dns::Resolver: an ldns stub that asks a
//   configured validating resolver and believes its AD bit
// PROTOCOL
//   One query per lookup, class IN, RD set, CD clear, EDNS0 with DO set and a
//   1232-byte UDP buffer. A truncated UDP answer (TC) is asked again over TCP
//   (RFC 7766 §5). Servers are tried in order, each with `attempts` tries of
//   `timeout`; the next server is asked when one gives no usable answer.
//   Reply mapping:
//     NOERROR + RRs of the type (after CNAMEs) -> Outcome::Data
//     NOERROR otherwise                        -> Outcome::NoData
//     NXDOMAIN                                 -> Outcome::NxDomain
//     SERVFAIL -> Errc::DnsServfail, REFUSED -> Errc::DnsRefused,
//     other rcodes, ID or question mismatch, unparsable -> Errc::DnsMalformed,
//     no answer within the timeout -> Errc::DnsTimeout,
//     socket or connect failures -> Errc::DnsNetwork (all Retry::Transient).
//   Security: AD set -> Secure, AD clear -> Insecure (RFC 4035 §3.2.3).
// SECURITY
//   The AD bit is only as trustworthy as the path to the resolver that set
//   it: RFC 6698 §4.1 and RFC 7672 §2.1.3 require a validating resolver on a
//   trusted path (normally on the same host, 127.0.0.1 / ::1). A validating
//   resolver answers SERVFAIL for bogus data (RFC 4035 §5.5), so in this mode
//   "bogus" reaches the caller as an Errc::DnsServfail error, never as
//   Security::Bogus; Security::Indeterminate is not produced either.
// THREADS
//   lookup() is const and thread-safe: every call builds its own
//   ldns_resolver (a few allocations, no I/O) from the immutable server list,
//   so calls share nothing mutable and never wait for each other.
// LIMITS
//   CNAME chains longer than 16 links are treated as malformed. The reply's
//   source address is not checked beyond what ldns does; the ID and the
//   question section are.
// SEE ALSO
//   include/tlspolicy/dns/resolver.hpp, RFC 1035, RFC 2308, RFC 4035, RFC 7672
#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <ldns/ldns.h>

#include "tlspolicy/dns/resolver.hpp"

#include "ldns_handles.hpp"
#include "packet.hpp"
#include <arpa/inet.h>
#include <sys/time.h>

namespace tlspolicy::dns {

namespace {

using detail::LdnsPacket;
using detail::LdnsRdf;
using detail::LdnsResolver;
using detail::LdnsText;

// DNS Flag Day 2020: a 1232-byte EDNS buffer avoids IP fragmentation; larger
// answers come back truncated and are asked again over TCP.
constexpr std::uint16_t k_edns_udp_size = 1232;
// ldns keeps the retry count in a uint8_t.
constexpr int k_max_attempts = 255;

/// One configured server, with its address already in ldns form.
struct Server {
  ServerAddress address;
  LdnsRdf ip;         ///< LDNS_RDF_TYPE_A or _AAAA; read-only after construction
  std::string label;  ///< "IP@port", for error details
};

std::string server_label(const ServerAddress& a) { return a.ip + "@" + std::to_string(a.port); }

std::string status_text(ldns_status s) {
  const char* text = ldns_get_errorstr_by_id(s);
  return text != nullptr ? std::string{text} : "ldns status " + std::to_string(static_cast<int>(s));
}

/// The one place ldns statuses become Errors (HOUSE-STYLE §5).
Error status_error(ldns_status s, const std::string& where, std::chrono::milliseconds timeout) {
  switch (s) {
    case LDNS_STATUS_NETWORK_ERR:
      // ldns reports "no datagram within the timeout" (and a TCP read that
      // timed out) as a network error.
      return Error{Errc::DnsTimeout, Retry::Transient,
                   "no answer from " + where + " within " + std::to_string(timeout.count()) +
                       " ms (" + status_text(s) + ")"};
    case LDNS_STATUS_ERR:
    case LDNS_STATUS_SOCKET_ERROR:
    case LDNS_STATUS_RES_NO_NS:
    case LDNS_STATUS_ADDRESS_ERR:
      return Error{Errc::DnsNetwork, Retry::Transient,
                   "cannot reach " + where + " (" + status_text(s) + ")"};
    case LDNS_STATUS_MEM_ERR:
      return Error{Errc::Internal, Retry::Transient, "out of memory asking " + where};
    default:
      return Error{Errc::DnsMalformed, Retry::Transient,
                   "unusable answer from " + where + " (" + status_text(s) + ")"};
  }
}

class TrustAdResolver final : public Resolver {
 public:
  TrustAdResolver(std::vector<Server> servers, std::chrono::milliseconds timeout, int attempts)
      : m_servers(std::move(servers)), m_timeout(timeout), m_attempts(attempts) {}

  [[nodiscard]] Result<DnsAnswer> lookup(const DomainName& name, RrType type) const override {
    // Absolute name: ldns must not apply a search list (dnsrch/defnames are
    // off as well).
    const LdnsRdf qname{ldns_dname_new_frm_str((name.str() + ".").c_str())};
    if (!qname) {
      return fail(Errc::Internal, Retry::Transient, "ldns cannot represent " + name.str());
    }
    Error last;
    std::string details;
    for (const auto& server : m_servers) {
      auto got = ask(server, qname.get(), name, type);
      if (got) return got;
      if (!details.empty()) details += "; ";
      details += got.error().detail;
      last = std::move(got.error());
    }
    last.detail = std::move(details);
    return Unexpected{std::move(last)};
  }

 private:
  [[nodiscard]] Result<LdnsResolver> make_ldns(const Server& server) const {
    LdnsResolver res{ldns_resolver_new()};
    if (!res) return fail(Errc::Internal, Retry::Transient, "out of memory (ldns_resolver_new)");
    if (const ldns_status s = ldns_resolver_push_nameserver(res.get(), server.ip.get());
        s != LDNS_STATUS_OK) {
      return Unexpected{status_error(s, server.label, m_timeout)};
    }
    ldns_resolver_set_port(res.get(), server.address.port);
    ldns_resolver_set_recursive(res.get(), true);   // RD
    ldns_resolver_set_dnssec(res.get(), true);      // DO (RFC 3225)
    ldns_resolver_set_dnssec_cd(res.get(), false);  // the resolver validates
    ldns_resolver_set_edns_udp_size(res.get(), k_edns_udp_size);
    ldns_resolver_set_dnsrch(res.get(), false);
    ldns_resolver_set_defnames(res.get(), false);
    ldns_resolver_set_random(res.get(), false);
    ldns_resolver_set_fail(res.get(), false);
    ldns_resolver_set_fallback(res.get(), false);  // TC is handled in ask()
    ldns_resolver_set_igntc(res.get(), false);
    ldns_resolver_set_usevc(res.get(), false);
    const auto ms = m_timeout.count();
    timeval tv{};
    tv.tv_sec = static_cast<decltype(tv.tv_sec)>(ms / 1000);
    tv.tv_usec = static_cast<decltype(tv.tv_usec)>((ms % 1000) * 1000);
    ldns_resolver_set_timeout(res.get(), tv);
    ldns_resolver_set_retry(res.get(), static_cast<std::uint8_t>(m_attempts));
    ldns_resolver_set_retrans(res.get(), 0);  // no sleep between tries
    return res;
  }

  /// Sends the query over UDP, or TCP when `tcp`; nullptr reply never escapes.
  [[nodiscard]] Result<LdnsPacket> send(ldns_resolver* res, ldns_pkt* query, bool tcp,
                                        const Server& server) const {
    ldns_resolver_set_usevc(res, tcp);
    // A failed try marks the server unreachable inside this resolver; reset
    // that so the TCP retry is really sent.
    ldns_resolver_set_nameserver_rtt(res, 0, LDNS_RESOLV_RTT_MIN);
    ldns_pkt* raw = nullptr;
    const ldns_status s = ldns_resolver_send_pkt(&raw, res, query);
    LdnsPacket reply{raw};
    if (s != LDNS_STATUS_OK) return Unexpected{status_error(s, server.label, m_timeout)};
    if (!reply) {
      return fail(Errc::DnsTimeout, Retry::Transient,
                  "no answer from " + server.label + " within " +
                      std::to_string(m_timeout.count()) + " ms");
    }
    return reply;
  }

  [[nodiscard]] Result<DnsAnswer> ask(const Server& server, const ldns_rdf* qname,
                                      const DomainName& name, RrType type) const {
    auto res = make_ldns(server);
    if (!res) return Unexpected{res.error()};
    const auto want = static_cast<ldns_rr_type>(static_cast<std::uint16_t>(type));
    const std::string what = name.str() + " " + std::string{to_string(type)};

    ldns_pkt* raw_query = nullptr;
    const ldns_status s = ldns_resolver_prepare_query_pkt(&raw_query, res->get(), qname, want,
                                                          LDNS_RR_CLASS_IN, LDNS_RD);
    const LdnsPacket query{raw_query};
    if (s != LDNS_STATUS_OK || !query) {
      return fail(Errc::Internal, Retry::Transient,
                  "cannot build the query for " + what + " (" + status_text(s) + ")");
    }

    auto reply = send(res->get(), query.get(), false, server);
    if (!reply) return Unexpected{reply.error()};
    if (ldns_pkt_tc(reply->get())) {
      // RFC 7766 §5 / RFC 1035 §4.2.1: a truncated UDP answer is asked again
      // over TCP.
      reply = send(res->get(), query.get(), true, server);
      if (!reply) {
        Error e = std::move(reply.error());
        e.detail = "truncated UDP answer for " + what + ", then over TCP: " + e.detail;
        return Unexpected{std::move(e)};
      }
      if (ldns_pkt_tc(reply->get())) {
        return fail(Errc::DnsMalformed, Retry::Transient,
                    "the TCP answer from " + server.label + " for " + what + " is truncated");
      }
    }
    const ldns_pkt* pkt = reply->get();

    if (!ldns_pkt_qr(pkt) || ldns_pkt_id(pkt) != ldns_pkt_id(query.get())) {
      return fail(Errc::DnsMalformed, Retry::Transient,
                  "the reply from " + server.label + " for " + what +
                      " does not answer the query (QR bit or ID mismatch)");
    }
    const ldns_pkt_rcode rcode = ldns_pkt_get_rcode(pkt);
    switch (rcode) {
      case LDNS_RCODE_NOERROR:
      case LDNS_RCODE_NXDOMAIN:
        break;
      case LDNS_RCODE_SERVFAIL:
        return fail(Errc::DnsServfail, Retry::Transient,
                    "SERVFAIL from " + server.label + " for " + what +
                        " (a validating resolver also answers SERVFAIL for bogus DNSSEC data)");
      case LDNS_RCODE_REFUSED:
        return fail(Errc::DnsRefused, Retry::Transient,
                    "REFUSED from " + server.label + " for " + what);
      default:
        return fail(Errc::DnsMalformed, Retry::Transient,
                    "unexpected rcode " + detail::rcode_name(rcode) + " from " + server.label +
                        " for " + what);
    }
    if (!detail::question_matches(pkt, name, type)) {
      return fail(
          Errc::DnsMalformed, Retry::Transient,
          "the reply from " + server.label + " for " + what + " has a different question section");
    }
    // RFC 4035 §3.2.3 / RFC 6840 §5.8: AD means the resolver validated the data.
    const Security security = ldns_pkt_ad(pkt) ? Security::Secure : Security::Insecure;
    return detail::answer_from_packet(pkt, name, type, security, server.label);
  }

  std::vector<Server> m_servers;
  std::chrono::milliseconds m_timeout;
  int m_attempts;
};

Unexpected<Error> invalid(std::string detail) {
  return fail(Errc::InvalidArgument, Retry::Permanent, std::move(detail));
}

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

}  // namespace

Result<std::unique_ptr<Resolver>> make_trust_ad_resolver(const ResolverOptions& options) {
  if (options.timeout <= std::chrono::milliseconds::zero()) {
    return invalid("the DNS timeout must be positive, got " +
                   std::to_string(options.timeout.count()) + " ms");
  }
  if (options.timeout.count() > std::numeric_limits<int>::max()) {
    return invalid("the DNS timeout of " + std::to_string(options.timeout.count()) +
                   " ms is too long");
  }
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
  // ldns keeps one port per resolver object, so every server gets its own
  // ldns_resolver (built per lookup) and the servers are tried in order.
  std::vector<Server> servers;
  servers.reserve(addresses.size());
  for (auto& address : addresses) {
    if (address.port == 0) return invalid("DNS server " + address.ip + " has port 0");
    const bool v6 = address.ip.find(':') != std::string::npos;
    LdnsRdf ip{ldns_rdf_new_frm_str(v6 ? LDNS_RDF_TYPE_AAAA : LDNS_RDF_TYPE_A, address.ip.c_str())};
    if (!ip) return invalid("DNS server \"" + address.ip + "\" is not an IPv4 or IPv6 address");
    std::string label = server_label(address);
    servers.push_back(Server{std::move(address), std::move(ip), std::move(label)});
  }
  return std::unique_ptr<Resolver>{
      std::make_unique<TrustAdResolver>(std::move(servers), options.timeout, options.attempts)};
}

}  // namespace tlspolicy::dns
