// SPDX-License-Identifier: Apache-2.0
//
// Both dns::Resolver backends against the real integration test world
// (tests/integration/lib.sh world_start: NSD serving the signed zones and
// unsigned.test, and a validating Unbound): the "validate" backend
// (src/dns/unbound_resolver.cpp, libunbound forwarding to the world's Unbound
// with the world's trust anchor) and the "trust-ad" backend
// (src/dns/ldns_resolver.cpp, reading the Unbound's AD bit) run the same
// checks (TEST_P over the mode); the cases where they differ by design
// (bogus data, construction errors, timeouts of libunbound) are separate.
// The world is started once per test process, on first use, and stopped at
// exit. Skips when the world's programs are missing.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "tlspolicy/dns/resolver.hpp"
#include "tlspolicy/event/loop.hpp"
#include "tlspolicy/event/task.hpp"

#include "support/testing.hpp"
#include <sys/wait.h>
#include <unistd.h>

namespace tlspolicy::dns {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

constexpr auto k_timeout = 300ms;            // the cases that must time out
constexpr auto k_generous_timeout = 5000ms;  // everything else (loaded CI machines)
constexpr auto k_timeout_bound = 3s;         // "within the configured timeout", with slack

std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (const char c : s) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}

/// Runs `command` through sh; its exit status and combined output.
std::pair<int, std::string> run(const std::string& command) {
  std::string output;
  FILE* pipe = ::popen((command + " 2>&1").c_str(), "r");
  if (pipe == nullptr) return {-1, "popen failed"};
  char buf[4096];
  while (const std::size_t n = std::fread(buf, 1, sizeof buf, pipe)) output.append(buf, n);
  const int status = ::pclose(pipe);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, output};
}

/// The test world, started once per process by the first suite that needs
/// it and stopped by the global environment at the end.
class World {
 public:
  static World& instance() {
    static World world;
    return world;
  }

  /// Starts the world unless it is up; "" or why it cannot run (then
  /// `skipped()` tells whether that is a missing prerequisite).
  const std::string& start() {
    if (m_tried) return m_error;
    m_tried = true;
    const fs::path lib = fs::path{TLSPOLICY_SOURCE_DIR} / "tests/integration/lib.sh";
    const auto [missing_rc, missing] = run(shell_quote(lib.string()) + " world_missing_prereqs");
    if (missing_rc != 0) {
      m_skipped = true;
      m_error = "integration world needs: " + missing;
      return m_error;
    }
    std::string templ = (fs::temp_directory_path() / "tlspolicy-world-XXXXXX").string();
    if (::mkdtemp(templ.data()) == nullptr) {
      m_error = "mkdtemp failed";
      return m_error;
    }
    m_dir = templ;
    const auto [rc, output] =
        run(shell_quote(lib.string()) + " world_start " + shell_quote(m_dir.string()));
    m_started = true;  // world_stop also cleans up a half-started world
    if (rc != 0) {
      m_error = "world_start failed (" + std::to_string(rc) + "):\n" + output;
      return m_error;
    }
    read_env(m_dir / "env.sh");
    return m_error;
  }

  void stop() {
    if (!m_started) return;
    m_started = false;
    const fs::path lib = fs::path{TLSPOLICY_SOURCE_DIR} / "tests/integration/lib.sh";
    run(shell_quote(lib.string()) + " world_stop " + shell_quote(m_dir.string()));
    std::error_code ec;
    if (std::getenv("TLSPOLICY_KEEP_WORLD") == nullptr) fs::remove_all(m_dir, ec);
  }

  [[nodiscard]] bool skipped() const { return m_skipped; }
  [[nodiscard]] const fs::path& dir() const { return m_dir; }

  /// A value exported by env.sh ("" when absent).
  [[nodiscard]] std::string env(const std::string& key) const {
    const auto it = m_env.find(key);
    return it != m_env.end() ? it->second : std::string{};
  }
  [[nodiscard]] std::uint16_t port(const std::string& key) const {
    return static_cast<std::uint16_t>(std::stoul(env(key)));
  }

 private:
  /// env.sh holds `export K=V [K=V...]` lines with %q-quoted values; the
  /// values used here (ports, paths under a mkdtemp dir) need no unquoting.
  void read_env(const fs::path& file) {
    std::ifstream in{file};
    for (std::string line; std::getline(in, line);) {
      if (!line.starts_with("export ")) continue;
      std::istringstream words{line.substr(7)};
      for (std::string word; words >> word;) {
        const auto eq = word.find('=');
        if (eq != std::string::npos) m_env[word.substr(0, eq)] = word.substr(eq + 1);
      }
    }
  }

