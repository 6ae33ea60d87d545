// SPDX-License-Identifier: Apache-2.0
//
// Fuzz target for DNS replies (both resolver backends): the input is a reply
// in wire format, parsed by ldns_wire2pkt() as ldns_resolver.cpp (ldns_send)
// and unbound_resolver.cpp (libunbound's answer_packet) do, then read by the
// private src/dns/packet.cpp: question_matches() and answer_from_packet() for
// every record type the daemon asks (A, AAAA, CNAME, MX, TXT, TLSA: this is
// where TLSA rdata from the network becomes TlsaRecord). The name asked is
// the reply's own question when it is a valid DomainName (so the CNAME chain
// and answer matching are reached), else "example.test". Invariants: nothing
// crashes or throws; an answer carries the name and type asked, a TTL >= 0,
// records only of the type asked and only with Outcome::Data, and Data has at
// least one record (or, for CNAME, a canonical name).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>

#include "tlspolicy/dns/answer.hpp"
#include "tlspolicy/dns/name.hpp"

#include "packet.hpp"  // src/dns, private (and ldns through it): included only by this target

// Declared here for -Wmissing-declarations; libFuzzer or standalone_main.cpp calls it.
extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

namespace {

using namespace tlspolicy::dns;

/// The reply's question name as a DomainName, when it has exactly one valid one.
std::optional<DomainName> question_name(const ldns_pkt* pkt) {
  const ldns_rr_list* q = ldns_pkt_question(pkt);
  if (q == nullptr || ldns_rr_list_rr_count(q) != 1) return std::nullopt;
  char* text = ldns_rdf2str(ldns_rr_owner(ldns_rr_list_rr(q, 0)));
  if (text == nullptr) return std::nullopt;
  auto name = DomainName::parse(text);
  LDNS_FREE(text);
  if (!name) return std::nullopt;
  return *name;
}

void check(const ldns_pkt* pkt, const DomainName& name, RrType type) {
  (void)detail::question_matches(pkt, name, type);
  const auto got = detail::answer_from_packet(pkt, name, type, Security::Insecure, "fuzz");
  if (!got) {
    if (got.error().detail.empty()) std::abort();
    return;
  }
  const DnsAnswer& a = *got;
  if (a.qname != name.str() || a.qtype != type || a.ttl.count() < 0) std::abort();
  const bool data = a.outcome == Outcome::Data;
  const std::size_t mx = a.mx.size();
  const std::size_t txt = a.txt.size();
  const std::size_t addr = a.addresses.size();
  const std::size_t tlsa = a.tlsa.size();
  if (!data && mx + txt + addr + tlsa != 0) std::abort();
  if (type != RrType::Mx && mx != 0) std::abort();
  if (type != RrType::Txt && txt != 0) std::abort();
  if (type != RrType::A && type != RrType::Aaaa && addr != 0) std::abort();
  if (type != RrType::Tlsa && tlsa != 0) std::abort();
  if (data) {
    const std::size_t n =
        type == RrType::Cname ? (a.canonical_name.empty() ? 0U : 1U) : mx + txt + addr + tlsa;
    if (n == 0) std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  ldns_pkt* pkt = nullptr;
  if (ldns_wire2pkt(&pkt, data, size) != LDNS_STATUS_OK || pkt == nullptr) return 0;
  const auto asked = question_name(pkt);
  const DomainName name = asked ? *asked : *DomainName::parse("example.test");
  for (const RrType type :
       {RrType::A, RrType::Aaaa, RrType::Cname, RrType::Mx, RrType::Txt, RrType::Tlsa}) {
    check(pkt, name, type);
  }
  (void)detail::rcode_name(ldns_pkt_get_rcode(pkt));
  ldns_pkt_free(pkt);
  return 0;
}
