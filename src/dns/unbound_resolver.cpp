// SPDX-License-Identifier: Apache-2.0
//
// NAME
//   unbound_resolver - the "validate" dns::Resolver: libunbound validates
//   DNSSEC in process (RFC 4035) with a configured trust anchor
// PROTOCOL
//   One ub_ctx per resolver object. Upstream: the forwarders of the options
//   (ub_ctx_set_fwd "IP@port", tried by libunbound as backups), or those of
//   /etc/resolv.conf, or, when root_hints is set, full iteration from those
//   roots. libunbound sets DO and CD on upstream queries and validates itself,
//   so a forwarder's own validation verdict does not matter.
//   Result mapping (ub_result):
//     bogus                          -> DnsAnswer, Security::Bogus, why = why_bogus,
//                                       Outcome::NoData, no records, TTL 0 (RFC 6698
//                                       §4.1: bogus data MUST NOT be used), any rcode
//     secure                         -> Security::Secure
//     neither                        -> Security::Insecure (provably unsigned, or no
//                                       trust anchor covers the name)
//     rcode NOERROR / NXDOMAIN       -> Outcome::Data / NoData / NxDomain, read from
//                                       answer_packet by the code the trust-ad backend
//                                       uses (packet.hpp: CNAMEs, TTLs, RFC 2308 TTLs)
//     rcode SERVFAIL, not bogus      -> Errc::DnsServfail (why_bogus in the detail)
//     rcode REFUSED                  -> Errc::DnsRefused
//     other rcodes, unparsable packet,
//     wrong question                 -> Errc::DnsMalformed
//     no result within `timeout`     -> Errc::DnsTimeout (the query is cancelled)
//     libunbound errors (UB_*)       -> DnsServfail / DnsNetwork / Internal
//   All lookup errors are Retry::Transient.
//   Security::Indeterminate is never produced: libunbound reports only the
//   secure and bogus flags, and folds RFC 4035 §4.3 "indeterminate" (no trust
//   anchor above the name) into "neither", which is reported as Insecure.
//   Callers that need every name covered must configure the root anchor.
// SECURITY
//   Validation happens in this process, so the path to the forwarder need
//   not be trusted (RFC 6698 §4.1, RFC 7672 §2.1.3 concern the trust-ad
//   mode). The context writes no files: no auto-trust-anchor-file, no
//   key or cache dump; no chroot, no user change, no fork (ub_ctx_async with
//   threads). The RFC 6761 default local zone "test." is switched off so
//   test worlds under test. can be resolved; the other default zones stay.
// THREADS
//   lookup() is const and thread-safe. Each call starts an async query, then
//   waits for its callback; one waiting thread at a time polls ub_fd() and
//   runs ub_process() (which calls the callbacks) under m_mutex, and wakes
//   the others. A lookup never waits longer than `timeout` (plus scheduling).
// LIMITS
//   The first lookup starts libunbound's worker thread. A cancelled query
//   may keep libunbound busy in the background until its own timeouts end;
//   its result is dropped. CNAME chains longer than 16 links are malformed.
// SEE ALSO
//   include/tlspolicy/dns/resolver.hpp, libunbound(3), unbound.conf(5),
//   RFC 4033, RFC 4035, RFC 7672 §2.1
#include <algorithm>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>  // before ldns.h: its bool shims break <optional>
#include <string>
#include <unordered_set>
#include <utility>

#include <ldns/ldns.h>
#include <unbound.h>

#include "tlspolicy/dns/resolver.hpp"

#include "ldns_handles.hpp"
#include "packet.hpp"
#include "unbound_handles.hpp"
#include <poll.h>

