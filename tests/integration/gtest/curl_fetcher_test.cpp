// SPDX-License-Identifier: Apache-2.0
//
// Integration tests of fetch::make_curl_fetcher() against a REAL HTTPS server: `openssl s_server`
// in -WWW mode (serves files; sends "Content-type: text/plain") or -HTTP mode (serves files that
// hold a complete raw HTTP response), with a throwaway test CA and leaves made by
// tools/gen-test-pki.sh in a temporary directory. The server listens on 127.0.0.1 on a port the
// kernel picks (-accept 127.0.0.1:0; the port is read from its "ACCEPT" line) and is reached
// through FetcherOptions::connect_to, so SNI, Host and certificate checks use
// mta-sts.good.test. Covers RFC 8461 §3.3 (STS-11 certificate name/chain/expiry, DNS-IDs only;
// STS-13 no redirects; STS-15 size and time limits) and §7.2 (STS-19 TLS >= 1.2), plus the
// private-address refusal. Skips (exit 77 through GTEST_SKIP) when the openssl CLI is missing.
#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "tlspolicy/event/loop.hpp"
#include "tlspolicy/event/task.hpp"
#include "tlspolicy/fetch/https_fetcher.hpp"

#include "https_test_support.hpp"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

namespace tlspolicy::fetch {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using test::read_file;
using test::run;
using test::TestHttpsServer;

constexpr const char* k_host = "mta-sts.good.test";
constexpr const char* k_policy_path = "/.well-known/mta-sts.txt";
constexpr const char* k_policy = "version: STSv1\nmode: enforce\nmx: *.good.test\nmax_age: 86400\n";

void write_file(const fs::path& p, const std::string& content) {
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << content;
}

/// A TCP socket bound to 127.0.0.1 on a kernel-chosen port; listening or not.
class LoopbackSocket {
 public:
  explicit LoopbackSocket(bool listening) {
    m_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    socklen_t len = sizeof a;
    if (m_fd < 0 || bind(m_fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
        (listening && listen(m_fd, 16) != 0) ||
        getsockname(m_fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
      return;
    }
    m_port = ntohs(a.sin_port);
  }
  ~LoopbackSocket() {
    if (m_fd >= 0) close(m_fd);
  }
  LoopbackSocket(const LoopbackSocket&) = delete;
  LoopbackSocket& operator=(const LoopbackSocket&) = delete;
  [[nodiscard]] int port() const { return m_port; }

 private:
  int m_fd = -1;
  int m_port = 0;
};

class CurlFetcherIntegration : public test::HttpsSuite<CurlFetcherIntegration> {
 protected:
  static void SetUpTestSuite() {
    if (!begin_suite("tlspolicy-fetch-test")) return;
    const fs::path pki = s_dir / "pki";
    const fs::path log = s_dir / "setup.log";
    // CA, good leaf (SAN mta-sts.good.test, CN something else), a leaf for another name, a
    // self-signed and an expired leaf both for mta-sts.good.test (so only chain/expiry fail).
    if (!make_test_pki(
            {"--wrong", "mta-sts.someone-else.test", "--selfsigned", k_host, "--expired", k_host},
            k_host)) {
      return;
    }
    // Extra CA-signed leaves for the RFC 6125 name rules of RFC 8461 §3.3 (STS-11): the name
    // only in the subject CN (no SAN; DNS-IDs only, so refused), a whole-label wildcard
    // (accepted) and a partial-label wildcard (refused).
    const std::string leaf_ext =
        "basicConstraints = critical, CA:FALSE\n"
        "extendedKeyUsage = serverAuth\n";
    for (const auto& [name, ext] : std::vector<std::pair<std::string, std::string>>{
             {"cnonly", leaf_ext},
             {"wildcard", leaf_ext + "subjectAltName = DNS:*.good.test\n"},
             {"partialwildcard", leaf_ext + "subjectAltName = DNS:mta-*.good.test\n"}}) {
      write_file(pki / (name + ".ext"), ext);
      if (run({"openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
               "-out", name + ".key"},
              pki, log) != 0 ||
          run({"openssl", "req", "-new", "-key", name + ".key", "-subj",
               std::string("/CN=") + k_host, "-out", name + ".csr"},
              pki, log) != 0 ||
          run({"openssl", "x509", "-req", "-in", name + ".csr", "-CA", "ca.pem", "-CAkey", "ca.key",
               "-CAcreateserial", "-days", "10", "-sha256", "-extfile", name + ".ext", "-out",
               name + ".pem"},
              pki, log) != 0) {
        s_skip = "could not make the " + name + " leaf: " + read_file(log);
        return;
      }
    }
    const fs::path www = s_dir / "www";
    write_file(www / ".well-known" / "mta-sts.txt", k_policy);
    write_file(www / "big.txt", std::string(5000, 'x'));
    // -HTTP mode files: complete raw responses.
    write_file(www / "redirect.http",
               "HTTP/1.0 301 Moved Permanently\r\nLocation: https://mta-sts.good.test" +
                   std::string(k_policy_path) +
                   "\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nmoved");
    write_file(www / "announced-big.http",
               "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 1000000\r\n\r\n" +
                   std::string(100, 'x'));
    write_file(www / "html.http",
               "HTTP/1.0 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>hi</p>");
  }

  static void TearDownTestSuite() { end_suite(); }

  /// Starts `openssl s_server` in -WWW mode (serves files; sends "Content-type: text/plain") or
  /// -HTTP mode (serves files that hold a complete raw HTTP response) with leaf `leaf` ("good",
  /// "wrong", ...); -WWW unless `extra` says. s_server prints "ACCEPT 127.0.0.1:<port>" once it
  /// listens (-accept 127.0.0.1:0: the kernel picks the port).
  static std::unique_ptr<TestHttpsServer> server(const std::string& leaf,
                                                 std::vector<std::string> extra = {"-WWW"}) {
    static int count = 0;
    const fs::path pki = s_dir / "pki";
    std::vector<std::string> argv{"openssl", "s_server",
                                  "-accept", "127.0.0.1:0",
                                  "-cert",   (pki / (leaf + ".pem")).string(),
                                  "-key",    (pki / (leaf + ".key")).string()};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return std::make_unique<TestHttpsServer>(
        argv, s_dir / "www", s_dir / ("s_server-" + leaf + "-" + std::to_string(++count) + ".log"),
        "ACCEPT 127.0.0.1:", "openssl s_server", k_host);
  }

  static Result<HttpsResponse> fetch(const FetcherOptions& o, const std::string& path) {
    event::Loop loop;
    auto f = make_curl_fetcher(loop, o);
    if (!f) return Unexpected{f.error()};
    return event::sync_wait(get(**f, std::string("https://") + k_host + path), &loop);
  }
};

#define START_SERVER(var, ...)          \
  const auto var = server(__VA_ARGS__); \
  ASSERT_TRUE(var->ok()) << var->why()

TEST_F(CurlFetcherIntegration, ReturnsBodyStatusAndContentType) {
  START_SERVER(s, "good");
  const auto r = fetch(options(s->connect_to()), k_policy_path);
  ASSERT_TRUE(r.has_value()) << r.error().detail;
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, k_policy);
  EXPECT_EQ(r->content_type, "text/plain");  // s_server -WWW: "Content-type: text/plain"
}

TEST_F(CurlFetcherIntegration, ReturnsContentTypeWithParametersAsReceived) {
  START_SERVER(s, "good", {"-HTTP"});
  const auto r = fetch(options(s->connect_to()), "/html.http");
  ASSERT_TRUE(r.has_value()) << r.error().detail;
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->content_type, "text/html; charset=utf-8");  // the media-type rule is sts/'s
}

// RFC 8461 §3.3 (STS-13): redirects are not followed; the 3xx is returned for the caller.
TEST_F(CurlFetcherIntegration, DoesNotFollowRedirects) {
  START_SERVER(s, "good", {"-HTTP"});
  const auto r = fetch(options(s->connect_to()), "/redirect.http");
  ASSERT_TRUE(r.has_value()) << r.error().detail;
  EXPECT_EQ(r->status, 301);
  EXPECT_EQ(r->body, "moved");
}

// RFC 8461 §3.3 (STS-11): the certificate must be valid for mta-sts.<domain>.
TEST_F(CurlFetcherIntegration, WrongCertificateNameIsFetchTls) {
  START_SERVER(s, "wrong");
  const auto r = fetch(options(s->connect_to()), k_policy_path);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, Errc::FetchTls) << r.error().detail;
  EXPECT_NE(r.error().detail.find(k_host), std::string::npos) << r.error().detail;
  EXPECT_NE(r.error().detail.find("certificate verify failed"), std::string::npos)
      << r.error().detail;
}

