// SPDX-License-Identifier: Apache-2.0
//
// NAME
//   daemon - `tlspolicy serve`: the composition of the threads, listeners and reload
// THREADS (docs/architecture.md, "Thread roles")
//   main     loads the settings, opens the listeners, then waits in sigwait(): SIGHUP
//            builds a new generation and swaps it in; SIGTERM/SIGINT stop everything.
//   server   server::Server's epoll loop: connections, framing, answers from memory.
//   engine   event::Loop: cold decisions as coroutines, libunbound's fd, libcurl's multi
//            sockets and timers, the TLS-RPT datagram socket, the refresh and report
//            timers; retires old generations.
//   store    event::ThreadPool (2 threads): SQLite, the sendmail pipe, the TLS-RPT POST.
//   (libunbound runs one thread of its own in validate mode: ub_ctx_async.)
// SEE ALSO
//   handlers.hpp (what each listener does), maintenance.hpp, state.hpp, docs/man/tlspolicy.8.md
#include "tlspolicy/daemon/daemon.hpp"

#include <chrono>
#include <csignal>
#include <map>
#include <memory>
#include <optional>
#include <thread>
#include <utility>

#include "tlspolicy/config/settings.hpp"
#include "tlspolicy/event/loop.hpp"
#include "tlspolicy/event/offload.hpp"
#include "tlspolicy/server/fd_limit.hpp"
#include "tlspolicy/server/listen.hpp"
#include "tlspolicy/server/server.hpp"
#include "tlspolicy/util/exit_status.hpp"

#include "handlers.hpp"
#include "maintenance.hpp"
#include "metrics.hpp"
#include "notify.hpp"
#include "protocols.hpp"
#include "state.hpp"

namespace tlspolicy::daemon {
namespace {

using namespace std::chrono_literals;

/// Threads of the store pool: SQLite serialises writers anyway; a second thread keeps a
/// slow sendmail or POST from holding up the store calls of the decisions.
constexpr std::size_t k_store_threads = 2;

/// The engine loop, the store pool and what they share. The destructor (or stop()) ends
/// them in order: the periodic work, then every generation (waiters answered, lookups
/// cancelled), then the pool (its queued jobs run), then the loop.
class Engine {
 public:
  explicit Engine(util::Logger log)
      : m_pool(std::in_place, m_thread.loop(), k_store_threads, "tlspolicy-store"),
        ctx(m_thread.loop(), *m_pool, std::move(log)) {}
  ~Engine() { stop(); }
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  void start_maintenance(util::Fd datagrams) {
    m_thread.call([&] { m_maintenance.emplace(ctx, std::move(datagrams)); });
  }

  /// Pings the service manager's watchdog every `every` from the engine loop: the loop that
  /// runs the lookups, the timers and the retiring of generations. A loop that stops turning
  /// stops the pings, and the manager restarts the daemon (WatchdogSec=). `notify` must
  /// outlive this object.
  void start_watchdog(const Notifier& notify, std::chrono::milliseconds every) {
    m_thread.call([this, &notify, every] { arm_watchdog(notify, every); });
  }

  void stop() {
    if (m_stopped) return;
    m_stopped = true;
    m_thread.call([this] {
      ctx.loop.cancel(m_watchdog_timer);
      m_maintenance.reset();
      ctx.set_state(nullptr);
      shutdown(ctx);
    });
    // Cancelled lookups end at once; a report tick may still be sending.
    for (int waited = 0; ctx.generations > 0; ++waited) {
      if (waited > 0 && waited % 500 == 0) {
        ctx.log.info("stopping: waiting for work in progress",
                     {{"generations", std::to_string(ctx.generations.load())}});
      }
      std::this_thread::sleep_for(10ms);
    }
    m_pool.reset();
    m_thread.stop();
  }

 private:
  void arm_watchdog(const Notifier& notify, std::chrono::milliseconds every) {
    m_watchdog_timer = ctx.loop.after(every, [this, &notify, every] {
      notify.watchdog_ping();
      arm_watchdog(notify, every);
    });
  }

  event::LoopThread m_thread{"tlspolicy-loop"};
  std::optional<event::ThreadPool> m_pool;

 public:
  Context ctx;  ///< after the loop and the pool it refers to

