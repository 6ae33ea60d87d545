// SPDX-License-Identifier: Apache-2.0
//
// Private to src/sts: renders untrusted bytes (TXT records, policy lines) for
// error details, so a hostile policy cannot put control characters or
// unbounded text into logs and replies.
#pragma once

#include <string>
#include <string_view>

namespace tlspolicy::sts {

/// Printable ASCII as is, anything else (and '"', '\\') as \xNN, cut after
/// 40 bytes with "..." appended, in double quotes.
[[nodiscard]] std::string quote(std::string_view s);

}  // namespace tlspolicy::sts
