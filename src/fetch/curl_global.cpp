// SPDX-License-Identifier: Apache-2.0
//
// CurlGlobal: RAII for curl_global_init()/curl_global_cleanup(). libcurl's global state is not
// thread-safe to set up, so exactly one CurlGlobal is constructed in main() before any thread
// starts (tests construct one per suite), and it is destroyed after the last fetch.
#include <stdexcept>
#include <string>

#include <curl/curl.h>

#include "tlspolicy/fetch/https_fetcher.hpp"

namespace tlspolicy::fetch {

CurlGlobal::CurlGlobal() {
  // CURL_GLOBAL_DEFAULT = SSL + Win32; initialises OpenSSL through libcurl.
  const CURLcode rc = curl_global_init(CURL_GLOBAL_DEFAULT);
  if (rc != CURLE_OK) {
    throw std::runtime_error(std::string("curl_global_init failed: ") + curl_easy_strerror(rc));
  }
}

CurlGlobal::~CurlGlobal() { curl_global_cleanup(); }

}  // namespace tlspolicy::fetch
