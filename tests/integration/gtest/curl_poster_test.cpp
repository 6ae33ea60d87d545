// SPDX-License-Identifier: Apache-2.0
//
// Integration tests of fetch::make_curl_poster() (TLS-RPT upload, RFC 8460 §5.4) against a REAL
// HTTPS server: a small python3 http.server + ssl script written to a temporary directory, with
// a throwaway test CA and a leaf for reports.good.test made by tools/gen-test-pki.sh. The server
// listens on 127.0.0.1 on a port the kernel picks (printed as "LISTEN <port>"), records each
// request (method, path, Content-Type, body) into files named after the path before it answers,
// and answers with the status named by the path ("/status/201/..."); "/big/..." answers 200 with
// a 1 MiB body. It is reached through FetcherOptions::connect_to, so SNI, Host and certificate
// checks use reports.good.test. Covers RPT-16 (the status is returned; 200 and 201 are the
// caller's success), no redirects, a byte-exact body, certificate verification and the
// private-address refusal. Skips (GTEST_SKIP, exit 77) when python3 or the openssl CLI is missing.
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "tlspolicy/fetch/https_fetcher.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace tlspolicy::fetch {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

constexpr const char* k_host = "reports.good.test";
constexpr const char* k_gzip_type = "application/tlsrpt+gzip";

// The recording HTTPS server. argv: CERT KEY RECORD-DIR.
constexpr const char* k_server_py = R"PY(
import http.server, json, os, re, ssl, sys

cert, key, record_dir = sys.argv[1:4]

class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def handle_any(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        name = re.sub(r"[^A-Za-z0-9]", "_", self.path)
        meta = {"method": self.command, "path": self.path,
                "content_type": self.headers.get("Content-Type", ""),
                "transfer_encoding": self.headers.get("Transfer-Encoding", ""),
                "length": length}
        for suffix, data in ((".body", body), (".json", json.dumps(meta).encode())):
            tmp = os.path.join(record_dir, name + suffix + ".tmp")
            with open(tmp, "wb") as f:
                f.write(data)
            os.replace(tmp, os.path.join(record_dir, name + suffix))
        status, reply = 200, b"ok\n"
        m = re.match(r"^/status/(\d{3})/", self.path)
        if m:
            status = int(m.group(1))
        if self.path.startswith("/big/"):
            reply = b"x" * (1024 * 1024)
        self.send_response(status)
        if 300 <= status < 400:
            self.send_header("Location", "https://reports.good.test/status/200/followed")
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    do_POST = do_GET = do_PUT = handle_any

    def log_message(self, fmt, *args):
        sys.stderr.write("request: " + (fmt % args) + "\n")

httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True)
print("LISTEN %d" % httpd.server_address[1], flush=True)
httpd.serve_forever()
)PY";

/// Starts argv[0] (searched in PATH) in `cwd` with stdout and stderr to `log`. posix_spawn: safe
/// in a threaded test process.
std::optional<pid_t> spawn(const std::vector<std::string>& argv, const fs::path& cwd,
                           const fs::path& log) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addchdir_np(&actions, cwd.c_str());
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, log.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
  pid_t pid = -1;
  const int rc = posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) return std::nullopt;
  return pid;
}

