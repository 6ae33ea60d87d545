// SPDX-License-Identifier: Apache-2.0
//
// TLSA usability (RFC 6698 §4.1, RFC 7672 §3.1.3; DANE-2, DANE-15) and
// digest algorithm agility (RFC 7671 §9; DANE-16), table-driven.
#include <cstddef>
#include <ostream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "tlspolicy/dane/dane.hpp"

#include "support/fakes.hpp"

namespace tlspolicy::dane {
namespace {

using testing::tlsa;

struct UsableCase {
  const char* name;
  int usage;
  int selector;
  int mtype;
  std::size_t length;
  bool want;
};

std::ostream& operator<<(std::ostream& os, const UsableCase& c) { return os << c.name; }

class TlsaUsable : public ::testing::TestWithParam<UsableCase> {};

TEST_P(TlsaUsable, MatchesRfc) {
  const auto& c = GetParam();
  const auto r = tlsa(c.usage, c.selector, c.mtype, c.length);
  EXPECT_EQ(usable(r), c.want) << c.name << ": got " << usable(r) << ", want " << c.want;
}

INSTANTIATE_TEST_SUITE_P(
    Table, TlsaUsable,
    ::testing::Values(
        // DANE-15: PKIX-TA(0) and PKIX-EE(1) are unusable for SMTP.
        UsableCase{"PkixTa", 0, 0, 1, 32, false}, UsableCase{"PkixEe", 1, 1, 1, 32, false},
        UsableCase{"DaneTaSha256", 2, 0, 1, 32, true},
        UsableCase{"DaneTaSpkiSha512", 2, 1, 2, 64, true},
        UsableCase{"DaneTaFull", 2, 0, 0, 800, true}, UsableCase{"DaneEeSha256", 3, 1, 1, 32, true},
        UsableCase{"DaneEeCertSha512", 3, 0, 2, 64, true},
        UsableCase{"DaneEeSpkiFull", 3, 1, 0, 91, true},
        // DANE-2: unknown usage, selector or matching type.
        UsableCase{"UsageFour", 4, 1, 1, 32, false}, UsableCase{"Usage255", 255, 1, 1, 32, false},
        UsableCase{"SelectorTwo", 3, 2, 1, 32, false},
        UsableCase{"Selector255", 3, 255, 1, 32, false},
        UsableCase{"MtypeThree", 3, 1, 3, 32, false}, UsableCase{"Mtype255", 3, 1, 255, 64, false},
        // DANE-2: malformed association data.
        UsableCase{"Sha256Short", 3, 1, 1, 31, false}, UsableCase{"Sha256Long", 3, 1, 1, 33, false},
        UsableCase{"Sha256AsSha512Length", 3, 1, 1, 64, false},
        UsableCase{"Sha512Short", 3, 1, 2, 63, false},
        UsableCase{"Sha512AsSha256Length", 2, 1, 2, 32, false},
        UsableCase{"Sha256Empty", 3, 1, 1, 0, false}, UsableCase{"FullEmpty", 3, 1, 0, 0, false},
        UsableCase{"FullOneOctet", 2, 0, 0, 1, true}),
    [](const ::testing::TestParamInfo<UsableCase>& param_info) {
      return std::string(param_info.param.name);
    });

TEST(TlsaSelect, StrongestDigestWinsPerUsageAndSelector) {
  // DANE-16: 2 1 1 and 2 1 2 → only 2 1 2.
  const std::vector records{tlsa(2, 1, 1, 32), tlsa(2, 1, 2, 64)};
  EXPECT_EQ(select_for_authentication(records), std::vector{tlsa(2, 1, 2, 64)});
}

TEST(TlsaSelect, DifferentSelectorsAreSeparateGroups) {
  const std::vector records{tlsa(3, 1, 1, 32), tlsa(3, 0, 1, 32)};
  EXPECT_EQ(select_for_authentication(records), records);
}

TEST(TlsaSelect, DifferentUsagesAreSeparateGroups) {
  const std::vector records{tlsa(3, 1, 1, 32), tlsa(2, 1, 2, 64)};
  EXPECT_EQ(select_for_authentication(records), records);
}

TEST(TlsaSelect, FullDataKeptBesideDigests) {
  const std::vector records{tlsa(3, 1, 0, 91), tlsa(3, 1, 1, 32), tlsa(3, 1, 2, 64)};
  EXPECT_EQ(select_for_authentication(records),
            (std::vector{tlsa(3, 1, 0, 91), tlsa(3, 1, 2, 64)}));
}

TEST(TlsaSelect, FullDataAloneKept) {
  const std::vector records{tlsa(2, 0, 0, 500)};
  EXPECT_EQ(select_for_authentication(records), records);
}

TEST(TlsaSelect, UnusableDroppedBeforeAgility) {
  // A malformed SHA2-512 record must not suppress a good SHA2-256 one
  // (RFC 7671 §9: unusable records are dropped first).
  const std::vector records{tlsa(0, 0, 1, 32), tlsa(3, 1, 2, 10), tlsa(3, 1, 1, 32),
                            tlsa(1, 1, 2, 64)};
  EXPECT_EQ(select_for_authentication(records), std::vector{tlsa(3, 1, 1, 32)});
}

TEST(TlsaSelect, AllUnusableGivesEmpty) {
  const std::vector records{tlsa(0, 0, 1, 32), tlsa(1, 1, 1, 32), tlsa(3, 1, 1, 20)};
  EXPECT_TRUE(select_for_authentication(records).empty());
}

TEST(TlsaSelect, EmptyInputGivesEmpty) { EXPECT_TRUE(select_for_authentication({}).empty()); }

TEST(TlsaSelect, OrderPreserved) {
  auto a = tlsa(3, 1, 1, 32);
  auto b = tlsa(2, 0, 1, 32);
  auto c = tlsa(3, 1, 1, 32);
  c.data[0] = 0x01;
  auto d = tlsa(3, 1, 0, 91);
  const std::vector records{a, b, c, d};
  EXPECT_EQ(select_for_authentication(records), records);
}

TEST(HostStatusText, NamesAreStable) {
  EXPECT_EQ(to_string(HostStatus::Authenticated), "dane-authenticated");
  EXPECT_EQ(to_string(HostStatus::Unauthenticated), "tls-unauthenticated");
  EXPECT_EQ(to_string(HostStatus::NoDane), "no-dane");
  EXPECT_EQ(to_string(HostStatus::Unusable), "unusable");
}

}  // namespace
}  // namespace tlspolicy::dane
