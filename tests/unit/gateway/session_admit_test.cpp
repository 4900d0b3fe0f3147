#include <catch2/catch.hpp>

#include "config/load.hpp"
#include "gateway/session/admit.hpp"

using namespace sluice;
using gateway::client_sees;
using gateway::close_reason;

namespace {
// The runtime the data plane would build, without loading certificates (not needed to
// decide admission).
std::shared_ptr<gateway::runtime> compile(const std::string& yaml) {
  auto r = config::load_string(yaml, ".", {false});
  INFO(r.issues.str());
  REQUIRE(r.settings);
  auto rt = std::make_shared<gateway::runtime>();
  rt->settings = r.settings;
  for (const auto& l : r.settings->listeners)
    rt->listeners.emplace(l.name,
                          gateway::listener_runtime{
                              &l, nullptr, config::allowlist(l.allow, r.settings->allowlists), {}});
  for (const auto& route : r.settings->routes)
    rt->routes.emplace(
        route.name, gateway::route_runtime{&route, nullptr,
                                           config::allowlist(route.allow, r.settings->allowlists)});
  return rt;
}

const char* kConfig = R"(
allowlists:
  office: [198.51.100.0/24]
  vpn: [10.8.0.0/16]
listeners:
  - name: pg
    listen: 127.0.0.1:6432
    tls: {cert: gw.crt, key: gw.key}
    client_tls: required
    allow: [office, vpn]
    enforce_on_reload: true
  - name: open
    listen: 127.0.0.1:6433
    client_tls: disabled
routes:
  - name: billing
    match: {listener: pg, sni: billing.gw.example.net}
    allow: [office]
    upstream: {host: billing-db, tls: {sslmode: disable}}
  - name: reports
    match: {listener: open, database: reports}
    upstream: {host: reports-db, tls: {sslmode: disable}}
)";

config::ip_address ip(const std::string& s) {
  auto a = config::ip_address::parse(s);
  REQUIRE(a);
  return *a;
}
}  // namespace

TEST_CASE("admit: the listener's allowlist, then its client_tls policy", "[session][admit]") {
  auto rt = compile(kConfig);
  struct row {
    const char* listener;
    const char* peer;
    bool client_tls;
    client_sees how;
    std::optional<close_reason> refused;
    const char* message;
    const char* hint;
  };
  const row rows[] = {
      {"pg", "198.51.100.7", true, client_sees::error_response, std::nullopt, "", ""},
      {"pg", "10.8.1.1", true, client_sees::error_response, std::nullopt, "", ""},
      {"pg", "203.0.113.9", true, client_sees::error_response, close_reason::rejected_allowlist,
       "connection from 203.0.113.9 refused: the address is not on the allowlist of listener "
       "\"pg\" (office, vpn)",
       "ask the gateway's network team to add 203.0.113.9 to one of those allowlists"},
      {"pg", "203.0.113.9", false, client_sees::closed_connection, close_reason::rejected_allowlist,
       "connection from 203.0.113.9 refused by the allowlist of listener \"pg\" (passthrough: "
       "the client sees a closed connection)",
       ""},
      {"pg", "198.51.100.7", false, client_sees::error_response, close_reason::tls_required,
       "listener \"pg\" requires TLS; this connection is unencrypted",
       "connect with sslmode=require (or verify-full)"},
      // Not allowed is said before unencrypted.
      {"pg", "203.0.113.9", false, client_sees::error_response, close_reason::rejected_allowlist,
       "connection from 203.0.113.9 refused: the address is not on the allowlist of listener "
       "\"pg\" (office, vpn)",
       "ask the gateway's network team to add 203.0.113.9 to one of those allowlists"},
      {"open", "203.0.113.9", false, client_sees::error_response, std::nullopt, "", ""},
  };
  for (const auto& r : rows) {
    INFO(r.listener << " " << r.peer << " tls " << r.client_tls);
    auto got = gateway::admit_listener(*rt->listener(r.listener), r.listener, ip(r.peer),
                                       r.client_tls, r.how);
    REQUIRE(got.has_value() == r.refused.has_value());
    if (!got)
      continue;
    CHECK(got->reason == *r.refused);
    CHECK(got->sqlstate == "28000");
    CHECK(got->message == r.message);
    CHECK(got->hint == r.hint);
  }
}

