// SPDX-License-Identifier: Apache-2.0
//
// Prometheus text and the metrics listener's HTTP (metrics.hpp).
#include "tlspolicy/proto/metrics.hpp"

#include <charconv>
#include <initializer_list>
#include <utility>

namespace tlspolicy::proto {
namespace {

constexpr std::array<policy::Action, k_actions> k_all_actions{
    policy::Action::RequireTls, policy::Action::Opportunistic, policy::Action::Defer,
    policy::Action::Bounce};
constexpr std::array<policy::Source, k_sources> k_all_sources{
    policy::Source::Local, policy::Source::Dane, policy::Source::MtaSts, policy::Source::RequireTls,
    policy::Source::None};
constexpr std::array<std::string_view, k_policy_modes> k_mode_names{"enforce", "testing", "none"};

void append_number(std::string& out, std::uint64_t v) {
  std::array<char, 24> buf{};
  const auto end = std::to_chars(buf.data(), buf.data() + buf.size(), v).ptr;
  out.append(buf.data(), end);
}

void append_number(std::string& out, double v) {
  std::array<char, 32> buf{};
  const auto end = std::to_chars(buf.data(), buf.data() + buf.size(), v).ptr;
  out.append(buf.data(), end);
}

using Label = std::pair<std::string_view, std::string_view>;

/// Appends families and samples. Label values come from this file's fixed words (and the
/// version and resolver mode, which are checked words of our own), so they need no escaping
/// beyond what escape_label() does for safety.
class Writer {
 public:
  explicit Writer(std::string& out) : m_out(out) {}

  void family(std::string_view name, std::string_view type, std::string_view help) {
    m_out += "# HELP ";
    m_out += name;
    m_out += ' ';
    m_out += help;
    m_out += "\n# TYPE ";
    m_out += name;
    m_out += ' ';
    m_out += type;
    m_out += '\n';
  }

  template <class V>
  void sample(std::string_view name, std::initializer_list<Label> labels, V value) {
    m_out += name;
    if (labels.size() != 0) {
      char sep = '{';
      for (const auto& [key, val] : labels) {
        m_out += sep;
        m_out += key;
        m_out += "=\"";
        escape_label(val);
        m_out += '"';
        sep = ',';
      }
      m_out += '}';
    }
    m_out += ' ';
    append_number(m_out, value);
    m_out += '\n';
  }

  /// A counter family with one unlabelled sample.
  void counter(std::string_view name, std::string_view help, std::uint64_t value) {
    family(name, "counter", help);
    sample(name, {}, value);
  }
  void gauge(std::string_view name, std::string_view help, std::uint64_t value) {
    family(name, "gauge", help);
    sample(name, {}, value);
  }

 private:
  void escape_label(std::string_view v) {
    for (const char c : v) {
      if (c == '\\') {
        m_out += "\\\\";
      } else if (c == '"') {
        m_out += "\\\"";
      } else if (c == '\n') {
        m_out += "\\n";
      } else {
        m_out += c;
      }
    }
  }

