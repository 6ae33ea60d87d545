// SPDX-License-Identifier: Apache-2.0
//
// NAME
//   curl_fetcher - the libcurl + OpenSSL HttpsFetcher used for MTA-STS policy fetches
// PROTOCOL
//   One HTTPS/1.1 GET per call, on its own curl easy handle in one multi handle on the engine
//   loop (transfers run side by side, none blocks the thread), with the
//   transport rules of RFC 8461 §3.3 and §7.2 set in configure_transfer(), one reason per line:
//   https only, certificate verified for the URL's host (DNS-IDs only, by OpenSSL), TLS >= 1.2,
//   no redirects (a 3xx is returned as a status for the caller to reject), no HTTP cache,
//   connect and total timeouts, and a body cap enforced while reading.
// LIMITS
//   Body <= FetcherOptions::max_body_bytes (RFC 8461 §3.3 suggests 64 KB); connect and total
//   time <= FetcherOptions::connect_timeout / total_timeout (suggested: 1 minute).
// SECURITY
//   Unless allow_private_addresses, every socket address curl is about to connect to (after DNS
//   and CONNECT_TO) is checked with is_private_address() and refused when not public, which
//   blocks server-side request forgery and DNS rebinding towards local services. Proxies from
//   the environment (https_proxy, ...) are ignored: the policy host is reached directly.
// ERRORS
//   timeout -> FetchTimeout, resolve/connect -> FetchConnect (Transient); refused address ->
//   FetchPrivateAddress; certificate or handshake -> FetchTls; body over the cap ->
//   FetchTooLarge; not an https URL -> InvalidArgument; anything else -> FetchOther.
// SHARED
//   The transport policy (configure_transfer), the error mapping (transfer_error), the URL check
//   and the options check are declared in curl_handles.hpp (namespace detail) and also used by
//   curl_poster.cpp, the TLS-RPT HTTPS upload (RFC 8460 §5.4), so both directions obey one rule
//   set.
// SEE ALSO
//   RFC 8461 §3.3, §7.2; RFC 6125 (via RFC 8461 §3.3); curl_poster.cpp; docs/decision-rules.md
#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include <curl/curl.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "tlspolicy/event/loop.hpp"
#include "tlspolicy/fetch/https_fetcher.hpp"
#include "tlspolicy/util/version.hpp"

#include "curl_handles.hpp"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>