// RFC 8461 §3.3 / RFC 6125 (STS-11): DNS-IDs only; a name only in the subject CN is not enough.
TEST_F(CurlFetcherIntegration, NameOnlyInCommonNameIsFetchTls) {
  START_SERVER(s, "cnonly");
  const auto r = fetch(options(s->connect_to()), k_policy_path);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, Errc::FetchTls) << r.error().detail;
}

// RFC 6125 §6.4.3 (via RFC 8461 §3.3): "*" as the complete left-most label matches.
TEST_F(CurlFetcherIntegration, WholeLabelWildcardIsAccepted) {
  START_SERVER(s, "wildcard");
  const auto r = fetch(options(s->connect_to()), k_policy_path);
  ASSERT_TRUE(r.has_value()) << r.error().detail;
  EXPECT_EQ(r->body, k_policy);
}

// STS-11: a wildcard only as the complete left-most label; "mta-*.good.test" matches nothing.
TEST_F(CurlFetcherIntegration, PartialLabelWildcardIsFetchTls) {
  START_SERVER(s, "partialwildcard");
  const auto r = fetch(options(s->connect_to()), k_policy_path);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, Errc::FetchTls) << r.error().detail;
}

// RFC 8461 §3.3 (STS-11): the chain must lead to a trusted root.
TEST_F(CurlFetcherIntegration, SelfSignedIsFetchTls) {
  START_SERVER(s, "selfsigned");
  const auto r = fetch(options(s->connect_to()), k_policy_path);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, Errc::FetchTls) << r.error().detail;
  EXPECT_NE(r.error().detail.find("self-signed"), std::string::npos) << r.error().detail;
}

