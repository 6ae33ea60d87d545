// SPDX-License-Identifier: Apache-2.0
//
// Unit tests of send_via_sendmail() (src/tlsrpt/sendmail.cpp) with /bin/sh scripts standing in
// for sendmail(1), written to a temporary directory: one that saves its argv and stdin and exits
// 0, one that exits 75 (EX_TEMPFAIL), one that exits 67, one that sleeps past a 1 s timeout, one
// that exits without reading its input (must cost an EPIPE, never a SIGPIPE that kills the test),
// one that floods stderr before reading (no deadlock, output capped), one that lists its open
// descriptors (only stdio is inherited), and a missing binary.
#include "tlspolicy/tlsrpt/sendmail.hpp"

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include <fcntl.h>
#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

namespace tlspolicy::tlsrpt {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

class Sendmail : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* tmp = std::getenv("TMPDIR");
    std::string templ = std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") +
                        "/tlspolicy-sendmail-test-XXXXXX";
    ASSERT_NE(mkdtemp(templ.data()), nullptr) << "mkdtemp: " << std::strerror(errno);
    m_dir = templ;
  }
  void TearDown() override {
    std::error_code ec;
    if (!m_dir.empty()) fs::remove_all(m_dir, ec);
  }

  /// Writes an executable /bin/sh script; $D in `body` is the test directory.
  fs::path script(const std::string& name, const std::string& body) {
    const fs::path p = m_dir / name;
    std::ofstream(p) << "#!/bin/sh\nD='" << m_dir.string() << "'\n" << body << "\n";
    fs::permissions(p, fs::perms::owner_all);
    return p;
  }

  [[nodiscard]] SendmailOptions options(const fs::path& command,
                                        std::chrono::seconds timeout = 10s) const {
    SendmailOptions o;
    o.command = {command.string(), "-oi"};
    o.timeout = timeout;
    return o;
  }

  fs::path m_dir;
};

/// `r` failed as a delivery to retry later does (Internal, Transient).
::testing::AssertionResult is_transient_failure(const Result<void>& r) {
  if (r.has_value()) return ::testing::AssertionFailure() << "sendmail succeeded";
  if (r.error().code != Errc::Internal || r.error().retry != Retry::Transient) {
    return ::testing::AssertionFailure()
           << "got " << to_string(r.error().code)
           << (r.error().retry == Retry::Transient ? " (transient)" : " (permanent)")
           << ", want internal (transient): " << r.error().detail;
  }
  return ::testing::AssertionSuccess();
}

std::string big_message(std::size_t n) {
  std::string m = "From: a@example.org\nSubject: test\n\n";
  while (m.size() < n) m += "line of the body " + std::to_string(m.size()) + "\n";
  return m;
}

TEST_F(Sendmail, PassesArgvAndMessageAndSucceedsOnExitZero) {
  const auto cmd = script("save", R"(printf '%s\n' "$@" > "$D/argv"
cat > "$D/stdin"
exit 0)");
  const std::string message = big_message(300 * 1024);  // several pipe buffers
  const auto r = send_via_sendmail(options(cmd), "tlsrpt@mail.sender.example",
                                   "tls-reports@example.net", message);
  ASSERT_TRUE(r.has_value()) << r.error().detail;
  EXPECT_EQ(read_file(m_dir / "argv"),
            "-oi\n-f\ntlsrpt@mail.sender.example\ntls-reports@example.net\n");
  EXPECT_EQ(read_file(m_dir / "stdin"), message);
}

TEST_F(Sendmail, EmptyMessageIsJustEof) {
  const auto cmd = script("save", R"(cat > "$D/stdin"; exit 0)");
  const auto r = send_via_sendmail(options(cmd), "a@example.org", "b@example.net", "");
  ASSERT_TRUE(r.has_value()) << r.error().detail;
  EXPECT_EQ(read_file(m_dir / "stdin"), "");
}

