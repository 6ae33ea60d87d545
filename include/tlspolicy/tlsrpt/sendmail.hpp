// SPDX-License-Identifier: Apache-2.0
//
// tlsrpt sendmail: hands one report message (mail.hpp) to the local MTA through
// its sendmail(1) command, for "mailto:" rua destinations (RFC 8460 §5.3).
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "tlspolicy/util/result.hpp"

namespace tlspolicy::tlsrpt {

struct SendmailOptions {
  /// argv of the sendmail command; command[0] is a path (not searched in PATH). The envelope
  /// arguments {"-f", envelope_from, recipient} are appended.
  std::vector<std::string> command{"/usr/sbin/sendmail", "-oi"};
  /// From start to exit, writing included; then the command's process group is SIGKILLed.
  std::chrono::seconds timeout{120};
};

/// Runs `command -f envelope_from recipient` (posix_spawn, no shell, in its own process group,
/// default signal dispositions, an empty signal mask, and no file descriptor but stdin/stdout/
/// stderr), writes `message` to its stdin, closes it, and waits for it to exit.
/// Exit status 0 after reading the whole message = accepted.
/// Blocks up to `o.timeout`. Thread-safe. Does not change the process's SIGPIPE disposition: a
/// command that exits without reading its input costs an EPIPE, never a signal (see
/// sendmail.cpp). The caller's process must not reap children it did not start (no
/// waitpid(-1, ...) elsewhere, no SIGCHLD set to SIG_IGN).
/// Errors:
///  - InvalidArgument (Permanent): envelope_from or recipient empty, starting with '-', or holding
///    whitespace or control characters; an empty command.
///  - ConfigValue (Permanent): the command cannot be executed (missing, not executable).
///  - Internal (Transient): the command exited non-zero ("sendmail exited 75 (EX_TEMPFAIL): …",
///    "sendmail exited 67: …", with up to 4 KiB of its stdout/stderr), was killed by a signal,
///    did not finish within the timeout (killed), or exited 0 without reading the whole message;
///    or a pipe/spawn resource failure. RFC 8460 §5.5 (RPT-17): the report is retried.
[[nodiscard]] Result<void> send_via_sendmail(const SendmailOptions& o,
                                             std::string_view envelope_from,
                                             std::string_view recipient, std::string_view message);

}  // namespace tlspolicy::tlsrpt
