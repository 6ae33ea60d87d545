// SPDX-License-Identifier: Apache-2.0
//
// NAME
//   daemon - `tlspolicy serve`: listeners, protocols and reload
// PROTOCOLS
//   socketmap: Postfix dict_sockmap netstrings, "NAME key" → "OK …",
//   "NOTFOUND ", "TEMP …", "PERM …" (docs/protocols/socketmap.md).
//   json: one JSON object per line each way; a last request without newline
//   at EOF is answered (Exim ${readsocket}) (docs/protocols/json.md).
//   tlsrpt: a Unix datagram socket receiving libtlsrpt datagrams (Postfix
//   3.10+ smtp_tlsrpt_socket_name); one receiver thread parses each and
//   counts it in the store; malformed datagrams are counted and dropped. The
//   JSON "report" op and the engine's own failures (for domains with a
//   TLSRPT record) are counted the same way; a ticker makes and sends the
//   daily reports (service::ReportService, docs/tlsrpt.md).
//   admin: the JSON protocol with the cache.* and stats ops. stats is
//   answered on the loop thread (memory only); the cache.* ops run on one
//   admin worker thread (TaskWorker), so neither SQLite nor the network
//   (cache.refresh fetches) ever blocks the loop; admin requests are rare and
//   run one at a time.
// LIMITS
//   socketmap request ≤ 10000 bytes, JSON line ≤ 64 KiB; malformed or
//   oversized framing gets one PERM reply / error object and the connection
//   is closed; the other limits are daemon::ServerOptions.
// SEE ALSO
//   docs/man/tlspolicy.8.md, SPEC §4
#include "daemon.hpp"

#include <array>
#include <atomic>
#include <condition_variable>
#include <csignal>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>

#include "tlspolicy/config/settings.hpp"
#include "tlspolicy/daemon/fd_limit.hpp"
#include "tlspolicy/daemon/listen.hpp"
#include "tlspolicy/daemon/server.hpp"
#include "tlspolicy/proto/cache_json.hpp"
#include "tlspolicy/proto/decision_json.hpp"
#include "tlspolicy/proto/json_protocol.hpp"
#include "tlspolicy/proto/netstring.hpp"
#include "tlspolicy/proto/socketmap.hpp"
#include "tlspolicy/service/decision_service.hpp"
#include "tlspolicy/sts/discovery.hpp"
#include "tlspolicy/tlsrpt/datagram.hpp"

#include "runtime.hpp"
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

