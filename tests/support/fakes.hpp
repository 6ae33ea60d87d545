// SPDX-License-Identifier: Apache-2.0
//
// Scripted fakes for the interfaces that cross a process boundary: Resolver,
// HttpsFetcher and PolicyCache. A query nobody scripted fails the test with
// the name asked for; every call is counted so tests can assert that a cache
// hit fetched nothing.
#pragma once

#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "tlspolicy/cache/policy_cache.hpp"
#include "tlspolicy/dns/resolver.hpp"
#include "tlspolicy/fetch/https_fetcher.hpp"

namespace tlspolicy::testing {

class FakeResolver final : public dns::Resolver {
 public:
  /// Scripts the answer (or error) for (name, type); replaces an earlier one.
  void set(std::string name, dns::RrType type, Result<dns::DnsAnswer> answer);
  /// The answer for any name of `type` that set() did not script.
  void set_default(dns::RrType type, Result<dns::DnsAnswer> answer);
  /// Answers at once (before lookup() returns), from the script.
  void lookup(const dns::DomainName& name, dns::RrType type, Callback done) override;
  [[nodiscard]] Result<dns::DnsAnswer> answer(const dns::DomainName& name, dns::RrType type) const;
  [[nodiscard]] int calls(const std::string& name, dns::RrType type) const;

 private:
  mutable std::mutex m_mu;
  std::map<std::pair<std::string, dns::RrType>, Result<dns::DnsAnswer>> m_answers;
  std::map<dns::RrType, Result<dns::DnsAnswer>> m_defaults;
  mutable std::map<std::pair<std::string, dns::RrType>, int> m_calls;
};

class FakeFetcher final : public fetch::HttpsFetcher {
 public:
  void set(std::string url, Result<fetch::HttpsResponse> response);
  /// Answers at once (before get() returns), from the script.
  void get(std::string url, Callback done) override;
  [[nodiscard]] Result<fetch::HttpsResponse> get_now(std::string_view url) const;
  [[nodiscard]] int calls(const std::string& url) const;

 private:
  mutable std::mutex m_mu;
  std::map<std::string, Result<fetch::HttpsResponse>> m_responses;
  mutable std::map<std::string, int> m_calls;
};

/// In-memory PolicyCache: tests of sts/ and policy/ never need SQLite.
/// fail_writes makes put/record_fetch_failure fail, fail_reads makes get()
/// fail (store-error paths).
class MemoryPolicyCache final : public cache::PolicyCache {
 public:
  [[nodiscard]] Result<std::optional<cache::CachedPolicy>> get(
      const dns::DomainName& domain) const override;
  [[nodiscard]] Result<void> put(const cache::CachedPolicy& p) override;
  [[nodiscard]] Result<bool> remove(const dns::DomainName& domain) override;
  [[nodiscard]] Result<std::vector<cache::CachedPolicy>> list() const override;
  [[nodiscard]] Result<std::size_t> purge_expired(util::TimePoint now) override;
  [[nodiscard]] Result<void> record_fetch_failure(const cache::FetchFailure& f) override;
  [[nodiscard]] Result<std::optional<cache::FetchFailure>> last_fetch_failure(
      const dns::DomainName& domain) const override;

  /// A fleet's claim: what claim_fetch answers (granted when unset).
  [[nodiscard]] Result<cache::FetchClaim> claim_fetch(
      const dns::DomainName& domain, const cache::FetchClaimRequest& request) override;

  bool fail_writes = false;
  bool fail_reads = false;
  std::optional<cache::FetchClaim> claim;  ///< guarded by m_mu; set before use
  int claims_asked = 0;                    ///< guarded by m_mu

 private:
  mutable std::mutex m_mu;
  std::map<std::string, cache::CachedPolicy> m_policies;
  std::map<std::string, cache::FetchFailure> m_failures;
};

// Builders for DNS answers.
[[nodiscard]] dns::DnsAnswer txt_answer(std::vector<std::vector<std::string>> records,
                                        dns::Security security = dns::Security::Secure,
                                        int ttl = 300);
[[nodiscard]] dns::DnsAnswer mx_answer(std::vector<std::pair<int, std::string>> records,
                                       dns::Security security = dns::Security::Secure,
                                       int ttl = 3600);
[[nodiscard]] dns::DnsAnswer nodata(dns::Security security = dns::Security::Secure);
[[nodiscard]] dns::DnsAnswer nxdomain(dns::Security security = dns::Security::Secure);
[[nodiscard]] Unexpected<Error> dns_error(Errc code);
[[nodiscard]] fetch::HttpsResponse http(long status, std::string body,
                                        std::string content_type = "text/plain");

// Builders for DANE tests (appended for src/dane).
/// A or AAAA answer: Data with `ips` (NoData when empty); `canonical` is the
/// CNAME target when the answer followed a CNAME chain.
[[nodiscard]] dns::DnsAnswer address_answer(std::vector<std::string> ips,
                                            dns::Security security = dns::Security::Secure,
                                            std::string canonical = "");
/// TLSA answer: Data with `records` (NoData when empty).
[[nodiscard]] dns::DnsAnswer tlsa_answer(std::vector<dns::TlsaRecord> records,
                                         dns::Security security = dns::Security::Secure);
/// A TLSA record whose data is `length` octets of 0xab.
[[nodiscard]] dns::TlsaRecord tlsa(int usage, int selector, int mtype, std::size_t length);

}  // namespace tlspolicy::testing
