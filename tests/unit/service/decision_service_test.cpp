// SPDX-License-Identifier: Apache-2.0
//
// DecisionService on its engine loop: memory hits, single flight, no caching of defer, TTL
// expiry, forget, overload, deadlines, shutdown, thousands of lookups in flight at once and
// callers on other threads. A gate holds the fake resolver's MX answers, so a test decides
// exactly when a lookup in flight ends.
#include "tlspolicy/service/decision_service.hpp"

#include <atomic>
#include <chrono>
#include <future>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include <gtest/gtest.h>

#include "tlspolicy/event/offload.hpp"

#include "support/fake_clock.hpp"
#include "support/fakes.hpp"

namespace tlspolicy::service {
namespace {

using namespace std::chrono_literals;

// Wraps FakeResolver on the loop's thread; while closed, MX lookups wait until open().
class GatedResolver final : public dns::Resolver {
 public:
  explicit GatedResolver(testing::FakeResolver& inner) : m_inner(inner) {}
  void lookup(const dns::DomainName& name, dns::RrType type, Callback done) override {
    if (type == dns::RrType::Mx) {
      ++mx_calls;
      if (!m_open) {
        m_held.emplace_back(name, type, std::move(done));
        return;
      }
    }
    m_inner.lookup(name, type, std::move(done));
  }
  void cancel_all() override {
    for (auto& [name, type, done] : std::exchange(m_held, {})) {
      done(fail(Errc::DnsTimeout, Retry::Transient, "cancelled"));
    }
  }
  void close() { m_open = false; }
  void open() {
    m_open = true;
    for (auto& [name, type, done] : std::exchange(m_held, {})) {
      m_inner.lookup(name, type, std::move(done));
    }
  }
  [[nodiscard]] std::size_t held() const { return m_held.size(); }
  std::atomic<int> mx_calls{0};

 private:
  testing::FakeResolver& m_inner;
  bool m_open = true;
  std::vector<std::tuple<dns::DomainName, dns::RrType, Callback>> m_held;
};

class Service : public ::testing::Test {
 protected:
  event::Loop loop;
  testing::FakeResolver fake;
  GatedResolver dns{fake};
  testing::FakeFetcher https;
  testing::MemoryPolicyCache store;
  testing::FakeClock clock;
  event::InlineOffload offload;
  sts::StsDiscovery sts{
      dns, https, store, offload, clock, util::null_logger(), sts::StsOptions{300s}};
  dane::DaneLookup dane{dns, util::null_logger()};
  policy::PolicyEngine engine{dns, dane, sts, clock, util::null_logger(), {}};

  Service() {
    fake.set_default(dns::RrType::Mx,
                     testing::mx_answer({{10, "mx.example.test"}}, dns::Security::Insecure, 600));
    fake.set_default(dns::RrType::Txt, testing::nxdomain());
  }

  static policy::DecideRequest request(const std::string& domain) {
    return policy::DecideRequest{*dns::DomainName::parse(domain), false};
  }

  /// Runs the loop until `done()` or 10 s; false on the time limit.
  bool run_until(const std::function<bool()>& done) {
    bool late = false;
    const auto timer = loop.after(10s, [&] { late = true; });
    loop.run_until([&] { return done() || late; });
    loop.cancel(timer);
    return !late;
  }

  /// Calls decide() and runs the loop until the answer came.
  DecisionPtr ask(DecisionService& svc, const std::string& domain) {
    DecisionPtr got;
    svc.decide(request(domain), [&got](DecisionPtr d) { got = std::move(d); });
    if (!run_until([&] { return got != nullptr; })) return nullptr;
    return got;
  }

