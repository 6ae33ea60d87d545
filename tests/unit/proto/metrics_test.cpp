// SPDX-License-Identifier: Apache-2.0
//
// The Prometheus text of a snapshot (exact text, written by hand from the exposition
// format 0.0.4), and the metrics listener's HTTP request parsing and replies.
#include "tlspolicy/proto/metrics.hpp"

#include <string>
#include <string_view>

#include <gtest/gtest.h>

namespace tlspolicy::proto {
namespace {

MetricsSnapshot sample_snapshot() {
  MetricsSnapshot s;
  s.version = "1.2.3";
  s.start_time_seconds = 1765000000.5;
  s.resident_bytes = 29000000;
  s.decisions[0][2] = 7;  // require-tls, mta-sts
  s.decisions[1][4] = 3;  // opportunistic, none
  s.decisions[2][1] = 1;  // defer, dane
  s.hits = 8;
  s.misses = 3;
  s.joined = 1;
  s.deadlines = 2;
  s.overloaded = 4;
  s.cached = 5;
  s.in_flight = 6;
  s.max_in_flight = 10000;
  s.store_queue = 9;
  s.resolver_mode = "validate";
  s.dns[0] = 11;  // secure
  s.dns[4] = 2;   // timeout
  s.fetches[0] = 3;
  s.fetches[4] = 1;
  s.fetch_buckets[1] = 2;   // ≤ 0.1 s
  s.fetch_buckets[4] = 1;   // ≤ 1 s
  s.fetch_buckets[10] = 1;  // > 60 s
  s.fetch_seconds = 61.25;
  s.policies_stored[0][0] = 2;  // new, enforce
  s.policies_stored[1][2] = 1;  // id_changed, none
  s.policies_expired = 4;
  s.store_errors[1] = 1;  // put
  s.policy_server.accepted = 20;
  s.policy_server.active = 3;
  s.policy_server.rejected_max_connections = 1;
  s.policy_server.requests = 100;
  s.policy_server.too_large = 2;
  s.policy_server.malformed = 3;
  s.policy_server.request_timeouts = 4;
  s.policy_server.idle_timeouts = 5;
  s.policy_server.output_overflows = 6;
  s.policy_server.accept_errors = 7;
  s.policy_server.internal_errors = 8;
  s.policy_server.aborted = 9;
  s.policy_server.late_replies = 10;
  s.metrics_server.accepted = 2;
  s.metrics_server.active = 1;
  s.metrics_server.requests = 2;
  s.tlsrpt_datagrams = 12;
  s.tlsrpt_malformed = 1;
  s.tlsrpt_report_ops = 2;
  s.tlsrpt_engine = 3;
  s.tlsrpt_store_errors = 4;
  s.tlsrpt_reports_made = 5;
  s.tlsrpt_reports_sent = 4;
  s.tlsrpt_reports_failed = 1;
  return s;
}

constexpr std::string_view k_expected =
    R"(# HELP tlspolicy_build_info Always 1; the version of the running daemon.
# TYPE tlspolicy_build_info gauge
tlspolicy_build_info{version="1.2.3"} 1
# HELP process_start_time_seconds Start time of the process since the Unix epoch, in seconds.
# TYPE process_start_time_seconds gauge
process_start_time_seconds 1765000000.5
# HELP process_resident_memory_bytes Resident memory size in bytes.
# TYPE process_resident_memory_bytes gauge
process_resident_memory_bytes 29000000
# HELP tlspolicy_decisions_total Decisions answered to clients (from memory or from a lookup, the defers of deadlines and overload included), by action and source.
# TYPE tlspolicy_decisions_total counter
tlspolicy_decisions_total{action="require-tls",source="local"} 0
tlspolicy_decisions_total{action="require-tls",source="dane"} 0
tlspolicy_decisions_total{action="require-tls",source="mta-sts"} 7
tlspolicy_decisions_total{action="require-tls",source="requiretls"} 0
tlspolicy_decisions_total{action="require-tls",source="none"} 0
tlspolicy_decisions_total{action="opportunistic",source="local"} 0
tlspolicy_decisions_total{action="opportunistic",source="dane"} 0
tlspolicy_decisions_total{action="opportunistic",source="mta-sts"} 0
tlspolicy_decisions_total{action="opportunistic",source="requiretls"} 0
tlspolicy_decisions_total{action="opportunistic",source="none"} 3
tlspolicy_decisions_total{action="defer",source="local"} 0
tlspolicy_decisions_total{action="defer",source="dane"} 1
tlspolicy_decisions_total{action="defer",source="mta-sts"} 0
tlspolicy_decisions_total{action="defer",source="requiretls"} 0
tlspolicy_decisions_total{action="defer",source="none"} 0
tlspolicy_decisions_total{action="bounce",source="local"} 0
tlspolicy_decisions_total{action="bounce",source="dane"} 0
tlspolicy_decisions_total{action="bounce",source="mta-sts"} 0
tlspolicy_decisions_total{action="bounce",source="requiretls"} 0
tlspolicy_decisions_total{action="bounce",source="none"} 0
# HELP tlspolicy_decision_cache_requests_total Decision requests by how they were served: hit (from memory), miss (started a lookup), joined (waited for a lookup of the same domain already running).
# TYPE tlspolicy_decision_cache_requests_total counter
tlspolicy_decision_cache_requests_total{result="hit"} 8
tlspolicy_decision_cache_requests_total{result="miss"} 3
tlspolicy_decision_cache_requests_total{result="joined"} 1
# HELP tlspolicy_decision_defers_total Defers answered without a decision: deadline (limits.decision_deadline passed), overload (limits.max_in_flight lookups running).
# TYPE tlspolicy_decision_defers_total counter
tlspolicy_decision_defers_total{reason="deadline"} 2
tlspolicy_decision_defers_total{reason="overload"} 4
# HELP tlspolicy_decisions_cached Decisions kept in memory now.
# TYPE tlspolicy_decisions_cached gauge
tlspolicy_decisions_cached 5
# HELP tlspolicy_lookups_in_flight Cold lookups running now.
# TYPE tlspolicy_lookups_in_flight gauge
tlspolicy_lookups_in_flight 6
# HELP tlspolicy_lookups_in_flight_limit limits.max_in_flight: cold lookups allowed at once.
# TYPE tlspolicy_lookups_in_flight_limit gauge
tlspolicy_lookups_in_flight_limit 10000
# HELP tlspolicy_store_queue_jobs Jobs queued or running on the store pool now (store calls, TLS-RPT results and delivery).
# TYPE tlspolicy_store_queue_jobs gauge
tlspolicy_store_queue_jobs 9
# HELP tlspolicy_dns_lookups_total DNS lookups by result: the DNSSEC state of an answer (secure, insecure, bogus, indeterminate) or the error (timeout, servfail, refused, network, malformed, other); mode is resolver.mode.
# TYPE tlspolicy_dns_lookups_total counter
tlspolicy_dns_lookups_total{mode="validate",result="secure"} 11
tlspolicy_dns_lookups_total{mode="validate",result="insecure"} 0
tlspolicy_dns_lookups_total{mode="validate",result="bogus"} 0
tlspolicy_dns_lookups_total{mode="validate",result="indeterminate"} 0
tlspolicy_dns_lookups_total{mode="validate",result="timeout"} 2
tlspolicy_dns_lookups_total{mode="validate",result="servfail"} 0
tlspolicy_dns_lookups_total{mode="validate",result="refused"} 0
tlspolicy_dns_lookups_total{mode="validate",result="network"} 0
tlspolicy_dns_lookups_total{mode="validate",result="malformed"} 0
tlspolicy_dns_lookups_total{mode="validate",result="other"} 0
# HELP tlspolicy_policy_fetches_total MTA-STS policy fetches (HTTPS GET) by result: ok (HTTP 200), http_status (any other status), or the transport error.
# TYPE tlspolicy_policy_fetches_total counter
tlspolicy_policy_fetches_total{result="ok"} 3
tlspolicy_policy_fetches_total{result="http_status"} 0
tlspolicy_policy_fetches_total{result="connect"} 0
tlspolicy_policy_fetches_total{result="tls"} 0
tlspolicy_policy_fetches_total{result="timeout"} 1
tlspolicy_policy_fetches_total{result="too_large"} 0
tlspolicy_policy_fetches_total{result="private_address"} 0
tlspolicy_policy_fetches_total{result="other"} 0
# HELP tlspolicy_policy_fetch_duration_seconds Duration of MTA-STS policy fetches, whatever their result.
# TYPE tlspolicy_policy_fetch_duration_seconds histogram
tlspolicy_policy_fetch_duration_seconds_bucket{le="0.05"} 0
tlspolicy_policy_fetch_duration_seconds_bucket{le="0.1"} 2
tlspolicy_policy_fetch_duration_seconds_bucket{le="0.25"} 2
tlspolicy_policy_fetch_duration_seconds_bucket{le="0.5"} 2
tlspolicy_policy_fetch_duration_seconds_bucket{le="1"} 3
tlspolicy_policy_fetch_duration_seconds_bucket{le="2.5"} 3
tlspolicy_policy_fetch_duration_seconds_bucket{le="5"} 3
tlspolicy_policy_fetch_duration_seconds_bucket{le="10"} 3
tlspolicy_policy_fetch_duration_seconds_bucket{le="30"} 3
tlspolicy_policy_fetch_duration_seconds_bucket{le="60"} 3
tlspolicy_policy_fetch_duration_seconds_bucket{le="+Inf"} 4
tlspolicy_policy_fetch_duration_seconds_sum 61.25
tlspolicy_policy_fetch_duration_seconds_count 4
# HELP tlspolicy_policies_stored_total MTA-STS policies fetched and stored, by change (new: none stored before, id_changed, same_id: a refresh) and mode.
# TYPE tlspolicy_policies_stored_total counter
tlspolicy_policies_stored_total{change="new",mode="enforce"} 2
tlspolicy_policies_stored_total{change="new",mode="testing"} 0
tlspolicy_policies_stored_total{change="new",mode="none"} 0
tlspolicy_policies_stored_total{change="id_changed",mode="enforce"} 0
tlspolicy_policies_stored_total{change="id_changed",mode="testing"} 0
tlspolicy_policies_stored_total{change="id_changed",mode="none"} 1
tlspolicy_policies_stored_total{change="same_id",mode="enforce"} 0
tlspolicy_policies_stored_total{change="same_id",mode="testing"} 0
tlspolicy_policies_stored_total{change="same_id",mode="none"} 0
# HELP tlspolicy_policies_expired_total Stored MTA-STS policies removed because their max_age passed.
# TYPE tlspolicy_policies_expired_total counter
tlspolicy_policies_expired_total 4
# HELP tlspolicy_store_errors_total Policy store operations that failed, by operation.
# TYPE tlspolicy_store_errors_total counter
tlspolicy_store_errors_total{op="get"} 0
tlspolicy_store_errors_total{op="put"} 1
tlspolicy_store_errors_total{op="remove"} 0
tlspolicy_store_errors_total{op="list"} 0
tlspolicy_store_errors_total{op="purge_expired"} 0
tlspolicy_store_errors_total{op="record_fetch_failure"} 0
tlspolicy_store_errors_total{op="last_fetch_failure"} 0
tlspolicy_store_errors_total{op="claim_fetch"} 0
# HELP tlspolicy_connections_accepted_total Client connections accepted.
# TYPE tlspolicy_connections_accepted_total counter
tlspolicy_connections_accepted_total{server="policy"} 20
tlspolicy_connections_accepted_total{server="metrics"} 2
# HELP tlspolicy_connections_active Client connections open now.
# TYPE tlspolicy_connections_active gauge
tlspolicy_connections_active{server="policy"} 3
tlspolicy_connections_active{server="metrics"} 1
# HELP tlspolicy_connections_rejected_total Connections closed at once because the connection limit was reached.
# TYPE tlspolicy_connections_rejected_total counter
tlspolicy_connections_rejected_total{server="policy"} 1
tlspolicy_connections_rejected_total{server="metrics"} 0
# HELP tlspolicy_requests_total Requests passed to a handler.
# TYPE tlspolicy_requests_total counter
tlspolicy_requests_total{server="policy"} 100
tlspolicy_requests_total{server="metrics"} 2
# HELP tlspolicy_limit_hits_total Requests or connections stopped by a limit, by limit.
# TYPE tlspolicy_limit_hits_total counter
tlspolicy_limit_hits_total{server="policy",limit="max_connections"} 1
tlspolicy_limit_hits_total{server="policy",limit="request_too_large"} 2
tlspolicy_limit_hits_total{server="policy",limit="malformed_request"} 3
tlspolicy_limit_hits_total{server="policy",limit="request_timeout"} 4
tlspolicy_limit_hits_total{server="policy",limit="idle_timeout"} 5
tlspolicy_limit_hits_total{server="policy",limit="output_overflow"} 6
tlspolicy_limit_hits_total{server="metrics",limit="max_connections"} 0
tlspolicy_limit_hits_total{server="metrics",limit="request_too_large"} 0
tlspolicy_limit_hits_total{server="metrics",limit="malformed_request"} 0
tlspolicy_limit_hits_total{server="metrics",limit="request_timeout"} 0
tlspolicy_limit_hits_total{server="metrics",limit="idle_timeout"} 0
tlspolicy_limit_hits_total{server="metrics",limit="output_overflow"} 0
# HELP tlspolicy_server_errors_total Connection and handler errors, by kind (accept: EMFILE and friends; aborted: the peer vanished; late_reply: a reply after its request timed out or its connection closed).
# TYPE tlspolicy_server_errors_total counter
tlspolicy_server_errors_total{server="policy",error="accept"} 7
tlspolicy_server_errors_total{server="policy",error="internal"} 8
tlspolicy_server_errors_total{server="policy",error="aborted"} 9
tlspolicy_server_errors_total{server="policy",error="late_reply"} 10
tlspolicy_server_errors_total{server="metrics",error="accept"} 0
tlspolicy_server_errors_total{server="metrics",error="internal"} 0
tlspolicy_server_errors_total{server="metrics",error="aborted"} 0
tlspolicy_server_errors_total{server="metrics",error="late_reply"} 0
# HELP tlspolicy_tlsrpt_datagrams_total libtlsrpt datagrams received.
# TYPE tlspolicy_tlsrpt_datagrams_total counter
tlspolicy_tlsrpt_datagrams_total 12
# HELP tlspolicy_tlsrpt_datagrams_malformed_total libtlsrpt datagrams dropped: unparsable or too large.
# TYPE tlspolicy_tlsrpt_datagrams_malformed_total counter
tlspolicy_tlsrpt_datagrams_malformed_total 1
# HELP tlspolicy_tlsrpt_results_total TLS-RPT result batches counted in the store, by origin (report_op: the JSON report op; engine: the daemon's own failures).
# TYPE tlspolicy_tlsrpt_results_total counter
tlspolicy_tlsrpt_results_total{origin="report_op"} 2
tlspolicy_tlsrpt_results_total{origin="engine"} 3
# HELP tlspolicy_tlsrpt_store_errors_total TLS-RPT results the store could not take (or dropped: store backlog).
# TYPE tlspolicy_tlsrpt_store_errors_total counter
tlspolicy_tlsrpt_store_errors_total 4
# HELP tlspolicy_tlsrpt_reports_total TLS-RPT reports by event: made (for a finished day), sent (delivered to at least one rua), failed (given up after 24 hours of retries).
# TYPE tlspolicy_tlsrpt_reports_total counter
tlspolicy_tlsrpt_reports_total{event="made"} 5
tlspolicy_tlsrpt_reports_total{event="sent"} 4
tlspolicy_tlsrpt_reports_total{event="failed"} 1
)";

TEST(MetricsText, ExactTextOfASnapshot) {
  const std::string got = render_metrics(sample_snapshot());
  EXPECT_EQ(got, k_expected);
}

TEST(MetricsText, ResidentMemoryLeftOutWhenUnknown) {
  auto s = sample_snapshot();
  s.resident_bytes = 0;
  EXPECT_EQ(render_metrics(s).find("process_resident_memory_bytes"), std::string::npos);
}

TEST(MetricsText, LabelValuesAreEscaped) {
  MetricsSnapshot s;
  s.version = "1\"\\\n";
  EXPECT_NE(render_metrics(s).find("tlspolicy_build_info{version=\"1\\\"\\\\\\n\"} 1\n"),
            std::string::npos);
}

TEST(HttpHead, LengthUpToTheEmptyLine) {
  EXPECT_EQ(http_head_length(""), 0U);
  EXPECT_EQ(http_head_length("GET /metrics HTTP/1.1\r\nHost: x\r\n"), 0U);
  EXPECT_EQ(http_head_length("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"), 34U);
  EXPECT_EQ(http_head_length("GET / HTTP/1.0\n\nbody"), 16U);
  EXPECT_EQ(http_head_length("GET / HTTP/1.0\r\n\r"), 0U);
}

TEST(HttpRequestParse, PrometheusScrape) {
  const std::string_view head =
      "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1:9100\r\nUser-Agent: Prometheus/2.42.0\r\n"
      "Accept: application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5\r\n"
      "Accept-Encoding: gzip\r\nX-Prometheus-Scrape-Timeout-Seconds: 10\r\n\r\n";
  const auto r = parse_http_request(head);
  EXPECT_EQ(r.status, 0);
  EXPECT_EQ(r.method, "GET");
  EXPECT_EQ(r.path, "/metrics");
}

TEST(HttpRequestParse, QueryIsIgnoredAndBareLfAccepted) {
  const auto r = parse_http_request("HEAD /metrics?x=1 HTTP/1.0\n\n");
  EXPECT_EQ(r.status, 0);
  EXPECT_EQ(r.method, "HEAD");
  EXPECT_EQ(r.path, "/metrics");
}

TEST(HttpRequestParse, MalformedHeadsAre400) {
  for (const std::string_view bad : {
           "\r\n\r\n",
           "GET\r\n\r\n",
           "GET /metrics\r\n\r\n",
           "GET  /metrics HTTP/1.1\r\n\r\n",
           "GET metrics HTTP/1.1\r\n\r\n",
           "G(T /metrics HTTP/1.1\r\n\r\n",
           "GET /met\x01rics HTTP/1.1\r\n\r\n",
           "GET /metrics HTTP/1.1 \r\n\r\n",
           "GET /metrics FTP/1.1\r\n\r\n",
           "GET /metrics HTTP/1.1\r\nHost x\r\n\r\n",
           "GET /metrics HTTP/1.1\r\nHost : x\r\n\r\n",
           "GET /metrics HTTP/1.1\r\n folded\r\n\r\n",
           "GET /metrics HTTP/1.1\r\nHost: a\x01z\r\n\r\n",
       }) {
    EXPECT_EQ(parse_http_request(bad).status, 400) << bad;
  }
}

TEST(HttpRequestParse, OtherVersionsAre505) {
  EXPECT_EQ(parse_http_request("GET /metrics HTTP/2.0\r\n\r\n").status, 505);
}

TEST(HttpRequestParse, TooManyHeadersAre400) {
  std::string head = "GET /metrics HTTP/1.1\r\n";
  for (std::size_t i = 0; i <= k_max_http_headers; ++i) head += "X-A: b\r\n";
  head += "\r\n";
  EXPECT_EQ(parse_http_request(head).status, 400);
}

std::string render_text() { return "a 1\n"; }

TEST(MetricsReply, GetMetrics) {
  EXPECT_EQ(metrics_reply(parse_http_request("GET /metrics HTTP/1.1\r\n\r\n"), render_text),
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n"
            "Content-Length: 4\r\nConnection: close\r\n\r\na 1\n");
}

TEST(MetricsReply, HeadHasNoBody) {
  EXPECT_EQ(metrics_reply(parse_http_request("HEAD /metrics HTTP/1.1\r\n\r\n"), render_text),
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n"
            "Content-Length: 4\r\nConnection: close\r\n\r\n");
}

TEST(MetricsReply, OtherPathIs404WithoutRendering) {
  bool rendered = false;
  const auto reply = metrics_reply(parse_http_request("GET / HTTP/1.1\r\n\r\n"), [&] {
    rendered = true;
    return std::string{};
  });
  EXPECT_FALSE(rendered);
  EXPECT_EQ(reply,
            "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: 24\r\n"
            "Connection: close\r\n\r\nnot found; try /metrics\n");
}

TEST(MetricsReply, OtherMethodIs405WithAllow) {
  EXPECT_EQ(metrics_reply(parse_http_request("POST /metrics HTTP/1.1\r\n\r\n"), render_text),
            "HTTP/1.1 405 Method Not Allowed\r\nContent-Type: text/plain\r\nContent-Length: 19\r\n"
            "Allow: GET, HEAD\r\nConnection: close\r\n\r\nmethod not allowed\n");
}

TEST(MetricsReply, BadRequestIs400) {
  EXPECT_EQ(metrics_reply(parse_http_request("garbage\r\n\r\n"), render_text),
            "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: 12\r\n"
            "Connection: close\r\n\r\nbad request\n");
}

}  // namespace
}  // namespace tlspolicy::proto
