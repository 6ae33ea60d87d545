// SPDX-License-Identifier: Apache-2.0
//
// Socketmap requests, key classification and replies, plain and TLS-RPT
// (Postfix 3.10 attributes), against golden strings
// (docs/protocols/socketmap.md).
#include "tlspolicy/proto/socketmap.hpp"

#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

namespace tlspolicy::proto {
namespace {

using policy::Action;
using policy::Decision;
using policy::Source;
using policy::TlsLevel;
using policy::Verify;

constexpr std::string_view k_enforce_policy =
    "version: STSv1\r\nmode: enforce\r\nmx: mx1.example.com\r\nmx: *.example.net\r\n"
    "max_age: 86400\r\n";

Decision with_reply(Decision d) {
  d.postfix = policy::socketmap_reply(d);
  return d;
}

Decision sts_enforce() {
  Decision d;
  d.domain = "example.com";
  d.action = Action::RequireTls;
  d.verify = Verify::Pkix;
  d.source = Source::MtaSts;
  d.mta_sts = policy::StsInfo{};
  d.mta_sts->id = "20240101";
  d.mta_sts->mode = sts::StsMode::Enforce;
  d.mta_sts->mx = {"mx1.example.com", "*.example.net"};
  d.postfix_level = TlsLevel::Secure;
  d.postfix_match = {"mx1.example.com", ".example.net"};
  d.servername_hostname = true;
  return with_reply(d);
}

Decision sts_testing() {
  Decision d;
  d.domain = "example.com";
  d.action = Action::Opportunistic;
  d.source = Source::MtaSts;
  d.mta_sts = policy::StsInfo{};
  d.mta_sts->mode = sts::StsMode::Testing;
  d.mta_sts->mx = {"mx1.example.com"};
  return with_reply(d);
}

Decision dane_only() {
  Decision d;
  d.domain = "dane.example";
  d.action = Action::RequireTls;
  d.verify = Verify::Dane;
  d.source = Source::Dane;
  d.postfix_level = TlsLevel::DaneOnly;
  return with_reply(d);
}

Decision no_policy() {
  Decision d;
  d.domain = "plain.example";
  d.action = Action::Opportunistic;
  d.source = Source::None;
  return with_reply(d);
}

Decision deferred() {
  Decision d;
  d.domain = "broken.example";
  d.action = Action::Defer;
  d.source = Source::MtaSts;
  d.mta_sts = policy::StsInfo{};
  d.mta_sts->mode = sts::StsMode::Enforce;
  d.mta_sts->mx = {"mx.other.example"};
  d.reason = "no MX host matches the MTA-STS policy";
  return with_reply(d);
}

// ---- requests -------------------------------------------------------------

TEST(SocketmapRequest, SplitsAtFirstSpace) {
  const auto got = parse_socketmap_request("postfix example.com");
  ASSERT_TRUE(got) << got.error().detail;
  EXPECT_EQ(got->map_name, "postfix");
  EXPECT_EQ(got->key, "example.com");
  const auto two = parse_socketmap_request("QUERY a b");
  ASSERT_TRUE(two);
  EXPECT_EQ(two->map_name, "QUERY");
  EXPECT_EQ(two->key, "a b");
}

TEST(SocketmapRequest, RejectsMalformed) {
  for (const std::string_view bad : {"", " ", "postfix", "postfix ", " example.com"}) {
    const auto got = parse_socketmap_request(bad);
    ASSERT_FALSE(got) << "got a request for \"" << bad << "\", want an error";
    EXPECT_EQ(got.error().code, Errc::InvalidArgument);
    EXPECT_EQ(got.error().retry, Retry::Permanent);
  }
}

// ---- keys ------------------------------------------------------------------

TEST(SocketmapKey, Classifies) {
  struct Case {
    std::string_view key;
    KeyKind want;
  };
  const std::vector<Case> cases = {
      {"example.com", KeyKind::Domain},
      {"EXAMPLE.com", KeyKind::Domain},
      {"example.com.", KeyKind::Domain},
      {"bücher.example", KeyKind::Domain},
      {".example.com", KeyKind::NotADomain},
      {"[192.0.2.1]:25", KeyKind::NotADomain},
      {"[mx.example.com]", KeyKind::NotADomain},
      {"mx.example.com:587", KeyKind::NotADomain},
      {"192.0.2.1", KeyKind::NotADomain},
      {"bad..x", KeyKind::NotADomain},
      {"/var/run/lmtp", KeyKind::NotADomain},
      {"exa\nmple.com", KeyKind::NotADomain},
      {std::string_view{"a\0b.com", 7}, KeyKind::NotADomain},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(classify_key(c.key), c.want) << "key \"" << c.key << "\"";
  }
  EXPECT_EQ(classify_key(std::string(2000, 'a')), KeyKind::NotADomain);
}

TEST(SocketmapMap, Names) {
  EXPECT_EQ(map_kind("tlsrpt"), MapKind::TlsRpt);
  EXPECT_EQ(map_kind("QUERYwithTLSRPT"), MapKind::TlsRpt);
  EXPECT_EQ(map_kind("requiretls"), MapKind::RequireTls);  // RT-9
  for (const std::string_view plain :
       {"postfix", "QUERY", "tlspolicy", "TLSRPT", "querywithtlsrpt", "REQUIRETLS"}) {
    EXPECT_EQ(map_kind(plain), MapKind::Plain) << plain;
  }
}

// ---- replies ---------------------------------------------------------------

struct ReplyCase {
  std::string_view name;
  Decision decision;
  std::string_view policy_text;
  std::string_view want_plain;
  std::string_view want_tlsrpt;
};

// Case names, not raw bytes, in gtest and ctest test names.
void PrintTo(const ReplyCase& c, std::ostream* os) { *os << c.name; }

class SocketmapReply : public testing::TestWithParam<ReplyCase> {};

TEST_P(SocketmapReply, Golden) {
  const auto& c = GetParam();
  EXPECT_EQ(socketmap_response(c.decision, MapKind::Plain, c.policy_text), c.want_plain)
      << "domain " << c.decision.domain;
  EXPECT_EQ(socketmap_response(c.decision, MapKind::TlsRpt, c.policy_text), c.want_tlsrpt)
      << "domain " << c.decision.domain;
  EXPECT_EQ(socketmap_response(c.decision, MapKind::Plain, c.policy_text), c.decision.postfix);
  // The cached path's shortcut gives the same bytes, or declines.
  for (const auto kind : {MapKind::Plain, MapKind::TlsRpt, MapKind::RequireTls}) {
    if (const auto view = socketmap_response_view(c.decision, kind)) {
      EXPECT_EQ(*view, socketmap_response(c.decision, kind, c.policy_text)) << c.name;
    }
  }
  EXPECT_TRUE(socketmap_response_view(c.decision, MapKind::Plain)) << c.name;
  EXPECT_FALSE(socketmap_response_view(c.decision, MapKind::RequireTls)) << c.name;
}

// A reply that must be rendered (controls, too long, STS attributes) is never a view.
TEST(SocketmapReplyView, DeclinesWhatMustBeRendered) {
  auto enforce = sts_enforce();
  EXPECT_FALSE(socketmap_response_view(enforce, MapKind::TlsRpt));  // attributes are added
  auto dirty = dane_only();
  dirty.postfix = "OK dane-only\nX";
  EXPECT_FALSE(socketmap_response_view(dirty, MapKind::Plain));
  auto empty = dane_only();
  empty.postfix.clear();
  EXPECT_FALSE(socketmap_response_view(empty, MapKind::Plain));
  auto huge = dane_only();
  huge.postfix = "OK " + std::string(k_max_socketmap_reply_bytes, 'x');
  EXPECT_FALSE(socketmap_response_view(huge, MapKind::Plain));
}

// The control check reads eight bytes at a time: every byte value at every position of a
// reply long enough for two words and a tail, against the byte-wise rule (below 0x20, 0x7f).
TEST(SocketmapReplyView, DeclinesEveryControlByteAtEveryPosition) {
  const std::string clean = "OK dane-only match=x";  // 20 bytes: two words and a tail of 4
  for (std::size_t pos = 0; pos < clean.size(); ++pos) {
    for (int byte = 0; byte < 256; ++byte) {
      auto d = dane_only();
      d.postfix = clean;
      d.postfix[pos] = static_cast<char>(byte);
      const bool control = byte < 0x20 || byte == 0x7f;
      EXPECT_EQ(socketmap_response_view(d, MapKind::Plain).has_value(), !control)
          << "byte " << byte << " at " << pos;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    Socketmap, SocketmapReply,
    testing::Values(
        ReplyCase{"EnforceTwoPatternsWithWildcard", sts_enforce(), k_enforce_policy,
                  "OK secure match=mx1.example.com:.example.net servername=hostname",
                  "OK secure match=mx1.example.com:.example.net servername=hostname"
                  " policy_type=sts policy_domain=example.com"
                  " mx_host_pattern=mx1.example.com mx_host_pattern=*.example.net"
                  " { policy_string = version: STSv1 } { policy_string = mode: enforce }"
                  " { policy_string = mx: mx1.example.com } { policy_string = mx: *.example.net }"
                  " { policy_string = max_age: 86400 }"},
        ReplyCase{"EnforceWithoutPolicyText", sts_enforce(), "",
                  "OK secure match=mx1.example.com:.example.net servername=hostname",
                  "OK secure match=mx1.example.com:.example.net servername=hostname"
                  " policy_type=sts policy_domain=example.com"
                  " mx_host_pattern=mx1.example.com mx_host_pattern=*.example.net"},
        ReplyCase{"Testing", sts_testing(), "version: STSv1\nmode: testing\n", "NOTFOUND ",
                  "NOTFOUND "},
        ReplyCase{"Dane", dane_only(), "", "OK dane-only", "OK dane-only"},
        ReplyCase{"NoPolicy", no_policy(), "", "NOTFOUND ", "NOTFOUND "},
        ReplyCase{"Defer", deferred(), k_enforce_policy,
                  "TEMP no MX host matches the MTA-STS policy",
                  "TEMP no MX host matches the MTA-STS policy"}),
    [](const testing::TestParamInfo<ReplyCase>& p) { return std::string(p.param.name); });

// RT-9, SPEC §4: Postfix 3.11 smtp_requiretls_policy. "OK enforce" where the
// plain answer lets Postfix authenticate a host; a miss lets the next item of
// the operator's list decide; a defer is a table error (Postfix defers).
TEST(SocketmapRequireTls, Rt9EnforceOnlyWhereAHostCanBeAuthenticated) {
  EXPECT_EQ(socketmap_response(dane_only(), MapKind::RequireTls, ""), "OK enforce");
  EXPECT_EQ(socketmap_response(sts_enforce(), MapKind::RequireTls, k_enforce_policy), "OK enforce");
  EXPECT_EQ(socketmap_response(sts_testing(), MapKind::RequireTls, ""), "NOTFOUND ");
  EXPECT_EQ(socketmap_response(no_policy(), MapKind::RequireTls, ""), "NOTFOUND ");
  EXPECT_EQ(socketmap_response(deferred(), MapKind::RequireTls, ""),
            "TEMP no MX host matches the MTA-STS policy");
  // "OK dane": only when a host has usable TLSA (Postfix then uses DANE for it).
  Decision partial = dane_only();
  partial.postfix_level = TlsLevel::Dane;
  partial.mx = {policy::MxHost{"mx1.dane.example", 10, true, Verify::None, {}, {}}};
  EXPECT_EQ(socketmap_response(with_reply(partial), MapKind::RequireTls, ""), "NOTFOUND ");
  partial.mx.push_back(policy::MxHost{"mx2.dane.example", 20, true, Verify::Dane, {}, {}});
  EXPECT_EQ(socketmap_response(with_reply(partial), MapKind::RequireTls, ""), "OK enforce");
  partial.mx.back().allowed = false;
  EXPECT_EQ(socketmap_response(with_reply(partial), MapKind::RequireTls, ""), "NOTFOUND ");
  // A bounce (null MX) and unauthenticated TLS are no authenticated path.
  Decision bounce = no_policy();
  bounce.action = Action::Bounce;
  EXPECT_EQ(socketmap_response(with_reply(bounce), MapKind::RequireTls, ""), "NOTFOUND ");
  Decision encrypt = no_policy();
  encrypt.action = Action::RequireTls;
  encrypt.postfix_level = TlsLevel::Encrypt;
  EXPECT_EQ(socketmap_response(with_reply(encrypt), MapKind::RequireTls, ""), "NOTFOUND ");
}

TEST(SocketmapReply, UsesSocketmapReplyWhenPostfixFieldIsEmpty) {
  auto d = dane_only();
  d.postfix.clear();
  EXPECT_EQ(socketmap_response(d, MapKind::Plain, ""), "OK dane-only");
}

TEST(SocketmapReply, DropsPolicyLinesWithBracesAndControls) {
  const auto d = sts_enforce();
  const std::string text =
      "version: STSv1\nmode: enforce\nx-ext: {evil} policy_type=sts\nx-tab: a\tb\n";
  const auto got = socketmap_response(d, MapKind::TlsRpt, text);
  EXPECT_EQ(got.find("evil"), std::string::npos) << got;
  EXPECT_NE(got.find("{ policy_string = x-tab: a b }"), std::string::npos) << got;
  for (const char c : got) EXPECT_GE(static_cast<unsigned char>(c), 0x20U);
}

TEST(SocketmapReply, TruncatesPolicyStringsNeverTheLevel) {
  const auto d = sts_enforce();
  std::string text = "version: STSv1\nmode: enforce\n";
  for (int i = 0; i < 5000; ++i) text += "mx: host" + std::to_string(i) + ".example.com\n";
  const auto got = socketmap_response(d, MapKind::TlsRpt, text);
  EXPECT_LE(got.size(), k_max_socketmap_reply_bytes);
  EXPECT_TRUE(got.starts_with(d.postfix + " policy_type=sts policy_domain=example.com"))
      << got.substr(0, 200);
  EXPECT_TRUE(got.ends_with(" }")) << got.substr(got.size() - 100);
}

TEST(SocketmapReply, OmitsAttributesWhenPatternsDoNotFit) {
  auto d = sts_enforce();
  d.mta_sts->mx.clear();
  for (int i = 0; i < 4000; ++i)
    d.mta_sts->mx.push_back("host" + std::to_string(i) + ".example.com");
  const auto got = socketmap_response(d, MapKind::TlsRpt, "");
  EXPECT_EQ(got, d.postfix);
}

TEST(SocketmapReply, OversizedOkBecomesTemp) {
  auto d = sts_enforce();
  d.postfix = "OK secure match=" + std::string(k_max_socketmap_reply_bytes, 'a');
  EXPECT_EQ(socketmap_response(d, MapKind::Plain, ""),
            "TEMP policy reply exceeds the socketmap limit");
}

// One rule for a reason in every map's TEMP reply (policy::socketmap_reason): the Postfix TLS
// map and the REQUIRETLS map say the same words for the same deferral.
TEST(SocketmapReply, EveryMapSaysADeferralTheSameWay) {
  Decision d;
  d.domain = "broken.example";
  d.action = Action::Defer;
  d.reason = "MX lookup failed, then\tretried";
  d = with_reply(d);
  const std::string want = "TEMP MX lookup failed; then retried";
  EXPECT_EQ(socketmap_response(d, MapKind::Plain, ""), want);
  EXPECT_EQ(socketmap_response(d, MapKind::RequireTls, ""), want);
  EXPECT_EQ(temp_reply(d.reason), want);
}

TEST(SocketmapReply, TempAndPermAreOneBoundedLine) {
  EXPECT_EQ(temp_reply("resolver\ntimeout"), "TEMP resolver timeout");
  EXPECT_EQ(perm_reply("bad request"), "PERM bad request");
  const auto long_reply = temp_reply(std::string(5000, 'x'));
  EXPECT_EQ(long_reply.size(), 5 + k_max_reason_bytes);
  // A cut never splits a UTF-8 sequence.
  std::string umlauts;
  for (int i = 0; i < 400; ++i) umlauts += "\xc3\xbc";
  const auto cut = perm_reply("x" + umlauts);
  EXPECT_LE(cut.size(), 5 + k_max_reason_bytes);
  EXPECT_NE(static_cast<unsigned char>(cut.back()), 0xc3U);
}

TEST(SocketmapReply, DeferReasonIsBoundedToo) {
  auto d = deferred();
  d.reason = std::string(200000, 'r');
  d.postfix = policy::socketmap_reply(d);
  const auto got = socketmap_response(d, MapKind::Plain, "");
  EXPECT_TRUE(got.starts_with("TEMP rrr"));
  EXPECT_LE(got.size(), 5 + k_max_reason_bytes);
}

}  // namespace
}  // namespace tlspolicy::proto