namespace tlspolicy::fetch {
namespace {

/// "tlspolicy/<version>" (util/version.hpp), for every policy fetch and report POST.
const std::string& user_agent() {
  static const std::string agent = "tlspolicy/" + std::string{util::version()};
  return agent;
}
// CURLOPT_PROTOCOLS_STR / CURLOPT_REDIR_PROTOCOLS_STR need libcurl 7.85.0.
constexpr unsigned int k_min_curl_version = 0x075500;

using detail::append;
using detail::check_options;
using detail::configure_transfer;
using detail::parse_https_url;
using detail::RequestLists;
using detail::Transfer;
using detail::transfer_error;

/// CURLOPT_WRITEFUNCTION. Enforces the body cap while reading (RFC 8461 §3.3 allows a size
/// limit): returning less than given makes curl abort with CURLE_WRITE_ERROR. A POST's response
/// body is only counted (Transfer::keep_body false): the caller wants the status alone.
std::size_t write_body(char* data, std::size_t size, std::size_t nmemb, void* user) noexcept {
  auto* t = static_cast<Transfer*>(user);
  const std::size_t n = size * nmemb;  // curl guarantees size == 1
  if (n > t->max_body - t->received) {
    t->too_large = true;
    return 0;
  }
  if (t->keep_body) {
    try {
      t->body.append(data, n);
    } catch (...) {  // std::bad_alloc: no exception may cross into C
      t->out_of_memory = true;
      return 0;
    }
  }
  t->received += n;
  return n;
}

/// Text form of a socket address ("192.0.2.1", "2001:db8::1"), "" for other families.
std::string address_text(const curl_sockaddr& a) noexcept {
  std::array<char, INET6_ADDRSTRLEN> text{};
  if (a.family == AF_INET && a.addrlen >= sizeof(sockaddr_in)) {
    sockaddr_in sin{};
    std::memcpy(&sin, &a.addr, sizeof sin);
    if (inet_ntop(AF_INET, &sin.sin_addr, text.data(), text.size()) == nullptr) return {};
  } else if (a.family == AF_INET6 && a.addrlen >= sizeof(sockaddr_in6)) {
    sockaddr_in6 sin6{};
    std::memcpy(&sin6, &a.addr, sizeof sin6);
    if (inet_ntop(AF_INET6, &sin6.sin6_addr, text.data(), text.size()) == nullptr) return {};
  } else {
    return {};
  }
  return std::string(text.data());  // SSO: short addresses do not allocate
}

/// CURLOPT_OPENSOCKETFUNCTION. Sees the address curl is about to connect to, after DNS,
/// CONNECT_TO and happy-eyeballs selection, so the private-address rule cannot be bypassed by
/// a DNS answer that changes between checks (rebinding).
curl_socket_t open_socket(void* user, curlsocktype purpose, curl_sockaddr* address) noexcept {
  auto* t = static_cast<Transfer*>(user);
  if (purpose != CURLSOCKTYPE_IPCXN) return CURL_SOCKET_BAD;  // we never listen
  if (!t->allow_private) {
    try {
      std::string text = address_text(*address);
      if (text.empty() || is_private_address(text)) {
        t->refused.push_back(text.empty() ? "(non-IP address)" : std::move(text));
        return CURL_SOCKET_BAD;
      }
    } catch (...) {  // std::bad_alloc
      return CURL_SOCKET_BAD;
    }
  }
  // SOCK_CLOEXEC: the daemon may spawn sendmail for TLS-RPT; it must not inherit the socket.
  return socket(address->family, address->socktype | SOCK_CLOEXEC, address->protocol);
}

/// CURLOPT_SSL_CTX_FUNCTION: hands the name check to OpenSSL with the RFC 8461 §3.3 / RFC 6125
/// rules (STS-11): DNS-IDs only, the subject CN is never consulted, and a wildcard only as the
/// complete left-most label. curl's own host check (VERIFYHOST 2) still runs afterwards.
CURLcode on_ssl_ctx(CURL* /*easy*/, void* ssl_ctx, void* user) noexcept {
  auto* t = static_cast<Transfer*>(user);
  auto* ctx = static_cast<SSL_CTX*>(ssl_ctx);
  X509_VERIFY_PARAM* param = SSL_CTX_get0_param(ctx);
  X509_VERIFY_PARAM_set_hostflags(
      param, X509_CHECK_FLAG_NEVER_CHECK_SUBJECT | X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
  const bool ok = X509_VERIFY_PARAM_set1_host(param, t->host.c_str(), t->host.size()) == 1 &&
                  // RFC 8461 §7.2 (STS-19): TLS 1.2 or later, also enforced at the OpenSSL level.
                  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) == 1;
  if (!ok) {
    t->tls_setup_failed = true;
    return CURLE_SSL_CERTPROBLEM;
  }
  // Memory: a fetch spends most of its life waiting for the far end; its TLS record buffers
  // (about 33 KB) are freed while empty. Measured: docs/performance.md (RSS).
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
  return CURLE_OK;
}

/// curl's error buffer when it has text, curl_easy_strerror() otherwise.
std::string curl_words(CURLcode rc, const Transfer& t) {
  std::string text(t.error_buffer.data());
  if (text.empty()) text = curl_easy_strerror(rc);
  return text;
}

bool is_tls_error(CURLcode rc) {
  switch (rc) {
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_ENGINE_INITFAILED:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_SHUTDOWN_FAILED:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_CLIENTCERT:
    case CURLE_USE_SSL_FAILED:
      return true;
    default:
      return false;
  }
}

/// One transfer in flight: everything curl points into lives here until it ends.
struct Pending {
  Transfer t;
  RequestLists lists;
  CurlUrl url;
  CurlEasy easy;
  HttpsFetcher::Callback done;
};

using CurlMulti = util::CHandle<CURLM, curl_multi_cleanup>;

/// The fetcher on the engine loop: one curl multi handle; curl's sockets are watched by the
/// loop (CURLMOPT_SOCKETFUNCTION) and its timeouts are loop timers (CURLMOPT_TIMERFUNCTION),
/// so any number of fetches share the thread. (curl_multi_socket_action(3))
class CurlFetcher final : public HttpsFetcher {
 public:
  CurlFetcher(event::Loop& loop, FetcherOptions options, CurlMulti multi)
      : m_loop(loop), m_options(std::move(options)), m_multi(std::move(multi)) {
    (void)curl_multi_setopt(m_multi.get(), CURLMOPT_SOCKETFUNCTION, on_socket);
    (void)curl_multi_setopt(m_multi.get(), CURLMOPT_SOCKETDATA, static_cast<void*>(this));
    (void)curl_multi_setopt(m_multi.get(), CURLMOPT_TIMERFUNCTION, on_timer);
    (void)curl_multi_setopt(m_multi.get(), CURLMOPT_TIMERDATA, static_cast<void*>(this));
  }

