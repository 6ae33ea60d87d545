// SPDX-License-Identifier: Apache-2.0
//
// Configuration generations (src/daemon/state.hpp): a generation that is no longer current
// retires on the engine loop, and only once nothing of it runs: a reload lets its lookups in
// flight finish and answer; shutdown() answers their waiters and cancels them. Real
// components (SQLite store in a temporary directory, the trust-ad resolver aimed at a UDP
// port that never answers), no network beyond loopback.
#include "state.hpp"

#include <atomic>
#include <chrono>
#include <filesystem>
#include <functional>
#include <thread>

#include <gtest/gtest.h>

#include "tlspolicy/config/settings.hpp"
#include "tlspolicy/fetch/https_fetcher.hpp"
#include "tlspolicy/server/listen.hpp"
#include "tlspolicy/server/server.hpp"
#include "tlspolicy/util/fd.hpp"

#include "metrics.hpp"
#include "support/testing.hpp"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

namespace tlspolicy::daemon {
namespace {

using namespace std::chrono_literals;
using testing::wait_until;

/// A UDP port on 127.0.0.1 that receives and never answers.
class SilentUdpPort {
 public:
  SilentUdpPort() : m_fd(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (::bind(m_fd.get(), reinterpret_cast<sockaddr*>(&a), len) == 0 &&
        ::getsockname(m_fd.get(), reinterpret_cast<sockaddr*>(&a), &len) == 0) {
      m_port = ntohs(a.sin_port);
    }
  }
  [[nodiscard]] std::uint16_t port() const { return m_port; }

 private:
  util::Fd m_fd;
  std::uint16_t m_port = 0;
};

class Generations : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { s_curl = std::make_unique<fetch::CurlGlobal>(); }
  static void TearDownTestSuite() { s_curl.reset(); }

  void SetUp() override { ASSERT_NE(dns.port(), 0); }

  config::Settings settings() {
    auto loaded = config::load_config_text(
        "", {"store.path=" + (dir.path() / "policies.sqlite").string(), "resolver.mode=trust-ad",
             "resolver.servers=[\"127.0.0.1@" + std::to_string(dns.port()) + "\"]",
             "resolver.timeout=60s", "resolver.attempts=1", "tlsrpt.enabled=false"});
    EXPECT_TRUE(loaded) << loaded.error().detail;
    return loaded->settings;
  }

  /// A cold decision on the current generation; `answer` receives its reply.
  void decide_cold(std::function<void(service::DecisionPtr)> answer) {
    ctx.state()->service->decide(
        policy::DecideRequest{*dns::DomainName::parse("example.test"), false}, std::move(answer));
  }

