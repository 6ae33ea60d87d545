// SPDX-License-Identifier: Apache-2.0
//
// Implementation of the scripted fakes (see fakes.hpp).
#include "support/fakes.hpp"

#include <gtest/gtest.h>

namespace tlspolicy::testing {

void FakeResolver::set(std::string name, dns::RrType type, Result<dns::DnsAnswer> answer) {
  const std::lock_guard lock{m_mu};
  m_answers.insert_or_assign({std::move(name), type}, std::move(answer));
}

void FakeResolver::set_default(dns::RrType type, Result<dns::DnsAnswer> answer) {
  const std::lock_guard lock{m_mu};
  m_defaults.insert_or_assign(type, std::move(answer));
}

void FakeResolver::lookup(const dns::DomainName& name, dns::RrType type, Callback done) {
  done(answer(name, type));
}

Result<dns::DnsAnswer> FakeResolver::answer(const dns::DomainName& name, dns::RrType type) const {
  const std::lock_guard lock{m_mu};
  ++m_calls[{name.str(), type}];
  const auto it = m_answers.find({name.str(), type});
  if (it == m_answers.end()) {
    if (const auto d = m_defaults.find(type); d != m_defaults.end()) return d->second;
    ADD_FAILURE() << "FakeResolver: unscripted query " << name.str() << " " << dns::to_string(type);
    return fail(Errc::DnsServfail, Retry::Transient, "unscripted query");
  }
  return it->second;
}

int FakeResolver::calls(const std::string& name, dns::RrType type) const {
  const std::lock_guard lock{m_mu};
  const auto it = m_calls.find({name, type});
  return it == m_calls.end() ? 0 : it->second;
}

void FakeFetcher::set(std::string url, Result<fetch::HttpsResponse> response) {
  const std::lock_guard lock{m_mu};
  m_responses.insert_or_assign(std::move(url), std::move(response));
}

void FakeFetcher::get(std::string url, Callback done) { done(get_now(url)); }

Result<fetch::HttpsResponse> FakeFetcher::get_now(std::string_view url) const {
  const std::lock_guard lock{m_mu};
  ++m_calls[std::string(url)];
  const auto it = m_responses.find(std::string(url));
  if (it == m_responses.end()) {
    ADD_FAILURE() << "FakeFetcher: unscripted fetch " << url;
    return fail(Errc::FetchConnect, Retry::Transient, "unscripted fetch");
  }
  return it->second;
}

int FakeFetcher::calls(const std::string& url) const {
  const std::lock_guard lock{m_mu};
  const auto it = m_calls.find(url);
  return it == m_calls.end() ? 0 : it->second;
}

Result<std::optional<cache::CachedPolicy>> MemoryPolicyCache::get(
    const dns::DomainName& domain) const {
  const std::lock_guard lock{m_mu};
  if (fail_reads) return fail(Errc::CacheIo, Retry::Transient, "injected read failure");
  const auto it = m_policies.find(domain.str());
  if (it == m_policies.end()) return std::optional<cache::CachedPolicy>{};
  return std::optional<cache::CachedPolicy>{it->second};
}

Result<void> MemoryPolicyCache::put(const cache::CachedPolicy& p) {
  const std::lock_guard lock{m_mu};
  if (fail_writes) return fail(Errc::CacheIo, Retry::Transient, "injected write failure");
  m_policies.insert_or_assign(p.domain, p);
  m_failures.erase(p.domain);
  return {};
}

Result<bool> MemoryPolicyCache::remove(const dns::DomainName& domain) {
  const std::lock_guard lock{m_mu};
  m_failures.erase(domain.str());
  return m_policies.erase(domain.str()) > 0;
}

Result<std::vector<cache::CachedPolicy>> MemoryPolicyCache::list() const {
  const std::lock_guard lock{m_mu};
  std::vector<cache::CachedPolicy> out;
  for (const auto& [domain, p] : m_policies) out.push_back(p);
  return out;
}

Result<std::size_t> MemoryPolicyCache::purge_expired(util::TimePoint now) {
  const std::lock_guard lock{m_mu};
  return static_cast<std::size_t>(
      std::erase_if(m_policies, [now](const auto& kv) { return kv.second.expires_at <= now; }));
}

Result<void> MemoryPolicyCache::record_fetch_failure(const cache::FetchFailure& f) {
  const std::lock_guard lock{m_mu};
  if (fail_writes) return fail(Errc::CacheIo, Retry::Transient, "injected write failure");
  m_failures.insert_or_assign(f.domain, f);
  return {};
}

Result<cache::FetchClaim> MemoryPolicyCache::claim_fetch(
    const dns::DomainName& /*domain*/, const cache::FetchClaimRequest& /*request*/) {
  const std::lock_guard lock{m_mu};
  ++claims_asked;
  return claim ? *claim : cache::FetchClaim{};
}

Result<std::optional<cache::FetchFailure>> MemoryPolicyCache::last_fetch_failure(
    const dns::DomainName& domain) const {
  const std::lock_guard lock{m_mu};
  const auto it = m_failures.find(domain.str());
  if (it == m_failures.end()) return std::optional<cache::FetchFailure>{};
  return std::optional<cache::FetchFailure>{it->second};
}

dns::DnsAnswer txt_answer(std::vector<std::vector<std::string>> records, dns::Security security,
                          int ttl) {
  dns::DnsAnswer a;
  a.qtype = dns::RrType::Txt;
  a.outcome = records.empty() ? dns::Outcome::NoData : dns::Outcome::Data;
  a.security = security;
  a.ttl = std::chrono::seconds{ttl};
  for (auto& strings : records) a.txt.push_back(dns::TxtRecord{std::move(strings)});
  return a;
}

dns::DnsAnswer mx_answer(std::vector<std::pair<int, std::string>> records, dns::Security security,
                         int ttl) {
  dns::DnsAnswer a;
  a.qtype = dns::RrType::Mx;
  a.outcome = dns::Outcome::Data;
  a.security = security;
  a.ttl = std::chrono::seconds{ttl};
  for (auto& [pref, host] : records) {
    a.mx.push_back(dns::MxRecord{static_cast<std::uint16_t>(pref), std::move(host)});
  }
  return a;
}

dns::DnsAnswer nodata(dns::Security security) {
  dns::DnsAnswer a;
  a.outcome = dns::Outcome::NoData;
  a.security = security;
  a.ttl = std::chrono::seconds{60};
  return a;
}

dns::DnsAnswer nxdomain(dns::Security security) {
  dns::DnsAnswer a = nodata(security);
  a.outcome = dns::Outcome::NxDomain;
  return a;
}

Unexpected<Error> dns_error(Errc code) {
  return Unexpected<Error>{
      Error{code, Retry::Transient, "scripted " + std::string(to_string(code))}};
}

fetch::HttpsResponse http(long status, std::string body, std::string content_type) {
  return fetch::HttpsResponse{status, std::move(content_type), std::move(body)};
}

dns::DnsAnswer address_answer(std::vector<std::string> ips, dns::Security security,
                              std::string canonical) {
  dns::DnsAnswer a;
  a.qtype = dns::RrType::A;
  a.outcome = ips.empty() ? dns::Outcome::NoData : dns::Outcome::Data;
  a.security = security;
  a.ttl = std::chrono::seconds{300};
  a.canonical_name = std::move(canonical);
  a.addresses = std::move(ips);
  return a;
}

dns::DnsAnswer tlsa_answer(std::vector<dns::TlsaRecord> records, dns::Security security) {
  dns::DnsAnswer a;
  a.qtype = dns::RrType::Tlsa;
  a.outcome = records.empty() ? dns::Outcome::NoData : dns::Outcome::Data;
  a.security = security;
  a.ttl = std::chrono::seconds{300};
  a.tlsa = std::move(records);
  return a;
}

dns::TlsaRecord tlsa(int usage, int selector, int mtype, std::size_t length) {
  return dns::TlsaRecord{static_cast<std::uint8_t>(usage), static_cast<std::uint8_t>(selector),
                         static_cast<std::uint8_t>(mtype),
                         std::vector<std::uint8_t>(length, std::uint8_t{0xab})};
}

}  // namespace tlspolicy::testing
