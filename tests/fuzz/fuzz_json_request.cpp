// SPDX-License-Identifier: Apache-2.0
//
// Fuzz target for the JSON lines request parser (SPEC §4): parse_json_request()
// must never crash or throw (an escaping exception is a finding: it aborts),
// every rejection carries a known code and a message, and every response the
// server would send for the line (the error with the echoed id, or an ok
// object) is one line that json_request_id()/the parser read back as an object.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "tlspolicy/proto/json_protocol.hpp"

// Declared here for -Wmissing-declarations; libFuzzer or standalone_main.cpp calls it.
extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace tlspolicy::proto;
  const std::string_view line{reinterpret_cast<const char*>(data), size};

  const auto parsed = parse_json_request(line);
  const auto id = json_request_id(line);
  std::string response;
  if (parsed) {
    if ((parsed->op == JsonOp::Decide) != parsed->decide.has_value()) std::abort();
    if (parsed->id != id) std::abort();
    response = render_ok(parsed->id ? &*parsed->id : nullptr);
  } else {
    const auto parts = json_error_parts(parsed.error());
    const bool known = parts.code == k_code_bad_json || parts.code == k_code_unknown_op ||
                       parts.code == k_code_bad_request ||
                       parts.code == k_code_unsupported_version || parts.code == k_code_bad_domain;
    if (!known || parts.message.empty()) std::abort();
    response = render_error(parts.code, parts.message, id ? &*id : nullptr);
  }
  // The response is one line of JSON that carries the same id back.
  if (response.find('\n') != std::string::npos) std::abort();
  if (json_request_id(response) != id) std::abort();
  return 0;
}
