// SPDX-License-Identifier: Apache-2.0
//
// The contract of cache::ReportStore (include/tlspolicy/cache/report_store.hpp)
// as value-parameterised tests over a store factory, so that every
// implementation passes the same cases: the SQLite store
// (tests/unit/cache/report_store_test.cpp) and the fleet's PostgreSQL store
// (tests/integration/gtest/pg_report_store_test.cpp). How results are counted
// (RFC 8460 §4.4: policy keys, summed counts, failure details), the UTC day a
// batch counts on (RPT-8), the queries (days, aggregate) and their order, the
// report rows and their delivery state (RPT-17: made once per day and domain,
// sent once), claims on reports (RPT-4: delivered by one sender), and
// purging. Every expected value comes from the inputs, never from the store.
//
// Use: include this header in one test file of a binary, then
//   INSTANTIATE_TEST_SUITE_P(Name, ReportStoreContract,
//                            ::testing::Values(contract::StoreFactory{...}),
//                            contract::factory_name);
// The builders (batch, sts_policy, report, ...) serve the store-specific tests too.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "tlspolicy/cache/report_store.hpp"
#include "tlspolicy/tlsrpt/model.hpp"

namespace tlspolicy::tlsrpt {
// Readable "got X, want Y" output for the aggregated values (gtest finds
// these by argument-dependent lookup).
inline void PrintTo(const CountedDetail& d, std::ostream* os) {
  *os << "{" << to_string(d.detail.result_type) << " mta=" << d.detail.sending_mta_ip
      << " mx=" << d.detail.receiving_mx_hostname << " helo=" << d.detail.receiving_mx_helo
      << " ip=" << d.detail.receiving_ip << " info=" << d.detail.additional_information
      << " code=" << d.detail.failure_reason_code << " x" << d.count << "}";
}
inline void PrintTo(const AggregatedPolicy& p, std::ostream* os) {
  *os << "{" << to_string(p.policy.type) << " " << p.policy.policy_domain << " strings=[";
  for (const auto& s : p.policy.policy_strings) *os << "'" << s << "' ";
  *os << "] mx=[";
  for (const auto& s : p.policy.mx_hosts) *os << "'" << s << "' ";
  *os << "] ok=" << p.successes << " failed=" << p.failures << " details=";
  for (const auto& d : p.details) PrintTo(d, os);
  *os << "}";
}
}  // namespace tlspolicy::tlsrpt

