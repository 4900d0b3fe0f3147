// Why a client connection ended: the `reason` of the connection_closed log line and the
// label of sluice_connections_closed_total. The spellings are an interface (operators'
// alerts, docs/troubleshooting.md, tests): to_string() must keep them as they are.
#pragma once

#include <string_view>

namespace sluice::gateway {

enum class close_reason {
  client_closed,
  server_closed,
  // Startup: time, TLS, the first packets, the PROXY header.
  startup_timeout,
  tls_handshake_failed,
  protocol_violation,
  proxy_header_missing,
  proxy_header_untrusted,
  proxy_header_invalid,
  // Admission.
  max_connections,
  rejected_allowlist,
  tls_required,
  no_route,
  rejected_route_allowlist,
  route_max_connections,  // the route's max_connections
  user_max_connections,   // the route's max_connections_per_user
  drained,                // the route or listener is drained (sluice ctl drain)
  // Upstream connect (gateway/upstream.cpp classifies them).
  upstream_timeout,
  upstream_refused,
  upstream_dns,
  upstream_tls_unsupported,
  upstream_tls_handshake,
  upstream_certificate,
  upstream_io,
  tunnel,
  // Logged in by sluice (terminate, pooled backends): the backend accepted the connection
  // but did not finish the login (to ReadyForQuery) within upstream.login_timeout.
  upstream_login_timeout,
  // Authentication: the database refused the login (passthrough, or terminate's server
  // leg), sluice refused the client (terminate), or the secret lookup failed.
  auth_failed,
  auth_lookup_failed,
  // Session pooling: no server connection of the route's pool came free in wait_timeout.
  pool_wait_timeout,
  // A CancelRequest connection.
  cancel_rejected_allowlist,
  cancel_rate_limited,
  cancel_forwarded,
  cancel_failed,
  cancel_to_peer,
  cancel_peer_failed,
  cancel_broadcast,
  cancel_unknown_key,
  // Ended by sluice while relaying.
  idle_timeout,
  reload_disallowed,
  killed,  // by an operator (sluice ctl kill, POST /v1/sessions/ID/kill)
  shutdown,
  internal_error,
};

constexpr std::string_view to_string(close_reason r) {
  switch (r) {
    case close_reason::client_closed:
      return "client_closed";
    case close_reason::server_closed:
      return "server_closed";
    case close_reason::startup_timeout:
      return "startup_timeout";
    case close_reason::tls_handshake_failed:
      return "tls_handshake_failed";
    case close_reason::protocol_violation:
      return "protocol_violation";
    case close_reason::proxy_header_missing:
      return "proxy_header_missing";
    case close_reason::proxy_header_untrusted:
      return "proxy_header_untrusted";
    case close_reason::proxy_header_invalid:
      return "proxy_header_invalid";
    case close_reason::max_connections:
      return "max_connections";
    case close_reason::rejected_allowlist:
      return "rejected_allowlist";
    case close_reason::tls_required:
      return "tls_required";
    case close_reason::no_route:
      return "no_route";
    case close_reason::rejected_route_allowlist:
      return "rejected_route_allowlist";
    case close_reason::route_max_connections:
      return "route_max_connections";
    case close_reason::user_max_connections:
      return "user_max_connections";
    case close_reason::drained:
      return "drained";
    case close_reason::upstream_timeout:
      return "upstream_timeout";
    case close_reason::upstream_refused:
      return "upstream_refused";
    case close_reason::upstream_dns:
      return "upstream_dns";
    case close_reason::upstream_tls_unsupported:
      return "upstream_tls_unsupported";
    case close_reason::upstream_tls_handshake:
      return "upstream_tls_handshake";
    case close_reason::upstream_certificate:
      return "upstream_certificate";
    case close_reason::upstream_io:
      return "upstream_io";
    case close_reason::tunnel:
      return "tunnel";
    case close_reason::upstream_login_timeout:
      return "upstream_login_timeout";
    case close_reason::auth_failed:
      return "auth_failed";
    case close_reason::auth_lookup_failed:
      return "auth_lookup_failed";
    case close_reason::pool_wait_timeout:
      return "pool_wait_timeout";
    case close_reason::cancel_rejected_allowlist:
      return "cancel_rejected_allowlist";
    case close_reason::cancel_rate_limited:
      return "cancel_rate_limited";
    case close_reason::cancel_forwarded:
      return "cancel_forwarded";
    case close_reason::cancel_failed:
      return "cancel_failed";
    case close_reason::cancel_to_peer:
      return "cancel_to_peer";
    case close_reason::cancel_peer_failed:
      return "cancel_peer_failed";
    case close_reason::cancel_broadcast:
      return "cancel_broadcast";
    case close_reason::cancel_unknown_key:
      return "cancel_unknown_key";
    case close_reason::idle_timeout:
      return "idle_timeout";
    case close_reason::reload_disallowed:
      return "reload_disallowed";
    case close_reason::killed:
      return "killed";
    case close_reason::shutdown:
      return "shutdown";
    case close_reason::internal_error:
      return "internal_error";
  }
  return "internal_error";
}

// Either side ending the session as it may: logged at info, everything else at notice.
constexpr bool is_normal(close_reason r) {
  return r == close_reason::client_closed || r == close_reason::server_closed;
}

}  // namespace sluice::gateway
