// SPDX-License-Identifier: Apache-2.0
//
// What each listener does with a request (handlers.hpp).
#include "handlers.hpp"

#include <exception>
#include <optional>
#include <utility>
#include <vector>

#include "tlspolicy/event/offload.hpp"
#include "tlspolicy/event/task.hpp"
#include "tlspolicy/proto/cache_json.hpp"
#include "tlspolicy/proto/decision_json.hpp"
#include "tlspolicy/proto/json_protocol.hpp"
#include "tlspolicy/proto/socketmap.hpp"
#include "tlspolicy/proto/stats_json.hpp"
#include "tlspolicy/proto/status_json.hpp"

#include "metrics.hpp"
#include "status.hpp"

namespace tlspolicy::daemon {
namespace {

/// Error code of cache.show (and cache.refresh's answer when nothing is stored and nothing
/// could be fetched): no stored policy for that domain.
constexpr std::string_view k_code_not_found = "not-found";
/// Error code of cache.refresh when no new policy could be fetched; the stored policy, if
/// any, is kept.
constexpr std::string_view k_code_fetch_failed = "fetch-failed";

const std::string* id_ptr(const std::optional<std::string>& id) { return id ? &*id : nullptr; }

cache::StoreStatus store_status(const Runtime& rt) {
  auto s = rt.cache->status();
  if (s.node.empty()) s.node = rt.settings.fleet.node;  // a SQLite store knows no node
  return s;
}

// cache.refresh: fetch the domain's policy anew, whatever the TXT record says (RFC 8461
// §3.3, §10.2; StsDiscovery::refresh). Only a policy actually fetched replaces the stored
// one (put is one transaction); a failed fetch keeps the stored policy, which goes on
// applying until it expires (RFC 8461 §3.3, §5.1). Then the domain is decided anew and the
// decision's MTA-STS part is the answer. Engine loop; holds the generation until it ends.
event::Task<void> admin_refresh(Context& ctx, std::shared_ptr<State> state, dns::DomainName domain,
                                std::optional<std::string> id, server::Responder respond) {
  auto& rt = *state->runtime;
  try {
    // A store that cannot be read leaves the TXT record's id to label the policy.
    auto stored = co_await event::offload(ctx.pool, [&] { return rt.cache->get(domain); });
    std::optional<cache::CachedPolicy> prior;
    if (stored && *stored) prior = std::move(**stored);
    auto refreshed = co_await rt.sts->refresh(domain, std::move(prior));
    if (!refreshed) {
      const auto& e = refreshed.error();
      if (e.code == Errc::CacheIo || e.code == Errc::CacheSchema) {
        respond(proto::render_error(proto::k_code_internal, e.detail, id_ptr(id)));
      } else {
        respond(proto::render_error(
            k_code_fetch_failed,
            "no new policy for " + domain.str() + ": " + e.detail +
                "; the stored policy, if any, is kept until it expires (RFC 8461 §3.3)",
            id_ptr(id)));
      }
      co_return;
    }
    rt.log.info("policy refreshed by admin request",
                {{"domain", domain.str()}, {"id", refreshed->id}});
    state->service->forget(domain.str());
    // A named request: GCC 12 destroys a braced temporary in a co_await expression twice.
    policy::DecideRequest request{domain, false};
    const auto d = co_await state->service->decide_here(std::move(request));
    respond(proto::render_ok("mta_sts", proto::mta_sts_to_json(*d), id_ptr(id)));
  } catch (const std::exception&) {
    respond(proto::render_error(proto::k_code_internal, "internal error", id_ptr(id)));
  }
}

// cache.list, cache.show, cache.export and cache.purge: the store pool.
void admin_store_op(const State& state, const proto::JsonRequest& req,
                    const server::Responder& respond) {
  auto& store = *state.runtime->cache;
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
        state.service->forget(req.domain->str());
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
        state.service->forget("");
      }
      respond(proto::render_ok("removed", std::to_string(removed), idp));
      return;
    }
    default:
      respond(proto::render_error(proto::k_code_internal, "not a store op", idp));
      return;
  }
}

// The JSON "report" op (RFC 8460 results from Exim and other programs), on the store pool.
// A result without "policy" is filed under the policy of the daemon's own decision for the
// domain, when it has one.
void report_op(Context& ctx, const State& state, tlsrpt::JsonReport report,
               const std::optional<std::string>& id, const server::Responder& respond) {
  auto& rt = *state.runtime;
  report.batch.at = rt.clock.now();
  if (!report.policy_given) {
    const auto domain = dns::DomainName::parse(report.batch.domain);
    const auto decision =
        domain ? state.service->cached(policy::DecideRequest{*domain, false}) : nullptr;
    if (decision) {
      auto& result = report.batch.policies.front();
      const std::string mx =
          result.details.empty() ? std::string{} : result.details.front().receiving_mx_hostname;
      result.policy = service::policy_key_for(*decision, mx);
    }
  }
  if (!record_results(rt, ctx.counters, report.batch)) {
    respond(
        proto::render_error(proto::k_code_internal, "the result could not be stored", id_ptr(id)));
    return;
  }
  ++ctx.counters.report_ops;
  respond(proto::render_ok(id_ptr(id)));
}

