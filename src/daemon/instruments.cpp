// SPDX-License-Identifier: Apache-2.0
//
// The decorators that count for /metrics (instruments.hpp).
#include "instruments.hpp"

#include <chrono>
#include <utility>

namespace tlspolicy::daemon {
namespace {

void bump(std::atomic<std::uint64_t>& counter, std::uint64_t by = 1) noexcept {
  counter.fetch_add(by, std::memory_order_relaxed);
}

class CountingResolver final : public dns::Resolver {
 public:
  CountingResolver(std::unique_ptr<dns::Resolver> inner, Instruments& m)
      : m_inner(std::move(inner)), m_m(m) {}
  void lookup(const dns::DomainName& name, dns::RrType type, Callback done) override {
    m_inner->lookup(name, type, [&m = m_m, done = std::move(done)](Result<dns::DnsAnswer> r) {
      bump(m.dns[static_cast<std::size_t>(dns_result(r))]);
      done(std::move(r));
    });
  }
  void cancel_all() override { m_inner->cancel_all(); }

 private:
  std::unique_ptr<dns::Resolver> m_inner;
  Instruments& m_m;
};

class CountingFetcher final : public fetch::HttpsFetcher {
 public:
  CountingFetcher(std::unique_ptr<fetch::HttpsFetcher> inner, Instruments& m)
      : m_inner(std::move(inner)), m_m(m) {}
  void get(std::string url, Callback done) override {
    const auto started = std::chrono::steady_clock::now();
    m_inner->get(std::move(url), [&m = m_m, started,
                                  done = std::move(done)](Result<fetch::HttpsResponse> r) {
      const auto took = std::chrono::steady_clock::now() - started;
      const double seconds = std::chrono::duration<double>(took).count();
      std::size_t bucket = 0;
      while (bucket < proto::k_fetch_buckets.size() && seconds > proto::k_fetch_buckets[bucket]) {
        ++bucket;
      }
      bump(m.fetch_buckets[bucket]);
      bump(m.fetch_microseconds,
           static_cast<std::uint64_t>(
               std::chrono::duration_cast<std::chrono::microseconds>(took).count()));
      bump(m.fetches[static_cast<std::size_t>(fetch_result(r))]);
      done(std::move(r));
    });
  }
  void cancel_all() override { m_inner->cancel_all(); }

 private:
  std::unique_ptr<fetch::HttpsFetcher> m_inner;
  Instruments& m_m;
};

class CountingCache final : public cache::PolicyCache {
 public:
  CountingCache(std::unique_ptr<cache::PolicyCache> inner, Instruments& m)
      : m_inner(std::move(inner)), m_m(m) {}

  Result<std::optional<cache::CachedPolicy>> get(const dns::DomainName& domain) const override {
    return counted(proto::StoreOp::Get, m_inner->get(domain));
  }
  Result<void> put(const cache::CachedPolicy& p) override {
    std::optional<std::string> old_id;
    bool known = false;
    if (const auto domain = dns::DomainName::parse(p.domain)) {
      if (auto old = m_inner->get(*domain)) {
        known = true;
        if (*old) old_id = (*old)->id;
      }
    }
    auto r = counted(proto::StoreOp::Put, m_inner->put(p));
    if (r && known) {
      const auto change = !old_id           ? proto::PolicyChange::New
                          : *old_id != p.id ? proto::PolicyChange::IdChanged
                                            : proto::PolicyChange::SameId;
      bump(m_m.policies_stored[static_cast<std::size_t>(change) * proto::k_policy_modes +
                               static_cast<std::size_t>(p.policy.mode)]);
    }
    return r;
  }
  Result<bool> remove(const dns::DomainName& domain) override {
    return counted(proto::StoreOp::Remove, m_inner->remove(domain));
  }
  Result<std::vector<cache::CachedPolicy>> list() const override {
    return counted(proto::StoreOp::List, m_inner->list());
  }
  Result<std::size_t> purge_expired(util::TimePoint now) override {
    auto r = counted(proto::StoreOp::PurgeExpired, m_inner->purge_expired(now));
    if (r) bump(m_m.policies_expired, *r);
    return r;
  }
  Result<void> record_fetch_failure(const cache::FetchFailure& f) override {
    return counted(proto::StoreOp::RecordFetchFailure, m_inner->record_fetch_failure(f));
  }
  Result<std::optional<cache::FetchFailure>> last_fetch_failure(
      const dns::DomainName& domain) const override {
    return counted(proto::StoreOp::LastFetchFailure, m_inner->last_fetch_failure(domain));
  }
  Result<cache::FetchClaim> claim_fetch(const dns::DomainName& domain,
                                        const cache::FetchClaimRequest& request) override {
    return counted(proto::StoreOp::ClaimFetch, m_inner->claim_fetch(domain, request));
  }
  cache::StoreStatus status() const override { return m_inner->status(); }