TEST_F(Sendmail, ExitTempfailIsTransientWithOutput) {
  const auto cmd = script("tempfail", R"(cat > /dev/null
echo "451 4.3.0 queue file write error" >&2
exit 75)");
  const auto r = send_via_sendmail(options(cmd), "a@example.org", "b@example.net", "hello\n");
  ASSERT_TRUE(is_transient_failure(r));
  EXPECT_EQ(r.error().detail, "sendmail exited 75 (EX_TEMPFAIL): 451 4.3.0 queue file write error");
}

TEST_F(Sendmail, OtherExitCodeIsTransientWithClearDetail) {
  const auto cmd = script("nouser", R"(cat > /dev/null
echo "b@example.net... User unknown"
exit 67)");
  const auto r = send_via_sendmail(options(cmd), "a@example.org", "b@example.net", "hello\n");
  ASSERT_TRUE(is_transient_failure(r));
  EXPECT_EQ(r.error().detail, "sendmail exited 67: b@example.net... User unknown");
}

/// True when `pid` no longer runs (gone, or a zombie waiting for its new parent).
bool gone(pid_t pid) {
  const std::string stat = read_file("/proc/" + std::to_string(pid) + "/stat");
  if (stat.empty()) return true;
  const auto close = stat.rfind(')');
  return close != std::string::npos && close + 2 < stat.size() && stat[close + 2] == 'Z';
}

TEST_F(Sendmail, TimeoutKillsTheCommandAndWhatItStarted) {
  const auto cmd = script("slow", R"(sleep 30 &
echo $! > "$D/sleep.pid"
wait)");
  const auto start = std::chrono::steady_clock::now();
  const auto r = send_via_sendmail(options(cmd, 1s), "a@example.org", "b@example.net", "hi\n");
  const auto took = std::chrono::steady_clock::now() - start;
  ASSERT_TRUE(is_transient_failure(r));
  EXPECT_NE(r.error().detail.find("did not finish within 1 s"), std::string::npos)
      << r.error().detail;
  EXPECT_GE(took, 1s);
  EXPECT_LT(took, 5s);
  // The process group was killed: the script's own child is gone too.
  const std::string pid_text = read_file(m_dir / "sleep.pid");
  ASSERT_FALSE(pid_text.empty());
  const pid_t sleeper = static_cast<pid_t>(std::stol(pid_text));
  bool dead = false;
  for (int i = 0; i < 100 && !dead; ++i) {
    dead = gone(sleeper);
    if (!dead) usleep(20000);
  }
  EXPECT_TRUE(dead) << "sleep " << sleeper << " survived the timeout";
}

/// A command that exits without reading its stdin: our write gets EPIPE. The test process must
/// survive (SIGPIPE's default action would kill it), its SIGPIPE disposition must be unchanged,
/// and no SIGPIPE may be left pending.
TEST_F(Sendmail, CommandNotReadingInputCostsEpipeNotSigpipe) {
  struct sigaction before {};
  ASSERT_EQ(sigaction(SIGPIPE, nullptr, &before), 0);
  const auto cmd = script("noread", "exit 0");
  const std::string message = big_message(1024 * 1024);  // cannot fit in a pipe buffer
  const auto r = send_via_sendmail(options(cmd), "a@example.org", "b@example.net", message);
  ASSERT_TRUE(is_transient_failure(r));
  EXPECT_NE(r.error().detail.find("sendmail exited 0 but read only"), std::string::npos)
      << r.error().detail;

  struct sigaction after {};
  ASSERT_EQ(sigaction(SIGPIPE, nullptr, &after), 0);
  EXPECT_EQ(after.sa_handler, before.sa_handler);
  sigset_t pending;
  sigemptyset(&pending);
  ASSERT_EQ(sigpending(&pending), 0);
  EXPECT_EQ(sigismember(&pending, SIGPIPE), 0) << "a SIGPIPE was left pending";
  sigset_t mask;
  ASSERT_EQ(pthread_sigmask(SIG_BLOCK, nullptr, &mask), 0);
  EXPECT_EQ(sigismember(&mask, SIGPIPE), 0) << "SIGPIPE left blocked";
}

