// SPDX-License-Identifier: Apache-2.0
//
// DecisionService: memory hits, single flight, no caching of defer, TTL
// expiry, overload and shutdown, with a fake resolver that can hold lookups.
#include "tlspolicy/service/decision_service.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <future>
#include <mutex>
#include <vector>

#include <gtest/gtest.h>

#include "support/fake_clock.hpp"
#include "support/fakes.hpp"

namespace tlspolicy::service {
namespace {

using namespace std::chrono_literals;

// Wraps FakeResolver; MX lookups wait until open() when the gate is closed.
class GatedResolver final : public dns::Resolver {
 public:
  explicit GatedResolver(const dns::Resolver& inner) : m_inner(inner) {}
  [[nodiscard]] Result<dns::DnsAnswer> lookup(const dns::DomainName& name,
                                              dns::RrType type) const override {
    if (type == dns::RrType::Mx) {
      ++mx_calls;
      std::unique_lock lock{m_mu};
      m_cv.wait(lock, [this] { return m_open; });
    }
    return m_inner.lookup(name, type);
  }
  void close() {
    const std::lock_guard lock{m_mu};
    m_open = false;
  }
  void open() {
    {
      const std::lock_guard lock{m_mu};
      m_open = true;
    }
    m_cv.notify_all();
  }
  mutable std::atomic<int> mx_calls{0};

 private:
  const dns::Resolver& m_inner;
  mutable std::mutex m_mu;
  mutable std::condition_variable m_cv;
  bool m_open = true;
};

class Service : public ::testing::Test {
 protected:
  testing::FakeResolver fake;
  GatedResolver dns{fake};
  testing::FakeFetcher https;
  testing::MemoryPolicyCache store;
  testing::FakeClock clock;
  sts::StsDiscovery sts{dns, https, store, clock, util::null_logger(), sts::StsOptions{300s}};
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

