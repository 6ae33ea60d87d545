// SPDX-License-Identifier: Apache-2.0
//
// The admin commands (cache …, stats, lookup --socket) against a fake daemon:
// a Unix socket served by a thread that answers one request line with a
// canned response line. Checks the request sent, the output and the exit
// statuses, including "daemon not running" → 69.
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "commands.hpp"
#include "run_cli.hpp"
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

namespace tlspolicy::cli {
namespace {

using testing::run_cli;

// Accepts one connection per reply, in turn; records each request line, answers its reply
// + "\n".
class FakeDaemon {
 public:
  explicit FakeDaemon(std::string reply) : FakeDaemon(std::vector<std::string>{std::move(reply)}) {}
  explicit FakeDaemon(std::vector<std::string> replies) : m_replies(std::move(replies)) {
    m_path = (std::filesystem::temp_directory_path() /
              ("tlspolicy-admin-test-" + std::to_string(::getpid()) + ".sock"))
                 .string();
    ::unlink(m_path.c_str());
    m_fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    std::strncpy(sa.sun_path, m_path.c_str(), sizeof(sa.sun_path) - 1);
    // NOLINTNEXTLINE(cppcoreguidelines-pro-type-reinterpret-cast): the sockets API
    EXPECT_EQ(::bind(m_fd, reinterpret_cast<const sockaddr*>(&sa), sizeof(sa)), 0);
    EXPECT_EQ(::listen(m_fd, 1), 0);
    m_thread = std::thread([this] { serve(); });
  }
  ~FakeDaemon() {
    ::shutdown(m_fd, SHUT_RDWR);
    m_thread.join();
    ::close(m_fd);
    ::unlink(m_path.c_str());
  }
  FakeDaemon(const FakeDaemon&) = delete;
  FakeDaemon& operator=(const FakeDaemon&) = delete;

  [[nodiscard]] const char* path() const { return m_path.c_str(); }
  /// The first request line received (valid after the CLI has returned).
  [[nodiscard]] std::string request() { return requests().front(); }
  /// Every request line received, in order (valid after the CLI has returned).
  [[nodiscard]] std::vector<std::string> requests() {
    m_thread.join();
    m_thread = std::thread([] {});
    if (m_requests.empty()) m_requests.emplace_back();
    return m_requests;
  }

 private:
  void serve() {
    for (const auto& reply : m_replies) {
      const int c = ::accept(m_fd, nullptr, nullptr);
      if (c < 0) return;
      std::string request;
      char buf[4096];
      for (;;) {
        const auto n = ::read(c, buf, sizeof(buf));
        if (n <= 0) break;
        request.append(buf, static_cast<std::size_t>(n));
        if (request.find('\n') != std::string::npos) break;
      }
      if (!request.empty() && request.back() == '\n') request.pop_back();
      m_requests.push_back(std::move(request));
      const std::string out = reply + "\n";
      (void)::write(c, out.data(), out.size());
      ::close(c);
    }
  }

