// SPDX-License-Identifier: Apache-2.0
//
// dns::Resolver: the one interface every DNS lookup goes through. Backends:
// "trust-ad" (ldns stub that sets DO and trusts the AD bit of a configured,
// local validating resolver; RFC 6698 §4.1 / RFC 7672 §2.1.3 require that path
// to be secure) and, later, "validate" (libunbound, in-process validation).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "tlspolicy/dns/answer.hpp"
#include "tlspolicy/dns/name.hpp"
#include "tlspolicy/util/result.hpp"

namespace tlspolicy::dns {

class Resolver {
 public:
  virtual ~Resolver() = default;

  /// Looks up `type` records for `name`. Thread-safe; blocks up to the
  /// configured timeout (per server, for each attempt).
  /// Returns a DnsAnswer for every DNS-level outcome, NXDOMAIN and NODATA
  /// included, with its Security. Returns an Error only when no usable answer
  /// arrived: Errc::DnsTimeout, DnsServfail, DnsRefused, DnsNetwork (all
  /// Transient) or DnsMalformed.
  [[nodiscard]] virtual Result<DnsAnswer> lookup(const DomainName& name, RrType type) const = 0;
};

struct ServerAddress {
  std::string ip;  ///< IPv4 or IPv6 literal
  std::uint16_t port = 53;
};

/// Parses "IP" or "IP@port" ("::1@5353" works for IPv6).
[[nodiscard]] Result<ServerAddress> parse_server_address(std::string_view text);

struct ResolverOptions {
  /// Servers to query, in order. Empty means the nameservers of
  /// /etc/resolv.conf.
  std::vector<ServerAddress> servers;
  /// Time allowed for one query to one server.
  std::chrono::milliseconds timeout{5000};
  /// Attempts per server before giving up.
  int attempts = 2;
};

/// The trust-ad backend on ldns. Sets the DO bit, reads AD, retries over TCP
/// when the answer is truncated. Errors at construction (no usable server)
/// are Errc::InvalidArgument.
[[nodiscard]] Result<std::unique_ptr<Resolver>> make_trust_ad_resolver(
    const ResolverOptions& options);

struct ValidatingResolverOptions {
  /// Forwarders, in order; empty = the nameservers of /etc/resolv.conf.
  /// Ignored when root_hints is set.
  std::vector<ServerAddress> servers;
  /// DNSKEY or DS records in zone-file format (e.g. Debian's
  /// /usr/share/dns/root.key, or a private test root's key).
  std::string trust_anchor;
  /// Unbound root hints file; when non-empty, iterate from these roots
  /// instead of forwarding (a private signed test root works).
  std::string root_hints;
  /// Time allowed for one lookup (libunbound resolves asynchronously; the
  /// lookup is abandoned with DnsTimeout after this).
  std::chrono::milliseconds timeout{5000};
};

/// The `validate` backend on libunbound: in-process DNSSEC validation
/// (RFC 4035) with the given trust anchor. Every answer carries Secure /
/// Insecure / Bogus (with the validator's reason in `why`) / Indeterminate.
/// Errors at construction: InvalidArgument (unreadable trust anchor or
/// hints, bad forwarder).
[[nodiscard]] Result<std::unique_ptr<Resolver>> make_validating_resolver(
    const ValidatingResolverOptions& options);

}  // namespace tlspolicy::dns
