// SPDX-License-Identifier: Apache-2.0
//
// The store of a fleet node: a local SQLite copy in front of a shared
// PostgreSQL (include/tlspolicy/cache/fleet_store.hpp has the design).
//
// BUGS
//   A node that missed a purge notification while it was cut off from
//   PostgreSQL re-sends its local copy of the purged policy when it reads it
//   next (a cached policy is never dropped on the word of an unreachable
//   store); purge again once every node is connected.
#include "tlspolicy/cache/fleet_store.hpp"

#include <atomic>
#include <mutex>
#include <set>
#include <thread>
#include <utility>

#include "tlspolicy/util/locked.hpp"

#include "pg_connection.hpp"
#include "pg_report_store.hpp"
#include "policy_columns.hpp"
#include "report_push.hpp"
#include <poll.h>
#include <pthread.h>

namespace tlspolicy::cache {
namespace {

constexpr const char* k_channel = "tlspolicy";  // LISTEN/NOTIFY channel of the fleet

constexpr const char* k_get_sql =
    "SELECT domain, id, policy_text, mode, max_age, mx, fetched_at, expires_at, fetched_by "
    "FROM policies WHERE domain = $1";
constexpr const char* k_list_sql =
    "SELECT domain, id, policy_text, mode, max_age, mx, fetched_at, expires_at, fetched_by "
    "FROM policies ORDER BY domain";
// A row is replaced only by one fetched later: a re-sent local copy never overwrites a
// policy another node fetched since. The claim ends with the fetch (its row records what was
// stored), and every node hears.
constexpr const char* k_put_sql =
    "WITH up AS (INSERT INTO policies (domain, id, policy_text, mode, max_age, mx, fetched_at, "
    "expires_at, fetched_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) "
    "ON CONFLICT (domain) DO UPDATE SET id = excluded.id, policy_text = excluded.policy_text, "
    "mode = excluded.mode, max_age = excluded.max_age, mx = excluded.mx, "
    "fetched_at = excluded.fetched_at, expires_at = excluded.expires_at, "
    "fetched_by = excluded.fetched_by WHERE policies.fetched_at <= excluded.fetched_at "
    "RETURNING domain), "
    "f AS (DELETE FROM fetch_failures WHERE domain = $1), "
    "c AS (INSERT INTO fetch_claims (domain, id, node, until, fetched_at, expires_at) "
    "SELECT domain, $2, $9, now(), $7, $8 FROM up ON CONFLICT (domain) DO UPDATE SET "
    "id = excluded.id, node = excluded.node, until = excluded.until, "
    "fetched_at = excluded.fetched_at, expires_at = excluded.expires_at) "
    "SELECT pg_notify('tlspolicy', 'changed ' || domain) FROM up";
constexpr const char* k_remove_sql =
    "WITH f AS (DELETE FROM fetch_failures WHERE domain = $1), "
    "c AS (DELETE FROM fetch_claims WHERE domain = $1) "
    "DELETE FROM policies WHERE domain = $1";
constexpr const char* k_notify_purge_sql = "SELECT pg_notify('tlspolicy', 'purge ' || $1)";
constexpr const char* k_purge_sql = "DELETE FROM policies WHERE expires_at <= $1";
constexpr const char* k_put_failure_sql =
    "WITH up AS (INSERT INTO fetch_failures (domain, id, failed_at, error, node) "
    "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (domain) DO UPDATE SET id = excluded.id, "
    "failed_at = excluded.failed_at, error = excluded.error, node = excluded.node) "
    "DELETE FROM fetch_claims WHERE domain = $1 AND id = $2";
constexpr const char* k_get_failure_sql =
    "SELECT domain, id, failed_at, error FROM fetch_failures WHERE domain = $1";
// Granted when nobody holds the domain, the holder's lease ran out, this node holds it, or
// the holder fetches another id (the TXT record changed again).
// Granted when nobody holds the domain, the holder's lease ran out, this node holds it, or
// the holder fetches another id (the TXT record changed again); never when what the caller is
// about to fetch is stored already: for a new id ($5 NULL), the unexpired policy of that id;
// for a refresh of the policy fetched at $5, one fetched later. Checked twice: in `policies`
// for a domain without a claim row, and in the claim row itself, which ON CONFLICT reads as
// committed after waiting for a concurrent store (the snapshot of NOT EXISTS may predate it).
constexpr const char* k_claim_sql =
    "INSERT INTO fetch_claims (domain, id, node, until) "
    "SELECT $1, $2, $3, now() + make_interval(secs => $4::double precision) "
    "WHERE NOT EXISTS (SELECT 1 FROM policies WHERE domain = $1 AND CASE WHEN $5::bigint IS NULL "
    "THEN id = $2 AND expires_at > extract(epoch FROM now()) ELSE fetched_at > $5::bigint END) "
    "ON CONFLICT (domain) DO UPDATE SET id = excluded.id, node = excluded.node, "
    "until = excluded.until, fetched_at = NULL, expires_at = NULL WHERE CASE WHEN $5::bigint IS "
    "NULL "
    "THEN NOT coalesce(fetch_claims.id = excluded.id "
    "AND fetch_claims.expires_at > extract(epoch FROM now()), false) "
    "AND (fetch_claims.until <= now() OR fetch_claims.node = excluded.node "
    "OR fetch_claims.id <> excluded.id) "
    "ELSE NOT coalesce(fetch_claims.fetched_at > $5::bigint, false) "
    "AND (fetch_claims.until <= now() OR fetch_claims.node = excluded.node) END RETURNING node";
// Who has it: the claim's holder (left 0 when its fetch is stored), else the node whose
// policy is stored.
constexpr const char* k_claim_holder_sql =
    "(SELECT node, CASE WHEN fetched_at IS NOT NULL THEN 0 "
    "ELSE greatest(0, extract(epoch FROM until - now()) * 1000)::bigint END "
    "FROM fetch_claims WHERE domain = $1) UNION ALL "
    "(SELECT fetched_by, 0::bigint FROM policies WHERE domain = $1) LIMIT 1";

std::string num(std::int64_t v) { return std::to_string(v); }

/// What the policy cache, the report store and the sync thread of one node share.
struct Shared {
  Shared(FleetOptions o, std::unique_ptr<PolicyCache> lp, std::unique_ptr<ReportStore> lr)
      : options(std::move(o)),
        policy_link(PgOptions{options.url, "tlspolicy " + options.node, options.timeout}),
        report_link(PgOptions{options.url, "tlspolicy " + options.node, options.timeout}),
        local(std::move(lp)),
        local_reports(std::move(lr)),
        shared_reports(report_link) {}

