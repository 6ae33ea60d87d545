// SPDX-License-Identifier: Apache-2.0
//
// What both ReportStore implementations share (report_rows.hpp).
#include "report_rows.hpp"

#include <algorithm>
#include <array>
#include <chrono>
#include <limits>
#include <string>
#include <tuple>
#include <utility>

#include <climits>

namespace tlspolicy::cache {
namespace {

bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }

int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/// Detail order of aggregate(): result type (ResultType order, i.e. RFC 8460
/// §4.3's), then the fields as declared in FailureDetail.
bool detail_less(const tlsrpt::CountedDetail& a, const tlsrpt::CountedDetail& b) {
  const auto key = [](const tlsrpt::FailureDetail& d) {
    return std::tie(d.result_type, d.sending_mta_ip, d.receiving_mx_hostname, d.receiving_mx_helo,
                    d.receiving_ip, d.additional_information, d.failure_reason_code);
  };
  return key(a.detail) < key(b.detail);
}

}  // namespace

std::optional<ReportState> parse_report_state(std::string_view s) noexcept {
  for (const ReportState state :
       {ReportState::Pending, ReportState::Sent, ReportState::Failed, ReportState::Skipped}) {
    if (to_string(state) == s) return state;
  }
  return std::nullopt;
}

Result<std::string> day_key(tlsrpt::Day day) {
  std::string text = tlsrpt::format_day(day);
  if (text.size() != 10 || !is_digit(text[0])) {
    return fail(Errc::InvalidArgument, Retry::Permanent,
                "tlsrpt store: day " + text + " is outside the years 0000-9999");
  }
  return text;
}

std::uint64_t saturating_add(std::uint64_t a, std::uint64_t b) noexcept {
  return a > std::numeric_limits<std::uint64_t>::max() - b
             ? std::numeric_limits<std::uint64_t>::max()
             : a + b;
}

std::string encode_strings(const std::vector<std::string>& list) {
  static constexpr std::array<char, 16> k_hex{'0', '1', '2', '3', '4', '5', '6', '7',
                                              '8', '9', 'a', 'b', 'c', 'd', 'e', 'f'};
  std::string out = "[";
  for (const std::string& s : list) {
    if (out.size() > 1) out += ',';
    out += '"';
    for (const char c : s) {
      const auto byte = static_cast<unsigned char>(c);
      if (c == '"' || c == '\\') {
        out += '\\';
        out += c;
      } else if (c == '\n') {
        out += "\\n";
      } else if (c == '\r') {
        out += "\\r";
      } else if (c == '\t') {
        out += "\\t";
      } else if (byte < 0x20) {
        out += "\\u00";
        out += k_hex[byte >> 4U];
        out += k_hex[byte & 0xfU];
      } else {
        out += c;
      }
    }
    out += '"';
  }
  out += ']';
  return out;
}

std::optional<std::vector<std::string>> decode_strings(std::string_view text) {
  std::vector<std::string> out;
  if (text.size() < 2 || text.front() != '[' || text.back() != ']') return std::nullopt;
  text = text.substr(1, text.size() - 2);
  while (!text.empty()) {
    if (!out.empty()) {
      if (text.front() != ',') return std::nullopt;
      text.remove_prefix(1);
    }
    if (text.empty() || text.front() != '"') return std::nullopt;
    text.remove_prefix(1);
    std::string s;
    for (;;) {
      if (text.empty()) return std::nullopt;
      const char c = text.front();
      text.remove_prefix(1);
      if (c == '"') break;
      if (c != '\\') {
        s += c;
        continue;
      }
      if (text.empty()) return std::nullopt;
      const char e = text.front();
      text.remove_prefix(1);
      switch (e) {
        case '"':
        case '\\':
        case '/':
          s += e;
          break;
        case 'n':
          s += '\n';
          break;
        case 'r':
          s += '\r';
          break;
        case 't':
          s += '\t';
          break;
        case 'b':
          s += '\b';
          break;
        case 'f':
          s += '\f';
          break;
        case 'u': {
          if (text.size() < 4) return std::nullopt;
          int value = 0;
          for (std::size_t i = 0; i < 4; ++i) {
            const int digit = hex_value(text[i]);
            if (digit < 0) return std::nullopt;
            value = value * 16 + digit;
          }
          if (value >= 0x80) return std::nullopt;
          s += static_cast<char>(value);
          text.remove_prefix(4);
          break;
        }
        default:
          return std::nullopt;
      }
    }
    out.push_back(std::move(s));
  }
  return out;
}

std::chrono::seconds clamped_lease(std::chrono::seconds lease) noexcept {
  constexpr std::chrono::seconds k_max_lease{10LL * 366 * 24 * 3600};
  return std::clamp(lease, std::chrono::seconds{0}, k_max_lease);
}