// RFC 8461 §3.3 (STS-11): an expired certificate is not valid.
TEST_F(CurlFetcherIntegration, ExpiredIsFetchTls) {
  START_SERVER(s, "expired");
  const auto r = fetch(options(s->connect_to()), k_policy_path);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, Errc::FetchTls) << r.error().detail;
  EXPECT_NE(r.error().detail.find("expired"), std::string::npos) << r.error().detail;
}

// The system trust store does not know the test CA: the same good server fails without ca_file.
TEST_F(CurlFetcherIntegration, UnknownCaWithoutCaFileIsFetchTls) {
  START_SERVER(s, "good");
  auto o = options(s->connect_to());
  o.ca_file.clear();
  const auto r = fetch(o, k_policy_path);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, Errc::FetchTls) << r.error().detail;
}

// RFC 8461 §3.3 (STS-15): the size cap is enforced while reading (s_server -WWW sends no
// Content-Length, so only the write callback can stop it).
TEST_F(CurlFetcherIntegration, BodyOverCapIsFetchTooLarge) {
  START_SERVER(s, "good");
  auto o = options(s->connect_to());
  o.max_body_bytes = 1024;
  const auto r = fetch(o, "/big.txt");
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, Errc::FetchTooLarge) << r.error().detail;
  EXPECT_NE(r.error().detail.find("1024"), std::string::npos) << r.error().detail;
}

TEST_F(CurlFetcherIntegration, BodyExactlyAtCapIsAccepted) {
  START_SERVER(s, "good");
  auto o = options(s->connect_to());
  o.max_body_bytes = 5000;
  const auto r = fetch(o, "/big.txt");
  ASSERT_TRUE(r.has_value()) << r.error().detail;
  EXPECT_EQ(r->body.size(), 5000U);
}

// A Content-Length above the cap is refused before the body is read (CURLOPT_MAXFILESIZE).
TEST_F(CurlFetcherIntegration, AnnouncedLengthOverCapIsFetchTooLarge) {
  START_SERVER(s, "good", {"-HTTP"});
  auto o = options(s->connect_to());
  o.max_body_bytes = 1024;
  const auto r = fetch(o, "/announced-big.http");
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, Errc::FetchTooLarge) << r.error().detail;
}

// RFC 8461 §3.3 (STS-15): a peer that accepts TCP but never answers the TLS handshake is cut
// off by the total timeout. Measuring the wall time is the behaviour under test here.
TEST_F(CurlFetcherIntegration, SilentPeerIsFetchTimeoutWithinTotalTimeout) {
  const LoopbackSocket silent(/*listening=*/true);  // the kernel completes TCP; nobody reads
  ASSERT_GT(silent.port(), 0);
  auto o = options(test::connect_to(k_host, silent.port()));
  o.total_timeout = 1000ms;
  const auto start = std::chrono::steady_clock::now();
  const auto r = fetch(o, k_policy_path);
  const auto elapsed = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, Errc::FetchTimeout) << r.error().detail;
  EXPECT_EQ(r.error().retry, Retry::Transient);
  EXPECT_LT(elapsed, 5s);
}

TEST_F(CurlFetcherIntegration, NothingListeningIsFetchConnect) {
  const LoopbackSocket closed(/*listening=*/false);  // bound, not listening: connect refused
  ASSERT_GT(closed.port(), 0);
  const auto r = fetch(options(test::connect_to(k_host, closed.port())), k_policy_path);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, Errc::FetchConnect) << r.error().detail;
  EXPECT_EQ(r.error().retry, Retry::Transient);
}