  FleetOptions options;
  PgLink policy_link;  ///< decisions' reads and writes
  PgLink report_link;  ///< TLS-RPT: pushes, report making and delivery
  std::unique_ptr<PolicyCache> local;
  std::unique_ptr<ReportStore> local_reports;
  PgReportStore shared_reports;
  util::Locked<std::set<std::string>> unsynced;  ///< domains to re-send
  std::atomic<bool> listening{true};             ///< the sync thread's LISTEN connection is up

  void mark_unsynced(const std::string& domain) { unsynced.lock()->insert(domain); }
  void mark_synced(const std::string& domain) { unsynced.lock()->erase(domain); }

  [[nodiscard]] Result<std::optional<CachedPolicy>> shared_get(const std::string& domain) {
    return policy_link.with([&](PgConn& c) -> Result<std::optional<CachedPolicy>> {
      auto rows = c.exec(k_get_sql, {domain});
      if (!rows) return Unexpected{rows.error()};
      if (rows->size() == 0) return std::optional<CachedPolicy>{};
      auto p = read_row(*rows, 0);
      if (!p) return Unexpected{p.error()};
      return std::optional<CachedPolicy>{std::move(*p)};
    });
  }

  [[nodiscard]] Result<void> shared_put(const CachedPolicy& p) {
    return policy_link.with([&](PgConn& c) -> Result<void> {
      auto r =
          c.exec(k_put_sql,
                 {p.domain, p.id, p.policy_text, std::string(sts::to_string(p.policy.mode)),
                  num(p.policy.max_age.count()), join_mx(p.policy.mx),
                  num(unix_seconds(p.fetched_at)), num(unix_seconds(p.expires_at)), p.fetched_by});
      if (!r) return Unexpected{r.error()};
      return {};
    });
  }