namespace tlspolicy::cli {
namespace {

constexpr std::size_t k_max_json_line = 64 * 1024;
/// Error code of cache.show (and cache.refresh's answer when nothing is stored
/// and nothing could be fetched): no stored policy for that domain.
constexpr std::string_view k_code_not_found = "not-found";
/// Error code of cache.refresh when no new policy could be fetched; the stored
/// policy, if any, is kept.
constexpr std::string_view k_code_fetch_failed = "fetch-failed";

// --- framing -----------------------------------------------------------------

/// The payload of the complete netstring at the front of `in`, erased from `in`, when it is
/// well formed (length digits without a leading zero, within `max`, then ':' payload ',');
/// nullopt for anything else (incomplete, malformed, too long), which NetstringDecoder then
/// decides and explains. Saves the decoder's copies on every ordinary request.
std::optional<std::string> take_plain_netstring(std::string& in, std::size_t max) {
  std::size_t length = 0;
  std::size_t i = 0;
  for (; i < in.size() && i < 6 && in[i] >= '0' && in[i] <= '9'; ++i) {
    length = length * 10 + static_cast<std::size_t>(in[i] - '0');
  }
  if (i == 0 || i == in.size() || in[i] != ':' || (in[0] == '0' && i > 1) || length > max) {
    return std::nullopt;
  }
  const std::size_t comma = i + 1 + length;
  if (comma >= in.size() || in[comma] != ',') return std::nullopt;
  std::string payload = in.substr(i + 1, length);
  in.erase(0, comma + 1);
  return payload;
}

class SocketmapProtocol final : public daemon::Protocol {
 public:
  daemon::Frame decode(std::string& in, bool /*eof*/, std::size_t /*max_request_bytes*/) override {
    // SPEC §4: socketmap requests are at most 10000 bytes, whatever the
    // server's (JSON-sized) limit.
    if (auto request = take_plain_netstring(in, proto::k_max_socketmap_request_bytes)) {
      return daemon::Frame::of(std::move(*request));
    }
    proto::NetstringDecoder decoder{proto::k_max_socketmap_request_bytes};
    decoder.feed(in);
    auto next = decoder.next();
    if (!next) {
      const bool too_large = next.error().detail.find("exceeds") != std::string::npos ||
                             next.error().detail.find("too long") != std::string::npos;
      return daemon::Frame::bad(too_large ? daemon::Failure::TooLarge : daemon::Failure::Malformed);
    }
    if (!*next) return daemon::Frame::need_more();
    // "<len>:<payload>," with no leading zeros: the header is the length's digits.
    const std::size_t consumed = std::to_string((*next)->size()).size() + (*next)->size() + 2;
    in.erase(0, consumed);
    return daemon::Frame::of(std::move(**next));
  }
  void encode(std::string_view reply, std::string& out) override {
    // proto::encode_netstring(), appended in place: no temporary per reply.
    out += std::to_string(reply.size());
    out += ':';
    out += reply;
    out += ',';
  }
  std::string failure_reply(daemon::Failure why) override {
    switch (why) {
      case daemon::Failure::TooLarge:
        return proto::perm_reply("request too large");
      case daemon::Failure::Malformed:
        return proto::perm_reply("malformed netstring");
      case daemon::Failure::Timeout:
        return proto::temp_reply("timeout deciding the policy");
      case daemon::Failure::Internal:
        return proto::temp_reply("internal error");
    }
    return proto::temp_reply("internal error");
  }
};

class JsonLinesProtocol final : public daemon::Protocol {
 public:
  daemon::Frame decode(std::string& in, bool eof, std::size_t /*server_limit*/) override {
    const std::size_t max_request_bytes = k_max_json_line;
    const auto nl = in.find('\n');
    if (nl == std::string::npos) {
      if (in.size() > max_request_bytes) return daemon::Frame::bad(daemon::Failure::TooLarge);
      // Exim's ${readsocket} writes the request, shuts down writing and
      // reads to EOF: the last request may have no newline.
      if (eof && !in.empty()) {
        std::string line = std::move(in);
        in.clear();
        return daemon::Frame::of(std::move(line));
      }
      return daemon::Frame::need_more();
    }
    if (nl > max_request_bytes) return daemon::Frame::bad(daemon::Failure::TooLarge);
    std::string line = in.substr(0, nl);
    in.erase(0, nl + 1);
    return daemon::Frame::of(std::move(line));
  }
  void encode(std::string_view reply, std::string& out) override {
    out += reply;
    out += '\n';
  }
  std::string failure_reply(daemon::Failure why) override {
    switch (why) {
      case daemon::Failure::TooLarge:
        return proto::render_error(proto::k_code_bad_json, "request line too long", nullptr);
      case daemon::Failure::Malformed:
        return proto::render_error(proto::k_code_bad_json, "malformed request", nullptr);
      case daemon::Failure::Timeout:
        return proto::render_error("timeout", "no decision within the request time limit", nullptr);
      case daemon::Failure::Internal:
        return proto::render_error(proto::k_code_internal, "internal error", nullptr);
    }
    return proto::render_error(proto::k_code_internal, "internal error", nullptr);
  }
};

// --- state that SIGHUP replaces ------------------------------------------------

struct State {
  std::unique_ptr<Runtime> runtime;
  std::unique_ptr<service::DecisionService> service;
};

/// TLS-RPT ingestion counters (the "tlsrpt" object of stats); they outlive reloads.
struct TlsRptCounters {
  std::atomic<std::uint64_t> datagrams{0};     ///< datagrams received
  std::atomic<std::uint64_t> malformed{0};     ///< datagrams dropped: unparsable or too large
  std::atomic<std::uint64_t> report_ops{0};    ///< JSON report ops counted
  std::atomic<std::uint64_t> engine{0};        ///< engine evaluations with failures counted
  std::atomic<std::uint64_t> store_errors{0};  ///< results the store could not take
};

// Handlers load the current state; a callback keeps the state it started
// with alive until it has answered.
class StateHolder {
 public:
  void set(std::shared_ptr<State> s) { std::atomic_store(&m_state, std::move(s)); }
  [[nodiscard]] std::shared_ptr<State> get() const { return std::atomic_load(&m_state); }