  std::vector<std::string> m_replies;
  std::string m_path;
  std::vector<std::string> m_requests;
  int m_fd = -1;
  std::thread m_thread;
};

constexpr const char* k_entry =
    R"({"domain":"example.com","id":"2024a","mode":"enforce","max_age":86400,)"
    R"("mx":["mx1.example.com","*.example.net"],"fetched_at":"2026-01-01T00:00:00Z",)"
    R"("expires_at":"2026-01-02T00:00:00Z","policy_text":"version: STSv1\r\nmode: enforce\r\n"})";

TEST(AdminCli, DaemonNotRunningIsUnavailable) {
  const auto r = run_cli({"cache", "list", "--socket", "/nonexistent/tlspolicy/admin.sock"});
  EXPECT_EQ(r.rc, k_exit_unavailable);
  EXPECT_NE(r.err.find("daemon not reachable"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("/nonexistent/tlspolicy/admin.sock"), std::string::npos) << r.err;
  EXPECT_EQ(run_cli({"stats", "--socket", "unix:/nonexistent/a.sock"}).rc, k_exit_unavailable);
  EXPECT_EQ(run_cli({"lookup", "example.com", "--socket", "/nonexistent/j.sock"}).rc,
            k_exit_unavailable);
}

TEST(AdminCli, DefaultSocketComesFromSettings) {
  const auto r = run_cli({"--set", "server.admin=unix:/nonexistent/from-settings.sock", "stats"});
  EXPECT_EQ(r.rc, k_exit_unavailable);
  EXPECT_NE(r.err.find("/nonexistent/from-settings.sock"), std::string::npos) << r.err;
}

TEST(AdminCli, UsageErrors) {
  EXPECT_EQ(run_cli({"cache"}).rc, k_exit_usage);
  EXPECT_EQ(run_cli({"cache", "show"}).rc, k_exit_usage);
  EXPECT_EQ(run_cli({"cache", "refresh"}).rc, k_exit_usage);
  EXPECT_EQ(run_cli({"cache", "frobnicate"}).rc, k_exit_usage);
  EXPECT_EQ(run_cli({"cache", "show", "bad..domain", "--socket", "/nonexistent"}).rc,
            k_exit_dataerr);
}

TEST(AdminCli, ListHumanAndJson) {
  const std::string reply = std::string{R"({"status":"ok","entries":[)"} + k_entry + "]}";
  {
    FakeDaemon d{reply};
    const auto r = run_cli({"cache", "list", "--socket", d.path()});
    EXPECT_EQ(d.request(), R"({"op":"cache.list"})");
    ASSERT_EQ(r.rc, k_exit_ok) << r.err;
    EXPECT_NE(r.out.find("example.com  enforce  id 2024a  max_age 86400s  expires "
                         "2026-01-02T00:00:00Z (expired)  mx mx1.example.com,*.example.net"),
              std::string::npos)
        << r.out;
  }
  {
    FakeDaemon d{reply};
    const auto r = run_cli({"cache", "list", "EXAMPLE.com.", "--json", "--socket", d.path()});
    EXPECT_EQ(d.request(), R"({"op":"cache.list","domain":"example.com"})");
    ASSERT_EQ(r.rc, k_exit_ok) << r.err;
    EXPECT_EQ(r.out, std::string{"["} + k_entry + "]\n");
  }
}

TEST(AdminCli, ShowPrintsPolicyText) {
  FakeDaemon d{std::string{R"({"status":"ok","entry":)"} + k_entry + "}"};
  const auto r = run_cli({"cache", "show", "example.com", "--socket", d.path()});
  EXPECT_EQ(d.request(), R"({"op":"cache.show","domain":"example.com"})");
  ASSERT_EQ(r.rc, k_exit_ok) << r.err;
  EXPECT_NE(r.out.find("id:         2024a\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("mx:         *.example.net\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("policy:\n  version: STSv1\n  mode: enforce\n"), std::string::npos) << r.out;
}

TEST(AdminCli, ShowNotFound) {
  FakeDaemon d{
      R"({"status":"error","error":{"code":"not-found","message":"no stored MTA-STS policy for x.test"}})"};
  const auto r = run_cli({"cache", "show", "x.test", "--socket", d.path()});
  EXPECT_EQ(r.rc, k_exit_noinput);
  EXPECT_NE(r.err.find("no stored MTA-STS policy for x.test"), std::string::npos) << r.err;
  EXPECT_TRUE(r.out.empty());
}

TEST(AdminCli, PurgeOneAndAll) {
  {
    FakeDaemon d{R"({"status":"ok","removed":1})"};
    const auto r = run_cli({"cache", "purge", "example.com", "--socket", d.path()});
    EXPECT_EQ(d.request(), R"({"op":"cache.purge","domain":"example.com"})");
    EXPECT_EQ(r.rc, k_exit_ok);
    EXPECT_NE(r.out.find("removed 1 stored policy"), std::string::npos) << r.out;
  }
  {
    FakeDaemon d{R"({"status":"ok","removed":3})"};
    const auto r = run_cli({"cache", "purge", "--socket", d.path()});
    EXPECT_EQ(d.request(), R"({"op":"cache.purge"})");
    EXPECT_EQ(r.rc, k_exit_ok);
    EXPECT_NE(r.out.find("removed 3 stored policies"), std::string::npos) << r.out;
  }
}

TEST(AdminCli, RefreshFailureIsTempfail) {
  FakeDaemon d{
      R"({"status":"error","error":{"code":"fetch-failed","message":"no new policy; the stored policy is kept"}})"};
  const auto r = run_cli({"cache", "refresh", "example.com", "--socket", d.path()});
  EXPECT_EQ(d.request(), R"({"op":"cache.refresh","domain":"example.com"})");
  EXPECT_EQ(r.rc, k_exit_tempfail);
  EXPECT_NE(r.err.find("the stored policy is kept"), std::string::npos) << r.err;
}

TEST(AdminCli, RefreshShowsNewPolicy) {
  FakeDaemon d{
      R"({"status":"ok","mta_sts":{"id":"2025b","mode":"testing","mx":["mx.example.com"],)"
      R"("max_age":600,"fetched_at":"2026-01-01T00:00:00Z","expires_at":"2026-01-01T00:10:00Z",)"
      R"("from_cache":true}})"};
  const auto r = run_cli({"cache", "refresh", "example.com", "--socket", d.path()});
  ASSERT_EQ(r.rc, k_exit_ok) << r.err;
  EXPECT_NE(r.out.find("id: 2025b\nmode: testing\n"), std::string::npos) << r.out;
}

TEST(AdminCli, ExportPrintsTheArray) {
  FakeDaemon d{std::string{R"({"status":"ok","entries":[)"} + k_entry + "]}"};
  const auto r = run_cli({"cache", "export", "--socket", d.path()});
  EXPECT_EQ(d.request(), R"({"op":"cache.export"})");
  ASSERT_EQ(r.rc, k_exit_ok) << r.err;
  EXPECT_EQ(r.out, std::string{"["} + k_entry + "]\n");
}

constexpr const char* k_stats =
    R"({"status":"ok","stats":{"decisions":{"hits":4,"misses":2},"requests":9}})";

TEST(AdminCli, StatsCountersFlattened) {
  FakeDaemon d{k_stats};
  const auto r = run_cli({"stats", "--counters", "--socket", d.path()});
  EXPECT_EQ(d.request(), R"({"op":"stats"})");
  ASSERT_EQ(r.rc, k_exit_ok) << r.err;
  EXPECT_EQ(r.out, "decisions.hits: 4\ndecisions.misses: 2\nrequests: 9\n");
}

TEST(AdminCli, StatsJsonIsThePayloadOnly) {
  FakeDaemon d{k_stats};
  const auto r = run_cli({"stats", "--json", "--socket", d.path()});
  EXPECT_EQ(d.requests(), std::vector<std::string>{R"({"op":"stats"})"});
  ASSERT_EQ(r.rc, k_exit_ok) << r.err;
  EXPECT_EQ(r.out, R"({"decisions":{"hits":4,"misses":2},"requests":9})"
                   "\n");
}

TEST(AdminCli, StatsSummaryAboveTheCounters) {
  FakeDaemon d{std::vector<std::string>{
      k_stats,
      R"({"status":"ok","summary":{"now":"2026-12-06T15:00:00Z","node":"mx1",)"
      R"("store":{"backend":"sqlite","healthy":true},"decisions":{"cached":2,)"
      R"("by_action":[{"action":"require-tls","count":2}]},"policies":{"stored":0},)"
      R"("tlsrpt":{"enabled":true,"send":true,"since":"2026-12-05T00:00:00Z",)"
      R"("failure_domains":1,"failures":[{"domain":"a.example","failures":3,"successes":0,)"
      R"("result_types":[{"type":"certificate-expired","count":3}]}],)"
      R"("reports":{"pending":0,"next_attempt_at":null,"next_made_at":"2026-12-07T00:00:00Z"}}}})"}};
  const auto r = run_cli({"stats", "--socket", d.path()});
  EXPECT_EQ(d.requests(), (std::vector<std::string>{R"({"op":"stats"})", R"({"op":"status"})"}));
  ASSERT_EQ(r.rc, k_exit_ok) << r.err;
  EXPECT_EQ(r.out,
            "node:       mx1, at 2026-12-06T15:00:00Z\n"
            "store:      sqlite, healthy\n"
            "decisions:  2 in memory (2 require-tls)\n"
            "policies:   0 stored MTA-STS policies, 0 expiring within a day\n"
            "failures:   1 domain with TLS-RPT failures since 2026-12-05T00:00:00Z (1d15h ago)\n"
            "  a.example  3 failed, 0 ok  (3 certificate-expired)\n"
            "reports:    0 pending, 0 failed, 0 sent, 0 skipped\n"
            "next made:  2026-12-07T00:00:00Z (in 9h), the reports of 2026-12-06\n"
            "next send:  nothing pending\n"
            "counters:\n"
            "decisions.hits: 4\ndecisions.misses: 2\nrequests: 9\n");
}

TEST(AdminCli, StatsWithoutSummaryStillShowsTheCounters) {
  FakeDaemon d{std::vector<std::string>{
      k_stats,
      R"({"status":"error","error":{"code":"unknown-op","message":"unknown op \"status\""}})"}};
  const auto r = run_cli({"stats", "--socket", d.path()});
  ASSERT_EQ(r.rc, k_exit_ok) << r.err;
  EXPECT_EQ(r.out, "decisions.hits: 4\ndecisions.misses: 2\nrequests: 9\n");
  EXPECT_NE(r.err.find("no summary from the daemon"), std::string::npos) << r.err;
}

TEST(AdminCli, AdminOnlyMeansWrongSocket) {
  FakeDaemon d{
      R"({"status":"error","error":{"code":"admin-only","message":"stats is served on the admin socket only"}})"};
  const auto r = run_cli({"stats", "--socket", d.path()});
  EXPECT_EQ(r.rc, k_exit_usage);
  EXPECT_NE(r.err.find("not the admin socket"), std::string::npos) << r.err;
}

TEST(AdminCli, GarbageAnswerIsSoftwareError) {
  FakeDaemon d{"this is not json"};
  EXPECT_EQ(run_cli({"stats", "--socket", d.path()}).rc, k_exit_software);
}

constexpr const char* k_decision =
    R"({"domain":"example.com","action":"require-tls","verify":"pkix","source":"mta-sts",)"
    R"("mx":[{"host":"mx1.example.com","preference":10,"allowed":true,"verify":"pkix","tlsa":[]}],)"
    R"("mta_sts":{"id":"2024a","mode":"enforce","mx":["mx1.example.com"],"max_age":86400,)"
    R"("fetched_at":"2026-01-01T00:00:00Z","expires_at":"2026-01-02T00:00:00Z","from_cache":true},)"
    R"("dnssec":"insecure","requiretls":{"requested":false,"satisfiable":false,)"
    R"("peer_must_advertise":false},"tlsrpt":null,"postfix":"OK secure match=mx1.example.com )"
    R"(servername=hostname","reason":"enforce","ttl":60})";