  [[nodiscard]] static Result<CachedPolicy> read_row(const PgRows& rows, int i) {
    auto max_age = rows.integer(i, 4), fetched = rows.integer(i, 6), expires = rows.integer(i, 7);
    if (!max_age || !fetched || !expires) {
      return fail(Errc::CacheSchema, Retry::Transient, "store.url: a policy row is damaged");
    }
    return policy_from_columns({rows.text(i, 0), rows.text(i, 1), rows.text(i, 2), rows.text(i, 3),
                                *max_age, rows.text(i, 5), *fetched, *expires, rows.text(i, 8)},
                               "store.url");
  }
};

class FleetPolicyCache final : public PolicyCache {
 public:
  explicit FleetPolicyCache(std::shared_ptr<Shared> s) : m_shared(std::move(s)) {}

  [[nodiscard]] Result<std::optional<CachedPolicy>> get(
      const dns::DomainName& domain) const override {
    auto local = m_shared->local->get(domain);
    auto shared = m_shared->shared_get(domain.str());
    if (!shared) return local;  // PostgreSQL unavailable: the local copy, or its error
    const auto& mine = local ? *local : std::optional<CachedPolicy>{};
    if (*shared && (!mine || mine->fetched_at < (*shared)->fetched_at)) {
      // Fetched by another node (or again): the local copy follows.
      (void)m_shared->local->put(**shared);
      return shared;
    }
    if (mine && (!*shared || (*shared)->fetched_at < mine->fetched_at)) {
      // Written here while PostgreSQL was away (a copy of another node's policy is never
      // newer than the shared row): send it now, naming this node.
      CachedPolicy resend = *mine;
      resend.fetched_by = m_shared->options.node;
      if (m_shared->shared_put(resend)) m_shared->mark_synced(resend.domain);
      return std::optional<CachedPolicy>{std::move(resend)};
    }
    return shared;
  }

  [[nodiscard]] Result<void> put(const CachedPolicy& p) override {
    CachedPolicy mine = p;
    mine.fetched_by = m_shared->options.node;
    auto local = m_shared->local->put(mine);
    auto shared = m_shared->shared_put(mine);
    if (!shared) {
      m_shared->mark_unsynced(mine.domain);
      return local;  // kept locally (or both failed: the local error)
    }
    m_shared->mark_synced(mine.domain);
    return {};
  }

  [[nodiscard]] Result<bool> remove(const dns::DomainName& domain) override {
    auto local = m_shared->local->remove(domain);
    auto shared = m_shared->policy_link.with([&](PgConn& c) {
      return pg_transaction(c, [&]() -> Result<bool> {
        auto rows = c.exec(k_remove_sql, {domain.str()});
        if (!rows) return Unexpected{rows.error()};
        if (auto n = c.exec(k_notify_purge_sql, {domain.str()}); !n) return Unexpected{n.error()};
        return rows->affected() > 0;
      });
    });
    m_shared->mark_synced(domain.str());
    // A purge must reach the fleet: when PostgreSQL did not take it, say so.
    if (!shared) return Unexpected{shared.error()};
    return *shared || (local && *local);
  }

  [[nodiscard]] Result<std::vector<CachedPolicy>> list() const override {
    auto shared = m_shared->policy_link.with([&](PgConn& c) -> Result<std::vector<CachedPolicy>> {
      auto rows = c.exec(k_list_sql, {});
      if (!rows) return Unexpected{rows.error()};
      std::vector<CachedPolicy> out;
      for (int i = 0; i < rows->size(); ++i) {
        auto p = Shared::read_row(*rows, i);
        if (!p) return Unexpected{p.error()};
        out.push_back(std::move(*p));
      }
      return out;
    });
    return shared ? shared : m_shared->local->list();
  }

