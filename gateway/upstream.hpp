// Reaching a route's backend: TCP (direct, or a channel of an SSH tunnel), then TLS
// with libpq's sslmode semantics, then the client's startup packet. Failures come back
// classified, with the words a user needs: timeout vs refused vs DNS, the four TLS
// mismatches, certificate problems.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "gateway/pg_stream.hpp"
#include "gateway/pg_wire.hpp"
#include "gateway/runtime.hpp"
#include "gateway/session/close_reason.hpp"

namespace sluice::tunnel {
class manager;
}

namespace sluice::gateway {

// The step of the way that failed (for `sluice doctor`, which names it as a stage).
enum class upstream_step { tunnel, resolve, connect, ssl_request, tls, startup };

struct upstream_failure {
  close_reason reason;   // upstream_timeout, upstream_refused, upstream_dns,
                         // upstream_tls_unsupported, upstream_tls_handshake,
                         // upstream_certificate, tunnel, upstream_io,
                         // upstream_login_timeout
  std::string sqlstate;  // sent to the client
  std::string message;
  std::string hint;
  upstream_step step = upstream_step::connect;
  char ssl_answer = 0;     // the server's answer to SSLRequest ('S', 'N', other); 0: none
  long verify_result = 0;  // X509_V_OK, or why the server's certificate was refused
};

struct upstream_connection {
  std::unique_ptr<pg_stream> stream;
  bool tls = false;
  char ssl_answer = 0;  // the answer to the last SSLRequest sent; 0: none was sent
  // Backend bytes already read while negotiating (sslmode=allow reads the first
  // reply to decide); the relay sends them to the client first.
  pg::bytes pending;
  // A route via an SSH tunnel: the channel, for tunnel::manager::hand_off (else 0).
  uint64_t tunnel_channel = 0;
  // How long the steps took, for the per-route latency histograms (negative: the step
  // did not happen, e.g. no TLS with sslmode disable).
  double connect_seconds = -1;  // TCP connect after DNS, or the tunnel channel open
  double tls_seconds = -1;      // SSLRequest answer and TLS handshake
};

// On success returns the connection with the startup packet already sent (an empty
// `startup` sends nothing: `sluice doctor` checks the way without logging in). `conn` is
// the session's id for the debug log lines of each step (resolve, connect, TLS, startup).
net::awaitable<std::optional<upstream_failure>> connect_upstream(const route_runtime& route,
                                                                 tunnel::manager* tunnels,
                                                                 const pg::bytes& startup,
                                                                 upstream_connection& out,
                                                                 uint64_t conn = 0);

// upstream.login_timeout passed while sluice logged in as `user` (terminate mode, a
// pooled backend opened in advance): what the client and the log are told.
upstream_failure login_timed_out(const config::route& r, const std::string& user);

// Passthrough: TCP (or tunnel) plus, for sslnegotiation postgres, an SSLRequest that the
// server must answer 'S'. The client's own TLS handshake then flows through untouched.
net::awaitable<std::optional<upstream_failure>> connect_passthrough(const route_runtime& route,
                                                                    tunnel::manager* tunnels,
                                                                    upstream_connection& out,
                                                                    uint64_t conn = 0);

}  // namespace sluice::gateway