  mutable TlsRptCounters counters;  ///< counted by handlers that only read the state

 private:
  std::shared_ptr<State> m_state;
};

/// Counts one batch; failures to store are logged (rate-limited) and counted.
bool record_results(Runtime& rt, TlsRptCounters& counters, const tlsrpt::ResultBatch& batch) {
  if (auto ok = rt.reports->record(batch); !ok) {
    ++counters.store_errors;
    rt.log.warn("TLS-RPT results not stored",
                {{"domain", batch.domain},
                 {"origin", std::string(tlsrpt::to_string(batch.origin))},
                 {"error", ok.error().detail}});
    return false;
  }
  return true;
}

Result<std::shared_ptr<State>> build_state(const config::Settings& settings, util::Logger log,
                                           TlsRptCounters& counters) {
  auto rt = build_runtime(settings, log);
  if (!rt) return Unexpected{rt.error()};
  auto state = std::make_shared<State>();
  state->runtime = std::move(*rt);
  service::ServiceOptions options;
  if (settings.tlsrpt.enabled) {
    // RFC 8460 §4.3: the engine's own failures, for domains that ask for
    // reports. The runtime outlives the service (State member order).
    options.on_evaluated = [rt = state->runtime.get(), &counters](const policy::Decision& d) {
      if (!d.tlsrpt || d.tlsrpt_results.empty()) return;
      const tlsrpt::ResultBatch batch{d.domain, "", rt->clock.now(), tlsrpt::Origin::Engine,
                                      d.tlsrpt_results};
      if (record_results(*rt, counters, batch)) ++counters.engine;
    };
  }
  state->service = std::make_unique<service::DecisionService>(
      *state->runtime->engine, state->runtime->clock, log.with_name("service"), std::move(options));
  return state;
}

// --- handlers ------------------------------------------------------------------

void handle_socketmap(const StateHolder& holder, const std::string& request,
                      const daemon::Responder& respond) {
  auto parsed = proto::parse_socketmap_request(request);
  if (!parsed) {
    respond(proto::perm_reply(parsed.error().detail));
    return;
  }
  // SPEC §4: ".parent" probes, "[host]:port" and other non-domains → fast NOTFOUND.
  // proto::classify_key() answers "Domain" exactly for the keys DomainName::parse()
  // accepts, so one parse decides (it is on the path of every query).
  auto domain = dns::DomainName::parse(parsed->key);
  if (!domain) {
    respond(std::string(proto::k_notfound_reply));
    return;
  }
  const auto kind = proto::map_kind(parsed->map_name);
  const auto reply = [kind](const policy::Decision& d) {
    const std::string_view text = d.mta_sts ? std::string_view{d.mta_sts->policy_text} : "";
    return proto::socketmap_response(d, kind, text);
  };
  auto state = holder.get();
  const policy::DecideRequest decide_request{std::move(*domain), false};
  // A decision in memory (the common case) is answered here, without a callback.
  if (const auto hit = state->service->decide_from_memory(decide_request)) {
    respond(reply(*hit));
    return;
  }
  state->service->decide(decide_request, [respond, reply, state](const service::DecisionPtr& d) {
    respond(reply(*d));
  });
}

std::string stats_json(const State& state, const daemon::ServerStats& server,
                       const TlsRptCounters& t) {
  const auto s = state.service->stats();
  return "{\"decisions\":{\"hits\":" + std::to_string(s.hits) +
         ",\"misses\":" + std::to_string(s.misses) + ",\"joined\":" + std::to_string(s.joined) +
         ",\"overloaded\":" + std::to_string(s.overloaded) +
         ",\"cached\":" + std::to_string(s.cached) +
         ",\"in_flight\":" + std::to_string(s.in_flight) +
         "},\"connections\":{\"accepted\":" + std::to_string(server.accepted.load()) +
         ",\"active\":" + std::to_string(server.active.load()) +
         ",\"rejected_max_connections\":" + std::to_string(server.rejected_max_connections.load()) +
         "},\"requests\":" + std::to_string(server.requests.load()) +
         ",\"too_large\":" + std::to_string(server.too_large.load()) +
         ",\"malformed\":" + std::to_string(server.malformed.load()) +
         ",\"request_timeouts\":" + std::to_string(server.request_timeouts.load()) +
         ",\"idle_timeouts\":" + std::to_string(server.idle_timeouts.load()) +
         ",\"tlsrpt\":{\"datagrams\":" + std::to_string(t.datagrams.load()) +
         ",\"malformed\":" + std::to_string(t.malformed.load()) +
         ",\"report_ops\":" + std::to_string(t.report_ops.load()) +
         ",\"engine\":" + std::to_string(t.engine.load()) +
         ",\"store_errors\":" + std::to_string(t.store_errors.load()) + "}}";
}

// --- admin ops ---------------------------------------------------------------------

// One thread that runs tasks in arrival order: the cache.* ops (the store is
// local SQLite, milliseconds, but cache.refresh waits for DNS and HTTPS) and
// the TLS-RPT report ops (store writes). The loop thread must never block.
// The destructor runs what is queued and joins.
class TaskWorker {
 public:
  TaskWorker() : m_thread([this] { run(); }) {}
  ~TaskWorker() {
    {
      const std::lock_guard lock{m_mu};
      m_stop = true;
    }
    m_cv.notify_one();
    m_thread.join();
  }
  TaskWorker(const TaskWorker&) = delete;
  TaskWorker& operator=(const TaskWorker&) = delete;

