// SPDX-License-Identifier: Apache-2.0
//
// Errc -> stable text, used in logs, JSON error objects and socketmap TEMP
// replies. The strings are part of the interface: never rename one.
#include "tlspolicy/util/result.hpp"

namespace tlspolicy {

std::string_view to_string(Errc code) noexcept {
  switch (code) {
    case Errc::InvalidArgument:
      return "invalid-argument";
    case Errc::DomainSyntax:
      return "domain-syntax";
    case Errc::DnsTimeout:
      return "dns-timeout";
    case Errc::DnsServfail:
      return "dns-servfail";
    case Errc::DnsRefused:
      return "dns-refused";
    case Errc::DnsNetwork:
      return "dns-network";
    case Errc::DaneHostUnusable:
      return "dane-host-unusable";
    case Errc::DnsMalformed:
      return "dns-malformed";
    case Errc::FetchConnect:
      return "fetch-connect";
    case Errc::FetchTls:
      return "fetch-tls";
    case Errc::FetchTimeout:
      return "fetch-timeout";
    case Errc::FetchStatus:
      return "fetch-status";
    case Errc::FetchRedirect:
      return "fetch-redirect";
    case Errc::FetchContentType:
      return "fetch-content-type";
    case Errc::FetchTooLarge:
      return "fetch-too-large";
    case Errc::FetchPrivateAddress:
      return "fetch-private-address";
    case Errc::FetchOther:
      return "fetch-error";
    case Errc::StsNoRecord:
      return "sts-no-record";
    case Errc::StsTxtSyntax:
      return "sts-txt-syntax";
    case Errc::StsPolicySyntax:
      return "sts-policy-syntax";
    case Errc::CacheIo:
      return "cache-io";
    case Errc::CacheSchema:
      return "cache-schema";
    case Errc::Claimed:
      return "claimed";
    case Errc::ConfigSyntax:
      return "config-syntax";
    case Errc::ConfigValue:
      return "config-value";
    case Errc::RequestMalformed:
      return "request-malformed";
    case Errc::RequestTooLarge:
      return "request-too-large";
    case Errc::Internal:
      return "internal";
  }
  return "internal";
}

}  // namespace tlspolicy