  [[nodiscard]] Result<std::size_t> purge_expired(util::TimePoint now) override {
    auto local = m_shared->local->purge_expired(now);
    auto shared = m_shared->policy_link.with([&](PgConn& c) -> Result<std::size_t> {
      auto rows = c.exec(k_purge_sql, {num(unix_seconds(now))});
      if (!rows) return Unexpected{rows.error()};
      return static_cast<std::size_t>(rows->affected());
    });
    return shared ? shared : local;
  }

  [[nodiscard]] Result<void> record_fetch_failure(const FetchFailure& f) override {
    auto local = m_shared->local->record_fetch_failure(f);
    auto shared = m_shared->policy_link.with([&](PgConn& c) -> Result<void> {
      auto r = c.exec(k_put_failure_sql, {f.domain, f.id, num(unix_seconds(f.failed_at)), f.error,
                                          m_shared->options.node});
      if (!r) return Unexpected{r.error()};
      return {};
    });
    return shared ? shared : local;
  }

  [[nodiscard]] Result<std::optional<FetchFailure>> last_fetch_failure(
      const dns::DomainName& domain) const override {
    auto shared = m_shared->policy_link.with([&](PgConn& c) -> Result<std::optional<FetchFailure>> {
      auto rows = c.exec(k_get_failure_sql, {domain.str()});
      if (!rows) return Unexpected{rows.error()};
      if (rows->size() == 0) return std::optional<FetchFailure>{};
      auto at = rows->integer(0, 2);
      if (!at) return Unexpected{at.error()};
      return std::optional<FetchFailure>{
          FetchFailure{std::string(rows->text(0, 0)), std::string(rows->text(0, 1)),
                       from_unix_seconds(*at), std::string(rows->text(0, 3))}};
    });
    return shared ? shared : m_shared->local->last_fetch_failure(domain);
  }

  [[nodiscard]] Result<FetchClaim> claim_fetch(const dns::DomainName& domain,
                                               const FetchClaimRequest& r) override {
    const PgParam refresh_of = r.refresh_of ? PgParam{num(unix_seconds(*r.refresh_of))} : PgParam{};
    auto claim = m_shared->policy_link.with([&](PgConn& c) -> Result<FetchClaim> {
      auto rows = c.exec(k_claim_sql, {domain.str(), std::string(r.id), m_shared->options.node,
                                       num(r.lease.count()), refresh_of});
      if (!rows) return Unexpected{rows.error()};
      if (rows->size() > 0) return FetchClaim{};
      auto holder = c.exec(k_claim_holder_sql, {domain.str()});
      if (!holder) return Unexpected{holder.error()};
      if (holder->size() == 0) return FetchClaim{};  // ended meanwhile
      auto left = holder->integer(0, 1);
      return FetchClaim{false, std::string(holder->text(0, 0)),
                        std::chrono::milliseconds{left ? *left : 0}};
    });
    // Without PostgreSQL, this node fetches for itself: availability before economy.
    return claim ? claim : FetchClaim{};
  }

  [[nodiscard]] StoreStatus status() const override {
    const auto h = m_shared->policy_link.health();
    const auto r = m_shared->report_link.health();
    StoreStatus s;
    s.backend = "postgresql";
    s.node = m_shared->options.node;
    // Down when any connection is: the LISTEN one notices an outage first when every
    // answer comes from memory.
    s.healthy = h.up && r.up && m_shared->listening;
    s.outages = h.outages + r.outages;
    s.errors = h.failed_calls + r.failed_calls;
    s.last_error = h.last_error.empty() ? r.last_error : h.last_error;
    s.unsynced_policies = m_shared->unsynced.lock()->size();
    return s;
  }

 private:
  std::shared_ptr<Shared> m_shared;
};

/// Results are counted locally and pushed; everything about reports is read and written in
/// the shared tables.
class FleetReportStore final : public ReportStore {
 public:
  explicit FleetReportStore(std::shared_ptr<Shared> s) : m_shared(std::move(s)) {}