  std::string& m_out;
};

/// The families of one server (label server="policy" or "metrics").
struct ServerFamilies {
  std::string_view server;
  const ServerSnapshot& s;
};

void render_servers(Writer& w, std::initializer_list<ServerFamilies> servers) {
  w.family("tlspolicy_connections_accepted_total", "counter", "Client connections accepted.");
  for (const auto& [name, s] : servers) {
    w.sample("tlspolicy_connections_accepted_total", {{"server", name}}, s.accepted);
  }
  w.family("tlspolicy_connections_active", "gauge", "Client connections open now.");
  for (const auto& [name, s] : servers) {
    w.sample("tlspolicy_connections_active", {{"server", name}}, s.active);
  }
  w.family("tlspolicy_connections_rejected_total", "counter",
           "Connections closed at once because the connection limit was reached.");
  for (const auto& [name, s] : servers) {
    w.sample("tlspolicy_connections_rejected_total", {{"server", name}},
             s.rejected_max_connections);
  }
  w.family("tlspolicy_requests_total", "counter", "Requests passed to a handler.");
  for (const auto& [name, s] : servers) {
    w.sample("tlspolicy_requests_total", {{"server", name}}, s.requests);
  }
  w.family("tlspolicy_limit_hits_total", "counter",
           "Requests or connections stopped by a limit, by limit.");
  for (const auto& [name, s] : servers) {
    w.sample("tlspolicy_limit_hits_total", {{"server", name}, {"limit", "max_connections"}},
             s.rejected_max_connections);
    w.sample("tlspolicy_limit_hits_total", {{"server", name}, {"limit", "request_too_large"}},
             s.too_large);
    w.sample("tlspolicy_limit_hits_total", {{"server", name}, {"limit", "malformed_request"}},
             s.malformed);
    w.sample("tlspolicy_limit_hits_total", {{"server", name}, {"limit", "request_timeout"}},
             s.request_timeouts);
    w.sample("tlspolicy_limit_hits_total", {{"server", name}, {"limit", "idle_timeout"}},
             s.idle_timeouts);
    w.sample("tlspolicy_limit_hits_total", {{"server", name}, {"limit", "output_overflow"}},
             s.output_overflows);
  }
  w.family("tlspolicy_server_errors_total", "counter",
           "Connection and handler errors, by kind (accept: EMFILE and friends; aborted: the "
           "peer vanished; late_reply: a reply after its request timed out or its connection "
           "closed).");
  for (const auto& [name, s] : servers) {
    w.sample("tlspolicy_server_errors_total", {{"server", name}, {"error", "accept"}},
             s.accept_errors);
    w.sample("tlspolicy_server_errors_total", {{"server", name}, {"error", "internal"}},
             s.internal_errors);
    w.sample("tlspolicy_server_errors_total", {{"server", name}, {"error", "aborted"}}, s.aborted);
    w.sample("tlspolicy_server_errors_total", {{"server", name}, {"error", "late_reply"}},
             s.late_replies);
  }
}

}  // namespace

std::string_view to_string(DnsResult r) noexcept {
  switch (r) {
    case DnsResult::Secure:
      return "secure";
    case DnsResult::Insecure:
      return "insecure";
    case DnsResult::Bogus:
      return "bogus";
    case DnsResult::Indeterminate:
      return "indeterminate";
    case DnsResult::Timeout:
      return "timeout";
    case DnsResult::Servfail:
      return "servfail";
    case DnsResult::Refused:
      return "refused";
    case DnsResult::Network:
      return "network";
    case DnsResult::Malformed:
      return "malformed";
    case DnsResult::Other:
      return "other";
  }
  return "other";
}

std::string_view to_string(FetchResult r) noexcept {
  switch (r) {
    case FetchResult::Ok:
      return "ok";
    case FetchResult::HttpStatus:
      return "http_status";
    case FetchResult::Connect:
      return "connect";
    case FetchResult::Tls:
      return "tls";
    case FetchResult::Timeout:
      return "timeout";
    case FetchResult::TooLarge:
      return "too_large";
    case FetchResult::PrivateAddress:
      return "private_address";
    case FetchResult::Other:
      return "other";
  }
  return "other";
}

std::string_view to_string(PolicyChange c) noexcept {
  switch (c) {
    case PolicyChange::New:
      return "new";
    case PolicyChange::IdChanged:
      return "id_changed";
    case PolicyChange::SameId:
      return "same_id";
  }
  return "new";
}

std::string_view to_string(StoreOp op) noexcept {
  switch (op) {
    case StoreOp::Get:
      return "get";
    case StoreOp::Put:
      return "put";
    case StoreOp::Remove:
      return "remove";
    case StoreOp::List:
      return "list";
    case StoreOp::PurgeExpired:
      return "purge_expired";
    case StoreOp::RecordFetchFailure:
      return "record_fetch_failure";
    case StoreOp::LastFetchFailure:
      return "last_fetch_failure";
    case StoreOp::ClaimFetch:
      return "claim_fetch";
  }
  return "get";
}

std::string render_metrics(const MetricsSnapshot& s) {
  std::string out;
  out.reserve(std::size_t{16} * 1024);
  Writer w{out};

  w.family("tlspolicy_build_info", "gauge", "Always 1; the version of the running daemon.");
  w.sample("tlspolicy_build_info", {{"version", s.version}}, std::uint64_t{1});
  w.family("process_start_time_seconds", "gauge",
           "Start time of the process since the Unix epoch, in seconds.");
  w.sample("process_start_time_seconds", {}, s.start_time_seconds);
  if (s.resident_bytes != 0) {
    w.gauge("process_resident_memory_bytes", "Resident memory size in bytes.", s.resident_bytes);
  }

  w.family("tlspolicy_decisions_total", "counter",
           "Decisions answered to clients (from memory or from a lookup, the defers of "
           "deadlines and overload included), by action and source.");
  for (std::size_t a = 0; a < k_actions; ++a) {
    for (std::size_t src = 0; src < k_sources; ++src) {
      w.sample("tlspolicy_decisions_total",
               {{"action", policy::to_string(k_all_actions[a])},
                {"source", policy::to_string(k_all_sources[src])}},
               s.decisions[a][src]);
    }
  }
  w.family("tlspolicy_decision_cache_requests_total", "counter",
           "Decision requests by how they were served: hit (from memory), miss (started a "
           "lookup), joined (waited for a lookup of the same domain already running).");
  w.sample("tlspolicy_decision_cache_requests_total", {{"result", "hit"}}, s.hits);
  w.sample("tlspolicy_decision_cache_requests_total", {{"result", "miss"}}, s.misses);
  w.sample("tlspolicy_decision_cache_requests_total", {{"result", "joined"}}, s.joined);
  w.family("tlspolicy_decision_defers_total", "counter",
           "Defers answered without a decision: deadline (limits.decision_deadline passed), "
           "overload (limits.max_in_flight lookups running).");
  w.sample("tlspolicy_decision_defers_total", {{"reason", "deadline"}}, s.deadlines);
  w.sample("tlspolicy_decision_defers_total", {{"reason", "overload"}}, s.overloaded);
  w.gauge("tlspolicy_decisions_cached", "Decisions kept in memory now.", s.cached);
  w.gauge("tlspolicy_lookups_in_flight", "Cold lookups running now.", s.in_flight);
  w.gauge("tlspolicy_lookups_in_flight_limit",
          "limits.max_in_flight: cold lookups allowed at once.", s.max_in_flight);
  w.gauge(
      "tlspolicy_store_queue_jobs",
      "Jobs queued or running on the store pool now (store calls, TLS-RPT results and delivery).",
      s.store_queue);

  w.family("tlspolicy_dns_lookups_total", "counter",
           "DNS lookups by result: the DNSSEC state of an answer (secure, insecure, bogus, "
           "indeterminate) or the error (timeout, servfail, refused, network, malformed, "
           "other); mode is resolver.mode.");
  for (std::size_t i = 0; i < k_dns_results; ++i) {
    w.sample("tlspolicy_dns_lookups_total",
             {{"mode", s.resolver_mode}, {"result", to_string(static_cast<DnsResult>(i))}},
             s.dns[i]);
  }

  w.family("tlspolicy_policy_fetches_total", "counter",
           "MTA-STS policy fetches (HTTPS GET) by result: ok (HTTP 200), http_status (any "
           "other status), or the transport error.");
  for (std::size_t i = 0; i < k_fetch_results; ++i) {
    w.sample("tlspolicy_policy_fetches_total", {{"result", to_string(static_cast<FetchResult>(i))}},
             s.fetches[i]);
  }
  w.family("tlspolicy_policy_fetch_duration_seconds", "histogram",
           "Duration of MTA-STS policy fetches, whatever their result.");
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < k_fetch_buckets.size(); ++i) {
    cumulative += s.fetch_buckets[i];
    std::string le;
    append_number(le, k_fetch_buckets[i]);
    w.sample("tlspolicy_policy_fetch_duration_seconds_bucket", {{"le", le}}, cumulative);
  }
  cumulative += s.fetch_buckets.back();
  w.sample("tlspolicy_policy_fetch_duration_seconds_bucket", {{"le", "+Inf"}}, cumulative);
  w.sample("tlspolicy_policy_fetch_duration_seconds_sum", {}, s.fetch_seconds);
  w.sample("tlspolicy_policy_fetch_duration_seconds_count", {}, cumulative);