// mta_sts.allow_private_addresses = false: the address actually connected (here the
// CONNECT_TO target) is checked, and loopback is refused.
TEST_F(CurlFetcherIntegration, LoopbackRefusedWhenPrivateAddressesNotAllowed) {
  START_SERVER(s, "good");
  auto o = options(s->connect_to());
  o.allow_private_addresses = false;
  const auto r = fetch(o, k_policy_path);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, Errc::FetchPrivateAddress) << r.error().detail;
  EXPECT_NE(r.error().detail.find("127.0.0.1"), std::string::npos) << r.error().detail;
}

// RFC 8461 §7.2 (STS-19): TLS 1.2 or later. OpenSSL 3 only offers TLS 1.1 at security level 0,
// so the server is started with it; a probe with s_client checks the server really speaks 1.1.
TEST_F(CurlFetcherIntegration, Tls11OnlyServerIsFetchTls) {
  START_SERVER(s, "good", {"-WWW", "-tls1_1", "-cipher", "DEFAULT:@SECLEVEL=0"});
  const int probe = run({"openssl", "s_client", "-tls1_1", "-cipher", "DEFAULT:@SECLEVEL=0",
                         "-connect", "127.0.0.1:" + std::to_string(s->port())},
                        s_dir, s_dir / "probe.log");
  if (probe != 0) {
    GTEST_SKIP() << "this OpenSSL cannot make a TLS 1.1 connection even at SECLEVEL=0: "
                 << read_file(s_dir / "probe.log");
  }
  const auto r = fetch(options(s->connect_to()), k_policy_path);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, Errc::FetchTls) << r.error().detail;
  EXPECT_NE(r.error().detail.find(k_host), std::string::npos) << r.error().detail;
}

// Fetches share one loop and one fetcher (curl multi): they run at once, and a policy host
// that never answers does not hold up the others (SPEC §5, isolation).
TEST_F(CurlFetcherIntegration, ConcurrentGetsOnOneLoop) {
  START_SERVER(s, "good");
  const LoopbackSocket silent(/*listening=*/true);  // the kernel completes TCP; nobody reads
  auto o = options(s->connect_to());
  o.connect_to.push_back(test::connect_to("mta-sts.silent.test", silent.port()));
  o.total_timeout = 5s;
  event::Loop loop;
  const auto f = make_curl_fetcher(loop, o);
  ASSERT_TRUE(f.has_value()) << f.error().detail;
  constexpr std::size_t k_gets = 4;
  std::vector<std::optional<Result<HttpsResponse>>> results(k_gets);
  std::optional<Result<HttpsResponse>> stalled;
  std::size_t good_done_while_stalled = 0;
  (*f)->get(std::string("https://mta-sts.silent.test") + k_policy_path,
            [&](Result<HttpsResponse> r) { stalled = std::move(r); });
  for (std::size_t i = 0; i < k_gets; ++i) {
    (*f)->get(std::string("https://") + k_host + k_policy_path, [&, i](Result<HttpsResponse> r) {
      results[i] = std::move(r);
      if (!stalled) ++good_done_while_stalled;
    });
  }
  loop.run_until([&] {
    return stalled &&
           std::all_of(results.begin(), results.end(), [](const auto& r) { return r.has_value(); });
  });
  for (const auto& r : results) {
    ASSERT_TRUE(r.has_value());
    ASSERT_TRUE(r->has_value()) << r->error().detail;
    EXPECT_EQ((*r)->body, k_policy);
  }
  EXPECT_EQ(good_done_while_stalled, k_gets);  // every good fetch ended before the silent one
  ASSERT_TRUE(stalled);
  ASSERT_FALSE(stalled->has_value());
  EXPECT_EQ(stalled->error().code, Errc::FetchTimeout) << stalled->error().detail;
}

// cancel_all() ends every fetch in flight at once, with an error (daemon shutdown).
TEST_F(CurlFetcherIntegration, CancelAllEndsFetchesInFlight) {
  const LoopbackSocket silent(/*listening=*/true);
  auto o = options(test::connect_to(k_host, silent.port()));
  o.total_timeout = 60s;
  event::Loop loop;
  const auto f = make_curl_fetcher(loop, o);
  ASSERT_TRUE(f.has_value()) << f.error().detail;
  std::vector<Result<HttpsResponse>> ended;
  for (int i = 0; i < 3; ++i) {
    (*f)->get(std::string("https://") + k_host + k_policy_path,
              [&](Result<HttpsResponse> r) { ended.push_back(std::move(r)); });
  }
  loop.after(200ms, [&] { (*f)->cancel_all(); });
  loop.run_until([&] { return ended.size() == 3; });
  for (const auto& r : ended) EXPECT_FALSE(r.has_value());
}

}  // namespace
}  // namespace tlspolicy::fetch
