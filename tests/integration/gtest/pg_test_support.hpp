// SPDX-License-Identifier: Apache-2.0
//
// A throwaway REAL PostgreSQL server for the integration tests of the fleet's
// shared store (issue 13): Debian's postgresql package (initdb, pg_ctl,
// postgres under /usr/lib/postgresql/<version>/bin), initdb into a fresh
// temporary directory, listening on a Unix socket in that directory only
// (listen_addresses = '', no TCP port, no system service), fsync off, trust
// authentication for the "postgres" role, one database made for the tests.
// PostgreSQL refuses to run as root, so as root the server runs as the
// "postgres" system user (runuser), with the directory chowned to it. The
// destructor stops the server (pg_ctl stop -m immediate) and removes the
// directory. When initdb or the user is missing, why_not() says so and the
// tests skip (GTEST_SKIP).
//
// Children are started with posix_spawn (safe in a threaded test process);
// their output goes to <dir>/*.log, printed in why_not() when a step fails.
#pragma once

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "pg_connection.hpp"
#include <fcntl.h>
#include <pwd.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace tlspolicy::cache::test {

/// The directory of initdb/pg_ctl: $TLSPOLICY_PG_BINDIR, else the newest
/// /usr/lib/postgresql/<version>/bin that has initdb; nullopt when none.
inline std::optional<std::filesystem::path> pg_bindir() {
  if (const char* env = std::getenv("TLSPOLICY_PG_BINDIR"); env != nullptr && *env != '\0') {
    return std::filesystem::path{env};
  }
  std::optional<std::filesystem::path> best;
  int best_version = -1;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator{"/usr/lib/postgresql", ec}) {
    const std::string name = entry.path().filename().string();
    if (name.empty() ||
        !std::all_of(name.begin(), name.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      continue;
    }
    const int version = std::stoi(name);
    if (version > best_version && std::filesystem::exists(entry.path() / "bin" / "initdb")) {
      best_version = version;
      best = entry.path() / "bin";
    }
  }
  return best;
}

class PgTestServer {
 public:
  /// Makes the directory, runs initdb, starts the server and creates the
  /// database "tlspolicy". On failure why_not() tells what went wrong.
  PgTestServer() {
    const auto bin = pg_bindir();
    if (!bin) {
      m_why_not =
          "PostgreSQL server binaries not found (/usr/lib/postgresql/*/bin/initdb; "
          "install the postgresql package or set TLSPOLICY_PG_BINDIR)";
      return;
    }
    m_bin = *bin;
    // Short: the socket path "<dir>/.s.PGSQL.5432" must fit in sun_path (108 bytes).
    std::string pattern = "/tmp/tlspolicy-pg-XXXXXX";
    if (::mkdtemp(pattern.data()) == nullptr) {
      m_why_not = "mkdtemp failed: " + std::string(std::strerror(errno));
      return;
    }
    m_dir = pattern;
    if (::geteuid() == 0) {
      const passwd* pw = ::getpwnam("postgres");
      if (pw == nullptr) {
        m_why_not = "running as root and there is no 'postgres' user to run PostgreSQL as";
        return;
      }
      if (::chown(m_dir.c_str(), pw->pw_uid, pw->pw_gid) != 0) {
        m_why_not = "cannot chown " + m_dir.string() + " to postgres";
        return;
      }
      const char* runuser = "/usr/sbin/runuser";
      m_as = {std::filesystem::exists(runuser) ? runuser : "runuser", "-u", "postgres", "--"};
    }
    if (!step("initdb", {(m_bin / "initdb").string(), "-D", data().string(), "-U", "postgres", "-A",
                         "trust", "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions"})) {
      return;
    }
    {
      std::ofstream conf{data() / "postgresql.conf", std::ios::app};
      conf << "\n# tests/integration/gtest/pg_test_support.hpp\n"
           << "listen_addresses = ''\n"
           << "unix_socket_directories = '" << m_dir.string() << "'\n"
           << "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n"
           << "max_connections = 40\n";
      if (!conf) {
        m_why_not = "cannot write postgresql.conf";
        return;
      }
    }
    if (!step("pg_ctl start", {(m_bin / "pg_ctl").string(), "-D", data().string(), "-l",
                               (m_dir / "server.log").string(), "-w", "-t", "60", "start"})) {
      return;
    }
    m_started = true;
    auto admin = PgConn::open(options("postgres"));
    if (!admin) {
      m_why_not = "cannot connect to the test server: " + admin.error().detail + "\n" +
                  read_log("server.log");
      return;
    }
    if (auto made = (*admin)->run("CREATE DATABASE tlspolicy"); !made) {
      m_why_not = "CREATE DATABASE failed: " + made.error().detail;
      return;
    }
  }

  ~PgTestServer() {
    if (m_started) {
      (void)step("pg_ctl stop", {(m_bin / "pg_ctl").string(), "-D", data().string(), "-m",
                                 "immediate", "-w", "stop"});
    }
    if (!m_dir.empty()) {
      std::error_code ec;
      std::filesystem::remove_all(m_dir, ec);
    }
  }

  PgTestServer(const PgTestServer&) = delete;
  PgTestServer& operator=(const PgTestServer&) = delete;

  /// "" when the server runs; else why not (the reason to skip).
  [[nodiscard]] const std::string& why_not() const noexcept { return m_why_not; }

  /// The libpq URI of database `db` on this server (Unix socket, role postgres).
  [[nodiscard]] std::string url(std::string_view db = "tlspolicy") const {
    return "postgresql:///" + std::string(db) + "?host=" + m_dir.string() + "&user=postgres";
  }

  /// PgOptions for database `db`, with a deadline generous for a loaded CI machine.
  [[nodiscard]] PgOptions options(std::string_view db = "tlspolicy") const {
    PgOptions o;
    o.url = url(db);
    o.application_name = "tlspolicy-test";
    o.timeout = std::chrono::seconds{10};
    return o;
  }

 private:
  [[nodiscard]] std::filesystem::path data() const { return m_dir / "data"; }

  [[nodiscard]] std::string read_log(std::string_view name) const {
    std::ifstream in{m_dir / name};
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
  }

  /// Runs argv (as postgres when we are root) in the directory with its output in
  /// "<dir>/<what>.log"; false, with why_not() set, unless it exits 0.
  bool step(const std::string& what, std::vector<std::string> argv) {
    argv.insert(argv.begin(), m_as.begin(), m_as.end());
    std::string log_name = what;
    std::replace(log_name.begin(), log_name.end(), ' ', '-');
    log_name += ".log";
    const auto log = m_dir / log_name;
    std::vector<char*> args;
    for (auto& a : argv) args.push_back(a.data());
    args.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addchdir_np(&actions, m_dir.c_str());  // readable by postgres
    posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, log.c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
    pid_t pid = -1;
    const int rc = posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) {
      m_why_not = what + ": cannot start " + argv[0] + ": " + std::strerror(rc);
      return false;
    }
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      m_why_not = what + " failed:\n" + read_log(log_name) + read_log("server.log");
      return false;
    }
    return true;
  }

  std::filesystem::path m_bin;
  std::filesystem::path m_dir;
  std::vector<std::string> m_as;  ///< "runuser -u postgres --" as root, else empty
  bool m_started = false;
  std::string m_why_not;
};

}  // namespace tlspolicy::cache::test