  w.family("tlspolicy_policies_stored_total", "counter",
           "MTA-STS policies fetched and stored, by change (new: none stored before, "
           "id_changed, same_id: a refresh) and mode.");
  for (std::size_t c = 0; c < k_policy_changes; ++c) {
    for (std::size_t m = 0; m < k_policy_modes; ++m) {
      w.sample("tlspolicy_policies_stored_total",
               {{"change", to_string(static_cast<PolicyChange>(c))}, {"mode", k_mode_names[m]}},
               s.policies_stored[c][m]);
    }
  }
  w.counter("tlspolicy_policies_expired_total",
            "Stored MTA-STS policies removed because their max_age passed.", s.policies_expired);
  w.family("tlspolicy_store_errors_total", "counter",
           "Policy store operations that failed, by operation.");
  for (std::size_t i = 0; i < k_store_ops; ++i) {
    w.sample("tlspolicy_store_errors_total", {{"op", to_string(static_cast<StoreOp>(i))}},
             s.store_errors[i]);
  }

  render_servers(w, {{"policy", s.policy_server}, {"metrics", s.metrics_server}});

  w.counter("tlspolicy_tlsrpt_datagrams_total", "libtlsrpt datagrams received.",
            s.tlsrpt_datagrams);
  w.counter("tlspolicy_tlsrpt_datagrams_malformed_total",
            "libtlsrpt datagrams dropped: unparsable or too large.", s.tlsrpt_malformed);
  w.family("tlspolicy_tlsrpt_results_total", "counter",
           "TLS-RPT result batches counted in the store, by origin (report_op: the JSON report "
           "op; engine: the daemon's own failures).");
  w.sample("tlspolicy_tlsrpt_results_total", {{"origin", "report_op"}}, s.tlsrpt_report_ops);
  w.sample("tlspolicy_tlsrpt_results_total", {{"origin", "engine"}}, s.tlsrpt_engine);
  w.counter("tlspolicy_tlsrpt_store_errors_total",
            "TLS-RPT results the store could not take (or dropped: store backlog).",
            s.tlsrpt_store_errors);
  w.family("tlspolicy_tlsrpt_reports_total", "counter",
           "TLS-RPT reports by event: made (for a finished day), sent (delivered to at least "
           "one rua), failed (given up after 24 hours of retries).");
  w.sample("tlspolicy_tlsrpt_reports_total", {{"event", "made"}}, s.tlsrpt_reports_made);
  w.sample("tlspolicy_tlsrpt_reports_total", {{"event", "sent"}}, s.tlsrpt_reports_sent);
  w.sample("tlspolicy_tlsrpt_reports_total", {{"event", "failed"}}, s.tlsrpt_reports_failed);
  return out;
}

