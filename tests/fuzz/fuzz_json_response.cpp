// SPDX-License-Identifier: Apache-2.0
//
// Fuzz target for the client side of the JSON lines protocol (what `tlspolicy
// lookup --socket`, `cache …` and `stats` read back from the daemon's socket):
// parse_json_response(), decision_from_json(), status_summary_from_json() and
// flatten_json_object(). None
// may crash or throw (an escaping exception aborts). Invariants: a parsed
// response never lists "status", "error" or "id" among its members; a decision
// that parses renders (decision_to_json) to JSON that parses again, and a
// second render of that is the same text (render ∘ parse is idempotent); the same for a
// status summary.
// The daemon is the only peer, so this input is less hostile than a request,
// but the socket may be anyone's (`--socket PATH`).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "tlspolicy/proto/decision_json.hpp"
#include "tlspolicy/proto/json_response.hpp"
#include "tlspolicy/proto/status_json.hpp"

// Declared here for -Wmissing-declarations; libFuzzer or standalone_main.cpp calls it.
extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace tlspolicy::proto;
  const std::string_view line{reinterpret_cast<const char*>(data), size};

  const auto response = parse_json_response(line);
  if (response) {
    for (const auto& [key, text] : response->members) {
      if (key == "status" || key == "error" || key == "id" || text.empty()) std::abort();
    }
  } else if (response.error().detail.empty()) {
    std::abort();
  }

  const auto decision = decision_from_json(line);
  if (decision) {
    const std::string once = decision_to_json(*decision, true);
    const auto again = decision_from_json(once);
    if (!again) std::abort();
    if (decision_to_json(*again, true) != once) std::abort();
  } else if (decision.error().detail.empty()) {
    std::abort();
  }

  const auto summary = status_summary_from_json(line);
  if (summary) {
    const std::string once = status_summary_json(*summary);
    const auto again = status_summary_from_json(once);
    if (!again) std::abort();
    if (status_summary_json(*again) != once) std::abort();
  } else if (summary.error().detail.empty()) {
    std::abort();
  }

  // `tlspolicy stats`: only must not crash or throw (keys and values may be anything).
  (void)flatten_json_object(line);
  return 0;
}
