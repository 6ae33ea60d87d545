// SPDX-License-Identifier: Apache-2.0
//
// Netstring framing: encoder, incremental decoder, every malformed length and
// the size limits (docs/protocols/socketmap.md "Limits").
#include "tlspolicy/proto/netstring.hpp"

#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

namespace tlspolicy::proto {
namespace {

constexpr std::size_t k_max = 10000;

// Feeds `input` in one go and drains next(); returns the payloads, and
// whether an error ended the stream.
struct Drained {
  std::vector<std::string> payloads;
  bool failed = false;
  std::string detail;
  Errc code = Errc::Internal;
};

Drained drain(NetstringDecoder& dec, std::string_view input) {
  Drained out;
  dec.feed(input);
  for (;;) {
    auto got = dec.next();
    if (!got) {
      out.failed = true;
      out.detail = got.error().detail;
      out.code = got.error().code;
      EXPECT_TRUE(out.code == Errc::RequestMalformed || out.code == Errc::RequestTooLarge)
          << to_string(out.code);
      EXPECT_EQ(got.error().retry, Retry::Permanent);
      return out;
    }
    if (!got->has_value()) return out;
    out.payloads.push_back(**got);
  }
}

TEST(Netstring, EncodesLengthColonPayloadComma) {
  EXPECT_EQ(encode_netstring(""), "0:,");
  EXPECT_EQ(encode_netstring("hello world!"), "12:hello world!,");
  EXPECT_EQ(encode_netstring(std::string_view{"a\0b", 3}), std::string("3:a\0b,", 6));
}

TEST(Netstring, RoundTrip) {
  const std::vector<std::string> payloads = {
      "", "x", "postfix example.com", std::string(k_max, 'z'), std::string("nul\0inside", 10)};
  for (const auto& p : payloads) {
    NetstringDecoder dec{k_max};
    const auto got = drain(dec, encode_netstring(p));
    ASSERT_FALSE(got.failed) << got.detail;
    ASSERT_EQ(got.payloads.size(), 1U) << "payload size " << p.size();
    EXPECT_EQ(got.payloads[0], p);
  }
}

TEST(Netstring, ByteByByteFeeding) {
  const std::string wire = encode_netstring("postfix example.com") + encode_netstring("QUERY x.y");
  NetstringDecoder dec{k_max};
  std::vector<std::string> payloads;
  for (const char c : wire) {
    dec.feed(std::string_view{&c, 1});
    for (;;) {
      auto got = dec.next();
      ASSERT_TRUE(got) << got.error().detail;
      if (!got->has_value()) break;
      payloads.push_back(**got);
    }
    EXPECT_LE(dec.buffered(), k_max + k_max_netstring_digits + 1);
  }
  EXPECT_EQ(payloads, (std::vector<std::string>{"postfix example.com", "QUERY x.y"}));
  EXPECT_EQ(dec.buffered(), 0U);
}

TEST(Netstring, SeveralNetstringsInOneFeed) {
  NetstringDecoder dec{k_max};
  const auto got = drain(dec, "1:a,0:,3:abc,2:x");
  EXPECT_FALSE(got.failed);
  EXPECT_EQ(got.payloads, (std::vector<std::string>{"a", "", "abc"}));
  EXPECT_EQ(dec.buffered(), 2U);  // "2" and "x" of the partial one
  const auto rest = drain(dec, "y,");
  EXPECT_EQ(rest.payloads, (std::vector<std::string>{"xy"}));
}

TEST(Netstring, EmptyPayload) {
  NetstringDecoder dec{k_max};
  const auto got = drain(dec, "0:,");
  EXPECT_FALSE(got.failed);
  EXPECT_EQ(got.payloads, (std::vector<std::string>{""}));
}

TEST(Netstring, NeedsMoreBytes) {
  for (const std::string_view partial : {"", "1", "12", "12:", "12:hello", "5:hello"}) {
    NetstringDecoder dec{k_max};
    const auto got = drain(dec, partial);
    EXPECT_FALSE(got.failed) << partial << ": " << got.detail;
    EXPECT_TRUE(got.payloads.empty()) << partial;
  }
}

TEST(Netstring, AcceptsMaxSizeExactly) {
  NetstringDecoder dec{k_max};
  const auto got = drain(dec, encode_netstring(std::string(k_max, 'a')));
  ASSERT_FALSE(got.failed) << got.detail;
  ASSERT_EQ(got.payloads.size(), 1U);
  EXPECT_EQ(got.payloads[0].size(), k_max);
}

TEST(Netstring, RejectsMaxSizePlusOneBeforeThePayload) {
  NetstringDecoder dec{k_max};
  // Only the header is sent: the limit is enforced on the length field.
  const auto got = drain(dec, "10001:");
  EXPECT_TRUE(got.failed);
  EXPECT_EQ(got.code, Errc::RequestTooLarge);
  EXPECT_NE(got.detail.find("limit"), std::string::npos) << got.detail;
}

struct BadCase {
  std::string_view name;
  std::string_view wire;
  Errc code = Errc::RequestMalformed;  ///< the kind the server answers by (too large or not)
};

// Case names, not raw bytes, in gtest and ctest test names.
void PrintTo(const BadCase& c, std::ostream* os) { *os << c.name; }

class NetstringRejects : public testing::TestWithParam<BadCase> {};

TEST_P(NetstringRejects, Malformed) {
  NetstringDecoder dec{k_max};
  const auto got = drain(dec, GetParam().wire);
  EXPECT_TRUE(got.failed) << GetParam().name;
  EXPECT_EQ(got.code, GetParam().code) << to_string(got.code);
  EXPECT_TRUE(dec.failed());
  EXPECT_EQ(dec.buffered(), 0U);
}

INSTANTIATE_TEST_SUITE_P(
    Netstring, NetstringRejects,
    testing::Values(BadCase{"LeadingZero", "01:a,"}, BadCase{"DoubleZero", "00:,"},
                    BadCase{"NonDigit", "x:a,"}, BadCase{"SignedLength", "-1:a,"},
                    BadCase{"SpaceInLength", "1 :a,"}, BadCase{"EmptyLength", ":a,"},
                    BadCase{"MissingComma", "1:ab"}, BadCase{"WrongTerminator", "1:a;"},
                    BadCase{"OverMax", "10001:", Errc::RequestTooLarge},
                    BadCase{"HugeLengthDigits", "99999999999999999999:", Errc::RequestTooLarge},
                    BadCase{"SevenDigitsNoColon", "0000000"},
                    BadCase{"Garbage", "GET / HTTP/1.0\r\n"},
                    BadCase{"GarbageAfterGood", "1:a,zz"}),
    [](const testing::TestParamInfo<BadCase>& p) { return std::string(p.param.name); });

TEST(Netstring, RejectsLeadingZero) {
  NetstringDecoder dec{k_max};
  EXPECT_TRUE(drain(dec, "05:hello,").failed);
}

TEST(Netstring, RejectsMissingColonWithinSixDigits) {
  NetstringDecoder dec{10000000};  // a limit that does not trip first
  const auto got = drain(dec, "1234567:");
  EXPECT_TRUE(got.failed);
  EXPECT_EQ(got.code, Errc::RequestTooLarge);
  EXPECT_NE(got.detail.find("6"), std::string::npos) << got.detail;
}

TEST(Netstring, StaysInErrorOnceFailed) {
  NetstringDecoder dec{k_max};
  EXPECT_TRUE(drain(dec, "x").failed);
  dec.feed("3:abc,");
  const auto again = dec.next();
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, Errc::RequestMalformed);
  EXPECT_EQ(dec.buffered(), 0U);
}

TEST(Netstring, ErrorAfterGoodPayloadKeepsThePayload) {
  NetstringDecoder dec{k_max};
  const auto got = drain(dec, "1:a,1:bX");
  EXPECT_EQ(got.payloads, (std::vector<std::string>{"a"}));
  EXPECT_TRUE(got.failed);
}

}  // namespace
}  // namespace tlspolicy::proto