int run(const std::vector<std::string>& argv, const fs::path& cwd, const fs::path& log) {
  const auto pid = spawn(argv, cwd, log);
  if (!pid) return -1;
  int status = 0;
  while (waitpid(*pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

/// The file stem the server records a request path under.
std::string record_name(const std::string& path) {
  std::string out;
  for (const char c : path) {
    const bool keep = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    out += keep ? c : '_';
  }
  return out;
}

class CurlPosterIntegration : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    s_curl = std::make_unique<CurlGlobal>();
    const char* tmp = std::getenv("TMPDIR");
    std::string templ = std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") +
                        "/tlspolicy-poster-test-XXXXXX";
    if (mkdtemp(templ.data()) == nullptr) {
      s_skip = "mkdtemp failed";
      return;
    }
    s_dir = templ;
    const fs::path log = s_dir / "setup.log";
    if (run({"python3", "-c", "import http.server, ssl"}, s_dir, log) != 0) {
      s_skip = "python3 with ssl is not installed (apt-get install python3)";
      return;
    }
    if (run({"openssl", "version"}, s_dir, log) != 0) {
      s_skip = "the openssl CLI is not installed (apt-get install openssl)";
      return;
    }
    const fs::path pki = s_dir / "pki";
    const int rc = run(
        {"bash", TLSPOLICY_SOURCE_DIR "/tools/gen-test-pki.sh", pki.string(), k_host}, s_dir, log);
    if (rc != 0) {
      s_skip = "tools/gen-test-pki.sh failed (" + std::to_string(rc) + "): " + read_file(log);
      return;
    }
    fs::create_directories(s_dir / "records");
    std::ofstream(s_dir / "server.py") << k_server_py;
    s_log = s_dir / "server.log";
    const auto pid =
        spawn({"python3", "-u", (s_dir / "server.py").string(), (pki / "good.pem").string(),
               (pki / "good.key").string(), (s_dir / "records").string()},
              s_dir, s_log);
    if (!pid) {
      s_skip = "cannot start python3";
      return;
    }
    s_pid = *pid;
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (std::chrono::steady_clock::now() < deadline) {
      const std::string out = read_file(s_log);
      if (const auto at = out.find("LISTEN "); at != std::string::npos) {
        const auto end = out.find('\n', at);
        if (end != std::string::npos) {
          s_port = std::stoi(out.substr(at + 7, end - at - 7));
          return;
        }
      }
      int status = 0;
      if (waitpid(s_pid, &status, WNOHANG) == s_pid) {
        s_pid = -1;
        s_skip = "the python3 HTTPS server exited: " + out;
        return;
      }
      std::this_thread::sleep_for(20ms);
    }
    s_skip = "the python3 HTTPS server did not listen within 10 s: " + read_file(s_log);
  }

  static void TearDownTestSuite() {
    if (s_pid > 0) {
      kill(s_pid, SIGTERM);
      int status = 0;
      waitpid(s_pid, &status, 0);
      s_pid = -1;
    }
    if (!s_dir.empty() && std::getenv("TLSPOLICY_KEEP_TEST_DIRS") == nullptr) {
      std::error_code ec;
      fs::remove_all(s_dir, ec);
    }
    s_curl.reset();
  }

  void SetUp() override {
    if (!s_skip.empty()) GTEST_SKIP() << s_skip;
  }

  void TearDown() override {
    if (HasFailure()) std::cerr << "server log:\n" << read_file(s_log);
  }

  /// Options trusting only the test CA and reaching reports.good.test:443 at the server.
  static FetcherOptions options() {
    FetcherOptions o;
    o.ca_file = (s_dir / "pki" / "ca.pem").string();
    o.allow_private_addresses = true;
    o.connect_timeout = 5000ms;
    o.total_timeout = 10000ms;
    o.connect_to = {std::string(k_host) + ":443:127.0.0.1:" + std::to_string(s_port)};
    return o;
  }

  static Result<long> post(const FetcherOptions& o, const std::string& path,
                           const std::string& body, const std::string& type = k_gzip_type) {
    auto p = make_curl_poster(o);
    if (!p) return Unexpected{p.error()};
    return (*p)->post(std::string("https://") + k_host + path, type, body);
  }

  /// What the server recorded for `path`: the JSON metadata ("" if no request arrived).
  static std::string recorded_meta(const std::string& path) {
    return read_file(s_dir / "records" / (record_name(path) + ".json"));
  }
  static std::string recorded_body(const std::string& path) {
    return read_file(s_dir / "records" / (record_name(path) + ".body"));
  }

  static inline std::unique_ptr<CurlGlobal> s_curl;
  static inline fs::path s_dir;
  static inline fs::path s_log;
  static inline std::string s_skip;
  static inline pid_t s_pid = -1;
  static inline int s_port = 0;
};

std::string all_bytes() {
  std::string s;
  for (int round = 0; round < 300; ++round) {
    for (int b = 0; b < 256; ++b) s += static_cast<char>(b);
  }
  return s;  // 76800 bytes, every byte value, NULs included
}

// RFC 8460 §5.4 (RPT-16): POST with application/tlsrpt+gzip; the body arrives byte for byte.
TEST_F(CurlPosterIntegration, PostsBodyByteExactAndReturns200) {
  const std::string path = "/status/200/exact";
  const std::string body = all_bytes();
  const auto r = post(options(), path, body);
  ASSERT_TRUE(r.has_value()) << r.error().detail;
  EXPECT_EQ(*r, 200);
  const std::string meta = recorded_meta(path);
  EXPECT_NE(meta.find("\"method\": \"POST\""), std::string::npos) << meta;
  EXPECT_NE(meta.find("\"path\": \"" + path + "\""), std::string::npos) << meta;
  EXPECT_NE(meta.find("\"content_type\": \"application/tlsrpt+gzip\""), std::string::npos) << meta;
  EXPECT_NE(meta.find("\"length\": 76800"), std::string::npos) << meta;
  EXPECT_EQ(recorded_body(path), body);
}

// RPT-16: 201 is the other success status; the poster returns it for the caller to accept.
TEST_F(CurlPosterIntegration, Returns201) {
  const auto r =
      post(options(), "/status/201/created", "{\"policies\":[]}", "application/tlsrpt+json");
  ASSERT_TRUE(r.has_value()) << r.error().detail;
  EXPECT_EQ(*r, 201);
  EXPECT_NE(recorded_meta("/status/201/created").find("application/tlsrpt+json"),
            std::string::npos);
}

// A server error is a status, not an Error: the caller decides (RPT-16: not delivered).
TEST_F(CurlPosterIntegration, Returns500AsStatus) {
  const auto r = post(options(), "/status/500/error", "x");
  ASSERT_TRUE(r.has_value()) << r.error().detail;
  EXPECT_EQ(*r, 500);
}

// Redirects are never followed: the 302 comes back and the Location target sees no request.
TEST_F(CurlPosterIntegration, Returns302WithoutFollowing) {
  const auto r = post(options(), "/status/302/moved", "report");
  ASSERT_TRUE(r.has_value()) << r.error().detail;
  EXPECT_EQ(*r, 302);
  EXPECT_FALSE(recorded_meta("/status/302/moved").empty());
  EXPECT_TRUE(recorded_meta("/status/200/followed").empty()) << "the redirect was followed";
}

TEST_F(CurlPosterIntegration, EmptyBodyIsPostedWithLengthZero) {
  const auto r = post(options(), "/status/200/empty", "");
  ASSERT_TRUE(r.has_value()) << r.error().detail;
  EXPECT_EQ(*r, 200);
  const std::string meta = recorded_meta("/status/200/empty");
  EXPECT_NE(meta.find("\"method\": \"POST\""), std::string::npos) << meta;
  EXPECT_NE(meta.find("\"length\": 0"), std::string::npos) << meta;
}

// The response body is read and discarded up to the cap; beyond it the transfer ends, and the
// status already received is still the answer.
TEST_F(CurlPosterIntegration, OversizedResponseBodyStillReturnsTheStatus) {
  auto o = options();
  o.max_body_bytes = 1024;
  const auto r = post(o, "/big/response", "report");
  ASSERT_TRUE(r.has_value()) << r.error().detail;
  EXPECT_EQ(*r, 200);
}

// The server's certificate chains to the test CA only: without it, verification fails.
TEST_F(CurlPosterIntegration, UntrustedCertificateIsFetchTls) {
  auto o = options();
  o.ca_file.clear();  // system trust store: does not know the test CA
  const auto r = post(o, "/status/200/untrusted", "report");
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, Errc::FetchTls) << r.error().detail;
  EXPECT_EQ(r.error().retry, Retry::Permanent);
  EXPECT_NE(r.error().detail.find(k_host), std::string::npos) << r.error().detail;
  EXPECT_TRUE(recorded_meta("/status/200/untrusted").empty());
}

