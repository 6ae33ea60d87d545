// SPDX-License-Identifier: Apache-2.0
//
// The tlsrpt vocabulary (include/tlspolicy/tlsrpt/model.hpp): the RFC 8460
// names of policy and result types (RPT-7, RPT-10), libtlsrpt's numeric codes
// for them, and UTC days (RPT-8). Names are case-sensitive: RFC 8460 §4 spells
// them in lower case and the report JSON must use exactly these strings.
#include "tlspolicy/tlsrpt/model.hpp"

#include <array>
#include <cstddef>
#include <string>
#include <string_view>
#include <utility>

namespace tlspolicy::tlsrpt {
namespace {

struct PolicyTypeName {
  PolicyType type;
  std::string_view name;
  long libtlsrpt_code;
};

// RFC 8460 §4.4 "policy-type"; libtlsrpt's tlsrpt_policy_type_t.
constexpr std::array<PolicyTypeName, 3> k_policy_types{{
    {PolicyType::Tlsa, "tlsa", 1},
    {PolicyType::Sts, "sts", 2},
    {PolicyType::NoPolicyFound, "no-policy-found", 9},
}};

struct ResultTypeName {
  ResultType type;
  std::string_view name;
  long libtlsrpt_code;
};

// RFC 8460 §4.3 result types; libtlsrpt's tlsrpt_failure_t. 201..205 are
// the §4.3.2 negotiation failures, 301..306 the §4.3.3 policy failures.
constexpr std::array<ResultTypeName, 11> k_result_types{{
    {ResultType::StarttlsNotSupported, "starttls-not-supported", 201},
    {ResultType::CertificateHostMismatch, "certificate-host-mismatch", 202},
    {ResultType::CertificateNotTrusted, "certificate-not-trusted", 203},
    {ResultType::CertificateExpired, "certificate-expired", 204},
    {ResultType::ValidationFailure, "validation-failure", 205},
    {ResultType::StsPolicyFetchError, "sts-policy-fetch-error", 301},
    {ResultType::StsPolicyInvalid, "sts-policy-invalid", 302},
    {ResultType::StsWebpkiInvalid, "sts-webpki-invalid", 303},
    {ResultType::TlsaInvalid, "tlsa-invalid", 304},
    {ResultType::DnssecInvalid, "dnssec-invalid", 305},
    {ResultType::DaneRequired, "dane-required", 306},
}};

bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }

// Value of the decimal digits s[pos, pos + n); the caller checked they are digits.
int digits_value(std::string_view s, std::size_t pos, std::size_t n) noexcept {
  int v = 0;
  for (std::size_t i = pos; i < pos + n; ++i) v = v * 10 + (s[i] - '0');
  return v;
}

// `v` in decimal, left-padded with zeros to `width` digits (v >= 0).
void append_padded(std::string& out, long long v, std::size_t width) {
  std::string digits = std::to_string(v);
  if (digits.size() < width) out.append(width - digits.size(), '0');
  out += digits;
}

}  // namespace

std::string_view to_string(PolicyType t) noexcept {
  for (const auto& e : k_policy_types) {
    if (e.type == t) return e.name;
  }
  return "no-policy-found";  // unreachable for valid enumerators
}

std::optional<PolicyType> parse_policy_type(std::string_view s) noexcept {
  for (const auto& e : k_policy_types) {
    if (e.name == s) return e.type;
  }
  return std::nullopt;
}

std::string_view to_string(ResultType t) noexcept {
  for (const auto& e : k_result_types) {
    if (e.type == t) return e.name;
  }
  return "validation-failure";  // unreachable for valid enumerators
}

std::optional<ResultType> parse_result_type(std::string_view s) noexcept {
  for (const auto& e : k_result_types) {
    if (e.name == s) return e.type;
  }
  return std::nullopt;
}

std::optional<PolicyType> policy_type_from_libtlsrpt(long code) noexcept {
  for (const auto& e : k_policy_types) {
    if (e.libtlsrpt_code == code) return e.type;
  }
  return std::nullopt;
}

std::optional<ResultType> result_type_from_libtlsrpt(long code) noexcept {
  for (const auto& e : k_result_types) {
    if (e.libtlsrpt_code == code) return e.type;
  }
  return std::nullopt;
}

std::string_view to_string(Origin o) noexcept {
  switch (o) {
    case Origin::Datagram:
      return "datagram";
    case Origin::JsonOp:
      return "json";
    case Origin::Engine:
      return "engine";
  }
  return "engine";  // unreachable for valid enumerators
}

Day day_of(util::TimePoint t) noexcept { return std::chrono::floor<std::chrono::days>(t); }

std::string format_day(Day d) {
  const std::chrono::year_month_day ymd{d};
  const int year = static_cast<int>(ymd.year());
  std::string out;
  out.reserve(10);
  if (year < 0) out += '-';
  append_padded(out, year < 0 ? -static_cast<long long>(year) : year, 4);
  out += '-';
  append_padded(out, static_cast<unsigned>(ymd.month()), 2);
  out += '-';
  append_padded(out, static_cast<unsigned>(ymd.day()), 2);
  return out;
}

Result<Day> parse_day(std::string_view s) {
  constexpr std::size_t k_length = 10;  // "YYYY-MM-DD"
  bool shape = s.size() == k_length && s[4] == '-' && s[7] == '-';
  constexpr std::array<std::size_t, 8> k_digit_positions{0, 1, 2, 3, 5, 6, 8, 9};
  for (const std::size_t i : k_digit_positions) {
    shape = shape && is_digit(s[i]);
  }
  if (!shape) {
    return fail(Errc::InvalidArgument, Retry::Permanent,
                "A day must be written YYYY-MM-DD (e.g. 2026-11-24).");
  }
  const std::chrono::year_month_day ymd{
      std::chrono::year{digits_value(s, 0, 4)},
      std::chrono::month{static_cast<unsigned>(digits_value(s, 5, 2))},
      std::chrono::day{static_cast<unsigned>(digits_value(s, 8, 2))}};
  if (!ymd.ok()) {
    return fail(Errc::InvalidArgument, Retry::Permanent,
                "The day " + std::string{s} + " is not a calendar date.");
  }
  return Day{ymd};
}

}  // namespace tlspolicy::tlsrpt