  [[nodiscard]] Result<void> add(const tlsrpt::ResultBatch& b) override {
    return m_shared->local_reports->add(b);
  }
  [[nodiscard]] Result<std::vector<ReportDaySummary>> days(const ReportFilter& f) const override {
    (void)push(*m_shared);  // what this node counted is part of the fleet's days
    return m_shared->shared_reports.days(f);
  }
  [[nodiscard]] Result<std::vector<tlsrpt::AggregatedPolicy>> aggregate(
      tlsrpt::Day day, const std::string& domain) const override {
    return m_shared->shared_reports.aggregate(day, domain);
  }
  [[nodiscard]] Result<ReportRow> create_report(const ReportRow& row) override {
    return m_shared->shared_reports.create_report(row);
  }
  [[nodiscard]] Result<std::vector<ReportRow>> reports(const ReportFilter& f) const override {
    return m_shared->shared_reports.reports(f);
  }
  [[nodiscard]] Result<std::vector<ReportRow>> due_reports(util::TimePoint now) const override {
    return m_shared->shared_reports.due_reports(now);
  }
  [[nodiscard]] Result<void> update_report(const ReportRow& row) override {
    return m_shared->shared_reports.update_report(row);
  }
  [[nodiscard]] Result<bool> claim_report(const std::string& report_id, std::string_view node,
                                          std::chrono::seconds lease) override {
    return m_shared->shared_reports.claim_report(report_id, node, lease);
  }
  [[nodiscard]] Result<std::size_t> purge_before(tlsrpt::Day before) override {
    (void)m_shared->local_reports->purge_before(before);
    return m_shared->shared_reports.purge_before(before);
  }

  /// Moves the local results to PostgreSQL, exactly once (report_push.hpp).
  static Result<std::size_t> push(Shared& s) {
    return push_local_results(*s.local_reports,
                              [&s](std::int64_t seq, const std::vector<DayAggregate>& days) {
                                auto r = s.shared_reports.add_pushed(s.options.node, seq, days);
                                if (!r) return Result<void>{Unexpected{r.error()}};
                                return Result<void>{};
                              });
  }

 private:
  std::shared_ptr<Shared> m_shared;
};

class FleetSyncThread final : public FleetSync {
 public:
  explicit FleetSyncThread(std::shared_ptr<Shared> s) : m_shared(std::move(s)) {}
  ~FleetSyncThread() override { stop(); }

  void start(std::function<void(const std::string&)> on_invalidate) override {
    m_on_invalidate = std::move(on_invalidate);
    m_stop = false;
    m_thread = std::thread([this] {
      pthread_setname_np(pthread_self(), "tlspolicy-fleet");
      run();
    });
  }

  void stop() override {
    if (!m_thread.joinable()) return;
    m_stop = true;
    m_thread.join();
    (void)FleetReportStore::push(*m_shared);
  }

 private:
  void run() {
    using Clock = std::chrono::steady_clock;
    auto next_push = Clock::now() + m_shared->options.push_every;
    auto next_listen = Clock::now();
    std::chrono::milliseconds backoff{0};
    bool was_down = false;
    auto down_logged = Clock::time_point{};
    while (!m_stop) {
      if (m_listen && m_listen->broken()) m_shared->listening = false;
      if ((!m_listen || m_listen->broken()) && Clock::now() >= next_listen) {
        m_listen.reset();
        auto c = PgConn::open(PgOptions{m_shared->options.url,
                                        "tlspolicy " + m_shared->options.node + " listen",
                                        m_shared->options.timeout});
        if (c && (*c)->run(std::string("LISTEN ") + k_channel)) {
          m_listen = std::move(*c);
          m_shared->listening = true;
          backoff = std::chrono::milliseconds{0};
          if (was_down) m_shared->options.log.info("shared store reachable again", {});
          was_down = false;
          // Notifications sent while this node was not listening are lost: forget all.
          if (m_on_invalidate) m_on_invalidate("");
        } else {
          backoff = std::min<std::chrono::milliseconds>(
              std::max<std::chrono::milliseconds>(backoff * 2, std::chrono::seconds{1}),
              std::chrono::seconds{30});
          next_listen = Clock::now() + backoff;
          m_shared->listening = false;
          // One line when it goes, then one a minute while it stays away.
          if (!was_down || Clock::now() - down_logged >= std::chrono::minutes{1}) {
            m_shared->options.log.warn(
                "shared store unreachable; answering from memory and the "
                "local copy",
                {{"error", c ? "LISTEN failed" : c.error().detail},
                 {"retry_in_ms", std::to_string(backoff.count())}});
            down_logged = Clock::now();
          }
          was_down = true;
        }
      }
      wait_for_notifications(std::chrono::milliseconds{200});
      // While the decisions' connection is down, nothing else may call it for a long time
      // (answers come from memory): try it on its back-off schedule, so that health and
      // sharing come back with PostgreSQL.
      if (!m_shared->policy_link.health().up) {
        (void)m_shared->policy_link.with([](PgConn& c) { return c.exec("SELECT 1", {}); });
      }
      if (Clock::now() >= next_push) {
        next_push = Clock::now() + m_shared->options.push_every;
        if (auto r = FleetReportStore::push(*m_shared); r && *r > 0) {
          m_shared->options.log.debug("TLS-RPT results pushed",
                                      {{"aggregates", std::to_string(*r)}});
        }
        resend_unsynced();
      }
    }
  }

