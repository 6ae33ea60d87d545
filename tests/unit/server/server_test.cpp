// SPDX-License-Identifier: Apache-2.0
//
// server::Server over real sockets in a temporary directory, with a toy line
// protocol: "echo X" answers X at once, "async X" answers X from a worker
// thread, "hang" is never answered by itself (the test holds the Responder),
// "throw" makes the handler throw. No fixed ports; waits are bounded polls.
#include "tlspolicy/server/server.hpp"

#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <functional>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "tlspolicy/server/listen.hpp"
#include "tlspolicy/util/fd.hpp"
#include "tlspolicy/util/locked.hpp"
#include "tlspolicy/util/log.hpp"

#include "support/testing.hpp"
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

namespace tlspolicy::server {
namespace {

using namespace std::chrono_literals;
using testing::wait_until;

using testing::TempDir;

class LineProtocol final : public Protocol {
 public:
  Frame decode(std::string& in, bool eof, std::size_t max_request_bytes) override {
    const auto nl = in.find('\n');
    if (nl == std::string::npos) {
      if (in.size() > max_request_bytes) return Frame::bad(Failure::TooLarge);
      if (!eof || in.empty()) return Frame::need_more();
      return Frame::of(in, in.size());  // unterminated last line at EOF
    }
    if (nl > max_request_bytes) return Frame::bad(Failure::TooLarge);
    const std::string_view line = std::string_view{in}.substr(0, nl);
    if (line == "bad-frame") return Frame::bad(Failure::Malformed);
    if (line == "owned") return Frame::of_owned("echo rebuilt", nl + 1);
    return Frame::of(line, nl + 1);
  }
  void encode(std::string_view reply, std::string& out) override {
    out.append(reply);
    out.push_back('\n');
  }
  std::string failure_reply(Failure why) override {
    switch (why) {
      case Failure::TooLarge:
        return "ERR too-large";
      case Failure::Malformed:
        return "ERR malformed";
      case Failure::Timeout:
        return "ERR timeout";
      case Failure::Internal:
        return "ERR internal";
    }
    return "ERR";
  }
};

/// Answers queued requests from its own thread.
class Worker {
 public:
  Worker() : m_thread([this] { run(); }) {}
  ~Worker() {
    {
      std::lock_guard lock(m_mutex);
      m_stop = true;
    }
    m_cv.notify_one();
    m_thread.join();
  }
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  void post(std::function<void()> job) {
    {
      std::lock_guard lock(m_mutex);
      m_jobs.push_back(std::move(job));
    }
    m_cv.notify_one();
  }

 private:
  void run() {
    std::unique_lock lock(m_mutex);
    for (;;) {
      m_cv.wait(lock, [this] { return m_stop || !m_jobs.empty(); });
      if (m_jobs.empty()) return;
      auto job = std::move(m_jobs.front());
      m_jobs.pop_front();
      lock.unlock();
      job();
      lock.lock();
    }
  }

