// Admission as pure logic: may this client address, on this listener, with or without
// TLS, reach this route? One place for the rules and their words, used at accept (a
// startup packet, or a passthrough ClientHello) and after a reload (still_allowed).
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "config/cidr.hpp"
#include "gateway/router.hpp"
#include "gateway/runtime.hpp"
#include "gateway/session/close_reason.hpp"

namespace sluice::gateway {

// A refused client: the close reason, and the ErrorResponse that tells it why (a
// passthrough client is mid-handshake and sees only the close; the message is logged).
struct refusal {
  close_reason reason = close_reason::rejected_allowlist;
  std::string sqlstate;
  std::string message;
  std::string hint;
};

// How the refusal reaches the client: as an ErrorResponse, or (passthrough) not at all.
enum class client_sees { error_response, closed_connection };

// The listener's own rules: its allowlist on the client address, then (for clients that
// can be told) its client_tls policy.
std::optional<refusal> admit_listener(const listener_runtime& l, std::string_view listener,
                                      const config::ip_address& peer, bool client_tls,
                                      client_sees how);

struct route_admission {
  std::optional<refusal> refused;
  route_choice choice;                   // when admitted: the route and the rewrites
  const route_runtime* route = nullptr;  // when admitted
};

// Picks the route and applies its allowlist.
route_admission admit_route(const runtime& rt, const route_request& req,
                            const config::ip_address& peer, client_sees how);

// After a reload, for a session accepted earlier: the message to end it with, or nothing
// when it may stay (still allowed, or the listener does not enforce on reload).
std::optional<std::string> no_longer_allowed(const runtime& next, std::string_view listener,
                                             std::string_view route,
                                             const config::ip_address& peer);
inline bool still_allowed(const runtime& next, std::string_view listener, std::string_view route,
                          const config::ip_address& peer) {
  return !no_longer_allowed(next, listener, route, peer);
}

}  // namespace sluice::gateway