  ~CurlFetcher() override {
    end_all("the fetcher is shutting down");
    if (m_timer) m_loop.cancel(*m_timer);
    m_sockets.clear();
  }

  void cancel_all() override { end_all("fetch cancelled: tlspolicy is shutting down"); }
  CurlFetcher(const CurlFetcher&) = delete;
  CurlFetcher& operator=(const CurlFetcher&) = delete;

  void get(std::string url, Callback done) override {
    auto p = std::make_unique<Pending>();
    p->done = std::move(done);
    if (auto ok = prepare(*p, url); !ok) {
      m_loop.defer([done = std::move(p->done), e = ok.error()]() mutable {
        done(Result<HttpsResponse>{Unexpected{std::move(e)}});
      });
      return;
    }
    CURL* easy = p->easy.get();
    m_pending.emplace(easy, std::move(p));
    if (const CURLMcode rc = curl_multi_add_handle(m_multi.get(), easy); rc != CURLM_OK) {
      auto it = m_pending.find(easy);
      auto pending = std::move(it->second);
      m_pending.erase(it);
      m_loop.defer([done = std::move(pending->done), rc]() mutable {
        done(fail(Errc::FetchOther, Retry::Transient,
                  std::string("curl_multi_add_handle: ") + curl_multi_strerror(rc)));
      });
    }
    // curl asks for a timer at once (CURLMOPT_TIMERFUNCTION) and starts on it.
  }

 private:
  /// Builds the transfer with the RFC 8461 §3.3 transport policy (configure_transfer).
  Result<void> prepare(Pending& p, std::string_view url) {
    auto parsed = parse_https_url(url, p.t.host);
    if (!parsed) return Unexpected{parsed.error()};
    p.url = std::move(*parsed);
    p.t.max_body = m_options.max_body_bytes;
    p.t.allow_private = m_options.allow_private_addresses;
    if (!append(p.lists.headers, "Cache-Control: no-cache")) return out_of_memory();  // §3.3
    for (const auto& entry : m_options.connect_to) {
      if (!append(p.lists.connect_to, entry)) return out_of_memory();
    }
    p.easy.reset(curl_easy_init());
    if (!p.easy) return fail(Errc::FetchOther, Retry::Transient, "curl_easy_init failed");
    if (const CURLcode rc = configure_transfer(p.easy.get(), p.url.get(), m_options, p.t, p.lists);
        rc != CURLE_OK) {
      return fail(Errc::FetchOther, Retry::Permanent,
                  std::string("libcurl refused a transport setting: ") + curl_easy_strerror(rc));
    }
    (void)curl_easy_setopt(p.easy.get(), CURLOPT_PRIVATE, static_cast<void*>(&p));
    return {};
  }

  static Unexpected<Error> out_of_memory() {
    return fail(Errc::FetchOther, Retry::Transient, "curl_slist_append: out of memory");
  }

