// SPDX-License-Identifier: Apache-2.0
//
// NAME
//   datagram - parser of the libtlsrpt datagram (include/tlspolicy/tlsrpt/datagram.hpp)
// FORMAT
//   One JSON object per datagram, as libtlsrpt's tlsrpt_finish_delivery_request()
//   writes it; the header documents every key. Unknown keys are ignored so that
//   a newer libtlsrpt keeps working; "t" (the failure count) is ignored too,
//   the failure details themselves are counted.
// LIMITS
//   k_max_datagram bytes, k_max_json_depth levels, k_max_policies policies,
//   k_max_list_items per array, k_max_text_bytes per string.
// SECURITY
//   The bytes come from any local process that can write to the socket.
//   Never throws: nlohmann::json::parse(…, nullptr, false) + is_discarded(),
//   find() + is_*() before every get(); the nesting depth is checked before
//   parsing. Error details name keys and numbers, never echo strings (domain
//   errors quote through DomainName::parse, which cuts and escapes).
#include "tlspolicy/tlsrpt/datagram.hpp"

#include <algorithm>
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "tlspolicy/dns/name.hpp"
#include "tlspolicy/util/json_nesting.hpp"

#include "json_fields.hpp"

namespace tlspolicy::tlsrpt {
namespace {

using nlohmann::json;

const util::JsonFieldReader<json> in{"libtlsrpt datagram: ", detail::k_json_limits};
using detail::read_detail_texts;
using detail::read_policy_names;
using util::Controls;

/// RFC 8460 §4.4 receiving-mx-helo is the name the receiving MX announced: the first word of
/// an EHLO response (Postfix sends it whole: "250-<name> <greeting>", a line per extension,
/// controls already spaces), without its reply code; empty when there is none.
std::string helo_name(const std::string& text) {
  std::string_view t{text};
  const auto begin = t.find_first_not_of(' ');
  if (begin == std::string_view::npos) return {};
  t = t.substr(begin);
  const bool coded =
      t.size() > 4 &&
      std::all_of(t.begin(), t.begin() + 3, [](char c) { return c >= '0' && c <= '9'; }) &&
      (t[3] == '-' || t[3] == ' ');
  if (coded) t = t.substr(4);
  return std::string{t.substr(0, t.find(' '))};
}

Result<FailureDetail> parse_detail(const json& obj, const std::string& where) {
  if (!obj.is_object()) return in.reject("\"" + where + "\" must be an object");
  const auto code = in.required_int(obj, "c", where);
  if (!code) return Unexpected{code.error()};
  const auto type = result_type_from_libtlsrpt(*code);
  if (!type) {
    return in.reject("\"" + util::json_key_path(where, "c") + "\" is " + std::to_string(*code) +
                     ", not a libtlsrpt failure code");
  }
  FailureDetail d;
  d.result_type = *type;
  // Free text, as MTAs send it: Postfix 3.10 passes the receiving MX's whole EHLO response as
  // "h", one line per extension (seen from Postfix 3.10.13 in suites/deliveries.py).
  if (auto ok =
          read_detail_texts(in, obj, where, {"s", "n", "h", "r", "a", "f"}, Controls::AsSpaces, d);
      !ok) {
    return Unexpected{ok.error()};
  }
  d.receiving_mx_helo = helo_name(d.receiving_mx_helo);
  return d;
}

Result<PolicyResult> parse_policy(const json& obj, const std::string& where,
                                  const std::string& report_domain) {
  if (!obj.is_object()) return in.reject("\"" + where + "\" must be an object");
  PolicyResult out;

  const auto type_code = in.required_int(obj, "policy-type", where);
  if (!type_code) return Unexpected{type_code.error()};
  const auto type = policy_type_from_libtlsrpt(*type_code);
  if (!type) {
    return in.reject("\"" + util::json_key_path(where, "policy-type") + "\" is " +
                     std::to_string(*type_code) + ", not 1 (tlsa), 2 (sts) or 9 (no-policy-found)");
  }
  out.policy.type = *type;

  if (auto ok = read_policy_names(in, obj, where, report_domain, out.policy); !ok) {
    return Unexpected{ok.error()};
  }

  const std::string details_path = util::json_key_path(where, "failure-details");
  auto details = in.optional_object_list(obj, "failure-details", where, "failure details");
  if (!details) return Unexpected{details.error()};
  if (const auto* list = *details) {
    out.details.reserve(list->size());
    for (std::size_t i = 0; i < list->size(); ++i) {
      auto d = parse_detail((*list)[i], util::json_index_path(details_path, i));
      if (!d) return Unexpected{d.error()};
      out.details.push_back(std::move(*d));
    }
  }

  // "t" (libtlsrpt's failure count) is deliberately not read: the details
  // are the truth, and a wrong "t" must not change the counts.
  const auto final_result = in.required_int(obj, "f", where);
  if (!final_result) return Unexpected{final_result.error()};
  if (*final_result != 0 && *final_result != 1) {
    return in.reject("\"" + util::json_key_path(where, "f") + "\" is " +
                     std::to_string(*final_result) + ", not 0 (success) or 1 (failure)");
  }
  const bool failed = *final_result == 1;
  out.successes = failed ? 0 : 1;
  out.failures = out.details.size();
  if (failed && out.failures == 0) out.failures = 1;
  return out;
}

Result<ResultBatch> parse(std::string_view bytes, util::TimePoint at) {
  if (bytes.size() > k_max_datagram) {
    return in.reject("longer than " + std::to_string(k_max_datagram) + " bytes");
  }
  // nlohmann's lexer would stop at a raw NUL; JSON text never holds one.
  if (bytes.find('\0') != std::string_view::npos) return in.reject("contains a NUL byte");
  if (!util::json_nesting_within(bytes, k_max_json_depth)) {
    return in.reject("nested deeper than " + std::to_string(k_max_json_depth) + " levels");
  }
  const json root = json::parse(bytes.begin(), bytes.end(), nullptr, /*allow_exceptions=*/false);
  if (root.is_discarded()) return in.reject("not a JSON text in UTF-8 (RFC 8259)");
  if (!root.is_object()) return in.reject("not a JSON object");

  ResultBatch batch;
  batch.origin = Origin::Datagram;
  batch.at = at;

  auto d = in.required_string(root, "d", "");
  if (!d) return Unexpected{d.error()};
  auto domain = detail::domain(in, *d, "d");
  if (!domain) return Unexpected{domain.error()};
  batch.domain = std::move(*domain);

  auto record = in.optional_string(root, "pr", "");
  if (!record) return Unexpected{record.error()};
  if (*record) batch.tlsrpt_record = std::move(**record);

  const auto policies = root.find("policies");
  if (policies == root.end()) return in.reject("\"policies\" is missing");
  if (!policies->is_array()) return in.reject("\"policies\" must be an array of objects");
  if (policies->empty()) return in.reject("\"policies\" is empty");
  if (policies->size() > k_max_policies) {
    return in.reject("\"policies\" has more than " + std::to_string(k_max_policies) + " policies");
  }
  batch.policies.reserve(policies->size());
  for (std::size_t i = 0; i < policies->size(); ++i) {
    auto p = parse_policy((*policies)[i], util::json_index_path("policies", i), batch.domain);
    if (!p) return Unexpected{p.error()};
    batch.policies.push_back(std::move(*p));
  }
  return batch;
}

}  // namespace

Result<ResultBatch> parse_datagram(std::string_view bytes, util::TimePoint at) {
  try {
    return parse(bytes, at);
  } catch (...) {
    // Only allocation failure can get here: every get() is guarded by is_*().
    return fail(Errc::Internal, Retry::Transient, "libtlsrpt datagram: out of memory");
  }
}

}  // namespace tlspolicy::tlsrpt
