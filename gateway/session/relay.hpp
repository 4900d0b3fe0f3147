// What the two relay directions of a session share, and the rules read from it: when an
// ErrorResponse may be put in front of the client (only between the server's messages,
// when sluice can see them), and the client->server direction parking itself for a
// hand-off to the tunnel thread. The pumps themselves are session members (relay.cpp).
#pragma once

#include <chrono>

#include "gateway/frame_tracker.hpp"
#include "gateway/pg_wire.hpp"

namespace sluice::gateway {

struct relay_state {
  // Passthrough: the bytes are the client's TLS records, not messages sluice can read.
  bool opaque = false;
  // splice: server->client bytes bypass the frame tracker (the kernel moves them).
  bool untracked_to_client = false;
  bool client_write_busy = false;  // the server->client direction is mid-write
  // Hand-off: the client->server direction stopped between chunks; `c2s_rest` is what
  // it had read but could not write yet.
  bool c2s_parked = false;
  pg::bytes c2s_rest;
  frame_tracker to_client;
  // The client's messages: once it sent Terminate, the server closing first is still
  // the client ending the session (the two EOFs race).
  frame_tracker from_client;
  std::chrono::steady_clock::time_point last_activity = std::chrono::steady_clock::now();
  // A pooled session (routes[].pool): both directions are followed (session::pool_state)
  // so the backend can be kept when the client leaves; the client's Terminate is not
  // passed on.
  bool pooled = false;
  bool pool_release = false;         // the client left: the session hands the backend on
  bool client_left_cleanly = false;  // ... with a Terminate or an EOF between messages

  // An ErrorResponse written now would land between two of the server's messages.
  bool can_inject_error() const {
    return !opaque && !untracked_to_client && !client_write_busy && to_client.at_boundary();
  }
  // When the server's side ended first: whether the client had ended it already.
  bool client_sent_terminate() const { return !opaque && from_client.last_type() == 'X'; }
};

}  // namespace sluice::gateway
