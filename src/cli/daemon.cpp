// SPDX-License-Identifier: Apache-2.0
//
// NAME
//   daemon - `tlspolicy serve`: listeners, protocols and reload
// PROTOCOLS
//   socketmap: Postfix dict_sockmap netstrings, "NAME key" → "OK …",
//   "NOTFOUND ", "TEMP …", "PERM …" (docs/protocols/socketmap.md).
//   json: one JSON object per line each way; a last request without newline
//   at EOF is answered (Exim ${readsocket}) (docs/protocols/json.md).
//   admin: the JSON protocol with the cache.* and stats ops.
// LIMITS
//   socketmap request ≤ 10000 bytes, JSON line ≤ 64 KiB; malformed or
//   oversized framing gets one PERM reply / error object and the connection
//   is closed; the other limits are daemon::ServerOptions.
// SEE ALSO
//   docs/man/tlspolicy.8.md, SPEC §4
#include "daemon.hpp"

#include <atomic>
#include <csignal>
#include <memory>
#include <utility>

#include "tlspolicy/config/settings.hpp"
#include "tlspolicy/daemon/listen.hpp"
#include "tlspolicy/daemon/server.hpp"
#include "tlspolicy/proto/json_protocol.hpp"
#include "tlspolicy/proto/netstring.hpp"
#include "tlspolicy/proto/socketmap.hpp"
#include "tlspolicy/service/decision_service.hpp"

#include "runtime.hpp"

namespace tlspolicy::cli {
namespace {

constexpr std::size_t k_max_json_line = 64 * 1024;

// --- framing -----------------------------------------------------------------

class SocketmapProtocol final : public daemon::Protocol {
 public:
  daemon::Frame decode(std::string& in, bool /*eof*/, std::size_t /*max_request_bytes*/) override {
    // SPEC §4: socketmap requests are at most 10000 bytes, whatever the
    // server's (JSON-sized) limit.
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
    out += proto::encode_netstring(reply);
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

// Handlers load the current state; a callback keeps the state it started
// with alive until it has answered.
class StateHolder {
 public:
  void set(std::shared_ptr<State> s) { std::atomic_store(&m_state, std::move(s)); }
  [[nodiscard]] std::shared_ptr<State> get() const { return std::atomic_load(&m_state); }

 private:
  std::shared_ptr<State> m_state;
};

Result<std::shared_ptr<State>> build_state(const config::Settings& settings, util::Logger log) {
  auto rt = build_runtime(settings, log);
  if (!rt) return Unexpected{rt.error()};
  auto state = std::make_shared<State>();
  state->runtime = std::move(*rt);
  state->service = std::make_unique<service::DecisionService>(
      *state->runtime->engine, state->runtime->clock, log.with_name("service"),
      service::ServiceOptions{});
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
  if (proto::classify_key(parsed->key) == proto::KeyKind::NotADomain) {
    respond(std::string(proto::k_notfound_reply));
    return;
  }
  auto domain = dns::DomainName::parse(parsed->key);
  if (!domain) {
    respond(std::string(proto::k_notfound_reply));
    return;
  }
  const bool tlsrpt = proto::is_tlsrpt_map(parsed->map_name);
  auto state = holder.get();
  state->service->decide(policy::DecideRequest{*domain, false},
                         [respond, tlsrpt, state](const service::DecisionPtr& d) {
                           const std::string_view text =
                               d->mta_sts ? std::string_view{d->mta_sts->policy_text} : "";
                           respond(proto::socketmap_response(*d, tlsrpt, text));
                         });
}

std::string stats_json(const State& state, const daemon::ServerStats& server) {
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
         ",\"idle_timeouts\":" + std::to_string(server.idle_timeouts.load()) + "}";
}

void handle_json(const StateHolder& holder, const daemon::Server& server, bool admin,
                 const std::string& line, const daemon::Responder& respond) {
  auto parsed = proto::parse_json_request(line);
  if (!parsed) {
    const auto parts = proto::json_error_parts(parsed.error());
    const auto id = proto::json_request_id(line);
    respond(proto::render_error(parts.code, parts.message, id ? &*id : nullptr));
    return;
  }
  const auto id = parsed->id;
  const std::string* idp = id ? &*id : nullptr;
  if (proto::is_admin_op(parsed->op) && !admin) {
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
                               respond(proto::render_decision(*d, explain, id ? &*id : nullptr));
                             });
      return;
    }
    case proto::JsonOp::Stats:
      respond(proto::render_ok("stats", stats_json(*state, server.stats()), idp));
      return;
    case proto::JsonOp::CachePurge: {
      auto& store = *state->runtime->cache;
      if (parsed->domain) {
        auto removed = store.remove(*parsed->domain);
        state->service->forget(parsed->domain->str());
        if (!removed) {
          respond(proto::render_error(proto::k_code_internal, removed.error().detail, idp));
          return;
        }
      } else {
        auto all = store.list();
        if (all) {
          for (const auto& p : *all) {
            if (auto name = dns::DomainName::parse(p.domain)) (void)store.remove(*name);
          }
        }
        state->service->forget("");
      }
      respond(proto::render_ok(idp));
      return;
    }
    default:
      respond(proto::render_error(
          proto::k_code_bad_request,
          std::string(proto::to_string(parsed->op)) + " is not available in this version", idp));
      return;
  }
}

Result<util::Fd> open_listener(std::multimap<std::string, util::Fd>& activated,
                               const std::string& name, const std::string& endpoint) {
  if (auto it = activated.find(name); it != activated.end()) {
    util::Fd fd = std::move(it->second);
    activated.erase(it);
    return fd;
  }
  return daemon::listen_endpoint(endpoint);
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
  auto first = build_state(cfg->settings, log);
  if (!first) {
    err << "tlspolicy: cannot start: " << first.error().detail << '\n';
    return 78;
  }
  StateHolder holder;
  holder.set(std::move(*first));

  // Block the signals before any thread starts, so only sigwait() sees them.
  sigset_t signals;
  sigemptyset(&signals);
  for (const int s : {SIGTERM, SIGINT, SIGHUP}) sigaddset(&signals, s);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);

  daemon::ServerOptions options;
  options.max_request_bytes = k_max_json_line;  // each protocol applies its own, smaller limit
  daemon::Server server{options, log.with_name("server")};
  auto activated = daemon::adopt_systemd_fds();
  if (!activated) {
    err << "tlspolicy: socket activation: " << activated.error().detail << '\n';
    return 78;
  }
  const auto& s = cfg->settings.server;
  auto socketmap = open_listener(*activated, "socketmap", s.socketmap);
  auto json = open_listener(*activated, "json", s.json);
  auto admin = open_listener(*activated, "admin", s.admin);
  for (const auto* r : {&socketmap, &json, &admin}) {
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
                      [&holder, &server](std::string line, daemon::Responder respond) {
                        handle_json(holder, server, false, line, respond);
                      });
  server.add_listener("admin", std::move(*admin), std::make_unique<JsonLinesProtocol>(),
                      [&holder, &server](std::string line, daemon::Responder respond) {
                        handle_json(holder, server, true, line, respond);
                      });
  server.start();
  log.info("serving", {{"socketmap", s.socketmap},
                       {"json", s.json},
                       {"admin", s.admin},
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
      auto next = build_state(again->settings, log);
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
