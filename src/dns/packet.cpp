// SPDX-License-Identifier: Apache-2.0
//
// Private to src/dns: reply packet -> DnsAnswer, shared by the trust-ad
// (ldns_resolver.cpp) and validate (unbound_resolver.cpp) backends. See
// packet.hpp for the contract.
#include "packet.hpp"

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>

#include "ldns_handles.hpp"
#include <arpa/inet.h>

namespace tlspolicy::dns::detail {

std::string rcode_name(ldns_pkt_rcode rcode) {
  const ldns_lookup_table* entry = ldns_lookup_by_id(ldns_rcodes, static_cast<int>(rcode));
  if (entry != nullptr && entry->name != nullptr) return entry->name;
  return "RCODE" + std::to_string(static_cast<int>(rcode));
}

std::optional<std::string> address_text(const ldns_rdf* rdf, RrType type) {
  if (rdf == nullptr) return std::nullopt;
  const int family = type == RrType::A ? AF_INET : AF_INET6;
  const std::size_t size = type == RrType::A ? 4 : 16;
  if (ldns_rdf_size(rdf) != size) return std::nullopt;
  std::array<char, INET6_ADDRSTRLEN> buf{};
  if (inet_ntop(family, ldns_rdf_data(rdf), buf.data(), static_cast<socklen_t>(buf.size())) ==
      nullptr) {
    return std::nullopt;
  }
  return std::string{buf.data()};
}

namespace {

// RFC 1034 §3.6.2 lets resolvers bound CNAME chains; Unbound follows at most
// 11 to 16 links. Longer chains (or loops) count as malformed answers.
constexpr int k_max_cname_links = 16;

/// The absolute name as an ldns dname (no search list can apply).
LdnsRdf qname_rdf(const DomainName& name) {
  return LdnsRdf{ldns_dname_new_frm_str((name.str() + ".").c_str())};
}

char ascii_lower(char c) noexcept {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

/// A domain name rdf as lower-case text without the trailing dot; "" for the
/// root.
std::string dname_text(const ldns_rdf* rdf) {
  if (rdf == nullptr) return {};
  const LdnsText text{ldns_rdf2str(rdf)};
  if (!text) return {};
  std::string out{text.get()};
  std::transform(out.begin(), out.end(), out.begin(), ascii_lower);
  if (!out.empty() && out.back() == '.') out.pop_back();
  return out;
}

bool same_name(const ldns_rdf* a, const ldns_rdf* b) {
  return a != nullptr && b != nullptr && ldns_dname_compare(a, b) == 0;
}

/// The rdf at `index`, or nullptr when the RR has fewer fields.
const ldns_rdf* field(const ldns_rr* rr, std::size_t index) {
  return index < ldns_rr_rd_count(rr) ? ldns_rr_rdf(rr, index) : nullptr;
}

/// Copies the RDATA of one RR of the asked type into `out`; false when the
/// RDATA does not have the fields of its type.
bool copy_record(const ldns_rr* rr, RrType type, DnsAnswer& out) {
  switch (type) {
    case RrType::Mx: {
      // RFC 1035 §3.3.9: PREFERENCE (16 bits), EXCHANGE (domain name).
      const ldns_rdf* pref = field(rr, 0);
      const ldns_rdf* exchange = field(rr, 1);
      if (pref == nullptr || exchange == nullptr || ldns_rdf_size(pref) != 2 ||
          ldns_rdf_get_type(exchange) != LDNS_RDF_TYPE_DNAME) {
        return false;
      }
      out.mx.push_back(MxRecord{ldns_rdf2native_int16(pref), dname_text(exchange)});
      return true;
    }
    case RrType::Txt: {
      // RFC 1035 §3.3.14: one or more <character-string>s, each a length
      // octet and that many bytes; kept separate and byte for byte.
      TxtRecord txt;
      for (std::size_t i = 0; i < ldns_rr_rd_count(rr); ++i) {
        const ldns_rdf* s = ldns_rr_rdf(rr, i);
        if (s == nullptr || ldns_rdf_size(s) < 1) return false;
        const std::uint8_t* data = ldns_rdf_data(s);
        const std::size_t len = std::min<std::size_t>(data[0], ldns_rdf_size(s) - 1);
        txt.strings.emplace_back(reinterpret_cast<const char*>(data + 1), len);
      }
      out.txt.push_back(std::move(txt));
      return true;
    }
    case RrType::A:
    case RrType::Aaaa: {
      auto text = address_text(field(rr, 0), type);
      if (!text) return false;
      out.addresses.push_back(std::move(*text));
      return true;
    }
    case RrType::Tlsa: {
      // RFC 6698 §2.1: usage, selector, matching type (8 bits each), data.
      const ldns_rdf* usage = field(rr, 0);
      const ldns_rdf* selector = field(rr, 1);
      const ldns_rdf* mtype = field(rr, 2);
      const ldns_rdf* data = field(rr, 3);
      if (usage == nullptr || selector == nullptr || mtype == nullptr ||
          ldns_rdf_size(usage) != 1 || ldns_rdf_size(selector) != 1 || ldns_rdf_size(mtype) != 1) {
        return false;
      }
      TlsaRecord tlsa;
      tlsa.usage = ldns_rdf_data(usage)[0];
      tlsa.selector = ldns_rdf_data(selector)[0];
      tlsa.mtype = ldns_rdf_data(mtype)[0];
      if (data != nullptr) {
        const std::uint8_t* bytes = ldns_rdf_data(data);
        tlsa.data.assign(bytes, bytes + ldns_rdf_size(data));
      }
      out.tlsa.push_back(std::move(tlsa));
      return true;
    }
    case RrType::Cname:
      // The target is reported as canonical_name by the caller.
      return true;
  }
  return false;
}

class TtlMin {
 public:
  void add(std::uint32_t ttl) { m_ttl = m_ttl ? std::min(*m_ttl, ttl) : ttl; }
  [[nodiscard]] std::chrono::seconds value() const {
    return std::chrono::seconds{m_ttl.value_or(0)};
  }
  [[nodiscard]] bool empty() const { return !m_ttl.has_value(); }

 private:
  std::optional<std::uint32_t> m_ttl;
};

/// RFC 2308 §5: the negative TTL is min(SOA TTL, SOA MINIMUM) of the SOA in
/// the authority section; nullopt when there is none.
std::optional<std::uint32_t> negative_ttl(const ldns_pkt* reply) {
  const ldns_rr_list* authority = ldns_pkt_authority(reply);
  if (authority == nullptr) return std::nullopt;
  for (std::size_t i = 0; i < ldns_rr_list_rr_count(authority); ++i) {
    const ldns_rr* rr = ldns_rr_list_rr(authority, i);
    if (ldns_rr_get_type(rr) != LDNS_RR_TYPE_SOA || ldns_rr_get_class(rr) != LDNS_RR_CLASS_IN) {
      continue;
    }
    const ldns_rdf* minimum = field(rr, 6);
    if (minimum == nullptr || ldns_rdf_size(minimum) != 4) continue;
    return std::min(ldns_rr_ttl(rr), ldns_rdf2native_int32(minimum));
  }
  return std::nullopt;
}

}  // namespace

Result<DnsAnswer> answer_from_packet(const ldns_pkt* reply, const DomainName& name, RrType type,
                                     Security security, const std::string& where) {
  const LdnsRdf owned_qname = qname_rdf(name);
  if (!owned_qname) {
    return fail(Errc::Internal, Retry::Transient, "ldns cannot represent " + name.str());
  }
  const ldns_rdf* qname = owned_qname.get();
  const auto want = static_cast<ldns_rr_type>(static_cast<std::uint16_t>(type));
  DnsAnswer out;
  out.qname = name.str();
  out.qtype = type;
  out.security = security;

  const ldns_rr_list* answer = ldns_pkt_answer(reply);
  const std::size_t count = answer != nullptr ? ldns_rr_list_rr_count(answer) : 0;
  TtlMin ttl;

  // RFC 1034 §3.6.2 / RFC 2181 §10.1: follow the CNAME chain from the qname;
  // the records sought sit at the end of it.
  const ldns_rdf* owner = qname;
  for (int links = 0;; ++links) {
    const ldns_rr* cname = nullptr;
    for (std::size_t i = 0; i < count && cname == nullptr; ++i) {
      const ldns_rr* rr = ldns_rr_list_rr(answer, i);
      if (ldns_rr_get_type(rr) == LDNS_RR_TYPE_CNAME && ldns_rr_get_class(rr) == LDNS_RR_CLASS_IN &&
          same_name(ldns_rr_owner(rr), owner) && field(rr, 0) != nullptr) {
        cname = rr;
      }
    }
    if (cname == nullptr) break;
    if (links == k_max_cname_links) {
      return fail(Errc::DnsMalformed, Retry::Transient,
                  "the answer from " + where + " for " + name.str() +
                      " has a CNAME chain longer than 16 links (or a loop)");
    }
    ttl.add(ldns_rr_ttl(cname));
    owner = field(cname, 0);
    out.canonical_name = dname_text(owner);
    if (type == RrType::Cname) break;  // asked for the CNAME itself: do not chase it
  }

  if (ldns_pkt_get_rcode(reply) == LDNS_RCODE_NXDOMAIN) {
    // RFC 6604 §3: the rcode describes the last name of the chain.
    out.outcome = Outcome::NxDomain;
  } else if (type == RrType::Cname) {
    out.outcome = out.canonical_name.empty() ? Outcome::NoData : Outcome::Data;
  } else {
    for (std::size_t i = 0; i < count; ++i) {
      const ldns_rr* rr = ldns_rr_list_rr(answer, i);
      if (ldns_rr_get_type(rr) != want || ldns_rr_get_class(rr) != LDNS_RR_CLASS_IN ||
          !same_name(ldns_rr_owner(rr), owner)) {
        continue;
      }
      if (!copy_record(rr, type, out)) {
        return fail(Errc::DnsMalformed, Retry::Transient,
                    "the answer from " + where + " for " + name.str() + " holds a malformed " +
                        std::string{to_string(type)} + " record");
      }
      ttl.add(ldns_rr_ttl(rr));
      out.outcome = Outcome::Data;
    }
    if (out.outcome != Outcome::Data) out.outcome = Outcome::NoData;
  }

  // A chain that ends without the records and without a negative answer (SOA) for its last
  // name is a resolver that stopped half-way (seen under load), not a proof that nothing is
  // there: taking it for NODATA would read "no MTA-STS record" or "no TLSA" into a gap.
  if (out.outcome == Outcome::NoData && !out.canonical_name.empty() && !negative_ttl(reply)) {
    return fail(Errc::DnsServfail, Retry::Transient,
                "the answer from " + where + " for " + name.str() + " " +
                    std::string{to_string(type)} + " follows CNAMEs to " + out.canonical_name +
                    " and stops there without records or a negative answer (incomplete)");
  }

  if (out.outcome == Outcome::Data) {
    out.ttl = ttl.value();
  } else if (const auto negative = negative_ttl(reply)) {
    ttl.add(*negative);
    out.ttl = ttl.value();
  } else {
    out.ttl = std::chrono::seconds{0};  // RFC 2308 §5: no SOA, do not cache
  }
  return out;
}

bool question_matches(const ldns_pkt* reply, const DomainName& name, RrType type) {
  const LdnsRdf qname = qname_rdf(name);
  const auto want = static_cast<ldns_rr_type>(static_cast<std::uint16_t>(type));
  if (!qname) return false;
  const ldns_rr_list* question = ldns_pkt_question(reply);
  if (question == nullptr || ldns_rr_list_rr_count(question) != 1) return false;
  const ldns_rr* q = ldns_rr_list_rr(question, 0);
  return ldns_rr_get_type(q) == want && ldns_rr_get_class(q) == LDNS_RR_CLASS_IN &&
         same_name(ldns_rr_owner(q), qname.get());
}

}  // namespace tlspolicy::dns::detail
