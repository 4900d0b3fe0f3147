#include "gateway/session/admit.hpp"

namespace sluice::gateway {

namespace {

std::string ask_to_add(const config::ip_address& peer) {
  return "ask the gateway's network team to add " + peer.str() + " to one of those allowlists";
}

}  // namespace

std::optional<refusal> admit_listener(const listener_runtime& l, std::string_view listener,
                                      const config::ip_address& peer, bool client_tls,
                                      client_sees how) {
  const std::string name(listener);
  if (!l.allow.check(peer).allowed) {
    if (how == client_sees::closed_connection) {
      return refusal{close_reason::rejected_allowlist,
                     "28000",
                     "connection from " + peer.str() + " refused by the allowlist of listener \"" +
                         name + "\" (passthrough: the client sees a closed connection)",
                     {}};
    }
    return refusal{close_reason::rejected_allowlist, "28000",
                   "connection from " + peer.str() +
                       " refused: the address is not on the allowlist of listener \"" + name +
                       "\" (" + l.allow.describe() + ")",
                   ask_to_add(peer)};
  }
  if (how == client_sees::error_response && !client_tls &&
      l.cfg->client_tls == config::client_tls_policy::required) {
    return refusal{close_reason::tls_required, "28000",
                   "listener \"" + name + "\" requires TLS; this connection is unencrypted",
                   "connect with sslmode=require (or verify-full)"};
  }
  return std::nullopt;
}

route_admission admit_route(const runtime& rt, const route_request& req,
                            const config::ip_address& peer, client_sees how) {
  route_admission a;
  a.choice = pick_route(*rt.settings, req);
  if (!a.choice.route) {
    a.refused = refusal{close_reason::no_route, "08004", a.choice.error,
                        "check the host name (SNI), database and user you connect with"};
    return a;
  }
  const std::string& name = a.choice.route->name;
  const route_runtime* rr = rt.route(name);
  if (!rr->allow.check(peer).allowed) {
    if (how == client_sees::closed_connection) {
      a.refused = refusal{
          close_reason::rejected_route_allowlist,
          "28000",
          "connection from " + peer.str() + " refused by the allowlist of route \"" + name + "\"",
          {}};
    } else {
      a.refused = refusal{close_reason::rejected_route_allowlist, "28000",
                          "connection from " + peer.str() +
                              " refused: the address is not on the allowlist of route \"" + name +
                              "\" (" + rr->allow.describe() + ")",
                          ask_to_add(peer)};
    }
    return a;
  }
  a.route = rr;
  return a;
}

std::optional<std::string> no_longer_allowed(const runtime& next, std::string_view listener,
                                             std::string_view route,
                                             const config::ip_address& peer) {
  const auto* l = next.listener(listener);
  if (!l || !l->cfg->enforce_on_reload)
    return std::nullopt;
  const std::string after =
      "connection closed by sluice: address " + peer.str() + " is no longer on the allowlist of ";
  if (!l->allow.check(peer).allowed)
    return after + "listener \"" + std::string(listener) + "\" after a configuration reload";
  if (route.empty())
    return std::nullopt;
  const auto* r = next.route(route);
  if (r && !r->allow.check(peer).allowed)
    return after + "route \"" + std::string(route) + "\" after a configuration reload";
  return std::nullopt;
}

}  // namespace sluice::gateway