namespace tlspolicy::dns {

namespace {

using detail::LdnsPacket;
using detail::UbContext;
using detail::UbResult;

Unexpected<Error> invalid(std::string detail) {
  return fail(Errc::InvalidArgument, Retry::Permanent, std::move(detail));
}

std::string ub_error_text(int err) {
  const char* text = ub_strerror(err);
  return text != nullptr ? std::string{text} : "libunbound error " + std::to_string(err);
}

/// The one place libunbound error codes of a lookup become Errors.
Error ub_lookup_error(int err, const std::string& what) {
  const std::string detail =
      "libunbound failed to resolve " + what + " (" + ub_error_text(err) + ")";
  switch (err) {
    case UB_SERVFAIL:
      return Error{Errc::DnsServfail, Retry::Transient, detail};
    case UB_SOCKET:
    case UB_PIPE:
      return Error{Errc::DnsNetwork, Retry::Transient, detail};
    default:  // UB_NOMEM, UB_INITFAIL, UB_FORKFAIL, ...
      return Error{Errc::Internal, Retry::Transient, detail};
  }
}

/// True when `path` can be opened for reading (libunbound reads the file
/// only when the context is finalized, and then only logs the reason).
bool readable(const std::string& path, std::string& why) {
  std::ifstream in{path};
  if (in) return true;
  why = std::strerror(errno);
  return false;
}

class ValidatingResolver;

/// One outstanding query. Lives on the stack of lookup() unless the query
/// could not be cancelled; then the resolver keeps it until the callback runs
/// (or until the context is deleted, which drops the callback).
struct Pending {
  const ValidatingResolver* owner = nullptr;
  bool done = false;
  bool abandoned = false;
  int err = 0;
  UbResult result;
};

class ValidatingResolver final : public Resolver {
 public:
  ValidatingResolver(UbContext ctx, std::chrono::milliseconds timeout, std::string upstream)
      : m_ctx(std::move(ctx)), m_timeout(timeout), m_upstream(std::move(upstream)) {}

  ~ValidatingResolver() override {
    // Callbacks of outstanding queries are not called after ub_ctx_delete.
    m_ctx.reset();
    for (Pending* p : m_abandoned) delete p;
  }
  ValidatingResolver(const ValidatingResolver&) = delete;
  ValidatingResolver& operator=(const ValidatingResolver&) = delete;

  [[nodiscard]] Result<DnsAnswer> lookup(const DomainName& name, RrType type) const override {
    const std::string what = name.str() + " " + std::string{to_string(type)};
    auto pending = std::make_unique<Pending>();
    pending->owner = this;
    const auto deadline = std::chrono::steady_clock::now() + m_timeout;

    std::unique_lock lock{m_mutex};
    int async_id = 0;
    // Absolute name: no search list (libunbound has none anyway).
    const std::string qname = name.str() + ".";
    if (const int err = ub_resolve_async(m_ctx.get(), qname.c_str(), static_cast<int>(type),
                                         LDNS_RR_CLASS_IN, pending.get(), &on_result, &async_id);
        err != UB_NOERROR) {
      return Unexpected{ub_lookup_error(err, what)};
    }
    while (!pending->done) {
      const auto now = std::chrono::steady_clock::now();
      if (now >= deadline) break;
      if (m_polling) {
        m_wake.wait_until(lock, deadline);
        continue;
      }
      // This thread polls for everyone until its own answer is in.
      m_polling = true;
      lock.unlock();
      const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - now);
      pollfd pfd{ub_fd(m_ctx.get()), POLLIN, 0};
      ::poll(&pfd, 1,
             static_cast<int>(std::min<std::chrono::milliseconds::rep>(
                 left.count(), std::numeric_limits<int>::max())));
      lock.lock();
      // Non-blocking: reads what the worker delivered, runs the callbacks.
      ub_process(m_ctx.get());
      m_polling = false;
      m_wake.notify_all();
    }
    if (!pending->done) {
      // Callbacks only run inside ub_process(), under m_mutex: after a
      // successful cancel this one never runs; otherwise it is already
      // queued and will free the abandoned Pending.
      if (ub_cancel(m_ctx.get(), async_id) != UB_NOERROR) {
        pending->abandoned = true;
        m_abandoned.insert(pending.release());
      }
      return fail(Errc::DnsTimeout, Retry::Transient,
                  "no validated answer for " + what + " from " + m_upstream + " within " +
                      std::to_string(m_timeout.count()) + " ms");
    }
    lock.unlock();
    if (pending->err != UB_NOERROR) return Unexpected{ub_lookup_error(pending->err, what)};
    if (!pending->result) {
      return fail(Errc::Internal, Retry::Transient, "libunbound returned no result for " + what);
    }
    return to_answer(*pending->result, name, type, what);
  }

 private:
  /// ub_callback_type; runs inside ub_process(), with m_mutex held.
  static void on_result(void* data, int err, ub_result* result) noexcept {
    auto* pending = static_cast<Pending*>(data);
    UbResult owned{result};
    if (pending->abandoned) {
      pending->owner->m_abandoned.erase(pending);
      delete pending;
      return;
    }
    pending->err = err;
    pending->result = std::move(owned);
    pending->done = true;
  }

