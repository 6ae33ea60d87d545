// SPDX-License-Identifier: Apache-2.0
//
// Runs the tlspolicy command line in process and captures its output and
// exit status (shared by the tests in tests/unit/cli).
#pragma once

#include <sstream>
#include <string>
#include <vector>

#include "commands.hpp"

namespace tlspolicy::cli::testing {

struct Run {
  int rc;
  std::string out;
  std::string err;
};

inline Run run_cli(std::vector<const char*> args) {
  args.insert(args.begin(), "tlspolicy");
  std::ostringstream out;
  std::ostringstream err;
  const int rc = run(static_cast<int>(args.size()), args.data(), out, err);
  return {rc, out.str(), err.str()};
}

}  // namespace tlspolicy::cli::testing
