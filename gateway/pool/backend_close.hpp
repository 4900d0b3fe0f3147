// Why a pooled server connection was closed instead of kept: the `reason` label of
// sluice_pool_backends_closed_total and the backend_closed log line. One per backend,
// set once (pool_lease). Spellings are an interface, like close_reason's.
#pragma once

#include <string_view>

namespace sluice::gateway::pool {

enum class backend_close {
  unclean_end,     // the client left mid-message, or its session was ended by sluice
  in_transaction,  // ReadyForQuery said T or E
  copy,            // COPY in progress (or replication's CopyBoth)
  busy,            // queries the backend had not answered yet
  protocol,        // framing sluice could not follow
  reset_failed,    // the reset SQL failed or timed out
  set_failed,      // the parameter SET for the next client failed
  server_closed,   // found closed (or talking) while idle
  idle_timeout,
  max_lifetime,
  reload,          // a reload changed the route, removed its pool, or shrank it
  mismatch,        // evicted to make room for a client with other startup parameters
  prefill_failed,  // a login opened in advance (min_idle) failed or timed out
  shutdown,
};

constexpr std::string_view to_string(backend_close r) {
  switch (r) {
    case backend_close::unclean_end:
      return "unclean_end";
    case backend_close::in_transaction:
      return "in_transaction";
    case backend_close::copy:
      return "copy";
    case backend_close::busy:
      return "busy";
    case backend_close::protocol:
      return "protocol";
    case backend_close::reset_failed:
      return "reset_failed";
    case backend_close::set_failed:
      return "set_failed";
    case backend_close::server_closed:
      return "server_closed";
    case backend_close::idle_timeout:
      return "idle_timeout";
    case backend_close::max_lifetime:
      return "max_lifetime";
    case backend_close::reload:
      return "reload";
    case backend_close::mismatch:
      return "mismatch";
    case backend_close::prefill_failed:
      return "prefill_failed";
    case backend_close::shutdown:
      return "shutdown";
  }
  return "unclean_end";
}

}  // namespace sluice::gateway::pool
