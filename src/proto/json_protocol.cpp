// SPDX-License-Identifier: Apache-2.0
//
// NAME
//   json_protocol - JSON lines request parser and response renderers
// PROTOCOL
//   One request object per line → JsonRequest; Decision / errors / admin
//   payloads → one response line. See include/tlspolicy/proto/json_protocol.hpp
//   and docs/protocols/json.md for the schema.
// LIMITS
//   k_max_json_line (64 KiB) per request line; names quoted back in error
//   messages are cut (util::quoted).
// SECURITY
//   Never throws on input: nlohmann::json::parse(…, nullptr, false) +
//   is_discarded(), find() + is_*() instead of at(); dump() with
//   error_handler_t::replace. Invalid UTF-8 in a request is "bad-json".
// SEE ALSO
//   docs/protocols/json.md, src/proto/decision_json.cpp
#include "tlspolicy/proto/json_protocol.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <initializer_list>
#include <string>
#include <utility>

#include <nlohmann/json.hpp>

#include "tlspolicy/proto/decision_json.hpp"
#include "tlspolicy/util/json_fields.hpp"
#include "tlspolicy/util/quote.hpp"

namespace tlspolicy::proto {
namespace {

using nlohmann::ordered_json;

/// Bytes of a client-supplied name (unknown op or field) quoted in a message.
/// Unknown fields named in one message before "…".
constexpr std::size_t k_max_named_fields = 8;

struct OpName {
  JsonOp op;
  std::string_view name;
};

constexpr std::array<OpName, 9> k_ops{{
    {JsonOp::Decide, "decide"},
    {JsonOp::Report, "report"},
    {JsonOp::CacheList, "cache.list"},
    {JsonOp::CacheShow, "cache.show"},
    {JsonOp::CachePurge, "cache.purge"},
    {JsonOp::CacheRefresh, "cache.refresh"},
    {JsonOp::CacheExport, "cache.export"},
    {JsonOp::Stats, "stats"},
    {JsonOp::Status, "status"},
}};

Unexpected<Error> reject(std::string_view code, std::string_view message) {
  std::string detail{code};
  detail += ": ";
  detail += message;
  return fail(Errc::InvalidArgument, Retry::Permanent, std::move(detail));
}

std::string_view strip_eol(std::string_view line) {
  if (!line.empty() && line.back() == '\n') line.remove_suffix(1);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  return line;
}

/// Parses `line` as JSON; a discarded value when it is not JSON (or not UTF-8).
ordered_json parse_text(std::string_view text) {
  return ordered_json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
}

std::string dump(const ordered_json& j) {
  return j.dump(-1, ' ', false, ordered_json::error_handler_t::replace);
}

/// A usable "id": a JSON scalar, numbers finite (they would render as null).
bool valid_id(const ordered_json& id) {
  if (!id.is_primitive()) return false;
  if (id.is_number_float()) return std::isfinite(id.get<double>());
  return true;
}

/// Rejects fields outside `allowed`, naming them.
Result<void> check_fields(const ordered_json& obj, std::string_view op,
                          std::initializer_list<std::string_view> allowed) {
  std::string unknown;
  std::size_t count = 0;
  for (const auto& [key, value] : obj.items()) {
    if (std::find(allowed.begin(), allowed.end(), key) != allowed.end()) continue;
    ++count;
    if (count > k_max_named_fields) continue;
    if (!unknown.empty()) unknown += ", ";
    unknown += util::quoted(key);
  }
  if (count == 0) return {};
  if (count > k_max_named_fields) unknown += ", …";
  return reject(k_code_bad_request, std::string{count == 1 ? "unknown field " : "unknown fields "} +
                                        unknown + " for op \"" + std::string{op} + "\"");
}

/// The fields of a request. Strings are kept whole (the line is bounded already) with their
/// controls: the domain and recipient checks that follow read them.
const util::JsonFieldReader<ordered_json> k_fields{"bad-request: ",
                                                   {k_max_json_line, k_max_json_line}};

Result<std::optional<std::string>> optional_string(const ordered_json& obj, std::string_view name) {
  return k_fields.optional_string(obj, name, "", util::Controls::Keep);
}

Result<dns::DomainName> parse_domain(std::string_view text) {
  auto name = dns::DomainName::parse(text);
  if (!name) return reject(k_code_bad_domain, name.error().detail);
  return std::move(*name);
}

Result<void> parse_decide(const ordered_json& obj, JsonRequest& out) {
  if (auto ok = check_fields(obj, "decide",
                             {"op", "v", "id", "domain", "requiretls", "recipient", "explain"});
      !ok) {
    return ok;
  }
  auto domain = optional_string(obj, "domain");
  if (!domain) return Unexpected{domain.error()};
  auto recipient = optional_string(obj, "recipient");
  if (!recipient) return Unexpected{recipient.error()};
  auto requiretls = k_fields.optional_bool(obj, "requiretls", "");
  if (!requiretls) return Unexpected{requiretls.error()};
  auto explain = k_fields.optional_bool(obj, "explain", "");
  if (!explain) return Unexpected{explain.error()};

  std::string domain_text;
  if (*domain) {
    domain_text = std::move(**domain);
  } else if (*recipient) {
    // The domain part follows the last '@' (a quoted local part may hold '@').
    const auto& rcpt = **recipient;
    const auto at = rcpt.rfind('@');
    if (at == std::string::npos) {
      return reject(k_code_bad_request, "\"recipient\" has no domain part and no \"domain\" given");
    }
    domain_text = rcpt.substr(at + 1);
  } else {
    return reject(k_code_bad_request, "op \"decide\" needs \"domain\" or \"recipient\"");
  }
  auto name = parse_domain(domain_text);
  if (!name) return Unexpected{name.error()};

  bool wants_requiretls = *requiretls;
  if (*recipient) {
    out.recipient = std::move(**recipient);
    // SPEC §3: a local part ending in +requiretls marks the message REQUIRETLS.
    wants_requiretls = wants_requiretls || policy::recipient_requests_requiretls(*out.recipient);
  }
  out.decide = policy::DecideRequest{std::move(*name), wants_requiretls};
  out.explain = *explain;
  return {};
}

/// RFC 8460 results from Exim and other programs: tlsrpt::parse_json_report
/// owns the format (docs/protocols/json.md); its errors are bad-request.
Result<void> parse_report(std::string_view line, JsonRequest& out) {
  auto report = tlsrpt::parse_json_report(line);
  if (!report) return reject(k_code_bad_request, report.error().detail);
  out.report = std::move(*report);
  return {};
}

Result<void> parse_cache(const ordered_json& obj, JsonOp op, JsonRequest& out) {
  const auto op_name = to_string(op);
  if (auto ok = check_fields(obj, op_name, {"op", "v", "id", "domain"}); !ok) return ok;
  auto domain = optional_string(obj, "domain");
  if (!domain) return Unexpected{domain.error()};
  if (!*domain) {
    if (op == JsonOp::CacheShow || op == JsonOp::CacheRefresh) {
      return reject(k_code_bad_request,
                    "op \"" + std::string{op_name} + "\" needs a \"domain\" string");
    }
    return {};
  }
  auto name = parse_domain(**domain);
  if (!name) return Unexpected{name.error()};
  out.domain = std::move(*name);
  return {};
}

/// The id's JSON text as rendered in a response: null unless a valid scalar.
std::string render_id(const std::string& id_text) {
  const auto id = parse_text(id_text);
  if (id.is_discarded() || !valid_id(id)) return "null";
  return dump(id);
}

/// Closes a response object: `,"id":…}` or `}`.
void finish(std::string& out, const std::string* id) {
  if (id != nullptr) {
    out += ",\"id\":";
    out += render_id(*id);
  }
  out += '}';
}

}  // namespace

std::string_view to_string(JsonOp op) noexcept {
  for (const auto& entry : k_ops) {
    if (entry.op == op) return entry.name;
  }
  return "unknown";
}

bool is_admin_op(JsonOp op) noexcept {
  switch (op) {
    case JsonOp::Decide:
    case JsonOp::Report:
      return false;
    case JsonOp::CacheList:
    case JsonOp::CacheShow:
    case JsonOp::CachePurge:
    case JsonOp::CacheRefresh:
    case JsonOp::CacheExport:
    case JsonOp::Stats:
    case JsonOp::Status:
      return true;
  }
  return true;  // unreachable; an unknown value is treated as privileged
}

Result<JsonRequest> parse_json_request(std::string_view line) {
  line = strip_eol(line);
  if (line.size() > k_max_json_line) {
    return reject(k_code_bad_json,
                  "request line longer than " + std::to_string(k_max_json_line) + " bytes");
  }
  // nlohmann's lexer takes a NUL byte for the end of input; JSON never has a raw one.
  if (line.find('\0') != std::string_view::npos) {
    return reject(k_code_bad_json, "request contains a NUL byte");
  }
  const auto obj = parse_text(line);
  if (obj.is_discarded()) {
    return reject(k_code_bad_json, "not a JSON text in UTF-8 (RFC 8259)");
  }
  if (!obj.is_object()) return reject(k_code_bad_json, "request is not a JSON object");

  // Versioning first, so that a newer client learns why and not just "unknown op".
  if (const auto v = obj.find("v"); v != obj.end()) {
    if (!v->is_number_integer()) return reject(k_code_bad_request, "\"v\" must be an integer");
    if (v->get<std::int64_t>() != k_json_protocol_version) {
      return reject(k_code_unsupported_version, "protocol version " + dump(*v) +
                                                    " is not supported; this server speaks " +
                                                    std::to_string(k_json_protocol_version));
    }
  }

  const auto op_field = obj.find("op");
  if (op_field == obj.end() || !op_field->is_string()) {
    return reject(k_code_bad_request, "\"op\" must be a string");
  }
  const auto& op_name = op_field->get_ref<const std::string&>();
  const auto entry =
      std::find_if(k_ops.begin(), k_ops.end(), [&](const OpName& e) { return e.name == op_name; });
  if (entry == k_ops.end()) return reject(k_code_unknown_op, "unknown op " + util::quoted(op_name));

  JsonRequest out;
  out.op = entry->op;
  if (const auto id = obj.find("id"); id != obj.end()) {
    if (!valid_id(*id)) {
      return reject(k_code_bad_request,
                    "\"id\" must be a string, a finite number, true, false "
                    "or null");
    }
    out.id = dump(*id);
  }

  Result<void> parsed;
  switch (out.op) {
    case JsonOp::Decide:
      parsed = parse_decide(obj, out);
      break;
    case JsonOp::Report:
      parsed = parse_report(line, out);
      break;
    case JsonOp::CacheList:
    case JsonOp::CacheShow:
    case JsonOp::CachePurge:
    case JsonOp::CacheRefresh:
    case JsonOp::CacheExport:
      parsed = parse_cache(obj, out.op, out);
      break;
    case JsonOp::Stats:
      parsed = check_fields(obj, "stats", {"op", "v", "id"});
      break;
    case JsonOp::Status:
      parsed = check_fields(obj, "status", {"op", "v", "id"});
      break;
  }
  if (!parsed) return Unexpected{parsed.error()};
  return out;
}

std::optional<std::string> json_request_id(std::string_view line) {
  line = strip_eol(line);
  if (line.size() > k_max_json_line || line.find('\0') != std::string_view::npos) {
    return std::nullopt;
  }
  const auto obj = parse_text(line);
  if (obj.is_discarded() || !obj.is_object()) return std::nullopt;
  const auto id = obj.find("id");
  if (id == obj.end() || !valid_id(*id)) return std::nullopt;
  return dump(*id);
}

JsonErrorParts json_error_parts(const Error& e) noexcept {
  const std::string_view detail = e.detail;
  const auto sep = detail.find(": ");
  if (sep == std::string_view::npos || sep == 0) return {k_code_internal, detail};
  const auto code = detail.substr(0, sep);
  const bool is_code = std::all_of(code.begin(), code.end(),
                                   [](char c) { return (c >= 'a' && c <= 'z') || c == '-'; });
  if (!is_code) return {k_code_internal, detail};
  return {code, detail.substr(sep + 2)};
}

std::string render_error(std::string_view code, std::string_view message, const std::string* id) {
  ordered_json j;
  j["status"] = "error";
  j["error"] = {{"code", code}, {"message", message}};
  std::string out = dump(j);
  out.pop_back();  // reopen the object for the id
  finish(out, id);
  return out;
}

std::string render_decision(const policy::Decision& d, bool explain, const std::string* id,
                            util::TimePoint now) {
  std::string out = R"({"status":"ok","decision":)";
  out += decision_to_json(d, explain, -1, policy::remaining_ttl(d, now));
  finish(out, id);
  return out;
}

std::string render_ok(const std::string* id) {
  std::string out = R"({"status":"ok")";
  finish(out, id);
  return out;
}

std::string render_ok(std::string_view key, std::string_view payload_json, const std::string* id) {
  if (key == "status" || key == "id" || payload_json.find('\0') != std::string_view::npos ||
      !ordered_json::accept(payload_json.begin(), payload_json.end())) {
    return render_error(k_code_internal, "the server produced an invalid response", id);
  }
  std::string out = R"({"status":"ok",)";
  out += dump(ordered_json(key));
  out += ':';
  // In valid JSON a raw CR or LF can only be whitespace between tokens.
  std::string payload{payload_json};
  std::replace_if(
      payload.begin(), payload.end(), [](char c) { return c == '\n' || c == '\r'; }, ' ');
  out += payload;
  finish(out, id);
  return out;
}

}  // namespace tlspolicy::proto