  [[nodiscard]] Result<DnsAnswer> to_answer(const ub_result& r, const DomainName& name, RrType type,
                                            const std::string& what) const {
    const std::string why =
        r.why_bogus != nullptr && r.why_bogus[0] != '\0' ? std::string{r.why_bogus} : std::string{};
    const Security security = r.secure ? Security::Secure : Security::Insecure;

    // RFC 4035 §4.3 / §5.5: a validation failure is a verdict, not an
    // infrastructure error; the engine reports "bogus" with the reason.
    // RFC 6698 §4.1 / RFC 7672 §2.1.1: bogus data MUST NOT be used, so none
    // is handed out (whatever rcode and records the answer had).
    if (r.bogus) return bogus_answer(name, type, why);

    switch (r.rcode) {
      case LDNS_RCODE_NOERROR:
      case LDNS_RCODE_NXDOMAIN:
        break;
      case LDNS_RCODE_SERVFAIL:
        return fail(Errc::DnsServfail, Retry::Transient,
                    "SERVFAIL resolving " + what + " via " + m_upstream +
                        (why.empty() ? std::string{} : " (" + why + ")") +
                        (r.was_ratelimited ? " (rate limited)" : ""));
      case LDNS_RCODE_REFUSED:
        return fail(Errc::DnsRefused, Retry::Transient, "REFUSED resolving " + what);
      default:
        return fail(Errc::DnsMalformed, Retry::Transient,
                    "unexpected rcode " + detail::rcode_name(static_cast<ldns_pkt_rcode>(r.rcode)) +
                        " resolving " + what);
    }

    if (r.answer_packet == nullptr || r.answer_len <= 0) {
      return fail(Errc::DnsMalformed, Retry::Transient,
                  "libunbound returned no answer packet for " + what);
    }
    ldns_pkt* raw = nullptr;
    const ldns_status s = ldns_wire2pkt(&raw, static_cast<const std::uint8_t*>(r.answer_packet),
                                        static_cast<std::size_t>(r.answer_len));
    const LdnsPacket pkt{raw};
    if (s != LDNS_STATUS_OK || !pkt) {
      const char* text = ldns_get_errorstr_by_id(s);
      return fail(Errc::DnsMalformed, Retry::Transient,
                  "cannot parse libunbound's answer for " + what + " (" +
                      (text != nullptr ? text : "ldns error") + ")");
    }
    if (!detail::question_matches(pkt.get(), name, type)) {
      return fail(Errc::DnsMalformed, Retry::Transient,
                  "libunbound's answer for " + what + " has a different question section");
    }
    return detail::answer_from_packet(pkt.get(), name, type, security, m_upstream);
  }

  /// A Bogus verdict: no records, NoData, TTL 0 (not to be reused), why.
  static DnsAnswer bogus_answer(const DomainName& name, RrType type, const std::string& why) {
    DnsAnswer out;
    out.qname = name.str();
    out.qtype = type;
    out.outcome = Outcome::NoData;
    out.security = Security::Bogus;
    out.ttl = std::chrono::seconds{0};
    out.why = why.empty() ? "DNSSEC validation failed" : why;
    return out;
  }

  UbContext m_ctx;
  std::chrono::milliseconds m_timeout;
  std::string m_upstream;  ///< for error details: "forwarders ..." / "root hints ..."
  mutable std::mutex m_mutex;
  mutable std::condition_variable m_wake;
  mutable bool m_polling = false;                    // guarded by m_mutex
  mutable std::unordered_set<Pending*> m_abandoned;  // guarded by m_mutex
};

/// ub_ctx_set_option() with a readable error.
Result<void> set_option(ub_ctx* ctx, const char* option, const std::string& value) {
  if (const int err = ub_ctx_set_option(ctx, option, value.c_str()); err != UB_NOERROR) {
    return fail(Errc::Internal, Retry::Permanent,
                std::string{"libunbound rejected "} + option + " " + value + " (" +
                    ub_error_text(err) + ")");
  }
  return {};
}

}  // namespace