  static inline std::unique_ptr<fetch::CurlGlobal> s_curl;
  testing::TempDir dir;
  SilentUdpPort dns;
  event::LoopThread engine{"test-loop"};
  event::ThreadPool pool{engine.loop(), 1, "test-store"};
  Context ctx{engine.loop(), pool, util::null_logger()};
};

TEST_F(Generations, UnusedGenerationRetiresAtOnce) {
  auto first = build_state(settings(), ctx);
  ASSERT_TRUE(first) << first.error().detail;
  ctx.set_state(std::move(*first));
  auto second = build_state(settings(), ctx);
  ASSERT_TRUE(second) << second.error().detail;
  EXPECT_EQ(ctx.generations.load(), 2);
  ctx.set_state(std::move(*second));  // a reload: the first is no longer referenced
  EXPECT_TRUE(wait_until([&] { return ctx.generations.load() == 1; }));
  ctx.set_state(nullptr);
  EXPECT_TRUE(wait_until([&] { return ctx.generations.load() == 0; }));
}

// A reload lets the old generation's lookups finish: it stays until they end.
TEST_F(Generations, ReloadKeepsTheOldGenerationUntilItsLookupsEnd) {
  auto first = build_state(settings(), ctx);
  ASSERT_TRUE(first) << first.error().detail;
  ctx.set_state(std::move(*first));
  std::atomic<int> answers{0};
  service::DecisionPtr answer;
  decide_cold([&](service::DecisionPtr d) {
    answer = std::move(d);
    ++answers;
  });
  ASSERT_TRUE(wait_until([&] { return ctx.state()->service->stats().in_flight == 1; }));
  auto second = build_state(settings(), ctx);
  ASSERT_TRUE(second) << second.error().detail;
  ctx.set_state(std::move(*second));
  std::this_thread::sleep_for(200ms);
  EXPECT_EQ(ctx.generations.load(), 2);  // the lookup waits for the silent server
  EXPECT_EQ(answers.load(), 0);
  // Shutdown: every generation answers its waiters and cancels its lookups.
  ctx.set_state(nullptr);
  engine.call([&] { shutdown(ctx); });
  ASSERT_TRUE(wait_until([&] { return ctx.generations.load() == 0; }));
  ASSERT_EQ(answers.load(), 1);
  EXPECT_EQ(answer->action, policy::Action::Defer);
  EXPECT_TRUE(answer->postfix.starts_with("TEMP ")) << answer->postfix;
}

// The metrics listener reads what the engine loop and the server write, from its own thread:
// a cold lookup shows in flight, its defer at shutdown is counted, and a reload resets no
// counter (Context::instruments).
TEST_F(Generations, MetricsScrapeSeesLookupsAndCountsAcrossReloads) {
  auto first = build_state(settings(), ctx);
  ASSERT_TRUE(first) << first.error().detail;
  ctx.set_state(std::move(*first));
  server::Server policy{server::ServerOptions{}, util::null_logger()};
  auto fd = server::listen_endpoint("127.0.0.1:0");
  ASSERT_TRUE(fd) << fd.error().detail;
  auto port = server::bound_port(*fd);
  ASSERT_TRUE(port);
  MetricsListener metrics{std::move(*fd), ctx, policy, util::null_logger()};
  const auto scrape = [&] {
    util::Fd sock{::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)};
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(*port);
    if (::connect(sock.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) return std::string{};
    const std::string_view request = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
    if (::send(sock.get(), request.data(), request.size(), MSG_NOSIGNAL) < 0) return std::string{};
    std::string reply;
    char buf[4096];
    for (ssize_t n; (n = ::recv(sock.get(), buf, sizeof buf, 0)) > 0;) {
      reply.append(buf, static_cast<std::size_t>(n));
    }
    return reply;
  };
  std::atomic<int> answers{0};
  decide_cold([&](service::DecisionPtr) { ++answers; });
  ASSERT_TRUE(wait_until([&] { return ctx.state()->service->stats().in_flight == 1; }));
  const auto during = scrape();
  EXPECT_TRUE(during.starts_with("HTTP/1.1 200 OK\r\n")) << during.substr(0, 80);
  EXPECT_NE(during.find("\ntlspolicy_lookups_in_flight 1\n"), std::string::npos);
  EXPECT_NE(during.find("\ntlspolicy_decision_cache_requests_total{result=\"miss\"} 1\n"),
            std::string::npos);
  // A reload, then shutdown: the first generation's waiter gets its defer.
  auto second = build_state(settings(), ctx);
  ASSERT_TRUE(second) << second.error().detail;
  ctx.set_state(std::move(*second));
  engine.call([&] { shutdown(ctx); });
  ASSERT_TRUE(wait_until([&] { return answers.load() == 1; }));
  const auto after = scrape();
  EXPECT_NE(after.find("\ntlspolicy_decisions_total{action=\"defer\",source=\"none\"} 1\n"),
            std::string::npos)
      << after;
  EXPECT_NE(after.find("\ntlspolicy_decision_cache_requests_total{result=\"miss\"} 1\n"),
            std::string::npos);
  EXPECT_NE(after.find("tlspolicy_connections_accepted_total{server=\"metrics\"} 2\n"),
            std::string::npos);
  metrics.stop();
  ctx.set_state(nullptr);
  ASSERT_TRUE(wait_until([&] { return ctx.generations.load() == 0; }));
}

}  // namespace
}  // namespace tlspolicy::daemon
