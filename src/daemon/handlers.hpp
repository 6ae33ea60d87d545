// SPDX-License-Identifier: Apache-2.0
//
// Private to src/daemon: what each listener does with a request.
//   socketmap  a decision from memory is answered on the server thread; a cold one goes to
//              the engine loop (DecisionService::decide) and is answered from there.
//   json       decide as above; stats on the server thread (memory only); report (TLS-RPT
//              results) on the store pool.
//   admin      json, plus the cache.* ops: list/show/export/purge on the store pool,
//              refresh as a coroutine on the engine loop (its store calls on the pool);
//              status (status.hpp: what is cached, TLS-RPT failures, reports) on the pool.
// Neither the server thread nor the engine loop ever waits for SQLite or the network.
#pragma once

#include <string_view>

#include "tlspolicy/server/server.hpp"

#include "state.hpp"

namespace tlspolicy::daemon {

class Handlers {
 public:
  /// Keeps references: both must outlive every request (the daemon stops the server first).
  Handlers(Context& ctx, const server::Server& server) : m_ctx(ctx), m_server(server) {}

  /// `request` is valid during the call only (server::Handler).
  void socketmap(std::string_view request, const server::Responder& respond);
  /// `admin`: the admin listener (the cache.* ops are refused elsewhere).
  void json(std::string_view line, const server::Responder& respond, bool admin);

 private:
  Context& m_ctx;
  const server::Server& m_server;
};

}  // namespace tlspolicy::daemon