  void post(std::function<void()> task) {
    {
      const std::lock_guard lock{m_mu};
      m_tasks.push_back(std::move(task));
    }
    m_cv.notify_one();
  }

 private:
  void run() {
    for (;;) {
      std::function<void()> task;
      {
        std::unique_lock lock{m_mu};
        m_cv.wait(lock, [this] { return m_stop || !m_tasks.empty(); });
        if (m_tasks.empty()) return;
        task = std::move(m_tasks.front());
        m_tasks.pop_front();
      }
      task();
    }
  }

  std::mutex m_mu;
  std::condition_variable m_cv;
  std::deque<std::function<void()>> m_tasks;
  bool m_stop = false;
  std::thread m_thread;  // last: starts after the members it uses exist
};

const std::string* id_ptr(const std::optional<std::string>& id) { return id ? &*id : nullptr; }

// cache.refresh and the proactive refresh: fetch the domain's policy anew,
// whatever the TXT record says (RFC 8461 §3.3, §10.2; StsDiscovery::refresh).
// Only a policy actually fetched replaces the stored one (put is one
// transaction); a failed fetch keeps the stored policy, which goes on
// applying until it expires (RFC 8461 §3.3, §5.1).
Result<cache::CachedPolicy> refetch_policy(Runtime& rt, const dns::DomainName& domain,
                                           const std::optional<cache::CachedPolicy>& stored) {
  return rt.sts->refresh(domain, stored);
}

void admin_refresh(const std::shared_ptr<State>& state, const dns::DomainName& domain,
                   const std::optional<std::string>& id, const daemon::Responder& respond) {
  auto& rt = *state->runtime;
  // A store that cannot be read leaves the TXT record's id to label the policy.
  auto stored = rt.cache->get(domain);
  auto refreshed = refetch_policy(rt, domain, stored ? *stored : std::nullopt);
  if (!refreshed) {
    if (refreshed.error().code == Errc::CacheIo || refreshed.error().code == Errc::CacheSchema) {
      respond(proto::render_error(proto::k_code_internal, refreshed.error().detail, id_ptr(id)));
      return;
    }
    respond(proto::render_error(
        k_code_fetch_failed,
        "no new policy for " + domain.str() + ": " + refreshed.error().detail +
            "; the stored policy, if any, is kept until it expires (RFC 8461 §3.3)",
        id_ptr(id)));
    return;
  }
  rt.log.info("policy refreshed by admin request",
              {{"domain", domain.str()}, {"id", refreshed->id}});
  state->service->forget(domain.str());
  // The callback keeps no State: it may run on a service worker.
  state->service->decide(
      policy::DecideRequest{domain, false}, [respond, id](const service::DecisionPtr& d) {
        respond(proto::render_ok("mta_sts", proto::mta_sts_to_json(*d), id ? &*id : nullptr));
      });
}

// The cache.* ops, on the admin worker thread.
void admin_cache_op(const std::shared_ptr<State>& state, const proto::JsonRequest& req,
                    const daemon::Responder& respond) {
  auto& store = *state->runtime->cache;
  const std::string* idp = id_ptr(req.id);
  const auto store_error = [&](const Error& e) {
    respond(proto::render_error(proto::k_code_internal, "policy store: " + e.detail, idp));
  };
  // cache.list and cache.export: every stored policy, or the one of "domain".
  const auto select = [&]() -> Result<std::vector<cache::CachedPolicy>> {
    if (!req.domain) return store.list();
    auto one = store.get(*req.domain);
    if (!one) return Unexpected{one.error()};
    std::vector<cache::CachedPolicy> out;
    if (*one) out.push_back(std::move(**one));
    return out;
  };
  switch (req.op) {
    case proto::JsonOp::CacheList:
    case proto::JsonOp::CacheExport: {
      auto policies = select();
      if (!policies) return store_error(policies.error());
      const bool with_text = req.op == proto::JsonOp::CacheExport;
      respond(proto::render_ok("entries", proto::cached_policies_json(*policies, with_text), idp));
      return;
    }
    case proto::JsonOp::CacheShow: {
      auto one = store.get(*req.domain);
      if (!one) return store_error(one.error());
      if (!*one) {
        respond(proto::render_error(k_code_not_found,
                                    "no stored MTA-STS policy for " + req.domain->str(), idp));
        return;
      }
      respond(proto::render_ok("entry", proto::cached_policy_json(**one, true), idp));
      return;
    }
    case proto::JsonOp::CachePurge: {
      std::size_t removed = 0;
      if (req.domain) {
        auto r = store.remove(*req.domain);
        state->service->forget(req.domain->str());
        if (!r) return store_error(r.error());
        removed = *r ? 1 : 0;
      } else {
        auto all = store.list();
        if (!all) return store_error(all.error());
        for (const auto& p : *all) {
          auto name = dns::DomainName::parse(p.domain);
          if (!name) continue;
          auto r = store.remove(*name);
          if (!r) return store_error(r.error());
          if (*r) ++removed;
        }
        state->service->forget("");
      }
      respond(proto::render_ok("removed", std::to_string(removed), idp));
      return;
    }
    case proto::JsonOp::CacheRefresh:
      admin_refresh(state, *req.domain, req.id, respond);
      return;
    default:
      respond(proto::render_error(proto::k_code_internal, "not a cache op", idp));
      return;
  }
}

// The JSON "report" op (RFC 8460 results from Exim and other programs),
// counted on the report worker. A result without "policy" is filed under the
// policy of the daemon's own decision for the domain, when it has one.
void handle_report(const StateHolder& holder, const std::shared_ptr<State>& state,
                   tlsrpt::JsonReport report, const std::optional<std::string>& id,
                   const daemon::Responder& respond) {
  auto& rt = *state->runtime;
  report.batch.at = rt.clock.now();
  if (!report.policy_given) {
    const auto domain = dns::DomainName::parse(report.batch.domain);
    const auto decision =
        domain ? state->service->cached(policy::DecideRequest{*domain, false}) : nullptr;
    if (decision) {
      auto& result = report.batch.policies.front();
      const std::string mx =
          result.details.empty() ? std::string{} : result.details.front().receiving_mx_hostname;
      result.policy = service::policy_key_for(*decision, mx);
    }
  }
  if (!record_results(rt, holder.counters, report.batch)) {
    respond(proto::render_error(proto::k_code_internal, "the result could not be stored",
                                id ? &*id : nullptr));
    return;
  }
  ++holder.counters.report_ops;
  respond(proto::render_ok(id ? &*id : nullptr));
}

void handle_json(const StateHolder& holder, const daemon::Server& server, TaskWorker* admin,
                 TaskWorker& report_worker, const std::string& line,
                 const daemon::Responder& respond) {
  auto parsed = proto::parse_json_request(line);
  if (!parsed) {
    const auto parts = proto::json_error_parts(parsed.error());
    const auto id = proto::json_request_id(line);
    respond(proto::render_error(parts.code, parts.message, id ? &*id : nullptr));
    return;
  }
  const auto id = parsed->id;
  const std::string* idp = id ? &*id : nullptr;
  if (proto::is_admin_op(parsed->op) && admin == nullptr) {
    respond(proto::render_error(
        proto::k_code_admin_only,
        std::string(proto::to_string(parsed->op)) + " is served on the admin socket only", idp));
    return;
  }
  auto state = holder.get();
  switch (parsed->op) {
    case proto::JsonOp::Decide: {
      const bool explain = parsed->explain;
      state->service->decide(*parsed->decide,
                             [respond, explain, id, state](const service::DecisionPtr& d) {
                               respond(proto::render_decision(*d, explain, id ? &*id : nullptr,
                                                              state->runtime->clock.now()));
                             });
      return;
    }
    case proto::JsonOp::Stats:
      respond(proto::render_ok("stats", stats_json(*state, server.stats(), holder.counters), idp));
      return;
    case proto::JsonOp::Report:
      if (!state->runtime->settings.tlsrpt.enabled) {
        respond(proto::render_error(proto::k_code_bad_request,
                                    "TLS-RPT collection is off (setting tlsrpt.enabled)", idp));
        return;
      }
      report_worker.post([&holder, state, report = std::move(*parsed->report), id, respond] {
        try {
          handle_report(holder, state, report, id, respond);
        } catch (const std::exception&) {
          respond(
              proto::render_error(proto::k_code_internal, "internal error", id ? &*id : nullptr));
        }
      });
      return;
    case proto::JsonOp::CacheList:
    case proto::JsonOp::CacheShow:
    case proto::JsonOp::CachePurge:
    case proto::JsonOp::CacheRefresh:
    case proto::JsonOp::CacheExport:
      admin->post([state, req = std::move(*parsed), respond] {
        try {
          admin_cache_op(state, req, respond);
        } catch (const std::exception&) {
          respond(proto::render_error(proto::k_code_internal, "internal error",
                                      req.id ? &*req.id : nullptr));
        }
      });
      return;
  }
}

// Runs `pass` after `first`, then every `period`, on its own thread until
// destroyed; `pass` gets a function that says whether to stop, for long passes.
class Periodic {
 public:
  using Pass = std::function<void(const std::function<bool()>& stopping)>;
  Periodic(std::chrono::seconds first, std::chrono::seconds period, Pass pass)
      : m_first(first), m_period(period), m_pass(std::move(pass)), m_thread([this] { run(); }) {}
  ~Periodic() {
    {
      const std::lock_guard lock{m_mu};
      m_stop = true;
    }
    m_cv.notify_one();
    m_thread.join();
  }
  Periodic(const Periodic&) = delete;
  Periodic& operator=(const Periodic&) = delete;

