// SPDX-License-Identifier: Apache-2.0
//
// A guard for the JSON parsers of untrusted bytes (libtlsrpt datagrams, the
// report op, the CLI's reading of daemon answers): nlohmann's parser, dump()
// and our own tree walks recurse once per nesting level, so hostile nesting
// is refused by a cheap scan before anything is parsed.
#pragma once

#include <cstddef>
#include <string_view>

namespace tlspolicy::util {

/// True when arrays and objects in `text` nest at most `max_depth` deep.
/// Brackets inside JSON strings do not count; the text need not be valid JSON.
[[nodiscard]] bool json_nesting_within(std::string_view text, std::size_t max_depth) noexcept;

}  // namespace tlspolicy::util