  /// CURLMOPT_SOCKETFUNCTION: what curl wants to hear about `s`.
  static int on_socket(CURL* /*easy*/, curl_socket_t s, int what, void* self_ptr,
                       void* /*socketp*/) noexcept {
    auto* self = static_cast<CurlFetcher*>(self_ptr);
    try {
      if (what == CURL_POLL_REMOVE) {
        self->m_sockets.erase(s);
        return 0;
      }
      const std::uint32_t events = (what == CURL_POLL_IN      ? EPOLLIN
                                    : what == CURL_POLL_OUT   ? EPOLLOUT
                                    : what == CURL_POLL_INOUT ? (EPOLLIN | EPOLLOUT)
                                                              : 0U);
      auto it = self->m_sockets.find(s);
      if (it != self->m_sockets.end()) {
        it->second.set_events(events);
      } else {
        self->m_sockets.emplace(
            s, self->m_loop.watch(s, events, [self, s](std::uint32_t ev) { self->act(s, ev); }));
      }
      return 0;
    } catch (...) {
      return -1;  // curl fails the transfer
    }
  }

  /// CURLMOPT_TIMERFUNCTION: call curl back after `ms` (-1: no timer).
  static int on_timer(CURLM* /*multi*/, long ms, void* self_ptr) noexcept {
    auto* self = static_cast<CurlFetcher*>(self_ptr);
    try {
      if (self->m_timer) self->m_loop.cancel(*self->m_timer);
      self->m_timer.reset();
      if (ms >= 0) {
        self->m_timer = self->m_loop.after(std::chrono::milliseconds{ms}, [self] {
          self->m_timer.reset();
          self->act(CURL_SOCKET_TIMEOUT, 0);
        });
      }
      return 0;
    } catch (...) {
      return -1;
    }
  }

  void act(curl_socket_t s, std::uint32_t events) {
    int flags = 0;
    if ((events & EPOLLIN) != 0U) flags |= CURL_CSELECT_IN;
    if ((events & EPOLLOUT) != 0U) flags |= CURL_CSELECT_OUT;
    if ((events & (EPOLLERR | EPOLLHUP)) != 0U) flags |= CURL_CSELECT_ERR;
    int running = 0;
    (void)curl_multi_socket_action(m_multi.get(), s, flags, &running);
    collect();
  }

  /// Ends every transfer curl says is done.
  void collect() {
    int left = 0;
    while (CURLMsg* msg = curl_multi_info_read(m_multi.get(), &left)) {
      if (msg->msg != CURLMSG_DONE) continue;
      CURL* easy = msg->easy_handle;
      const CURLcode rc = msg->data.result;
      auto it = m_pending.find(easy);
      if (it == m_pending.end()) continue;
      Pending& p = *it->second;
      if (rc != CURLE_OK) {
        finish(easy, Unexpected{transfer_error(easy, rc, p.t, m_options)});
        continue;
      }
      HttpsResponse response;
      (void)curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &response.status);
      char* content_type = nullptr;  // owned by the easy handle: copy before cleanup
      if (curl_easy_getinfo(easy, CURLINFO_CONTENT_TYPE, &content_type) == CURLE_OK &&
          content_type != nullptr) {
        response.content_type = content_type;
      }
      response.body = std::move(p.t.body);
      finish(easy, std::move(response));
    }
  }

  /// Ends every transfer in flight now (its callback is deferred to the loop).
  void end_all(const std::string& why) {
    std::vector<CURL*> open;
    open.reserve(m_pending.size());
    for (const auto& [easy, p] : m_pending) open.push_back(easy);
    for (CURL* easy : open) finish(easy, fail(Errc::FetchOther, Retry::Transient, why));
  }

  /// Ends a transfer: the handle leaves the multi now, the callback runs after this callback.
  void finish(CURL* easy, Result<HttpsResponse> result) {
    auto it = m_pending.find(easy);
    if (it == m_pending.end()) return;
    auto p = std::move(it->second);
    m_pending.erase(it);
    (void)curl_multi_remove_handle(m_multi.get(), easy);
    m_loop.defer([done = std::move(p->done), result = std::move(result)]() mutable {
      done(std::move(result));
    });
  }

  event::Loop& m_loop;
  FetcherOptions m_options;
  CurlMulti m_multi;
  std::unordered_map<curl_socket_t, event::Watch> m_sockets;
  std::optional<event::TimerId> m_timer;
  std::unordered_map<CURL*, std::unique_ptr<Pending>> m_pending;
};

}  // namespace

