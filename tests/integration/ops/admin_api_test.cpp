// The admin API against a running gateway: health, readiness, Prometheus text, the
// status document, the status page and token-protected reloads.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "tests/integration/ops/ops_fixture.hpp"
#include "tests/support/pg_cluster.hpp"

using namespace sluice::test;

TEST_CASE("admin API answers health readiness metrics and status") {
  temp_dir dir;
  auto c = make_ops_config(dir);
  gateway_process gw(dir, c.yaml);
  INFO(gw.log());
  CHECK_THAT(gw.log(), Catch::Contains("admin=127.0.0.1:" + std::to_string(c.admin_port)));

  auto health = curl(admin_url(c, "/healthz"));
  CHECK(health.output == "ok\n\nHTTP 200");

  // The tunnel points at a closed port: the gateway itself is ready (one customer's
  // bastion must not take it out of the load balancer); the route reports the outage.
  auto ready = curl(admin_url(c, "/readyz"));
  CHECK(ready.output == "ready\n\nHTTP 200");
  auto route_health = curl(admin_url(c, "/v1/routes/orders/health"));
  CHECK_THAT(route_health.output, Catch::EndsWith("HTTP 503"));
  CHECK_THAT(route_health.output, Catch::Contains("\"healthy\": false"));
  CHECK_THAT(route_health.output, Catch::Contains("tunnel bastion is"));
  CHECK_THAT(curl(admin_url(c, "/v1/routes/nope/health")).output, Catch::EndsWith("HTTP 404"));

  // A failed connection through the route shows up in the counters.
  run("psql -X 'host=127.0.0.1 port=" + std::to_string(c.listen_port) +
      " dbname=other user=x connect_timeout=5' -c 'select 1'");
  REQUIRE(eventually(
      [&] {
        return curl(admin_url(c, "/metrics"))
                   .output.find("sluice_connections_accepted_total{listener=\"pg\"} 1") !=
               std::string::npos;
      },
      std::chrono::seconds(10)));
  auto metrics = curl(admin_url(c, "/metrics")).output;
  CHECK_THAT(metrics, Catch::Contains("sluice_connections_closed_total{listener=\"pg\",reason="));
  CHECK_THAT(metrics, Catch::Contains("sluice_active_sessions "));
  CHECK_THAT(metrics, Catch::Contains("sluice_handshake_seconds_bucket{le=\"+Inf\"} "));
  CHECK_THAT(metrics, Catch::Contains("sluice_upstream_connect_seconds_count "));
  CHECK_THAT(metrics, Catch::Contains("sluice_tunnel_up{tunnel=\"bastion\"} 0"));
  CHECK_THAT(metrics, Catch::Contains("sluice_tunnel_reconnects_total{tunnel=\"bastion\"} "));
  CHECK_THAT(metrics, Catch::Contains("sluice_sync_batches_total{sync=\"stripe\"} 0"));
  CHECK_THAT(metrics, Catch::Contains("sluice_config_generation 1"));
  CHECK_THAT(metrics, Catch::Contains("sluice_route_healthy{route=\"orders\"} 0"));

  auto status = curl(admin_url(c, "/v1/status"));
  REQUIRE_THAT(status.output, Catch::EndsWith("HTTP 200"));
  auto j = nlohmann::json::parse(status.output.substr(0, status.output.rfind("\nHTTP")));
  CHECK(j["region"] == "test-region-1");
  CHECK(j["public_addresses"][0] == "203.0.113.10");
  CHECK(j["generation"] == 1);
  CHECK(j["ready"] == true);
  CHECK(j["routes"][0]["health"]["healthy"] == false);
  CHECK(j["listeners"][0]["name"] == "pg");
  CHECK(j["listeners"][0]["address"] == "127.0.0.1:" + std::to_string(c.listen_port));
  CHECK(j["routes"][0]["name"] == "orders");
  CHECK(j["routes"][0]["via"] == "bastion");
  CHECK(j["tunnels"][0]["name"] == "bastion");
  CHECK(j["tunnels"][0]["state"] != "up");
  CHECK(j["syncs"][0]["name"] == "stripe");
  CHECK(j["connections"]["accepted"] == 1);

  auto page = curl(admin_url(c, "/"));
  CHECK_THAT(page.output, Catch::Contains("<title>sluice status</title>"));
  CHECK_THAT(page.output, Catch::Contains("test-region-1"));

  CHECK_THAT(curl(admin_url(c, "/nope")).output, Catch::EndsWith("HTTP 404"));
}