namespace tlspolicy::cache {

inline void PrintTo(const ReportDaySummary& s, std::ostream* os) {
  *os << "{" << tlsrpt::format_day(s.day) << " " << s.domain << " ok=" << s.successes
      << " failed=" << s.failures << "}";
}
inline void PrintTo(const ReportRow& r, std::ostream* os) {
  *os << "{" << r.report_id << " " << tlsrpt::format_day(r.day) << " " << r.domain << " "
      << to_string(r.state) << " attempts=" << r.attempts
      << " next=" << r.next_attempt_at.time_since_epoch().count() << " error='" << r.last_error
      << "' sent_at=" << (r.sent_at ? std::to_string(r.sent_at->time_since_epoch().count()) : "-")
      << " sent_to='" << r.sent_to << "'}";
}

namespace contract {

using tlsrpt::AggregatedPolicy;
using tlsrpt::CountedDetail;
using tlsrpt::Day;
using tlsrpt::FailureDetail;
using tlsrpt::PolicyResult;
using tlsrpt::PolicyType;
using tlsrpt::ResultBatch;
using tlsrpt::ResultType;

// ---- builders ----------------------------------------------------------------

inline Day day(int y, unsigned m, unsigned d) {
  return Day{std::chrono::year{y} / std::chrono::month{m} / std::chrono::day{d}};
}

/// `seconds` after 00:00:00 UTC of `d`.
inline util::TimePoint at(Day d, std::int64_t seconds = 12 * 3600) {
  return util::TimePoint{d} + std::chrono::seconds{seconds};
}

inline const Day k_day = day(2026, 11, 24);
inline const Day k_next_day = day(2026, 11, 25);
inline const Day k_prev_day = day(2026, 11, 23);

inline PolicyResult sts_policy(
    std::uint64_t successes, std::uint64_t failures, std::vector<FailureDetail> details = {},
    std::string policy_domain = "example.com",
    std::vector<std::string> strings = {"version: STSv1", "mode: enforce", "mx: mx1.example.com",
                                        "max_age: 604800"},
    std::vector<std::string> mx = {"mx1.example.com"}) {
  PolicyResult p;
  p.policy.type = PolicyType::Sts;
  p.policy.policy_domain = std::move(policy_domain);
  p.policy.policy_strings = std::move(strings);
  p.policy.mx_hosts = std::move(mx);
  p.successes = successes;
  p.failures = failures;
  p.details = std::move(details);
  return p;
}

inline PolicyResult tlsa_policy(std::uint64_t successes, std::uint64_t failures,
                                std::string policy_domain = "mx1.example.com",
                                std::vector<std::string> strings = {"3 1 1 ABCDEF0123"}) {
  PolicyResult p;
  p.policy.type = PolicyType::Tlsa;
  p.policy.policy_domain = std::move(policy_domain);
  p.policy.policy_strings = std::move(strings);
  p.successes = successes;
  p.failures = failures;
  return p;
}

inline PolicyResult no_policy(std::uint64_t successes, std::string policy_domain = "example.com") {
  PolicyResult p;
  p.policy.type = PolicyType::NoPolicyFound;
  p.policy.policy_domain = std::move(policy_domain);
  p.successes = successes;
  return p;
}

inline FailureDetail detail(ResultType type, std::string receiving_ip = "192.0.2.25",
                            std::string reason = "") {
  FailureDetail d;
  d.result_type = type;
  d.sending_mta_ip = "198.51.100.7";
  d.receiving_mx_hostname = "mx1.example.com";
  d.receiving_ip = std::move(receiving_ip);
  d.failure_reason_code = std::move(reason);
  return d;
}

/// `d` with one field set to `value`.
template <class T>
inline FailureDetail with(FailureDetail d, T FailureDetail::*field, std::type_identity_t<T> value) {
  d.*field = std::move(value);
  return d;
}

inline ResultBatch batch(util::TimePoint when, std::vector<PolicyResult> policies,
                         std::string domain = "example.com") {
  ResultBatch b;
  b.domain = std::move(domain);
  b.at = when;
  b.origin = tlsrpt::Origin::Datagram;
  b.policies = std::move(policies);
  return b;
}

/// The aggregated form of `p` with `details` counted as given.
inline AggregatedPolicy aggregated(const PolicyResult& p, std::vector<CountedDetail> details = {}) {
  return AggregatedPolicy{p.policy, p.successes, p.failures, std::move(details)};
}

inline ReportRow report(std::string id, Day d, std::string domain = "example.com",
                        std::int64_t next_attempt = 0) {
  ReportRow r;
  r.report_id = std::move(id);
  r.day = d;
  r.domain = std::move(domain);
  r.state = ReportState::Pending;
  r.created_at = at(d + std::chrono::days{1}, 60);
  r.next_attempt_at =
      next_attempt != 0 ? util::TimePoint{std::chrono::seconds{next_attempt}} : r.created_at;
  r.give_up_at = r.next_attempt_at + std::chrono::hours{24};  // RPT-17
  return r;
}

inline std::vector<AggregatedPolicy> aggregate_or_fail(const ReportStore& store, Day d,
                                                       const std::string& domain = "example.com") {
  auto got = store.aggregate(d, domain);
  if (!got) {
    ADD_FAILURE() << "aggregate: " << got.error().detail;
    return {};
  }
  return std::move(*got);
}

/// Whether `node` got the claim on `report_id` for `lease` (false, after a test failure, when
/// the store failed).
inline bool claimed(ReportStore& store, const std::string& report_id, std::string_view node,
                    std::chrono::seconds lease = std::chrono::hours{1}) {
  auto got = store.claim_report(report_id, node, lease);
  if (!got) {
    ADD_FAILURE() << "claim_report(" << report_id << ", " << node << "): " << got.error().detail;
    return false;
  }
  return *got;
}

// ---- the fixture -----------------------------------------------------------------

/// One implementation under test: `open` gives a new, empty store (null after a test
/// failure); `unavailable`, when set, gives a reason to skip ("" when the store can run).
struct StoreFactory {
  std::string name;
  std::function<std::unique_ptr<ReportStore>()> open;
  std::function<std::string()> unavailable;
};

inline void PrintTo(const StoreFactory& f, std::ostream* os) { *os << f.name; }

/// The test-name suffix of a factory (INSTANTIATE_TEST_SUITE_P's fourth argument).
inline std::string factory_name(const ::testing::TestParamInfo<StoreFactory>& info) {
  return info.param.name;
}

}  // namespace contract

class ReportStoreContract : public ::testing::TestWithParam<contract::StoreFactory> {
 protected:
  void SetUp() override {
    if (GetParam().unavailable) {
      if (const std::string why = GetParam().unavailable(); !why.empty()) GTEST_SKIP() << why;
    }
    store = GetParam().open();
    ASSERT_NE(store, nullptr) << "no " << GetParam().name << " store";
  }

