// `--log-level debug` adds each step of reaching a backend (DNS, TCP or tunnel channel,
// the bastion's TCP/SSH/host key/authentication, SSLRequest, TLS handshake, startup,
// the backend's login messages) and `info` leaves them out. A real sshd, a PostgreSQL
// with ssl=on and scram-sha-256, and two routes: one direct, one through the tunnel.
// The per-route latency histograms count the same sessions.
#include <catch2/catch.hpp>
#include <regex>

#include "tests/integration/gateway/fixture.hpp"
#include "tests/integration/tunnel/fixture.hpp"

using namespace sluice;
using namespace sluice::test;

namespace {

struct two_routes {
  two_routes() {
    sshd.authorize(keys.pub);
    direct_port = free_port();
    tunnel_port = free_port();
    admin_port = free_port();
    const std::string up = "127.0.0.1, port: " + std::to_string(pg.port());
    yaml = "region: test\nshutdown_grace: 2s\nadmin:\n  listen: 127.0.0.1:" +
           std::to_string(admin_port) + "\ntunnels:\n" + keys.yaml(sshd, "bastion") +
           "listeners:\n  - name: direct\n    listen: 127.0.0.1:" + std::to_string(direct_port) +
           "\n    client_tls: disabled\n  - name: tunneled\n    listen: 127.0.0.1:" +
           std::to_string(tunnel_port) +
           "\n    client_tls: disabled\n"
           "routes:\n  - name: direct-db\n    match: {listener: direct}\n    upstream: {host: " +
           up + ", connect_timeout: 5s, tls: {sslmode: verify-full, ca: " + pki.ca_cert +
           "}}\n  - name: tunnel-db\n    match: {listener: tunneled}\n    upstream: {host: " + up +
           ", via: bastion, connect_timeout: 5s, tls: {sslmode: require}}\n";
  }
  std::string conninfo(int port) const {
    return "host=127.0.0.1 port=" + std::to_string(port) +
           " user=postgres dbname=postgres sslmode=disable connect_timeout=10";
  }
  // One session through each route; returns the gateway's log.
  std::string sessions(const std::string& level) {
    temp_dir run_dir{"sluice-debug-log-" + level};  // a log file of this run's own
    gateway_process gw(run_dir, yaml, {}, level);
    for (int port : {direct_port, tunnel_port}) {
      auto r = psql(conninfo(port), "select 1", pg_cluster::password());
      INFO(r.output << gw.log());
      REQUIRE(r.output == "1\n");
    }
    metrics =
        run("curl -sS --max-time 10 http://127.0.0.1:" + std::to_string(admin_port) + "/metrics",
            std::chrono::seconds(15))
            .output;
    return gw.log();
  }

  temp_dir dir{"sluice-debug-log"};
  test_pki pki{dir.path()};
  pg_cluster pg{ssl_on(pki)};
  sshd_server sshd;
  tunnel_setup keys;
  int direct_port = 0, tunnel_port = 0, admin_port = 0;
  std::string yaml, metrics;
};

const std::vector<std::string> kUpstreamSteps = {
    "event=upstream_resolved",    "event=upstream_connected",     "event=tunnel_resolved",
    "event=tunnel_tcp_connected", "event=tunnel_ssh_handshake",   "event=tunnel_host_key_trusted",
    "event=tunnel_authenticated", "event=tunnel_channel_opening", "event=tunnel_channel_open",
    "event=upstream_ssl_request", "event=upstream_tls_handshake", "event=upstream_startup_sent",
    "event=upstream_login_step",
};

// The first line of `log` with `event`, or "".
std::string line_of(const std::string& log, const std::string& event) {
  auto at = log.find(event + " ");
  if (at == std::string::npos)
    return {};
  auto begin = log.rfind('\n', at);
  begin = begin == std::string::npos ? 0 : begin + 1;
  return log.substr(begin, log.find('\n', at) - begin);
}

// _count of a histogram series for one route.
double count_for(const std::string& metrics, const std::string& name, const std::string& route) {
  std::smatch m;
  if (!std::regex_search(metrics, m,
                         std::regex(name + "_count\\{route=\"" + route + "\"\\} ([0-9.e+]+)")))
    return -1;
  return std::stod(m[1]);
}

}  // namespace

TEST_CASE("log level debug logs every upstream and tunnel step, info does not", "[tunnel][log]") {
  two_routes t;
  const auto debug = t.sessions("debug");
  INFO(debug);
  for (const auto& step : kUpstreamSteps)
    CHECK_THAT(debug, Catch::Contains(step));
  // The steps say what an operator needs: the route, the address, TLS version and cipher,
  // the tunnel channel, each login message by name.
  CHECK_THAT(line_of(debug, "event=upstream_connected"), Catch::Contains("route=direct-db"));
  CHECK_THAT(line_of(debug, "event=upstream_connected"), Catch::Contains("address=127.0.0.1"));
  CHECK_THAT(line_of(debug, "event=upstream_tls_handshake"), Catch::Contains("protocol=TLSv1."));
  CHECK_THAT(line_of(debug, "event=upstream_tls_handshake"), Catch::Contains("cipher="));
  CHECK_THAT(line_of(debug, "event=tunnel_channel_open"), Catch::Contains("route=tunnel-db"));
  CHECK_THAT(line_of(debug, "event=tunnel_authenticated"), Catch::Contains("key=primary"));
  CHECK_THAT(debug, Catch::Contains("step=AuthenticationSASL"));
  CHECK_THAT(debug, Catch::Contains("step=AuthenticationSASLFinal"));
  CHECK_THAT(debug, Catch::Contains("step=AuthenticationOk"));
  CHECK_THAT(debug, Catch::Contains("step=ReadyForQuery"));
  // No secret and no SCRAM payload in the steps.
  CHECK_THAT(debug, !Catch::Contains(pg_cluster::password()));

  // One session per route in the per-route latency histograms (promtool is run on the
  // whole exposition in the ops tests).
  INFO(t.metrics);
  CHECK(count_for(t.metrics, "sluice_route_connect_seconds", "direct-db") == 1);
  CHECK(count_for(t.metrics, "sluice_route_connect_seconds", "tunnel-db") == 1);
  CHECK(count_for(t.metrics, "sluice_route_tls_handshake_seconds", "direct-db") == 1);
  CHECK(count_for(t.metrics, "sluice_route_tls_handshake_seconds", "tunnel-db") == 1);
  CHECK(count_for(t.metrics, "sluice_route_login_seconds", "direct-db") == 1);
  CHECK(count_for(t.metrics, "sluice_route_login_seconds", "tunnel-db") == 1);
  auto check = run("printf '%s' " + shell_quote(t.metrics) + " | promtool check metrics 2>&1");
  INFO(check.output);
  CHECK(check.exit_code == 0);

  const auto info = t.sessions("info");
  INFO(info);
  CHECK_THAT(info, Catch::Contains("event=tunnel_up"));
  for (const auto& step : kUpstreamSteps)
    CHECK_THAT(info, !Catch::Contains(step));
}