TEST_F(Sendmail, CommandFailingWithoutReadingReportsItsExit) {
  const auto cmd = script("refuse", "echo 'refused' >&2; exit 1");
  const auto r =
      send_via_sendmail(options(cmd), "a@example.org", "b@example.net", big_message(1024 * 1024));
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().detail, "sendmail exited 1: refused");
}

// The command writes a lot before reading: output and input are served together (no deadlock),
// and at most 4 KiB of output ends up in the detail.
TEST_F(Sendmail, FloodedOutputIsCappedAndDoesNotDeadlock) {
  const auto cmd = script("flood", R"(i=0
while [ $i -lt 3000 ]; do echo "warning: something rather long happened here, number $i" >&2; i=$((i+1)); done
cat > /dev/null
exit 1)");
  const auto r =
      send_via_sendmail(options(cmd), "a@example.org", "b@example.net", big_message(512 * 1024));
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().detail.rfind("sendmail exited 1: warning: something", 0), 0u)
      << r.error().detail.substr(0, 200);
  EXPECT_LE(r.error().detail.size(), 4096u + 64u);
}

TEST_F(Sendmail, ChildInheritsOnlyStdio) {
  const int stray = open("/dev/null", O_RDONLY);  // no O_CLOEXEC on purpose
  ASSERT_GE(stray, 0);
  ASSERT_EQ(dup2(stray, 100), 100);
  const auto cmd = script("fds", R"(cat > /dev/null
for f in /proc/$$/fd/*; do echo "${f##*/}"; done > "$D/fds"
exit 0)");
  const auto r = send_via_sendmail(options(cmd), "a@example.org", "b@example.net", "x\n");
  close(100);
  close(stray);
  ASSERT_TRUE(r.has_value()) << r.error().detail;
  // The shell's own fds while the loop's output is redirected: 0, 1, 2, and the redirect
  // (saved stdout, 10 in dash) — nothing of the test process such as 100.
  const std::string fds = read_file(m_dir / "fds");
  std::istringstream lines(fds);
  for (std::string fd; std::getline(lines, fd);) {
    EXPECT_NE(fd, "100") << fds;
  }
}

TEST_F(Sendmail, MissingBinaryIsConfigValue) {
  const auto r = send_via_sendmail(options(m_dir / "no-such-sendmail"), "a@example.org",
                                   "b@example.net", "x\n");
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, Errc::ConfigValue);
  EXPECT_EQ(r.error().retry, Retry::Permanent);
  EXPECT_NE(r.error().detail.find("no-such-sendmail"), std::string::npos) << r.error().detail;
}

TEST_F(Sendmail, RejectsBadAddressesWithoutRunningAnything) {
  const auto cmd = script("save", R"(printf '%s\n' "$@" > "$D/argv"; cat > /dev/null)");
  for (const auto& [from, to] : std::vector<std::pair<std::string, std::string>>{
           {"", "b@example.net"},
           {"a@example.org", ""},
           {"-oQ/tmp", "b@example.net"},
           {"a@example.org", "-C/etc/evil.cf"},
           {"a@example.org", "b@example.net c@example.net"},
           {"a@example.org\n", "b@example.net"},
           {"a@example.org", "b@exa\tmple.net"},
           {"a@example.org", std::string("b@example.net\0x", 15)}}) {
    const auto r = send_via_sendmail(options(cmd), from, to, "x\n");
    ASSERT_FALSE(r.has_value()) << "accepted '" << from << "' -> '" << to << "'";
    EXPECT_EQ(r.error().code, Errc::InvalidArgument);
    EXPECT_EQ(r.error().retry, Retry::Permanent);
  }
  EXPECT_FALSE(fs::exists(m_dir / "argv"));

  SendmailOptions none;
  none.command.clear();
  const auto r = send_via_sendmail(none, "a@example.org", "b@example.net", "x\n");
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, Errc::InvalidArgument);
}

}  // namespace
}  // namespace tlspolicy::tlsrpt