  void wait_for_notifications(std::chrono::milliseconds wait) {
    if (!m_listen || m_listen->broken()) {
      std::this_thread::sleep_for(wait);
      return;
    }
    pollfd p{m_listen->socket(), POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(wait.count())) <= 0) return;
    for (;;) {
      auto n = m_listen->notification();
      if (!n || !*n) return;
      // This node's own put or purge: its memory and local copy already follow it (a cold
      // lookup that stored a policy must not forget the decision it is making).
      if ((*n)->sender_pid == m_shared->policy_link.backend_pid()) continue;
      const std::string& payload = (*n)->payload;
      const auto space = payload.find(' ');
      if (space == std::string::npos) continue;
      const std::string domain = payload.substr(space + 1);
      if (payload.compare(0, space, "purge") == 0) {
        if (auto name = dns::DomainName::parse(domain); name) (void)m_shared->local->remove(*name);
      }
      if (m_on_invalidate) m_on_invalidate(domain);
    }
  }

  void resend_unsynced() {
    const std::set<std::string> domains = *m_shared->unsynced.lock();
    for (const auto& d : domains) {
      auto name = dns::DomainName::parse(d);
      if (!name) continue;
      auto local = m_shared->local->get(*name);
      if (!local) continue;
      if (!*local) {
        m_shared->mark_synced(d);
        continue;
      }
      CachedPolicy resend = **local;  // the local copy keeps no node name; this node wrote it
      resend.fetched_by = m_shared->options.node;
      if (m_shared->shared_put(resend)) m_shared->mark_synced(d);
    }
  }

  std::shared_ptr<Shared> m_shared;
  std::function<void(const std::string&)> m_on_invalidate;
  std::unique_ptr<PgConn> m_listen;
  std::atomic<bool> m_stop{false};
  std::thread m_thread;
};

}  // namespace

Result<FleetStore> open_fleet_store(const FleetOptions& options) {
  if (options.node.empty()) {
    return fail(Errc::ConfigValue, Retry::Permanent, "fleet.node: must not be empty");
  }
  // The schema first: a URL that is wrong or a server that is away is an error at start-up.
  {
    auto c = PgConn::open(PgOptions{options.url, "tlspolicy " + options.node, options.timeout});
    if (!c) return Unexpected{c.error()};
    if (auto r = pg_migrate(**c); !r) return Unexpected{r.error()};
  }
  auto local = open_sqlite_cache(options.local);
  if (!local) return Unexpected{local.error()};
  auto local_reports = open_sqlite_report_store(options.local);
  if (!local_reports) return Unexpected{local_reports.error()};
  auto shared = std::make_shared<Shared>(options, std::move(*local), std::move(*local_reports));
  FleetStore out;
  out.policies = std::make_unique<FleetPolicyCache>(shared);
  out.reports = std::make_unique<FleetReportStore>(shared);
  out.sync = std::make_unique<FleetSyncThread>(shared);
  return out;
}

}  // namespace tlspolicy::cache
