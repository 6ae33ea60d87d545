// SPDX-License-Identifier: Apache-2.0
//
// TLSA record usability for SMTP (RFC 6698 §4.1, RFC 7672 §3.1.3: only
// DANE-TA(2) and DANE-EE(3); DANE-2, DANE-15) and digest algorithm agility
// (RFC 7671 §9, DANE-16): which records of a secure TLSA RRset the client
// authenticates the server with. Pure functions, no I/O.
#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

#include "tlspolicy/dane/dane.hpp"

namespace tlspolicy::dane {
namespace {

// RFC 6698 §7.2 / RFC 7218 acronyms.
constexpr std::uint8_t k_usage_dane_ta = 2;
constexpr std::uint8_t k_usage_dane_ee = 3;
constexpr std::uint8_t k_selector_cert = 0;
constexpr std::uint8_t k_selector_spki = 1;
constexpr std::uint8_t k_mtype_full = 0;
constexpr std::uint8_t k_mtype_sha256 = 1;
constexpr std::uint8_t k_mtype_sha512 = 2;
constexpr std::size_t k_sha256_len = 32;
constexpr std::size_t k_sha512_len = 64;

/// Digest strength for RFC 7671 §9 ordering: higher is stronger; Full(0) is
/// not a digest and is always kept, so it ranks 0.
int digest_rank(std::uint8_t mtype) noexcept {
  switch (mtype) {
    case k_mtype_sha256:
      return 1;
    case k_mtype_sha512:
      return 2;
    default:
      return 0;
  }
}

}  // namespace

std::string_view to_string(HostStatus s) noexcept {
  switch (s) {
    case HostStatus::Authenticated:
      return "dane-authenticated";
    case HostStatus::Unauthenticated:
      return "tls-unauthenticated";
    case HostStatus::NoDane:
      return "no-dane";
    case HostStatus::Unusable:
      return "unusable";
    case HostStatus::Absent:
      return "absent";
  }
  return "unusable";
}

bool usable(const dns::TlsaRecord& r) noexcept {
  // RFC 7672 §3.1.3 (DANE-15): PKIX-TA(0) and PKIX-EE(1) are treated as
  // unusable for SMTP; unknown usages are unusable (RFC 6698 §4.1, DANE-2).
  if (r.usage != k_usage_dane_ta && r.usage != k_usage_dane_ee) return false;
  // RFC 6698 §2.1.2: selector 0 = full certificate, 1 = SubjectPublicKeyInfo.
  if (r.selector != k_selector_cert && r.selector != k_selector_spki) return false;
  // RFC 6698 §2.1.3 / §4.1 (DANE-2): malformed association data (a digest
  // of the wrong length, or empty full data) makes the record unusable.
  switch (r.mtype) {
    case k_mtype_full:
      return !r.data.empty();
    case k_mtype_sha256:
      return r.data.size() == k_sha256_len;
    case k_mtype_sha512:
      return r.data.size() == k_sha512_len;
    default:
      return false;
  }
}

std::vector<dns::TlsaRecord> select_for_authentication(
    const std::vector<dns::TlsaRecord>& records) {
  // RFC 7671 §9 (DANE-16) step 1: drop the unusable records.
  std::vector<const dns::TlsaRecord*> kept;
  kept.reserve(records.size());
  for (const auto& r : records) {
    if (usable(r)) kept.push_back(&r);
  }
  // Step 2: for each (usage, selector) pair, the strongest digest present.
  // Usages and selectors are 2..3 and 0..1 here, so a 2x2 table suffices.
  std::array<std::array<int, 2>, 2> strongest{};
  const auto slot = [](const dns::TlsaRecord& r) {
    return std::pair<std::size_t, std::size_t>{static_cast<std::size_t>(r.usage - 2),
                                               static_cast<std::size_t>(r.selector)};
  };
  for (const auto* r : kept) {
    const auto [u, s] = slot(*r);
    strongest.at(u).at(s) = std::max(strongest.at(u).at(s), digest_rank(r->mtype));
  }
  // Step 3: keep Full(0) records and digests of the strongest algorithm,
  // in the published order.
  std::vector<dns::TlsaRecord> out;
  out.reserve(kept.size());
  for (const auto* r : kept) {
    const auto [u, s] = slot(*r);
    if (r->mtype == k_mtype_full || digest_rank(r->mtype) == strongest.at(u).at(s)) {
      out.push_back(*r);
    }
  }
  return out;
}

}  // namespace tlspolicy::dane