TEST_CASE("a route with affects_readiness makes its tunnel part of /readyz", "[admin][readiness]") {
  temp_dir dir;
  auto c = make_ops_config(dir);
  const std::string marker = "  - name: orders\n";
  auto at = c.yaml.find(marker);
  REQUIRE(at != std::string::npos);
  c.yaml.insert(at + marker.size(), "    affects_readiness: true\n");
  gateway_process gw(dir, c.yaml);
  INFO(gw.log());
  auto ready = curl(admin_url(c, "/readyz"));
  CHECK_THAT(ready.output, Catch::StartsWith("not ready\n"));
  CHECK_THAT(ready.output,
             Catch::Contains("- route orders (affects_readiness): tunnel bastion is"));
  CHECK_THAT(ready.output, Catch::EndsWith("HTTP 503"));
  // Without the opt-in (a reload), the same outage leaves the gateway ready.
  c.yaml.erase(at + marker.size(), std::string("    affects_readiness: true\n").size());
  gw.rewrite(c.yaml);
  gw.reload();
  REQUIRE(eventually([&] { return curl(admin_url(c, "/readyz")).output == "ready\n\nHTTP 200"; },
                     std::chrono::seconds(10)));
}

TEST_CASE("POST /v1/reload needs the bearer token and reports the problems of a bad file") {
  temp_dir dir;
  auto c = make_ops_config(dir, false);
  gateway_process gw(dir, c.yaml);
  INFO(gw.log());
  auto url = admin_url(c, "/v1/reload");

  auto none = curl("-X POST " + url);
  CHECK_THAT(none.output, Catch::EndsWith("HTTP 401"));
  CHECK_THAT(none.output, Catch::Contains("bearer token"));
  auto wrong = curl("-X POST -H 'Authorization: Bearer nope' " + url);
  CHECK_THAT(wrong.output, Catch::EndsWith("HTTP 401"));
  CHECK(count_of(gw.log(), "event=reload_started") == 0);
  CHECK_THAT(curl(url).output, Catch::EndsWith("HTTP 405"));

  const std::string auth = "-H 'Authorization: Bearer t0ken-for-tests' ";
  auto ok = curl("-X POST " + auth + url);
  CHECK_THAT(ok.output, Catch::EndsWith("HTTP 200"));
  CHECK_THAT(ok.output, Catch::Contains("\"generation\": 2"));
  CHECK_THAT(ok.output, Catch::Contains("\"ok\": true"));
  CHECK_THAT(curl(admin_url(c, "/metrics")).output, Catch::Contains("sluice_config_generation 2"));

  // A broken file is refused with its problems; the old configuration keeps serving.
  gw.rewrite(c.yaml + "routes: [oops\n");
  auto bad = curl("-X POST " + auth + url);
  CHECK_THAT(bad.output, Catch::EndsWith("HTTP 422"));
  CHECK_THAT(bad.output, Catch::Contains("\"ok\": false"));
  CHECK_THAT(bad.output, Catch::Contains("\"generation\": 2"));
  CHECK_THAT(bad.output, Catch::Contains("sluice.yaml"));
  CHECK_THAT(curl(admin_url(c, "/readyz")).output, Catch::EndsWith("HTTP 200"));

  // SIGHUP goes through the same path and bumps the generation too.
  gw.rewrite(c.yaml);
  gw.reload();
  CHECK_THAT(curl(admin_url(c, "/v1/status")).output, Catch::Contains("\"generation\": 3"));
}

TEST_CASE("admin API serves HTTPS when admin.tls is set") {
  temp_dir dir;
  test_pki pki(dir.path());
  auto c = make_ops_config(dir, false);
  auto yaml = c.yaml;
  auto at = yaml.find("\nlisteners:");
  yaml.insert(at, "\n  tls: {cert: " + pki.server_cert + ", key: " + pki.server_key + "}");
  gateway_process gw(dir, yaml);
  INFO(gw.log());
  auto https = "https://127.0.0.1:" + std::to_string(c.admin_port);
  auto ok = curl("--cacert " + shell_quote(pki.ca_cert) + " " + https + "/healthz");
  CHECK(ok.output == "ok\n\nHTTP 200");
  auto reload = curl("--cacert " + shell_quote(pki.ca_cert) +
                     " -X POST -H 'Authorization: Bearer t0ken-for-tests' " + https + "/v1/reload");
  CHECK_THAT(reload.output, Catch::EndsWith("HTTP 200"));
  // Plain HTTP on the TLS port gets no answer it could mistake for success.
  auto plain = curl("http://127.0.0.1:" + std::to_string(c.admin_port) + "/healthz");
  CHECK_THAT(plain.output, !Catch::Contains("HTTP 200"));
}