std::size_t http_head_length(std::string_view in) noexcept {
  // A head ends with an empty line: "\n" followed by "\r\n" or "\n".
  for (std::size_t i = in.find('\n'); i != std::string_view::npos; i = in.find('\n', i + 1)) {
    if (i + 1 < in.size() && in[i + 1] == '\n') return i + 2;
    if (i + 2 < in.size() && in[i + 1] == '\r' && in[i + 2] == '\n') return i + 3;
  }
  return 0;
}

namespace {

/// RFC 9110 §5.6.2 tchar.
bool is_tchar(char c) noexcept {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::string_view{"!#$%&'*+-.^_`|~"}.find(c) != std::string_view::npos;
}

bool is_token(std::string_view s) noexcept {
  if (s.empty()) return false;
  for (const char c : s) {
    if (!is_tchar(c)) return false;
  }
  return true;
}

/// The next line of `rest` without its CRLF or LF; `rest` moves past it.
std::string_view next_line(std::string_view& rest) noexcept {
  const auto nl = rest.find('\n');
  std::string_view line = nl == std::string_view::npos ? rest : rest.substr(0, nl);
  rest.remove_prefix(nl == std::string_view::npos ? rest.size() : nl + 1);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  return line;
}

}  // namespace

HttpRequest parse_http_request(std::string_view head) noexcept {
  HttpRequest bad;
  bad.status = 400;
  std::string_view rest = head;
  const std::string_view line = next_line(rest);
  const auto sp1 = line.find(' ');
  if (sp1 == std::string_view::npos) return bad;
  const auto sp2 = line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos) return bad;
  const std::string_view method = line.substr(0, sp1);
  const std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  const std::string_view version = line.substr(sp2 + 1);
  if (!is_token(method) || target.empty() || target.front() != '/') return bad;
  for (const char c : target) {
    if (c <= ' ' || c >= 0x7f) return bad;  // visible ASCII only (RFC 9112 §3.2)
  }
  if (version.size() != 8 || version.substr(0, 5) != "HTTP/") return bad;
  if (version != "HTTP/1.1" && version != "HTTP/1.0") {
    HttpRequest unsupported;
    unsupported.status = 505;
    return unsupported;
  }
  std::size_t headers = 0;
  while (!rest.empty()) {
    const std::string_view h = next_line(rest);
    if (h.empty()) break;  // the blank line that ends the head
    if (++headers > k_max_http_headers) return bad;
    const auto colon = h.find(':');
    // RFC 9112 §5.1: no whitespace between the name and the colon; obs-fold is refused.
    if (colon == std::string_view::npos || !is_token(h.substr(0, colon))) return bad;
    for (const char c : h.substr(colon + 1)) {
      if ((c >= 0 && c < ' ' && c != '\t') || c == 0x7f) return bad;
    }
  }
  HttpRequest ok;
  ok.method = method;
  ok.path = target.substr(0, target.find('?'));
  return ok;
}

