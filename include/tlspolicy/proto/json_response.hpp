// SPDX-License-Identifier: Apache-2.0
//
// NAME
//   json_response - the client side of the JSON lines protocol: one response
//   line → status, error and members; a decision object → policy::Decision
// PROTOCOL
//   {"status":"ok",<key>:<payload>…[,"id":…]} or
//   {"status":"error","error":{"code":…,"message":…}[,"id":…]} (json_protocol.hpp).
// SECURITY
//   The line comes from a socket: parsers never throw and return
//   Errc::InvalidArgument (Permanent) for anything unexpected.
// SEE ALSO
//   docs/protocols/json.md, proto/json_protocol.hpp, src/cli/admin_client.cpp
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tlspolicy/policy/decision.hpp"
#include "tlspolicy/proto/json_protocol.hpp"
#include "tlspolicy/util/result.hpp"

namespace tlspolicy::proto {

/// A request line (no newline) for an admin op: {"op":"cache.show","domain":"…"};
/// `domain` is left out when empty.
[[nodiscard]] std::string render_admin_request(JsonOp op, std::string_view domain);

/// A decide request line: {"op":"decide","domain":…[,"recipient":…][,"requiretls":true]
/// [,"explain":true]}; `recipient` is left out when empty.
[[nodiscard]] std::string render_decide_request(std::string_view domain, bool requiretls,
                                                std::string_view recipient, bool explain);

struct JsonResponse {
  std::string status;         ///< "ok", "error", or whatever the server sent
  std::string error_code;     ///< status "error": error.code
  std::string error_message;  ///< status "error": error.message
  /// Every other top-level member but "status", "error" and "id", in order,
  /// as compact JSON text ("decision" → "{…}", "entries" → "[…]").
  std::vector<std::pair<std::string, std::string>> members;

  /// The JSON text of member `key`, or nullptr.
  [[nodiscard]] const std::string* member(std::string_view key) const;
};

/// Parses one response line (trailing "\r\n" or "\n" allowed). Errors: not a
/// JSON object (or arrays and objects nested more than 32 deep: every parser
/// here refuses those), "status" missing or not a string. Never throws.
[[nodiscard]] Result<JsonResponse> parse_json_response(std::string_view line);

/// Reads a decision object written by decision_to_json (SPEC §3). Members the
/// wire does not carry (failures, postfix_match, …) stay default. Never throws.
[[nodiscard]] Result<policy::Decision> decision_from_json(std::string_view json);

/// Flattens a JSON object into ("a.b", "value") rows in document order:
/// nested objects join their keys with '.', scalars are compact JSON text
/// (strings unquoted), arrays stay compact JSON. For `tlspolicy stats`.
[[nodiscard]] Result<std::vector<std::pair<std::string, std::string>>> flatten_json_object(
    std::string_view json);

}  // namespace tlspolicy::proto
