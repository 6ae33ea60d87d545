// SPDX-License-Identifier: Apache-2.0
//
// The command line without the network: usage errors, invalid domains,
// configuration errors and check-config output, with their exit statuses.
#include "commands.hpp"

#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "run_cli.hpp"

namespace tlspolicy::cli {
namespace {

using testing::run_cli;

TEST(Cli, NoCommandIsUsageError) { EXPECT_EQ(run_cli({}).rc, k_exit_usage); }

TEST(Cli, UnknownOptionIsUsageError) {
  EXPECT_EQ(run_cli({"lookup", "example.test", "--bogus"}).rc, k_exit_usage);
}

// The version comes from one place, CMake's project version (TLSPOLICY_PROJECT_VERSION, passed
// to the tests by tests/CMakeLists.txt), with "+g<commit>" when built from a checkout.
TEST(Cli, Version) {
  const auto r = run_cli({"version"});
  EXPECT_EQ(r.rc, k_exit_ok);
  const std::string want = std::string{"tlspolicy "} + TLSPOLICY_PROJECT_VERSION;
  EXPECT_EQ(r.out.rfind(want, 0), 0u) << r.out;
  const std::string rest = r.out.substr(want.size());
  EXPECT_TRUE(rest == "\n" || rest.starts_with("+g")) << r.out;
}

TEST(Cli, InvalidDomainIsDataError) {
  for (const char* bad : {"bad..domain", "192.0.2.1", "[192.0.2.1]", "x-.example", ""}) {
    const auto r = run_cli({"lookup", bad, "--json"});
    EXPECT_EQ(r.rc, k_exit_dataerr) << bad;
    EXPECT_NE(r.err.find("invalid domain"), std::string::npos) << bad << ": " << r.err;
    EXPECT_TRUE(r.out.empty()) << bad;
  }
}

TEST(Cli, LeadingHyphenNeedsDoubleDash) {
  // "-x.example" reads as an option (usage error); after "--" it is a domain.
  EXPECT_EQ(run_cli({"lookup", "-x.example"}).rc, k_exit_usage);
  EXPECT_EQ(run_cli({"lookup", "--", "-x.example"}).rc, k_exit_dataerr);
}

TEST(Cli, BadSetIsConfigError) {
  const auto r = run_cli({"--set", "resolver.nonsense=1", "check-config"});
  EXPECT_EQ(r.rc, k_exit_config);
  EXPECT_NE(r.err.find("resolver.nonsense"), std::string::npos) << r.err;
}

TEST(Cli, MissingConfigFileIsConfigError) {
  EXPECT_EQ(run_cli({"--config", "/nonexistent/tlspolicy.toml", "check-config"}).rc, k_exit_config);
}

TEST(Cli, CheckConfigShowsValueAndOrigin) {
  const auto r = run_cli({"check-config", "--set", "mta_sts.fetch_timeout=7s"});
  ASSERT_EQ(r.rc, k_exit_ok) << r.err;
  EXPECT_NE(r.out.find("mta_sts.fetch_timeout"), std::string::npos);
  EXPECT_NE(r.out.find("command-line"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("resolver.mode"), std::string::npos);
}

TEST(Cli, CheckConfigDefaultsDocumentsEverySetting) {
  const auto r = run_cli({"check-config", "--defaults"});
  ASSERT_EQ(r.rc, k_exit_ok);
  EXPECT_NE(r.out.find("[mta_sts]\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\nallow_private_addresses = false\n"), std::string::npos) << r.out;
  const auto example = run_cli({"check-config", "--example"});
  ASSERT_EQ(example.rc, k_exit_ok);
  EXPECT_NE(example.out.find("\n#allow_private_addresses = false\n"), std::string::npos)
      << example.out;
}

}  // namespace
}  // namespace tlspolicy::cli