 private:
  std::optional<Maintenance> m_maintenance;  ///< engine loop thread only
  event::TimerId m_watchdog_timer = 0;       ///< engine loop thread only
  bool m_stopped = false;
};

Result<util::Fd> open_listener(std::multimap<std::string, util::Fd>& activated,
                               const std::string& name, const std::string& endpoint,
                               const server::ListenOptions& options) {
  if (auto it = activated.find(name); it != activated.end()) {
    util::Fd fd = std::move(it->second);
    activated.erase(it);
    return fd;
  }
  return server::listen_endpoint(endpoint, options);
}

struct Listeners {
  util::Fd socketmap;
  util::Fd json;
  util::Fd admin;
  util::Fd tlsrpt;   ///< empty when TLS-RPT collection is off
  util::Fd metrics;  ///< empty when server.metrics is off
};

Result<Listeners> open_listeners(const config::Settings& settings) {
  auto activated = server::adopt_systemd_fds();
  if (!activated) {
    return Unexpected{Error{activated.error().code, activated.error().retry,
                            "socket activation: " + activated.error().detail}};
  }
  const auto& s = settings.server;
  // Socket activation brings its own permissions (the .socket units); for sockets we create,
  // server.socket_* apply, and admin is owner-only.
  const server::ListenOptions shared{s.socket_mode, s.socket_owner, s.socket_group, 1024};
  const server::ListenOptions owner_only{0600, s.socket_owner, s.socket_group, 1024};
  Listeners out;
  const auto open = [&](util::Fd& into, const std::string& name, const std::string& endpoint,
                        const server::ListenOptions& o) -> Result<void> {
    auto fd = open_listener(*activated, name, endpoint, o);
    if (!fd) return Unexpected{fd.error()};
    into = std::move(*fd);
    return {};
  };
  if (auto r = open(out.socketmap, "socketmap", s.socketmap, shared); !r)
    return Unexpected{r.error()};
  if (auto r = open(out.json, "json", s.json, shared); !r) return Unexpected{r.error()};
  if (auto r = open(out.admin, "admin", s.admin, owner_only); !r) return Unexpected{r.error()};
  if (auto it = activated->find("metrics"); it != activated->end()) {
    out.metrics = std::move(it->second);
  } else if (!s.metrics.empty()) {
    // A network port (or a socket for the local Prometheus): shared permissions.
    if (auto r = open(out.metrics, "metrics", s.metrics, shared); !r) return Unexpected{r.error()};
  }
  if (auto it = activated->find("tlsrpt"); it != activated->end()) {
    out.tlsrpt = std::move(it->second);
  } else if (settings.tlsrpt.enabled) {
    auto fd = server::bind_datagram_endpoint(settings.tlsrpt.socket, shared);
    if (!fd) return Unexpected{fd.error()};
    out.tlsrpt = std::move(*fd);
  }
  return out;
}

}  // namespace

int run(const std::optional<std::filesystem::path>& config_file,
        const std::vector<std::string>& overrides, std::ostream& err) {
  auto cfg = config::load_config(config_file, overrides);
  if (!cfg) {
    err << "tlspolicy: configuration: " << cfg.error().detail << '\n';
    return k_exit_config;
  }
  const auto& settings = cfg->settings;
  const util::Logger log{settings.log_level};
  const Notifier notify;  // NOTIFY_SOCKET: systemd's Type=notify (a no-op without)

  // Block the signals before any thread starts, so only sigwait() sees them.
  sigset_t signals;
  sigemptyset(&signals);
  for (const int s : {SIGTERM, SIGINT, SIGHUP}) sigaddset(&signals, s);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);

  auto listeners = open_listeners(settings);
  if (!listeners) {
    err << "tlspolicy: cannot listen: " << listeners.error().detail << '\n';
    return k_exit_config;
  }
  Engine engine{log};
  auto first = build_state(settings, engine.ctx);
  if (!first) {
    err << "tlspolicy: cannot start: " << first.error().detail << '\n';
    return k_exit_config;
  }
  engine.ctx.set_state(std::move(*first));