 private:
  void run() {
    const std::function<bool()> stopping = [this] {
      const std::lock_guard lock{m_mu};
      return m_stop;
    };
    for (auto wait = m_first;; wait = m_period) {
      {
        std::unique_lock lock{m_mu};
        if (m_cv.wait_for(lock, wait, [this] { return m_stop; })) return;
      }
      m_pass(stopping);
    }
  }

  std::chrono::seconds m_first;
  std::chrono::seconds m_period;
  Pass m_pass;
  std::mutex m_mu;
  std::condition_variable m_cv;
  bool m_stop = false;
  std::thread m_thread;  // last: starts after the members it uses exist
};

// STS-34/STS-35 (RFC 8461 §3.3, §10.2): refreshes stored policies before
// they expire, about daily, whatever the TXT id says; a failed refresh keeps
// the stored policy and is logged as a warning unless its mode is none.
void refresh_pass(const StateHolder& holder, const std::function<bool()>& stopping) {
  const auto state = holder.get();
  auto& rt = *state->runtime;
  const auto now = rt.clock.now();
  (void)rt.cache->purge_expired(now);
  auto stored = rt.cache->list();
  if (!stored) {
    rt.log.warn("policy refresh: cannot read the store", {{"error", stored.error().detail}});
    return;
  }
  for (const auto& p : *stored) {
    if (stopping()) return;
    if (!sts::refresh_due(p, now)) continue;
    const auto domain = dns::DomainName::parse(p.domain);
    if (!domain) continue;
    if (auto fresh = refetch_policy(rt, *domain, p); fresh) {
      state->service->forget(p.domain);
      rt.log.info("policy refreshed", {{"domain", p.domain}, {"id", fresh->id}});
    } else {
      const auto level =
          p.policy.mode == sts::StsMode::None ? util::Level::Info : util::Level::Warning;
      rt.log.log(level, "policy refresh failed; the stored policy stays until it expires",
                 {{"domain", p.domain},
                  {"expires", util::format_rfc3339(p.expires_at)},
                  {"error", fresh.error().detail}});
    }
  }
}

// Receives libtlsrpt datagrams on its own thread and counts each in the
// store (RFC 8460 results from Postfix 3.10+). A malformed or oversized
// datagram is counted, logged (rate-limited) and dropped, never fatal.
class DatagramReceiver {
 public:
  DatagramReceiver(util::Fd socket, const StateHolder& holder)
      : m_socket(std::move(socket)),
        m_wake(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)),
        m_holder(holder),
        m_thread([this] { run(); }) {}
  ~DatagramReceiver() {
    const std::uint64_t one = 1;
    (void)!::write(m_wake.get(), &one, sizeof one);
    m_thread.join();
  }
  DatagramReceiver(const DatagramReceiver&) = delete;
  DatagramReceiver& operator=(const DatagramReceiver&) = delete;

