// Admin API pure parts: Prometheus rendering, the status document, the bearer check and
// the status page's embedding of the first document.
#include <catch2/catch.hpp>
#include <sstream>

#include "gateway/admin/http_server.hpp"
#include "gateway/admin/prometheus.hpp"
#include "gateway/admin/status.hpp"
#include "gateway/admin/status_page.hpp"
#include "tests/support/process.hpp"

using namespace sluice;

namespace {

gateway::metrics sample_metrics() {
  gateway::metrics m;
  m.accepted["main"] = 7;
  m.closed[{"main", "client_closed"}] = 5;
  m.closed[{"main", "not_allowed"}] = 2;
  m.routes["orders"] = {
      .sessions = 3, .bytes_client_to_server = 100, .bytes_server_to_client = 2000};
  m.handshake_seconds.observe(0.0001);
  m.handshake_seconds.observe(0.2);
  m.handshake_seconds.observe(10);
  return m;
}

}  // namespace

TEST_CASE(
    "prometheus text has labelled counters and cumulative histograms and tunnel and sync gauges") {
  auto m = sample_metrics();
  admin::scrape_input in;
  in.data = &m;
  in.active_sessions = 4;
  in.generation = 3;
  in.over_limit = 6;
  in.tunnels = nlohmann::json::array(
      {{{"name", "bastion"}, {"state", "up"}, {"reconnects", 2}, {"open_channels", 1}},
       {{"name", "down\"one"}, {"state", "connecting"}, {"reconnects", 9}}});
  in.syncs = nlohmann::json::array({{{"name", "stripe"},
                                     {"batches", 11},
                                     {"records", 1234},
                                     {"last_sequence", 11},
                                     {"lag_seconds", 0.5},
                                     {"last_error", ""}}});
  auto text = admin::render_prometheus(in);
  CHECK_THAT(text, Catch::Contains("sluice_connections_accepted_total{listener=\"main\"} 7\n"));
  CHECK_THAT(text,
             Catch::Contains(
                 "sluice_connections_closed_total{listener=\"main\",reason=\"not_allowed\"} 2\n"));
  CHECK_THAT(text, Catch::Contains("sluice_active_sessions 4\n"));
  CHECK_THAT(text, Catch::Contains("sluice_config_generation 3\n"));
  CHECK_THAT(text, Catch::Contains("sluice_connections_over_limit_total 6\n"));
  CHECK_THAT(
      text,
      Catch::Contains(
          "sluice_route_bytes_total{route=\"orders\",direction=\"server_to_client\"} 2000\n"));
  CHECK_THAT(text, Catch::Contains("sluice_handshake_seconds_bucket{le=\"0.0005\"} 1\n"));
  CHECK_THAT(text, Catch::Contains("sluice_handshake_seconds_bucket{le=\"0.25\"} 2\n"));
  CHECK_THAT(text, Catch::Contains("sluice_handshake_seconds_bucket{le=\"+Inf\"} 3\n"));
  CHECK_THAT(text, Catch::Contains("sluice_handshake_seconds_count 3\n"));
  CHECK_THAT(text, Catch::Contains("sluice_tunnel_up{tunnel=\"bastion\"} 1\n"));
  CHECK_THAT(text, Catch::Contains("sluice_tunnel_up{tunnel=\"down\\\"one\"} 0\n"));
  CHECK_THAT(text, Catch::Contains("sluice_tunnel_reconnects_total{tunnel=\"down\\\"one\"} 9\n"));
  CHECK_THAT(text, Catch::Contains("sluice_sync_records_total{sync=\"stripe\"} 1234\n"));
  CHECK_THAT(text, Catch::Contains("sluice_sync_lag_seconds{sync=\"stripe\"} 0.5\n"));
  CHECK_THAT(text, Catch::Contains("# TYPE sluice_upstream_connect_seconds histogram\n"));
  // Every sample line belongs to a family announced by # TYPE.
  std::istringstream lines(text);
  std::string line, family;
  while (std::getline(lines, line)) {
    if (line.rfind("# TYPE ", 0) == 0) {
      family = line.substr(7, line.find(' ', 7) - 7);
      continue;
    }
    if (line.empty() || line[0] == '#')
      continue;
    INFO(line);
    CHECK(line.rfind(family, 0) == 0);
  }
}

TEST_CASE("escape_label escapes quotes and backslashes and newlines") {
  CHECK(admin::escape_label("a\"b\\c\nd") == "a\\\"b\\\\c\\nd");
}

TEST_CASE("bearer token must match the token file exactly") {
  test::temp_dir dir;
  auto file = dir.write("token", "s3cret-token\n", 0600);
  CHECK(admin::bearer_matches("Bearer s3cret-token", file));
  CHECK_FALSE(admin::bearer_matches("Bearer s3cret-toke", file));
  CHECK_FALSE(admin::bearer_matches("Bearer s3cret-token2", file));
  CHECK_FALSE(admin::bearer_matches("Basic s3cret-token", file));
  CHECK_FALSE(admin::bearer_matches("", file));
  CHECK_FALSE(admin::bearer_matches("Bearer s3cret-token", ""));
  CHECK_FALSE(admin::bearer_matches("Bearer s3cret-token", dir.file("missing")));
  auto empty = dir.write("empty", "\n", 0600);
  CHECK_FALSE(admin::bearer_matches("Bearer ", empty));
}

