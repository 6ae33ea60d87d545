// SPDX-License-Identifier: Apache-2.0
//
// Fuzz target for the TLS-RPT result parsers of untrusted JSON: the libtlsrpt
// datagram (parse_datagram) and, on the same bytes, the JSON "report" op
// payload (parse_json_report), which share the limits and the normalisation.
// Neither may crash or throw (an escaping exception aborts); an accepted input
// must give a batch that the store can take as is: a normalised non-empty
// report domain, 1..k_max_policies policies each with a non-empty policy
// domain, at least one counted session, no more details than failures, and
// only strings within the limits.
#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "tlspolicy/tlsrpt/datagram.hpp"
#include "tlspolicy/tlsrpt/json_report.hpp"

// Declared here for -Wmissing-declarations; libFuzzer or standalone_main.cpp calls it.
extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

namespace {

using namespace tlspolicy::tlsrpt;

void check_text(const std::string& s) {
  if (s.size() > k_max_text_bytes) std::abort();
  if (std::any_of(s.begin(), s.end(),
                  [](char c) { return static_cast<unsigned char>(c) < 0x20; })) {
    std::abort();
  }
}

// A normalised domain: non-empty, no upper case, no trailing dot.
void check_domain(const std::string& d) {
  if (d.empty() || d.back() == '.') std::abort();
  if (std::any_of(d.begin(), d.end(), [](char c) { return c >= 'A' && c <= 'Z'; })) std::abort();
}

void check_batch(const ResultBatch& b, Origin origin) {
  if (b.origin != origin) std::abort();
  check_domain(b.domain);
  check_text(b.tlsrpt_record);
  if (b.policies.empty() || b.policies.size() > k_max_policies) std::abort();
  for (const auto& p : b.policies) {
    check_domain(p.policy.policy_domain);
    if (p.successes > 1) std::abort();
    if (p.successes + p.failures == 0) std::abort();
    if (p.details.size() > p.failures || p.details.size() > k_max_list_items) std::abort();
    for (const auto& s : p.policy.policy_strings) check_text(s);
    for (const auto& s : p.policy.mx_hosts) check_text(s);
    for (const auto& d : p.details) {
      check_text(d.sending_mta_ip);
      check_text(d.receiving_mx_hostname);
      check_text(d.receiving_mx_helo);
      check_text(d.receiving_ip);
      check_text(d.additional_information);
      check_text(d.failure_reason_code);
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view bytes{reinterpret_cast<const char*>(data), size};
  const tlspolicy::util::TimePoint at{std::chrono::seconds{1'790'000'000}};

  const auto datagram = parse_datagram(bytes, at);
  if (datagram) {
    check_batch(*datagram, Origin::Datagram);
    if (datagram->at != at) std::abort();
  } else if (datagram.error().detail.empty()) {
    std::abort();
  }

  const auto report = parse_json_report(bytes);
  if (report) {
    check_batch(report->batch, Origin::JsonOp);
    if (report->batch.policies.size() != 1) std::abort();
    if (report->batch.at != tlspolicy::util::TimePoint{}) std::abort();
  } else if (report.error().detail.empty()) {
    std::abort();
  }
  return 0;
}