TEST(LookupSocket, JsonIsTheDecisionObject) {
  FakeDaemon d{std::string{R"({"status":"ok","decision":)"} + k_decision + "}"};
  const auto r = run_cli({"lookup", "Example.COM", "--json", "--requiretls", "--socket", d.path()});
  EXPECT_EQ(d.request(), R"({"op":"decide","domain":"example.com","requiretls":true})");
  ASSERT_EQ(r.rc, k_exit_ok) << r.err;
  EXPECT_EQ(r.out, std::string{k_decision} + "\n");
}

TEST(LookupSocket, SummaryAndDefer) {
  {
    FakeDaemon d{std::string{R"({"status":"ok","decision":)"} + k_decision + "}"};
    const auto r = run_cli({"lookup", "example.com", "--socket", d.path()});
    ASSERT_EQ(r.rc, k_exit_ok) << r.err;
    EXPECT_NE(r.out.find("action:   require-tls (verify pkix, source mta-sts)"), std::string::npos)
        << r.out;
    EXPECT_NE(r.out.find("mta-sts:  id 2024a, mode enforce, max_age 86400s, fetched "
                         "2026-01-01T00:00:00Z, expires 2026-01-02T00:00:00Z (from cache)"),
              std::string::npos)
        << r.out;
  }
  {
    std::string deferred{k_decision};
    deferred.replace(deferred.find("require-tls"), 11, "defer");
    FakeDaemon d{std::string{R"({"status":"ok","decision":)"} + deferred + "}"};
    EXPECT_EQ(run_cli({"lookup", "example.com", "--socket", d.path()}).rc, k_exit_tempfail);
  }
}

}  // namespace
}  // namespace tlspolicy::cli
