#include <catch2/catch.hpp>

#include "config/load.hpp"
#include "gateway/router.hpp"

using namespace sluice;

namespace {
config::settings_ptr routes() {
  auto r = config::load_string(R"(
listeners:
  - {name: pg, listen: 127.0.0.1:6432, client_tls: disabled}
  - {name: internal, listen: 127.0.0.1:6433, client_tls: disabled}
routes:
  - name: acme
    match: {listener: pg, sni: acme.gw.example.net}
    upstream: {host: acme-db}
  - name: tenants
    match: {listener: pg, sni: "*.gw.example.net"}
    upstream: {host: tenant-db}
  - name: reports
    match: {listener: internal, database: reports}
    rewrite: {database: reports_v2}
    upstream: {host: reports-db}
  - name: admin-user
    match: {listener: internal, user: admin}
    upstream: {host: admin-db}
)",
                               ".", {false});
  INFO(r.issues.str());
  REQUIRE(r.settings);
  return r.settings;
}
}  // namespace

TEST_CASE("router: first matching route wins, table-driven", "[router]") {
  auto s = routes();
  struct row {
    gateway::route_request req;
    const char* route;  // nullptr = no route
    const char* database;
    const char* user;
    const char* via;
  };
  const row rows[] = {
      {{"pg", "acme.gw.example.net", "app", "alice", ""}, "acme", "app", "alice", "sni"},
      {{"pg", "ACME.gw.example.net", "app", "alice", ""}, "acme", "app", "alice", "sni"},
      {{"pg", "beta.gw.example.net", "app", "bob", ""}, "tenants", "app", "bob", "sni"},
      {{"pg", "x.y.gw.example.net", "app", "bob", ""}, nullptr, "", "", ""},
      {{"pg", "", "app", "bob", ""}, nullptr, "", "", ""},
      {{"internal", "", "reports", "carol", ""}, "reports", "reports_v2", "carol", "match"},
      {{"internal", "", "other", "admin", ""}, "admin-user", "other", "admin", "match"},
      // Fallbacks for clients without SNI.
      {{"pg", "", "app", "alice", "endpoint=acme"}, "acme", "app", "alice", "endpoint-option"},
      {{"pg", "", "app", "alice", "-c search_path=x --endpoint=tenants"},
       "tenants",
       "app",
       "alice",
       "endpoint-option"},
      {{"pg", "", "app", "alice@acme", ""}, "acme", "app", "alice", "user-suffix"},
      {{"pg", "", "alice.acme", "alice.acme", ""}, "acme", "alice", "alice", "user-suffix"},
      // A suffix naming a route on another listener does not apply.
      {{"pg", "", "app", "carol@reports", ""}, nullptr, "", "", ""},
      {{"pg", "", "app", "alice", "endpoint=nope"}, nullptr, "", "", ""},
  };
  for (const auto& r : rows) {
    INFO(r.req.listener << " sni=" << r.req.sni << " db=" << r.req.database
                        << " user=" << r.req.user << " options=" << r.req.options);
    auto c = gateway::pick_route(*s, r.req);
    if (!r.route) {
      CHECK(c.route == nullptr);
      CHECK_FALSE(c.error.empty());
      continue;
    }
    REQUIRE(c.route);
    CHECK(c.route->name == r.route);
    CHECK(c.database == r.database);
    CHECK(c.user == r.user);
    CHECK(c.via == r.via);
  }
}

TEST_CASE("router: endpoint option is stripped before forwarding, errors name the request",
          "[router]") {
  auto s = routes();
  auto c = gateway::pick_route(*s, {"pg", "", "app", "alice", "-c search_path=x endpoint=acme"});
  REQUIRE(c.route);
  CHECK(c.options == "-c search_path=x");
  auto none = gateway::pick_route(*s, {"pg", "nope.example.org", "app", "alice", ""});
  CHECK(none.error ==
        "no route for database \"app\" and user \"alice\" on listener \"pg\" with server name "
        "\"nope.example.org\"");
  auto bad = gateway::pick_route(*s, {"pg", "", "app", "alice", "endpoint=nope"});
  CHECK(bad.error == "no route named \"nope\" (from options=endpoint=nope) on listener \"pg\"");
}
