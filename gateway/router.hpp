// Picks the route for a client: the first route whose listener, SNI, database and
// user matchers all accept the request. Clients without SNI (libpq < 14, IP-literal
// hosts, sslsni=0) can name a route with options=endpoint=NAME or a user@NAME /
// user.NAME suffix, which is stripped before the startup packet goes upstream. Pure.
#pragma once

#include <string>

#include "config/settings.hpp"

namespace sluice::gateway {

struct route_request {
  std::string listener;
  std::string sni;       // empty when the client sent none or used no TLS
  std::string database;  // as sent (libpq defaults it to the user name)
  std::string user;
  std::string options;  // the startup "options" parameter
};

struct route_choice {
  const config::route* route = nullptr;  // null: no route; see `error`
  // What to send upstream after fallbacks and rewrites.
  std::string database;
  std::string user;
  std::string options;
  std::string via;  // "sni", "endpoint-option", "user-suffix" or "match"
  std::string error;
};

route_choice pick_route(const config::settings& s, const route_request& req);

}  // namespace sluice::gateway
