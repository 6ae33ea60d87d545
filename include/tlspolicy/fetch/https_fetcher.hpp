// SPDX-License-Identifier: Apache-2.0
//
// fetch::HttpsFetcher: HTTPS GET with the transport rules of RFC 8461 §3.3
// (STS-10..STS-19): certificate verified against the URL's host name (DNS-IDs
// only, via OpenSSL), redirects never followed, TLS 1.2 or later, connect and
// total timeouts, a hard cap on the body enforced while reading, no HTTP cache,
// and (unless allowed) no connection to loopback, private or link-local
// addresses. Status and media-type rules are the caller's (sts/).
// fetch::HttpsPoster: HTTPS POST with the same transport rules, for TLS-RPT
// report upload (RFC 8460 §5.4); which statuses count is the caller's (tlsrpt/).
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "tlspolicy/event/task.hpp"
#include "tlspolicy/util/result.hpp"

namespace tlspolicy::fetch {

struct HttpsResponse {
  long status = 0;           ///< HTTP status code (3xx returned, never followed)
  std::string content_type;  ///< Content-Type header value as received, "" if absent
  std::string body;
};

class HttpsFetcher {
 public:
  using Callback = std::function<void(Result<HttpsResponse>)>;

  virtual ~HttpsFetcher() = default;

  /// GETs an https:// URL and calls `done` exactly once, within
  /// FetcherOptions::total_timeout, on the caller's thread (the engine loop's): before get()
  /// returns or later, never inside a library callback.
  /// Errors: FetchConnect, FetchTimeout (Transient); FetchTls (certificate or
  /// handshake), FetchTooLarge, FetchPrivateAddress, FetchOther, InvalidArgument
  /// (not an https URL).
  virtual void get(std::string url, Callback done) = 0;

  /// Ends every fetch in flight now (Errc::FetchOther, "cancelled"), for a fast shutdown.
  /// Loop thread.
  virtual void cancel_all() {}
};

/// The coroutine form of HttpsFetcher::get().
[[nodiscard]] event::Task<Result<HttpsResponse>> get(HttpsFetcher& fetcher, std::string url);

struct FetcherOptions {
  std::string ca_file;  ///< PEM bundle; "" = the system default
  bool allow_private_addresses = false;
  std::chrono::milliseconds connect_timeout{10000};
  std::chrono::milliseconds total_timeout{60000};  ///< RFC 8461 §3.3 suggests 1 minute
  std::size_t max_body_bytes = 65536;              ///< RFC 8461 §3.3 suggests 64 KB
  /// Test hook: curl CONNECT_TO entries "HOST:PORT:CONNECT-HOST:CONNECT-PORT".
  /// SNI, Host header and certificate checks still use the URL's host.
  std::vector<std::string> connect_to;
};

/// The libcurl + OpenSSL fetcher. curl_global_init must have run (CurlGlobal).
/// The libcurl fetcher on `loop` (one multi handle; fetches run side by side on the loop's
/// thread). It must be destroyed on that thread; `loop` must outlive it.
[[nodiscard]] Result<std::unique_ptr<HttpsFetcher>> make_curl_fetcher(
    event::Loop& loop, const FetcherOptions& options);

/// HTTPS POST of one request body, for TLS-RPT report upload (RFC 8460 §5.4). Same transport
/// rules as HttpsFetcher: https only, certificate verified for the URL's host, TLS >= 1.2,
/// redirects never followed (a 3xx is returned as a status), connect and total timeouts, no
/// proxy, and no private peers unless allowed. The response body is read and discarded, at most
/// FetcherOptions::max_body_bytes of it (a longer one ends the transfer; the status still counts).
class HttpsPoster {
 public:
  virtual ~HttpsPoster() = default;

  /// POSTs `body` (sent byte for byte, any bytes) with the given Content-Type to an https:// URL
  /// and returns the HTTP status. Which statuses count as delivered is the caller's rule (RFC 8460
  /// §5.4, RPT-16: only 200 and 201). Thread-safe (one curl easy handle per call). Blocks at most
  /// FetcherOptions::total_timeout; `body` must stay valid for the call.
  /// Errors: FetchConnect, FetchTimeout, FetchOther (Transient); FetchTls (certificate or
  /// handshake), FetchPrivateAddress, InvalidArgument (not an https URL, or a Content-Type with
  /// control characters) (Permanent).
  [[nodiscard]] virtual Result<long> post(std::string_view url, std::string_view content_type,
                                          std::string_view body) const = 0;
};

/// The libcurl + OpenSSL poster. curl_global_init must have run (CurlGlobal).
/// Errors: as make_curl_fetcher (ConfigValue for bad options, FetchOther for an unusable libcurl).
[[nodiscard]] Result<std::unique_ptr<HttpsPoster>> make_curl_poster(const FetcherOptions& options);

/// RAII for curl_global_init/cleanup: construct exactly one, in main(), before
/// any thread starts. Throws std::runtime_error when initialisation fails.
class CurlGlobal {
 public:
  CurlGlobal();
  ~CurlGlobal();
  CurlGlobal(const CurlGlobal&) = delete;
  CurlGlobal& operator=(const CurlGlobal&) = delete;
};

/// True for loopback, RFC 1918 private, CGNAT (100.64/10), link-local,
/// unspecified, IPv6 unique-local and IPv4-mapped forms of those. Input is a
/// textual IPv4/IPv6 address; unparsable text counts as private (refused).
[[nodiscard]] bool is_private_address(std::string_view ip);

}  // namespace tlspolicy::fetch