 private:
  void run() {
    std::vector<char> buf(tlsrpt::k_max_datagram + 1);
    std::array<pollfd, 2> fds{pollfd{m_socket.get(), POLLIN, 0}, pollfd{m_wake.get(), POLLIN, 0}};
    for (;;) {
      if (::poll(fds.data(), fds.size(), -1) < 0 && errno != EINTR) return;
      if (fds[1].revents != 0) return;
      for (;;) {  // drain: the socket is non-blocking
        const auto n = ::recv(m_socket.get(), buf.data(), buf.size(), MSG_TRUNC);
        if (n < 0) break;  // EAGAIN: drained (other errors: poll again)
        receive(std::string_view{buf.data(), std::min(static_cast<std::size_t>(n), buf.size())},
                static_cast<std::size_t>(n));
      }
    }
  }

  void receive(std::string_view bytes, std::size_t size) {
    auto& counters = m_holder.counters;
    ++counters.datagrams;
    const auto state = m_holder.get();
    auto& rt = *state->runtime;
    if (!rt.settings.tlsrpt.enabled) return;
    auto batch = size > tlsrpt::k_max_datagram
                     ? Result<tlsrpt::ResultBatch>{fail(
                           Errc::InvalidArgument, Retry::Permanent,
                           "datagram of " + std::to_string(size) + " bytes is too large")}
                     : tlsrpt::parse_datagram(bytes, rt.clock.now());
    if (!batch) {
      ++counters.malformed;
      rt.log.warn("TLS-RPT datagram dropped", {{"error", batch.error().detail}});
      return;
    }
    record_results(rt, counters, *batch);
  }

