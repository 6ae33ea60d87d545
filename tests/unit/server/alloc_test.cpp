// SPDX-License-Identifier: Apache-2.0
//
// The server's synchronous path allocates nothing once warm (docs/performance.md, the cached
// path): decoding a request as a view into the connection's buffer, a Handler answering with
// Responder::send_view, and framing the reply into the connection's output buffer reuse
// memory that is already there. Counted: the allocations of
// the server's loop thread while the handler says so (support/count_allocations.hpp).
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <new>
#include <string>
#include <string_view>

#include <gtest/gtest.h>

#include "tlspolicy/server/listen.hpp"
#include "tlspolicy/server/server.hpp"
#include "tlspolicy/util/fd.hpp"
#include "tlspolicy/util/log.hpp"

#include "support/count_allocations.hpp"
#include "support/testing.hpp"
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

namespace tlspolicy::server {
namespace {

/// Lines; a request is a view into the buffer.
class Lines final : public Protocol {
 public:
  Frame decode(std::string& in, bool /*eof*/, std::size_t /*max*/) override {
    const auto nl = in.find('\n');
    if (nl == std::string::npos) return Frame::need_more();
    return Frame::of(std::string_view{in}.substr(0, nl), nl + 1);
  }
  void encode(std::string_view reply, std::string& out) override {
    out.append(reply);
    out.push_back('\n');
  }
  std::string failure_reply(Failure) override { return "ERR"; }
};

TEST(ServerAllocations, SynchronousRepliesAllocateNothingOnceWarm) {
  testing::TempDir dir;
  const auto path = dir / "s.sock";
  auto fd = listen_endpoint("unix:" + path.string());
  ASSERT_TRUE(fd) << fd.error().detail;
  Server server({}, util::null_logger());
  // "count" starts counting on the loop thread, "stop" ends it; the rest is echoed.
  server.add_listener("t", std::move(*fd), std::make_unique<Lines>(),
                      [](std::string_view request, const Responder& respond) {
                        if (request == "count") testing::count_allocations(true);
                        if (request == "stop") testing::count_allocations(false);
                        respond.send_view(request);
                      });
  server.start();

  util::Fd client{::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)};
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
  ASSERT_EQ(::connect(client.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr), 0);
  const auto ask = [&](std::string_view line) {
    const std::string out = std::string{line} + "\n";
    if (::send(client.get(), out.data(), out.size(), MSG_NOSIGNAL) !=
        static_cast<ssize_t>(out.size())) {
      return std::string{"<send>"};
    }
    std::string got;
    char c = 0;
    while (::recv(client.get(), &c, 1, 0) == 1 && c != '\n') got += c;
    return got;
  };
  for (int i = 0; i < 50; ++i)
    ASSERT_EQ(ask("postfix example.test warm-up"), "postfix example.test warm-up");
  ASSERT_EQ(ask("count"), "count");
  for (int i = 0; i < 1000; ++i) ASSERT_EQ(ask("postfix example.test"), "postfix example.test");
  ASSERT_EQ(ask("stop"), "stop");
  EXPECT_EQ(testing::allocations(), 0U);
  server.stop(std::chrono::seconds(1));
}

}  // namespace
}  // namespace tlspolicy::server
