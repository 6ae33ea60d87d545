// SPDX-License-Identifier: Apache-2.0
//
// Private to src/dns: owning handles for the ldns objects the trust-ad
// resolver creates. Each alias names the call that produces the object, so
// the matching free function is used (HOUSE-STYLE §5). Nothing from ldns
// leaves src/dns/.
#pragma once

#include "tlspolicy/util/c_handle.hpp"

#include "ldns.hpp"

namespace tlspolicy::dns::detail {

/// ldns_resolver_new() / ldns_resolver_new_frm_file(). Deep free: the resolver
/// owns its nameserver rdfs (ldns_resolver_push_nameserver() clones them).
/// NOT ldns_resolver_free, which is shallow.
using LdnsResolver = util::CHandle<ldns_resolver, ldns_resolver_deep_free>;

/// ldns_resolver_prepare_query_pkt() (query) and ldns_resolver_send_pkt()
/// (reply); ldns_pkt_free() frees the sections and every RR in them.
using LdnsPacket = util::CHandle<ldns_pkt, ldns_pkt_free>;

/// ldns_dname_new_frm_str() / ldns_rdf_new_frm_str().
using LdnsRdf = util::CHandle<ldns_rdf, ldns_rdf_deep_free>;

inline void free_ldns_text(char* s) noexcept { LDNS_FREE(s); }

/// ldns_rdf2str() / ldns_rr_type2str(): a malloc'ed C string.
using LdnsText = util::CHandle<char, free_ldns_text>;

// BORROWED, never wrap: ldns_pkt_answer(), ldns_pkt_authority(),
// ldns_pkt_question(), ldns_rr_list_rr(), ldns_rr_rdf(), ldns_rr_owner(),
// ldns_resolver_nameservers(): they point into the packet or resolver above.

}  // namespace tlspolicy::dns::detail