TEST_CASE("admit: the route, then the route's allowlist", "[session][admit]") {
  auto rt = compile(kConfig);
  struct row {
    gateway::route_request req;
    const char* peer;
    client_sees how;
    const char* route;  // picked (also when refused by its allowlist)
    std::optional<close_reason> refused;
    const char* sqlstate;
    const char* message;  // "" to skip (router's words, tested in router_test)
  };
  const row rows[] = {
      {{"pg", "billing.gw.example.net", "app", "alice", ""},
       "198.51.100.7",
       client_sees::error_response,
       "billing",
       std::nullopt,
       "",
       ""},
      {{"pg", "billing.gw.example.net", "app", "alice", ""},
       "10.8.1.1",
       client_sees::error_response,
       "billing",
       close_reason::rejected_route_allowlist,
       "28000",
       "connection from 10.8.1.1 refused: the address is not on the allowlist of route "
       "\"billing\" (office)"},
      {{"pg", "billing.gw.example.net", "", "", ""},
       "10.8.1.1",
       client_sees::closed_connection,
       "billing",
       close_reason::rejected_route_allowlist,
       "28000",
       "connection from 10.8.1.1 refused by the allowlist of route \"billing\""},
      {{"pg", "other.gw.example.net", "app", "alice", ""},
       "198.51.100.7",
       client_sees::error_response,
       "",
       close_reason::no_route,
       "08004",
       ""},
      {{"open", "", "reports", "bob", ""},
       "203.0.113.9",
       client_sees::error_response,
       "reports",
       std::nullopt,
       "",
       ""},
  };
  for (const auto& r : rows) {
    INFO(r.req.listener << " sni " << r.req.sni << " from " << r.peer);
    auto a = gateway::admit_route(*rt, r.req, ip(r.peer), r.how);
    CHECK(std::string(a.choice.route ? a.choice.route->name : "") == r.route);
    REQUIRE(a.refused.has_value() == r.refused.has_value());
    if (!a.refused) {
      CHECK(a.route == rt->route(r.route));
      continue;
    }
    CHECK(a.route == nullptr);
    CHECK(a.refused->reason == *r.refused);
    CHECK(a.refused->sqlstate == r.sqlstate);
    if (*r.message)
      CHECK(a.refused->message == r.message);
    if (r.how == client_sees::error_response)
      CHECK_FALSE(a.refused->hint.empty());
  }
}

TEST_CASE("admit: after a reload, who may stay", "[session][admit]") {
  auto before = compile(kConfig);
  // The reload drops vpn from the listener and office from billing.
  std::string after_yaml = kConfig;
  after_yaml.replace(after_yaml.find("allow: [office, vpn]"), 20, "allow: [office]     ");
  after_yaml.replace(after_yaml.find("allow: [office]\n    upstream"), 15, "allow: [vpn]   ");
  auto after = compile(after_yaml);
  struct row {
    const char* listener;
    const char* route;
    const char* peer;
    const char* message;  // "" = may stay
  };
  const row rows[] = {
      {"pg", "billing", "10.8.1.1",
       "connection closed by sluice: address 10.8.1.1 is no longer on the allowlist of listener "
       "\"pg\" after a configuration reload"},
      {"pg", "billing", "198.51.100.7",
       "connection closed by sluice: address 198.51.100.7 is no longer on the allowlist of route "
       "\"billing\" after a configuration reload"},
      {"pg", "", "198.51.100.7", ""},          // not routed yet: only the listener counts
      {"open", "reports", "203.0.113.9", ""},  // does not enforce on reload
      {"gone", "", "198.51.100.7", ""},        // a listener the reload removed
  };
  for (const auto& r : rows) {
    INFO(r.listener << " " << r.route << " " << r.peer);
    auto why = gateway::no_longer_allowed(*after, r.listener, r.route, ip(r.peer));
    CHECK(why.value_or("") == r.message);
    CHECK(gateway::still_allowed(*after, r.listener, r.route, ip(r.peer)) == !*r.message);
  }
  // Under the snapshot they were admitted with, they may stay.
  for (const char* peer : {"198.51.100.7", "10.8.1.1"}) {
    INFO(peer);
    CHECK(gateway::still_allowed(*before, "pg", "", ip(peer)));
  }
}