  std::mutex m_mutex;
  std::condition_variable m_cv;
  std::deque<std::function<void()>> m_jobs;
  bool m_stop = false;
  std::thread m_thread;
};

/// A blocking client with a receive timeout, so a failing test cannot hang.
class Client {
 public:
  explicit Client(const std::filesystem::path& socket_path) {
    m_fd.reset(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    const std::string p = socket_path.string();
    std::memcpy(addr.sun_path, p.data(), p.size());
    m_connected = ::connect(m_fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0;
    set_timeout();
  }
  explicit Client(std::uint16_t tcp_port) {
    m_fd.reset(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(tcp_port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    m_connected = ::connect(m_fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0;
    set_timeout();
  }

  [[nodiscard]] bool connected() const { return m_connected; }

  void send(std::string_view data) {
    while (!data.empty()) {
      const auto n = ::send(m_fd.get(), data.data(), data.size(), MSG_NOSIGNAL);
      if (n <= 0) return;
      data.remove_prefix(static_cast<std::size_t>(n));
    }
  }

  /// The next line without '\n'; "<eof>" at end of stream, "<reset>" when the server closed
  /// with bytes of ours unread (ECONNRESET), "<timeout>" after 10 s.
  std::string read_line() {
    for (;;) {
      const auto nl = m_buffer.find('\n');
      if (nl != std::string::npos) {
        std::string line = m_buffer.substr(0, nl);
        m_buffer.erase(0, nl + 1);
        return line;
      }
      const int n = fill();
      if (n == 0) return "<eof>";
      if (n < 0) return errno == ECONNRESET ? "<reset>" : "<timeout>";
    }
  }

  /// Everything until EOF.
  std::string read_all() {
    while (fill() > 0) {
    }
    return std::exchange(m_buffer, {});
  }

  std::string request(std::string_view line) {
    send(std::string(line) + "\n");
    return read_line();
  }

  void shutdown_write() { ::shutdown(m_fd.get(), SHUT_WR); }
  void close() { m_fd.reset(); }

 private:
  void set_timeout() {
    const timeval tv{10, 0};
    ::setsockopt(m_fd.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }
  int fill() {
    char buf[4096];
    const auto n = ::recv(m_fd.get(), buf, sizeof buf, 0);
    if (n > 0) m_buffer.append(buf, static_cast<std::size_t>(n));
    return n > 0 ? 1 : (n == 0 ? 0 : -1);
  }

  util::Fd m_fd;
  bool m_connected = false;
  std::string m_buffer;
};

class ServerTest : public ::testing::Test {
 protected:
  void start(ServerOptions options = {}) {
    m_server = std::make_unique<Server>(options, util::null_logger());
    auto fd = listen_endpoint("unix:" + socket_path().string());
    ASSERT_TRUE(fd) << fd.error().detail;
    m_server->add_listener("test", std::move(*fd), std::make_unique<LineProtocol>(),
                           [this](std::string_view request, const Responder& respond) {
                             handle(std::string{request}, respond);
                           });
    m_server->start();
  }

  void handle(const std::string& request, const Responder& respond) {
    if (request.starts_with("echo ")) {
      respond.send_view(std::string_view{request}.substr(5));
    } else if (request.starts_with("async ")) {
      m_worker.post([respond, text = request.substr(6)] { respond(text); });
    } else if (request == "hang") {
      m_hung.lock()->push_back(respond);
    } else if (request == "bye") {
      respond("bye", true);
    } else if (request == "throw") {
      throw std::runtime_error("handler failure");
    } else {
      respond("? " + request);
    }
  }

  [[nodiscard]] std::size_t hung() { return m_hung.lock()->size(); }
  void answer_hung(std::size_t i, const std::string& reply) {
    const Responder r = m_hung.lock()->at(i);
    r(reply);
  }

  [[nodiscard]] std::filesystem::path socket_path() const { return m_dir.path() / "s.sock"; }
  [[nodiscard]] const ServerStats& stats() const { return m_server->stats(); }
  static std::uint64_t get(const std::atomic<std::uint64_t>& v) { return v.load(); }

  void TearDown() override {
    if (m_server) m_server->stop(0ms);
  }

  TempDir m_dir;
  Worker m_worker;
  util::Locked<std::vector<Responder>> m_hung;
  std::unique_ptr<Server> m_server;
};

TEST_F(ServerTest, EchoesRequests) {
  start();
  Client c(socket_path());
  ASSERT_TRUE(c.connected());
  EXPECT_EQ(c.request("echo hello"), "hello");
  EXPECT_EQ(c.request("echo world"), "world");
  EXPECT_EQ(c.request("async later"), "later");
  EXPECT_EQ(c.request("nonsense"), "? nonsense");
  EXPECT_EQ(get(stats().requests), 4u);
  EXPECT_EQ(get(stats().replies), 4u);
  EXPECT_EQ(get(stats().active), 1u);
}

// A request the protocol rebuilt (Frame::of_owned) reaches the handler like a view into the
// buffer; pipelined requests after it are still decoded from the right place.
TEST_F(ServerTest, OwnedFramesAndPipelinedRequests) {
  start();
  Client c(socket_path());
  ASSERT_TRUE(c.connected());
  EXPECT_EQ(c.request("owned"), "rebuilt");
  c.send("echo a\necho bb\nowned\necho ccc\n");
  EXPECT_EQ(c.read_line(), "a");
  EXPECT_EQ(c.read_line(), "bb");
  EXPECT_EQ(c.read_line(), "rebuilt");
  EXPECT_EQ(c.read_line(), "ccc");
}

TEST_F(ServerTest, ManyPersistentConnections) {
  start();
  constexpr int k_threads = 30;
  constexpr int k_per_thread = 10;
  constexpr int k_rounds = 20;
  std::atomic<int> good{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < k_threads; ++t) {
    threads.emplace_back([&, t] {
      std::vector<std::unique_ptr<Client>> clients;
      for (int i = 0; i < k_per_thread; ++i) {
        clients.push_back(std::make_unique<Client>(socket_path()));
      }
      for (int r = 0; r < k_rounds; ++r) {
        for (int i = 0; i < k_per_thread; ++i) {
          const char* verb = (r + i) % 2 == 0 ? "echo " : "async ";
          clients[static_cast<std::size_t>(i)]->send(verb + std::to_string(t * 1000 + i * 100 + r) +
                                                     "\n");
        }
        for (int i = 0; i < k_per_thread; ++i) {
          if (clients[static_cast<std::size_t>(i)]->read_line() ==
              std::to_string(t * 1000 + i * 100 + r)) {
            ++good;
          }
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(good.load(), k_threads * k_per_thread * k_rounds);
  EXPECT_EQ(get(stats().accepted), 300u);
  EXPECT_EQ(get(stats().rejected_max_connections), 0u);
}

TEST_F(ServerTest, PipelinedRequestsAnsweredInOrder) {
  start();
  Client c(socket_path());
  c.send("async 1\necho 2\nasync 3\nasync 4\necho 5\n");
  for (const char* expected : {"1", "2", "3", "4", "5"}) EXPECT_EQ(c.read_line(), expected);
}

TEST_F(ServerTest, OneOutstandingRequestPerConnection) {
  start();
  Client c(socket_path());
  c.send("hang\necho after\n");
  ASSERT_TRUE(wait_until([&] { return hung() == 1; }));
  // The second request is not passed on before the first is answered.
  EXPECT_EQ(get(stats().requests), 1u);
  answer_hung(0, "first");
  EXPECT_EQ(c.read_line(), "first");
  EXPECT_EQ(c.read_line(), "after");
  answer_hung(0, "again");  // a second answer to the same request is dropped
  EXPECT_TRUE(wait_until([&] { return get(stats().late_replies) == 1; }));
  EXPECT_EQ(c.request("echo x"), "x");
}

TEST_F(ServerTest, OversizeRequestGetsErrorAndClose) {
  ServerOptions options;
  options.max_request_bytes = 100;
  start(options);
  Client a(socket_path());
  a.send(std::string(200, 'x') + "\n");
  EXPECT_EQ(a.read_line(), "ERR too-large");
  EXPECT_EQ(a.read_line(), "<eof>");
  Client b(socket_path());  // no newline at all: the buffer limit applies
  b.send("echo " + std::string(300, 'y'));
  EXPECT_EQ(b.read_line(), "ERR too-large");
  EXPECT_EQ(b.read_line(), "<eof>");
  EXPECT_EQ(get(stats().too_large), 2u);
  Client c(socket_path());
  EXPECT_EQ(c.request("echo " + std::string(90, 'z')), std::string(90, 'z'));
}

TEST_F(ServerTest, MalformedFramingGetsErrorAndClose) {
  start();
  Client c(socket_path());
  c.send("bad-frame\n");
  EXPECT_EQ(c.read_line(), "ERR malformed");
  EXPECT_EQ(c.read_line(), "<eof>");
  EXPECT_EQ(get(stats().malformed), 1u);
}

TEST_F(ServerTest, IdleTimeoutCloses) {
  ServerOptions options;
  options.idle_timeout = 200ms;
  start(options);
  Client c(socket_path());
  EXPECT_EQ(c.request("echo x"), "x");
  const auto begin = std::chrono::steady_clock::now();
  EXPECT_EQ(c.read_line(), "<eof>");
  EXPECT_GE(std::chrono::steady_clock::now() - begin, 150ms);
  EXPECT_EQ(get(stats().idle_timeouts), 1u);
  EXPECT_TRUE(wait_until([&] { return get(stats().active) == 0; }));
}

TEST_F(ServerTest, DribblingClientClosedWhenInputDoesNotExtendIdle) {
  ServerOptions options;
  options.idle_timeout = 300ms;
  options.input_extends_idle = false;
  start(options);
  Client c(socket_path());
  const auto begin = std::chrono::steady_clock::now();
  // One byte every 50 ms would keep the connection forever if input restarted the timer.
  for (int i = 0; i < 12 && std::chrono::steady_clock::now() - begin < 500ms; ++i) {
    c.send("e");
    std::this_thread::sleep_for(50ms);
  }
  // Closed: a byte that arrived just before the close is unread, and then the close is a reset.
  const auto end = c.read_line();
  EXPECT_TRUE(end == "<eof>" || end == "<reset>") << end;
  const auto took = std::chrono::steady_clock::now() - begin;
  EXPECT_GE(took, 250ms);
  EXPECT_LT(took, 2s);
  EXPECT_EQ(get(stats().idle_timeouts), 1u);
}

TEST_F(ServerTest, RequestTimeoutSendsTimeoutReplyAndDropsLateReply) {
  ServerOptions options;
  options.request_timeout = 200ms;
  start(options);
  Client c(socket_path());
  EXPECT_EQ(c.request("hang"), "ERR timeout");
  EXPECT_EQ(get(stats().request_timeouts), 1u);
  answer_hung(0, "too late");
  EXPECT_TRUE(wait_until([&] { return get(stats().late_replies) == 1; }));
  EXPECT_EQ(c.request("echo still open"), "still open");
}

TEST_F(ServerTest, VanishedAndStalledClientsDoNotBlockOthers) {
  start();
  Client vanished(socket_path());
  vanished.send("hang\n");
  ASSERT_TRUE(wait_until([&] { return hung() == 1; }));
  vanished.close();
  Client stalled(socket_path());
  stalled.send("echo part");  // no newline, never completed
  Client slow_reader(socket_path());
  slow_reader.send("echo unread\n");
  Client other(socket_path());
  for (int i = 0; i < 50; ++i)
    EXPECT_EQ(other.request("echo " + std::to_string(i)), std::to_string(i));
  EXPECT_TRUE(wait_until([&] { return get(stats().aborted) == 1; }));
  answer_hung(0, "nobody listens");
  EXPECT_TRUE(wait_until([&] { return get(stats().late_replies) == 1; }));
  EXPECT_EQ(other.request("async ok"), "ok");
  stalled.send("\n");
  EXPECT_EQ(stalled.read_line(), "part");
}

TEST_F(ServerTest, ClientThatDoesNotReadIsClosed) {
  ServerOptions options;
  options.max_output_bytes = 64 * 1024;
  start(options);
  Client c(socket_path());
  const std::string big = "echo " + std::string(9000, 'r') + "\n";
  std::string burst;
  for (int i = 0; i < 200; ++i) burst += big;  // ~1.8 MB of replies, never read
  std::thread writer([&] { c.send(burst); });
  EXPECT_TRUE(wait_until([&] { return get(stats().output_overflows) == 1; }));
  c.shutdown_write();
  writer.join();
  Client other(socket_path());
  EXPECT_EQ(other.request("echo fine"), "fine");
}

TEST_F(ServerTest, MaxConnections) {
  ServerOptions options;
  options.max_connections = 3;
  start(options);
  std::vector<std::unique_ptr<Client>> clients;
  for (int i = 0; i < 3; ++i) {
    clients.push_back(std::make_unique<Client>(socket_path()));
    EXPECT_EQ(clients.back()->request("echo " + std::to_string(i)), std::to_string(i));
  }
  Client extra(socket_path());
  EXPECT_EQ(extra.read_line(), "<eof>");
  EXPECT_EQ(get(stats().rejected_max_connections), 1u);
  clients[0]->close();
  ASSERT_TRUE(wait_until([&] { return get(stats().active) == 2; }));
  Client again(socket_path());
  EXPECT_EQ(again.request("echo back"), "back");
}

TEST_F(ServerTest, HandlerExceptionClosesOnlyThatConnection) {
  start();
  Client other(socket_path());
  EXPECT_EQ(other.request("echo 1"), "1");
  Client c(socket_path());
  EXPECT_EQ(c.request("throw"), "ERR internal");
  EXPECT_EQ(c.read_line(), "<eof>");
  EXPECT_EQ(get(stats().internal_errors), 1u);
  EXPECT_EQ(other.request("echo 2"), "2");
}

TEST_F(ServerTest, CloseAfterReply) {
  start();
  Client c(socket_path());
  c.send("bye\necho never\n");
  EXPECT_EQ(c.read_line(), "bye");
  EXPECT_EQ(c.read_line(), "<eof>");
}

TEST_F(ServerTest, PartialLastLineAtEofIsAnswered) {
  start();
  Client c(socket_path());  // Exim ${readsocket}: write, shutdown(SHUT_WR), read to EOF
  c.send("echo first\nasync last");
  c.shutdown_write();
  EXPECT_EQ(c.read_all(), "first\nlast\n");
}

TEST_F(ServerTest, StopDrainsRequestInFlight) {
  start();
  Client c(socket_path());
  Client idle(socket_path());
  EXPECT_EQ(idle.request("echo idle"), "idle");
  c.send("hang\n");
  ASSERT_TRUE(wait_until([&] { return hung() == 1; }));
  std::thread stopper([&] { m_server->stop(10s); });
  // Once the listener is closed, new connections are refused; then answer.
  ASSERT_TRUE(wait_until([&] { return !Client(socket_path()).connected(); }));
  EXPECT_EQ(idle.read_line(), "<eof>");
  answer_hung(0, "drained");
  EXPECT_EQ(c.read_line(), "drained");
  EXPECT_EQ(c.read_line(), "<eof>");
  stopper.join();
  EXPECT_EQ(get(stats().active), 0u);
}

TEST_F(ServerTest, StopTimesOutWhenHandlerNeverAnswers) {
  start();
  Client c(socket_path());
  c.send("hang\n");
  ASSERT_TRUE(wait_until([&] { return hung() == 1; }));
  const auto begin = std::chrono::steady_clock::now();
  m_server->stop(100ms);
  EXPECT_LT(std::chrono::steady_clock::now() - begin, 5s);
  EXPECT_EQ(c.read_line(), "<eof>");
  answer_hung(0, "after stop");  // must not crash
}

TEST(ServerTcp, ServesLoopbackWithEphemeralPort) {
  auto fd = listen_endpoint("127.0.0.1:0");
  ASSERT_TRUE(fd) << fd.error().detail;
  auto port = bound_port(*fd);
  ASSERT_TRUE(port);
  EXPECT_NE(*port, 0);
  Server server({}, util::null_logger());
  server.add_listener("tcp", std::move(*fd), std::make_unique<LineProtocol>(),
                      [](std::string_view request, const Responder& respond) {
                        respond("got " + std::string{request});
                      });
  server.start();
  Client c(*port);
  ASSERT_TRUE(c.connected());
  EXPECT_EQ(c.request("a"), "got a");
  EXPECT_EQ(c.request("b"), "got b");
  server.stop(1s);
}

TEST(ServerMultiListener, EachListenerHasItsOwnProtocolAndHandler) {
  TempDir dir;
  Server server({}, util::null_logger());
  for (const char* name : {"one", "two"}) {
    auto fd = listen_endpoint("unix:" + (dir.path() / name).string());
    ASSERT_TRUE(fd);
    server.add_listener(
        name, std::move(*fd), std::make_unique<LineProtocol>(),
        [n = std::string(name)](std::string_view request, const Responder& respond) {
          respond(n + ":" + std::string{request});
        });
  }
  server.start();
  Client one(dir.path() / "one");
  Client two(dir.path() / "two");
  EXPECT_EQ(one.request("x"), "one:x");
  EXPECT_EQ(two.request("y"), "two:y");
}

// ---- listen_endpoint and systemd --------------------------------------------------------

TEST(ListenEndpoint, UnixSocketModeOwnerAndParentDirectory) {
  TempDir dir;
  const auto path = dir.path() / "sub" / "dir" / "s.sock";
  ListenOptions options;
  options.mode = 0600;
  options.owner = std::to_string(::getuid());
  options.group = std::to_string(::getgid());
  auto fd = listen_endpoint("unix:" + path.string(), options);
  ASSERT_TRUE(fd) << fd.error().detail;
  struct stat st {};
  ASSERT_EQ(::lstat(path.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(st.st_uid, ::getuid());
  EXPECT_EQ(st.st_gid, ::getgid());
  EXPECT_NE(::fcntl(fd->get(), F_GETFD) & FD_CLOEXEC, 0);
  EXPECT_NE(::fcntl(fd->get(), F_GETFL) & O_NONBLOCK, 0);

  options.mode = 0666;
  const auto path2 = dir.path() / "s2.sock";
  auto fd2 = listen_endpoint("unix:" + path2.string(), options);
  ASSERT_TRUE(fd2);
  ASSERT_EQ(::lstat(path2.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0666u);
}

TEST(ListenEndpoint, ReplacesStaleSocketButNotLiveOneOrOtherFiles) {
  TempDir dir;
  const std::string endpoint = "unix:" + (dir.path() / "s.sock").string();
  {
    auto first = listen_endpoint(endpoint);
    ASSERT_TRUE(first);
    auto second = listen_endpoint(endpoint);  // somebody listens: refuse
    ASSERT_FALSE(second);
    EXPECT_EQ(second.error().code, Errc::ConfigValue);
  }  // closed: the file stays behind, stale
  ASSERT_TRUE(std::filesystem::exists(dir.path() / "s.sock"));
  auto third = listen_endpoint(endpoint);
  ASSERT_TRUE(third) << third.error().detail;
  Client c(dir.path() / "s.sock");
  EXPECT_TRUE(c.connected());

  const auto regular = dir.path() / "file";
  { std::ofstream(regular) << "keep me"; }
  auto over_file = listen_endpoint("unix:" + regular.string());
  ASSERT_FALSE(over_file);
  EXPECT_TRUE(std::filesystem::is_regular_file(regular));
}

TEST(ListenEndpoint, RejectsBadEndpoints) {
  for (const char* bad :
       {"localhost:25", "127.0.0.1", "127.0.0.1:99999", "[::1]25", "unix:relative", "1.2.3.4:x"}) {
    EXPECT_FALSE(listen_endpoint(bad)) << bad;
  }
}

TEST(ListenEndpoint, Ipv6Loopback) {
  auto fd = listen_endpoint("[::1]:0");
  if (!fd) GTEST_SKIP() << "no IPv6 loopback: " << fd.error().detail;
  auto port = bound_port(*fd);
  ASSERT_TRUE(port);
  EXPECT_NE(*port, 0);
}

/// Two adjacent free descriptor numbers, from `start` up.
int free_fd_pair(int start) {
  for (int fd = start;; ++fd) {
    if (::fcntl(fd, F_GETFD) < 0 && ::fcntl(fd + 1, F_GETFD) < 0) return fd;
  }
}

TEST(SystemdFds, AdoptsNamedSockets) {
  TempDir dir;
  auto a = listen_endpoint("unix:" + (dir.path() / "a.sock").string());
  auto b = listen_endpoint("127.0.0.1:0");
  ASSERT_TRUE(a && b);
  const int first = free_fd_pair(200);
  ASSERT_EQ(::dup2(a->get(), first), first);
  ASSERT_EQ(::dup2(b->get(), first + 1), first + 1);
  ::fcntl(first, F_SETFL, 0);  // as systemd passes them: blocking, inheritable
  const std::string pid = std::to_string(::getpid());

  auto other = adopt_systemd_fds(std::to_string(::getpid() + 1), "2", "x:y", first);
  ASSERT_TRUE(other);
  EXPECT_TRUE(other->empty());  // meant for another process: not touched
  EXPECT_TRUE(adopt_systemd_fds("", "", "", first)->empty());
  EXPECT_FALSE(adopt_systemd_fds(pid, "two", "", first));

  auto fds = adopt_systemd_fds(pid, "2", "socketmap:json", first);
  ASSERT_TRUE(fds) << fds.error().detail;
  ASSERT_EQ(fds->size(), 2u);
  ASSERT_EQ(fds->count("socketmap"), 1u);
  ASSERT_EQ(fds->count("json"), 1u);
  const int sm = fds->find("socketmap")->second.get();
  EXPECT_EQ(sm, first);
  EXPECT_NE(::fcntl(sm, F_GETFD) & FD_CLOEXEC, 0);
  EXPECT_NE(::fcntl(sm, F_GETFL) & O_NONBLOCK, 0);
  auto port = bound_port(fds->find("json")->second);
  ASSERT_TRUE(port);
  EXPECT_EQ(*port, *bound_port(*b));
  fds->clear();  // closes first, first + 1
  EXPECT_LT(::fcntl(first, F_GETFD), 0);
}

TEST(SystemdFds, MissingNamesAreUnknown) {
  const int first = free_fd_pair(300);
  ASSERT_EQ(::dup2(STDIN_FILENO, first), first);
  auto fds = adopt_systemd_fds(std::to_string(::getpid()), "1", "", first);
  ASSERT_TRUE(fds);
  EXPECT_EQ(fds->count("unknown"), 1u);
}

TEST(UtilFd, MoveAndRelease) {
  int pipe_fds[2];
  ASSERT_EQ(::pipe(pipe_fds), 0);
  util::Fd r(pipe_fds[0]);
  util::Fd w(pipe_fds[1]);
  util::Fd moved = std::move(r);
  EXPECT_FALSE(r.valid());  // NOLINT(bugprone-use-after-move)
  EXPECT_EQ(moved.get(), pipe_fds[0]);
  const int raw = w.release();
  EXPECT_FALSE(w.valid());
  EXPECT_EQ(::close(raw), 0);  // still open: release() did not close it
  moved.reset();
  EXPECT_LT(::fcntl(pipe_fds[0], F_GETFD), 0);
}

}  // namespace
}  // namespace tlspolicy::server
