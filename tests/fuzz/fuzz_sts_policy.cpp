// SPDX-License-Identifier: Apache-2.0
//
// Fuzz target for the MTA-STS policy body parser (RFC 8461 §3.2): never a
// crash or an exception; an accepted policy has a valid mode, max_age within
// 0..k_max_age_limit, at least one mx unless mode is none (STS-20), normalised
// patterns that match what §4.1 says they match (STS-25), and it survives
// render -> parse unchanged. policy_lines() is exercised on the same bytes.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "tlspolicy/sts/policy.hpp"

namespace {

using namespace tlspolicy::sts;

std::string render(const StsPolicy& p) {
  std::string out = "version: STSv1\r\nmode: " + std::string{to_string(p.mode)} + "\r\n";
  for (const auto& mx : p.mx) out += "mx: " + mx + "\r\n";
  return out + "max_age: " + std::to_string(p.max_age.count()) + "\r\n";
}

void check_pattern(const std::string& mx) {
  if (mx.empty() || mx.back() == '.') std::abort();
  for (const char c : mx) {
    if (c >= 'A' && c <= 'Z') std::abort();
  }
  if (mx.starts_with("*.")) {
    const std::string suffix = mx.substr(2);
    if (!mx_pattern_matches(mx, "a." + suffix)) std::abort();
    if (mx_pattern_matches(mx, suffix)) std::abort();
    if (mx_pattern_matches(mx, "a.b." + suffix)) std::abort();
  } else if (!mx_pattern_matches(mx, mx)) {
    std::abort();
  }
}

}  // namespace

// Declared here for -Wmissing-declarations; libFuzzer or standalone_main.cpp calls it.
extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view body{reinterpret_cast<const char*>(data), size};

  for (const auto& line : policy_lines(body)) {
    if (line.empty() || line.find('\n') != std::string::npos) std::abort();
  }

  const auto policy = parse_sts_policy(body);
  if (!policy) {
    if (policy.error().detail.empty()) std::abort();
    return 0;
  }
  const StsMode mode = policy->mode;
  if (mode != StsMode::Enforce && mode != StsMode::Testing && mode != StsMode::None) std::abort();
  if (policy->max_age.count() < 0 || policy->max_age > k_max_age_limit) std::abort();
  if (policy->mx.empty() && policy->mode != StsMode::None) std::abort();
  for (const auto& mx : policy->mx) check_pattern(mx);

  const auto again = parse_sts_policy(render(*policy));
  if (!again || !(*again == *policy)) std::abort();
  return 0;
}