TEST_CASE("status document lists listeners and routes with their traffic") {
  auto s = std::make_shared<config::settings>();
  s->region = "eu-west";
  s->public_addresses = {"203.0.113.7"};
  config::listener l;
  l.name = "main";
  l.listen = {"0.0.0.0", 0};
  s->listeners.push_back(l);
  config::route r;
  r.name = "orders";
  r.match.database = "orders";
  r.upstream.host = "db.internal";
  r.upstream.port = 5433;
  r.upstream.via = "bastion";
  s->routes.push_back(r);
  gateway::runtime rt;
  rt.settings = s;
  rt.generation = 4;
  auto m = sample_metrics();
  admin::status_input in;
  in.rt = &rt;
  in.data = &m;
  in.active_sessions = 1;
  in.bound_port = [](const std::string&) -> uint16_t { return 6432; };
  in.tunnels = nlohmann::json::array({{{"name", "bastion"}, {"state", "up"}}});
  auto j = admin::build_status(in);
  CHECK(j["region"] == "eu-west");
  CHECK(j["generation"] == 4);
  CHECK(j["public_addresses"][0] == "203.0.113.7");
  CHECK(j["listeners"][0]["address"] == "0.0.0.0:6432");
  CHECK(j["listeners"][0]["closed"]["not_allowed"] == 2);
  CHECK(j["routes"][0]["upstream"] == "db.internal:5433");
  CHECK(j["routes"][0]["via"] == "bastion");
  CHECK(j["routes"][0]["bytes_server_to_client"] == 2000);
  CHECK(j["connections"]["accepted"] == 7);
  CHECK(j["connections"]["active"] == 1);
  CHECK(j["tunnels"][0]["name"] == "bastion");
}

TEST_CASE("status document says which routes and listeners an operator drained", "[admin][drain]") {
  auto s = std::make_shared<config::settings>();
  for (const char* name : {"main", "other"}) {
    config::listener l;
    l.name = name;
    s->listeners.push_back(l);
  }
  for (const char* name : {"orders", "billing"}) {
    config::route r;
    r.name = name;
    s->routes.push_back(r);
  }
  gateway::runtime rt;
  rt.settings = s;
  admin::status_input in;
  in.rt = &rt;
  auto none = admin::build_status(in);  // no drain table at all: nothing is drained
  CHECK(none["routes"][0]["drained"] == false);
  CHECK(none["listeners"][0]["drained"] == false);
  gateway::drains d;
  d.set(gateway::drains::kind::route, "billing", true);
  d.set(gateway::drains::kind::listener, "main", true);
  d.set(gateway::drains::kind::route, "main", true);  // kinds are separate name spaces
  in.drains = &d;
  auto j = admin::build_status(in);
  CHECK(j["routes"][0]["drained"] == false);
  CHECK(j["routes"][1]["drained"] == true);
  CHECK(j["listeners"][0]["drained"] == true);
  CHECK(j["listeners"][1]["drained"] == false);
  d.set(gateway::drains::kind::route, "billing", false);
  CHECK(admin::build_status(in)["routes"][1]["drained"] == false);
}

TEST_CASE("status page embeds the first document without closing its script early") {
  nlohmann::json j{{"region", "</script><b>x"}};
  auto page = admin::render_status_page(j);
  CHECK_THAT(page, Catch::Contains("<\\/script><b>x"));
  CHECK_THAT(page, Catch::Contains("fetch('v1/status'"));
  CHECK(page.find("</script><b>x") == std::string::npos);
}

TEST_CASE("per-route latency histograms carry the route label and zero series for idle routes") {
  gateway::metrics m;
  m.latency["orders"].connect.observe(0.002);
  m.latency["orders"].connect.observe(3.0);
  m.latency["orders"].tls.observe(0.02);
  m.latency["orders"].login.observe(0.04);
  admin::scrape_input in;
  in.data = &m;
  in.route_healthy = {{"orders", true}, {"idle\"one", true}};
  auto text = admin::render_prometheus(in);
  CHECK_THAT(text, Catch::Contains("# TYPE sluice_route_connect_seconds histogram\n"));
  CHECK_THAT(text, Catch::Contains(
                       "sluice_route_connect_seconds_bucket{route=\"orders\",le=\"0.001\"} 0\n"));
  CHECK_THAT(text, Catch::Contains(
                       "sluice_route_connect_seconds_bucket{route=\"orders\",le=\"0.0025\"} 1\n"));
  CHECK_THAT(text, Catch::Contains(
                       "sluice_route_connect_seconds_bucket{route=\"orders\",le=\"+Inf\"} 2\n"));
  CHECK_THAT(text, Catch::Contains("sluice_route_connect_seconds_sum{route=\"orders\"} 3.002\n"));
  CHECK_THAT(text, Catch::Contains("sluice_route_connect_seconds_count{route=\"orders\"} 2\n"));
  CHECK_THAT(text,
             Catch::Contains("sluice_route_tls_handshake_seconds_count{route=\"orders\"} 1\n"));
  CHECK_THAT(text, Catch::Contains("sluice_route_login_seconds_count{route=\"orders\"} 1\n"));
  CHECK_THAT(text, Catch::Contains("sluice_route_login_seconds_count{route=\"idle\\\"one\"} 0\n"));
  // Merging worker copies adds them.
  gateway::metrics total;
  total.merge(m);
  total.merge(m);
  CHECK(total.latency["orders"].connect.count == 4);
  CHECK(total.latency["orders"].tls.counts[5] == 2);
}
