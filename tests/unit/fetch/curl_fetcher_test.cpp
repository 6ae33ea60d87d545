// SPDX-License-Identifier: Apache-2.0
//
// Unit tests of the curl fetcher that need no network: URL checks (RFC 8461 §3.3: https only,
// STS-10) answer InvalidArgument before any connection, bad options are refused by
// make_curl_fetcher(), and the private-address rule refuses a loopback CONNECT_TO target before
// a socket exists. The real HTTPS cases live in tests/integration/gtest/curl_fetcher_test.cpp.
#include <memory>
#include <string>
#include <string_view>

#include <gtest/gtest.h>

#include "tlspolicy/event/loop.hpp"
#include "tlspolicy/event/task.hpp"
#include "tlspolicy/fetch/https_fetcher.hpp"

namespace tlspolicy::fetch {
namespace {

class CurlFetcherUnit : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { s_curl = std::make_unique<CurlGlobal>(); }
  static void TearDownTestSuite() { s_curl.reset(); }

  std::unique_ptr<HttpsFetcher> fetcher(const FetcherOptions& options = {}) {
    auto f = make_curl_fetcher(loop, options);
    EXPECT_TRUE(f.has_value()) << (f ? "" : f.error().detail);
    return f ? std::move(*f) : nullptr;
  }

  Result<HttpsResponse> fetch(HttpsFetcher& f, std::string url) {
    return event::sync_wait(get(f, std::move(url)), &loop);
  }

  static inline std::unique_ptr<CurlGlobal> s_curl;
  event::Loop loop;
};

class NotHttpsUrl : public CurlFetcherUnit,
                    public ::testing::WithParamInterface<std::string_view> {};

TEST_P(NotHttpsUrl, IsInvalidArgument) {
  const auto f = fetcher();
  ASSERT_NE(f, nullptr);
  const auto r = fetch(*f, std::string(GetParam()));
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, Errc::InvalidArgument) << r.error().detail;
  EXPECT_EQ(r.error().retry, Retry::Permanent);
  EXPECT_FALSE(r.error().detail.empty());
}

INSTANTIATE_TEST_SUITE_P(Urls, NotHttpsUrl,
                         ::testing::Values("http://mta-sts.example.com/.well-known/mta-sts.txt",
                                           "ftp://mta-sts.example.com/mta-sts.txt",
                                           "file:///etc/passwd", "gopher://example.com/", "garbage",
                                           "", "https://", "https:///path",
                                           "mta-sts.example.com/.well-known/mta-sts.txt",
                                           "https://exa mple.com/",
                                           std::string_view("https://a.example\0.evil/", 25)));

TEST_F(CurlFetcherUnit, NotHttpsDetailNamesTheUrl) {
  const auto f = fetcher();
  ASSERT_NE(f, nullptr);
  const auto r = fetch(*f, "http://mta-sts.example.com/.well-known/mta-sts.txt");
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().detail.find("http://mta-sts.example.com"), std::string::npos)
      << r.error().detail;
}

TEST_F(CurlFetcherUnit, RefusesBadOptions) {
  FetcherOptions zero_cap;
  zero_cap.max_body_bytes = 0;
  EXPECT_FALSE(make_curl_fetcher(loop, zero_cap).has_value());

  FetcherOptions no_timeout;
  no_timeout.total_timeout = std::chrono::milliseconds{0};
  EXPECT_FALSE(make_curl_fetcher(loop, no_timeout).has_value());

  FetcherOptions missing_ca;
  missing_ca.ca_file = "/nonexistent/tlspolicy-test-ca.pem";
  const auto r = make_curl_fetcher(loop, missing_ca);
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().detail.find("/nonexistent/tlspolicy-test-ca.pem"), std::string::npos);

  FetcherOptions bad_connect_to;
  bad_connect_to.connect_to = {"a b"};
  EXPECT_FALSE(make_curl_fetcher(loop, bad_connect_to).has_value());
}

// The open-socket hook refuses 127.0.0.1 before connecting, so this needs no server.
TEST_F(CurlFetcherUnit, RefusesLoopbackTargetWhenPrivateAddressesAreNotAllowed) {
  FetcherOptions o;
  o.allow_private_addresses = false;
  o.connect_to = {"mta-sts.example.test:443:127.0.0.1:9"};
  o.total_timeout = std::chrono::milliseconds{5000};
  const auto f = fetcher(o);
  ASSERT_NE(f, nullptr);
  const auto r = fetch(*f, "https://mta-sts.example.test/.well-known/mta-sts.txt");
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, Errc::FetchPrivateAddress) << r.error().detail;
  EXPECT_EQ(r.error().retry, Retry::Permanent);
  EXPECT_NE(r.error().detail.find("127.0.0.1"), std::string::npos) << r.error().detail;
  EXPECT_NE(r.error().detail.find("mta-sts.example.test"), std::string::npos) << r.error().detail;
}

}  // namespace
}  // namespace tlspolicy::fetch
