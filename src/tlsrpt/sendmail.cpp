// SPDX-License-Identifier: Apache-2.0
//
// NAME
//   sendmail - hand a TLS-RPT report message to the local MTA via sendmail(1)
// PROTOCOL
//   argv = SendmailOptions::command + {"-f", envelope_from, recipient}; the message on stdin,
//   then EOF; exit status 0 = accepted (sendmail(1), sysexits(3): 75 = EX_TEMPFAIL).
// PROCESS
//   posix_spawn (no fork of a multi-threaded daemon, no shell): the child gets stdin from one
//   pipe, stdout and stderr on another, every other descriptor closed (closefrom 3), an empty
//   signal mask, default dispositions for the signals a daemon commonly blocks or ignores, and
//   its own process group, so a timeout can SIGKILL the command together with anything it
//   started. The parent's pipe ends are O_CLOEXEC (no leak into concurrent spawns) and
//   non-blocking: one poll() loop writes the message and reads the output (up to 4 KiB kept, the
//   rest drained and dropped) together, so neither side can deadlock on a full pipe, and the
//   whole exchange is bounded by the timeout. A pidfd (Linux >= 5.3) wakes the loop when the
//   child exits; without one the loop checks every 50 ms.
// SIGPIPE
//   Writing to a pipe whose reader exited raises SIGPIPE, which by default kills the process.
//   MSG_NOSIGNAL exists only for sockets, and changing the process-wide disposition
//   (signal(SIGPIPE, SIG_IGN)) belongs to main(), not to a library. So the writing thread blocks
//   SIGPIPE in its own signal mask for the duration of the exchange (pthread_sigmask): write()
//   then fails with EPIPE and the signal, which is directed at the writing thread, stays
//   pending; before restoring the mask, sigtimedwait() with a zero timeout consumes it, unless a
//   SIGPIPE was already pending before we started (then it is not ours to take). Other threads
//   and the process disposition are never touched.
// ERRORS
//   see include/tlspolicy/tlsrpt/sendmail.hpp. No Errc names a local delivery failure, so a
//   refused or failed hand-off is Internal (Transient): RFC 8460 §5.5 retries reports anyway.
// SEE ALSO
//   RFC 8460 §5.3, §5.5; sendmail(1); sysexits(3); posix_spawn(3); mail.cpp
#include "tlspolicy/tlsrpt/sendmail.hpp"

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstddef>
#include <cstring>
#include <ctime>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tlspolicy/util/exit_status.hpp"
#include "tlspolicy/util/fd.hpp"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;  // NOLINT: POSIX declares it nowhere else

namespace tlspolicy::tlsrpt {
namespace {

constexpr std::size_t k_max_output = 4096;  // kept for the error detail
constexpr std::size_t k_write_chunk = std::size_t{64} * 1024;
constexpr std::chrono::milliseconds k_tick{50};  // child check period without a pidfd

Unexpected<Error> internal(std::string detail) {
  return fail(Errc::Internal, Retry::Transient, std::move(detail));
}

std::string errno_text(int e) { return std::strerror(e); }

/// An envelope address argument: non-empty, not an option, no whitespace or control characters
/// (argv is not a shell, but sendmail parses its own options and addresses).
bool valid_address_argument(std::string_view s) {
  if (s.empty() || s.front() == '-') return false;
  return std::none_of(s.begin(), s.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u <= 0x20 || u == 0x7f;
  });
}

/// Moves `fd` to a number >= 3 (O_CLOEXEC kept), so that dup2 onto 0/1/2 in the child never
/// meets itself (dup2(fd, fd) would keep FD_CLOEXEC and close the child's stdio at exec).
bool above_stdio(util::Fd& fd) {
  if (fd.get() >= 3) return true;
  const int moved = fcntl(fd.get(), F_DUPFD_CLOEXEC, 3);
  if (moved < 0) return false;
  fd = util::Fd(moved);
  return true;
}

struct Pipe {
  util::Fd read;
  util::Fd write;
};

Result<Pipe> make_pipe() {
  std::array<int, 2> fds{-1, -1};
  if (pipe2(fds.data(), O_CLOEXEC) != 0) return internal("pipe2: " + errno_text(errno));
  Pipe p{util::Fd(fds[0]), util::Fd(fds[1])};
  if (!above_stdio(p.read) || !above_stdio(p.write)) {
    return internal("fcntl(F_DUPFD_CLOEXEC): " + errno_text(errno));
  }
  return p;
}

bool set_nonblocking(int fd) {
  const int flags = fcntl(fd, F_GETFL);
  return flags >= 0 && fcntl(fd, F_SETFL, flags | O_NONBLOCK) == 0;
}

/// posix_spawn_file_actions_t with destroy at scope exit.
class FileActions {
 public:
  FileActions() { m_ok = posix_spawn_file_actions_init(&m_actions) == 0; }
  ~FileActions() {
    if (m_ok) posix_spawn_file_actions_destroy(&m_actions);
  }
  FileActions(const FileActions&) = delete;
  FileActions& operator=(const FileActions&) = delete;
  [[nodiscard]] bool ok() const { return m_ok; }
  posix_spawn_file_actions_t* get() { return &m_actions; }

