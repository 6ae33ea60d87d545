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
//   Everything but libunbound's own worker thread runs on the engine loop:
//   lookup() starts an async query (ub_resolve_async) and returns; ub_fd() is
//   watched by the loop, whose callback runs ub_process(), which calls the
//   callbacks; each answer is delivered with Loop::defer(). A lookup ends
//   within `timeout` (a loop timer cancels it).
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
#include <cstdint>
#include <cstring>
#include <fstream>
#include <limits>
#include <memory>
#include <optional>  // before ldns.h: its bool shims break <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include <unbound.h>

#include "tlspolicy/dns/resolver.hpp"
#include "tlspolicy/event/loop.hpp"

#include "ldns.hpp"
#include "ldns_handles.hpp"
#include "options.hpp"
#include "packet.hpp"
#include "unbound_handles.hpp"
#include <sys/epoll.h>

namespace tlspolicy::dns {

namespace {

using detail::LdnsPacket;
using detail::UbContext;
using detail::UbResult;

Unexpected<Error> invalid(std::string detail) { return detail::invalid_option(std::move(detail)); }

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

class ValidatingResolver final : public Resolver {
 public:
  ValidatingResolver(event::Loop& loop, UbContext ctx, std::chrono::milliseconds timeout,
                     std::string upstream)
      : m_loop(loop), m_ctx(std::move(ctx)), m_timeout(timeout), m_upstream(std::move(upstream)) {}

  ~ValidatingResolver() override {
    // Every lookup in flight ends (its callback is deferred to the loop); libunbound calls no
    // callback after ub_ctx_delete, so the queries it still holds are freed here.
    end_all("the resolver is shutting down");
    m_watch.reset();
    m_ctx.reset();
  }

  void cancel_all() override { end_all("lookup cancelled: tlspolicy is shutting down"); }

  ValidatingResolver(const ValidatingResolver&) = delete;
  ValidatingResolver& operator=(const ValidatingResolver&) = delete;

  void lookup(const DomainName& name, RrType type, Callback done) override {
    if (auto why = ensure_watch(); !why.empty()) {
      m_loop.defer([done = std::move(done), why = std::move(why)] {
        done(fail(Errc::Internal, Retry::Transient, "libunbound: " + why));
      });
      return;
    }
    // The first lookups under a top-level domain wait until its keys are cached (below).
    const std::string& text = name.str();
    const auto dot = text.rfind('.');
    std::string tld = dot == std::string::npos ? text : text.substr(dot + 1);
    if (m_warm.contains(tld)) {
      start(name, type, std::move(done));
      return;
    }
    auto [it, fresh] = m_warming.try_emplace(tld);
    if (fresh) {
      it->second = std::make_unique<Warmup>(Warmup{this, tld, {}, std::nullopt, false});
      Warmup* w = it->second.get();
      const std::string qname = tld + ".";
      if (ub_resolve_async(m_ctx.get(), qname.c_str(), LDNS_RR_TYPE_DNSKEY, LDNS_RR_CLASS_IN, w,
                           &on_warm, nullptr) != UB_NOERROR) {
        w->answered = true;  // no callback will come
      }
      w->timer = m_loop.after(k_warmup_wait, [this, tld] { warmed(tld, false); });
    }
    it->second->held.push_back(Held{name, type, std::move(done)});
  }

 private:
  /// How long the first lookups under a top-level domain wait for its keys at most. The keys
  /// are needed to validate their answers anyway; a local resolver that has them cached
  /// answers in a millisecond, one that must fetch them in a round trip or two.
  static constexpr std::chrono::milliseconds k_warmup_wait{1000};

  // libunbound verifies a key RRset once for every query that waits for it: a thousand first
  // lookups under one top-level domain verify the root's and the TLD's DNSKEY RRsets a
  // thousand times each (measured: 2 ECDSA verifications per query in a cold burst, none
  // once the keys are cached; tools/bench, docs/performance.md). So the first lookups under a
  // TLD wait (at most k_warmup_wait) until one lookup of its DNSKEY RRset has validated and
  // cached them; every later lookup goes out at once.
  struct Held {
    DomainName name;
    RrType type;
    Callback done;
  };
  struct Warmup {
    ValidatingResolver* owner;
    std::string tld;
    std::vector<Held> held;
    std::optional<event::TimerId> timer;
    bool answered = false;  ///< libunbound's callback ran (or will never run)
  };

