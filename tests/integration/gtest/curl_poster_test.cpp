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
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "tlspolicy/fetch/https_fetcher.hpp"

#include "https_test_support.hpp"

namespace tlspolicy::fetch {
namespace {

namespace fs = std::filesystem;
using test::read_file;
using test::run;
using test::TestHttpsServer;

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

/// The file stem the server records a request path under.
std::string record_name(const std::string& path) {
  std::string out;
  for (const char c : path) {
    const bool keep = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    out += keep ? c : '_';
  }
  return out;
}

class CurlPosterIntegration : public test::HttpsSuite<CurlPosterIntegration> {
 protected:
  static void SetUpTestSuite() {
    if (!begin_suite("tlspolicy-poster-test")) return;
    if (run({"python3", "-c", "import http.server, ssl"}, s_dir, s_dir / "setup.log") != 0) {
      s_skip = "python3 with ssl is not installed (apt-get install python3)";
      return;
    }
    if (!make_test_pki({}, k_host)) return;
    const fs::path pki = s_dir / "pki";
    fs::create_directories(s_dir / "records");
    std::ofstream(s_dir / "server.py") << k_server_py;
    s_server = std::make_unique<TestHttpsServer>(
        std::vector<std::string>{"python3", "-u", (s_dir / "server.py").string(),
                                 (pki / "good.pem").string(), (pki / "good.key").string(),
                                 (s_dir / "records").string()},
        s_dir, s_dir / "server.log", "LISTEN ", "the python3 HTTPS server", k_host);
    if (!s_server->ok()) s_skip = s_server->why();
  }

  static void TearDownTestSuite() {
    s_server.reset();
    end_suite();
  }

  void TearDown() override {
    if (HasFailure()) std::cerr << "server log:\n" << read_file(s_dir / "server.log");
  }

  /// Options trusting only the test CA and reaching reports.good.test:443 at the server.
  static FetcherOptions options() { return HttpsSuite::options(s_server->connect_to()); }

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

  static inline std::unique_ptr<TestHttpsServer> s_server;
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