 private:
  template <class T>
  Result<T> counted(proto::StoreOp op, Result<T> r) const {
    if (!r) bump(m_m.store_errors[static_cast<std::size_t>(op)]);
    return r;
  }

  std::unique_ptr<cache::PolicyCache> m_inner;
  Instruments& m_m;
};

}  // namespace

proto::DnsResult dns_result(const Result<dns::DnsAnswer>& r) {
  if (r) {
    switch (r->security) {
      case dns::Security::Secure:
        return proto::DnsResult::Secure;
      case dns::Security::Insecure:
        return proto::DnsResult::Insecure;
      case dns::Security::Bogus:
        return proto::DnsResult::Bogus;
      case dns::Security::Indeterminate:
        return proto::DnsResult::Indeterminate;
    }
    return proto::DnsResult::Indeterminate;
  }
  switch (r.error().code) {
    case Errc::DnsTimeout:
      return proto::DnsResult::Timeout;
    case Errc::DnsServfail:
      return proto::DnsResult::Servfail;
    case Errc::DnsRefused:
      return proto::DnsResult::Refused;
    case Errc::DnsNetwork:
      return proto::DnsResult::Network;
    case Errc::DnsMalformed:
      return proto::DnsResult::Malformed;
    default:
      return proto::DnsResult::Other;
  }
}

proto::FetchResult fetch_result(const Result<fetch::HttpsResponse>& r) {
  if (r) return r->status == 200 ? proto::FetchResult::Ok : proto::FetchResult::HttpStatus;
  switch (r.error().code) {
    case Errc::FetchConnect:
      return proto::FetchResult::Connect;
    case Errc::FetchTls:
      return proto::FetchResult::Tls;
    case Errc::FetchTimeout:
      return proto::FetchResult::Timeout;
    case Errc::FetchTooLarge:
      return proto::FetchResult::TooLarge;
    case Errc::FetchPrivateAddress:
      return proto::FetchResult::PrivateAddress;
    default:
      return proto::FetchResult::Other;
  }
}

std::unique_ptr<dns::Resolver> counting_resolver(std::unique_ptr<dns::Resolver> inner,
                                                 Instruments& m) {
  return std::make_unique<CountingResolver>(std::move(inner), m);
}

std::unique_ptr<fetch::HttpsFetcher> counting_fetcher(std::unique_ptr<fetch::HttpsFetcher> inner,
                                                      Instruments& m) {
  return std::make_unique<CountingFetcher>(std::move(inner), m);
}

std::unique_ptr<cache::PolicyCache> counting_cache(std::unique_ptr<cache::PolicyCache> inner,
                                                   Instruments& m) {
  return std::make_unique<CountingCache>(std::move(inner), m);
}

RuntimeHooks Instruments::hooks() {
  RuntimeHooks h;
  h.resolver = [this](std::unique_ptr<dns::Resolver> r) {
    return counting_resolver(std::move(r), *this);
  };
  h.fetcher = [this](std::unique_ptr<fetch::HttpsFetcher> f) {
    return counting_fetcher(std::move(f), *this);
  };
  h.cache = [this](std::unique_ptr<cache::PolicyCache> c) {
    return counting_cache(std::move(c), *this);
  };
  h.report_counters = reports;
  return h;
}

}  // namespace tlspolicy::daemon