  // Calls decide() and waits (bounded) for the answer.
  static DecisionPtr ask(DecisionService& svc, const std::string& domain) {
    std::promise<DecisionPtr> p;
    auto f = p.get_future();
    svc.decide(request(domain), [&p](DecisionPtr d) { p.set_value(std::move(d)); });
    if (f.wait_for(10s) != std::future_status::ready) return nullptr;
    return f.get();
  }
};

TEST_F(Service, SecondQueryIsAnsweredFromMemory) {
  DecisionService svc{engine, clock, util::null_logger(), {}};
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
  DecisionService svc{engine, clock, util::null_logger(), {}};
  EXPECT_FALSE(svc.decide_from_memory(request("example.test")));  // a miss starts nothing
  EXPECT_EQ(dns.mx_calls.load(), 0);
  const auto first = ask(svc, "example.test");
  ASSERT_TRUE(first);
  EXPECT_EQ(svc.decide_from_memory(request("example.test")), first);
  const auto s = svc.stats();
  EXPECT_EQ(s.hits, 1u);    // the decide_from_memory() hit
  EXPECT_EQ(s.misses, 1u);  // ask()
}

TEST_F(Service, ConcurrentQueriesForOneDomainShareOneLookup) {
  DecisionService svc{engine, clock, util::null_logger(), {}};
  dns.close();
  std::mutex mu;
  std::vector<DecisionPtr> got;
  std::condition_variable cv;
  for (int i = 0; i < 20; ++i) {
    svc.decide(request("example.test"), [&](DecisionPtr d) {
      const std::lock_guard lock{mu};
      got.push_back(std::move(d));
      cv.notify_all();
    });
  }
  EXPECT_EQ(svc.stats().joined, 19u);
  dns.open();
  std::unique_lock lock{mu};
  ASSERT_TRUE(cv.wait_for(lock, 10s, [&] { return got.size() == 20; }));
  EXPECT_EQ(dns.mx_calls.load(), 1);
  for (const auto& d : got) EXPECT_EQ(d, got.front());
}

TEST_F(Service, DeferIsNotCached) {
  fake.set("fail.test", dns::RrType::Mx, testing::dns_error(Errc::DnsServfail));
  DecisionService svc{engine, clock, util::null_logger(), {}};
  EXPECT_EQ(ask(svc, "fail.test")->action, policy::Action::Defer);
  EXPECT_EQ(ask(svc, "fail.test")->action, policy::Action::Defer);
  EXPECT_EQ(dns.mx_calls.load(), 2);
  EXPECT_EQ(svc.stats().cached, 0u);
}

TEST_F(Service, DecisionExpiresWithItsTtl) {
  DecisionService svc{engine, clock, util::null_logger(), {}};
  const auto first = ask(svc, "example.test");
  ASSERT_TRUE(first);
  ASSERT_EQ(first->ttl, 600s);
  clock.advance(599s);
  EXPECT_EQ(ask(svc, "example.test"), first);
  clock.advance(1s);
  EXPECT_NE(ask(svc, "example.test"), first);
  EXPECT_EQ(dns.mx_calls.load(), 2);
}

TEST_F(Service, ForgetDropsCachedDecisions) {
  DecisionService svc{engine, clock, util::null_logger(), {}};
  ASSERT_TRUE(ask(svc, "example.test"));
  svc.forget("example.test");
  EXPECT_FALSE(svc.cached(request("example.test")));
  ASSERT_TRUE(ask(svc, "example.test"));
  EXPECT_EQ(dns.mx_calls.load(), 2);
}

// A purge or refresh while a lookup is in flight: that lookup may have read
// the policy just forgotten, so its decision answers its waiters but is not
// kept (else the old decision would outlive the purge).
TEST_F(Service, ForgetDuringALookupKeepsItsDecisionOutOfMemory) {
  DecisionService svc{engine, clock, util::null_logger(), {}};
  dns.close();  // the lookup starts and waits at the gate
  std::promise<DecisionPtr> p;
  auto f = p.get_future();
  svc.decide(request("example.test"), [&p](DecisionPtr d) { p.set_value(std::move(d)); });
  svc.forget("example.test");
  dns.open();
  ASSERT_EQ(f.wait_for(10s), std::future_status::ready);
  EXPECT_TRUE(f.get());
  EXPECT_FALSE(svc.cached(request("example.test")));
  EXPECT_EQ(svc.stats().cached, 0u);
  ASSERT_TRUE(ask(svc, "example.test"));  // a lookup after the forget is kept
  EXPECT_TRUE(svc.cached(request("example.test")));
}

TEST_F(Service, TooManyPendingLookupsDeferAtOnce) {
  DecisionService svc{engine, clock, util::null_logger(), {1, 1, 100, {}}};
  dns.close();
  std::atomic<int> answered{0};
  svc.decide(request("a.test"), [&](DecisionPtr) { ++answered; });  // runs, held at the gate
  // Wait until the worker holds a.test, so b.test stays queued.
  for (int i = 0; i < 1000 && dns.mx_calls.load() == 0; ++i) std::this_thread::sleep_for(1ms);
  svc.decide(request("b.test"), [&](DecisionPtr) { ++answered; });  // queued
  const auto refused = ask(svc, "c.test");
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->action, policy::Action::Defer);
  EXPECT_TRUE(refused->postfix.starts_with("TEMP ")) << refused->postfix;
  EXPECT_EQ(svc.stats().overloaded, 1u);
  dns.open();
}

TEST_F(Service, ShutdownAnswersEveryQueuedLookupOnce) {
  std::atomic<int> answers{0};
  {
    DecisionService svc{engine, clock, util::null_logger(), {1, 10, 100, {}}};
    dns.close();
    svc.decide(request("a.test"), [&](DecisionPtr) { ++answers; });
    for (int i = 0; i < 1000 && dns.mx_calls.load() == 0; ++i) std::this_thread::sleep_for(1ms);
    for (const char* d : {"b.test", "c.test", "d.test"}) {
      svc.decide(request(d), [&](DecisionPtr) { ++answers; });
    }
    dns.open();  // the destructor finds the rest queued, running or done
  }
  // Decided or refused at shutdown, every caller hears back exactly once.
  EXPECT_EQ(answers.load(), 4);
}

// The daemon's callbacks keep the state they started with (service included) alive, and a
// SIGHUP swaps that state: when a callback holds the last reference, the service is
// destroyed on its own worker thread. That worker must not join itself (std::system_error
// "Resource deadlock avoided" from a destructor: std::terminate, the daemon aborted).
TEST_F(Service, DestroyedByItsOwnCallbackOnAWorker) {
  dns.close();
  auto svc =
      std::make_shared<DecisionService>(engine, clock, util::null_logger(), ServiceOptions{});
  const std::weak_ptr<DecisionService> weak = svc;
  std::promise<void> called;
  auto f = called.get_future();
  svc->decide(request("example.test"),
              [keep = svc, &called](const DecisionPtr&) { called.set_value(); });
  svc.reset();  // the callback's copy is the last reference now
  dns.open();
  ASSERT_EQ(f.wait_for(10s), std::future_status::ready);
  for (int i = 0; i < 10000 && !weak.expired(); ++i) std::this_thread::sleep_for(1ms);
  EXPECT_TRUE(weak.expired());
}

}  // namespace
}  // namespace tlspolicy::service