namespace detail {

bool append(CurlSlist& list, const std::string& item) {
  curl_slist* head = curl_slist_append(list.get(), item.c_str());
  if (head == nullptr) return false;
  (void)list.release();  // curl_slist_append returned the same head, or a new one for an empty list
  list.reset(head);
  return true;
}

// The whole transport policy of a transfer (GET or POST), one reason per line. Returns the first
// curl_easy_setopt failure (an old or oddly built libcurl), CURLE_OK otherwise.
CURLcode configure_transfer(CURL* h, CURLU* url, const FetcherOptions& o, Transfer& t,
                            const RequestLists& lists) {
  CURLcode rc = CURLE_OK;
  const auto check = [&rc](CURLcode c) {
    if (rc == CURLE_OK) rc = c;
  };
  // clang-format off
  check(curl_easy_setopt(h, CURLOPT_CURLU, url));                      // RFC 8461 §3.2: the URL parsed and checked by parse_https_url()
  check(curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "https"));          // RFC 8461 §3.3: HTTPS only
  check(curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "https"));    // ... also for any redirect target
  check(curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L));              // RFC 8461 §3.3: redirects MUST NOT be followed; a 3xx is returned as status
  check(curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L));              // RFC 8461 §3.3: chain to a trusted root, not expired
  check(curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L));              // RFC 8461 §3.3: certificate valid for mta-sts.<domain>
  check(curl_easy_setopt(h, CURLOPT_SSL_CTX_FUNCTION, on_ssl_ctx));    // RFC 8461 §3.3 / RFC 6125: OpenSSL DNS-ID matching, CN ignored
  check(curl_easy_setopt(h, CURLOPT_SSL_CTX_DATA, static_cast<void*>(&t)));
  check(curl_easy_setopt(h, CURLOPT_SSLVERSION, static_cast<long>(CURL_SSLVERSION_TLSv1_2)));  // RFC 8461 §7.2: TLS 1.2 or later
  if (!o.ca_file.empty()) {
    check(curl_easy_setopt(h, CURLOPT_CAINFO, o.ca_file.c_str()));     // mta_sts.ca_file: injectable trust anchors (tests, private PKI)
  }
  check(curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(o.connect_timeout.count())));  // RFC 8461 §3.3: a timeout is allowed
  check(curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, static_cast<long>(o.total_timeout.count())));           // RFC 8461 §3.3: suggested 1 minute in total
  check(curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L));                    // multi-threaded daemon: no SIGALRM-based DNS timeouts
  check(curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, write_body));       // RFC 8461 §3.3: size limit enforced while reading
  check(curl_easy_setopt(h, CURLOPT_WRITEDATA, static_cast<void*>(&t)));
  check(curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE, static_cast<curl_off_t>(o.max_body_bytes)));  // early refusal by Content-Length
  check(curl_easy_setopt(h, CURLOPT_HTTPHEADER, lists.headers.get())); // RFC 8461 §3.3: HTTP caching MUST NOT be used
  check(curl_easy_setopt(h, CURLOPT_USERAGENT, user_agent().c_str()));  // identify ourselves to policy hosts
  check(curl_easy_setopt(h, CURLOPT_HTTP_VERSION, static_cast<long>(CURL_HTTP_VERSION_1_1)));  // HTTP/1.1 is enough for one small GET or POST
  check(curl_easy_setopt(h, CURLOPT_BUFFERSIZE, 4096L));               // a policy is a few hundred bytes: a 4 KB receive buffer, not 16 KB per fetch in flight
  check(curl_easy_setopt(h, CURLOPT_FORBID_REUSE, 1L));                // one fetch per host and max_age: an idle TLS connection kept is only memory
  check(curl_easy_setopt(h, CURLOPT_PROXY, ""));                       // ignore https_proxy & co: reach the policy host itself
  check(curl_easy_setopt(h, CURLOPT_CONNECT_TO, lists.connect_to.get()));  // test hook; SNI, Host and name checks keep the URL's host
  if (!o.allow_private_addresses) {
    check(curl_easy_setopt(h, CURLOPT_OPENSOCKETFUNCTION, open_socket));  // no loopback/private/link-local peers (SSRF, DNS rebinding)
    check(curl_easy_setopt(h, CURLOPT_OPENSOCKETDATA, static_cast<void*>(&t)));
  }
  check(curl_easy_setopt(h, CURLOPT_ERRORBUFFER, t.error_buffer.data()));  // curl's own words for the operator
  // clang-format on
  return rc;
}