// The rua URI comes from DNS: without allow_private_addresses a loopback peer is refused
// before any byte is sent.
TEST_F(CurlPosterIntegration, PrivateAddressIsRefused) {
  auto o = options();
  o.allow_private_addresses = false;
  const auto r = post(o, "/status/200/private", "report");
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, Errc::FetchPrivateAddress) << r.error().detail;
  EXPECT_NE(r.error().detail.find("127.0.0.1"), std::string::npos) << r.error().detail;
  EXPECT_NE(r.error().detail.find("report endpoints"), std::string::npos) << r.error().detail;
  EXPECT_TRUE(recorded_meta("/status/200/private").empty());
}

TEST_F(CurlPosterIntegration, RefusesNonHttpsUrlAndHeaderInjection) {
  auto p = make_curl_poster(options());
  ASSERT_TRUE(p.has_value()) << p.error().detail;
  const auto http = (*p)->post("http://reports.good.test/", k_gzip_type, "x");
  ASSERT_FALSE(http.has_value());
  EXPECT_EQ(http.error().code, Errc::InvalidArgument);
  const auto injected = (*p)->post(std::string("https://") + k_host + "/status/200/injected",
                                   "application/tlsrpt+gzip\r\nX-Evil: 1", "x");
  ASSERT_FALSE(injected.has_value());
  EXPECT_EQ(injected.error().code, Errc::InvalidArgument);
  EXPECT_TRUE(recorded_meta("/status/200/injected").empty());
}

}  // namespace
}  // namespace tlspolicy::fetch
