// SPDX-License-Identifier: Apache-2.0
//
// The trust-ad resolver (src/dns/stub_resolver.cpp) against a real DNS server
// on loopback: ldns-testns (ldnsutils) serves the scripted replies of
// tests/integration/env/testns/trust_ad_resolver.testns, so the wire format,
// UDP timeouts and the TCP retry after TC all run for real. Skips when
// ldns-testns is not installed.
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "tlspolicy/dns/resolver.hpp"
#include "tlspolicy/event/loop.hpp"
#include "tlspolicy/event/task.hpp"

#include "support/testing.hpp"
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace tlspolicy::dns {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

// Timeout for the cases that must time out. The others get a generous one, so
// a loaded CI machine does not turn a slow answer into a failure.
constexpr auto k_timeout = 300ms;
constexpr auto k_generous_timeout = 3000ms;

std::optional<fs::path> find_program(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::stringstream dirs{path != nullptr ? path : "/usr/bin:/bin"};
  for (std::string dir; std::getline(dirs, dir, ':');) {
    const fs::path candidate = fs::path{dir.empty() ? "." : dir} / name;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return std::nullopt;
}

std::string read_file(const fs::path& p) {
  std::ifstream in{p};
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool tcp_port_open(std::uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return false;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const bool ok = ::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0;
  ::close(fd);
  return ok;
}

using testing::TempDir;

/// One ldns-testns process on a random loopback port; killed on destruction.
class TestnsServer {
 public:
  TestnsServer() = default;
  TestnsServer(const TestnsServer&) = delete;
  TestnsServer& operator=(const TestnsServer&) = delete;
  ~TestnsServer() { stop(); }

  /// Starts `program -p PORT datafile` on a free loopback port and waits
  /// until it listens; "" or the reason it did not start. (ldns-testns -r
  /// picks its own port but fails with "bind(): Invalid argument" when that
  /// port is taken, so the port is picked here and a clash is retried.)
  std::string start(const fs::path& program, const fs::path& datafile, const fs::path& log) {
    constexpr int k_tries = 5;
    std::string why;
    for (int i = 0; i < k_tries; ++i) {
      const std::uint16_t port = free_port();
      if (port == 0) return "no free loopback port for UDP and TCP";
      why = start_on(program, datafile, log, port);
      if (why.empty()) return why;
    }
    return why;
  }

  void stop() {
    if (m_pid <= 0) return;
    ::kill(m_pid, SIGTERM);
    int status = 0;
    ::waitpid(m_pid, &status, 0);
    m_pid = -1;
  }

  [[nodiscard]] std::uint16_t port() const { return m_port; }
  [[nodiscard]] std::string log() const { return read_file(m_log); }

 private:
  /// A port that is free on 127.0.0.1 for UDP and TCP at the time of asking.
  static std::uint16_t free_port() {
    for (int i = 0; i < 20; ++i) {
      const int udp = ::socket(AF_INET, SOCK_DGRAM, 0);
      const int tcp = ::socket(AF_INET, SOCK_STREAM, 0);
      sockaddr_in addr{};
      addr.sin_family = AF_INET;
      addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      socklen_t len = sizeof addr;
      std::uint16_t port = 0;
      if (udp >= 0 && tcp >= 0 &&
          ::bind(udp, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0 &&
          ::getsockname(udp, reinterpret_cast<sockaddr*>(&addr), &len) == 0 &&
          ::bind(tcp, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0) {
        port = ntohs(addr.sin_port);
      }
      if (udp >= 0) ::close(udp);
      if (tcp >= 0) ::close(tcp);
      if (port != 0) return port;
    }
    return 0;
  }

  std::string start_on(const fs::path& program, const fs::path& datafile, const fs::path& log,
                       std::uint16_t port) {
    m_log = log;
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, log.c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
    std::string arg0 = "ldns-testns";
    std::string arg1 = "-p";
    std::string arg2 = std::to_string(port);
    std::string arg3 = datafile.string();
    char* argv[] = {arg0.data(), arg1.data(), arg2.data(), arg3.data(), nullptr};
    const int rc = ::posix_spawn(&m_pid, program.c_str(), &actions, nullptr, argv, environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) {
      m_pid = -1;
      return "posix_spawn " + program.string() + " failed: " + std::strerror(rc);
    }
    // Poll: ldns-testns prints "Listening on port N" once its sockets are
    // bound; then a TCP connect must succeed.
    const std::string listening = "Listening on port " + std::to_string(port);
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (std::chrono::steady_clock::now() < deadline) {
      int status = 0;
      if (::waitpid(m_pid, &status, WNOHANG) == m_pid) {
        m_pid = -1;
        return "ldns-testns exited early:\n" + read_file(m_log);
      }
      if (read_file(m_log).find(listening) != std::string::npos && tcp_port_open(port)) {
        m_port = port;
        return {};
      }
      std::this_thread::sleep_for(20ms);
    }
    stop();
    return "ldns-testns did not start listening within 10 s:\n" + read_file(m_log);
  }

  pid_t m_pid = -1;
  std::uint16_t m_port = 0;
  fs::path m_log;
};

/// A UDP socket that is bound but never answers: the "server" that times out.
class SilentUdpPort {
 public:
  SilentUdpPort() {
    m_fd = ::socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (m_fd >= 0 && ::bind(m_fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0 &&
        ::getsockname(m_fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
      m_port = ntohs(addr.sin_port);
    }
  }
  ~SilentUdpPort() {
    if (m_fd >= 0) ::close(m_fd);
  }
  SilentUdpPort(const SilentUdpPort&) = delete;
  SilentUdpPort& operator=(const SilentUdpPort&) = delete;
  [[nodiscard]] std::uint16_t port() const { return m_port; }

 private:
  int m_fd = -1;
  std::uint16_t m_port = 0;
};

DomainName name(std::string_view text) { return tlspolicy::testing::query_name(text); }

class TrustAdResolver : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto program = find_program("ldns-testns");
    if (!program) GTEST_SKIP() << "ldns-testns not found in PATH (Debian package ldnsutils)";
    ASSERT_FALSE(m_dir.path().empty()) << "mkdtemp failed";
    const fs::path source =
        fs::path{TLSPOLICY_SOURCE_DIR} / "tests/integration/env/testns/trust_ad_resolver.testns";
    const fs::path datafile = m_dir.path() / "replies.testns";
    fs::copy_file(source, datafile);
    const std::string why = m_server.start(*program, datafile, m_dir.path() / "testns.log");
    ASSERT_TRUE(why.empty()) << why;
    m_resolver = make({ServerAddress{"127.0.0.1", m_server.port()}}, k_generous_timeout);
  }

  void TearDown() override {
    m_server.stop();
    if (HasFailure()) std::cerr << "ldns-testns log:\n" << m_server.log();
  }

  std::unique_ptr<Resolver> make(std::vector<ServerAddress> servers,
                                 std::chrono::milliseconds timeout) {
    ResolverOptions options;
    options.servers = std::move(servers);
    options.timeout = timeout;
    options.attempts = 1;
    auto r = make_trust_ad_resolver(m_loop, options);
    EXPECT_TRUE(r) << r.error().detail;
    return r ? std::move(*r) : nullptr;
  }

  Result<DnsAnswer> lookup(const char* qname, RrType type) {
    return lookup(*m_resolver, qname, type);
  }
  Result<DnsAnswer> lookup(Resolver& r, const char* qname, RrType type) {
    return event::sync_wait(dns::lookup(r, name(qname), type), &m_loop);
  }

  event::Loop m_loop;  ///< before the resolvers, which use it
  TempDir m_dir;
  TestnsServer m_server;
  std::unique_ptr<Resolver> m_resolver;
};

TEST_F(TrustAdResolver, MxWithAdIsSecure) {
  const auto got = lookup("secure.test", RrType::Mx);
  ASSERT_TRUE(got) << got.error().detail;
  EXPECT_EQ(got->qname, "secure.test");
  EXPECT_EQ(got->qtype, RrType::Mx);
  EXPECT_EQ(got->outcome, Outcome::Data);
  EXPECT_EQ(got->security, Security::Secure);
  EXPECT_EQ(got->ttl, 200s);
  EXPECT_EQ(got->canonical_name, "");
  const std::vector<MxRecord> want{{10, "mx1.secure.test"}, {20, "mx2.secure.test"}};
  EXPECT_EQ(got->mx, want);
}

TEST_F(TrustAdResolver, MxWithoutAdIsInsecure) {
  const auto got = lookup("insecure.test", RrType::Mx);
  ASSERT_TRUE(got) << got.error().detail;
  EXPECT_EQ(got->outcome, Outcome::Data);
  EXPECT_EQ(got->security, Security::Insecure);
  EXPECT_EQ(got->ttl, 3600s);
  ASSERT_EQ(got->mx.size(), 1U);
  EXPECT_EQ(got->mx[0].exchange, "mx.insecure.test");
}

TEST_F(TrustAdResolver, NullMxHasEmptyExchange) {
  const auto got = lookup("nullmx.test", RrType::Mx);
  ASSERT_TRUE(got) << got.error().detail;
  const std::vector<MxRecord> want{{0, ""}};
  EXPECT_EQ(got->mx, want);
}

TEST_F(TrustAdResolver, TxtKeepsCharacterStringsSeparate) {
  const auto got = lookup("_mta-sts.txt.test", RrType::Txt);
  ASSERT_TRUE(got) << got.error().detail;
  EXPECT_EQ(got->outcome, Outcome::Data);
  ASSERT_EQ(got->txt.size(), 2U);
  const std::vector<std::string> want{"v=STSv1; id=2024", "0101T000000;"};
  EXPECT_EQ(got->txt[0].strings, want);
  EXPECT_EQ(got->txt[0].joined(), "v=STSv1; id=20240101T000000;");
  EXPECT_EQ(got->txt[1].strings, std::vector<std::string>{"unrelated"});
}

TEST_F(TrustAdResolver, NxDomainCarriesNegativeTtl) {
  const auto got = lookup("nx.test", RrType::A);
  ASSERT_TRUE(got) << got.error().detail;
  EXPECT_EQ(got->outcome, Outcome::NxDomain);
  EXPECT_EQ(got->security, Security::Secure);
  EXPECT_EQ(got->ttl, 60s);
  EXPECT_TRUE(got->addresses.empty());
}

TEST_F(TrustAdResolver, NoDataUsesSoaTtlWhenSmallerThanMinimum) {
  const auto got = lookup("nodata.test", RrType::Aaaa);
  ASSERT_TRUE(got) << got.error().detail;
  EXPECT_EQ(got->outcome, Outcome::NoData);
  EXPECT_EQ(got->security, Security::Insecure);
  EXPECT_EQ(got->ttl, 30s);
}

TEST_F(TrustAdResolver, NoDataWithoutSoaHasZeroTtl) {
  const auto got = lookup("nosoa.test", RrType::Mx);
  ASSERT_TRUE(got) << got.error().detail;
  EXPECT_EQ(got->outcome, Outcome::NoData);
  EXPECT_EQ(got->ttl, 0s);
}

TEST_F(TrustAdResolver, ServfailIsTransientError) {
  const auto got = lookup("servfail.test", RrType::Mx);
  ASSERT_FALSE(got) << "got an answer, want DnsServfail";
  EXPECT_EQ(got.error().code, Errc::DnsServfail) << got.error().detail;
  EXPECT_EQ(got.error().retry, Retry::Transient);
}

TEST_F(TrustAdResolver, RefusedIsTransientError) {
  const auto got = lookup("refused.test", RrType::Mx);
  ASSERT_FALSE(got) << "got an answer, want DnsRefused";
  EXPECT_EQ(got.error().code, Errc::DnsRefused) << got.error().detail;
  EXPECT_EQ(got.error().retry, Retry::Transient);
}

TEST_F(TrustAdResolver, OtherRcodeIsMalformed) {
  const auto got = lookup("formerr.test", RrType::Mx);
  ASSERT_FALSE(got) << "got an answer, want DnsMalformed";
  EXPECT_EQ(got.error().code, Errc::DnsMalformed) << got.error().detail;
  EXPECT_NE(got.error().detail.find("FORMERR"), std::string::npos) << got.error().detail;
}

TEST_F(TrustAdResolver, FollowsCnameChain) {
  const auto got = lookup("alias.cname.test", RrType::A);
  ASSERT_TRUE(got) << got.error().detail;
  EXPECT_EQ(got->outcome, Outcome::Data);
  EXPECT_EQ(got->canonical_name, "final.cname.test");
  EXPECT_EQ(got->ttl, 40s);
  const std::vector<std::string> want{"192.0.2.7", "192.0.2.8"};
  EXPECT_EQ(got->addresses, want);
}

TEST_F(TrustAdResolver, ACnameChainThatStopsHalfWayIsAFailureNotNoData) {
  const auto got = lookup("half.cname.test", RrType::Txt);
  ASSERT_FALSE(got) << "got an answer, want DnsServfail";
  EXPECT_EQ(got.error().code, Errc::DnsServfail) << got.error().detail;
  EXPECT_NE(got.error().detail.find("t2.cname.test"), std::string::npos) << got.error().detail;
}

TEST_F(TrustAdResolver, ACnameChainEndingInProvenNoDataIsNoData) {
  const auto got = lookup("empty.cname.test", RrType::Txt);
  ASSERT_TRUE(got) << got.error().detail;
  EXPECT_EQ(got->outcome, Outcome::NoData);
  EXPECT_EQ(got->canonical_name, "end.cname.test");
  EXPECT_EQ(got->ttl, 30s);
}

TEST_F(TrustAdResolver, CnameLoopIsMalformed) {
  const auto got = lookup("loop.cname.test", RrType::A);
  ASSERT_FALSE(got) << "got an answer, want DnsMalformed";
  EXPECT_EQ(got.error().code, Errc::DnsMalformed) << got.error().detail;
}

TEST_F(TrustAdResolver, TruncatedUdpAnswerIsRetriedOverTcp) {
  const auto got = lookup("big.test", RrType::Txt);
  ASSERT_TRUE(got) << got.error().detail;
  EXPECT_EQ(got->outcome, Outcome::Data);
  EXPECT_EQ(got->ttl, 90s);
  ASSERT_EQ(got->txt.size(), 1U);
  const std::vector<std::string> want{"answered", "over tcp"};
  EXPECT_EQ(got->txt[0].strings, want);
}

TEST_F(TrustAdResolver, AaaaIsTextual) {
  const auto got = lookup("v6.test", RrType::Aaaa);
  ASSERT_TRUE(got) << got.error().detail;
  EXPECT_EQ(got->addresses, std::vector<std::string>{"2001:db8::1"});
}

TEST_F(TrustAdResolver, TlsaFieldsAndData) {
  const auto got = lookup("_25._tcp.mx.tlsa.test", RrType::Tlsa);
  ASSERT_TRUE(got) << got.error().detail;
  ASSERT_EQ(got->tlsa.size(), 1U);
  const auto& tlsa = got->tlsa[0];
  EXPECT_EQ(tlsa.usage, 3);
  EXPECT_EQ(tlsa.selector, 1);
  EXPECT_EQ(tlsa.mtype, 1);
  ASSERT_EQ(tlsa.data.size(), 32U);
  EXPECT_EQ(tlsa.data[0], 0x01);
  EXPECT_EQ(tlsa.data[31], 0xef);
}

// RFC 5452 §9.1: a UDP reply whose ID does not match the query's is not its answer (a late
// or forged datagram); it is dropped and the query goes on waiting, here until its timeout.
// The script's reply has ID 0; the query ID is random (1 in 65536 that it is 0 too).
TEST_F(TrustAdResolver, UdpReplyWithWrongIdIsIgnored) {
  const auto resolver = make({ServerAddress{"127.0.0.1", m_server.port()}}, k_timeout);
  ASSERT_TRUE(resolver);
  const auto got = lookup(*resolver, "badid.test", RrType::Mx);
  ASSERT_FALSE(got) << "took a reply with the wrong ID as the answer";
  EXPECT_EQ(got.error().code, Errc::DnsTimeout) << got.error().detail;
}

TEST_F(TrustAdResolver, SilentServerTimesOutWithinTheTimeout) {
  const SilentUdpPort silent;
  ASSERT_NE(silent.port(), 0);
  const auto resolver = make({ServerAddress{"127.0.0.1", silent.port()}}, k_timeout);
  ASSERT_TRUE(resolver);
  const auto start = std::chrono::steady_clock::now();
  const auto got = lookup(*resolver, "secure.test", RrType::Mx);
  const auto elapsed = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(got) << "got an answer from a silent port";
  EXPECT_EQ(got.error().code, Errc::DnsTimeout) << got.error().detail;
  EXPECT_EQ(got.error().retry, Retry::Transient);
  EXPECT_GE(elapsed, k_timeout - 50ms);
  EXPECT_LT(elapsed, k_timeout + 700ms)
      << "took " << std::chrono::duration_cast<std::chrono::milliseconds>(elapsed).count() << " ms";
}

TEST_F(TrustAdResolver, UnansweredQueryTimesOut) {
  // ldns-testns stays silent for a query that matches no entry.
  const auto resolver = make({ServerAddress{"127.0.0.1", m_server.port()}}, k_timeout);
  ASSERT_TRUE(resolver);
  const auto got = lookup(*resolver, "unscripted.test", RrType::Mx);
  ASSERT_FALSE(got);
  EXPECT_EQ(got.error().code, Errc::DnsTimeout) << got.error().detail;
}

TEST_F(TrustAdResolver, NextServerIsAskedWhenTheFirstIsSilent) {
  const SilentUdpPort silent;
  const auto resolver =
      make({ServerAddress{"127.0.0.1", silent.port()}, ServerAddress{"127.0.0.1", m_server.port()}},
           1000ms);
  ASSERT_TRUE(resolver);
  const auto got = lookup(*resolver, "secure.test", RrType::Mx);
  ASSERT_TRUE(got) << got.error().detail;
  EXPECT_EQ(got->security, Security::Secure);
  EXPECT_EQ(got->mx.size(), 2U);
}

// One resolver, one loop, many lookups in flight at once; a server that never answers
// holds up none of them (the silent lookups end last, by their timeout).
TEST_F(TrustAdResolver, ManyLookupsAtOnceBesideASilentServer) {
  const SilentUdpPort silent;
  const auto slow = make({ServerAddress{"127.0.0.1", silent.port()}}, k_timeout);
  ASSERT_TRUE(slow);
  constexpr std::size_t k_lookups = 200;
  std::size_t ok = 0;
  std::size_t answered_before_silent = 0;
  std::size_t silent_ended = 0;
  for (int i = 0; i < 3; ++i) {
    slow->lookup(name("secure.test"), RrType::Mx, [&](Result<DnsAnswer>) { ++silent_ended; });
  }
  for (std::size_t i = 0; i < k_lookups; ++i) {
    m_resolver->lookup(name("secure.test"), RrType::Mx, [&](Result<DnsAnswer> got) {
      if (got && got->mx.size() == 2) ++ok;
      if (silent_ended == 0) ++answered_before_silent;
    });
  }
  m_loop.run_until([&] { return ok == k_lookups && silent_ended == 3; });
  EXPECT_EQ(ok, k_lookups);
  EXPECT_EQ(answered_before_silent, k_lookups);
}

// cancel_all() ends every lookup in flight at once, with an error (daemon shutdown).
TEST_F(TrustAdResolver, CancelAllEndsLookupsInFlight) {
  const SilentUdpPort silent;
  const auto slow = make({ServerAddress{"127.0.0.1", silent.port()}}, 60s);
  ASSERT_TRUE(slow);
  std::vector<Result<DnsAnswer>> ended;
  for (int i = 0; i < 3; ++i) {
    slow->lookup(name("secure.test"), RrType::Mx,
                 [&](Result<DnsAnswer> got) { ended.push_back(std::move(got)); });
  }
  m_loop.after(100ms, [&] { slow->cancel_all(); });
  m_loop.run_until([&] { return ended.size() == 3; });
  for (const auto& got : ended) EXPECT_FALSE(got);
}

TEST(TrustAdResolverOptions, RejectsBadOptions) {
  event::Loop loop;
  ResolverOptions options;
  options.servers = {ServerAddress{"127.0.0.1", 53}};
  options.attempts = 0;
  auto got = make_trust_ad_resolver(loop, options);
  ASSERT_FALSE(got);
  EXPECT_EQ(got.error().code, Errc::InvalidArgument);
  options.attempts = 1;
  options.timeout = 0ms;
  got = make_trust_ad_resolver(loop, options);
  ASSERT_FALSE(got);
  EXPECT_EQ(got.error().code, Errc::InvalidArgument);
  options.timeout = 100ms;
  options.servers = {ServerAddress{"not-an-ip", 53}};
  got = make_trust_ad_resolver(loop, options);
  ASSERT_FALSE(got);
  EXPECT_EQ(got.error().code, Errc::InvalidArgument);
}

}  // namespace
}  // namespace tlspolicy::dns
