// SPDX-License-Identifier: Apache-2.0
//
// Shared by the integration tests of fetch/ against a REAL HTTPS server on loopback
// (curl_fetcher_test.cpp, curl_poster_test.cpp): child processes started with posix_spawn (safe
// in a threaded test process), a server child that prints the port the kernel picked, a
// throwaway test CA and leaves made by tools/gen-test-pki.sh in a temporary directory, and
// FetcherOptions that trust only that CA and reach the server through connect_to, so SNI, Host
// and certificate checks use the test name. HttpsSuite<Fixture> is the suite-wide part of such a
// fixture.
#pragma once

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "tlspolicy/fetch/https_fetcher.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace tlspolicy::fetch::test {

/// Starts argv[0] (searched in PATH) in `cwd` with stdout and stderr to `log`. Returns the pid,
/// or nullopt when it could not be started.
inline std::optional<pid_t> spawn(const std::vector<std::string>& argv,
                                  const std::filesystem::path& cwd,
                                  const std::filesystem::path& log) {
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

/// Runs a command to completion; returns its exit status (-1 if it did not exit normally).
inline int run(const std::vector<std::string>& argv, const std::filesystem::path& cwd,
               const std::filesystem::path& log) {
  const auto pid = spawn(argv, cwd, log);
  if (!pid) return -1;
  int status = 0;
  while (waitpid(*pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

inline std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

/// The connect_to entry that sends `host`:443 to 127.0.0.1:`port`.
inline std::string connect_to(std::string_view host, int port) {
  return std::string(host) + ":443:127.0.0.1:" + std::to_string(port);
}

/// One HTTPS server child for the test name `host`: started in the constructor, SIGTERMed and
/// reaped in the destructor (RAII, so a failed ASSERT never leaks a server). The server listens
/// on 127.0.0.1 on a port the kernel picks and prints "<marker><port>" on a line of its own
/// output once it listens, so there is no race for a free port. `name` names it in why().
class TestHttpsServer {
 public:
  TestHttpsServer(const std::vector<std::string>& argv, const std::filesystem::path& cwd,
                  std::filesystem::path log, std::string_view marker, const std::string& name,
                  std::string host)
      : m_log(std::move(log)), m_host(std::move(host)) {
    using namespace std::chrono_literals;
    const auto pid = spawn(argv, cwd, m_log);
    if (!pid) {
      m_why = "cannot start " + name;
      return;
    }
    m_pid = *pid;
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (std::chrono::steady_clock::now() < deadline) {
      const std::string out = read_file(m_log);
      if (const auto at = out.find(marker); at != std::string::npos) {
        const auto end = out.find('\n', at);
        if (end != std::string::npos) {
          const auto digits = at + marker.size();
          m_port = std::stoi(out.substr(digits, end - digits));
          return;
        }
      }
      int status = 0;
      if (waitpid(m_pid, &status, WNOHANG) == m_pid) {
        m_pid = -1;
        m_why = name + " exited: " + out;
        return;
      }
      std::this_thread::sleep_for(20ms);
    }
    m_why = name + " did not listen within 10 s: " + read_file(m_log);
  }
  ~TestHttpsServer() {
    if (m_pid > 0) {
      kill(m_pid, SIGTERM);
      int status = 0;
      waitpid(m_pid, &status, 0);
    }
  }
  TestHttpsServer(const TestHttpsServer&) = delete;
  TestHttpsServer& operator=(const TestHttpsServer&) = delete;

  [[nodiscard]] bool ok() const { return m_port > 0; }
  [[nodiscard]] const std::string& why() const { return m_why; }
  [[nodiscard]] int port() const { return m_port; }
  [[nodiscard]] const std::filesystem::path& log() const { return m_log; }
  /// The connect_to entry that sends the test name's port 443 to this server.
  [[nodiscard]] std::string connect_to() const { return test::connect_to(m_host, m_port); }

 private:
  pid_t m_pid = -1;
  int m_port = 0;
  std::filesystem::path m_log;
  std::string m_host;
  std::string m_why;
};

/// The suite-wide part of an HTTPS integration fixture `Fixture` (declared as
/// `class Fixture : public HttpsSuite<Fixture>`, so each suite has its own statics): libcurl's
/// global state, a temporary directory s_dir (kept when TLSPOLICY_KEEP_TEST_DIRS is set) with
/// the test PKI in s_dir/pki, and s_skip, the reason every test of the suite skips (GTEST_SKIP,
/// exit 77), if any.
template <class Fixture>
class HttpsSuite : public ::testing::Test {
 protected:
  /// Starts the suite: CurlGlobal and $TMPDIR/<name>-XXXXXX (/tmp when TMPDIR is unset or
  /// empty) as s_dir. False, with s_skip set, when the directory cannot be made.
  static bool begin_suite(std::string_view name) {
    s_curl = std::make_unique<CurlGlobal>();
    const char* tmp = std::getenv("TMPDIR");
    std::string templ = std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/" +
                        std::string(name) + "-XXXXXX";
    if (mkdtemp(templ.data()) == nullptr) {
      s_skip = "mkdtemp failed";
      return false;
    }
    s_dir = templ;
    return true;
  }

  /// Makes s_dir/pki with `tools/gen-test-pki.sh <options...> s_dir/pki <host>` (the openssl
  /// CLI must be there). False, with s_skip set, when that fails.
  static bool make_test_pki(const std::vector<std::string>& options, const std::string& host) {
    const std::filesystem::path log = s_dir / "setup.log";
    if (run({"openssl", "version"}, s_dir, log) != 0) {
      s_skip = "the openssl CLI is not installed (apt-get install openssl)";
      return false;
    }
    std::vector<std::string> argv{"bash", TLSPOLICY_SOURCE_DIR "/tools/gen-test-pki.sh"};
    argv.insert(argv.end(), options.begin(), options.end());
    argv.push_back((s_dir / "pki").string());
    argv.push_back(host);
    if (const int rc = run(argv, s_dir, log); rc != 0) {
      s_skip = "tools/gen-test-pki.sh failed (" + std::to_string(rc) + "): " + read_file(log);
      return false;
    }
    return true;
  }

  /// Removes s_dir (unless TLSPOLICY_KEEP_TEST_DIRS is set) and ends libcurl's global state.
  static void end_suite() {
    if (!s_dir.empty() && std::getenv("TLSPOLICY_KEEP_TEST_DIRS") == nullptr) {
      std::error_code ec;
      std::filesystem::remove_all(s_dir, ec);
    }
    s_curl.reset();
  }

  void SetUp() override {
    if (!s_skip.empty()) GTEST_SKIP() << s_skip;
  }

  /// Options trusting only the test CA and reaching port 443 of the test name at `connect_to`.
  static FetcherOptions options(std::string connect_to) {
    using namespace std::chrono_literals;
    FetcherOptions o;
    o.ca_file = (s_dir / "pki" / "ca.pem").string();
    o.allow_private_addresses = true;
    o.connect_timeout = 5000ms;
    o.total_timeout = 10000ms;
    o.connect_to = {std::move(connect_to)};
    return o;
  }

  static inline std::unique_ptr<CurlGlobal> s_curl;
  static inline std::filesystem::path s_dir;
  static inline std::string s_skip;
};

}  // namespace tlspolicy::fetch::test