  util::Fd m_socket;
  util::Fd m_wake;
  const StateHolder& m_holder;
  std::thread m_thread;  // last: starts after the members it uses exist
};

Result<util::Fd> open_listener(std::multimap<std::string, util::Fd>& activated,
                               const std::string& name, const std::string& endpoint,
                               const daemon::ListenOptions& options) {
  if (auto it = activated.find(name); it != activated.end()) {
    util::Fd fd = std::move(it->second);
    activated.erase(it);
    return fd;
  }
  return daemon::listen_endpoint(endpoint, options);
}

}  // namespace

int run_daemon(const std::optional<std::filesystem::path>& config_file,
               const std::vector<std::string>& overrides, std::ostream& err) {
  auto cfg = config::load_config(config_file, overrides);
  if (!cfg) {
    err << "tlspolicy: configuration: " << cfg.error().detail << '\n';
    return 78;
  }
  const util::Logger log{parse_log_level(cfg->settings.log_level)};
  StateHolder holder;
  auto first = build_state(cfg->settings, log, holder.counters);
  if (!first) {
    err << "tlspolicy: cannot start: " << first.error().detail << '\n';
    return 78;
  }
  holder.set(std::move(*first));

  // Block the signals before any thread starts, so only sigwait() sees them.
  sigset_t signals;
  sigemptyset(&signals);
  for (const int s : {SIGTERM, SIGINT, SIGHUP}) sigaddset(&signals, s);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);

  // Declared before the server: destroyed after it, so no handler outlives it.
  TaskWorker admin_worker;
  TaskWorker report_worker;
  daemon::ServerOptions options;
  options.max_request_bytes = k_max_json_line;  // each protocol applies its own, smaller limit
  // The connections and the daemon's own descriptors must fit in RLIMIT_NOFILE (systemd's
  // default soft limit, 1024, does not): raise it, or accept fewer connections.
  if (const auto fds = daemon::ensure_fd_limit(options.max_connections);
      fds.max_connections < options.max_connections) {
    log.warn("descriptor limit too low for the connection limit; accepting fewer connections",
             {{"nofile", std::to_string(fds.soft)},
              {"max_connections", std::to_string(fds.max_connections)}});
    options.max_connections = fds.max_connections;
  }
  daemon::Server server{options, log.with_name("server")};
  auto activated = daemon::adopt_systemd_fds();
  if (!activated) {
    err << "tlspolicy: socket activation: " << activated.error().detail << '\n';
    return 78;
  }
  const auto& s = cfg->settings.server;
  // Socket activation brings its own permissions (the .socket units); for
  // sockets we create, server.socket_* apply, and admin is owner-only.
  const daemon::ListenOptions shared{s.socket_mode, s.socket_owner, s.socket_group, 1024};
  const daemon::ListenOptions owner_only{0600, s.socket_owner, s.socket_group, 1024};
  auto socketmap = open_listener(*activated, "socketmap", s.socketmap, shared);
  auto json = open_listener(*activated, "json", s.json, shared);
  auto admin = open_listener(*activated, "admin", s.admin, owner_only);
  const auto& t = cfg->settings.tlsrpt;
  auto tlsrpt_socket = [&]() -> Result<util::Fd> {
    if (auto it = activated->find("tlsrpt"); it != activated->end()) {
      util::Fd fd = std::move(it->second);
      activated->erase(it);
      return fd;
    }
    if (!t.enabled) return util::Fd{};
    return daemon::bind_datagram_endpoint(t.socket, shared);
  }();
  for (const auto* r : {&socketmap, &json, &admin, &tlsrpt_socket}) {
    if (!*r) {
      err << "tlspolicy: cannot listen: " << r->error().detail << '\n';
      return 78;
    }
  }
  server.add_listener("socketmap", std::move(*socketmap), std::make_unique<SocketmapProtocol>(),
                      [&holder](std::string request, daemon::Responder respond) {
                        handle_socketmap(holder, request, respond);
                      });
  server.add_listener("json", std::move(*json), std::make_unique<JsonLinesProtocol>(),
                      [&](std::string line, daemon::Responder respond) {
                        handle_json(holder, server, nullptr, report_worker, line, respond);
                      });
  server.add_listener("admin", std::move(*admin), std::make_unique<JsonLinesProtocol>(),
                      [&](std::string line, daemon::Responder respond) {
                        handle_json(holder, server, &admin_worker, report_worker, line, respond);
                      });
  server.start();
  std::optional<DatagramReceiver> receiver;
  if (*tlsrpt_socket) receiver.emplace(std::move(*tlsrpt_socket), holder);
  const Periodic refresher{std::chrono::minutes(10), std::chrono::minutes(10),
                           [&holder](const auto& stopping) { refresh_pass(holder, stopping); }};
  // RFC 8460 §4.1, §5: make each day's reports and send those due; soon
  // after start too, to catch up on days that ended while it was down.
  const Periodic reporter{std::chrono::seconds(5), std::chrono::minutes(1), [&holder](const auto&) {
                            const auto state = holder.get();
                            if (state->runtime->settings.tlsrpt.enabled) {
                              state->runtime->reports->tick();
                            }
                          }};
  log.info("serving", {{"socketmap", s.socketmap},
                       {"json", s.json},
                       {"admin", s.admin},
                       {"tlsrpt", receiver ? t.socket : std::string{"off"}},
                       {"resolver", cfg->settings.resolver.mode}});

  for (;;) {
    int sig = 0;
    if (sigwait(&signals, &sig) != 0) continue;
    if (sig == SIGHUP) {
      // Build the new configuration completely; only then swap it in.
      auto again = config::load_config(config_file, overrides);
      if (!again) {
        log.error("reload failed, keeping the running configuration",
                  {{"error", again.error().detail}});
        continue;
      }
      auto next = build_state(again->settings, log, holder.counters);
      if (!next) {
        log.error("reload failed, keeping the running configuration",
                  {{"error", next.error().detail}});
        continue;
      }
      holder.set(std::move(*next));
      log.info("configuration reloaded (listeners keep their sockets)");
      continue;
    }
    log.info("stopping", {{"signal", std::to_string(sig)}});
    server.stop(std::chrono::seconds(5));
    return 0;
  }
}

}  // namespace tlspolicy::cli