Result<std::unique_ptr<Resolver>> make_validating_resolver(
    const ValidatingResolverOptions& options) {
  if (options.timeout <= std::chrono::milliseconds::zero()) {
    return invalid("the DNS timeout must be positive, got " +
                   std::to_string(options.timeout.count()) + " ms");
  }
  if (options.timeout.count() > std::numeric_limits<int>::max()) {
    return invalid("the DNS timeout of " + std::to_string(options.timeout.count()) +
                   " ms is too long");
  }
  // Without an anchor every answer would come out Insecure: refuse, rather
  // than silently turning DANE off (RFC 7672 §2.1.1 needs secure answers).
  if (options.trust_anchor.empty()) {
    return invalid("resolver.mode validate needs a trust anchor file (resolver.trust_anchor)");
  }
  std::string why;
  if (!readable(options.trust_anchor, why)) {
    return invalid("cannot read the trust anchor file " + options.trust_anchor + ": " + why);
  }
  if (!options.root_hints.empty() && !readable(options.root_hints, why)) {
    return invalid("cannot read the root hints file " + options.root_hints + ": " + why);
  }

  UbContext ctx{ub_ctx_create()};
  if (!ctx) return fail(Errc::Internal, Retry::Permanent, "out of memory (ub_ctx_create)");

  // A library inside a daemon: worker thread, not a forked process; no
  // files written; talk to resolvers on loopback (the usual local
  // validating resolver, and the test world).
  if (const int err = ub_ctx_async(ctx.get(), 1); err != UB_NOERROR) {
    return fail(Errc::Internal, Retry::Permanent, "ub_ctx_async: " + ub_error_text(err));
  }
  struct Option {
    const char* name;
    const char* value;
  };
  static constexpr Option k_options[] = {
      {"do-not-query-localhost:", "no"},
      {"use-syslog:", "no"},
      {"verbosity:", "0"},
      {"chroot:", ""},
      {"username:", ""},
      // RFC 8145 key tag signalling would send extra queries upstream.
      {"trust-anchor-signaling:", "no"},
      {"root-key-sentinel:", "no"},
  };
  for (const auto& option : k_options) {
    auto ok = set_option(ctx.get(), option.name, option.value);
    if (!ok) return Unexpected{ok.error()};
  }

  if (const int err = ub_ctx_add_ta_file(ctx.get(), options.trust_anchor.c_str());
      err != UB_NOERROR) {
    return invalid("cannot use the trust anchor file " + options.trust_anchor + " (" +
                   ub_error_text(err) + ")");
  }

  std::string upstream;
  if (!options.root_hints.empty()) {
    // Iterate from the given roots; no forwarders.
    auto ok = set_option(ctx.get(), "root-hints:", options.root_hints);
    if (!ok) return invalid(ok.error().detail);
    upstream = "the roots in " + options.root_hints;
  } else if (options.servers.empty()) {
    if (const int err = ub_ctx_resolvconf(ctx.get(), nullptr); err != UB_NOERROR) {
      return invalid("cannot read the nameservers of /etc/resolv.conf (" + ub_error_text(err) +
                     "); set resolver.servers");
    }
    upstream = "the nameservers of /etc/resolv.conf";
  } else {
    upstream = "forwarder";
    if (options.servers.size() > 1) upstream += "s";
    for (const auto& server : options.servers) {
      if (server.port == 0) return invalid("DNS server " + server.ip + " has port 0");
      const std::string address = server.ip + "@" + std::to_string(server.port);
      if (const int err = ub_ctx_set_fwd(ctx.get(), address.c_str()); err != UB_NOERROR) {
        return invalid("DNS server \"" + server.ip + "\" is not an IPv4 or IPv6 address (" +
                       ub_error_text(err) + ")");
      }
      upstream += " " + address;
    }
  }

  // Finalize the configuration now, so a trust anchor or hints file that
  // libunbound cannot parse fails here and not at the first lookup:
  // ub_ctx_zone_remove() finalizes the context first. It also drops the
  // RFC 6761 §6.2 default local zone "test." (the "local-zone: test.
  // nodefault" option has no effect through ub_ctx_set_option), so test
  // worlds under test. resolve; the other default zones stay.
  if (const int err = ub_ctx_zone_remove(ctx.get(), "test."); err != UB_NOERROR) {
    return invalid(
        "libunbound cannot start with trust anchor " + options.trust_anchor +
        (options.root_hints.empty() ? std::string{} : " and hints " + options.root_hints) + " (" +
        ub_error_text(err) + ")");
  }

  return std::unique_ptr<Resolver>{
      std::make_unique<ValidatingResolver>(std::move(ctx), options.timeout, std::move(upstream))};
}

}  // namespace tlspolicy::dns