  server::ServerOptions options;
  options.max_connections = settings.limits.max_connections;
  options.max_request_bytes = k_max_json_line;  // each protocol applies its own, smaller limit
  // The connections, the lookups and the daemon's own descriptors must fit in RLIMIT_NOFILE
  // (systemd's default soft limit, 1024, does not): raise it, or accept fewer connections.
  // Lookups hold descriptors too (a UDP socket per query in trust-ad mode, libunbound's
  // outgoing sockets, curl's connections): a few per cold decision in flight.
  const std::size_t lookup_fds = 4 * settings.limits.max_in_flight;
  if (const auto fds =
          server::ensure_fd_limit(options.max_connections, server::k_fd_reserve + lookup_fds);
      fds.max_connections < options.max_connections) {
    log.warn("descriptor limit too low for the connection limit; accepting fewer connections",
             {{"nofile", std::to_string(fds.soft)},
              {"max_connections", std::to_string(fds.max_connections)}});
    options.max_connections = fds.max_connections;
  }
  // Declared after the engine: stopped and destroyed before it, so no request outlives it.
  server::Server server{options, log.with_name("server")};
  Handlers handlers{engine.ctx, server};
  server.add_listener("socketmap", std::move(listeners->socketmap),
                      std::make_unique<SocketmapProtocol>(),
                      [&handlers](std::string_view request, const server::Responder& respond) {
                        handlers.socketmap(request, respond);
                      });
  server.add_listener("json", std::move(listeners->json), std::make_unique<JsonLinesProtocol>(),
                      [&handlers](std::string_view line, const server::Responder& respond) {
                        handlers.json(line, respond, false);
                      });
  server.add_listener("admin", std::move(listeners->admin), std::make_unique<JsonLinesProtocol>(),
                      [&handlers](std::string_view line, const server::Responder& respond) {
                        handlers.json(line, respond, true);
                      });
  const bool tlsrpt = static_cast<bool>(listeners->tlsrpt);
  engine.start_maintenance(std::move(listeners->tlsrpt));
  server.start();
  if (const auto interval = notify.watchdog()) {
    engine.start_watchdog(notify, watchdog_period(*interval));
  }
  // Declared after the server: stopped and destroyed before it (it reads its counters).
  std::optional<MetricsListener> metrics;
  if (listeners->metrics) metrics.emplace(std::move(listeners->metrics), engine.ctx, server, log);
  const auto& s = settings.server;
  log.info("serving", {{"socketmap", s.socketmap},
                       {"json", s.json},
                       {"admin", s.admin},
                       {"metrics", s.metrics.empty() ? std::string{"off"} : s.metrics},
                       {"tlsrpt", tlsrpt ? settings.tlsrpt.socket : std::string{"off"}},
                       {"resolver", std::string{to_string(settings.resolver.mode)}},
                       {"store", settings.store.url.empty() ? "sqlite" : "postgresql"},
                       {"node", settings.fleet.node}});
  // Every listener accepts (connections wait in their backlog until the server thread
  // takes them) and the first generation answers: ready.
  notify.ready("serving: resolver " + std::string{to_string(settings.resolver.mode)} + ", store " +
               (settings.store.url.empty() ? "sqlite" : "postgresql") + ", node " +
               settings.fleet.node + (tlsrpt ? ", TLS-RPT on" : ""));

  for (;;) {
    int sig = 0;
    if (sigwait(&signals, &sig) != 0) continue;
    if (sig == SIGHUP) {
      notify.reloading("reloading the configuration");
      const auto failed = [&](const std::string& detail) {
        log.error("reload failed, keeping the running configuration", {{"error", detail}});
        notify.ready("reload failed, running the previous configuration: " + detail);
      };
      // Build the new configuration completely; only then swap it in. The old generation
      // answers what it started, then retires on the engine loop.
      auto again = config::load_config(config_file, overrides);
      if (!again) {
        failed(again.error().detail);
        continue;
      }
      auto next = build_state(again->settings, engine.ctx);
      if (!next) {
        failed(next.error().detail);
        continue;
      }
      engine.ctx.set_state(std::move(*next));
      log.info("configuration reloaded (listeners keep their sockets)");
      notify.ready("serving: configuration reloaded");
      continue;
    }
    log.info("stopping", {{"signal", std::to_string(sig)}});
    notify.stopping("stopping: draining connections");
    if (metrics) metrics->stop();
    server.stop(std::chrono::seconds(5));
    engine.stop();
    return 0;
  }
}

}  // namespace tlspolicy::daemon
