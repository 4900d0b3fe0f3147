// routes[].pool.min_idle: a backend opened in advance, with no client waiting for it.
// Sluice can only log in with a credential it holds, so a pool gets an opener once a
// client's own new backend logged in (session.cpp): that client's startup packet and
// server-leg credential (the ClientKey its SCRAM proof revealed, or auth.file's password
// or md5 secret). Each opening does what a session does (upstream.cpp, server_login),
// bounded by upstream.login_timeout, then keeps the backend's ParameterStatus set and
// key up to ReadyForQuery and hands it to the pool as idle.
#pragma once

#include <utility>  // before Asio (GCC 12 + Boost 1.74)

#include <boost/asio/any_io_executor.hpp>
#include <memory>
#include <string>

#include "gateway/pool/backend_pool.hpp"
#include "gateway/runtime.hpp"
#include "gateway/session/server_login.hpp"

namespace sluice::tunnel {
class manager;
}

namespace sluice::gateway {

struct prefill_recipe {
  runtime_ptr rt;  // the configuration the credential logged in under
  std::string route;
  tunnel::manager* tunnels = nullptr;
  pg::bytes startup;         // as sent for the client whose login worked
  pool::param_list origin;   // its parameters (reuse_plan compares clients with them)
  server_credentials creds;  // channel_binding is taken per backend, from its certificate
};

// The pool's opener: each call opens one backend on `ex` (a worker's thread).
pool::backend_pool::opener prefill_opener(std::shared_ptr<const prefill_recipe> recipe,
                                          net::any_io_executor ex);

}  // namespace sluice::gateway
