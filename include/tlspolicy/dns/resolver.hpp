// SPDX-License-Identifier: Apache-2.0
//
// dns::Resolver: the one interface every DNS lookup goes through. Backends:
// "trust-ad" (a stub that sets DO and trusts the AD bit of a configured,
// local validating resolver; RFC 6698 §4.1 / RFC 7672 §2.1.3 require that path
// to be secure) and "validate" (libunbound, in-process validation).
// Lookups are asynchronous: lookup() starts one and its callback ends it;
// co_await dns::lookup(resolver, name, type) is the coroutine form.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "tlspolicy/dns/answer.hpp"
#include "tlspolicy/dns/name.hpp"
#include "tlspolicy/event/task.hpp"
#include "tlspolicy/util/result.hpp"

namespace tlspolicy::dns {

class Resolver {
 public:
  using Callback = std::function<void(Result<DnsAnswer>)>;

  virtual ~Resolver() = default;

  /// Looks up `type` records for `name` and calls `done` exactly once with a DnsAnswer for
  /// every DNS-level outcome, NXDOMAIN and NODATA included, with its Security, or with an
  /// Error when no usable answer arrived: Errc::DnsTimeout, DnsServfail, DnsRefused,
  /// DnsNetwork (all Transient) or DnsMalformed. `done` runs on the caller's thread (the
  /// engine loop's), before lookup() returns or later; never inside a library callback.
  virtual void lookup(const DomainName& name, RrType type, Callback done) = 0;

  /// Ends every lookup in flight now (Errc::DnsNetwork, "cancelled"), for a fast shutdown.
  /// Loop thread.
  virtual void cancel_all() {}
};

/// The coroutine form of Resolver::lookup().
[[nodiscard]] event::Task<Result<DnsAnswer>> lookup(Resolver& resolver, DomainName name,
                                                    RrType type);

/// Resolver::lookup() for a thread that may block (the store pool's, for TLS-RPT delivery):
/// the lookup runs on `loop`, which another thread runs, and this call waits for it. On the
/// loop's own thread it would wait for itself: it fails at once with Errc::Internal.
[[nodiscard]] Result<DnsAnswer> lookup_blocking(event::Loop& loop, Resolver& resolver,
                                                const DomainName& name, RrType type);

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

/// The trust-ad backend: an asynchronous stub on `loop` (ldns for the wire format). Sets the DO
/// bit, reads AD, asks again over TCP when the answer is truncated. Errors at construction (no
/// usable server) are Errc::InvalidArgument. Lookups run on `loop`'s thread; the resolver must
/// be destroyed there too, and `loop` must outlive it.
[[nodiscard]] Result<std::unique_ptr<Resolver>> make_trust_ad_resolver(
    event::Loop& loop, const ResolverOptions& options);

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
  /// Time allowed for one lookup (the lookup is abandoned with DnsTimeout after this).
  std::chrono::milliseconds timeout{5000};
};

/// The `validate` backend on libunbound: in-process DNSSEC validation
/// (RFC 4035) with the given trust anchor. Every answer carries Secure /
/// Insecure / Bogus (with the validator's reason in `why`) / Indeterminate.
/// Errors at construction: InvalidArgument (unreadable trust anchor or
/// hints, bad forwarder). Lookups run on `loop`'s thread (libunbound validates on a worker
/// thread of its own); the resolver must be destroyed there too.
[[nodiscard]] Result<std::unique_ptr<Resolver>> make_validating_resolver(
    event::Loop& loop, const ValidatingResolverOptions& options);

}  // namespace tlspolicy::dns
