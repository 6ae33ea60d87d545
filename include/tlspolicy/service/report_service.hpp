// SPDX-License-Identifier: Apache-2.0
//
// service::ReportService: SMTP TLS Reporting (RFC 8460) as the daemon and the
// CLI run it. Results (libtlsrpt datagrams, the JSON "report" op, the
// engine's own failures) are counted in the store per UTC day, report domain
// and policy. After each UTC day one report per domain is made and, when
// sending is on, delivered at a random moment within max_delay (RPT-8) to
// the rua URIs of the domain's _smtp._tls record (RPT-1, RPT-2): mailto:
// through the sendmail command, https: by POST (RPT-16). A report counts as
// delivered once one URI accepted it (RPT-4); failed deliveries are retried
// with exponential back-off for 24 hours (RPT-17); a delivered report is
// never sent again. Before each attempt the sender claims the report in the
// store for k_claim_lease (ReportStore::claim_report), so two senders (the
// daemon and `tlspolicy report send`, or the nodes of a fleet sharing one
// store) never deliver one report at once.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "tlspolicy/cache/report_store.hpp"
#include "tlspolicy/dns/resolver.hpp"
#include "tlspolicy/fetch/https_fetcher.hpp"
#include "tlspolicy/policy/decision.hpp"
#include "tlspolicy/policy/engine.hpp"
#include "tlspolicy/tlsrpt/model.hpp"
#include "tlspolicy/tlsrpt/sendmail.hpp"
#include "tlspolicy/util/clock.hpp"
#include "tlspolicy/util/locked.hpp"
#include "tlspolicy/util/log.hpp"
#include "tlspolicy/util/result.hpp"

namespace tlspolicy::service {

/// Reports counted as they are made and as their delivery ends (for /metrics). Give every
/// ReportService of a process the same object: a reload then resets nothing. Any thread.
struct ReportCounters {
  std::atomic<std::uint64_t> made{0};    ///< report rows made for a finished day
  std::atomic<std::uint64_t> sent{0};    ///< delivered to at least one rua URI
  std::atomic<std::uint64_t> failed{0};  ///< given up (RPT-17: 24 hours of retries)
};

struct ReportOptions {
  bool send = false;  ///< tick() delivers due reports
  std::string organization_name;
  std::string contact_info;  ///< also From: and the envelope sender of report mail
  std::string submitter;     ///< the domain of contact_info (RPT-14)
  tlsrpt::SendmailOptions sendmail;
  bool send_success_reports = true;
  std::chrono::seconds max_delay{std::chrono::hours(4)};
  int keep_days = 14;
  /// The fleet node name (fleet.node), "" for a process on its own. Claims are made in
  /// the name "<node>/<pid>" ("local/<pid>" when empty): one name per sending process, so
  /// the daemon and `tlspolicy report send` on one node exclude each other too.
  std::string node;
  /// Where made, sent and failed reports are counted; null: nowhere.
  std::shared_ptr<ReportCounters> counters;
};

/// First retry after this long; each further one waits twice as long, at
/// most k_max_backoff; no attempt after give_up_at (RPT-17: 24 hours).
inline constexpr std::chrono::seconds k_first_backoff{std::chrono::minutes(5)};
inline constexpr std::chrono::seconds k_max_backoff{std::chrono::hours(4)};
inline constexpr std::chrono::seconds k_retry_for{std::chrono::hours(24)};
/// How long a claim on a report lasts: longer than one delivery attempt (a TLSRPT lookup,
/// then sendmail or an HTTPS POST per rua URI, each with its own timeout). A sender that
/// dies mid-attempt blocks the report for at most this long.
inline constexpr std::chrono::seconds k_claim_lease{std::chrono::minutes(10)};

/// What one delivery did, per rua URI, for logs and `tlspolicy report send`.
struct DeliveryOutcome {
  cache::ReportRow row;            ///< as stored afterwards
  std::vector<std::string> lines;  ///< "mailto:a@b: accepted", "https://…: HTTP 500", …
};

/// The policy an MTA's result without a policy refers to (JSON report op
/// without "policy"): from the daemon's decision for the domain (RFC 8460
/// §4.4, RPT-3). TLSA, under its TLSA base domain, when `mx_host` has TLSA
/// records (DANE governed it, MTA-STS or not), or when no host is named and
/// DANE decided (the first DANE host); else STS when the decision carries an
/// MTA-STS policy (testing or enforce); else no-policy-found for the domain.
[[nodiscard]] tlsrpt::PolicyKey policy_key_for(const policy::Decision& d, std::string_view mx_host);

class ReportService {
 public:
  /// Keeps references: store, loop, resolver, clock (and poster, when given) must
  /// outlive this object. Without a poster, https: URIs fail (CLI tools that
  /// only list or show reports need none). Delivery (tick, deliver) blocks: it runs on a
  /// thread that may (the store pool), while `loop` runs the resolver on another thread.
  ReportService(cache::ReportStore& store, event::Loop& loop, dns::Resolver& resolver,
                const fetch::HttpsPoster* poster, const util::Clock& clock, util::Logger log,
                ReportOptions options);

