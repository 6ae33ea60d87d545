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

namespace tlspolicy::tlsrpt {
namespace {

using nlohmann::json;

Unexpected<Error> reject(const std::string& detail) {
  return fail(Errc::InvalidArgument, Retry::Permanent, "libtlsrpt datagram: " + detail);
}

std::string key_path(const std::string& where, std::string_view key) {
  std::string out = where;
  if (!out.empty()) out += '.';
  out += key;
  return out;
}

std::string index_path(const std::string& where, std::size_t i) {
  return where + "[" + std::to_string(i) + "]";
}

bool is_c0(char c) noexcept { return static_cast<unsigned char>(c) < 0x20; }

/// How a string value's C0 controls are treated: a name or policy text with one is refused;
/// free text (a failure detail's words) keeps them out, as spaces.
enum class Controls { Refuse, AsSpaces };

/// A string value within the limits: at most k_max_text_bytes, and C0 controls as `controls`
/// says. (nlohmann's lexer already refused invalid UTF-8 and lone surrogates.)
Result<std::string> checked_text(std::string s, const std::string& where,
                                 Controls controls = Controls::Refuse) {
  if (s.size() > k_max_text_bytes) {
    return reject("\"" + where + "\" is longer than " + std::to_string(k_max_text_bytes) +
                  " bytes");
  }
  if (controls == Controls::AsSpaces) {
    std::replace_if(s.begin(), s.end(), is_c0, ' ');
  } else if (std::any_of(s.begin(), s.end(), is_c0)) {
    return reject("\"" + where + "\" contains a control character");
  }
  return s;
}

/// The string at obj[key]: nullopt when absent, an error when not a string.
Result<std::optional<std::string>> optional_string(const json& obj, std::string_view key,
                                                   const std::string& where,
                                                   Controls controls = Controls::Refuse) {
  const auto it = obj.find(key);
  if (it == obj.end()) return std::optional<std::string>{};
  const std::string path = key_path(where, key);
  if (!it->is_string()) return reject("\"" + path + "\" must be a string");
  auto s = checked_text(it->get<std::string>(), path, controls);
  if (!s) return Unexpected{s.error()};
  return std::optional<std::string>{std::move(*s)};
}

Result<std::string> required_string(const json& obj, std::string_view key,
                                    const std::string& where) {
  auto s = optional_string(obj, key, where);
  if (!s) return Unexpected{s.error()};
  if (!*s) return reject("\"" + key_path(where, key) + "\" is missing");
  return std::move(**s);
}

/// The integer at obj[key], clamped to ±k_int_clamp (every valid value is
/// small, so a clamped one is still invalid): nullopt when absent.
constexpr std::int64_t k_int_clamp = 1'000'000;

Result<std::optional<long>> optional_int(const json& obj, std::string_view key,
                                         const std::string& where) {
  const auto it = obj.find(key);
  if (it == obj.end()) return std::optional<long>{};
  if (it->is_number_unsigned()) {
    const auto v = it->get<std::uint64_t>();
    return std::optional<long>{static_cast<long>(std::min<std::uint64_t>(v, k_int_clamp))};
  }
  if (it->is_number_integer()) {
    const auto v = std::clamp<std::int64_t>(it->get<std::int64_t>(), -k_int_clamp, k_int_clamp);
    return std::optional<long>{static_cast<long>(v)};
  }
  return reject("\"" + key_path(where, key) + "\" must be an integer");
}

Result<long> required_int(const json& obj, std::string_view key, const std::string& where) {
  auto v = optional_int(obj, key, where);
  if (!v) return Unexpected{v.error()};
  if (!*v) return reject("\"" + key_path(where, key) + "\" is missing");
  return **v;
}

/// The array of strings at obj[key]; empty when absent.
Result<std::vector<std::string>> optional_string_list(const json& obj, std::string_view key,
                                                      const std::string& where) {
  std::vector<std::string> out;
  const auto it = obj.find(key);
  if (it == obj.end()) return out;
  const std::string path = key_path(where, key);
  if (!it->is_array()) return reject("\"" + path + "\" must be an array of strings");
  if (it->size() > k_max_list_items) {
    return reject("\"" + path + "\" has more than " + std::to_string(k_max_list_items) +
                  " elements");
  }
  out.reserve(it->size());
  for (std::size_t i = 0; i < it->size(); ++i) {
    const json& e = (*it)[i];
    const std::string item = index_path(path, i);
    if (!e.is_string()) return reject("\"" + item + "\" must be a string");
    auto s = checked_text(e.get<std::string>(), item);
    if (!s) return Unexpected{s.error()};
    out.push_back(std::move(*s));
  }
  return out;
}

/// A report or policy domain: lower-case A-labels, no trailing dot.
Result<std::string> normalise_domain(const std::string& text, const std::string& where) {
  auto name = dns::DomainName::parse(text);
  if (!name) return reject("\"" + where + "\": " + name.error().detail);
  return name->str();
}

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

/// A receiving MX host name: normalised when it is a domain name, else as sent.
std::string normalise_mx_hostname(std::string text) {
  auto name = dns::DomainName::parse(text);
  if (name) return name->str();
  return text;
}

Result<FailureDetail> parse_detail(const json& obj, const std::string& where) {
  if (!obj.is_object()) return reject("\"" + where + "\" must be an object");
  const auto code = required_int(obj, "c", where);
  if (!code) return Unexpected{code.error()};
  const auto type = result_type_from_libtlsrpt(*code);
  if (!type) {
    return reject("\"" + key_path(where, "c") + "\" is " + std::to_string(*code) +
                  ", not a libtlsrpt failure code");
  }
  FailureDetail d;
  d.result_type = *type;
  struct Field {
    std::string_view key;
    std::string* target;
  };
  const std::array<Field, 6> fields{{
      {"s", &d.sending_mta_ip},
      {"n", &d.receiving_mx_hostname},
      {"h", &d.receiving_mx_helo},
      {"r", &d.receiving_ip},
      {"a", &d.additional_information},
      {"f", &d.failure_reason_code},
  }};
  // Free text, as MTAs send it: Postfix 3.10 passes the receiving MX's whole EHLO response as
  // "h", one line per extension (seen from Postfix 3.10.13 in suites/deliveries.py).
  for (const auto& f : fields) {
    auto s = optional_string(obj, f.key, where, Controls::AsSpaces);
    if (!s) return Unexpected{s.error()};
    if (*s) *f.target = std::move(**s);
  }
  d.receiving_mx_hostname = normalise_mx_hostname(std::move(d.receiving_mx_hostname));
  d.receiving_mx_helo = helo_name(d.receiving_mx_helo);
  return d;
}

Result<PolicyResult> parse_policy(const json& obj, const std::string& where,
                                  const std::string& report_domain) {
  if (!obj.is_object()) return reject("\"" + where + "\" must be an object");
  PolicyResult out;

  const auto type_code = required_int(obj, "policy-type", where);
  if (!type_code) return Unexpected{type_code.error()};
  const auto type = policy_type_from_libtlsrpt(*type_code);
  if (!type) {
    return reject("\"" + key_path(where, "policy-type") + "\" is " + std::to_string(*type_code) +
                  ", not 1 (tlsa), 2 (sts) or 9 (no-policy-found)");
  }
  out.policy.type = *type;

  auto domain = optional_string(obj, "policy-domain", where);
  if (!domain) return Unexpected{domain.error()};
  if (*domain) {
    auto normalised = normalise_domain(**domain, key_path(where, "policy-domain"));
    if (!normalised) return Unexpected{normalised.error()};
    out.policy.policy_domain = std::move(*normalised);
  } else {
    out.policy.policy_domain = report_domain;
  }

  auto strings = optional_string_list(obj, "policy-string", where);
  if (!strings) return Unexpected{strings.error()};
  out.policy.policy_strings = std::move(*strings);
  auto mx = optional_string_list(obj, "mx-host", where);
  if (!mx) return Unexpected{mx.error()};
  out.policy.mx_hosts = std::move(*mx);

  if (const auto it = obj.find("failure-details"); it != obj.end()) {
    const std::string path = key_path(where, "failure-details");
    if (!it->is_array()) return reject("\"" + path + "\" must be an array of objects");
    if (it->size() > k_max_list_items) {
      return reject("\"" + path + "\" has more than " + std::to_string(k_max_list_items) +
                    " failure details");
    }
    out.details.reserve(it->size());
    for (std::size_t i = 0; i < it->size(); ++i) {
      auto d = parse_detail((*it)[i], index_path(path, i));
      if (!d) return Unexpected{d.error()};
      out.details.push_back(std::move(*d));
    }
  }

  // "t" (libtlsrpt's failure count) is deliberately not read: the details
  // are the truth, and a wrong "t" must not change the counts.
  const auto final_result = required_int(obj, "f", where);
  if (!final_result) return Unexpected{final_result.error()};
  if (*final_result != 0 && *final_result != 1) {
    return reject("\"" + key_path(where, "f") + "\" is " + std::to_string(*final_result) +
                  ", not 0 (success) or 1 (failure)");
  }
  const bool failed = *final_result == 1;
  out.successes = failed ? 0 : 1;
  out.failures = out.details.size();
  if (failed && out.failures == 0) out.failures = 1;
  return out;
}

Result<ResultBatch> parse(std::string_view bytes, util::TimePoint at) {
  if (bytes.size() > k_max_datagram) {
    return reject("longer than " + std::to_string(k_max_datagram) + " bytes");
  }
  // nlohmann's lexer would stop at a raw NUL; JSON text never holds one.
  if (bytes.find('\0') != std::string_view::npos) return reject("contains a NUL byte");
  if (!util::json_nesting_within(bytes, k_max_json_depth)) {
    return reject("nested deeper than " + std::to_string(k_max_json_depth) + " levels");
  }
  const json root = json::parse(bytes.begin(), bytes.end(), nullptr, /*allow_exceptions=*/false);
  if (root.is_discarded()) return reject("not a JSON text in UTF-8 (RFC 8259)");
  if (!root.is_object()) return reject("not a JSON object");

  ResultBatch batch;
  batch.origin = Origin::Datagram;
  batch.at = at;

  auto d = required_string(root, "d", "");
  if (!d) return Unexpected{d.error()};
  auto domain = normalise_domain(*d, "d");
  if (!domain) return Unexpected{domain.error()};
  batch.domain = std::move(*domain);

  auto record = optional_string(root, "pr", "");
  if (!record) return Unexpected{record.error()};
  if (*record) batch.tlsrpt_record = std::move(**record);

  const auto policies = root.find("policies");
  if (policies == root.end()) return reject("\"policies\" is missing");
  if (!policies->is_array()) return reject("\"policies\" must be an array of objects");
  if (policies->empty()) return reject("\"policies\" is empty");
  if (policies->size() > k_max_policies) {
    return reject("\"policies\" has more than " + std::to_string(k_max_policies) + " policies");
  }
  batch.policies.reserve(policies->size());
  for (std::size_t i = 0; i < policies->size(); ++i) {
    auto p = parse_policy((*policies)[i], index_path("policies", i), batch.domain);
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