/// Runs `job` on the store pool; an exception answers "internal error".
template <class Job>
void on_pool(Context& ctx, std::optional<std::string> id, server::Responder respond, Job job) {
  ctx.pool.submit([id = std::move(id), respond = std::move(respond), job = std::move(job)] {
    try {
      job(respond);
    } catch (const std::exception&) {
      respond(proto::render_error(proto::k_code_internal, "internal error", id_ptr(id)));
    }
  });
}

}  // namespace

void Handlers::socketmap(std::string_view request, const server::Responder& respond) {
  auto parsed = proto::parse_socketmap_request(request);
  if (!parsed) {
    respond(proto::perm_reply(parsed.error().detail));
    return;
  }
  const auto kind = proto::map_kind(parsed->map_name);
  const auto state = m_ctx.state();
  // The common case, a decision in memory for a name already in canonical form, is answered
  // here without a callback and without allocating (docs/performance.md). The key is
  // untrusted and not parsed yet: decide_from_memory() finds a decision for exactly that
  // text only, and any other key goes on below.
  if (const auto hit = state->service->decide_from_memory(parsed->key)) {
    if (const auto reply = proto::socketmap_response_view(*hit, kind)) {
      respond.send_view(*reply);
      return;
    }
  }
  // SPEC §4: ".parent" probes, "[host]:port" and other non-domains → fast NOTFOUND.
  // proto::classify_key() answers "Domain" exactly for the keys DomainName::parse()
  // accepts, so one parse decides.
  auto domain = dns::DomainName::parse(parsed->key);
  if (!domain) {
    respond.send_view(proto::k_notfound_reply);
    return;
  }
  const auto reply = [kind](const policy::Decision& d) {
    const std::string_view text = d.mta_sts ? std::string_view{d.mta_sts->policy_text} : "";
    return proto::socketmap_response(d, kind, text);
  };
  const policy::DecideRequest decide_request{std::move(*domain), false};
  if (const auto hit = state->service->decide_from_memory(decide_request)) {
    respond(reply(*hit));
    return;
  }
  state->service->decide(decide_request,
                         [respond, reply](const service::DecisionPtr& d) { respond(reply(*d)); });
}

void Handlers::json(std::string_view line, const server::Responder& respond, bool admin) {
  auto parsed = proto::parse_json_request(line);
  if (!parsed) {
    const auto parts = proto::json_error_parts(parsed.error());
    const auto id = proto::json_request_id(line);
    respond(proto::render_error(parts.code, parts.message, id_ptr(id)));
    return;
  }
  auto id = parsed->id;
  const std::string* idp = id_ptr(id);
  if (proto::is_admin_op(parsed->op) && !admin) {
    respond(proto::render_error(
        proto::k_code_admin_only,
        std::string(proto::to_string(parsed->op)) + " is served on the admin socket only", idp));
    return;
  }
  auto state = m_ctx.state();
  switch (parsed->op) {
    case proto::JsonOp::Decide: {
      const bool explain = parsed->explain;
      const util::Clock& clock = state->runtime->clock;
      // The generation outlives the callback: it retires once its lookups ended.
      state->service->decide(
          *parsed->decide, [respond, explain, id, &clock](const service::DecisionPtr& d) {
            respond(proto::render_decision(*d, explain, id_ptr(id), clock.now()));
          });
      return;
    }
    case proto::JsonOp::Stats:
      respond(proto::render_ok("stats",
                               proto::stats_json(metrics_snapshot(m_ctx, m_server.stats(), nullptr),
                                                 store_status(*state->runtime)),
                               idp));
      return;
    case proto::JsonOp::Status:  // reads the stores: the pool
      on_pool(m_ctx, id, respond, [state, id](const server::Responder& r) {
        auto summary = gather_status(*state, store_status(*state->runtime));
        if (!summary) {
          r(proto::render_error(proto::k_code_internal, "store: " + summary.error().detail,
                                id_ptr(id)));
          return;
        }
        r(proto::render_ok("summary", proto::status_summary_json(*summary), id_ptr(id)));
      });
      return;
    case proto::JsonOp::Report:
      if (!state->runtime->settings.tlsrpt.enabled) {
        respond(proto::render_error(proto::k_code_bad_request,
                                    "TLS-RPT collection is off (setting tlsrpt.enabled)", idp));
        return;
      }
      on_pool(m_ctx, id, respond,
              [&ctx = m_ctx, state, id, report = std::move(*parsed->report)](
                  const server::Responder& r) { report_op(ctx, *state, report, id, r); });
      return;
    case proto::JsonOp::CacheRefresh:
      m_ctx.loop.post([&ctx = m_ctx, state = std::move(state), domain = *parsed->domain,
                       id = std::move(id), respond = server::Responder{respond}]() mutable {
        event::spawn(admin_refresh(ctx, std::move(state), std::move(domain), std::move(id),
                                   std::move(respond)),
                     [] {});
      });
      return;
    case proto::JsonOp::CacheList:
    case proto::JsonOp::CacheShow:
    case proto::JsonOp::CachePurge:
    case proto::JsonOp::CacheExport:
      on_pool(m_ctx, id, respond, [state, req = std::move(*parsed)](const server::Responder& r) {
        admin_store_op(*state, req, r);
      });
      return;
  }
}

}  // namespace tlspolicy::daemon