  /// Counts one batch on its UTC day (the store's add). Thread-safe.
  [[nodiscard]] Result<void> record(const tlsrpt::ResultBatch& batch);

  /// Makes the report rows of every (day, domain) with results before the
  /// current UTC day that has none yet: report id, first attempt at the day's
  /// end plus a random delay in [1 s, max_delay], give up 24 h later.
  /// `days` limits it to one day. Returns the rows made now.
  [[nodiscard]] Result<std::vector<cache::ReportRow>> make_reports(
      std::optional<tlsrpt::Day> day = std::nullopt);

  /// The RFC 8460 §4 JSON of `row`'s day and domain (uncompressed).
  [[nodiscard]] Result<std::string> render(const cache::ReportRow& row) const;

  /// Delivers `row` now, whatever its next_attempt_at, and stores the new
  /// state. A Sent report is left alone (returned unchanged); a Failed one is
  /// made pending again first (an operator's retry). Then the report is
  /// claimed; when the store refuses the claim (the report is skipped or gone,
  /// or another sender holds it), nothing is sent and the error
  /// (InvalidArgument; Transient when another sender holds it) names the
  /// stored state.
  [[nodiscard]] Result<DeliveryOutcome> deliver(const cache::ReportRow& row);

  /// One scheduler pass: make reports for finished days; when sending is
  /// on, claim and deliver those due (a report another sender holds is left
  /// to it, logged at debug); purge what is older than keep_days. Logs and
  /// carries on after errors. Thread-safe with record().
  void tick();

  /// The name this service claims reports in ("<node>/<pid>", see ReportOptions::node).
  [[nodiscard]] const std::string& claimant() const noexcept { return m_claimant; }

 private:
  [[nodiscard]] std::string random_hex(std::size_t bytes);
  /// The stored row of `row`'s day and domain when it is the same report, else `row`.
  [[nodiscard]] Result<cache::ReportRow> stored_row(const cache::ReportRow& row) const;
  /// Delivers `row` (already claimed by this service) and stores the outcome. m_tick_mu held.
  [[nodiscard]] Result<DeliveryOutcome> deliver_claimed(const cache::ReportRow& row);

  cache::ReportStore& m_store;
  event::Loop& m_loop;  ///< where the resolver runs (TLSRPT record lookups)
  dns::Resolver& m_resolver;
  const fetch::HttpsPoster* m_poster;
  const util::Clock& m_clock;
  util::Logger m_log;
  ReportOptions m_options;
  std::string m_claimant;  ///< "<node>/<pid>"
  util::Locked<std::mt19937_64> m_rng;
  /// One tick or deliver at a time: guards an activity (the claim-deliver-store sequence),
  /// not a value, so a raw mutex.
  std::mutex m_tick_mu;
};

}  // namespace tlspolicy::service