  static void on_warm(void* data, int /*err*/, ub_result* result) noexcept {
    ub_resolve_free(result);
    auto* w = static_cast<Warmup*>(data);
    try {
      w->owner->warmed(w->tld, true);
    } catch (...) {  // std::bad_alloc: nothing may cross into C
    }
  }

  /// The TLD's keys are cached (`answered`), or waiting for them took too long: the held
  /// lookups start. The record is kept until libunbound's callback, which refers to it.
  void warmed(const std::string& tld, bool answered) {
    const auto it = m_warming.find(tld);
    if (it == m_warming.end()) return;
    Warmup& w = *it->second;
    if (answered) w.answered = true;
    if (!answered && w.timer) w.timer.reset();
    if (answered && w.timer) m_loop.cancel(*std::exchange(w.timer, std::nullopt));
    m_warm.insert(tld);
    for (auto& h : std::exchange(w.held, {})) start(h.name, h.type, std::move(h.done));
    if (w.answered) m_warming.erase(it);
  }

  void start(const DomainName& name, RrType type, Callback done) {
    auto owned = std::make_unique<Query>(this, name, type, std::move(done));
    Query* q = owned.get();
    m_queries.emplace(q, std::move(owned));
    // Absolute name: no search list (libunbound has none anyway).
    const std::string qname = name.str() + ".";
    if (const int err = ub_resolve_async(m_ctx.get(), qname.c_str(), static_cast<int>(type),
                                         LDNS_RR_CLASS_IN, q, &on_result, &q->async_id);
        err != UB_NOERROR) {
      finish(q, Unexpected{ub_lookup_error(err, q->what)});
      return;
    }
    q->timer = m_loop.after(m_timeout, [this, q] { timed_out(q); });
  }

  struct Query {
    Query(ValidatingResolver* o, DomainName n, RrType t, Callback d)
        : owner(o),
          name(std::move(n)),
          type(t),
          done(std::move(d)),
          what(name.str() + " " + std::string{to_string(type)}) {}
    ValidatingResolver* owner;
    DomainName name;
    RrType type;
    Callback done;
    std::string what;
    int async_id = 0;
    std::optional<event::TimerId> timer;
  };

  /// ub_callback_type; runs inside ub_process() on the loop thread. A query we gave up on
  /// (timed out, but too late to cancel) is no longer in m_queries: its answer is dropped.
  static void on_result(void* data, int err, ub_result* result) noexcept {
    UbResult owned{result};
    auto* q = static_cast<Query*>(data);
    auto* self = q->owner;
    const auto it = self->m_queries.find(q);
    if (it == self->m_queries.end()) {
      self->m_abandoned.erase(q);  // frees it
      return;
    }
    try {
      self->finish(
          q, err != UB_NOERROR ? Result<DnsAnswer>{Unexpected{ub_lookup_error(err, q->what)}}
             : !owned          ? Result<DnsAnswer>{fail(Errc::Internal, Retry::Transient,
                                                        "libunbound returned no result for " + q->what)}
                               : self->to_answer(*owned, q->name, q->type, q->what));
    } catch (...) {  // std::bad_alloc: nothing may cross into C
    }
  }

  // A broken pipe is not reported here: the lookups it strands end by their timers.
  void process() { (void)ub_process(m_ctx.get()); }

  /// libunbound's worker thread reports answers through a pipe; ub_process() reads them and
  /// runs the callbacks, here on the loop thread. Watched from the first use on; "" or why not.
  std::string ensure_watch() {
    if (m_watch) return {};
    try {
      m_watch = m_loop.watch(ub_fd(m_ctx.get()), EPOLLIN, [this](std::uint32_t) { process(); });
    } catch (const std::system_error& e) {
      return e.what();
    }
    return {};
  }

