// SPDX-License-Identifier: Apache-2.0
//
// ReportService with a scripted resolver, a fake HTTPS poster, a sendmail
// script and the SQLite store in memory: when reports are made (RPT-8), how
// they are delivered (RPT-4, RPT-16), retried and given up (RPT-17), and
// which policy a result without one is filed under (RPT-3).
#include "tlspolicy/service/report_service.hpp"

#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <mutex>

#include <gtest/gtest.h>

#include "tlspolicy/event/loop.hpp"
#include "tlspolicy/tlsrpt/report.hpp"

#include "support/fake_clock.hpp"
#include "support/fakes.hpp"

namespace tlspolicy::service {
namespace {

using namespace std::chrono_literals;
using testing::txt_answer;

class FakePoster final : public fetch::HttpsPoster {
 public:
  [[nodiscard]] Result<long> post(std::string_view url, std::string_view content_type,
                                  std::string_view body) const override {
    const std::lock_guard lock{m_mu};
    posts.push_back({std::string(url), std::string(content_type), std::string(body)});
    const auto it = status.find(std::string(url));
    return it == status.end() ? 404L : it->second;
  }
  struct Post {
    std::string url, content_type, body;
  };
  std::map<std::string, long> status;
  mutable std::vector<Post> posts;

 private:
  mutable std::mutex m_mu;
};

class Reports : public ::testing::Test {
 protected:
  // 2026-06-01T12:00:00Z: results today, the report after midnight.
  testing::FakeClock clock{util::TimePoint{std::chrono::sys_days{2026y / 6 / 1} + 12h}};
  testing::FakeResolver dns;
  event::LoopThread loop;  ///< the resolver's loop: delivery looks up _smtp._tls from here
  FakePoster poster;
  std::unique_ptr<cache::ReportStore> store =
      *cache::open_sqlite_report_store(cache::SqliteOptions{":memory:", 1000});
  std::filesystem::path dir = std::filesystem::temp_directory_path() /
                              ("tlspolicy-rs-" + std::to_string(::getpid()) + "-" +
                               ::testing::UnitTest::GetInstance()->current_test_info()->name());
  ReportOptions options;

  Reports() {
    std::filesystem::create_directories(dir);
    // A sendmail stand-in that keeps its arguments and the message.
    const auto script = dir / "sendmail";
    std::ofstream{script} << "#!/bin/sh\necho \"$@\" >\"" << (dir / "args").string()
                          << "\"\ncat >\"" << (dir / "message").string() << "\"\n";
    std::filesystem::permissions(script, std::filesystem::perms::owner_all);
    options.organization_name = "Example Org";
    options.contact_info = "tlsrpt@example.net";
    options.submitter = "example.net";
    options.sendmail.command = {script.string()};
    options.max_delay = 600s;
  }
  ~Reports() override { std::filesystem::remove_all(dir); }