 private:
  posix_spawn_file_actions_t m_actions{};
  bool m_ok = false;
};

/// posix_spawnattr_t with destroy at scope exit.
class SpawnAttr {
 public:
  SpawnAttr() { m_ok = posix_spawnattr_init(&m_attr) == 0; }
  ~SpawnAttr() {
    if (m_ok) posix_spawnattr_destroy(&m_attr);
  }
  SpawnAttr(const SpawnAttr&) = delete;
  SpawnAttr& operator=(const SpawnAttr&) = delete;
  [[nodiscard]] bool ok() const { return m_ok; }
  posix_spawnattr_t* get() { return &m_attr; }

 private:
  posix_spawnattr_t m_attr{};
  bool m_ok = false;
};

/// Blocks SIGPIPE in the calling thread while alive; on destruction consumes a SIGPIPE that our
/// own writes raised (see SIGPIPE above) and restores the previous mask.
class SigpipeBlocked {
 public:
  SigpipeBlocked() {
    sigemptyset(&m_pipe);
    sigaddset(&m_pipe, SIGPIPE);
    m_ok = pthread_sigmask(SIG_BLOCK, &m_pipe, &m_old) == 0;
    sigset_t pending;
    sigemptyset(&pending);
    m_was_pending = sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE) == 1;
  }
  ~SigpipeBlocked() {
    if (!m_ok) return;
    if (m_raised && !m_was_pending) {
      const timespec zero{};
      while (sigtimedwait(&m_pipe, nullptr, &zero) < 0 && errno == EINTR) {
      }
    }
    pthread_sigmask(SIG_SETMASK, &m_old, nullptr);
  }
  SigpipeBlocked(const SigpipeBlocked&) = delete;
  SigpipeBlocked& operator=(const SigpipeBlocked&) = delete;
  [[nodiscard]] bool ok() const { return m_ok; }
  void raised() { m_raised = true; }

 private:
  sigset_t m_pipe{};
  sigset_t m_old{};
  bool m_ok = false;
  bool m_was_pending = false;
  bool m_raised = false;
};

/// The captured output as one line for the error detail (controls become spaces).
std::string one_line(std::string_view s) {
  std::string out;
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    const char d = (u < 0x20 || u == 0x7f) ? ' ' : c;
    if (d == ' ' && (out.empty() || out.back() == ' ')) continue;
    out += d;
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out.empty() ? std::string("(no output)") : out;
}