  bool m_tried = false;
  bool m_started = false;
  bool m_skipped = false;
  std::string m_error;
  fs::path m_dir;
  std::map<std::string, std::string> m_env;
};

class WorldEnvironment : public ::testing::Environment {
 public:
  void TearDown() override { World::instance().stop(); }
};

[[maybe_unused]] ::testing::Environment* const g_world_environment =
    ::testing::AddGlobalTestEnvironment(new WorldEnvironment);

DomainName name(std::string_view text) { return tlspolicy::testing::query_name(text); }

/// Starts the world in SetUp (once per process); skips or fails the test
/// when it cannot run.
class WorldTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { World::instance().start(); }

  void SetUp() override {
    const World& world = World::instance();
    const std::string& error = World::instance().start();
    if (world.skipped()) GTEST_SKIP() << error;
    ASSERT_TRUE(error.empty()) << error;
  }

  static const World& world() { return World::instance(); }

  static ValidatingResolverOptions validate_options() {
    ValidatingResolverOptions options;
    options.servers = {ServerAddress{"127.0.0.1", world().port("UNBOUND_PORT")}};
    options.trust_anchor = world().env("TRUST_ANCHOR");
    options.timeout = k_generous_timeout;
    return options;
  }

  std::unique_ptr<Resolver> make_validate(const ValidatingResolverOptions& options) {
    auto r = make_validating_resolver(m_loop, options);
    EXPECT_TRUE(r) << r.error().detail;
    return r ? std::move(*r) : nullptr;
  }

  Result<DnsAnswer> lookup(Resolver& r, const char* qname, RrType type) {
    return event::sync_wait(dns::lookup(r, name(qname), type), &m_loop);
  }

  event::Loop m_loop;  ///< before the resolvers, which use it
};

enum class Mode { TrustAd, Validate };

std::string mode_name(const ::testing::TestParamInfo<Mode>& info) {
  return info.param == Mode::TrustAd ? "TrustAd" : "Validate";
}

/// The same world queries through either backend.
class BothModes : public WorldTest, public ::testing::WithParamInterface<Mode> {
 protected:
  void SetUp() override {
    WorldTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    if (GetParam() == Mode::Validate) {
      m_resolver = make_validate(validate_options());
    } else {
      ResolverOptions options;
      options.servers = {ServerAddress{"127.0.0.1", world().port("UNBOUND_PORT")}};
      options.timeout = k_generous_timeout;
      options.attempts = 1;
      auto r = make_trust_ad_resolver(m_loop, options);
      ASSERT_TRUE(r) << r.error().detail;
      m_resolver = std::move(*r);
    }
    ASSERT_NE(m_resolver, nullptr);
  }

  Result<DnsAnswer> lookup(const char* qname, RrType type) {
    return WorldTest::lookup(*m_resolver, qname, type);
  }

  std::unique_ptr<Resolver> m_resolver;
};

INSTANTIATE_TEST_SUITE_P(World, BothModes, ::testing::Values(Mode::TrustAd, Mode::Validate),
                         mode_name);

TEST_P(BothModes, SecureMx) {
  const auto got = lookup("enforce.mta.test", RrType::Mx);
  ASSERT_TRUE(got) << got.error().detail;
  EXPECT_EQ(got->qname, "enforce.mta.test");
  EXPECT_EQ(got->qtype, RrType::Mx);
  EXPECT_EQ(got->outcome, Outcome::Data);
  EXPECT_EQ(got->security, Security::Secure) << got->why;
  EXPECT_GT(got->ttl, 0s);
  EXPECT_LE(got->ttl, 60s);
  const std::vector<MxRecord> want{{10, "mx1.enforce.mta.test"}};
  EXPECT_EQ(got->mx, want);
  EXPECT_EQ(got->canonical_name, "");
}

TEST_P(BothModes, SecureTxt) {
  const auto got = lookup("_mta-sts.enforce.mta.test", RrType::Txt);
  ASSERT_TRUE(got) << got.error().detail;
  EXPECT_EQ(got->outcome, Outcome::Data);
  EXPECT_EQ(got->security, Security::Secure) << got->why;
  ASSERT_EQ(got->txt.size(), 1u);
  EXPECT_EQ(got->txt[0].joined(), "v=STSv1; id=enforce1;");
}

TEST_P(BothModes, SecureA) {
  const auto got = lookup("mx1.enforce.mta.test", RrType::A);
  ASSERT_TRUE(got) << got.error().detail;
  EXPECT_EQ(got->outcome, Outcome::Data);
  EXPECT_EQ(got->security, Security::Secure) << got->why;
  EXPECT_EQ(got->addresses, std::vector<std::string>{"127.0.0.1"});
}

