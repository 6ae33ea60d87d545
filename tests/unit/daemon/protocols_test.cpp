// SPDX-License-Identifier: Apache-2.0
//
// The daemon's framings (src/daemon/protocols.hpp): socketmap netstrings (SPEC §4: requests
// of at most 10000 bytes; docs/protocols/socketmap.md) and JSON lines (a last line without
// newline at EOF is a request: Exim ${readsocket}; docs/protocols/json.md).
#include "protocols.hpp"

#include <string>

#include <gtest/gtest.h>

#include "tlspolicy/proto/metrics.hpp"

namespace tlspolicy::daemon {
namespace {

using server::Failure;
using Status = server::Frame::Status;

constexpr std::size_t k_server_limit = k_max_json_line;

/// What the server does with a request frame once its handler returned.
std::string take(server::Frame& f, std::string& in) {
  std::string request{f.text()};
  in.erase(0, f.consumed);
  return request;
}

TEST(SocketmapFraming, TakesOneRequestAndLeavesTheRest) {
  SocketmapProtocol sm;
  std::string in = "20:postfix example.test,5:post";
  auto f = sm.decode(in, false, k_server_limit);
  ASSERT_EQ(f.status, Status::Request);
  EXPECT_FALSE(f.is_owned);  // a view into the buffer: nothing copied
  EXPECT_EQ(f.consumed, 24U);
  EXPECT_EQ(take(f, in), "postfix example.test");
  EXPECT_EQ(in, "5:post");
  EXPECT_EQ(sm.decode(in, false, k_server_limit).status, Status::NeedMore);
  in += "f,";
  f = sm.decode(in, false, k_server_limit);
  ASSERT_EQ(f.status, Status::Request);
  EXPECT_EQ(take(f, in), "postf");
  EXPECT_TRUE(in.empty());
}

TEST(SocketmapFraming, IncompleteNeedsMore) {
  SocketmapProtocol sm;
  for (const std::string partial :
       {"", "2", "20", "20:", "20:postfix", "20:postfix example.test"}) {
    std::string in = partial;
    EXPECT_EQ(sm.decode(in, false, k_server_limit).status, Status::NeedMore) << partial;
    EXPECT_EQ(in, partial);
  }
}

TEST(SocketmapFraming, MalformedIsBad) {
  SocketmapProtocol sm;
  for (const std::string bad : {"x:abc,", "3:abcd", "03:abc,", ":abc,", "3;abc,"}) {
    std::string in = bad;
    const auto f = sm.decode(in, false, k_server_limit);
    EXPECT_EQ(f.status, Status::Bad) << bad;
    EXPECT_EQ(f.failure, Failure::Malformed) << bad;
  }
}

// SPEC §4: at most 10000 bytes, whatever the server's (JSON-sized) limit.
TEST(SocketmapFraming, OverTenThousandBytesIsTooLarge) {
  SocketmapProtocol sm;
  std::string ok = "10000:" + std::string(10000, 'a') + ",";
  EXPECT_EQ(sm.decode(ok, false, k_server_limit).status, Status::Request);
  std::string big = "10001:" + std::string(10001, 'a') + ",";
  const auto f = sm.decode(big, false, k_server_limit);
  EXPECT_EQ(f.status, Status::Bad);
  EXPECT_EQ(f.failure, Failure::TooLarge);
  std::string announced = "99999:";  // refused before the payload arrives
  EXPECT_EQ(sm.decode(announced, false, k_server_limit).failure, Failure::TooLarge);
}

TEST(SocketmapFraming, EncodesNetstringsAndFailureReplies) {
  SocketmapProtocol sm;
  std::string out;
  sm.encode("OK secure", out);
  sm.encode("", out);
  EXPECT_EQ(out, "9:OK secure,0:,");
  EXPECT_TRUE(sm.failure_reply(Failure::Timeout).starts_with("TEMP "));
  EXPECT_TRUE(sm.failure_reply(Failure::Internal).starts_with("TEMP "));
  EXPECT_TRUE(sm.failure_reply(Failure::TooLarge).starts_with("PERM "));
  EXPECT_TRUE(sm.failure_reply(Failure::Malformed).starts_with("PERM "));
}

TEST(JsonLinesFraming, OneLinePerRequest) {
  JsonLinesProtocol json;
  std::string in = "{\"op\":\"stats\"}\n{\"op\":";
  auto f = json.decode(in, false, k_server_limit);
  ASSERT_EQ(f.status, Status::Request);
  EXPECT_EQ(take(f, in), "{\"op\":\"stats\"}");
  EXPECT_EQ(in, "{\"op\":");
  EXPECT_EQ(json.decode(in, false, k_server_limit).status, Status::NeedMore);
}

// Exim's ${readsocket} sends the request, shuts down writing and reads to EOF.
TEST(JsonLinesFraming, LastLineWithoutNewlineAtEofIsARequest) {
  JsonLinesProtocol json;
  std::string in = "{\"op\":\"stats\"}";
  EXPECT_EQ(json.decode(in, false, k_server_limit).status, Status::NeedMore);
  auto f = json.decode(in, true, k_server_limit);
  ASSERT_EQ(f.status, Status::Request);
  EXPECT_EQ(take(f, in), "{\"op\":\"stats\"}");
  EXPECT_TRUE(in.empty());
  EXPECT_EQ(json.decode(in, true, k_server_limit).status, Status::NeedMore);
}

TEST(JsonLinesFraming, LineOver64KiBIsTooLarge) {
  JsonLinesProtocol json;
  std::string unterminated(k_max_json_line + 1, 'x');
  EXPECT_EQ(json.decode(unterminated, false, k_server_limit).failure, Failure::TooLarge);
  std::string terminated = std::string(k_max_json_line + 1, 'x') + "\n";
  const auto f = json.decode(terminated, false, k_server_limit);
  EXPECT_EQ(f.status, Status::Bad);
  EXPECT_EQ(f.failure, Failure::TooLarge);
  std::string fits = std::string(k_max_json_line, 'x') + "\n";
  EXPECT_EQ(json.decode(fits, false, k_server_limit).status, Status::Request);
}

TEST(JsonLinesFraming, EncodesLinesAndErrorObjects) {
  JsonLinesProtocol json;
  std::string out;
  json.encode("{}", out);
  EXPECT_EQ(out, "{}\n");
  EXPECT_NE(json.failure_reply(Failure::Timeout).find("\"timeout\""), std::string::npos);
  EXPECT_NE(json.failure_reply(Failure::TooLarge).find("\"error\""), std::string::npos);
}

TEST(HttpFraming, OneHeadPerConnection) {
  HttpProtocol http;
  std::string partial = "GET /metrics HTTP/1.1\r\nHost: x\r\n";
  EXPECT_EQ(http.decode(partial, false, k_server_limit).status, Status::NeedMore);
  std::string whole = partial + "\r\nbody";
  const auto f = http.decode(whole, false, k_server_limit);
  ASSERT_EQ(f.status, Status::Request);
  EXPECT_EQ(f.text(), partial + "\r\n");
  EXPECT_EQ(f.consumed, whole.size());  // the body is not read
}

TEST(HttpFraming, EndOfInputBeforeTheHeadIsMalformed) {
  HttpProtocol http;
  std::string partial = "GET /metrics HTTP/1.1\r\n";
  const auto f = http.decode(partial, true, k_server_limit);
  EXPECT_EQ(f.status, Status::Bad);
  EXPECT_EQ(f.failure, Failure::Malformed);
}

TEST(HttpFraming, HeadOverTheLimitIsTooLarge) {
  HttpProtocol http;
  std::string endless = "GET /metrics HTTP/1.1\r\nX: " + std::string(proto::k_max_http_head, 'a');
  const auto f = http.decode(endless, false, k_server_limit);
  EXPECT_EQ(f.status, Status::Bad);
  EXPECT_EQ(f.failure, Failure::TooLarge);
  EXPECT_TRUE(http.failure_reply(Failure::TooLarge).starts_with("HTTP/1.1 431 "));
  EXPECT_TRUE(http.failure_reply(Failure::Malformed).starts_with("HTTP/1.1 400 "));
  std::string out;
  http.encode("HTTP/1.1 200 OK\r\n\r\n", out);
  EXPECT_EQ(out, "HTTP/1.1 200 OK\r\n\r\n");
}

}  // namespace
}  // namespace tlspolicy::daemon
