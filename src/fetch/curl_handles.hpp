// SPDX-License-Identifier: Apache-2.0
//
// Private to src/fetch: the RAII aliases for the libcurl handles owned by this module
// (HOUSE-STYLE §5), and the transport policy shared by the GET fetcher (curl_fetcher.cpp) and the
// TLS-RPT POST uploader (curl_poster.cpp). Each alias names the call that produces the handle, so
// the matching free function is the one used. No libcurl pointer leaves src/fetch: status,
// Content-Type and body are copied out before the handles are released.
//
// The shared part is defined in curl_fetcher.cpp: one easy-handle setup (configure_transfer), one
// mapping of curl failures to Errc (transfer_error), one https:// URL check (parse_https_url) and
// one options check (check_options), so that both directions of HTTPS obey the same rules (TLS >=
// 1.2, verified certificates, no redirects, timeouts, no private peers, body cap).
#pragma once

#include <array>
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include <curl/curl.h>

#include "tlspolicy/fetch/https_fetcher.hpp"
#include "tlspolicy/util/c_handle.hpp"
#include "tlspolicy/util/result.hpp"

namespace tlspolicy::fetch {

// From curl_easy_init(); one per HttpsFetcher::get() / HttpsPoster::post() call, never shared
// between threads.
using CurlEasy = util::CHandle<CURL, curl_easy_cleanup>;
// From curl_slist_append(); OWNS every string in the list. Must outlive the transfer that uses
// it (CURLOPT_HTTPHEADER, CURLOPT_CONNECT_TO keep the pointer, not a copy).
using CurlSlist = util::CHandle<curl_slist, curl_slist_free_all>;
// From curl_url(); must outlive the transfer when passed with CURLOPT_CURLU.
using CurlUrl = util::CHandle<CURLU, curl_url_cleanup>;
// From curl_url_get() (and other calls documented as "free with curl_free()").
using CurlString = util::CHandle<char, curl_free>;

namespace detail {

/// Everything the C callbacks of one transfer read or record. Lives on the caller's stack for the
/// whole transfer; the callbacks are noexcept and only record, never throw.
struct Transfer {
  std::string host;                  // the URL's host: SNI, Host header and DNS-ID to verify
  std::size_t max_body = 0;          // FetcherOptions::max_body_bytes: response body cap
  bool allow_private = false;        // FetcherOptions::allow_private_addresses
  bool keep_body = true;             // false: the response body is counted and discarded (POST)
  bool upload = false;               // true: a POST (only changes the words of errors)
  std::string body;                  // response bytes kept so far (never more than max_body)
  std::size_t received = 0;          // response bytes received so far (kept or not)
  bool too_large = false;            // the write callback refused data beyond max_body
  bool out_of_memory = false;        // the write callback could not store data
  std::vector<std::string> refused;  // addresses the open-socket hook refused as not public
  bool tls_setup_failed = false;     // the SSL_CTX hook could not set the verification rules
  std::array<char, CURL_ERROR_SIZE> error_buffer{};  // CURLOPT_ERRORBUFFER
};

/// The request lists that must outlive the transfer.
struct RequestLists {
  CurlSlist headers;
  CurlSlist connect_to;
};

/// Appends one string to a curl_slist, keeping ownership in `list`. False when out of memory.
[[nodiscard]] bool append(CurlSlist& list, const std::string& item);

/// Parses and checks an https:// URL with curl's own parser (the one that will use it).
/// On success `host` holds the URL's host name. Errors: InvalidArgument (Permanent).
[[nodiscard]] Result<CurlUrl> parse_https_url(std::string_view url, std::string& host);

/// The whole transport policy of one transfer, one reason per line: https only, certificate and
/// host verification (OpenSSL DNS-ID rules), TLS >= 1.2, no redirects, timeouts, response body
/// cap, no proxy, CONNECT_TO test hook, private-address refusal. The method (GET by default) and
/// any request body are the caller's. Returns the first curl_easy_setopt failure, else CURLE_OK.
[[nodiscard]] CURLcode configure_transfer(CURL* h, CURLU* url, const FetcherOptions& o, Transfer& t,
                                          const RequestLists& lists);

/// Maps a failed transfer on `h` to the fetch module's error codes, with a sentence for the
/// operator.
[[nodiscard]] Error transfer_error(CURL* h, CURLcode rc, const Transfer& t,
                                   const FetcherOptions& o);

/// Checks FetcherOptions (caps, timeouts, connect_to syntax, CA file readable) and that libcurl is
/// new enough and built with OpenSSL. Errors: ConfigValue, FetchOther (Permanent).
[[nodiscard]] Result<void> check_options(const FetcherOptions& o);

}  // namespace detail
}  // namespace tlspolicy::fetch