TEST_P(BothModes, UnsignedZoneIsInsecure) {
  const auto got = lookup("insecure.unsigned.test", RrType::Mx);
  ASSERT_TRUE(got) << got.error().detail;
  EXPECT_EQ(got->outcome, Outcome::Data);
  EXPECT_EQ(got->security, Security::Insecure) << got->why;
  const std::vector<MxRecord> want{{10, "mx1.insecure.unsigned.test"}};
  EXPECT_EQ(got->mx, want);
}

TEST_P(BothModes, NxDomainIsSecureWithNegativeTtl) {
  const auto got = lookup("no-such-name.mta.test", RrType::A);
  ASSERT_TRUE(got) << got.error().detail;
  EXPECT_EQ(got->outcome, Outcome::NxDomain);
  // RFC 4035 §5.4: the NSEC proof of non-existence validates.
  EXPECT_EQ(got->security, Security::Secure) << got->why;
  EXPECT_TRUE(got->addresses.empty());
  EXPECT_GT(got->ttl, 0s);  // RFC 2308 §5: from the SOA
  EXPECT_LE(got->ttl, 60s);
}

TEST_P(BothModes, NoDataIsSecure) {
  const auto got = lookup("mx1.enforce.mta.test", RrType::Aaaa);
  ASSERT_TRUE(got) << got.error().detail;
  EXPECT_EQ(got->outcome, Outcome::NoData);
  EXPECT_EQ(got->security, Security::Secure) << got->why;
  EXPECT_TRUE(got->addresses.empty());
  EXPECT_GT(got->ttl, 0s);
}

TEST_P(BothModes, CnameChainGivesCanonicalName) {
  const auto got = lookup("_mta-sts.cname.mta.test", RrType::Txt);
  ASSERT_TRUE(got) << got.error().detail;
  EXPECT_EQ(got->outcome, Outcome::Data);
  EXPECT_EQ(got->security, Security::Secure) << got->why;
  EXPECT_EQ(got->canonical_name, "_mta-sts.target.mta.test");
  ASSERT_EQ(got->txt.size(), 1u);
  EXPECT_EQ(got->txt[0].joined(), "v=STSv1; id=cname1;");
}

TEST_P(BothModes, BogusMx) {
  const auto got = lookup("bogus.mta.test", RrType::Mx);
  if (GetParam() == Mode::TrustAd) {
    // RFC 4035 §5.5: the validating resolver answers SERVFAIL for bogus data.
    ASSERT_FALSE(got) << "security " << to_string(got->security);
    EXPECT_EQ(got.error().code, Errc::DnsServfail) << got.error().detail;
    EXPECT_EQ(got.error().retry, Retry::Transient);
  } else {
    // libunbound forwards with CD set, gets the tampered RRset, and
    // validates it itself: a Bogus verdict with the reason.
    ASSERT_TRUE(got) << got.error().detail;
    EXPECT_EQ(got->security, Security::Bogus);
    EXPECT_FALSE(got->why.empty());
    EXPECT_EQ(got->ttl, 0s);
    // RFC 6698 §4.1: bogus data is never handed out.
    EXPECT_EQ(got->outcome, Outcome::NoData);
    EXPECT_TRUE(got->mx.empty());
    std::cout << "bogus.mta.test MX via libunbound: " << got->why << "\n";
  }
}

/// The validate backend only.
class ValidatingResolverWorld : public WorldTest {};

TEST_F(ValidatingResolverWorld, ClosedForwarderPortTimesOutWithinTheTimeout) {
  ValidatingResolverOptions options = validate_options();
  options.servers = {ServerAddress{"127.0.0.1", world().port("CLOSED_PORT")}};
  options.timeout = k_timeout;
  auto resolver = make_validate(options);
  ASSERT_NE(resolver, nullptr);
  const auto started = std::chrono::steady_clock::now();
  const auto got = lookup(*resolver, "enforce.mta.test", RrType::Mx);
  const auto elapsed = std::chrono::steady_clock::now() - started;
  ASSERT_FALSE(got) << "security " << to_string(got->security);
  EXPECT_EQ(got.error().code, Errc::DnsTimeout) << got.error().detail;
  EXPECT_EQ(got.error().retry, Retry::Transient);
  EXPECT_LT(elapsed, k_timeout_bound);
  EXPECT_GE(elapsed, k_timeout - 10ms);
}