/// Reads what is available from `fd` into `out` (at most k_max_output kept). Returns false at
/// EOF or on a read error (the descriptor is done), true when it would block.
bool read_some(int fd, std::string& out) {
  std::array<char, 4096> buf{};
  for (int rounds = 0; rounds < 64; ++rounds) {  // bounded: a chatty child cannot pin us here
    const ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n > 0) {
      const auto got = static_cast<std::size_t>(n);
      if (out.size() < k_max_output)
        out.append(buf.data(), std::min(got, k_max_output - out.size()));
      continue;
    }
    if (n == 0) return false;
    if (errno == EINTR) continue;
    return errno == EAGAIN || errno == EWOULDBLOCK;
  }
  return true;
}

/// A pidfd for `pid` (readable once it exits), or an empty util::Fd where the kernel has none.
util::Fd open_pidfd(pid_t pid) {
#ifdef SYS_pidfd_open
  const long fd = syscall(SYS_pidfd_open, pid, 0);
  if (fd >= 0) return util::Fd(static_cast<int>(fd));
#else
  (void)pid;
#endif
  return util::Fd();
}

}  // namespace

Result<void> send_via_sendmail(const SendmailOptions& o, std::string_view envelope_from,
                               std::string_view recipient, std::string_view message) {
  if (!valid_address_argument(envelope_from) || !valid_address_argument(recipient)) {
    return fail(Errc::InvalidArgument, Retry::Permanent,
                "sendmail: envelope sender and recipient must be non-empty, must not start with "
                "'-' and must not contain whitespace or control characters");
  }
  if (o.command.empty() || o.command.front().empty()) {
    return fail(Errc::InvalidArgument, Retry::Permanent, "sendmail: no command configured");
  }
  std::vector<std::string> args = o.command;
  args.insert(args.end(), {"-f", std::string(envelope_from), std::string(recipient)});
  std::vector<char*> argv;
  argv.reserve(args.size() + 1);
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  auto in = make_pipe();  // child's stdin
  if (!in) return Unexpected{in.error()};
  auto out = make_pipe();  // child's stdout + stderr
  if (!out) return Unexpected{out.error()};

  FileActions actions;
  SpawnAttr attr;
  if (!actions.ok() || !attr.ok()) return internal("sendmail: posix_spawn setup failed");
  sigset_t empty;
  sigemptyset(&empty);
  sigset_t defaults;  // what a daemon commonly ignores or handles: back to SIG_DFL in the child
  sigemptyset(&defaults);
  for (const int s :
       {SIGPIPE, SIGCHLD, SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGALRM, SIGUSR1, SIGUSR2, SIGXFSZ}) {
    sigaddset(&defaults, s);
  }
  const bool setup_ok =
      posix_spawn_file_actions_adddup2(actions.get(), in->read.get(), STDIN_FILENO) == 0 &&
      posix_spawn_file_actions_adddup2(actions.get(), out->write.get(), STDOUT_FILENO) == 0 &&
      posix_spawn_file_actions_adddup2(actions.get(), out->write.get(), STDERR_FILENO) == 0 &&
      posix_spawn_file_actions_addclosefrom_np(actions.get(), 3) == 0 &&
      posix_spawnattr_setflags(attr.get(), POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF |
                                               POSIX_SPAWN_SETPGROUP) == 0 &&
      posix_spawnattr_setsigmask(attr.get(), &empty) == 0 &&
      posix_spawnattr_setsigdefault(attr.get(), &defaults) == 0 &&
      posix_spawnattr_setpgroup(attr.get(), 0) == 0;
  if (!setup_ok) return internal("sendmail: posix_spawn setup failed");

  pid_t pid = -1;
  const int spawn_rc = posix_spawn(&pid, argv[0], actions.get(), attr.get(), argv.data(), environ);
  if (spawn_rc != 0) {
    const std::string why = "sendmail: cannot run " + args.front() + ": " + errno_text(spawn_rc);
    if (spawn_rc == ENOENT || spawn_rc == EACCES || spawn_rc == ENOEXEC || spawn_rc == ENOTDIR) {
      return fail(Errc::ConfigValue, Retry::Permanent, why);
    }
    return internal(why);
  }
  in->read.reset();  // the child's ends: ours must go, or EOF/EPIPE never come
  out->write.reset();
  const util::Fd pidfd = open_pidfd(pid);

  const auto start = std::chrono::steady_clock::now();
  const auto deadline = start + o.timeout;
  std::string output;
  std::size_t written = 0;
  bool input_refused = false;  // EPIPE (or another write error) before the whole message
  bool timed_out = false;
  int status = 0;
  {
    SigpipeBlocked sigpipe;  // for the writes below (see SIGPIPE above)
    if (!set_nonblocking(in->write.get()) || !set_nonblocking(out->read.get())) {
      kill(-pid, SIGKILL);
    }
    if (message.empty()) in->write.reset();  // nothing to write: EOF at once
    for (;;) {
      const pid_t w = waitpid(pid, &status, WNOHANG);
      if (w == pid || (w < 0 && errno != EINTR)) {
        if (w < 0) status = -1;  // ECHILD: someone else reaped it
        if (out->read.valid()) (void)read_some(out->read.get(), output);
        break;
      }
      const auto now = std::chrono::steady_clock::now();
      if (now >= deadline) {
        timed_out = true;
        kill(-pid, SIGKILL);  // the whole process group: the command and what it started
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
        }
        if (out->read.valid()) (void)read_some(out->read.get(), output);
        break;
      }
      std::array<pollfd, 3> fds{};
      nfds_t n = 0;
      const nfds_t none = 3;
      nfds_t in_at = none;
      nfds_t out_at = none;
      if (in->write.valid()) {
        in_at = n;
        fds[n++] = pollfd{in->write.get(), POLLOUT, 0};
      }
      if (out->read.valid()) {
        out_at = n;
        fds[n++] = pollfd{out->read.get(), POLLIN, 0};
      }
      if (pidfd.valid()) fds[n++] = pollfd{pidfd.get(), POLLIN, 0};
      auto wait = std::chrono::ceil<std::chrono::milliseconds>(deadline - now);
      if (!pidfd.valid()) wait = std::min(wait, k_tick);
      const int ready = poll(fds.data(), n, static_cast<int>(wait.count()));
      if (ready < 0) {
        if (errno == EINTR) continue;
        kill(-pid, SIGKILL);  // cannot watch the child any more; the next round reaps it
        continue;
      }
      if (in_at != none && fds[in_at].revents != 0) {
        const std::size_t len = std::min(k_write_chunk, message.size() - written);
        const ssize_t wrote = ::write(in->write.get(), message.data() + written, len);
        if (wrote > 0) {
          written += static_cast<std::size_t>(wrote);
          if (written == message.size()) in->write.reset();  // EOF: the message is complete
        } else if (wrote < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
          if (errno == EPIPE) sigpipe.raised();
          input_refused = true;
          in->write.reset();
        }
      }
      if (out_at != none && fds[out_at].revents != 0) {
        if (!read_some(out->read.get(), output)) out->read.reset();
      }
    }
  }

  const auto seconds = std::to_string(o.timeout.count());
  const std::string said = one_line(output);
  if (timed_out) {
    return internal("sendmail did not finish within " + seconds + " s and was killed: " + said);
  }
  if (status < 0) return internal("sendmail: lost track of the child process");
  if (WIFSIGNALED(status)) {
    return internal("sendmail killed by signal " + std::to_string(WTERMSIG(status)) + ": " + said);
  }
  const int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  if (code == k_exit_tempfail) return internal("sendmail exited 75 (EX_TEMPFAIL): " + said);
  if (code != 0) return internal("sendmail exited " + std::to_string(code) + ": " + said);
  if (input_refused || written != message.size()) {
    return internal("sendmail exited 0 but read only " + std::to_string(written) + " of " +
                    std::to_string(message.size()) + " bytes of the message: " + said);
  }
  return {};
}

}  // namespace tlspolicy::tlsrpt
