// SPDX-License-Identifier: Apache-2.0
//
// Untrusted bytes (TXT records, policy lines, domain names, JSON keys, configuration text) in
// error details, logs and reasons: one rule and one cap everywhere, so a hostile peer can put
// neither control characters nor unbounded text into what tlspolicy says.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace tlspolicy::util {

/// Input bytes shown at most; longer input is cut and marked "...".
inline constexpr std::size_t k_max_shown_bytes = 64;

/// The first k_max_shown_bytes of `s`: printable ASCII as is, every other byte (controls, DEL,
/// non-ASCII) and '"' and '\' as \xNN; "..." appended when `s` was cut.
[[nodiscard]] std::string escaped(std::string_view s);

/// escaped(s) in double quotes: "v=STSv1; id=\x01..."
[[nodiscard]] std::string quoted(std::string_view s);

}  // namespace tlspolicy::util
