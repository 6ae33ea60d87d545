// SPDX-License-Identifier: Apache-2.0
//
// NAME
//   metrics - the daemon's counters as Prometheus text, and the HTTP/1.x
//   requests of the metrics listener (server.metrics)
// FORMAT
//   Prometheus text exposition format 0.0.4: per family a "# HELP" and a
//   "# TYPE" line, then its samples; counters end in _total, durations are in
//   seconds. Label values are fixed words of this file (actions, sources,
//   outcomes), never text from a request, a domain or a DNS answer: the
//   number of series is bounded. docs/operations.md "Metrics" lists them.
// HTTP
//   parse_http_request() reads one request head (request line and header
//   lines, up to the blank line) of untrusted bytes; it never throws and
//   keeps nothing. metrics_reply() answers it: GET or HEAD /metrics → 200
//   with the text; another path → 404; another method → 405; a head that
//   is not HTTP/1.0 or HTTP/1.1 → 400 or 505. Every reply closes the
//   connection (Connection: close).
// SEE ALSO
//   src/daemon/metrics.cpp (the snapshot and the listener), docs/operations.md
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "tlspolicy/policy/decision.hpp"

namespace tlspolicy::proto {

inline constexpr std::size_t k_actions = 4;  ///< policy::Action values
inline constexpr std::size_t k_sources = 5;  ///< policy::Source values

/// What one DNS lookup came to: an answer's DNSSEC state, or the error it ended with.
enum class DnsResult {
  Secure,
  Insecure,
  Bogus,
  Indeterminate,
  Timeout,
  Servfail,
  Refused,
  Network,
  Malformed,
  Other
};
inline constexpr std::size_t k_dns_results = 10;
[[nodiscard]] std::string_view to_string(DnsResult r) noexcept;

/// What one policy fetch (HTTPS GET) came to. Ok: an HTTP 200 (whatever its body);
/// HttpStatus: any other status (a redirect included).
enum class FetchResult { Ok, HttpStatus, Connect, Tls, Timeout, TooLarge, PrivateAddress, Other };
inline constexpr std::size_t k_fetch_results = 8;
[[nodiscard]] std::string_view to_string(FetchResult r) noexcept;

/// Upper bounds (seconds) of the policy fetch duration histogram; +Inf follows.
inline constexpr std::array<double, 10> k_fetch_buckets{0.05, 0.1, 0.25, 0.5, 1,
                                                        2.5,  5,   10,   30,  60};

/// A stored policy compared with the one it replaced.
enum class PolicyChange { New, IdChanged, SameId };
inline constexpr std::size_t k_policy_changes = 3;
[[nodiscard]] std::string_view to_string(PolicyChange c) noexcept;
inline constexpr std::size_t k_policy_modes = 3;  ///< sts::StsMode: enforce, testing, none

/// The policy store's operations (PolicyCache), for its error counter.
enum class StoreOp {
  Get,
  Put,
  Remove,
  List,
  PurgeExpired,
  RecordFetchFailure,
  LastFetchFailure,
  ClaimFetch
};
inline constexpr std::size_t k_store_ops = 8;
[[nodiscard]] std::string_view to_string(StoreOp op) noexcept;

/// A server::ServerStats, read once.
struct ServerSnapshot {
  std::uint64_t accepted = 0;
  std::uint64_t active = 0;
  std::uint64_t rejected_max_connections = 0;
  std::uint64_t accept_errors = 0;
  std::uint64_t requests = 0;
  std::uint64_t too_large = 0;
  std::uint64_t malformed = 0;
  std::uint64_t idle_timeouts = 0;
  std::uint64_t request_timeouts = 0;
  std::uint64_t output_overflows = 0;
  std::uint64_t internal_errors = 0;
  std::uint64_t late_replies = 0;
  std::uint64_t aborted = 0;
};

/// Everything /metrics shows, as plain numbers (the daemon reads its atomics into one).
struct MetricsSnapshot {
  std::string version;               ///< tlspolicy_build_info{version}
  double start_time_seconds = 0;     ///< process start, seconds since the Unix epoch
  std::uint64_t resident_bytes = 0;  ///< 0: not shown

