// SPDX-License-Identifier: Apache-2.0
//
// NAME
//   json_protocol - request parser and response renderers of the JSON lines protocol
// PROTOCOL
//   One JSON object per line in, one per line out (SPEC §4). Requests:
//     {"op":"decide","domain":"example.com","requiretls":true,"recipient":"a@b","explain":true}
//     {"op":"report","domain":"example.com","result":"failure",…}   (tlsrpt/json_report.hpp)
//     {"op":"cache.list|cache.show|cache.purge|cache.refresh|cache.export","domain":"…"}
//     {"op":"stats"}
//     {"op":"status"}
//   Every request may carry "v":1 and an "id" (any JSON scalar) that the response echoes.
//   Responses: {"status":"ok",…[,"id":…]} or
//              {"status":"error","error":{"code":…,"message":…}[,"id":…]}.
//   Unknown fields are rejected, so a typo never silently changes a decision.
// LIMITS
//   A request line is at most k_max_json_line (64 KiB) bytes, without its LF/CRLF.
// SECURITY
//   Every byte is untrusted: parse_json_request never throws, rejects invalid
//   UTF-8, and normalises domains through dns::DomainName::parse. Which ops a
//   listener accepts (is_admin_op) is the server's business.
// SEE ALSO
//   docs/protocols/json.md, proto/decision_json.hpp, SPEC §3–§4
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "tlspolicy/dns/name.hpp"
#include "tlspolicy/policy/decision.hpp"
#include "tlspolicy/policy/engine.hpp"
#include "tlspolicy/tlsrpt/json_report.hpp"
#include "tlspolicy/util/result.hpp"

namespace tlspolicy::proto {

/// Longest request line accepted, in bytes, not counting the terminating LF
/// (or CRLF). Longer lines are answered with "bad-json".
inline constexpr std::size_t k_max_json_line = std::size_t{64} * 1024;

/// The only protocol version; a request's optional "v" must equal it.
inline constexpr int k_json_protocol_version = 1;

/// Error codes in {"status":"error","error":{"code":…}}. The first five come
/// from parse_json_request; the last two are for the server.
inline constexpr std::string_view k_code_bad_json = "bad-json";
inline constexpr std::string_view k_code_unknown_op = "unknown-op";
inline constexpr std::string_view k_code_bad_request = "bad-request";
inline constexpr std::string_view k_code_unsupported_version = "unsupported-version";
inline constexpr std::string_view k_code_bad_domain = "bad-domain";
/// An admin op arrived on the non-admin listener (see is_admin_op).
inline constexpr std::string_view k_code_admin_only = "admin-only";
/// The handler failed (caught exception, store error); the request may be retried.
inline constexpr std::string_view k_code_internal = "internal";

enum class JsonOp {
  Decide,
  Report,
  CacheList,
  CacheShow,
  CachePurge,
  CacheRefresh,
  CacheExport,
  Stats,
  Status,
};

/// The wire name: "decide", "report", "cache.list", …, "stats", "status".
[[nodiscard]] std::string_view to_string(JsonOp op) noexcept;

/// True for the cache.* ops, stats and status: only the admin listener serves them (SPEC §4).
[[nodiscard]] bool is_admin_op(JsonOp op) noexcept;

/// One parsed request line. Which members are set depends on `op`.
struct JsonRequest {
  JsonOp op = JsonOp::Decide;
  /// The request's "id" as compact JSON text ("7", "\"abc\"", "null", "true"),
  /// to be passed back to the render_* functions; absent when the request had none.
  std::optional<std::string> id;

  /// op == Decide: the engine request. The domain comes from "domain", or else
  /// from the domain part of "recipient"; requiretls is "requiretls" OR a
  /// recipient local part ending in "+requiretls".
  std::optional<policy::DecideRequest> decide;
  std::optional<std::string> recipient;  ///< op == Decide: "recipient" as sent
  bool explain = false;                  ///< op == Decide: add the "explain" trail

  /// cache.* ops: the normalised "domain" (required for cache.show and
  /// cache.refresh, optional for the others).
  std::optional<dns::DomainName> domain;

  std::optional<tlsrpt::JsonReport> report;  ///< op == Report (tlsrpt/json_report.hpp)
};

/// Parses one request line (with or without a trailing "\r" or "\r\n").
/// Never throws. Every error is Error{Errc::InvalidArgument, Retry::Permanent}
/// whose detail is "<code>: <message>", code one of k_code_bad_json,
/// k_code_unknown_op, k_code_bad_request, k_code_unsupported_version,
/// k_code_bad_domain; split it with json_error_parts().
[[nodiscard]] Result<JsonRequest> parse_json_request(std::string_view line);

/// The "id" of a line that parse_json_request rejected, so that the error
/// response can still echo it: the id's JSON text when the line is a JSON
/// object with a scalar "id", otherwise nullopt. Never throws.
[[nodiscard]] std::optional<std::string> json_request_id(std::string_view line);

struct JsonErrorParts {
  std::string_view code;     ///< e.g. "bad-domain"; "internal" if detail has no code
  std::string_view message;  ///< human text
};

/// Splits an Error from parse_json_request into its code and message. Views
/// into `e.detail`: `e` must outlive the result.
[[nodiscard]] JsonErrorParts json_error_parts(const Error& e) noexcept;

/// The renderers return one line of JSON without a trailing newline (the
/// server adds "\n"). `id`, when not null, is JSON text as in JsonRequest::id;
/// text that is not a JSON scalar is rendered as null. Strings that are not
/// valid UTF-8 are repaired (U+FFFD), never thrown on. Thread-safe.

/// {"status":"error","error":{"code":…,"message":…}[,"id":…]}
[[nodiscard]] std::string render_error(std::string_view code, std::string_view message,
                                       const std::string* id);

/// {"status":"ok","decision":{…SPEC §3…}[,"id":…]}; the decision object is
/// decision_to_json(d, explain) verbatim, but for "ttl": what remains of it
/// at `now` (policy::remaining_ttl), so that a decision answered from memory
/// is not reused beyond the TTLs it rests on.
[[nodiscard]] std::string render_decision(const policy::Decision& d, bool explain,
                                          const std::string* id, util::TimePoint now);

/// {"status":"ok"[,"id":…]}: for ops that only acknowledge (report, cache.purge).
[[nodiscard]] std::string render_ok(const std::string* id);

/// {"status":"ok","<key>":<payload_json>[,"id":…]}: `payload_json` is
/// pre-rendered JSON text (e.g. the cache.list array). Line breaks between its
/// tokens are replaced by spaces; when it is not valid JSON the result is an
/// "internal" error object instead, so the output is always one valid line.
[[nodiscard]] std::string render_ok(std::string_view key, std::string_view payload_json,
                                    const std::string* id);

}  // namespace tlspolicy::proto
