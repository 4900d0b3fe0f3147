#include "gateway/router.hpp"

#include <sstream>

#include "config/cidr.hpp"

namespace sluice::gateway {

namespace {

bool matches(const config::route& r, const route_request& req, const std::string& database,
             const std::string& user) {
  const auto& m = r.match;
  if (!m.listener.empty() && m.listener != req.listener)
    return false;
  if (!m.sni.empty() && (req.sni.empty() || !config::host_pattern_matches(m.sni, req.sni))) {
    return false;
  }
  if (!m.database.empty() && m.database != database)
    return false;
  if (!m.user.empty() && m.user != user)
    return false;
  return true;
}

// Removes "endpoint=NAME" / "--endpoint=NAME" from a libpq options string.
std::string take_endpoint(std::string& options) {
  std::istringstream in(options);
  std::string token, rest, endpoint;
  while (in >> token) {
    for (const char* prefix : {"endpoint=", "--endpoint="}) {
      if (token.rfind(prefix, 0) == 0) {
        endpoint = token.substr(std::char_traits<char>::length(prefix));
        token.clear();
        break;
      }
    }
    if (!token.empty())
      rest += (rest.empty() ? "" : " ") + token;
  }
  if (!endpoint.empty())
    options = rest;
  return endpoint;
}

route_choice finish(const config::route& r, std::string database, std::string user,
                    std::string options, const char* via) {
  route_choice c;
  c.route = &r;
  c.database = r.rewrite_database.empty() ? std::move(database) : r.rewrite_database;
  c.user = r.rewrite_user.empty() ? std::move(user) : r.rewrite_user;
  c.options = std::move(options);
  c.via = via;
  return c;
}

}  // namespace

route_choice pick_route(const config::settings& s, const route_request& req) {
  std::string options = req.options;
  // 1. An explicit endpoint option names the route.
  if (auto endpoint = take_endpoint(options); !endpoint.empty()) {
    const auto* r = s.find_route(endpoint);
    if (r && (r->match.listener.empty() || r->match.listener == req.listener)) {
      return finish(*r, req.database, req.user, options, "endpoint-option");
    }
    route_choice c;
    c.error = "no route named \"" + endpoint + "\" (from options=endpoint=" + endpoint +
              ") on listener \"" + req.listener + "\"";
    return c;
  }
  // 2. Ordinary matching on the request as sent.
  for (const auto& r : s.routes) {
    if (matches(r, req, req.database, req.user)) {
      return finish(r, req.database, req.user, options, req.sni.empty() ? "match" : "sni");
    }
  }
  // 3. user@route or user.route stands in for SNI: the suffix names the route, whose
  //    listener/database/user matchers must still accept the stripped names. libpq
  //    defaulted the database to the full user name, so strip it there too.
  for (char sep : {'@', '.'}) {
    auto at = req.user.rfind(sep);
    if (at == std::string::npos || at == 0 || at + 1 == req.user.size())
      continue;
    const auto* r = s.find_route(req.user.substr(at + 1));
    if (!r)
      continue;
    std::string user = req.user.substr(0, at);
    std::string database = req.database == req.user ? user : req.database;
    route_request stripped{req.listener, r->match.sni, database, user, options};
    config::route no_sni = *r;
    no_sni.match.sni.clear();
    if (matches(no_sni, stripped, database, user)) {
      return finish(*r, database, user, options, "user-suffix");
    }
  }
  route_choice c;
  c.error = "no route for database \"" + req.database + "\" and user \"" + req.user +
            "\" on listener \"" + req.listener + "\"" +
            (req.sni.empty() ? std::string(" (client sent no TLS server name)")
                             : " with server name \"" + req.sni + "\"");
  return c;
}

}  // namespace sluice::gateway