  ReportService service() {
    return ReportService{*store, loop.loop(), dns, &poster, clock, util::null_logger(), options};
  }
  void record(ReportService& s, const std::string& domain, std::uint64_t ok, std::uint64_t bad) {
    tlsrpt::PolicyResult r;
    r.policy = {tlsrpt::PolicyType::Sts, domain, {"version: STSv1", "mode: enforce"}, {"mx"}};
    r.successes = ok;
    r.failures = bad;
    ASSERT_TRUE(
        s.record(tlsrpt::ResultBatch{domain, "", clock.now(), tlsrpt::Origin::JsonOp, {r}}));
  }
  void rua(const std::string& domain, const std::string& record) {
    dns.set("_smtp._tls." + domain, dns::RrType::Txt, txt_answer({{record}}));
  }
  /// A day of `ok` and `bad` sessions for example.com, which publishes an HTTPS rua that
  /// answers `status`; then the day ends and its one report is made.
  cache::ReportRow day_report(ReportService& s, std::uint64_t ok, std::uint64_t bad, int status) {
    record(s, "example.com", ok, bad);
    rua("example.com", "v=TLSRPTv1; rua=https://reports.example.com/x");
    poster.status["https://reports.example.com/x"] = status;
    clock.advance(13h);
    auto made = s.make_reports();
    if (!made || made->size() != 1) {
      ADD_FAILURE() << "expected one report";
      return {};
    }
    return made->front();
  }
  std::string read(const std::string& name) {
    std::ifstream f{dir / name};
    return {std::istreambuf_iterator<char>(f), {}};
  }
  const util::TimePoint midnight{std::chrono::sys_days{2026y / 6 / 2}};
};

TEST_F(Reports, Rpt8ReportsAreMadeOnlyForFinishedDaysWithARandomDelay) {
  auto s = service();
  record(s, "example.com", 3, 1);
  auto made = s.make_reports();
  ASSERT_TRUE(made);
  EXPECT_TRUE(made->empty());  // the day is not over
  clock.advance(12h + 1s);
  made = s.make_reports();
  ASSERT_TRUE(made);
  ASSERT_EQ(made->size(), 1u);
  const auto& row = made->front();
  EXPECT_EQ(row.day, std::chrono::sys_days{2026y / 6 / 1});
  EXPECT_GE(row.next_attempt_at, midnight + 1s);
  EXPECT_LE(row.next_attempt_at, midnight + 600s + 1s);
  EXPECT_EQ(row.give_up_at, row.next_attempt_at + 24h);
  EXPECT_TRUE(row.report_id.ends_with("@example.net")) << row.report_id;
  EXPECT_TRUE(s.make_reports()->empty());  // made once
}

TEST_F(Reports, Rpt16HttpsPostOf200IsDeliveredAndNeverSentAgain) {
  auto s = service();
  const auto row = day_report(s, 3, 1, 200);
  auto out = s.deliver(row);
  ASSERT_TRUE(out) << out.error().detail;
  EXPECT_EQ(out->row.state, cache::ReportState::Sent);
  EXPECT_EQ(out->row.sent_to, "https://reports.example.com/x");
  ASSERT_EQ(poster.posts.size(), 1u);
  EXPECT_EQ(poster.posts[0].content_type, "application/tlsrpt+gzip");
  auto json = tlsrpt::gzip_decompress(poster.posts[0].body, 1 << 20);
  ASSERT_TRUE(json);
  EXPECT_NE(json->find("\"total-failure-session-count\":1"), std::string::npos) << *json;
  // Sent: the scheduler never picks it again, and deliver leaves it alone.
  EXPECT_TRUE(store->due_reports(clock.now() + 48h)->empty());
  ASSERT_TRUE(s.deliver(out->row));
  EXPECT_EQ(poster.posts.size(), 1u);
}

TEST_F(Reports, Rpt17FailuresBackOffExponentiallyAndGiveUpAfter24Hours) {
  auto s = service();
  auto row = day_report(s, 0, 2, 500);
  auto out = s.deliver(row);
  ASSERT_TRUE(out);
  EXPECT_EQ(out->row.state, cache::ReportState::Pending);
  EXPECT_EQ(out->row.attempts, 1);
  EXPECT_EQ(out->row.next_attempt_at, clock.now() + 5min);
  EXPECT_NE(out->row.last_error.find("HTTP 500"), std::string::npos) << out->row.last_error;
  out = s.deliver(out->row);
  EXPECT_EQ(out->row.next_attempt_at, clock.now() + 10min);
  for (int i = 0; i < 20 && out->row.state == cache::ReportState::Pending; ++i) {
    clock.advance(4h);
    out = s.deliver(out->row);
  }
  EXPECT_EQ(out->row.state, cache::ReportState::Failed);
  EXPECT_LE(out->row.attempts, 10);
}

// Metrics (docs/operations.md): made, sent and failed reports are counted where the options
// say, across services (a reload builds a new one).
TEST_F(Reports, MadeSentAndFailedAreCounted) {
  options.counters = std::make_shared<ReportCounters>();
  {
    auto first = service();  // the generation before a reload
    record(first, "ok.example", 1, 1);
  }
  auto s = service();
  record(s, "bad.example", 0, 1);
  rua("ok.example", "v=TLSRPTv1; rua=https://reports.ok.example/x");
  rua("bad.example", "v=TLSRPTv1; rua=https://reports.bad.example/x");
  poster.status["https://reports.ok.example/x"] = 200;
  poster.status["https://reports.bad.example/x"] = 500;
  clock.advance(13h);
  const auto made = s.make_reports();
  ASSERT_TRUE(made);
  ASSERT_EQ(made->size(), 2u);
  EXPECT_EQ(options.counters->made.load(), 2u);
  for (const auto& row : *made) {
    auto out = s.deliver(row);
    for (int i = 0; i < 20 && out && out->row.state == cache::ReportState::Pending; ++i) {
      clock.advance(4h);
      out = service().deliver(out->row);
    }
    ASSERT_TRUE(out) << out.error().detail;
  }
  EXPECT_EQ(options.counters->sent.load(), 1u);
  EXPECT_EQ(options.counters->failed.load(), 1u);
}

TEST_F(Reports, Rpt4OneAcceptingUriIsEnoughAndMailGoesThroughSendmail) {
  auto s = service();
  record(s, "example.com", 1, 0);
  rua("example.com", "v=TLSRPTv1; rua=https://down.example.com/x,mailto:rpt@example.com");
  poster.status["https://down.example.com/x"] = 503;
  clock.advance(13h);
  auto out = s.deliver(s.make_reports()->front());
  ASSERT_TRUE(out);
  EXPECT_EQ(out->row.state, cache::ReportState::Sent);
  EXPECT_EQ(out->row.sent_to, "mailto:rpt@example.com");
  EXPECT_EQ(out->lines.size(), 2u);
  EXPECT_EQ(read("args"), "-f tlsrpt@example.net rpt@example.com\n");
  const auto message = read("message");
  EXPECT_NE(message.find("TLS-Report-Domain: example.com"), std::string::npos) << message;
  EXPECT_NE(message.find("TLS-Report-Submitter: example.net"), std::string::npos);
  EXPECT_NE(message.find("report-type=\"tlsrpt\""), std::string::npos);
}

TEST_F(Reports, Rpt2NoSingleRecordAndSuccessOnlyDaysAreSkipped) {
  auto s = service();
  record(s, "norecord.example", 1, 0);
  dns.set("_smtp._tls.norecord.example", dns::RrType::Txt, testing::nxdomain());
  record(s, "two.example", 0, 1);
  dns.set("_smtp._tls.two.example", dns::RrType::Txt,
          txt_answer({{"v=TLSRPTv1; rua=mailto:a@two.example"},
                      {"v=TLSRPTv1; rua=mailto:b@two.example"}}));
  clock.advance(13h);
  const auto rows = s.make_reports();
  ASSERT_TRUE(rows);
  ASSERT_EQ(rows->size(), 2u);
  for (const auto& row : *rows) {
    auto out = s.deliver(row);
    ASSERT_TRUE(out);
    EXPECT_EQ(out->row.state, cache::ReportState::Skipped) << row.domain;
  }
  options.send_success_reports = false;
  auto quiet = service();
  clock.advance(24h);
  record(quiet, "ok.example", 5, 0);
  rua("ok.example", "v=TLSRPTv1; rua=https://r.example/x");
  clock.advance(24h);
  const auto made = quiet.make_reports();
  ASSERT_TRUE(made) << made.error().detail;
  ASSERT_EQ(made->size(), 1u) << store->days({})->size();
  auto out = quiet.deliver(made->front());
  ASSERT_TRUE(out);
  EXPECT_EQ(out->row.state, cache::ReportState::Skipped);
  EXPECT_TRUE(poster.posts.empty());
}

TEST_F(Reports, DnsFailureRetriesLater) {
  auto s = service();
  record(s, "example.com", 1, 0);
  dns.set("_smtp._tls.example.com", dns::RrType::Txt, testing::dns_error(Errc::DnsServfail));
  clock.advance(13h);
  auto out = s.deliver(s.make_reports()->front());
  ASSERT_TRUE(out);
  EXPECT_EQ(out->row.state, cache::ReportState::Pending);
  EXPECT_EQ(out->row.attempts, 1);
}

TEST_F(Reports, TickSendsOnlyWhenSendingIsOnAndOnlyWhatIsDue) {
  rua("example.com", "v=TLSRPTv1; rua=https://reports.example.com/x");
  poster.status["https://reports.example.com/x"] = 201;
  {
    auto s = service();  // send = false: made, kept, not sent
    record(s, "example.com", 1, 0);
    clock.advance(12h + 1s);  // just after midnight
    s.tick();
    EXPECT_TRUE(poster.posts.empty());
    ASSERT_EQ(store->reports({})->size(), 1u);
  }
  options.send = true;
  auto s = service();
  const auto due = store->reports({})->front().next_attempt_at;
  clock.advance(std::chrono::seconds{due - clock.now()} - 1s);
  s.tick();
  EXPECT_TRUE(poster.posts.empty());  // not due yet
  clock.advance(1s);
  s.tick();
  ASSERT_EQ(poster.posts.size(), 1u);
  EXPECT_EQ(store->reports({})->front().state, cache::ReportState::Sent);  // 201 counts too
}

// RPT-4 with two senders (the daemon and `tlspolicy report send`, or two fleet nodes):
// each delivery is claimed in the store first, and a report another sender holds is
// left to it.
TEST_F(Reports, ClaimsAreMadeInTheNameOfNodeAndProcess) {
  EXPECT_EQ(service().claimant(), "local/" + std::to_string(::getpid()));
  options.node = "mx1.example.net";
  EXPECT_EQ(service().claimant(), "mx1.example.net/" + std::to_string(::getpid()));
}

TEST_F(Reports, TickLeavesAReportAnotherSenderHoldsAndSendsItOnceReleased) {
  rua("example.com", "v=TLSRPTv1; rua=https://reports.example.com/x");
  poster.status["https://reports.example.com/x"] = 200;
  options.send = true;
  auto s = service();
  record(s, "example.com", 1, 0);
  clock.advance(13h);
  const auto made = s.make_reports();
  ASSERT_TRUE(made) << made.error().detail;
  ASSERT_EQ(made->size(), 1u);
  const auto row = made->front();
  auto held = store->claim_report(row.report_id, "other-node/1", 10min);
  ASSERT_TRUE(held && *held);
  clock.advance(std::chrono::seconds{row.next_attempt_at - clock.now()} + 1s);
  s.tick();
  EXPECT_TRUE(poster.posts.empty()) << "delivered a report another sender holds";
  EXPECT_EQ(store->reports({})->front().state, cache::ReportState::Pending);
  // The other sender stores its outcome (still pending): the claim ends.
  ASSERT_TRUE(store->update_report(row));
  s.tick();
  ASSERT_EQ(poster.posts.size(), 1u);
  EXPECT_EQ(store->reports({})->front().state, cache::ReportState::Sent);
}

TEST_F(Reports, DeliverRefusesAReportAnotherSenderHoldsAndSaysSo) {
  auto s = service();
  const auto row = day_report(s, 1, 0, 200);
  auto held = store->claim_report(row.report_id, "other-node/1", 10min);
  ASSERT_TRUE(held && *held);
  auto out = s.deliver(row);
  ASSERT_FALSE(out) << "delivered a report another sender holds";
  EXPECT_EQ(out.error().retry, Retry::Transient);
  EXPECT_NE(out.error().detail.find("pending and claimed by another sender"), std::string::npos)
      << out.error().detail;
  EXPECT_TRUE(poster.posts.empty());
}

TEST_F(Reports, DeliverRetriesAFailedReportOnTheOperatorsWord) {
  auto s = service();
  auto row = day_report(s, 1, 0, 200);
  row.state = cache::ReportState::Failed;  // the daemon gave up on it (RPT-17)
  ASSERT_TRUE(store->update_report(row));
  auto out = s.deliver(row);  // `tlspolicy report send`: try again now
  ASSERT_TRUE(out) << out.error().detail;
  EXPECT_EQ(out->row.state, cache::ReportState::Sent);
  EXPECT_EQ(poster.posts.size(), 1U);
}

TEST_F(Reports, DeliverRefusesASkippedReportAndSaysSo) {
  auto s = service();
  auto row = day_report(s, 1, 0, 200);
  row.state = cache::ReportState::Skipped;
  ASSERT_TRUE(store->update_report(row));
  auto out = s.deliver(row);
  ASSERT_FALSE(out) << "delivered a skipped report";
  EXPECT_EQ(out.error().retry, Retry::Permanent);
  EXPECT_NE(out.error().detail.find("is skipped, not pending"), std::string::npos)
      << out.error().detail;
  EXPECT_TRUE(poster.posts.empty());
}

// An attempt that fails stores its outcome, which ends the claim: the next sender
// (or this one, later) may try again.
TEST_F(Reports, AFailedAttemptReleasesTheClaim) {
  auto s = service();
  auto out = s.deliver(day_report(s, 0, 1, 503));
  ASSERT_TRUE(out) << out.error().detail;
  EXPECT_EQ(out->row.state, cache::ReportState::Pending);
  auto other = store->claim_report(out->row.report_id, "other-node/1", 10min);
  ASSERT_TRUE(other) << other.error().detail;
  EXPECT_TRUE(*other) << "the claim outlived the attempt";
}

TEST(PolicyKeyFor, Rpt3StsTlsaOrNoPolicy) {
  policy::Decision d;
  d.domain = "example.com";
  EXPECT_EQ(policy_key_for(d, "").type, tlsrpt::PolicyType::NoPolicyFound);

  d.source = policy::Source::Dane;
  d.mx.push_back(
      {"mx1.example.com", 10, true, policy::Verify::Dane, {{3, 1, 1, {0xab}}}, "mx1.example.net"});
  d.mx.push_back(
      {"mx2.example.com", 20, true, policy::Verify::Dane, {{2, 0, 1, {0xcd}}}, "mx2.example.com"});
  auto k = policy_key_for(d, "mx2.example.com");
  EXPECT_EQ(k.type, tlsrpt::PolicyType::Tlsa);
  EXPECT_EQ(k.policy_domain, "mx2.example.com");
  EXPECT_EQ(k.policy_strings, std::vector<std::string>{"2 0 1 CD"});
  EXPECT_EQ(policy_key_for(d, "").policy_domain, "mx1.example.net");  // the TLSA base domain

  // RFC 8460 §4.4: DANE governed a host with TLSA records even when an
  // MTA-STS policy exists too (RFC 8461 §2); the policy governs the others.
  d.mta_sts = policy::StsInfo{};
  d.mta_sts->mode = sts::StsMode::Enforce;
  d.mta_sts->mx = {"*.example.com"};
  d.mta_sts->policy_text = "version: STSv1\nmode: enforce\nmx: *.example.com\nmax_age: 600\n";
  EXPECT_EQ(policy_key_for(d, "mx1.example.com").type, tlsrpt::PolicyType::Tlsa);
  EXPECT_EQ(policy_key_for(d, "").type, tlsrpt::PolicyType::Tlsa);
  d.mx.push_back({"mx3.example.com", 30, true, policy::Verify::Pkix, {}, ""});
  k = policy_key_for(d, "mx3.example.com");
  EXPECT_EQ(k.type, tlsrpt::PolicyType::Sts);
  EXPECT_EQ(k.policy_strings.size(), 4u);
  EXPECT_EQ(k.mx_hosts, std::vector<std::string>{"*.example.com"});
  d.source = policy::Source::MtaSts;
  EXPECT_EQ(policy_key_for(d, "").type, tlsrpt::PolicyType::Sts);
}

}  // namespace
}  // namespace tlspolicy::service
