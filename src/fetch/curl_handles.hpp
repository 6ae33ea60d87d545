// SPDX-License-Identifier: Apache-2.0
//
// Private RAII aliases for the libcurl handles owned by src/fetch (HOUSE-STYLE §5). Each alias
// names the call that produces the handle, so the matching free function is the one used. No
// libcurl pointer leaves src/fetch: the fetcher copies status, Content-Type and body out before
// the handles are released.
#pragma once

#include <curl/curl.h>

#include "tlspolicy/util/c_handle.hpp"

namespace tlspolicy::fetch {

// From curl_easy_init(); one per HttpsFetcher::get() call, never shared between threads.
using CurlEasy = util::CHandle<CURL, curl_easy_cleanup>;
// From curl_slist_append(); OWNS every string in the list. Must outlive the transfer that uses
// it (CURLOPT_HTTPHEADER, CURLOPT_CONNECT_TO keep the pointer, not a copy).
using CurlSlist = util::CHandle<curl_slist, curl_slist_free_all>;
// From curl_url(); must outlive the transfer when passed with CURLOPT_CURLU.
using CurlUrl = util::CHandle<CURLU, curl_url_cleanup>;
// From curl_url_get() (and other calls documented as "free with curl_free()").
using CurlString = util::CHandle<char, curl_free>;

}  // namespace tlspolicy::fetch
