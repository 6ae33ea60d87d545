// SPDX-License-Identifier: Apache-2.0
//
// dns::lookup: Resolver::lookup() as a coroutine step (include/tlspolicy/dns/resolver.hpp).
#include <future>
#include <utility>

#include "tlspolicy/dns/resolver.hpp"

namespace tlspolicy::dns {

event::Task<Result<DnsAnswer>> lookup(Resolver& resolver, DomainName name, RrType type) {
  co_return co_await event::completion<Result<DnsAnswer>>(
      [&](auto done) { resolver.lookup(name, type, std::move(done)); });
}

Result<DnsAnswer> lookup_blocking(event::Loop& loop, Resolver& resolver, const DomainName& name,
                                  RrType type) {
  if (loop.on_loop_thread()) {
    return fail(Errc::Internal, Retry::Transient,
                "lookup_blocking() on the loop's own thread would wait for itself");
  }
  std::promise<Result<DnsAnswer>> promise;
  auto answer = promise.get_future();
  loop.post([&] {
    resolver.lookup(name, type,
                    [&promise](Result<DnsAnswer> a) { promise.set_value(std::move(a)); });
  });
  return answer.get();
}

}  // namespace tlspolicy::dns
