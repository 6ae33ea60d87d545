// SPDX-License-Identifier: Apache-2.0
//
// The tlsrpt vocabulary (model.hpp): RFC 8460 names of policy types (RPT-7)
// and result types (RPT-10), libtlsrpt's numeric codes, and UTC days (RPT-8).
#include "tlspolicy/tlsrpt/model.hpp"

#include <chrono>
#include <string>
#include <string_view>

#include <gtest/gtest.h>

namespace tlspolicy::tlsrpt {
namespace {

using namespace std::chrono_literals;

// RPT-7
TEST(TlsrptModel, PolicyTypeNamesRoundTrip) {
  EXPECT_EQ(to_string(PolicyType::Tlsa), "tlsa");
  EXPECT_EQ(to_string(PolicyType::Sts), "sts");
  EXPECT_EQ(to_string(PolicyType::NoPolicyFound), "no-policy-found");
  for (const auto t : {PolicyType::Tlsa, PolicyType::Sts, PolicyType::NoPolicyFound}) {
    EXPECT_EQ(parse_policy_type(to_string(t)), t);
  }
}

// RPT-7: the names are exact (case-sensitive, no spaces).
TEST(TlsrptModel, PolicyTypeParseRejectsOtherSpellings) {
  for (const std::string_view s : {"", "STS", "Tlsa", "no_policy_found", "nopolicy", " sts", "sts ",
                                   "dane", "no-policy-found\n"}) {
    EXPECT_EQ(parse_policy_type(s), std::nullopt) << s;
  }
}

constexpr ResultType k_all_result_types[] = {
    ResultType::StarttlsNotSupported, ResultType::CertificateHostMismatch,
    ResultType::CertificateExpired,   ResultType::CertificateNotTrusted,
    ResultType::ValidationFailure,    ResultType::TlsaInvalid,
    ResultType::DnssecInvalid,        ResultType::DaneRequired,
    ResultType::StsPolicyFetchError,  ResultType::StsPolicyInvalid,
    ResultType::StsWebpkiInvalid,
};

// RPT-10: the eleven §4.3 names.
TEST(TlsrptModel, ResultTypeNames) {
  EXPECT_EQ(to_string(ResultType::StarttlsNotSupported), "starttls-not-supported");
  EXPECT_EQ(to_string(ResultType::CertificateHostMismatch), "certificate-host-mismatch");
  EXPECT_EQ(to_string(ResultType::CertificateExpired), "certificate-expired");
  EXPECT_EQ(to_string(ResultType::CertificateNotTrusted), "certificate-not-trusted");
  EXPECT_EQ(to_string(ResultType::ValidationFailure), "validation-failure");
  EXPECT_EQ(to_string(ResultType::TlsaInvalid), "tlsa-invalid");
  EXPECT_EQ(to_string(ResultType::DnssecInvalid), "dnssec-invalid");
  EXPECT_EQ(to_string(ResultType::DaneRequired), "dane-required");
  EXPECT_EQ(to_string(ResultType::StsPolicyFetchError), "sts-policy-fetch-error");
  EXPECT_EQ(to_string(ResultType::StsPolicyInvalid), "sts-policy-invalid");
  EXPECT_EQ(to_string(ResultType::StsWebpkiInvalid), "sts-webpki-invalid");
}

// RPT-10
TEST(TlsrptModel, ResultTypeNamesRoundTrip) {
  for (const auto t : k_all_result_types) EXPECT_EQ(parse_result_type(to_string(t)), t);
}

// RPT-10
TEST(TlsrptModel, ResultTypeParseRejectsOtherSpellings) {
  for (const std::string_view s : {"", "Certificate-Expired", "certificate_expired",
                                   "certificate-expired ", "expired", "success", "failure"}) {
    EXPECT_EQ(parse_result_type(s), std::nullopt) << s;
  }
}

// RPT-7: libtlsrpt's tlsrpt_policy_type_t.
TEST(TlsrptModel, PolicyTypeFromLibtlsrpt) {
  EXPECT_EQ(policy_type_from_libtlsrpt(1), PolicyType::Tlsa);
  EXPECT_EQ(policy_type_from_libtlsrpt(2), PolicyType::Sts);
  EXPECT_EQ(policy_type_from_libtlsrpt(9), PolicyType::NoPolicyFound);
  for (const long code : {-1L, 0L, 3L, 8L, 10L, 201L, 1000000L}) {
    EXPECT_EQ(policy_type_from_libtlsrpt(code), std::nullopt) << code;
  }
}

// RPT-10: libtlsrpt's tlsrpt_failure_t.
TEST(TlsrptModel, ResultTypeFromLibtlsrpt) {
  EXPECT_EQ(result_type_from_libtlsrpt(201), ResultType::StarttlsNotSupported);
  EXPECT_EQ(result_type_from_libtlsrpt(202), ResultType::CertificateHostMismatch);
  EXPECT_EQ(result_type_from_libtlsrpt(203), ResultType::CertificateNotTrusted);
  EXPECT_EQ(result_type_from_libtlsrpt(204), ResultType::CertificateExpired);
  EXPECT_EQ(result_type_from_libtlsrpt(205), ResultType::ValidationFailure);
  EXPECT_EQ(result_type_from_libtlsrpt(301), ResultType::StsPolicyFetchError);
  EXPECT_EQ(result_type_from_libtlsrpt(302), ResultType::StsPolicyInvalid);
  EXPECT_EQ(result_type_from_libtlsrpt(303), ResultType::StsWebpkiInvalid);
  EXPECT_EQ(result_type_from_libtlsrpt(304), ResultType::TlsaInvalid);
  EXPECT_EQ(result_type_from_libtlsrpt(305), ResultType::DnssecInvalid);
  EXPECT_EQ(result_type_from_libtlsrpt(306), ResultType::DaneRequired);
  for (const long code : {-201L, 0L, 1L, 2L, 9L, 200L, 206L, 300L, 307L, 999L}) {
    EXPECT_EQ(result_type_from_libtlsrpt(code), std::nullopt) << code;
  }
}

// No RFC ID: the origin is for logs and stats, never in a report (RPT-9 has no such field).
TEST(TlsrptModel, OriginNames) {
  EXPECT_EQ(to_string(Origin::Datagram), "datagram");
  EXPECT_EQ(to_string(Origin::JsonOp), "json");
  EXPECT_EQ(to_string(Origin::Engine), "engine");
}

// RPT-8: a report covers one UTC day, 00:00 to 24:00.
TEST(TlsrptModel, DayOfIsTheUtcDay) {
  const Day day = std::chrono::sys_days{std::chrono::year{2026} / 11 / 24};
  const util::TimePoint midnight{day};
  EXPECT_EQ(day_of(midnight), day);
  EXPECT_EQ(day_of(midnight + 23h + 59min + 59s), day);
  EXPECT_EQ(day_of(midnight + 24h), day + std::chrono::days{1});
  EXPECT_EQ(day_of(midnight - 1s), day - std::chrono::days{1});
  // Before the epoch too: floor, not truncation towards zero.
  EXPECT_EQ(format_day(day_of(util::TimePoint{-1s})), "1969-12-31");
  EXPECT_EQ(format_day(day_of(util::TimePoint{0s})), "1970-01-01");
}

// RPT-8
TEST(TlsrptModel, FormatDay) {
  using std::chrono::year;
  EXPECT_EQ(format_day(std::chrono::sys_days{year{2026} / 11 / 24}), "2026-11-24");
  EXPECT_EQ(format_day(std::chrono::sys_days{year{2024} / 2 / 29}), "2024-02-29");
  EXPECT_EQ(format_day(std::chrono::sys_days{year{999} / 1 / 1}), "0999-01-01");
  EXPECT_EQ(format_day(std::chrono::sys_days{year{9999} / 12 / 31}), "9999-12-31");
}

// RPT-8
TEST(TlsrptModel, ParseDayRoundTrips) {
  for (const std::string_view s :
       {"2026-11-24", "2024-02-29", "2000-02-29", "1970-01-01", "0001-01-01", "9999-12-31"}) {
    const auto d = parse_day(s);
    ASSERT_TRUE(d) << s << ": " << d.error().detail;
    EXPECT_EQ(format_day(*d), s);
  }
  EXPECT_EQ(*parse_day("2026-11-24"), (std::chrono::sys_days{std::chrono::year{2026} / 11 / 24}));
}

// RPT-8: strict: exactly "YYYY-MM-DD", a real calendar date.
TEST(TlsrptModel, ParseDayRejects) {
  for (const std::string_view s : {
           "",
           "2026-11-2",
           "2026-11-245",
           "2026-1-24",
           "26-11-24",
           "2026/11/24",
           "2026-11-24 ",
           " 2026-11-24",
           "2026-11-24T00:00:00Z",
           "2026-13-01",
           "2026-00-10",
           "2026-11-00",
           "2026-11-31",
           "2025-02-29",
           "1900-02-29",
           "2026-02-30",
           "+026-11-24",
           "-026-11-24",
           "2026-+1-24",
           "2026-11-+4",
           "２０２６-11-24",
           "abcd-ef-gh",
       }) {
    const auto d = parse_day(s);
    ASSERT_FALSE(d) << s;
    EXPECT_EQ(d.error().code, Errc::InvalidArgument) << s;
    EXPECT_EQ(d.error().retry, Retry::Permanent) << s;
    EXPECT_FALSE(d.error().detail.empty()) << s;
  }
  constexpr std::string_view k_nul{"2026-11\0-24", 11};
  EXPECT_FALSE(parse_day(k_nul));
  constexpr std::string_view k_nul10{"2026-11-2\0", 10};
  EXPECT_FALSE(parse_day(k_nul10));
}

}  // namespace
}  // namespace tlspolicy::tlsrpt
