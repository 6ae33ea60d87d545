// SPDX-License-Identifier: Apache-2.0
//
// What several fuzz targets do with their input.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace tlspolicy::fuzz {

/// `input` cut at each LF: the TXT strings of one name, as the record selectors get them.
inline std::vector<std::string> split_lines(std::string_view input) {
  std::vector<std::string> lines;
  std::size_t start = 0;
  while (start <= input.size()) {
    const std::size_t lf = input.find('\n', start);
    const std::size_t end = lf == std::string_view::npos ? input.size() : lf;
    lines.emplace_back(input.substr(start, end - start));
    start = end + 1;
  }
  return lines;
}

}  // namespace tlspolicy::fuzz