  DecisionService make(ServiceOptions options = {}) {
    return DecisionService{engine, loop, clock, util::null_logger(), std::move(options)};
  }
};

TEST_F(Service, SecondQueryIsAnsweredFromMemory) {
  auto svc = make();
  const auto first = ask(svc, "example.test");
  ASSERT_TRUE(first);
  EXPECT_EQ(first->action, policy::Action::Opportunistic);
  const auto second = ask(svc, "example.test");
  EXPECT_EQ(second, first);  // the same object: no new lookup
  EXPECT_EQ(dns.mx_calls.load(), 1);
  const auto s = svc.stats();
  EXPECT_EQ(s.hits, 1u);
  EXPECT_EQ(s.misses, 1u);
  EXPECT_EQ(s.cached, 1u);
}

TEST_F(Service, DecideFromMemoryAnswersHitsOnly) {
  auto svc = make();
  EXPECT_FALSE(svc.decide_from_memory(request("example.test")));  // a miss starts nothing
  EXPECT_EQ(loop.pending(), 0u);
  const auto first = ask(svc, "example.test");
  ASSERT_TRUE(first);
  EXPECT_EQ(svc.decide_from_memory(request("example.test")), first);
  const auto s = svc.stats();
  EXPECT_EQ(s.hits, 1u);    // the decide_from_memory() hit
  EXPECT_EQ(s.misses, 1u);  // ask()
}

TEST_F(Service, ConcurrentQueriesForOneDomainShareOneLookup) {
  auto svc = make();
  dns.close();
  std::vector<DecisionPtr> got;
  for (int i = 0; i < 20; ++i) {
    svc.decide(request("example.test"), [&](DecisionPtr d) { got.push_back(std::move(d)); });
  }
  ASSERT_TRUE(run_until([&] { return svc.stats().joined == 19; }));
  EXPECT_EQ(dns.held(), 1u);
  dns.open();
  ASSERT_TRUE(run_until([&] { return got.size() == 20; }));
  EXPECT_EQ(dns.mx_calls.load(), 1);
  for (const auto& d : got) EXPECT_EQ(d, got.front());
}

TEST_F(Service, DeferIsNotCached) {
  fake.set("fail.test", dns::RrType::Mx, testing::dns_error(Errc::DnsServfail));
  auto svc = make();
  EXPECT_EQ(ask(svc, "fail.test")->action, policy::Action::Defer);
  EXPECT_EQ(ask(svc, "fail.test")->action, policy::Action::Defer);
  EXPECT_EQ(dns.mx_calls.load(), 2);
  EXPECT_EQ(svc.stats().cached, 0u);
}

TEST_F(Service, DecisionExpiresWithItsTtl) {
  auto svc = make();
  const auto first = ask(svc, "example.test");
  ASSERT_TRUE(first);
  ASSERT_EQ(first->ttl, 600s);
  clock.advance(599s);
  EXPECT_EQ(ask(svc, "example.test"), first);
  clock.advance(1s);
  EXPECT_NE(ask(svc, "example.test"), first);
  EXPECT_EQ(dns.mx_calls.load(), 2);
}

TEST_F(Service, CachedByActionCountsFreshDecisionsOnly) {
  auto svc = make();
  EXPECT_TRUE(svc.cached_by_action().empty());
  ASSERT_TRUE(ask(svc, "a.example.test"));
  ASSERT_TRUE(ask(svc, "b.example.test"));
  using Counts = std::vector<std::pair<policy::Action, std::size_t>>;
  EXPECT_EQ(svc.cached_by_action(), (Counts{{policy::Action::Opportunistic, 2}}));
  clock.advance(600s);  // their TTL: expired, though still in memory
  EXPECT_TRUE(svc.cached_by_action().empty());
}

TEST_F(Service, ForgetDropsCachedDecisions) {
  auto svc = make();
  ASSERT_TRUE(ask(svc, "example.test"));
  svc.forget("example.test");
  EXPECT_FALSE(svc.cached(request("example.test")));
  ASSERT_TRUE(ask(svc, "example.test"));
  EXPECT_EQ(dns.mx_calls.load(), 2);
}

// A purge or refresh while a lookup is in flight: that lookup may have read the policy just
// forgotten, so its decision answers its waiters but is not kept (else the old decision
// would outlive the purge).
TEST_F(Service, ForgetDuringALookupKeepsItsDecisionOutOfMemory) {
  auto svc = make();
  dns.close();  // the lookup starts and waits at the gate
  DecisionPtr got;
  svc.decide(request("example.test"), [&got](DecisionPtr d) { got = std::move(d); });
  ASSERT_TRUE(run_until([&] { return dns.held() == 1; }));
  svc.forget("example.test");
  dns.open();
  ASSERT_TRUE(run_until([&] { return got != nullptr; }));
  EXPECT_FALSE(svc.cached(request("example.test")));
  EXPECT_EQ(svc.stats().cached, 0u);
  ASSERT_TRUE(ask(svc, "example.test"));  // a lookup after the forget is kept
  EXPECT_TRUE(svc.cached(request("example.test")));
}

// Metrics (docs/operations.md): every answer counted once by action and source, hits
// included; the counters given in the options outlive the service (a reload).
TEST_F(Service, AnswersCountedByActionAndSourceAcrossServices) {
  const auto counters = std::make_shared<ServiceCounters>();
  ServiceOptions options;
  options.counters = counters;
  options.max_in_flight = 1;
  const auto opportunistic = answer_kind(policy::Action::Opportunistic, policy::Source::None);
  const auto defer = answer_kind(policy::Action::Defer, policy::Source::None);
  {
    auto svc = make(options);
    ASSERT_TRUE(ask(svc, "example.test"));                // a lookup
    ASSERT_TRUE(ask(svc, "example.test"));                // from memory
    EXPECT_TRUE(svc.decide_from_memory("example.test"));  // from memory, by name
    const auto s = svc.stats();
    EXPECT_EQ(s.answered[opportunistic], 3u);
    EXPECT_EQ(s.hits, 2u);
    dns.close();
    svc.decide(request("held.test"), [](DecisionPtr) {});
    ASSERT_TRUE(ask(svc, "refused.test"));  // overload defer
    EXPECT_EQ(svc.stats().answered[defer], 1u);
    dns.open();
    ASSERT_TRUE(run_until([&] { return svc.running() == 0; }));
    EXPECT_EQ(svc.stats().answered[opportunistic], 4u);
  }
  auto next = make(options);  // the next generation goes on counting
  ASSERT_TRUE(ask(next, "other.test"));
  const auto s = next.stats();
  EXPECT_EQ(s.answered[opportunistic], 5u);
  EXPECT_EQ(s.answered[defer], 1u);
  EXPECT_EQ(s.hits, 2u);
  EXPECT_EQ(s.misses, 3u);
  EXPECT_EQ(s.overloaded, 1u);
  std::uint64_t total = 0;
  for (const auto n : s.answered) total += n;
  EXPECT_EQ(total, 6u);
}

TEST_F(Service, TooManyLookupsInFlightDeferAtOnce) {
  ServiceOptions options;
  options.max_in_flight = 2;
  auto svc = make(options);
  dns.close();
  int answered = 0;
  svc.decide(request("a.test"), [&](DecisionPtr) { ++answered; });
  svc.decide(request("b.test"), [&](DecisionPtr) { ++answered; });
  const auto refused = ask(svc, "c.test");
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->action, policy::Action::Defer);
  EXPECT_TRUE(refused->postfix.starts_with("TEMP ")) << refused->postfix;
  EXPECT_NE(refused->reason.find("overloaded"), std::string::npos) << refused->reason;
  EXPECT_EQ(svc.stats().overloaded, 1u);
  EXPECT_EQ(svc.stats().in_flight, 2u);
  EXPECT_EQ(answered, 0);
  dns.open();
  ASSERT_TRUE(run_until([&] { return answered == 2; }));
  EXPECT_EQ(svc.stats().in_flight, 0u);
}

// No thread per lookup: thousands wait at once, and every one is answered.
TEST_F(Service, ThousandsOfLookupsInFlightAtOnce) {
  auto svc = make();
  dns.close();
  constexpr int n = 5000;
  int answered = 0;
  for (int i = 0; i < n; ++i) {
    svc.decide(request("d" + std::to_string(i) + ".test"), [&](DecisionPtr d) {
      if (d && d->action == policy::Action::Opportunistic) ++answered;
    });
  }
  ASSERT_TRUE(run_until([&] { return dns.held() == static_cast<std::size_t>(n); }));
  EXPECT_EQ(svc.stats().in_flight, static_cast<std::size_t>(n));
  EXPECT_EQ(svc.running(), static_cast<std::size_t>(n));
  dns.open();
  ASSERT_TRUE(run_until([&] { return answered == n; }));
  EXPECT_EQ(svc.running(), 0u);
}

// SPEC §5: a decision that outlives limits.decision_deadline answers a defer that says so;
// the lookup goes on and its decision serves the queries after it.
TEST_F(Service, DeadlineAnswersDeferAndTheLookupGoesOn) {
  ServiceOptions options;
  options.deadline = 50ms;
  auto svc = make(options);
  dns.close();
  const auto late = ask(svc, "slow.test");
  ASSERT_TRUE(late);
  EXPECT_EQ(late->action, policy::Action::Defer);
  EXPECT_TRUE(late->postfix.starts_with("TEMP ")) << late->postfix;
  EXPECT_NE(late->reason.find("deadline"), std::string::npos) << late->reason;
  EXPECT_EQ(svc.stats().deadlines, 1u);
  EXPECT_EQ(svc.running(), 1u);
  dns.open();
  ASSERT_TRUE(run_until([&] { return svc.running() == 0; }));
  const auto kept = svc.cached(request("slow.test"));
  ASSERT_TRUE(kept);
  EXPECT_EQ(kept->action, policy::Action::Opportunistic);
}

// A waiter that joins a flight after its deadline fired gets a deadline of its own.
TEST_F(Service, LateJoinerGetsItsOwnDeadline) {
  ServiceOptions options;
  options.deadline = 50ms;
  auto svc = make(options);
  dns.close();
  ASSERT_TRUE(ask(svc, "slow.test"));
  const auto second = ask(svc, "slow.test");
  ASSERT_TRUE(second);
  EXPECT_EQ(second->action, policy::Action::Defer);
  EXPECT_EQ(svc.stats().deadlines, 2u);
  EXPECT_EQ(dns.mx_calls.load(), 1);  // still one lookup
  dns.open();
  ASSERT_TRUE(run_until([&] { return svc.running() == 0; }));
}

TEST_F(Service, StopAnswersEveryWaiterOnceAndRefusesNewLookups) {
  auto svc = make();
  dns.close();
  std::vector<DecisionPtr> got;
  for (const char* d : {"a.test", "b.test", "a.test"}) {
    svc.decide(request(d), [&](DecisionPtr p) { got.push_back(std::move(p)); });
  }
  ASSERT_TRUE(run_until([&] { return dns.held() == 2; }));
  svc.stop();
  ASSERT_EQ(got.size(), 3u);
  for (const auto& d : got) {
    EXPECT_EQ(d->action, policy::Action::Defer);
    EXPECT_NE(d->reason.find("shutting down"), std::string::npos) << d->reason;
  }
  const auto after = ask(svc, "c.test");
  ASSERT_TRUE(after);
  EXPECT_EQ(after->action, policy::Action::Defer);
  EXPECT_EQ(dns.mx_calls.load(), 2);  // c.test started nothing
  // The lookups still run until they end (the daemon cancels them); nobody hears twice.
  EXPECT_EQ(svc.running(), 2u);
  dns.cancel_all();
  ASSERT_TRUE(run_until([&] { return svc.running() == 0; }));
  EXPECT_EQ(got.size(), 3u);
}

// Callers on other threads (the server's): decide() hands the request to the loop and the
// answer comes back on the loop's thread. Run under TSan in CI.
TEST_F(Service, CallersOnOtherThreads) {
  auto svc = make();
  std::atomic<bool> quit{false};
  std::thread loop_thread{[&] { loop.run_until([&] { return quit.load(); }); }};
  std::vector<std::thread> callers;
  std::atomic<int> answered{0};
  for (int t = 0; t < 4; ++t) {
    callers.emplace_back([&, t] {
      for (int i = 0; i < 50; ++i) {
        std::promise<DecisionPtr> p;
        auto f = p.get_future();
        svc.decide(request("d" + std::to_string(i % 10) + ".test"),
                   [&p](DecisionPtr d) { p.set_value(std::move(d)); });
        if (f.wait_for(10s) == std::future_status::ready && f.get()) ++answered;
        if (i % 7 == t) svc.forget("");
      }
    });
  }
  for (auto& c : callers) c.join();
  quit = true;
  loop.post([] {});
  loop_thread.join();
  EXPECT_EQ(answered.load(), 200);
  EXPECT_LE(svc.stats().misses, 200u);
}

}  // namespace
}  // namespace tlspolicy::service
