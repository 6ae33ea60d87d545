// SPDX-License-Identifier: Apache-2.0
//
// Process exit statuses (sysexits(3)): what every command returns (docs/man/tlspolicy.8.md,
// "EXIT STATUS"), and what sendmail's status means to the report sender.
#pragma once

namespace tlspolicy {

inline constexpr int k_exit_ok = 0;
inline constexpr int k_exit_usage = 64;        ///< EX_USAGE
inline constexpr int k_exit_dataerr = 65;      ///< EX_DATAERR: an invalid domain
inline constexpr int k_exit_noinput = 66;      ///< EX_NOINPUT: nothing stored for it
inline constexpr int k_exit_unavailable = 69;  ///< EX_UNAVAILABLE
inline constexpr int k_exit_software = 70;     ///< EX_SOFTWARE: an internal error
inline constexpr int k_exit_tempfail = 75;     ///< EX_TEMPFAIL: defer, try again
inline constexpr int k_exit_config = 78;       ///< EX_CONFIG: configuration or store

}  // namespace tlspolicy