  /// Decisions answered to clients, [policy::Action][policy::Source].
  std::array<std::array<std::uint64_t, k_sources>, k_actions> decisions{};
  std::uint64_t hits = 0;        ///< answered from memory
  std::uint64_t misses = 0;      ///< started a cold lookup
  std::uint64_t joined = 0;      ///< waited for a cold lookup in flight
  std::uint64_t deadlines = 0;   ///< defer: the lookup outlived limits.decision_deadline
  std::uint64_t overloaded = 0;  ///< defer: limits.max_in_flight lookups running
  std::uint64_t cached = 0;      ///< decisions in memory now
  std::uint64_t in_flight = 0;   ///< cold lookups running now
  std::uint64_t max_in_flight = 0;
  std::uint64_t store_queue = 0;  ///< jobs queued or running on the store pool now

  std::string resolver_mode;  ///< "validate" or "trust-ad"
  std::array<std::uint64_t, k_dns_results> dns{};

  std::array<std::uint64_t, k_fetch_results> fetches{};
  /// Fetches per duration bucket (not cumulative): [i] took at most k_fetch_buckets[i] and
  /// more than the bucket before; the last one took longer than every bound.
  std::array<std::uint64_t, k_fetch_buckets.size() + 1> fetch_buckets{};
  double fetch_seconds = 0;  ///< sum of every fetch's duration

  /// Policies stored, [PolicyChange][mode: enforce, testing, none].
  std::array<std::array<std::uint64_t, k_policy_modes>, k_policy_changes> policies_stored{};
  std::uint64_t policies_expired = 0;  ///< removed by the expiry purge
  std::array<std::uint64_t, k_store_ops> store_errors{};

  ServerSnapshot policy_server;   ///< the socketmap, JSON and admin listeners
  ServerSnapshot metrics_server;  ///< this listener

  std::uint64_t tlsrpt_datagrams = 0;
  std::uint64_t tlsrpt_malformed = 0;
  std::uint64_t tlsrpt_report_ops = 0;
  std::uint64_t tlsrpt_engine = 0;
  std::uint64_t tlsrpt_store_errors = 0;
  std::uint64_t tlsrpt_reports_made = 0;
  std::uint64_t tlsrpt_reports_sent = 0;
  std::uint64_t tlsrpt_reports_failed = 0;
};

/// The text exposition (format 0.0.4) of `s`. Pure; the order of families and samples is
/// fixed.
[[nodiscard]] std::string render_metrics(const MetricsSnapshot& s);

/// Content-Type of render_metrics()'s text.
inline constexpr std::string_view k_metrics_content_type =
    "text/plain; version=0.0.4; charset=utf-8";

/// Longest request head the metrics listener reads (Prometheus sends about 300 bytes).
inline constexpr std::size_t k_max_http_head = 8192;
/// Most header lines in a head.
inline constexpr std::size_t k_max_http_headers = 64;

/// The length of the request head at the front of `in`, up to and including the empty line
/// that ends it (CRLF CRLF, or LF LF), or 0 when `in` holds no complete head yet.
[[nodiscard]] std::size_t http_head_length(std::string_view in) noexcept;

/// One request head, parsed. Views into the text given to parse_http_request().
struct HttpRequest {
  int status = 0;  ///< 0: well formed; else the error status to answer (400, 505)
  std::string_view method;
  std::string_view path;  ///< the request target without its "?query"
};

/// Parses the head `head` (what http_head_length() delimits): "METHOD SP target SP
/// HTTP/1.x" then header lines "name: value", each ending in CRLF or LF. Checks the
/// syntax of the request line and of header names (RFC 9112 §3, §5); header values are
/// not read. Never throws.
[[nodiscard]] HttpRequest parse_http_request(std::string_view head) noexcept;

/// A complete HTTP/1.1 response with Content-Length and Connection: close. `head_only`: the
/// headers of that response without its body (HEAD). `allow`: an Allow header (405).
[[nodiscard]] std::string http_response(int status, std::string_view content_type,
                                        std::string_view body, bool head_only = false,
                                        std::string_view allow = {});

/// The response to `request`: for GET or HEAD /metrics the text `render()` gives (called
/// only then), else 404 / 405 / the request's error status, with a one-line text body.
template <class Render>
[[nodiscard]] std::string metrics_reply(const HttpRequest& request, Render&& render) {
  if (request.status != 0) return http_response(request.status, "text/plain", "bad request\n");
  const bool head = request.method == "HEAD";
  if (request.method != "GET" && !head) {
    return http_response(405, "text/plain", "method not allowed\n", false, "GET, HEAD");
  }
  if (request.path != "/metrics") {
    return http_response(404, "text/plain", "not found; try /metrics\n", head);
  }
  return http_response(200, k_metrics_content_type, render(), head);
}

}  // namespace tlspolicy::proto