Result<std::string> checked_batch_day(const tlsrpt::ResultBatch& b) {
  if (b.domain.empty()) {
    return fail(Errc::InvalidArgument, Retry::Permanent, "tlsrpt store add: empty domain");
  }
  // RPT-8: counted on the UTC day of the batch's time.
  auto day = day_key(tlsrpt::day_of(b.at));
  if (!day) return Unexpected{day.error()};
  for (const tlsrpt::PolicyResult& p : b.policies) {
    if (p.successes > k_max_count || p.failures > k_max_count) {
      return fail(Errc::InvalidArgument, Retry::Permanent,
                  "tlsrpt store add: session count above 2^63-1 for " + b.domain);
    }
  }
  return day;
}

Result<std::string> checked_new_report(const ReportRow& row) {
  if (row.report_id.empty() || row.domain.empty() || row.attempts < 0) {
    return fail(Errc::InvalidArgument, Retry::Permanent,
                "tlsrpt store create_report: empty report id or domain, or negative attempts");
  }
  return day_key(row.day);
}

Result<void> checked_update(const ReportRow& row) {
  if (row.attempts < 0) {
    return fail(Errc::InvalidArgument, Retry::Permanent,
                "tlsrpt store update_report: negative attempts for " + row.report_id);
  }
  return {};
}

std::vector<tlsrpt::CountedDetail> count_details(
    const std::vector<tlsrpt::FailureDetail>& details) {
  std::vector<tlsrpt::CountedDetail> sorted;
  sorted.reserve(details.size());
  for (const auto& d : details) sorted.push_back({d, 1});
  std::sort(sorted.begin(), sorted.end(), detail_less);
  std::vector<tlsrpt::CountedDetail> out;
  for (auto& d : sorted) {
    if (!out.empty() && out.back().detail == d.detail) {
      ++out.back().count;
    } else {
      out.push_back(std::move(d));
    }
  }
  return out;
}

void order_aggregate(std::vector<tlsrpt::AggregatedPolicy>& policies) {
  std::stable_sort(policies.begin(), policies.end(), [](const auto& a, const auto& b) {
    return std::tie(a.policy.type, a.policy.policy_domain) <
           std::tie(b.policy.type, b.policy.policy_domain);
  });
  for (auto& p : policies) std::sort(p.details.begin(), p.details.end(), detail_less);
}

Error bad_row(std::string what, std::string_view where) {
  what += " (";
  what += where;
  what += ")";
  return Error{Errc::CacheSchema, Retry::Transient, std::move(what)};
}

Result<ReportRow> report_from(StoredReport s, std::string_view where) {
  const auto day = tlsrpt::parse_day(s.day);
  const auto state = parse_report_state(s.state);
  if (!day || !state || s.attempts < 0 || s.attempts > INT_MAX) {
    return Unexpected{bad_row("stored report " + s.report_id + " has day '" + s.day + "', state '" +
                                  s.state + "', attempts " + std::to_string(s.attempts),
                              where)};
  }
  const auto time = [](std::int64_t t) {
    return util::TimePoint{std::chrono::seconds{static_cast<std::chrono::seconds::rep>(t)}};
  };
  ReportRow r;
  r.report_id = std::move(s.report_id);
  r.day = *day;
  r.domain = std::move(s.domain);
  r.state = *state;
  r.created_at = time(s.created_at);
  r.next_attempt_at = time(s.next_attempt_at);
  r.give_up_at = time(s.give_up_at);
  r.attempts = static_cast<int>(s.attempts);
  r.last_error = std::move(s.last_error);
  if (s.sent_at) r.sent_at = time(*s.sent_at);
  r.sent_to = std::move(s.sent_to);
  return r;
}

Result<tlsrpt::AggregatedPolicy> policy_from(StoredPolicy s, std::string_view where) {
  const auto type = tlsrpt::parse_policy_type(s.type);
  auto strings = decode_strings(s.policy_strings);
  auto mx = decode_strings(s.mx_hosts);
  if (!type || !strings || !mx || s.successes < 0 || s.failures < 0) {
    return Unexpected{bad_row("stored tlsrpt policy " + std::to_string(s.id) + " has type '" +
                                  s.type + "', policy_strings '" + s.policy_strings +
                                  "', mx_hosts '" + s.mx_hosts + "' or negative counts",
                              where)};
  }
  tlsrpt::AggregatedPolicy p;
  p.policy.type = *type;
  p.policy.policy_domain = std::move(s.policy_domain);
  p.policy.policy_strings = std::move(*strings);
  p.policy.mx_hosts = std::move(*mx);
  p.successes = static_cast<std::uint64_t>(s.successes);
  p.failures = static_cast<std::uint64_t>(s.failures);
  return p;
}

Result<tlsrpt::CountedDetail> detail_from(StoredDetail s, std::string_view where) {
  const auto type = tlsrpt::parse_result_type(s.result_type);
  if (!type || s.failed_sessions < 0) {
    return Unexpected{bad_row("stored tlsrpt failure detail of policy " +
                                  std::to_string(s.policy_id) + " has result type '" +
                                  s.result_type + "' or a negative count",
                              where)};
  }
  tlsrpt::CountedDetail d;
  d.detail = std::move(s.fields);
  d.detail.result_type = *type;
  d.count = static_cast<std::uint64_t>(s.failed_sessions);
  return d;
}

}  // namespace tlspolicy::cache
