// SPDX-License-Identifier: Apache-2.0
//
// MTA-STS policy discovery (RFC 8461 §3, §5.1) with the caching rules of
// RFC-CHECKLIST STS-7, STS-13, STS-14, STS-16..STS-18 and the choices of
// SPEC §3. See include/tlspolicy/sts/discovery.hpp for the contract and
// docs/decision-rules.md for the table of outcomes.
#include "tlspolicy/sts/discovery.hpp"

#include <algorithm>
#include <cctype>
#include <string>
#include <utility>

namespace tlspolicy::sts {
namespace {

std::string lower(std::string_view s) {
  std::string out{s};
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::string describe(const Error& e) { return std::string(to_string(e.code)) + ": " + e.detail; }

}  // namespace

std::string policy_url(const dns::DomainName& domain) {
  // RFC 8461 §3.2 (STS-10): the policy host is "mta-sts." + the policy domain.
  return "https://mta-sts." + domain.str() + "/.well-known/mta-sts.txt";
}

Result<void> check_policy_response(long status, std::string_view content_type) {
  // RFC 8461 §3.3 (STS-13): only 200 is a policy; 3xx MUST NOT be followed.
  if (status >= 300 && status < 400) {
    return fail(Errc::FetchRedirect, Retry::Permanent,
                "HTTP " + std::to_string(status) + " redirect (redirects are not followed)");
  }
  if (status != 200) {
    return fail(Errc::FetchStatus, Retry::Permanent, "HTTP status " + std::to_string(status));
  }
  // RFC 8461 §3.2 (STS-14): the media type must be text/plain; parameters such
  // as charset are ignored. SPEC §3: any other type means no policy.
  const auto semicolon = content_type.find(';');
  const std::string media = lower(trim(content_type.substr(0, semicolon)));
  if (media != "text/plain") {
    return fail(Errc::FetchContentType, Retry::Permanent,
                "Content-Type is \"" + std::string(content_type) + "\", not text/plain");
  }
  return {};
}

bool refresh_due(const cache::CachedPolicy& p, util::TimePoint now, std::chrono::seconds interval) {
  if (p.expires_at <= now) return false;  // expired: fetched again on demand, never applied
  const auto age_limit = std::min(interval, p.policy.max_age / 2);
  return now >= p.fetched_at + age_limit;
}

StsDiscovery::StsDiscovery(dns::Resolver& resolver, fetch::HttpsFetcher& fetcher,
                           cache::PolicyCache& cache, event::Offload& offload,
                           const util::Clock& clock, util::Logger log, StsOptions options)
    : m_resolver(resolver),
      m_fetcher(fetcher),
      m_cache(cache),
      m_offload(offload),
      m_clock(clock),
      m_log(std::move(log)),
      m_options(options) {}

namespace {

/// Resumes the awaiting coroutine on `loop` after `delay`.
auto sleep_for(event::Loop& loop, std::chrono::milliseconds delay) {
  return event::completion<bool>([&loop, delay](auto done) {
    loop.after(delay, [&loop, done] { loop.defer([done] { done(true); }); });
  });
}

}  // namespace

event::Task<Result<dns::DnsAnswer>> StsDiscovery::txt_lookup(const dns::DomainName& domain) {
  // RFC 8461 §3.1 (STS-1, STS-5): TXT at _mta-sts.<domain>; the resolver
  // follows CNAMEs.
  auto txt_name = domain.prefixed("_mta-sts");
  if (!txt_name) co_return Unexpected{txt_name.error()};
  auto answer = co_await dns::lookup(m_resolver, *txt_name, dns::RrType::Txt);
  // SPEC §3 reads a failed lookup with nothing cached as "no policy": a resolver's passing
  // SERVFAIL (seen from libunbound under load, behind long CNAME chains) gets one more try
  // first, within the decision's deadline. (Not a timeout: that would only wait twice; not a
  // network error: that is also how a lookup cancelled at shutdown ends.)
  if (!answer && answer.error().code == Errc::DnsServfail && m_options.loop != nullptr) {
    co_await sleep_for(*m_options.loop, k_txt_retry_after);
    answer = co_await dns::lookup(m_resolver, *txt_name, dns::RrType::Txt);
  }
  co_return answer;
}

event::Task<StsOutcome> StsDiscovery::discover(dns::DomainName domain) {
  StsOutcome out;
  const auto now = m_clock.now();
  const auto note = [&out](std::string line) { out.trail.push_back(std::move(line)); };
  const auto failed = [&](const Error& e, std::string_view what) {
    out.failures.push_back(e);
    note(std::string(what) + ": " + describe(e));
    m_log.warn(
        what,
        {{"domain", domain.str()}, {"errc", std::string(to_string(e.code))}, {"detail", e.detail}});
  };

  // The TXT record, the stored policy and the last failed fetch, all at once: a fetch,
  // when the id says it is needed, starts as soon as the TXT answer is in.
  auto [got, txt, last_failure] = co_await event::when_all(
      event::offload(m_offload, [this, &domain] { return m_cache.get(domain); }),
      txt_lookup(domain),
      event::offload(m_offload, [this, &domain] { return m_cache.last_fetch_failure(domain); }));

  // The cached policy, if any. A store error does not stop discovery (a live
  // policy may still be fetched), but it is never "nothing cached": without
  // a fetched policy the outcome is indeterminate (SPEC §3, §5).
  std::optional<cache::CachedPolicy> cached;
  bool store_unreadable = false;
  if (got) {
    cached = std::move(*got);
  } else {
    store_unreadable = true;
    failed(got.error(), "policy store read failed");
  }
  const bool cached_live = cached && cached->expires_at > now;
  if (cached) {
    note("cached policy: id " + cached->id + ", mode " +
         std::string(to_string(cached->policy.mode)) + (cached_live ? ", expires " : ", EXPIRED ") +
         util::format_rfc3339(cached->expires_at));
  } else {
    note("no cached policy");
  }
  // STS-7, STS-18: when nothing live can be discovered or fetched, an
  // unexpired cached policy is applied; an expired one never is.
  const auto use_cache_or_nothing = [&](std::string_view why) {
    if (cached_live) {
      note(std::string(why) + "; applying the unexpired cached policy (RFC 8461 §3.3, §5.1)");
      out.policy = cached;
      out.from_cache = true;
    } else if (store_unreadable) {
      out.indeterminate = true;
      out.indeterminate_reason =
          "the policy store could not be read, so a cached MTA-STS policy of " + domain.str() +
          " may exist";
      note(std::string(why) + "; " + out.indeterminate_reason + " (SPEC §3: defer)");
    } else {
      note(std::string(why) +
           "; no usable cached policy, so no MTA-STS policy applies"
           " (RFC 8461 §3.3)");
    }
  };

  if (!txt) {
    // SPEC §3: TXT SERVFAIL/timeout with nothing cached → proceed without a
    // policy and record the failure.
    failed(txt.error(), "_mta-sts TXT lookup failed");
    use_cache_or_nothing("TXT lookup failed");
    co_return out;
  }
  if (txt->security == dns::Security::Bogus) {
    out.txt_bogus = true;
    failed(Error{Errc::DnsServfail, Retry::Transient, "bogus DNSSEC: " + txt->why},
           "_mta-sts TXT is DNSSEC-bogus");
    use_cache_or_nothing("TXT answer is bogus");
    if (!out.policy) {
      // A bogus answer may be an attacker hiding the policy: never downgrade
      // on it (RFC 4035 §5.5; SPEC §3 defers on bogus data).
      out.indeterminate = true;
      out.indeterminate_reason = "the _mta-sts TXT answer of " + domain.str() + " is DNSSEC-bogus";
    }
    co_return out;
  }
  out.txt_ttl = txt->ttl;
  std::vector<std::string> records;
  records.reserve(txt->txt.size());
  for (const auto& rr : txt->txt) records.push_back(rr.joined());  // STS-4: no spaces added
  note("TXT _mta-sts." + domain.str() + ": " + std::string(dns::to_string(txt->outcome)) + ", " +
       std::to_string(records.size()) + " record(s), " +
       std::string(dns::to_string(txt->security)) +
       (txt->canonical_name.empty() ? "" : ", via CNAME to " + txt->canonical_name));

  // STS-3: exactly one record beginning with v=STSv1, syntactically valid.
  const auto record = select_sts_txt(records);
  if (!record) {
    if (record.error().code != Errc::StsNoRecord) failed(record.error(), "invalid _mta-sts TXT");
    use_cache_or_nothing(record.error().code == Errc::StsNoRecord ? "no MTA-STS TXT record"
                                                                  : "no valid MTA-STS TXT record");
    co_return out;
  }
  note("TXT id " + record->id);

  // STS-6: ids are compared for equality only. Same id and a live cached
  // policy: nothing to fetch.
  if (cached_live && cached->id == record->id) {
    note("id matches the cached policy; using it");
    out.policy = cached;
    out.from_cache = true;
    co_return out;
  }

  // STS-16: at least retry_interval between failed fetches for one id. (A store
  // that cannot say when the last fetch failed does not stop this one.)
  if (last_failure && *last_failure && (*last_failure)->id == record->id &&
      (*last_failure)->failed_at + m_options.retry_interval > now) {
    const auto& last = **last_failure;
    const Error e{Errc::FetchOther, Retry::Transient,
                  "fetch for id " + record->id + " failed at " +
                      util::format_rfc3339(last.failed_at) + " (" + last.error +
                      "); next attempt after " +
                      util::format_rfc3339(last.failed_at + m_options.retry_interval)};
    failed(e, "policy fetch skipped (RFC 8461 §3.3 back-off)");
    use_cache_or_nothing("fetch not retried yet");
    co_return out;
  }

  // A fleet fetches a new id once: when another node is fetching it, its policy is awaited.
  auto claim = co_await event::offload(m_offload, [this, &domain, &record] {
    return m_cache.claim_fetch(domain, {record->id, m_options.claim_lease, std::nullopt});
  });
  if (claim && !claim->granted && m_options.loop != nullptr) {
    note("node " + claim->holder + " is fetching id " + record->id + " for the fleet; waiting");
    auto waited = co_await wait_for_fleet(domain, record->id, *claim);
    if (waited.policy) {
      note("fetched by " + waited.policy->fetched_by + ": mode " +
           std::string(to_string(waited.policy->policy.mode)));
      out.policy = std::move(waited.policy);
      out.from_cache = true;
      co_return out;
    }
    if (waited.failure) {
      failed(Error{Errc::FetchOther, Retry::Transient,
                   "node " + claim->holder + " could not fetch id " + record->id + ": " +
                       *waited.failure},
             "policy fetch failed in the fleet");
      use_cache_or_nothing("policy fetch failed");
      co_return out;
    }
    note("node " + claim->holder + " did not store the policy in time; fetching here");
  }

  // RFC 8461 §3.3: fetch, check status and media type, parse.
  note(cached ? "id differs from the cached policy or it expired; fetching " + policy_url(domain)
              : "fetching " + policy_url(domain));
  auto fetched = co_await fetch_policy(domain);
  if (!fetched) {
    failed(fetched.error(), "policy fetch failed");
    cache::FetchFailure record_failure{domain.str(), record->id, now, describe(fetched.error())};
    auto r = co_await event::offload(m_offload, [this, &record_failure] {
      return m_cache.record_fetch_failure(record_failure);
    });
    if (!r) failed(r.error(), "cannot record the failed fetch");
    use_cache_or_nothing("policy fetch failed");
    co_return out;
  }

  // SPEC §3: a fetched policy, mode none included, replaces the cached one.
  cache::CachedPolicy policy{domain.str(),
                             record->id,
                             fetched->first,
                             fetched->second,
                             now,
                             now + fetched->second.max_age,
                             ""};  // the store names the node
  note("fetched policy: mode " + std::string(to_string(policy.policy.mode)) + ", max_age " +
       std::to_string(policy.policy.max_age.count()) + "s");
  m_log.info("policy fetched", {{"domain", domain.str()},
                                {"id", policy.id},
                                {"mode", std::string(to_string(policy.policy.mode))},
                                {"max_age_s", std::to_string(policy.policy.max_age.count())}});
  auto stored = co_await event::offload(m_offload, [this, &policy] { return m_cache.put(policy); });
  if (!stored) failed(stored.error(), "cannot store the fetched policy");
  out.policy = std::move(policy);
  out.from_cache = false;
  co_return out;
}

event::Task<StsDiscovery::FleetWait> StsDiscovery::wait_for_fleet(const dns::DomainName& domain,
                                                                  const std::string& id,
                                                                  cache::FetchClaim claim) {
  constexpr std::chrono::milliseconds k_poll{150};
  const auto started = m_clock.now();
  // The holder's lease, and a little more for its write to land.
  for (auto left = claim.left + std::chrono::milliseconds{500};; left -= k_poll) {
    auto [got, failure] = co_await event::when_all(
        event::offload(m_offload, [this, &domain] { return m_cache.get(domain); }),
        event::offload(m_offload, [this, &domain] { return m_cache.last_fetch_failure(domain); }));
    if (got && *got && (*got)->id == id && (*got)->expires_at > m_clock.now()) {
      co_return FleetWait{std::move(*got), std::nullopt};
    }
    if (failure && *failure && (*failure)->id == id &&
        (*failure)->failed_at + std::chrono::seconds{1} >= started) {
      co_return FleetWait{std::nullopt, (*failure)->error};
    }
    if (left.count() <= 0) co_return FleetWait{};
    co_await sleep_for(*m_options.loop, k_poll);
  }
}

event::Task<Result<std::pair<std::string, StsPolicy>>> StsDiscovery::fetch_policy(
    const dns::DomainName& domain) {
  auto response = co_await fetch::get(m_fetcher, policy_url(domain));
  if (!response) co_return Unexpected{response.error()};
  if (auto ok = check_policy_response(response->status, response->content_type); !ok) {
    co_return Unexpected{ok.error()};
  }
  auto parsed = parse_sts_policy(response->body);
  if (!parsed) co_return Unexpected{parsed.error()};
  co_return std::pair{std::move(response->body), std::move(*parsed)};
}

event::Task<Result<cache::CachedPolicy>> StsDiscovery::refresh(
    dns::DomainName domain, std::optional<cache::CachedPolicy> stored) {
  // The id that labels the new policy: the TXT record's when one valid
  // record answers, else the stored one's (RFC 8461 §10.2: a refresh may
  // fetch regardless of the TXT record).
  std::optional<std::string> id;
  if (auto txt = co_await txt_lookup(domain); txt && txt->security != dns::Security::Bogus) {
    std::vector<std::string> records;
    for (const auto& rr : txt->txt) records.push_back(rr.joined());
    if (auto record = select_sts_txt(records); record) id = record->id;
  }
  if (!id && stored) id = stored->id;
  if (!id) {
    co_return fail(Errc::StsNoRecord, Retry::Permanent,
                   "no valid _mta-sts TXT record for " + domain.str() + " and no stored policy");
  }
  // A fleet refreshes each policy once: another node's claim means it is being done.
  const cache::FetchClaimRequest request{*id, m_options.claim_lease,
                                         stored ? stored->fetched_at : util::TimePoint{}};
  auto claim = co_await event::offload(
      m_offload, [this, &domain, &request] { return m_cache.claim_fetch(domain, request); });
  if (claim && !claim->granted) {
    co_return fail(Errc::Claimed, Retry::Transient,
                   claim->left.count() > 0
                       ? "node " + claim->holder + " is fetching the policy of " + domain.str() +
                             " for the fleet"
                       : "node " + claim->holder + " has just fetched the policy of " +
                             domain.str() + " for the fleet");
  }
  const auto now = m_clock.now();
  auto fetched = co_await fetch_policy(domain);
  if (!fetched) co_return Unexpected{fetched.error()};
  cache::CachedPolicy policy{domain.str(),
                             *id,
                             std::move(fetched->first),
                             fetched->second,
                             now,
                             now + fetched->second.max_age,
                             ""};
  if (auto r = co_await event::offload(m_offload, [this, &policy] { return m_cache.put(policy); });
      !r) {
    co_return Unexpected{r.error()};
  }
  m_log.info("policy refreshed", {{"domain", domain.str()},
                                  {"id", policy.id},
                                  {"mode", std::string(to_string(policy.policy.mode))}});
  co_return policy;
}

}  // namespace tlspolicy::sts
