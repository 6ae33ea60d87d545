// SPDX-License-Identifier: Apache-2.0
//
// Decision vocabulary and its socketmap form. The words Postfix reads are
// spelled here and nowhere else (Postfix smtp_tls_policy_maps levels).
#include "tlspolicy/policy/decision.hpp"

#include <algorithm>
#include <array>
#include <utility>

namespace tlspolicy::policy {
namespace {

constexpr std::array k_tls_level_names = {
    std::pair{TlsLevel::None, "none"},          std::pair{TlsLevel::May, "may"},
    std::pair{TlsLevel::Encrypt, "encrypt"},    std::pair{TlsLevel::Dane, "dane"},
    std::pair{TlsLevel::DaneOnly, "dane-only"}, std::pair{TlsLevel::Verify, "verify"},
    std::pair{TlsLevel::Secure, "secure"},
};

}  // namespace

std::string_view to_string(TlsLevel l) noexcept {
  for (const auto& [level, name] : k_tls_level_names) {
    if (level == l) return name;
  }
  return "none";
}

std::string_view to_string(Action a) noexcept {
  switch (a) {
    case Action::RequireTls:
      return "require-tls";
    case Action::Opportunistic:
      return "opportunistic";
    case Action::Defer:
      return "defer";
    case Action::Bounce:
      return "bounce";
  }
  return "defer";
}

std::string_view to_string(Verify v) noexcept {
  switch (v) {
    case Verify::Dane:
      return "dane";
    case Verify::Pkix:
      return "pkix";
    case Verify::None:
      return "none";
  }
  return "none";
}

std::string_view to_string(Source s) noexcept {
  switch (s) {
    case Source::Local:
      return "local";
    case Source::Dane:
      return "dane";
    case Source::MtaSts:
      return "mta-sts";
    case Source::RequireTls:
      return "requiretls";
    case Source::None:
      return "none";
  }
  return "none";
}

bool authenticates_some_host(const Decision& d) noexcept {
  if (d.action == Action::Defer || d.action == Action::Bounce) return false;
  switch (d.postfix_level) {
    case TlsLevel::DaneOnly:
    case TlsLevel::Secure:
    case TlsLevel::Verify:
      return true;
    case TlsLevel::Dane:
      return std::any_of(d.mx.begin(), d.mx.end(),
                         [](const MxHost& h) { return h.allowed && h.verify == Verify::Dane; });
    case TlsLevel::None:
    case TlsLevel::May:
    case TlsLevel::Encrypt:
      return false;
  }
  return false;
}

std::chrono::seconds remaining_ttl(const Decision& d, util::TimePoint now) noexcept {
  const auto left = d.ttl - (now - d.decided_at);
  return std::clamp(left, std::chrono::seconds{0}, d.ttl);
}

std::string postfix_match_name(std::string_view sts_pattern) {
  // Postfix "secure" match syntax: a leading "." matches any subdomain; the
  // MTA-STS "*." matches exactly one label, which Postfix's ".x" includes
  // (the engine marks hosts deeper than one label as not allowed).
  if (sts_pattern.starts_with("*.")) return std::string(sts_pattern.substr(1));
  return std::string(sts_pattern);
}

std::string socketmap_reason(std::string_view reason) {
  std::string out;
  out.reserve(reason.size());
  for (const char c : reason) {
    const auto u = static_cast<unsigned char>(c);
    out += (u < 0x20 || u == 0x7f) ? ' ' : (c == ',' ? ';' : c);
  }
  return out;
}

std::string socketmap_reply(const Decision& d) {
  switch (d.action) {
    case Action::RequireTls: {
      std::string reply = "OK ";
      reply += to_string(d.postfix_level);
      if (!d.postfix_match.empty()) {
        reply += " match=";
        for (std::size_t i = 0; i < d.postfix_match.size(); ++i) {
          if (i != 0) reply += ':';
          reply += d.postfix_match[i];
        }
      }
      if (d.servername_hostname) reply += " servername=hostname";
      return reply;
    }
    case Action::Defer:
      return "TEMP " + socketmap_reason(d.reason);
    case Action::Opportunistic:
      // A local "opportunistic" override (may) and partial DANE (dane) name
      // their level; anything else leaves Postfix on its own
      // smtp_tls_security_level.
      if (d.postfix_level == TlsLevel::None) return "NOTFOUND ";
      return "OK " + std::string(to_string(d.postfix_level));
    case Action::Bounce:
      return "NOTFOUND ";
  }
  return "NOTFOUND ";
}

}  // namespace tlspolicy::policy