std::string http_response(int status, std::string_view content_type, std::string_view body,
                          bool head_only, std::string_view allow) {
  std::string_view reason = "Error";
  switch (status) {
    case 200:
      reason = "OK";
      break;
    case 400:
      reason = "Bad Request";
      break;
    case 404:
      reason = "Not Found";
      break;
    case 405:
      reason = "Method Not Allowed";
      break;
    case 408:
      reason = "Request Timeout";
      break;
    case 431:
      reason = "Request Header Fields Too Large";
      break;
    case 500:
      reason = "Internal Server Error";
      break;
    case 505:
      reason = "HTTP Version Not Supported";
      break;
    default:
      break;
  }
  std::string out;
  out.reserve(body.size() + 160);
  out += "HTTP/1.1 ";
  append_number(out, static_cast<std::uint64_t>(status));
  out += ' ';
  out += reason;
  out += "\r\nContent-Type: ";
  out += content_type;
  out += "\r\nContent-Length: ";
  append_number(out, static_cast<std::uint64_t>(body.size()));
  if (!allow.empty()) {
    out += "\r\nAllow: ";
    out += allow;
  }
  out += "\r\nConnection: close\r\n\r\n";
  if (!head_only) out += body;
  return out;
}

}  // namespace tlspolicy::proto
