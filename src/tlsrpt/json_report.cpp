// SPDX-License-Identifier: Apache-2.0
//
// NAME
//   json_report - payload parser of the JSON-lines "report" op
//   (include/tlspolicy/tlsrpt/json_report.hpp documents the format)
// RULES
//   Unknown keys are rejected at every level (the JSON protocol's rule, so a
//   misspelt "failure-detail" never drops data silently); "op", "id" and "v"
//   belong to the protocol layer and are skipped here.
// LIMITS
//   Those of the datagram (datagram.hpp): k_max_datagram bytes,
//   k_max_json_depth levels, k_max_list_items per array, k_max_text_bytes per
//   string.
// SECURITY
//   Never throws: parse(…, nullptr, false) + is_discarded(), find() + is_*()
//   before every get(). Unknown key names are quoted cut and escaped.
#include "tlspolicy/tlsrpt/json_report.hpp"

#include <algorithm>
#include <array>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "tlspolicy/dns/name.hpp"
#include "tlspolicy/util/json_nesting.hpp"
#include "tlspolicy/util/quote.hpp"

#include "json_fields.hpp"

namespace tlspolicy::tlsrpt {
namespace {

using nlohmann::ordered_json;

const util::JsonFieldReader<ordered_json> in{"report: ", detail::k_json_limits};
using detail::read_detail_texts;

/// Rejects the first key of `obj` that is not in `allowed`, naming it.
template <std::size_t N>
Result<void> check_keys(const ordered_json& obj, const std::array<std::string_view, N>& allowed,
                        const std::string& where) {
  for (const auto& [key, value] : obj.items()) {
    if (std::find(allowed.begin(), allowed.end(), key) != allowed.end()) continue;
    return in.reject("unknown key " + util::quoted(key) +
                     (where.empty() ? std::string{} : " in \"" + where + "\""));
  }
  return {};
}

constexpr std::array<std::string_view, 8> k_top_keys{
    "op", "id", "v", "domain", "result", "policy", "failure-details", "tlsrpt-record"};
constexpr std::array<std::string_view, 4> k_policy_keys{"policy-type", "policy-domain",
                                                        "policy-string", "mx-host"};
constexpr std::array<std::string_view, 7> k_detail_keys{
    "result-type",  "sending-mta-ip",         "receiving-mx-hostname", "receiving-mx-helo",
    "receiving-ip", "additional-information", "failure-reason-code"};

Result<FailureDetail> parse_detail(const ordered_json& obj, const std::string& where) {
  if (!obj.is_object()) return in.reject("\"" + where + "\" must be an object");
  if (auto ok = check_keys(obj, k_detail_keys, where); !ok) return Unexpected{ok.error()};
  auto name = in.required_string(obj, "result-type", where);
  if (!name) return Unexpected{name.error()};
  const auto type = parse_result_type(*name);
  if (!type) {
    return in.reject("\"" + util::json_key_path(where, "result-type") + "\" " +
                     util::quoted(*name) + " is not an RFC 8460 result type");
  }
  FailureDetail d;
  d.result_type = *type;
  if (auto ok = read_detail_texts(in, obj, where,
                                  {"sending-mta-ip", "receiving-mx-hostname", "receiving-mx-helo",
                                   "receiving-ip", "additional-information", "failure-reason-code"},
                                  util::Controls::Refuse, d);
      !ok) {
    return Unexpected{ok.error()};
  }
  return d;
}

Result<PolicyKey> parse_policy(const ordered_json& obj, const std::string& report_domain) {
  const std::string where = "policy";
  if (!obj.is_object()) return in.reject("\"policy\" must be an object");
  if (auto ok = check_keys(obj, k_policy_keys, where); !ok) return Unexpected{ok.error()};
  PolicyKey key;
  auto type_name = in.required_string(obj, "policy-type", where);
  if (!type_name) return Unexpected{type_name.error()};
  const auto type = parse_policy_type(*type_name);
  if (!type) {
    return in.reject("\"policy.policy-type\" " + util::quoted(*type_name) +
                     " is not \"tlsa\", \"sts\" or \"no-policy-found\"");
  }
  key.type = *type;

  if (auto ok = detail::read_policy_names(in, obj, where, report_domain, key); !ok) {
    return Unexpected{ok.error()};
  }
  return key;
}

Result<JsonReport> parse(std::string_view text) {
  if (text.size() > k_max_datagram) {
    return in.reject("longer than " + std::to_string(k_max_datagram) + " bytes");
  }
  if (text.find('\0') != std::string_view::npos) return in.reject("contains a NUL byte");
  if (!util::json_nesting_within(text, k_max_json_depth)) {
    return in.reject("nested deeper than " + std::to_string(k_max_json_depth) + " levels");
  }
  const ordered_json root =
      ordered_json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (root.is_discarded()) return in.reject("not a JSON text in UTF-8 (RFC 8259)");
  if (!root.is_object()) return in.reject("not a JSON object");
  if (auto ok = check_keys(root, k_top_keys, ""); !ok) return Unexpected{ok.error()};

  JsonReport out;
  ResultBatch& batch = out.batch;
  batch.origin = Origin::JsonOp;
  batch.at = util::TimePoint{};

  auto domain_text = in.required_string(root, "domain", "");
  if (!domain_text) return Unexpected{domain_text.error()};
  auto domain = detail::domain(in, *domain_text, "domain");
  if (!domain) return Unexpected{domain.error()};
  batch.domain = std::move(*domain);

  auto result = in.required_string(root, "result", "");
  if (!result) return Unexpected{result.error()};
  if (*result != "success" && *result != "failure") {
    return in.reject("\"result\" " + util::quoted(*result) + " is not \"success\" or \"failure\"");
  }
  const bool failed = *result == "failure";

  auto record = in.optional_string(root, "tlsrpt-record", "");
  if (!record) return Unexpected{record.error()};
  if (*record) batch.tlsrpt_record = std::move(**record);

  PolicyResult policy;
  if (const auto it = root.find("policy"); it != root.end()) {
    auto key = parse_policy(*it, batch.domain);
    if (!key) return Unexpected{key.error()};
    policy.policy = std::move(*key);
    out.policy_given = true;
  } else {
    policy.policy.type = PolicyType::NoPolicyFound;
    policy.policy.policy_domain = batch.domain;
  }

  auto details = in.optional_object_list(root, "failure-details", "", "entries");
  if (!details) return Unexpected{details.error()};
  if (const auto* list = *details) {
    policy.details.reserve(list->size());
    for (std::size_t i = 0; i < list->size(); ++i) {
      auto d = parse_detail((*list)[i], util::json_index_path("failure-details", i));
      if (!d) return Unexpected{d.error()};
      policy.details.push_back(std::move(*d));
    }
  }

  // One session either succeeded or failed: a success with failure details
  // would count twice (and silently dropping the details loses data).
  if (!failed && !policy.details.empty()) {
    return in.reject(R"("result" is "success" but "failure-details" are given)");
  }
  policy.successes = failed ? 0 : 1;
  policy.failures = policy.details.size();
  if (failed && policy.failures == 0) policy.failures = 1;
  batch.policies.push_back(std::move(policy));
  return out;
}

}  // namespace

Result<JsonReport> parse_json_report(std::string_view request_object_json) {
  try {
    return parse(request_object_json);
  } catch (...) {
    // Only allocation failure can get here: every get() is guarded by is_*().
    return fail(Errc::Internal, Retry::Transient, "report: out of memory");
  }
}

}  // namespace tlspolicy::tlsrpt