  std::unique_ptr<ReportStore> store;
};

namespace contract {

// ---- counting ------------------------------------------------------------------

TEST_P(ReportStoreContract, AggregateOfNothingIsEmpty) {
  EXPECT_TRUE(aggregate_or_fail(*store, k_day).empty());
  auto days = store->days({});
  ASSERT_TRUE(days) << days.error().detail;
  EXPECT_TRUE(days->empty());
}

TEST_P(ReportStoreContract, SamePolicyKeyTwiceIsSummed) {
  ASSERT_TRUE(store->add(batch(at(k_day, 100), {sts_policy(3, 1)})));
  ASSERT_TRUE(store->add(batch(at(k_day, 200), {sts_policy(4, 2)})));
  const auto got = aggregate_or_fail(*store, k_day);
  ASSERT_EQ(got.size(), 1U) << "same key must be one policy";
  EXPECT_EQ(got[0], aggregated(sts_policy(7, 3)));
}

TEST_P(ReportStoreContract, SamePolicyKeyTwiceInOneBatchIsSummed) {
  ASSERT_TRUE(store->add(batch(at(k_day), {sts_policy(1, 0), sts_policy(2, 5)})));
  const auto got = aggregate_or_fail(*store, k_day);
  ASSERT_EQ(got.size(), 1U);
  EXPECT_EQ(got[0], aggregated(sts_policy(3, 5)));
}

TEST_P(ReportStoreContract, DifferentPolicyStringsAreDifferentPolicies) {
  const auto a = sts_policy(1, 0, {}, "example.com", {"version: STSv1", "mode: enforce"});
  const auto b = sts_policy(2, 0, {}, "example.com", {"version: STSv1", "mode: testing"});
  ASSERT_TRUE(store->add(batch(at(k_day), {a})));
  ASSERT_TRUE(store->add(batch(at(k_day), {b})));
  EXPECT_EQ(aggregate_or_fail(*store, k_day),
            (std::vector<AggregatedPolicy>{aggregated(a), aggregated(b)}));
}

TEST_P(ReportStoreContract, OrderOfPolicyStringsAndMxHostsMatters) {
  const auto a = sts_policy(1, 0, {}, "example.com", {"mx: a.example.com", "mx: b.example.com"},
                            {"a.example.com", "b.example.com"});
  const auto b = sts_policy(2, 0, {}, "example.com", {"mx: b.example.com", "mx: a.example.com"},
                            {"a.example.com", "b.example.com"});
  const auto c = sts_policy(4, 0, {}, "example.com", {"mx: a.example.com", "mx: b.example.com"},
                            {"b.example.com", "a.example.com"});
  ASSERT_TRUE(store->add(batch(at(k_day), {a, b, c})));
  EXPECT_EQ(aggregate_or_fail(*store, k_day),
            (std::vector<AggregatedPolicy>{aggregated(a), aggregated(b), aggregated(c)}));
}

TEST_P(ReportStoreContract, PolicyTypeAndPolicyDomainArePartOfTheKey) {
  // Same (empty) strings and mx hosts, differing only in type or policy domain.
  PolicyResult sts = no_policy(1);
  sts.policy.type = PolicyType::Sts;
  const PolicyResult none = no_policy(2);
  const PolicyResult other_domain = no_policy(4, "example.net");
  ASSERT_TRUE(store->add(batch(at(k_day), {sts, none, other_domain})));
  const auto got = aggregate_or_fail(*store, k_day);
  EXPECT_EQ(got, (std::vector<AggregatedPolicy>{aggregated(sts), aggregated(none),
                                                aggregated(other_domain)}));
}

// The lists are stored in an encoding of the store's own; whatever bytes they
// hold must come back exactly, and lists that differ must stay different.
TEST_P(ReportStoreContract, PolicyStringListsRoundTripExactly) {
  const std::vector<std::vector<std::string>> lists{
      {},
      {""},
      {"", ""},
      {"a,b"},
      {"a", "b"},
      {"quote \" backslash \\ slash /", "[brackets]", "{\"json\": 1}"},
      {"new\nline", "cr\rtab\t", std::string{"nul\0byte", 8}, "\x01\x1f\x7f"},
      {"caf\xc3\xa9", "\xff\xfe not utf-8"},
      {"\\n", "\\u0000"},
  };
  std::vector<PolicyResult> policies;
  std::uint64_t n = 1;
  for (const auto& list : lists) {
    policies.push_back(sts_policy(n++, 0, {}, "example.com", list, list));
  }
  ASSERT_TRUE(store->add(batch(at(k_day), policies)));
  ASSERT_TRUE(store->add(batch(at(k_day), policies)));  // each finds its own row again
  const auto got = aggregate_or_fail(*store, k_day);
  ASSERT_EQ(got.size(), lists.size()) << "distinct lists were merged";
  for (std::size_t i = 0; i < lists.size(); ++i) {
    EXPECT_EQ(got[i].policy.policy_strings, lists[i]) << "list " << i;
    EXPECT_EQ(got[i].policy.mx_hosts, lists[i]) << "list " << i;
    EXPECT_EQ(got[i].successes, 2 * (i + 1)) << "list " << i;
  }
}

TEST_P(ReportStoreContract, EqualDetailsAreCountedTogether) {
  const auto d = detail(ResultType::CertificateExpired);
  // Equal details within one batch count twice; a later batch adds to them.
  ASSERT_TRUE(store->add(batch(at(k_day), {sts_policy(0, 2, {d, d})})));
  ASSERT_TRUE(store->add(batch(at(k_day), {sts_policy(0, 1, {d})})));
  const auto got = aggregate_or_fail(*store, k_day);
  ASSERT_EQ(got.size(), 1U);
  EXPECT_EQ(got[0], aggregated(sts_policy(0, 3), {CountedDetail{d, 3}}));
}

TEST_P(ReportStoreContract, DifferentDetailsAreCountedSeparately) {
  const auto base = detail(ResultType::ValidationFailure, "192.0.2.25", "X509_V_ERR_1");
  // Each differs from `base` in one field; "" (absent) differs from present.
  const std::vector<FailureDetail> variants{
      base,
      with(base, &FailureDetail::result_type, ResultType::CertificateNotTrusted),
      with(base, &FailureDetail::sending_mta_ip, ""),
      with(base, &FailureDetail::receiving_mx_hostname, "mx2.example.com"),
      with(base, &FailureDetail::receiving_mx_helo, "mx1"),
      with(base, &FailureDetail::receiving_ip, "2001:db8::25"),
      with(base, &FailureDetail::additional_information, "https://example.com/why"),
      with(base, &FailureDetail::failure_reason_code, ""),
  };
  ASSERT_TRUE(store->add(batch(at(k_day), {sts_policy(0, variants.size(), variants)})));
  const auto got = aggregate_or_fail(*store, k_day);
  ASSERT_EQ(got.size(), 1U);
  ASSERT_EQ(got[0].details.size(), variants.size()) << "details were merged";
  for (const auto& d : got[0].details) EXPECT_EQ(d.count, 1U);
  for (const auto& v : variants) {
    EXPECT_NE(std::find(got[0].details.begin(), got[0].details.end(), CountedDetail{v, 1}),
              got[0].details.end())
        << "missing detail " << ::testing::PrintToString(CountedDetail{v, 1});
  }
}

TEST_P(ReportStoreContract, EmptyOptionalFieldsRoundTrip) {
  FailureDetail bare;
  bare.result_type = ResultType::StsPolicyFetchError;  // no address fields at all
  ASSERT_TRUE(store->add(batch(at(k_day), {sts_policy(0, 1, {bare, bare})})));
  const auto got = aggregate_or_fail(*store, k_day);
  ASSERT_EQ(got.size(), 1U);
  EXPECT_EQ(got[0].details, (std::vector<CountedDetail>{{bare, 2}}));
}

TEST_P(ReportStoreContract, DetailsAreOrderedByResultTypeThenFields) {
  const auto expired_b = detail(ResultType::CertificateExpired, "192.0.2.2");
  const auto expired_a = detail(ResultType::CertificateExpired, "192.0.2.1");
  const auto starttls = detail(ResultType::StarttlsNotSupported);
  const auto webpki = detail(ResultType::StsWebpkiInvalid);
  ASSERT_TRUE(
      store->add(batch(at(k_day), {sts_policy(0, 4, {webpki, expired_b, starttls, expired_a})})));
  const auto got = aggregate_or_fail(*store, k_day);
  ASSERT_EQ(got.size(), 1U);
  // ResultType order (RFC 8460 §4.3's), not the text order of the names.
  EXPECT_EQ(got[0].details, (std::vector<CountedDetail>{
                                {starttls, 1}, {expired_a, 1}, {expired_b, 1}, {webpki, 1}}));
}

TEST_P(ReportStoreContract, DetailsBelongToTheirPolicy) {
  const auto d = detail(ResultType::DaneRequired);
  auto tlsa = tlsa_policy(0, 1);
  tlsa.details = {d};
  ASSERT_TRUE(store->add(batch(at(k_day), {sts_policy(0, 1, {d}), tlsa})));
  const auto got = aggregate_or_fail(*store, k_day);
  ASSERT_EQ(got.size(), 2U);
  EXPECT_EQ(got[0], aggregated(tlsa_policy(0, 1), {{d, 1}}));
  EXPECT_EQ(got[1], aggregated(sts_policy(0, 1), {{d, 1}}));
}

// RPT-8: a report covers one UTC day, 00:00-24:00.
TEST_P(ReportStoreContract, BatchesCountOnTheirUtcDay) {
  ASSERT_TRUE(store->add(batch(at(k_day, 86'399), {sts_policy(1, 0)})));  // 23:59:59
  ASSERT_TRUE(store->add(batch(at(k_next_day, 0), {sts_policy(2, 0)})));  // 00:00:00
  EXPECT_EQ(aggregate_or_fail(*store, k_day), (std::vector{aggregated(sts_policy(1, 0))}));
  EXPECT_EQ(aggregate_or_fail(*store, k_next_day), (std::vector{aggregated(sts_policy(2, 0))}));
  auto days = store->days({});
  ASSERT_TRUE(days) << days.error().detail;
  EXPECT_EQ(*days, (std::vector<ReportDaySummary>{{k_day, "example.com", 1, 0},
                                                  {k_next_day, "example.com", 2, 0}}));
}

// RPT-9: counts are integers, kept exactly, and never wrap around.
TEST_P(ReportStoreContract, LargeCountsAreExactAndSaturate) {
  constexpr std::uint64_t k_max = std::numeric_limits<std::int64_t>::max();
  ASSERT_TRUE(store->add(batch(at(k_day), {sts_policy(k_max - 1, (1ULL << 53) + 1)})));
  auto got = aggregate_or_fail(*store, k_day);
  ASSERT_EQ(got.size(), 1U);
  EXPECT_EQ(got[0].successes, k_max - 1);
  EXPECT_EQ(got[0].failures, (1ULL << 53) + 1) << "2^53+1 must not go through a double";
  ASSERT_TRUE(store->add(batch(at(k_day), {sts_policy(5, 0)})));
  got = aggregate_or_fail(*store, k_day);
  ASSERT_EQ(got.size(), 1U);
  EXPECT_EQ(got[0].successes, k_max) << "saturates at 2^63-1";
  // Day totals add up beyond 2^63 and saturate at 2^64-1.
  ASSERT_TRUE(store->add(batch(at(k_day), {tlsa_policy(k_max, 0)})));
  auto days = store->days({});
  ASSERT_TRUE(days) << days.error().detail;
  ASSERT_EQ(days->size(), 1U);
  EXPECT_EQ((*days)[0].successes, 2 * k_max);
  ASSERT_TRUE(store->add(batch(at(k_day), {no_policy(k_max)})));
  days = store->days({});
  ASSERT_TRUE(days) << days.error().detail;
  ASSERT_EQ(days->size(), 1U);
  EXPECT_EQ((*days)[0].successes, std::numeric_limits<std::uint64_t>::max());
}

TEST_P(ReportStoreContract, AddRejectsInvalidBatches) {
  auto empty_domain = store->add(batch(at(k_day), {sts_policy(1, 0)}, ""));
  ASSERT_FALSE(empty_domain);
  EXPECT_EQ(empty_domain.error().code, Errc::InvalidArgument);
  auto too_big = store->add(batch(at(k_day), {sts_policy(1ULL << 63, 0)}));
  ASSERT_FALSE(too_big);
  EXPECT_EQ(too_big.error().code, Errc::InvalidArgument);
  auto far_future = store->add(batch(at(day(10000, 1, 1)), {sts_policy(1, 0)}));
  ASSERT_FALSE(far_future);
  EXPECT_EQ(far_future.error().code, Errc::InvalidArgument);
  EXPECT_TRUE(aggregate_or_fail(*store, k_day).empty()) << "a rejected batch was counted";
  // A batch without policies adds nothing and is no error.
  EXPECT_TRUE(store->add(batch(at(k_day), {})));
}

TEST_P(ReportStoreContract, DaysFiltersByDayAndDomainWithTotals) {
  ASSERT_TRUE(store->add(batch(at(k_day), {sts_policy(1, 2), tlsa_policy(10, 20)})));
  ASSERT_TRUE(store->add(batch(at(k_day), {no_policy(5, "example.net")}, "example.net")));
  ASSERT_TRUE(store->add(batch(at(k_prev_day), {sts_policy(100, 0)})));
  ASSERT_TRUE(store->add(batch(at(k_next_day), {sts_policy(0, 7)}, "example.net")));

  auto all = store->days({});
  ASSERT_TRUE(all) << all.error().detail;
  EXPECT_EQ(*all, (std::vector<ReportDaySummary>{
                      {k_prev_day, "example.com", 100, 0},
                      {k_day, "example.com", 11, 22},
                      {k_day, "example.net", 5, 0},
                      {k_next_day, "example.net", 0, 7},
                  }));
  auto by_day = store->days({k_day, std::nullopt});
  ASSERT_TRUE(by_day) << by_day.error().detail;
  EXPECT_EQ(*by_day, (std::vector<ReportDaySummary>{{k_day, "example.com", 11, 22},
                                                    {k_day, "example.net", 5, 0}}));
  auto by_domain = store->days({std::nullopt, "example.net"});
  ASSERT_TRUE(by_domain) << by_domain.error().detail;
  EXPECT_EQ(*by_domain, (std::vector<ReportDaySummary>{{k_day, "example.net", 5, 0},
                                                       {k_next_day, "example.net", 0, 7}}));
  auto both = store->days({k_prev_day, "example.com"});
  ASSERT_TRUE(both) << both.error().detail;
  EXPECT_EQ(*both, (std::vector<ReportDaySummary>{{k_prev_day, "example.com", 100, 0}}));
  auto none = store->days({k_prev_day, "example.net"});
  ASSERT_TRUE(none) << none.error().detail;
  EXPECT_TRUE(none->empty());
}

TEST_P(ReportStoreContract, AggregateIsOrderedByTypePolicyDomainThenInsertion) {
  const auto none = no_policy(1, "a.example");
  const auto sts_z = sts_policy(2, 0, {}, "z.example");
  const auto sts_a_second = sts_policy(3, 0, {}, "a.example", {"second"});
  const auto tlsa_m = tlsa_policy(4, 0, "m.example");
  const auto sts_a_first = sts_policy(5, 0, {}, "a.example", {"first"});
  const auto tlsa_b = tlsa_policy(6, 0, "b.example");
  ASSERT_TRUE(store->add(batch(at(k_day), {none, sts_z})));
  ASSERT_TRUE(store->add(batch(at(k_day), {sts_a_second, tlsa_m})));
  ASSERT_TRUE(store->add(batch(at(k_day), {sts_a_first, tlsa_b})));
  // Counting an existing policy again does not move it.
  ASSERT_TRUE(store->add(batch(at(k_day), {sts_policy(0, 0, {}, "a.example", {"second"})})));
  // The type order is PolicyType's: tlsa, sts, no-policy-found.
  EXPECT_EQ(aggregate_or_fail(*store, k_day),
            (std::vector<AggregatedPolicy>{aggregated(tlsa_b), aggregated(tlsa_m),
                                           aggregated(sts_a_second), aggregated(sts_a_first),
                                           aggregated(sts_z), aggregated(none)}));
}

TEST_P(ReportStoreContract, AggregateKeepsDaysAndDomainsApart) {
  ASSERT_TRUE(store->add(batch(at(k_day), {sts_policy(1, 0)})));
  ASSERT_TRUE(store->add(batch(at(k_day), {sts_policy(2, 0)}, "example.net")));
  ASSERT_TRUE(store->add(batch(at(k_next_day), {sts_policy(4, 0)})));
  EXPECT_EQ(aggregate_or_fail(*store, k_day), (std::vector{aggregated(sts_policy(1, 0))}));
  EXPECT_EQ(aggregate_or_fail(*store, k_day, "example.net"),
            (std::vector{aggregated(sts_policy(2, 0))}));
  EXPECT_TRUE(aggregate_or_fail(*store, k_prev_day).empty());
  EXPECT_TRUE(aggregate_or_fail(*store, k_day, "example.org").empty());
}

// ---- reports ---------------------------------------------------------------------

// RPT-17: one report per (day, domain), so each day's results are sent once.
TEST_P(ReportStoreContract, CreateReportIsIdempotent) {
  const auto first = report("<a@reporter.example>", k_day);
  auto created = store->create_report(first);
  ASSERT_TRUE(created) << created.error().detail;
  EXPECT_EQ(*created, first);

  ReportRow second = report("<b@reporter.example>", k_day);
  second.state = ReportState::Skipped;
  second.attempts = 3;
  auto again = store->create_report(second);
  ASSERT_TRUE(again) << again.error().detail;
  EXPECT_EQ(*again, first) << "a second create must return the first row unchanged";

  auto all = store->reports({});
  ASSERT_TRUE(all) << all.error().detail;
  EXPECT_EQ(*all, std::vector{first});
}

TEST_P(ReportStoreContract, CreateReportRejectsInvalidRows) {
  ASSERT_TRUE(store->create_report(report("<a@reporter.example>", k_day)));
  auto reused = store->create_report(report("<a@reporter.example>", k_next_day));
  ASSERT_FALSE(reused) << "one report id for two days";
  EXPECT_EQ(reused.error().code, Errc::InvalidArgument);
  auto no_id = store->create_report(report("", k_next_day));
  ASSERT_FALSE(no_id);
  EXPECT_EQ(no_id.error().code, Errc::InvalidArgument);
  auto no_domain = store->create_report(report("<b@reporter.example>", k_next_day, ""));
  ASSERT_FALSE(no_domain);
  EXPECT_EQ(no_domain.error().code, Errc::InvalidArgument);
  auto all = store->reports({});
  ASSERT_TRUE(all) << all.error().detail;
  EXPECT_EQ(all->size(), 1U);
}

TEST_P(ReportStoreContract, UpdateReportRoundTrip) {
  ReportRow row = report("<a@reporter.example>", k_day);
  ASSERT_TRUE(store->create_report(row));

  // A failed attempt, then success.
  row.attempts = 1;
  row.last_error = "https://reports.example.com/: status 503";
  row.next_attempt_at += std::chrono::minutes{10};
  ASSERT_TRUE(store->update_report(row));
  auto got = store->reports({k_day, "example.com"});
  ASSERT_TRUE(got) << got.error().detail;
  EXPECT_EQ(*got, std::vector{row});

  row.state = ReportState::Sent;
  row.attempts = 2;
  row.last_error = "";
  row.sent_at = row.next_attempt_at + std::chrono::seconds{3};
  row.sent_to = "mailto:tlsrpt@example.com";
  ASSERT_TRUE(store->update_report(row));
  got = store->reports({k_day, "example.com"});
  ASSERT_TRUE(got) << got.error().detail;
  EXPECT_EQ(*got, std::vector{row});

  // sent_at can be cleared again (NULL, not 0).
  row.state = ReportState::Failed;
  row.sent_at.reset();
  row.sent_to = "";
  ASSERT_TRUE(store->update_report(row));
  got = store->reports({k_day, "example.com"});
  ASSERT_TRUE(got) << got.error().detail;
  EXPECT_EQ(*got, std::vector{row});
}

TEST_P(ReportStoreContract, UpdateReportKeepsTheIdentityFields) {
  const ReportRow stored = report("<a@reporter.example>", k_day);
  ASSERT_TRUE(store->create_report(stored));
  ReportRow changed = stored;
  changed.day = k_next_day;
  changed.domain = "example.net";
  changed.created_at += std::chrono::hours{1};
  changed.give_up_at += std::chrono::hours{1};
  changed.attempts = 4;
  ASSERT_TRUE(store->update_report(changed));
  auto got = store->reports({});
  ASSERT_TRUE(got) << got.error().detail;
  ReportRow want = stored;
  want.attempts = 4;
  EXPECT_EQ(*got, std::vector{want});
}

TEST_P(ReportStoreContract, UpdateOfUnknownReportIsInvalidArgument) {
  auto r = store->update_report(report("<nobody@reporter.example>", k_day));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::InvalidArgument);
  EXPECT_NE(r.error().detail.find("<nobody@reporter.example>"), std::string::npos)
      << r.error().detail;
}

TEST_P(ReportStoreContract, ReportsFilterAndOrder) {
  const auto net_day = report("<1@r.example>", k_day, "example.net");
  const auto com_next = report("<2@r.example>", k_next_day, "example.com");
  const auto com_day = report("<3@r.example>", k_day, "example.com");
  for (const auto& r : {net_day, com_next, com_day}) ASSERT_TRUE(store->create_report(r));
  auto all = store->reports({});
  ASSERT_TRUE(all) << all.error().detail;
  EXPECT_EQ(*all, (std::vector{com_day, net_day, com_next}));
  auto by_day = store->reports({k_day, std::nullopt});
  ASSERT_TRUE(by_day) << by_day.error().detail;
  EXPECT_EQ(*by_day, (std::vector{com_day, net_day}));
  auto by_domain = store->reports({std::nullopt, "example.com"});
  ASSERT_TRUE(by_domain) << by_domain.error().detail;
  EXPECT_EQ(*by_domain, (std::vector{com_day, com_next}));
}

TEST_P(ReportStoreContract, DueReportsAreOnlyPendingAndDueInOrder) {
  const auto late = report("<1@r.example>", k_prev_day, "a.example", 3000);
  const auto early = report("<2@r.example>", k_day, "b.example", 1000);
  const auto now_due = report("<3@r.example>", k_day, "c.example", 2000);
  const auto future = report("<4@r.example>", k_day, "d.example", 2001);
  auto sent = report("<5@r.example>", k_day, "e.example", 500);
  auto failed = report("<6@r.example>", k_day, "f.example", 500);
  auto skipped = report("<7@r.example>", k_day, "g.example", 500);
  for (const auto& r : {late, early, now_due, future, sent, failed, skipped}) {
    ASSERT_TRUE(store->create_report(r));
  }
  sent.state = ReportState::Sent;
  sent.sent_at = at(k_day);
  sent.sent_to = "mailto:tlsrpt@e.example";
  failed.state = ReportState::Failed;
  skipped.state = ReportState::Skipped;
  for (const auto& r : {sent, failed, skipped}) ASSERT_TRUE(store->update_report(r));

  const util::TimePoint now{std::chrono::seconds{2000}};
  auto due = store->due_reports(now);
  ASSERT_TRUE(due) << due.error().detail;
  EXPECT_EQ(*due, (std::vector{early, now_due})) << "next_attempt_at <= now, ordered";
  due = store->due_reports(now + std::chrono::hours{1});
  ASSERT_TRUE(due) << due.error().detail;
  EXPECT_EQ(*due, (std::vector{early, now_due, future, late}));
  due = store->due_reports(util::TimePoint{std::chrono::seconds{999}});
  ASSERT_TRUE(due) << due.error().detail;
  EXPECT_TRUE(due->empty());
}

// RPT-17 / RPT-4: once an endpoint accepted a report it is never due again,
// and new results for its day do not make it due either.
TEST_P(ReportStoreContract, ASentReportIsNeverDueAgain) {
  ASSERT_TRUE(store->add(batch(at(k_day), {sts_policy(1, 0)})));
  auto row = report("<a@reporter.example>", k_day);
  ASSERT_TRUE(store->create_report(row));
  row.state = ReportState::Sent;
  row.attempts = 1;
  row.sent_at = row.next_attempt_at;
  row.sent_to = "https://reports.example.com/tlsrpt";
  ASSERT_TRUE(store->update_report(row));
  // A late result for that day still counts, and is shown ...
  ASSERT_TRUE(store->add(batch(at(k_day, 86'000), {sts_policy(1, 0)})));
  EXPECT_EQ(aggregate_or_fail(*store, k_day), (std::vector{aggregated(sts_policy(2, 0))}));
  // ... but the day's report is not made or sent again.
  auto again = store->create_report(report("<b@reporter.example>", k_day));
  ASSERT_TRUE(again) << again.error().detail;
  EXPECT_EQ(*again, row);
  auto due = store->due_reports(row.next_attempt_at + std::chrono::days{30});
  ASSERT_TRUE(due) << due.error().detail;
  EXPECT_TRUE(due->empty());
}

// ---- purging ---------------------------------------------------------------------

TEST_P(ReportStoreContract, PurgeBeforeDeletesOlderDaysWithTheirDetailsAndReports) {
  const auto d = detail(ResultType::CertificateHostMismatch);
  ASSERT_TRUE(store->add(batch(at(k_prev_day), {sts_policy(1, 1, {d}), tlsa_policy(1, 0)})));
  ASSERT_TRUE(store->add(batch(at(k_prev_day), {sts_policy(1, 1, {d})}, "example.net")));
  ASSERT_TRUE(store->add(batch(at(k_day), {sts_policy(2, 1, {d})})));
  ASSERT_TRUE(store->create_report(report("<old@r.example>", k_prev_day)));
  ASSERT_TRUE(store->create_report(report("<old-skip@r.example>", k_prev_day, "example.org")));
  const auto kept = report("<new@r.example>", k_day);
  ASSERT_TRUE(store->create_report(kept));

  auto purged = store->purge_before(k_day);
  ASSERT_TRUE(purged) << purged.error().detail;
  EXPECT_EQ(*purged, 2U) << "two (day, domain) aggregates were before "
                         << tlsrpt::format_day(k_day);

  auto days = store->days({});
  ASSERT_TRUE(days) << days.error().detail;
  EXPECT_EQ(*days, (std::vector<ReportDaySummary>{{k_day, "example.com", 2, 1}}));
  EXPECT_EQ(aggregate_or_fail(*store, k_day),
            (std::vector{aggregated(sts_policy(2, 1), {{d, 1}})}));
  EXPECT_TRUE(aggregate_or_fail(*store, k_prev_day).empty());
  auto reports = store->reports({});
  ASSERT_TRUE(reports) << reports.error().detail;
  EXPECT_EQ(*reports, std::vector{kept});

  // The details went with their policies: counting the old day again starts from 1.
  ASSERT_TRUE(store->add(batch(at(k_prev_day), {sts_policy(1, 1, {d})})));
  EXPECT_EQ(aggregate_or_fail(*store, k_prev_day),
            (std::vector{aggregated(sts_policy(1, 1), {{d, 1}})}))
      << "failure details outlived their policy";

  auto nothing = store->purge_before(k_prev_day);
  ASSERT_TRUE(nothing) << nothing.error().detail;
  EXPECT_EQ(*nothing, 0U);
}

// ---- claims ----------------------------------------------------------------------

// RPT-4: one sender at a time delivers a report; the claim is the store's.
TEST_P(ReportStoreContract, ClaimIsGrantedOnceToOneNode) {
  const auto row = report("<a@reporter.example>", k_day);
  ASSERT_TRUE(store->create_report(row));
  EXPECT_TRUE(claimed(*store, row.report_id, "node-a")) << "an unclaimed pending report";
  EXPECT_FALSE(claimed(*store, row.report_id, "node-b")) << "node-a holds it";
  EXPECT_FALSE(claimed(*store, row.report_id, "node-c", std::chrono::seconds{0}));
  // The holder may claim again (a retry within its lease) and keeps it.
  EXPECT_TRUE(claimed(*store, row.report_id, "node-a"));
  EXPECT_FALSE(claimed(*store, row.report_id, "node-b"));
}

TEST_P(ReportStoreContract, ClaimDoesNotChangeTheReport) {
  const auto row = report("<a@reporter.example>", k_day);
  ASSERT_TRUE(store->create_report(row));
  ASSERT_TRUE(claimed(*store, row.report_id, "node-a"));
  auto got = store->reports({});
  ASSERT_TRUE(got) << got.error().detail;
  EXPECT_EQ(*got, std::vector{row});
  auto due = store->due_reports(row.next_attempt_at);
  ASSERT_TRUE(due) << due.error().detail;
  EXPECT_EQ(*due, std::vector{row}) << "a claimed report is still listed as due";
}

TEST_P(ReportStoreContract, AClaimWhoseLeaseRanOutGoesToTheNextNode) {
  const auto row = report("<a@reporter.example>", k_day);
  ASSERT_TRUE(store->create_report(row));
  // A lease of 0 has run out at once (negative is taken as 0).
  ASSERT_TRUE(claimed(*store, row.report_id, "node-a", std::chrono::seconds{0}));
  EXPECT_TRUE(claimed(*store, row.report_id, "node-b", std::chrono::seconds{-5}));
  EXPECT_TRUE(claimed(*store, row.report_id, "node-c")) << "node-b's lease was 0 too";
  EXPECT_FALSE(claimed(*store, row.report_id, "node-a"));
}

TEST_P(ReportStoreContract, UpdateReportEndsTheClaim) {
  auto row = report("<a@reporter.example>", k_day);
  ASSERT_TRUE(store->create_report(row));
  ASSERT_TRUE(claimed(*store, row.report_id, "node-a"));
  row.attempts = 1;  // a failed attempt: still pending, retried later
  row.last_error = "https://reports.example.com/: HTTP 503";
  ASSERT_TRUE(store->update_report(row));
  EXPECT_TRUE(claimed(*store, row.report_id, "node-b")) << "the claim outlived update_report";
}

TEST_P(ReportStoreContract, OnlyPendingReportsCanBeClaimed) {
  std::vector<ReportRow> rows;
  for (const ReportState state : {ReportState::Sent, ReportState::Failed, ReportState::Skipped}) {
    auto row = report("<" + std::string(to_string(state)) + "@reporter.example>", k_day,
                      std::string(to_string(state)) + ".example");
    ASSERT_TRUE(store->create_report(row));
    row.state = state;
    if (state == ReportState::Sent) {
      row.sent_at = row.next_attempt_at;
      row.sent_to = "mailto:tlsrpt@example.com";
    }
    ASSERT_TRUE(store->update_report(row));
    EXPECT_FALSE(claimed(*store, row.report_id, "node-a")) << to_string(state);
  }
  EXPECT_FALSE(claimed(*store, "<unknown@reporter.example>", "node-a"));
}

// A sent report stays sent: a claim made before the delivery cannot be granted after it.
TEST_P(ReportStoreContract, ASentReportCannotBeClaimedBackByItsSender) {
  auto row = report("<a@reporter.example>", k_day);
  ASSERT_TRUE(store->create_report(row));
  ASSERT_TRUE(claimed(*store, row.report_id, "node-a"));
  row.state = ReportState::Sent;
  row.attempts = 1;
  row.sent_at = row.next_attempt_at;
  row.sent_to = "https://reports.example.com/tlsrpt";
  ASSERT_TRUE(store->update_report(row));
  EXPECT_FALSE(claimed(*store, row.report_id, "node-a"));
}

}  // namespace contract
}  // namespace tlspolicy::cache
