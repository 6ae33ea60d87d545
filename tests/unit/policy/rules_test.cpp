// SPDX-License-Identifier: Apache-2.0
//
// policy::evaluate over every combination of DANE × MTA-STS × REQUIRETLS ×
// local policy that SPEC §3 distinguishes. The table below is the oracle,
// written from the RFCs (the IDs are RFC-CHECKLIST rows), not from the code:
// each row says what the lookups found and what the answer must be.
//
// docs/decision-rules.md shows the same table; RulesTable.IsTheTableInTheDocs
// checks that the doc says exactly what this file tests. After changing a
// row, TLSPOLICY_UPDATE_DOCS=1 rewrites the doc's table from it.
#include "tlspolicy/policy/rules.hpp"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace tlspolicy::policy {
namespace {

using namespace std::chrono_literals;

constexpr const char* k_domain = "example.test";
const util::TimePoint k_now{std::chrono::sys_days{std::chrono::year{2026} / 12 / 6}};

/// What DANE found for one MX host (RFC 7672 §2.2, DANE-5).
enum class Dane {
  Usable,    ///< secure TLSA with a usable record (a)
  Unusable,  ///< secure TLSA, every record unusable (b)
  None,      ///< no secure TLSA (c)
  Fail,      ///< TLSA lookup failed (d)
  Absent,    ///< the host does not exist
};

enum class Sts {
  NoPolicy,
  ModeNone,
  Testing,
  EnforceAll,              ///< mx: *.example.test
  EnforceFirst,            ///< mx: mx1.example.test
  EnforceOther,            ///< mx: mx.elsewhere.test (no MX host matches)
  FetchFailed,             ///< valid TXT, fetch failed, nothing cached
  TxtFailed,               ///< TXT SERVFAIL, nothing cached
  TxtBogus,                ///< TXT bogus, nothing cached
  StoreUnreadable,         ///< store read failed, TXT has no record
  StoreUnreadableFetched,  ///< store read failed, enforce policy fetched
  Excluded,                ///< mta_sts.exclude
};

enum class Local { Absent, Opportunistic, Encrypt, Dane, Pkix };

struct Host {
  const char* name;  ///< label under example.test
  Dane dane;
};

struct Row {
  const char* rfc;  ///< RFC-CHECKLIST rows
  bool secure_mx;
  std::vector<Host> hosts;
  Sts sts;
  bool requiretls;
  Local local;
  // --- what the answer must be ---
  const char* per_host;  ///< "mx1 dane, mx2 –": verify per host, "–" = not allowed
  Action action;
  Verify verify;
  Source source;
  const char* postfix;  ///< "TEMP" matches any TEMP reply
};

// clang-format off
const std::vector<Row> k_rows = {
  // --- DANE alone (secure MX, no MTA-STS) ---
  {"DANE-5a", true, {{"mx1", Dane::Usable}}, Sts::NoPolicy, false, Local::Absent,
   "mx1 dane", Action::RequireTls, Verify::Dane, Source::Dane, "OK dane-only"},
  {"DANE-5a, DANE-5c, DANE-7", true, {{"mx1", Dane::Usable}, {"mx2", Dane::None}}, Sts::NoPolicy, false, Local::Absent,
   "mx1 dane, mx2 none", Action::Opportunistic, Verify::Dane, Source::Dane, "OK dane"},
  {"DANE-5b", true, {{"mx1", Dane::Unusable}}, Sts::NoPolicy, false, Local::Absent,
   "mx1 none", Action::RequireTls, Verify::None, Source::Dane, "OK dane"},
  {"DANE-5a, DANE-5b", true, {{"mx1", Dane::Usable}, {"mx2", Dane::Unusable}}, Sts::NoPolicy, false, Local::Absent,
   "mx1 dane, mx2 none", Action::RequireTls, Verify::Dane, Source::Dane, "OK dane"},
  {"DANE-5c", true, {{"mx1", Dane::None}}, Sts::NoPolicy, false, Local::Absent,
   "mx1 none", Action::Opportunistic, Verify::None, Source::None, "NOTFOUND "},
  {"DANE-4, DANE-5d", true, {{"mx1", Dane::Fail}, {"mx2", Dane::None}}, Sts::NoPolicy, false, Local::Absent,
   "mx1 –, mx2 none", Action::Opportunistic, Verify::None, Source::Dane, "OK dane"},
  {"DANE-4, DANE-5d", true, {{"mx1", Dane::Fail}, {"mx2", Dane::Usable}}, Sts::NoPolicy, false, Local::Absent,
   "mx1 –, mx2 dane", Action::RequireTls, Verify::Dane, Source::Dane, "OK dane-only"},
  {"DANE-4", true, {{"mx1", Dane::Fail}}, Sts::NoPolicy, false, Local::Absent,
   "mx1 –", Action::Defer, Verify::None, Source::Dane, "TEMP"},
  {"DANE-19", true, {{"mx1", Dane::Absent}}, Sts::NoPolicy, false, Local::Absent,
   "mx1 –", Action::Bounce, Verify::None, Source::None, "NOTFOUND "},
  {"DANE-19, DANE-5a", true, {{"mx1", Dane::Absent}, {"mx2", Dane::Usable}}, Sts::NoPolicy, false, Local::Absent,
   "mx1 –, mx2 dane", Action::RequireTls, Verify::Dane, Source::Dane, "OK dane-only"},
  // --- MTA-STS alone (insecure MX: no DANE, DANE-6) ---
  {"DANE-6", false, {{"mx1", Dane::None}}, Sts::NoPolicy, false, Local::Absent,
   "mx1 none", Action::Opportunistic, Verify::None, Source::None, "NOTFOUND "},
  {"STS-25, STS-27", false, {{"mx1", Dane::None}}, Sts::EnforceAll, false, Local::Absent,
   "mx1 pkix", Action::RequireTls, Verify::Pkix, Source::MtaSts, "OK secure match=.example.test servername=hostname"},
  {"STS-25, STS-27", false, {{"mx1", Dane::None}, {"mx2", Dane::None}}, Sts::EnforceFirst, false, Local::Absent,
   "mx1 pkix, mx2 –", Action::RequireTls, Verify::Pkix, Source::MtaSts, "OK secure match=mx1.example.test servername=hostname"},
  {"STS-30", false, {{"mx1", Dane::None}}, Sts::EnforceOther, false, Local::Absent,
   "mx1 –", Action::Defer, Verify::None, Source::MtaSts, "TEMP"},
  {"STS-28", false, {{"mx1", Dane::None}}, Sts::Testing, false, Local::Absent,
   "mx1 none", Action::Opportunistic, Verify::None, Source::MtaSts, "NOTFOUND "},
  {"STS-29", false, {{"mx1", Dane::None}}, Sts::ModeNone, false, Local::Absent,
   "mx1 none", Action::Opportunistic, Verify::None, Source::None, "NOTFOUND "},
  {"STS-17", false, {{"mx1", Dane::None}}, Sts::FetchFailed, false, Local::Absent,
   "mx1 none", Action::Opportunistic, Verify::None, Source::None, "NOTFOUND "},
  {"STS-17", false, {{"mx1", Dane::None}}, Sts::TxtFailed, false, Local::Absent,
   "mx1 none", Action::Opportunistic, Verify::None, Source::None, "NOTFOUND "},
  {"DANE-1 (bogus never downgrades)", false, {{"mx1", Dane::None}}, Sts::TxtBogus, false, Local::Absent,
   "mx1 none", Action::Defer, Verify::None, Source::None, "TEMP"},
  {"STS-7, STS-18 (store unreadable)", false, {{"mx1", Dane::None}}, Sts::StoreUnreadable, false, Local::Absent,
   "mx1 none", Action::Defer, Verify::None, Source::None, "TEMP"},
  {"STS-18 (store unreadable, policy fetched)", false, {{"mx1", Dane::None}}, Sts::StoreUnreadableFetched, false, Local::Absent,
   "mx1 pkix", Action::RequireTls, Verify::Pkix, Source::MtaSts, "OK secure match=.example.test servername=hostname"},
  {"SPEC §3 step 1 (exclude)", false, {{"mx1", Dane::None}}, Sts::Excluded, false, Local::Absent,
   "mx1 none", Action::Opportunistic, Verify::None, Source::None, "NOTFOUND "},
  // --- DANE and MTA-STS together: per host the stronger (DANE-21) ---
  {"DANE-21, STS-32", true, {{"mx1", Dane::Usable}, {"mx2", Dane::None}}, Sts::EnforceAll, false, Local::Absent,
   "mx1 dane, mx2 pkix", Action::RequireTls, Verify::Dane, Source::Dane, "OK dane-only"},
  {"DANE-21", true, {{"mx1", Dane::Unusable}}, Sts::EnforceAll, false, Local::Absent,
   "mx1 pkix", Action::RequireTls, Verify::Pkix, Source::MtaSts, "OK secure match=.example.test servername=hostname"},
  {"DANE-21", true, {{"mx1", Dane::Usable}, {"mx2", Dane::Unusable}}, Sts::EnforceAll, false, Local::Absent,
   "mx1 dane, mx2 pkix", Action::RequireTls, Verify::Dane, Source::Dane, "OK dane-only"},
  {"STS-27, STS-32", true, {{"mx1", Dane::Usable}, {"mx2", Dane::Usable}}, Sts::EnforceFirst, false, Local::Absent,
   "mx1 dane, mx2 –", Action::RequireTls, Verify::Dane, Source::Dane, "OK dane-only"},
  {"DANE-21", true, {{"mx1", Dane::None}}, Sts::EnforceAll, false, Local::Absent,
   "mx1 pkix", Action::RequireTls, Verify::Pkix, Source::MtaSts, "OK secure match=.example.test servername=hostname"},
  {"DANE-4, STS-27", true, {{"mx1", Dane::Fail}, {"mx2", Dane::None}}, Sts::EnforceAll, false, Local::Absent,
   "mx1 –, mx2 pkix", Action::RequireTls, Verify::Pkix, Source::MtaSts, "OK secure match=.example.test servername=hostname"},
  {"STS-28, DANE-5a", true, {{"mx1", Dane::Usable}}, Sts::Testing, false, Local::Absent,
   "mx1 dane", Action::RequireTls, Verify::Dane, Source::Dane, "OK dane-only"},
  {"STS-30, DANE-4", true, {{"mx1", Dane::Fail}, {"mx2", Dane::Usable}}, Sts::EnforceOther, false, Local::Absent,
   "mx1 –, mx2 –", Action::Defer, Verify::None, Source::Dane, "TEMP"},
  // --- REQUIRETLS, evaluated last (RT-3, RT-8) ---
  {"RT-3", true, {{"mx1", Dane::Usable}}, Sts::NoPolicy, true, Local::Absent,
   "mx1 dane", Action::RequireTls, Verify::Dane, Source::Dane, "OK dane-only"},
  {"RT-3, RT-8", true, {{"mx1", Dane::Usable}, {"mx2", Dane::None}}, Sts::NoPolicy, true, Local::Absent,
   "mx1 dane, mx2 pkix", Action::RequireTls, Verify::Dane, Source::Dane, "OK dane-only"},
  {"RT-3", true, {{"mx1", Dane::None}}, Sts::NoPolicy, true, Local::Absent,
   "mx1 pkix", Action::RequireTls, Verify::Pkix, Source::RequireTls, "OK secure match=hostname servername=hostname"},
  {"RT-3, DANE-5b", true, {{"mx1", Dane::Unusable}}, Sts::NoPolicy, true, Local::Absent,
   "mx1 pkix", Action::RequireTls, Verify::Pkix, Source::RequireTls, "OK secure match=hostname servername=hostname"},
  {"RT-3, STS-28", true, {{"mx1", Dane::None}}, Sts::Testing, true, Local::Absent,
   "mx1 pkix", Action::RequireTls, Verify::Pkix, Source::RequireTls, "OK secure match=hostname servername=hostname"},
  {"RT-4", false, {{"mx1", Dane::None}}, Sts::NoPolicy, true, Local::Absent,
   "mx1 none", Action::Bounce, Verify::None, Source::RequireTls, "NOTFOUND "},
  {"RT-4, RT-8", false, {{"mx1", Dane::None}}, Sts::Testing, true, Local::Absent,
   "mx1 none", Action::Bounce, Verify::None, Source::RequireTls, "NOTFOUND "},
  {"RT-3", false, {{"mx1", Dane::None}}, Sts::EnforceAll, true, Local::Absent,
   "mx1 pkix", Action::RequireTls, Verify::Pkix, Source::MtaSts, "OK secure match=.example.test servername=hostname"},
  {"RT-8 (transient: defer)", false, {{"mx1", Dane::None}}, Sts::FetchFailed, true, Local::Absent,
   "mx1 none", Action::Defer, Verify::None, Source::RequireTls, "TEMP"},
  {"RT-8 (transient: defer)", false, {{"mx1", Dane::None}}, Sts::TxtFailed, true, Local::Absent,
   "mx1 none", Action::Defer, Verify::None, Source::RequireTls, "TEMP"},
  // --- local policy (SPEC §3 step 1) ---
  {"SPEC §3 step 1", false, {}, Sts::NoPolicy, false, Local::Opportunistic,
   "", Action::Opportunistic, Verify::None, Source::Local, "OK may"},
  {"SPEC §3 step 1", false, {}, Sts::NoPolicy, false, Local::Encrypt,
   "", Action::RequireTls, Verify::None, Source::Local, "OK encrypt"},
  {"SPEC §3 step 1", false, {}, Sts::NoPolicy, false, Local::Dane,
   "", Action::RequireTls, Verify::Dane, Source::Local, "OK dane-only"},
  {"SPEC §3 step 1", false, {}, Sts::NoPolicy, false, Local::Pkix,
   "", Action::RequireTls, Verify::Pkix, Source::Local, "OK secure match=mx.example.test"},
  {"RT-8", false, {{"mx1", Dane::None}}, Sts::NoPolicy, true, Local::Opportunistic,
   "mx1 none", Action::Bounce, Verify::None, Source::RequireTls, "NOTFOUND "},
  {"RT-8", false, {{"mx1", Dane::None}}, Sts::NoPolicy, true, Local::Encrypt,
   "mx1 none", Action::Bounce, Verify::None, Source::RequireTls, "NOTFOUND "},
  {"RT-8", false, {{"mx1", Dane::None}}, Sts::NoPolicy, true, Local::Pkix,
   "mx1 none", Action::Bounce, Verify::None, Source::RequireTls, "NOTFOUND "},
  {"RT-8, RT-3", true, {{"mx1", Dane::Usable}}, Sts::NoPolicy, true, Local::Opportunistic,
   "mx1 dane", Action::RequireTls, Verify::Dane, Source::Dane, "OK dane-only"},
  {"RT-8, RT-3", false, {{"mx1", Dane::None}}, Sts::EnforceAll, true, Local::Encrypt,
   "mx1 pkix", Action::RequireTls, Verify::Pkix, Source::MtaSts, "OK secure match=.example.test servername=hostname"},
  {"RT-8, RT-3", true, {{"mx1", Dane::Usable}}, Sts::NoPolicy, true, Local::Pkix,
   "mx1 pkix", Action::RequireTls, Verify::Pkix, Source::Local, "OK secure match=mx.example.test"},
};
// clang-format on

std::string host_name(const Host& h) { return std::string(h.name) + "." + k_domain; }

dns::TlsaRecord record(int usage) {
  return dns::TlsaRecord{static_cast<std::uint8_t>(usage), 1, 1,
                         std::vector<std::uint8_t>(32, 0xab)};
}

dane::HostResult dane_result(const Host& h) {
  dane::HostResult r;
  r.host = host_name(h);
  r.ttl = 3600s;
  switch (h.dane) {
    case Dane::Usable:
      r.status = dane::HostStatus::Authenticated;
      r.published = {record(3)};
      r.tlsa = r.published;
      r.tlsa_base_domain = r.host;
      break;
    case Dane::Unusable:
      r.status = dane::HostStatus::Unauthenticated;
      r.published = {record(1)};
      r.tlsa_base_domain = r.host;
      break;
    case Dane::None:
      r.status = dane::HostStatus::NoDane;
      break;
    case Dane::Fail:
      r.status = dane::HostStatus::Unusable;
      r.error = "TLSA lookup failed: dns-servfail";
      r.ttl.reset();
      break;
    case Dane::Absent:
      r.status = dane::HostStatus::Absent;
      r.error = "MX host does not exist (NXDOMAIN)";
      break;
  }
  return r;
}

cache::CachedPolicy policy(sts::StsMode mode, std::vector<std::string> mx) {
  sts::StsPolicy p;
  p.mode = mode;
  p.mx = std::move(mx);
  p.max_age = 86400s;
  return cache::CachedPolicy{k_domain, "id1", "version: STSv1\n", p, k_now, k_now + p.max_age, ""};
}

sts::StsOutcome sts_outcome(Sts s) {
  sts::StsOutcome o;
  o.txt_ttl = 300s;
  const auto failure = [&o](Errc code) {
    o.failures.push_back(Error{code, Retry::Transient, "x"});
  };
  switch (s) {
    case Sts::NoPolicy:
    case Sts::Excluded:
      break;
    case Sts::ModeNone:
      o.policy = policy(sts::StsMode::None, {});
      break;
    case Sts::Testing:
      o.policy = policy(sts::StsMode::Testing, {"*.example.test"});
      break;
    case Sts::EnforceAll:
      o.policy = policy(sts::StsMode::Enforce, {"*.example.test"});
      break;
    case Sts::EnforceFirst:
      o.policy = policy(sts::StsMode::Enforce, {"mx1.example.test"});
      break;
    case Sts::EnforceOther:
      o.policy = policy(sts::StsMode::Enforce, {"mx.elsewhere.test"});
      break;
    case Sts::FetchFailed:
      failure(Errc::FetchConnect);
      break;
    case Sts::TxtFailed:
      o.txt_ttl.reset();
      failure(Errc::DnsServfail);
      break;
    case Sts::TxtBogus:
      o.txt_ttl.reset();
      o.txt_bogus = true;
      o.indeterminate = true;
      o.indeterminate_reason = "the _mta-sts TXT answer is DNSSEC-bogus";
      failure(Errc::DnsServfail);
      break;
    case Sts::StoreUnreadable:
      failure(Errc::CacheIo);
      o.indeterminate = true;
      o.indeterminate_reason = "the policy store could not be read";
      break;
    case Sts::StoreUnreadableFetched:
      failure(Errc::CacheIo);
      o.policy = policy(sts::StsMode::Enforce, {"*.example.test"});
      break;
  }
  return o;
}

LocalRule local_policy(Local l) {
  LocalRule p;
  p.domain = k_domain;
  p.action = l == Local::Opportunistic ? LocalAction::Opportunistic : LocalAction::RequireTls;
  p.verify = l == Local::Dane ? Verify::Dane : l == Local::Pkix ? Verify::Pkix : Verify::None;
  if (l == Local::Pkix) p.match = {"mx.example.test"};
  return p;
}

Facts facts(const Row& row) {
  Facts f;
  f.domain = k_domain;
  f.requiretls = row.requiretls;
  f.now = k_now;
  if (row.local != Local::Absent) {
    f.local = local_policy(row.local);
    if (!row.requiretls) return f;  // as the engine gathers: no lookup at all
  }
  dns::DnsAnswer mx;
  mx.qname = k_domain;
  mx.qtype = dns::RrType::Mx;
  mx.outcome = dns::Outcome::Data;
  mx.security = row.secure_mx ? dns::Security::Secure : dns::Security::Insecure;
  mx.ttl = 3600s;
  std::uint16_t pref = 10;
  for (const auto& h : row.hosts) {
    mx.mx.push_back(dns::MxRecord{pref, host_name(h)});
    pref = static_cast<std::uint16_t>(pref + 10);
  }
  f.hosts = mx_hosts(mx, k_domain);
  if (row.secure_mx) {
    for (std::size_t i = 0; i < row.hosts.size(); ++i) f.hosts[i].dane = dane_result(row.hosts[i]);
  }
  f.mx = std::move(mx);
  f.sts_excluded = row.sts == Sts::Excluded;
  if (!f.sts_excluded) f.sts = sts_outcome(row.sts);
  return f;
}

std::string per_host(const Decision& d) {
  std::string out;
  for (const auto& h : d.mx) {
    if (!out.empty()) out += ", ";
    out += h.host.substr(0, h.host.find('.')) + " " +
           (h.allowed ? std::string(to_string(h.verify)) : std::string("–"));
  }
  return out;
}

// ----------------------------------------------------------------- the doc table

const char* name(Dane d) {
  switch (d) {
    case Dane::Usable:
      return "usable TLSA";
    case Dane::Unusable:
      return "unusable TLSA";
    case Dane::None:
      return "no TLSA";
    case Dane::Fail:
      return "TLSA lookup fails";
    case Dane::Absent:
      return "does not exist";
  }
  return "?";
}

const char* name(Sts s) {
  switch (s) {
    case Sts::NoPolicy:
      return "no policy";
    case Sts::ModeNone:
      return "`none`";
    case Sts::Testing:
      return "`testing`";
    case Sts::EnforceAll:
      return "`enforce`, `*.example.test`";
    case Sts::EnforceFirst:
      return "`enforce`, `mx1.example.test`";
    case Sts::EnforceOther:
      return "`enforce`, no MX matches";
    case Sts::FetchFailed:
      return "fetch fails, none cached";
    case Sts::TxtFailed:
      return "TXT SERVFAIL, none cached";
    case Sts::TxtBogus:
      return "TXT bogus, none cached";
    case Sts::StoreUnreadable:
      return "store unreadable, no TXT";
    case Sts::StoreUnreadableFetched:
      return "store unreadable, `enforce` fetched";
    case Sts::Excluded:
      return "excluded";
  }
  return "?";
}

const char* name(Local l) {
  switch (l) {
    case Local::Absent:
      return "–";
    case Local::Opportunistic:
      return "opportunistic";
    case Local::Encrypt:
      return "verify none";
    case Local::Dane:
      return "verify dane";
    case Local::Pkix:
      return "verify pkix";
  }
  return "?";
}

std::string markdown_table() {
  std::ostringstream out;
  out << "| # | MX | MX hosts (DANE) | MTA-STS | REQUIRETLS | local | hosts: allowed/verify | "
         "action / verify / source | `postfix` | RFC |\n";
  out << "|---|---|---|---|---|---|---|---|---|---|\n";
  int n = 0;
  for (const auto& row : k_rows) {
    std::string hosts;
    for (const auto& h : row.hosts) {
      if (!hosts.empty()) hosts += ", ";
      hosts += row.secure_mx ? std::string(h.name) + ": " + name(h.dane) : std::string(h.name);
    }
    if (!row.secure_mx && !row.hosts.empty()) hosts += " (DANE-6: not looked up)";
    if (row.local != Local::Absent && !row.requiretls) hosts = "(not looked up)";
    const std::string mx = row.local != Local::Absent && !row.requiretls ? "–"
                           : row.secure_mx                               ? "secure"
                                                                         : "insecure";
    std::string postfix = std::string("`") + row.postfix + "`";
    if (std::string(row.postfix) == "TEMP") postfix = "`TEMP …`";
    out << "| " << ++n << " | " << mx << " | " << hosts << " | "
        << (row.local != Local::Absent && !row.requiretls ? "–" : name(row.sts)) << " | "
        << (row.requiretls ? "yes" : "–") << " | " << name(row.local) << " | "
        << (*row.per_host ? row.per_host : "–") << " | " << to_string(row.action) << " / "
        << to_string(row.verify) << " / " << to_string(row.source) << " | " << postfix << " | "
        << row.rfc << " |\n";
  }
  return out.str();
}

constexpr std::string_view k_begin =
    "<!-- rules-table: begin (tests/unit/policy/rules_test.cpp) -->\n";
constexpr std::string_view k_end = "<!-- rules-table: end -->";

TEST(RulesTable, EveryRowDecidesAsTheRfcsSay) {
  int n = 0;
  for (const auto& row : k_rows) {
    SCOPED_TRACE("row " + std::to_string(++n) + " [" + row.rfc + "]");
    const auto d = evaluate(facts(row), RuleOptions{});
    EXPECT_EQ(per_host(d), row.per_host);
    EXPECT_EQ(d.action, row.action);
    EXPECT_EQ(d.verify, row.verify);
    EXPECT_EQ(d.source, row.source);
    if (std::string(row.postfix) == "TEMP") {
      EXPECT_TRUE(d.postfix.starts_with("TEMP ")) << d.postfix;
    } else {
      EXPECT_EQ(d.postfix, row.postfix);
    }
    EXPECT_EQ(d.postfix, socketmap_reply(d));
    // REQUIRETLS: satisfiable exactly when the answer is neither a bounce
    // nor a defer, and then the peer must advertise it (RT-1, RT-3).
    if (row.requiretls) {
      const bool ok = row.action != Action::Bounce && row.action != Action::Defer;
      EXPECT_EQ(d.requiretls.satisfiable, ok);
      EXPECT_EQ(d.requiretls.peer_must_advertise, ok);
    } else {
      EXPECT_FALSE(d.requiretls.peer_must_advertise);
    }
    // Never weaker (SPEC §3): a host DANE authenticates stays DANE or is not
    // used; a host under enforce is authenticated or not used.
    for (std::size_t i = 0; i < row.hosts.size() && i < d.mx.size(); ++i) {
      if (row.secure_mx && row.hosts[i].dane == Dane::Usable && d.mx[i].allowed &&
          row.local == Local::Absent) {
        EXPECT_EQ(d.mx[i].verify, Verify::Dane) << d.mx[i].host;
      }
    }
  }
}

TEST(RulesTable, IsTheTableInTheDocs) {
  const auto path = std::filesystem::path{TLSPOLICY_SOURCE_DIR} / "docs" / "decision-rules.md";
  std::ifstream in{path};
  ASSERT_TRUE(in) << path;
  std::stringstream buf;
  buf << in.rdbuf();
  std::string doc = buf.str();
  const auto begin = doc.find(k_begin);
  const auto end = doc.find(k_end);
  ASSERT_NE(begin, std::string::npos) << "no rules-table begin marker in " << path;
  ASSERT_NE(end, std::string::npos) << "no rules-table end marker in " << path;
  const auto first = begin + k_begin.size();
  const std::string want = markdown_table();
  if (const char* update = std::getenv("TLSPOLICY_UPDATE_DOCS"); update && *update == '1') {
    doc.replace(first, end - first, want);
    std::ofstream{path} << doc;
    return;
  }
  EXPECT_EQ(doc.substr(first, end - first), want)
      << "docs/decision-rules.md's table differs from the rows tested here; "
         "TLSPOLICY_UPDATE_DOCS=1 rewrites it";
}

// ----------------------------------------------------------------- TTL (SPEC §3)

Row plain_row(bool secure, Dane dane, Sts sts) {
  return Row{"", secure,        {{"mx1", dane}}, sts,          false, Local::Absent,
             "", Action::Defer, Verify::None,    Source::None, ""};
}

TEST(RulesTtl, DecisionLivesNoLongerThanTheSmallestTtlItRestsOn) {
  auto f = facts(plain_row(true, Dane::Usable, Sts::EnforceAll));
  f.hosts[0].dane->ttl = 120s;
  f.sts->txt_ttl = 60s;
  EXPECT_EQ(evaluate(f, RuleOptions{}).ttl, 60s);
  f.sts->txt_ttl = 1s;  // the _mta-sts TTL is not ignored
  EXPECT_EQ(evaluate(f, RuleOptions{}).ttl, 1s);
}

TEST(RulesTtl, TtlZeroMeansZeroNotUnknown) {
  auto f = facts(plain_row(false, Dane::None, Sts::NoPolicy));
  f.mx->value().ttl = 0s;
  EXPECT_EQ(evaluate(f, RuleOptions{}).ttl, 0s);
  f = facts(plain_row(false, Dane::None, Sts::EnforceAll));
  f.sts->txt_ttl = 0s;
  EXPECT_EQ(evaluate(f, RuleOptions{}).ttl, 0s);
}

TEST(RulesTtl, MaxAgeZeroDoesNotOutliveItsPolicy) {
  auto f = facts(plain_row(false, Dane::None, Sts::EnforceAll));
  f.sts->policy->expires_at = f.sts->policy->fetched_at;  // max_age: 0
  f.sts->policy->policy.max_age = 0s;
  EXPECT_EQ(evaluate(f, RuleOptions{}).ttl, 0s);
}

TEST(RulesTtl, TransientFailureCapsTheTtlAtRetryInterval) {
  RuleOptions o;
  o.transient_ttl = 300s;
  for (const Sts s : {Sts::TxtFailed, Sts::FetchFailed}) {
    const auto d = evaluate(facts(plain_row(false, Dane::None, s)), o);
    EXPECT_EQ(d.postfix, "NOTFOUND ");
    EXPECT_EQ(d.ttl, 300s) << name(s);  // the MX TTL is 3600 s
  }
  auto f = facts(plain_row(true, Dane::None, Sts::NoPolicy));
  f.hosts.push_back(HostFacts{"mx2.example.test", 20, dane_result({"mx2", Dane::Fail})});
  EXPECT_EQ(evaluate(f, o).ttl, 300s);
  f = facts(plain_row(true, Dane::Usable, Sts::NoPolicy));
  f.hosts[0].dane->family_failed = true;  // bogus AAAA beside a secure A
  EXPECT_EQ(evaluate(f, o).ttl, 300s);
}

TEST(RulesTtl, DeferIsNeverKept) {
  const auto d = evaluate(facts(plain_row(false, Dane::None, Sts::TxtBogus)), RuleOptions{});
  EXPECT_EQ(d.action, Action::Defer);
  EXPECT_EQ(d.ttl, 0s);
}

TEST(RulesTtl, LocalPolicyAloneUsesTheLocalTtl) {
  Row row = plain_row(false, Dane::None, Sts::NoPolicy);
  row.local = Local::Dane;
  RuleOptions o;
  o.local_ttl = 42s;
  EXPECT_EQ(evaluate(facts(row), o).ttl, 42s);
}

}  // namespace
}  // namespace tlspolicy::policy
