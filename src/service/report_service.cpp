// SPDX-License-Identifier: Apache-2.0
//
// TLS-RPT reports: made after each UTC day, delivered to the rua URIs of the
// domain's _smtp._tls record, retried with back-off for 24 hours (RFC 8460
// §3–§5; RPT-1, RPT-2, RPT-4, RPT-8, RPT-16, RPT-17).
#include "tlspolicy/service/report_service.hpp"

#include <algorithm>
#include <string>
#include <utility>

#include "tlspolicy/sts/policy.hpp"
#include "tlspolicy/tlsrpt/mail.hpp"
#include "tlspolicy/tlsrpt/record.hpp"
#include "tlspolicy/tlsrpt/report.hpp"

#include <unistd.h>

namespace tlspolicy::service {
namespace {

using std::chrono::seconds;

std::string describe(const Error& e) { return std::string(to_string(e.code)) + ": " + e.detail; }

util::TimePoint day_end(tlsrpt::Day day) {
  return std::chrono::time_point_cast<seconds>(day + std::chrono::days{1});
}

/// RFC 8460 §3: the domain's TLSRPT record; nullopt when it has none (or
/// several). Errors: the lookup failed or was bogus (retry later).
Result<std::optional<tlsrpt::TlsRptRecord>> find_record(event::Loop& loop, dns::Resolver& resolver,
                                                        const std::string& domain) {
  auto name = dns::DomainName::parse(domain);
  if (!name) return Unexpected{name.error()};
  auto tls = name->prefixed("_tls");
  auto qname = tls ? tls->prefixed("_smtp") : std::move(tls);
  if (!qname) return Unexpected{qname.error()};
  auto answer = dns::lookup_blocking(loop, resolver, *qname, dns::RrType::Txt);
  if (!answer) return Unexpected{answer.error()};
  if (answer->security == dns::Security::Bogus) {
    return fail(Errc::DnsServfail, Retry::Transient,
                qname->str() + " TXT answer is DNSSEC-bogus: " + answer->why);
  }
  if (answer->outcome != dns::Outcome::Data) return std::optional<tlsrpt::TlsRptRecord>{};
  std::vector<std::string> texts;
  for (const auto& rr : answer->txt) texts.push_back(rr.joined());
  return tlsrpt::select_tlsrpt_record(texts);
}

bool accepted_status(long status) { return status == 200 || status == 201; }  // RPT-16

}  // namespace

tlsrpt::PolicyKey policy_key_for(const policy::Decision& d, std::string_view mx_host) {
  // RFC 8460 §4.4, §1.1 (RPT-3): a session is filed under the policy that
  // governed it. A host with TLSA records was governed by DANE, under its
  // TLSA base domain, even when an MTA-STS policy exists too (RFC 8461 §2);
  // the other hosts by the MTA-STS policy, if one applies.
  const auto has_tlsa = [](const policy::MxHost& h) { return !h.tlsa_base_domain.empty(); };
  const auto tlsa_key = [](const policy::MxHost& h) {
    tlsrpt::PolicyKey k{tlsrpt::PolicyType::Tlsa, h.tlsa_base_domain, {}, {}};
    for (const auto& r : h.tlsa) k.policy_strings.push_back(policy::tlsa_policy_string(r));
    return k;
  };
  const auto host = std::find_if(d.mx.begin(), d.mx.end(),
                                 [mx_host](const policy::MxHost& h) { return h.host == mx_host; });
  if (host != d.mx.end() && has_tlsa(*host)) return tlsa_key(*host);
  const bool has_sts = d.mta_sts && d.mta_sts->mode != sts::StsMode::None;
  if (host == d.mx.end() && d.source == policy::Source::Dane) {
    // No host named (or one the decision does not list): the decision's
    // first DANE host, when DANE decided.
    const auto first = std::find_if(d.mx.begin(), d.mx.end(), has_tlsa);
    if (first != d.mx.end()) return tlsa_key(*first);
  }
  if (has_sts) {
    return {tlsrpt::PolicyType::Sts, d.domain, sts::policy_lines(d.mta_sts->policy_text),
            d.mta_sts->mx};
  }
  return {tlsrpt::PolicyType::NoPolicyFound, d.domain, {}, {}};
}

ReportService::ReportService(cache::ReportStore& store, event::Loop& loop, dns::Resolver& resolver,
                             const fetch::HttpsPoster* poster, const util::Clock& clock,
                             util::Logger log, ReportOptions options)
    : m_store(store),
      m_loop(loop),
      m_resolver(resolver),
      m_poster(poster),
      m_clock(clock),
      m_log(std::move(log)),
      m_options(std::move(options)),
      m_claimant((m_options.node.empty() ? std::string{"local"} : m_options.node) + "/" +
                 std::to_string(::getpid())),
      m_rng(std::random_device{}()) {}

Result<void> ReportService::record(const tlsrpt::ResultBatch& batch) { return m_store.add(batch); }

std::string ReportService::random_hex(std::size_t bytes) {
  static constexpr std::string_view k_hex = "0123456789abcdef";
  std::string out;
  const auto rng = m_rng.lock();
  for (std::size_t i = 0; i < bytes; ++i) {
    const auto b = static_cast<unsigned>((*rng)() & 0xffU);
    out += k_hex[b >> 4U];
    out += k_hex[b & 0xfU];
  }
  return out;
}

Result<std::vector<cache::ReportRow>> ReportService::make_reports(std::optional<tlsrpt::Day> day) {
  const auto now = m_clock.now();
  const auto today = tlsrpt::day_of(now);
  auto days = m_store.days(cache::ReportFilter{day, std::nullopt});
  if (!days) return Unexpected{days.error()};
  auto existing = m_store.reports(cache::ReportFilter{day, std::nullopt});
  if (!existing) return Unexpected{existing.error()};
  std::vector<cache::ReportRow> made;
  for (const auto& summary : *days) {
    // RPT-8: a report covers one whole UTC day, so only finished days.
    if (summary.day >= today) continue;
    const bool has_report =
        std::any_of(existing->begin(), existing->end(), [&](const cache::ReportRow& r) {
          return r.day == summary.day && r.domain == summary.domain;
        });
    if (has_report) continue;
    cache::ReportRow row;
    row.report_id =
        tlsrpt::make_report_id(summary.day, summary.domain, m_options.submitter, random_hex(8));
    row.day = summary.day;
    row.domain = summary.domain;
    row.state = cache::ReportState::Pending;
    row.created_at = now;
    seconds delay{1};
    {
      const auto span = static_cast<std::uint64_t>(
          std::max<std::int64_t>(1, static_cast<std::int64_t>(m_options.max_delay.count())));
      delay = seconds{1 + static_cast<std::int64_t>((*m_rng.lock())() % span)};
    }
    // A day that ended long ago (the daemon was down) goes out now-ish.
    row.next_attempt_at = std::max(day_end(summary.day) + delay, now);
    row.give_up_at = row.next_attempt_at + k_retry_for;
    auto stored = m_store.create_report(row);
    if (!stored) return Unexpected{stored.error()};
    if (stored->report_id == row.report_id) made.push_back(std::move(*stored));
  }
  if (m_options.counters) {
    m_options.counters->made.fetch_add(made.size(), std::memory_order_relaxed);
  }
  return made;
}

Result<std::string> ReportService::render(const cache::ReportRow& row) const {
  auto policies = m_store.aggregate(row.day, row.domain);
  if (!policies) return Unexpected{policies.error()};
  const tlsrpt::ReportMeta meta{m_options.organization_name, m_options.contact_info, row.report_id,
                                row.day, row.domain};
  return tlsrpt::render_report_json(meta, *policies);
}

Result<cache::ReportRow> ReportService::stored_row(const cache::ReportRow& row) const {
  auto stored = m_store.reports(cache::ReportFilter{row.day, row.domain});
  if (!stored) return Unexpected{stored.error()};
  if (!stored->empty() && stored->front().report_id == row.report_id) return stored->front();
  return row;
}

Result<DeliveryOutcome> ReportService::deliver(const cache::ReportRow& original) {
  const std::lock_guard tick_lock{m_tick_mu};
  // The stored state wins over the caller's copy: the daemon and `tlspolicy
  // report send` may both be at it, and a sent report is never sent again.
  auto current = stored_row(original);
  if (!current) return Unexpected{current.error()};
  if (current->state == cache::ReportState::Sent) return DeliveryOutcome{std::move(*current), {}};
  if (current->state == cache::ReportState::Failed) {
    // An operator's explicit retry (`tlspolicy report send`) of a report the daemon gave up
    // on: pending again, then claimed like any other.
    current->state = cache::ReportState::Pending;
    if (auto ok = m_store.update_report(*current); !ok) return Unexpected{ok.error()};
  }
  auto claimed = m_store.claim_report(current->report_id, m_claimant, k_claim_lease);
  if (!claimed) return Unexpected{claimed.error()};
  if (!*claimed) {
    // Refused: not pending (any more), gone, or another sender holds it. Say which.
    auto rows = m_store.reports(cache::ReportFilter{current->day, current->domain});
    if (!rows) return Unexpected{rows.error()};
    if (rows->empty() || rows->front().report_id != current->report_id) {
      return fail(Errc::InvalidArgument, Retry::Permanent,
                  "report " + current->report_id + " is not in the store; not sent");
    }
    const auto& now_stored = rows->front();
    if (now_stored.state == cache::ReportState::Pending) {
      return fail(
          Errc::InvalidArgument, Retry::Transient,
          "report " + now_stored.report_id + " is pending and claimed by another sender; not sent");
    }
    return fail(Errc::InvalidArgument, Retry::Permanent,
                "report " + now_stored.report_id + " is " +
                    std::string(cache::to_string(now_stored.state)) + ", not pending; not sent");
  }
  return deliver_claimed(*current);
}

Result<DeliveryOutcome> ReportService::deliver_claimed(const cache::ReportRow& claimed) {
  // Read again after the claim: another sender may have attempted it since it was listed.
  auto current = stored_row(claimed);
  if (!current) return Unexpected{current.error()};
  DeliveryOutcome out{std::move(*current), {}};
  auto& row = out.row;
  if (row.state == cache::ReportState::Sent) return out;
  const auto now = m_clock.now();

  const auto finish = [&](cache::ReportState state, std::string error) -> Result<DeliveryOutcome> {
    row.state = state;
    row.last_error = std::move(error);
    if (auto ok = m_store.update_report(row); !ok) return Unexpected{ok.error()};
    if (const auto& c = m_options.counters) {
      if (state == cache::ReportState::Sent) c->sent.fetch_add(1, std::memory_order_relaxed);
      if (state == cache::ReportState::Failed) c->failed.fetch_add(1, std::memory_order_relaxed);
    }
    m_log.info("TLS-RPT report", {{"report_id", row.report_id},
                                  {"domain", row.domain},
                                  {"day", tlsrpt::format_day(row.day)},
                                  {"state", std::string(cache::to_string(row.state))},
                                  {"error", row.last_error}});
    return out;
  };
  const auto retry_later = [&](std::string error) {
    ++row.attempts;
    // RPT-17: exponential back-off, for up to 24 hours.
    auto backoff = k_first_backoff;
    for (int i = 1; i < row.attempts && backoff < k_max_backoff; ++i) backoff *= 2;
    backoff = std::min(backoff, k_max_backoff);
    row.next_attempt_at = now + backoff;
    const bool give_up = row.next_attempt_at > row.give_up_at;
    return finish(give_up ? cache::ReportState::Failed : cache::ReportState::Pending,
                  std::move(error));
  };

  auto policies = m_store.aggregate(row.day, row.domain);
  if (!policies) return Unexpected{policies.error()};
  if (policies->empty()) return finish(cache::ReportState::Skipped, "no results counted");
  const bool any_failure =
      std::any_of(policies->begin(), policies->end(), [](const auto& p) { return p.failures > 0; });
  if (!any_failure && !m_options.send_success_reports) {
    return finish(cache::ReportState::Skipped, "only successes, tlsrpt.send_success_reports off");
  }

  auto record = find_record(m_loop, m_resolver, row.domain);
  if (!record) return retry_later("TLSRPT record lookup: " + describe(record.error()));
  if (!*record) return finish(cache::ReportState::Skipped, "no valid TLSRPT record (RFC 8460 §3)");

  const tlsrpt::ReportMeta meta{m_options.organization_name, m_options.contact_info, row.report_id,
                                row.day, row.domain};
  const auto json = tlsrpt::render_report_json(meta, *policies);
  auto gz = tlsrpt::gzip_compress(json);  // RPT-13
  if (!gz) return retry_later("gzip: " + describe(gz.error()));
  const auto filename =
      tlsrpt::report_filename(m_options.submitter, row.domain, row.day, random_hex(4), true);

  std::vector<std::string> errors;
  std::string accepted;
  // RPT-4: the sender may send to each rua; one acceptance is delivery.
  for (const auto& target : (*record)->rua) {
    Result<void> sent;
    if (target.kind == tlsrpt::RuaTarget::Kind::Mailto) {
      tlsrpt::MailParams params{
          m_options.contact_info, target.mailbox, row.domain, m_options.submitter,
          row.report_id,          filename,       now,        random_hex(8)};
      const auto message = tlsrpt::render_report_mail(params, *gz);
      sent = tlsrpt::send_via_sendmail(m_options.sendmail, m_options.contact_info, target.mailbox,
                                       message);
    } else if (m_poster == nullptr) {
      sent = fail(Errc::InvalidArgument, Retry::Permanent, "no HTTPS client");
    } else {
      auto status = m_poster->post(target.uri, "application/tlsrpt+gzip", *gz);  // RPT-16
      if (!status) {
        sent = Unexpected{status.error()};
      } else if (!accepted_status(*status)) {
        sent = fail(Errc::FetchStatus, Retry::Transient, "HTTP " + std::to_string(*status));
      }
    }
    if (sent) {
      out.lines.push_back(target.uri + ": accepted");
      if (accepted.empty()) accepted = target.uri;
    } else {
      out.lines.push_back(target.uri + ": " + describe(sent.error()));
      errors.push_back(target.uri + ": " + describe(sent.error()));
    }
  }
  if (!accepted.empty()) {
    ++row.attempts;
    row.sent_at = now;
    row.sent_to = accepted;
    std::string rest;
    for (const auto& e : errors) rest += (rest.empty() ? "" : "; ") + e;
    return finish(cache::ReportState::Sent, rest);
  }
  std::string all;
  for (const auto& e : errors) all += (all.empty() ? "" : "; ") + e;
  return retry_later(all.empty() ? "no rua URI to try" : all);
}

void ReportService::tick() {
  if (auto made = make_reports(); !made) {
    m_log.warn("TLS-RPT: making reports failed", {{"error", describe(made.error())}});
  } else if (!made->empty()) {
    m_log.info("TLS-RPT: reports made", {{"count", std::to_string(made->size())}});
  }
  if (m_options.send) {
    auto due = m_store.due_reports(m_clock.now());
    if (!due) {
      m_log.warn("TLS-RPT: listing due reports failed", {{"error", describe(due.error())}});
    } else {
      for (const auto& row : *due) {
        const std::lock_guard tick_lock{m_tick_mu};
        auto claimed = m_store.claim_report(row.report_id, m_claimant, k_claim_lease);
        if (!claimed) {
          m_log.warn("TLS-RPT: claiming a report failed",
                     {{"report_id", row.report_id}, {"error", describe(claimed.error())}});
          continue;
        }
        if (!*claimed) {
          m_log.debug("TLS-RPT: report held by another sender, skipped",
                      {{"report_id", row.report_id}, {"domain", row.domain}});
          continue;
        }
        if (auto r = deliver_claimed(row); !r) {
          m_log.warn("TLS-RPT: delivery failed",
                     {{"report_id", row.report_id}, {"error", describe(r.error())}});
        }
      }
    }
  }
  const auto cutoff = tlsrpt::day_of(m_clock.now()) - std::chrono::days{m_options.keep_days};
  if (auto purged = m_store.purge_before(cutoff); !purged) {
    m_log.warn("TLS-RPT: purge failed", {{"error", describe(purged.error())}});
  }
}

}  // namespace tlspolicy::service
