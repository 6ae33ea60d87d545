// SPDX-License-Identifier: Apache-2.0
//
// The metrics listener (metrics.hpp).
#include "metrics.hpp"

#include <chrono>
#include <fstream>
#include <sstream>
#include <utility>

#include "tlspolicy/util/version.hpp"

#include "protocols.hpp"
#include <unistd.h>

namespace tlspolicy::daemon {
namespace {

using namespace std::chrono_literals;

/// Scrapes at once (Prometheus servers, curl); beyond: closed at once, counted.
constexpr std::size_t k_metrics_connections = 32;

std::uint64_t get(const std::atomic<std::uint64_t>& a) noexcept {
  return a.load(std::memory_order_relaxed);
}

proto::ServerSnapshot server_snapshot(const server::ServerStats& s) {
  proto::ServerSnapshot out;
  out.accepted = get(s.accepted);
  out.active = get(s.active);
  out.rejected_max_connections = get(s.rejected_max_connections);
  out.accept_errors = get(s.accept_errors);
  out.requests = get(s.requests);
  out.too_large = get(s.too_large);
  out.malformed = get(s.malformed);
  out.idle_timeouts = get(s.idle_timeouts);
  out.request_timeouts = get(s.request_timeouts);
  out.output_overflows = get(s.output_overflows);
  out.internal_errors = get(s.internal_errors);
  out.late_replies = get(s.late_replies);
  out.aborted = get(s.aborted);
  return out;
}

/// Resident set size from /proc/self/statm; 0 when unknown.
std::uint64_t resident_bytes() {
  std::ifstream statm{"/proc/self/statm"};
  std::uint64_t size = 0;
  std::uint64_t resident = 0;
  if (!(statm >> size >> resident)) return 0;
  const long page = ::sysconf(_SC_PAGESIZE);
  return page > 0 ? resident * static_cast<std::uint64_t>(page) : 0;
}

double wall_now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace

double process_start_time() {
  static const double started = [] {
    // Field 22 of /proc/self/stat: start time in clock ticks after boot (proc(5)); the
    // command name (field 2) may contain spaces, so count from its closing parenthesis.
    std::ifstream stat{"/proc/self/stat"};
    std::string text{std::istreambuf_iterator<char>(stat), {}};
    const auto paren = text.rfind(')');
    std::ifstream proc_stat{"/proc/stat"};
    std::string line;
    double boot = 0;
    while (std::getline(proc_stat, line)) {
      if (line.rfind("btime ", 0) == 0) boot = std::stod(line.substr(6));
    }
    const long ticks = ::sysconf(_SC_CLK_TCK);
    if (paren == std::string::npos || boot <= 0 || ticks <= 0) return wall_now();
    std::istringstream fields{text.substr(paren + 2)};
    std::string field;
    for (int i = 3; i <= 22 && fields >> field; ++i) {
      if (i == 22) return boot + std::stod(field) / static_cast<double>(ticks);
    }
    return wall_now();
  }();
  return started;
}

proto::MetricsSnapshot metrics_snapshot(const Context& ctx, const server::ServerStats& policy,
                                        const server::ServerStats* metrics) {
  proto::MetricsSnapshot s;
  s.version = std::string{util::version()};
  s.start_time_seconds = process_start_time();
  s.resident_bytes = resident_bytes();

  const auto state = ctx.state();
  if (state) {
    const auto st = state->service->stats();
    for (std::size_t a = 0; a < proto::k_actions; ++a) {
      for (std::size_t src = 0; src < proto::k_sources; ++src) {
        s.decisions[a][src] = st.answered[a * proto::k_sources + src];
      }
    }
    s.hits = st.hits;
    s.misses = st.misses;
    s.joined = st.joined;
    s.deadlines = st.deadlines;
    s.overloaded = st.overloaded;
    s.cached = st.cached;
    s.in_flight = st.in_flight;
    s.max_in_flight = state->runtime->settings.limits.max_in_flight;
    s.resolver_mode = to_string(state->runtime->settings.resolver.mode);
  }
  s.store_queue = ctx.pool.backlog();

  const auto& m = ctx.instruments;
  for (std::size_t i = 0; i < proto::k_dns_results; ++i) s.dns[i] = get(m.dns[i]);
  for (std::size_t i = 0; i < proto::k_fetch_results; ++i) s.fetches[i] = get(m.fetches[i]);
  for (std::size_t i = 0; i < s.fetch_buckets.size(); ++i) {
    s.fetch_buckets[i] = get(m.fetch_buckets[i]);
  }
  s.fetch_seconds = static_cast<double>(get(m.fetch_microseconds)) / 1e6;
  for (std::size_t c = 0; c < proto::k_policy_changes; ++c) {
    for (std::size_t mode = 0; mode < proto::k_policy_modes; ++mode) {
      s.policies_stored[c][mode] = get(m.policies_stored[c * proto::k_policy_modes + mode]);
    }
  }
  s.policies_expired = get(m.policies_expired);
  for (std::size_t i = 0; i < proto::k_store_ops; ++i) s.store_errors[i] = get(m.store_errors[i]);

  s.policy_server = server_snapshot(policy);
  if (metrics != nullptr) s.metrics_server = server_snapshot(*metrics);

  const auto& t = ctx.counters;
  s.tlsrpt_datagrams = get(t.datagrams);
  s.tlsrpt_malformed = get(t.malformed);
  s.tlsrpt_report_ops = get(t.report_ops);
  s.tlsrpt_engine = get(t.engine);
  s.tlsrpt_store_errors = get(t.store_errors);
  s.tlsrpt_reports_made = get(m.reports->made);
  s.tlsrpt_reports_sent = get(m.reports->sent);
  s.tlsrpt_reports_failed = get(m.reports->failed);
  return s;
}

MetricsListener::MetricsListener(util::Fd listener, Context& ctx, const server::Server& policy,
                                 const util::Logger& log) {
  server::ServerOptions options;
  options.max_connections = k_metrics_connections;
  options.max_request_bytes = proto::k_max_http_head;
  options.idle_timeout = 10s;  // from the accept: the whole request must arrive by then
  options.input_extends_idle = false;
  options.request_timeout = 10s;
  options.max_output_bytes = std::size_t{4} * 1024 * 1024;
  options.thread_name = "tlspolicy-mtrc";
  m_server = std::make_unique<server::Server>(std::move(options), log.with_name("metrics"));
  const server::Server* self = m_server.get();
  m_server->add_listener(
      "metrics", std::move(listener), std::make_unique<HttpProtocol>(),
      [&ctx, &policy, self](std::string_view head, const server::Responder& respond) {
        const auto request = proto::parse_http_request(head);
        respond(proto::metrics_reply(request,
                                     [&] {
                                       return proto::render_metrics(
                                           metrics_snapshot(ctx, policy.stats(), &self->stats()));
                                     }),
                true);
      });
  m_server->start();
}

MetricsListener::~MetricsListener() { stop(); }

void MetricsListener::stop() { m_server->stop(std::chrono::milliseconds{0}); }

}  // namespace tlspolicy::daemon
