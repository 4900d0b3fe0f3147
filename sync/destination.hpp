// libpq connection parameters for a sync's destination: its own host/port or a
// route's upstream, sslmode and CA, the password from its file, and, through a tunnel,
// host=<real name> (for TLS verification) with hostaddr/port of the loopback forward.
#pragma once

#include <map>
#include <string>

#include "config/settings.hpp"
#include "sync/service.hpp"

namespace sluice::sync {

struct destination {
  std::map<std::string, std::string> params;  // contains the password: never log
  std::string describe;                       // "user@host:port/db" for messages
};

// Throws std::runtime_error (no secrets in the message) when the route is unknown,
// the password file unreadable or the tunnel forward unavailable. `forward` may be
// empty when the destination has no tunnel.
destination resolve_destination(const config::settings& s, const config::sync& sync,
                                const forward_fn& forward);

// Where the destination is, as the database's own network names it (its host:port, or
// its route's upstream), and "user@host:port/db via TUNNEL" for messages. An unknown
// route gives the sync's own host and port (resolve_destination reports it).
struct destination_address {
  std::string host;
  uint16_t port = 0;
  std::string describe;
};
destination_address address_of(const config::settings& s, const config::sync& sync);

// The tunnel the destination is reached through: its own `via`, or its route's; "" when
// there is none (or the route is unknown, which resolve_destination reports).
std::string destination_tunnel(const config::settings& s, const config::sync& sync);

}  // namespace sluice::sync