// Maps a failed transfer to the fetch module's error codes, with a sentence for the operator.
Error transfer_error(CURL* h, CURLcode rc, const Transfer& t, const FetcherOptions& o) {
  const std::string& host = t.host;
  if (!t.refused.empty()) {
    std::string list;
    for (const auto& a : t.refused) list += (list.empty() ? "" : ", ") + a;
    return Error{Errc::FetchPrivateAddress, Retry::Permanent,
                 "refused to connect to non-public address " + list + " for " + host +
                     (t.upload ? " (private addresses are not allowed for report endpoints)"
                               : " (private addresses are not allowed for policy hosts)")};
  }
  if (t.too_large || rc == CURLE_FILESIZE_EXCEEDED) {  // RFC 8461 §3.3: size limit
    return Error{Errc::FetchTooLarge, Retry::Permanent,
                 "response body from " + host + " exceeds the limit of " +
                     std::to_string(o.max_body_bytes) + " bytes"};
  }
  if (t.tls_setup_failed) {
    return Error{Errc::FetchTls, Retry::Permanent,
                 "could not set the OpenSSL verification rules for " + host};
  }
  const std::string words = curl_words(rc, t);
  switch (rc) {
    case CURLE_OPERATION_TIMEDOUT:  // RFC 8461 §3.3: timeout
      return Error{
          Errc::FetchTimeout, Retry::Transient,
          (t.upload ? "timed out posting to " : "timed out fetching from ") + host + ": " + words};
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_CONNECT:
      return Error{Errc::FetchConnect, Retry::Transient,
                   "could not connect to " + host + ": " + words};
    case CURLE_PEER_FAILED_VERIFICATION:  // RFC 8461 §3.3 (STS-11)
      return Error{Errc::FetchTls, Retry::Permanent,
                   "certificate verify failed for " + host + ": " + words};
    case CURLE_WRITE_ERROR:
      if (t.out_of_memory) {
        return Error{Errc::FetchOther, Retry::Transient,
                     "out of memory reading the body from " + host};
      }
      break;
    case CURLE_UNSUPPORTED_PROTOCOL:  // RFC 8461 §3.3: https only
      return Error{Errc::InvalidArgument, Retry::Permanent,
                   "only https is allowed for " + host + ": " + words};
    default:
      break;
  }
  long os_errno = 0;
  (void)curl_easy_getinfo(h, CURLINFO_OS_ERRNO, &os_errno);
  if (rc == CURLE_SSL_CONNECT_ERROR && (os_errno == ECONNRESET || os_errno == EPIPE)) {
    // The peer dropped the connection during the handshake: a connection failure, not a
    // certificate or protocol verdict (TLS-RPT: sts-policy-fetch-error, not sts-webpki-invalid).
    return Error{Errc::FetchConnect, Retry::Transient,
                 "connection to " + host + " reset during the TLS handshake: " + words};
  }
  if (is_tls_error(rc)) {  // handshake: no common protocol (§7.2, TLS < 1.2), cipher, alert
    return Error{Errc::FetchTls, Retry::Permanent,
                 "TLS handshake with " + host + " failed: " + words};
  }
  return Error{Errc::FetchOther, Retry::Transient,
               (t.upload ? "post to " : "fetch from ") + host + " failed: " + words};
}

