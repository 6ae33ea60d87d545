// SPDX-License-Identifier: Apache-2.0
//
// NAME
//   curl_poster - the libcurl + OpenSSL HttpsPoster used to upload TLS-RPT reports
// PROTOCOL
//   One HTTPS/1.1 POST per call, on its own curl easy handle (so post() is thread-safe): the body
//   is sent byte for byte with the caller's Content-Type (RFC 8460 §5.4, RPT-16:
//   application/tlsrpt+gzip or application/tlsrpt+json) and the HTTP status is returned; which
//   statuses count as delivered (200 and 201 only) is the caller's rule. "Expect: 100-continue" is
//   suppressed, so the body follows the headers at once.
// LIMITS
//   The transport rules are the fetcher's, set by the one shared detail::configure_transfer()
//   (curl_handles.hpp): https only, certificate verified for the URL's host (DNS-IDs only), TLS >=
//   1.2, redirects never followed (a 3xx is returned as a status), connect and total timeouts.
//   The response body is counted and discarded, at most FetcherOptions::max_body_bytes of it: a
//   longer one ends the transfer, and the status already received is still returned.
// SECURITY
//   RFC 8460 §3 (RPT-5) lets a sender ignore certificate errors for https reporting URIs; this
//   poster does not: the report names the sender's infrastructure and goes to a verified host
//   only. Unless allow_private_addresses, loopback/private/link-local peers are refused (the rua
//   URI comes from DNS, so it must not reach local services). Proxies from the environment are
//   ignored.
// ERRORS
//   As the fetcher (curl_fetcher.cpp), with "posting to" in the words; a Content-Type holding
//   control characters (header injection) -> InvalidArgument.
// SEE ALSO
//   RFC 8460 §3, §5.4; curl_fetcher.cpp; include/tlspolicy/fetch/https_fetcher.hpp
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include <curl/curl.h>

#include "tlspolicy/fetch/https_fetcher.hpp"

#include "curl_handles.hpp"

namespace tlspolicy::fetch {
namespace {

using detail::append;
using detail::RequestLists;
using detail::Transfer;

bool has_control_characters(std::string_view s) {
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) return true;
  }
  return false;
}

class CurlPoster final : public HttpsPoster {
 public:
  explicit CurlPoster(FetcherOptions options) : m_options(std::move(options)) {}

  [[nodiscard]] Result<long> post(std::string_view url, std::string_view content_type,
                                  std::string_view body) const override {
    Transfer t;
    t.upload = true;
    t.keep_body = false;  // only the status matters; the body is counted against the cap
    auto parsed = detail::parse_https_url(url, t.host);
    if (!parsed) return Unexpected{parsed.error()};
    if (content_type.empty() || has_control_characters(content_type)) {
      return fail(Errc::InvalidArgument, Retry::Permanent,
                  "Content-Type for " + t.host + " is empty or holds control characters");
    }
    t.max_body = m_options.max_body_bytes;
    t.allow_private = m_options.allow_private_addresses;

    RequestLists lists;
    if (!append(lists.headers, "Content-Type: " + std::string(content_type)) ||  // RFC 8460 §5.4
        !append(lists.headers, "Expect:")) {  // no 100-continue round trip
      return out_of_memory();
    }
    for (const auto& entry : m_options.connect_to) {
      if (!append(lists.connect_to, entry)) return out_of_memory();
    }

    CurlEasy easy{curl_easy_init()};
    if (!easy) return fail(Errc::FetchOther, Retry::Transient, "curl_easy_init failed");
    CURLcode rc = detail::configure_transfer(easy.get(), parsed->get(), m_options, t, lists);
    // RFC 8460 §5.4: "the report is submitted by POST". POSTFIELDS is not copied: `body` outlives
    // the transfer. An empty body still needs a non-null pointer, or curl would read stdin.
    const char* data = body.data() != nullptr ? body.data() : "";
    const auto set = [&rc](CURLcode c) {
      if (rc == CURLE_OK) rc = c;
    };
    set(curl_easy_setopt(easy.get(), CURLOPT_POST, 1L));
    set(curl_easy_setopt(easy.get(), CURLOPT_POSTFIELDSIZE_LARGE,
                         static_cast<curl_off_t>(body.size())));
    set(curl_easy_setopt(easy.get(), CURLOPT_POSTFIELDS, data));
    if (rc != CURLE_OK) {
      return fail(Errc::FetchOther, Retry::Permanent,
                  std::string("libcurl refused a transport setting: ") + curl_easy_strerror(rc));
    }

    rc = curl_easy_perform(easy.get());
    long status = 0;
    (void)curl_easy_getinfo(easy.get(), CURLINFO_RESPONSE_CODE, &status);
    if (rc != CURLE_OK) {
      // A response body over the cap: the upload is complete and the status is in; only the
      // (ignored) body was cut short.
      const bool body_cut = t.too_large || rc == CURLE_FILESIZE_EXCEEDED;
      if (body_cut && status > 0 && t.refused.empty()) return status;
      return Unexpected{detail::transfer_error(easy.get(), rc, t, m_options)};
    }
    return status;
  }

 private:
  static Unexpected<Error> out_of_memory() {
    return fail(Errc::FetchOther, Retry::Transient, "curl_slist_append: out of memory");
  }

  FetcherOptions m_options;
};

}  // namespace

Result<std::unique_ptr<HttpsPoster>> make_curl_poster(const FetcherOptions& options) {
  if (auto ok = detail::check_options(options); !ok) return Unexpected{ok.error()};
  return std::unique_ptr<HttpsPoster>(std::make_unique<CurlPoster>(options));
}

}  // namespace tlspolicy::fetch