  void timed_out(Query* q) {
    q->timer.reset();
    auto it = m_queries.find(q);
    if (it == m_queries.end()) return;
    std::unique_ptr<Query> owned = std::move(it->second);
    m_queries.erase(it);
    auto done = std::move(owned->done);
    auto e = fail(Errc::DnsTimeout, Retry::Transient,
                  "no validated answer for " + owned->what + " from " + m_upstream + " within " +
                      std::to_string(m_timeout.count()) + " ms");
    // After a successful cancel the callback never runs; otherwise it is already queued in the
    // pipe, and on_result() frees the query when it comes.
    if (ub_cancel(m_ctx.get(), owned->async_id) != UB_NOERROR) {
      m_abandoned.emplace(q, std::move(owned));
    }
    m_loop.defer([done = std::move(done), e = std::move(e)]() mutable {
      done(Result<DnsAnswer>{std::move(e)});
    });
  }

  void end_all(const std::string& why) {
    for (auto& [tld, w] : m_warming) {
      if (w->timer) m_loop.cancel(*std::exchange(w->timer, std::nullopt));
      for (auto& h : std::exchange(w->held, {})) {
        m_loop.defer([done = std::move(h.done),
                      e = fail(Errc::DnsNetwork, Retry::Transient, why)]() mutable {
          done(Result<DnsAnswer>{std::move(e)});
        });
      }
    }
    std::vector<Query*> open;
    open.reserve(m_queries.size());
    for (auto& [q, owned] : m_queries) open.push_back(q);
    for (Query* q : open) {
      // A cancelled query's callback never runs; one that cannot be cancelled any more is
      // already in the pipe and freed when it comes.
      const bool cancelled = ub_cancel(m_ctx.get(), q->async_id) == UB_NOERROR;
      auto it = m_queries.find(q);
      auto owned = std::move(it->second);
      m_queries.erase(it);
      if (owned->timer) m_loop.cancel(*owned->timer);
      m_loop.defer([done = std::move(owned->done),
                    e = fail(Errc::DnsNetwork, Retry::Transient, why)]() mutable {
        done(Result<DnsAnswer>{std::move(e)});
      });
      if (!cancelled) m_abandoned.emplace(q, std::move(owned));
    }
  }

  /// Ends a query: its callback runs after the current callback.
  void finish(Query* q, Result<DnsAnswer> result) {
    auto it = m_queries.find(q);
    if (it == m_queries.end()) return;
    std::unique_ptr<Query> owned = std::move(it->second);
    m_queries.erase(it);
    if (owned->timer) m_loop.cancel(*owned->timer);
    m_loop.defer([done = std::move(owned->done), result = std::move(result)]() mutable {
      done(std::move(result));
    });
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

  event::Loop& m_loop;
  UbContext m_ctx;
  std::chrono::milliseconds m_timeout;
  std::string m_upstream;  ///< for error details: "forwarders ..." / "root hints ..."
  event::Watch m_watch;
  std::unordered_map<Query*, std::unique_ptr<Query>> m_queries;    ///< in flight
  std::unordered_map<Query*, std::unique_ptr<Query>> m_abandoned;  ///< timed out, not cancelled
  std::unordered_set<std::string> m_warm;                          ///< TLDs whose keys are cached
  std::unordered_map<std::string, std::unique_ptr<Warmup>> m_warming;  ///< TLD DNSKEY lookups
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
    event::Loop& loop, const ValidatingResolverOptions& options) {
  if (auto ok = detail::check_timeout(options.timeout); !ok) return Unexpected{ok.error()};
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
      // Thousands of cold decisions at once, several queries each, that wait a round trip
      // to far-away servers: libunbound's defaults (1024 queries, the newest dropped beyond)
      // would fail a burst of a few hundred domains (tools/bench, docs/performance.md).
      {"num-queries-per-thread:", "8192"},
      {"outgoing-range:", "8192"},
      // The upstream is a local validating resolver that a burst keeps busy for a while: with
      // libunbound's default minimum retransmit timeout (50 ms) it re-sent queries to it,
      // judged it down and answered SERVFAIL for lookups through long CNAME chains, read as
      // "no MTA-STS policy" (tools/bench 150 ms mix; docs/performance.md). Wait at least 1 s.
      {"infra-cache-min-rtt:", "1000"},
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

  return std::unique_ptr<Resolver>{std::make_unique<ValidatingResolver>(
      loop, std::move(ctx), options.timeout, std::move(upstream))};
}

}  // namespace tlspolicy::dns