// Parses and checks an https:// URL with curl's own parser (the one that will use it).
Result<CurlUrl> parse_https_url(std::string_view url, std::string& host) {
  const auto invalid = [url](std::string_view why) {
    return fail(Errc::InvalidArgument, Retry::Permanent,
                "not an https URL (" + std::string(why) + "): '" + std::string(url) + "'");
  };
  if (url.find('\0') != std::string_view::npos) return invalid("contains NUL");
  // STS-10 (RFC 8461 §3.2): "https://" + authority. Checked before curl's parser, which also
  // accepts forms such as "https:///host" and "https:host".
  constexpr std::string_view k_prefix = "https://";
  const bool https_prefix =
      url.size() > k_prefix.size() &&
      std::equal(k_prefix.begin(), k_prefix.end(), url.begin(), [](char a, char b) {
        return a == ((b >= 'A' && b <= 'Z') ? static_cast<char>(b - 'A' + 'a') : b);
      });
  if (!https_prefix || url[k_prefix.size()] == '/')
    return invalid("RFC 8461 §3.3 requires https://host/");
  CurlUrl u{curl_url()};
  if (!u) return fail(Errc::Internal, Retry::Transient, "curl_url: out of memory");
  const std::string text(url);
  if (const CURLUcode uc = curl_url_set(u.get(), CURLUPART_URL, text.c_str(), 0); uc != CURLUE_OK) {
    return invalid(curl_url_strerror(uc));
  }
  char* raw = nullptr;
  if (curl_url_get(u.get(), CURLUPART_SCHEME, &raw, 0) != CURLUE_OK) return invalid("no scheme");
  const CurlString scheme{raw};
  std::string s(scheme.get());
  std::transform(s.begin(), s.end(), s.begin(), [](char c) {
    return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
  });
  if (s != "https") return invalid("scheme " + s + ", RFC 8461 §3.3 requires https");  // STS-10
  raw = nullptr;
  if (curl_url_get(u.get(), CURLUPART_HOST, &raw, 0) != CURLUE_OK) return invalid("no host");
  const CurlString h{raw};
  host = h.get();
  if (host.empty()) return invalid("no host");
  return u;
}

Result<void> check_options(const FetcherOptions& o) {
  const auto bad = [](std::string why) {
    return fail(Errc::ConfigValue, Retry::Permanent, std::move(why));
  };
  if (o.max_body_bytes == 0) return bad("the policy size limit must be at least 1 byte");
  if (o.connect_timeout.count() <= 0 || o.total_timeout.count() <= 0) {
    return bad("fetch timeouts must be positive");
  }
  for (const auto& entry : o.connect_to) {
    if (entry.empty() || entry.find_first_of(" \t\r\n") != std::string::npos) {
      return bad("connect_to entry '" + entry + "' is not HOST:PORT:CONNECT-HOST:CONNECT-PORT");
    }
  }
  if (!o.ca_file.empty()) {
    const util::CHandle<FILE, std::fclose> f{std::fopen(o.ca_file.c_str(), "r")};
    if (!f) {
      return bad("cannot read CA file '" + o.ca_file + "': " + std::strerror(errno));
    }
  }
  const curl_version_info_data* v = curl_version_info(CURLVERSION_NOW);
  if (v->version_num < k_min_curl_version) {
    return fail(Errc::FetchOther, Retry::Permanent,
                std::string("libcurl ") + v->version + " is too old; 7.85.0 or later is needed");
  }
  if ((v->features & CURL_VERSION_SSL) == 0 || v->ssl_version == nullptr ||
      std::string_view(v->ssl_version).find("OpenSSL") == std::string_view::npos) {
    return fail(Errc::FetchOther, Retry::Permanent,
                std::string("libcurl must use OpenSSL (RFC 8461 §3.3 name checks); it uses ") +
                    (v->ssl_version != nullptr ? v->ssl_version : "no TLS library"));
  }
  return {};
}

}  // namespace detail

Result<std::unique_ptr<HttpsFetcher>> make_curl_fetcher(event::Loop& loop,
                                                        const FetcherOptions& options) {
  if (auto ok = check_options(options); !ok) return Unexpected{ok.error()};
  CurlMulti multi{curl_multi_init()};
  if (!multi) return fail(Errc::FetchOther, Retry::Permanent, "curl_multi_init failed");
  return std::unique_ptr<HttpsFetcher>(
      std::make_unique<CurlFetcher>(loop, options, std::move(multi)));
}

event::Task<Result<HttpsResponse>> get(HttpsFetcher& fetcher, std::string url) {
  co_return co_await event::completion<Result<HttpsResponse>>(
      [&](auto done) { fetcher.get(std::move(url), std::move(done)); });
}

}  // namespace tlspolicy::fetch