// Validate mode runs lookups at once too: libunbound's fd is watched by the loop, and its
// answers come back as they arrive, not one after another.
TEST_F(ValidatingResolverWorld, ManyLookupsAtOnce) {
  auto resolver = make_validate(validate_options());
  ASSERT_NE(resolver, nullptr);
  const char* names[] = {"enforce.mta.test", "testing.mta.test", "none.mta.test",
                         "insecure.unsigned.test"};
  constexpr std::size_t k_lookups = 40;
  std::size_t ended = 0;
  std::size_t ok = 0;
  for (std::size_t i = 0; i < k_lookups; ++i) {
    resolver->lookup(name(names[i % 4]), RrType::Mx, [&](Result<DnsAnswer> got) {
      ++ended;
      if (got && got->outcome == Outcome::Data && got->mx.size() == 1) ++ok;
    });
  }
  EXPECT_EQ(ended, 0U);  // nothing answers inline
  m_loop.run_until([&] { return ended == k_lookups; });
  EXPECT_EQ(ok, k_lookups);
}

// cancel_all() ends every lookup in flight at once, with an error (daemon shutdown).
TEST_F(ValidatingResolverWorld, CancelAllEndsLookupsInFlight) {
  ValidatingResolverOptions options = validate_options();
  options.servers = {ServerAddress{"127.0.0.1", world().port("CLOSED_PORT")}};
  options.timeout = 60s;
  auto resolver = make_validate(options);
  ASSERT_NE(resolver, nullptr);
  std::vector<Result<DnsAnswer>> ended;
  for (int i = 0; i < 3; ++i) {
    resolver->lookup(name("enforce.mta.test"), RrType::Mx,
                     [&](Result<DnsAnswer> got) { ended.push_back(std::move(got)); });
  }
  m_loop.after(100ms, [&] { resolver->cancel_all(); });
  m_loop.run_until([&] { return ended.size() == 3; });
  for (const auto& got : ended) EXPECT_FALSE(got);
}

TEST(ValidatingResolverOptions, UnreadableTrustAnchorIsInvalidArgument) {
  event::Loop loop;
  ValidatingResolverOptions options;
  options.servers = {ServerAddress{"127.0.0.1", 53}};
  options.trust_anchor = "/nonexistent/tlspolicy/root.key";
  const auto got = make_validating_resolver(loop, options);
  ASSERT_FALSE(got);
  EXPECT_EQ(got.error().code, Errc::InvalidArgument);
  EXPECT_NE(got.error().detail.find("/nonexistent/tlspolicy/root.key"), std::string::npos)
      << got.error().detail;
}

TEST(ValidatingResolverOptions, UnparsableTrustAnchorIsInvalidArgument) {
  const fs::path file =
      fs::temp_directory_path() / ("tlspolicy-bad-ta-" + std::to_string(::getpid()) + ".key");
  {
    std::ofstream out{file};
    out << "this is not a DS record\n";
  }
  event::Loop loop;
  ValidatingResolverOptions options;
  options.servers = {ServerAddress{"127.0.0.1", 53}};
  options.trust_anchor = file.string();
  const auto got = make_validating_resolver(loop, options);
  fs::remove(file);
  ASSERT_FALSE(got);
  EXPECT_EQ(got.error().code, Errc::InvalidArgument) << got.error().detail;
}

TEST(ValidatingResolverOptions, RejectsBadOptions) {
  event::Loop loop;
  ValidatingResolverOptions options;
  options.servers = {ServerAddress{"127.0.0.1", 53}};
  options.trust_anchor = "";
  auto got = make_validating_resolver(loop, options);
  ASSERT_FALSE(got);
  EXPECT_EQ(got.error().code, Errc::InvalidArgument);

  options.trust_anchor = "/dev/null";
  options.timeout = 0ms;
  got = make_validating_resolver(loop, options);
  ASSERT_FALSE(got);
  EXPECT_EQ(got.error().code, Errc::InvalidArgument);

  options.timeout = 1000ms;
  options.servers = {ServerAddress{"not-an-ip", 53}};
  got = make_validating_resolver(loop, options);
  ASSERT_FALSE(got);
  EXPECT_EQ(got.error().code, Errc::InvalidArgument);

  options.servers = {ServerAddress{"127.0.0.1", 53}};
  options.root_hints = "/nonexistent/root.hints";
  got = make_validating_resolver(loop, options);
  ASSERT_FALSE(got);
  EXPECT_EQ(got.error().code, Errc::InvalidArgument);
}

}  // namespace
}  // namespace tlspolicy::dns
