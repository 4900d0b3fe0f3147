// The status page in a real browser: headless Chromium (Debian's chromium package)
// loads / from a running gateway with a tunnel and a sync whose far ends are down,
// runs the page's script, and the DOM must show the tunnel and sync rows with their
// error state. A screenshot is saved in the test's directory. No chromium = failure.
#include <unistd.h>

#include <catch2/catch.hpp>
#include <iostream>
#include <nlohmann/json.hpp>
#include <regex>
#include <thread>

#include "tests/integration/ops/control_fixture.hpp"
#include "tests/integration/ops/ops_fixture.hpp"
#include "tests/support/paths.hpp"
#include "tests/support/pg_cluster.hpp"

using namespace sluice::test;

namespace {

std::string chromium_binary() {
  for (const char* name : {"chromium", "chromium-browser"}) {
    auto r = run(std::string("command -v ") + name);
    if (r.exit_code == 0) {
      auto p = r.output;
      while (!p.empty() && p.back() == '\n')
        p.pop_back();
      return p;
    }
  }
  return {};
}

run_result chromium(const std::string& bin, const temp_dir& dir, const std::string& action,
                    const std::string& url) {
  auto profile = dir.file("chromium-profile-" + std::to_string(free_port()));
  return run(shell_quote(bin) +
                 " --headless --no-sandbox --disable-gpu --disable-dev-shm-usage"
                 " --disable-background-networking --disable-component-update --disable-sync"
                 " --no-first-run --hide-scrollbars --window-size=1400,1300"
                 " --virtual-time-budget=4000 --user-data-dir=" +
                 shell_quote(profile) + " " + action + " " + shell_quote(url) + " 2>" +
                 shell_quote(dir.file("chromium.err")),
             std::chrono::seconds(90));
}

// Where screenshots are kept after the test: $TEST_OUTPUT_DIR, else the working
// directory (build/tests under ctest).
std::string output_dir() {
  if (const char* d = std::getenv("TEST_OUTPUT_DIR"); d && *d)
    return d;
  char buf[4096];
  return getcwd(buf, sizeof buf) ? std::string(buf) : std::string("/tmp");
}

// The <tr> of `row_class` named `name` in a DOM dump.
std::string row(const std::string& dom, const std::string& row_class, const std::string& name) {
  auto at = dom.find("class=\"" + row_class + "\" data-name=\"" + name + "\"");
  if (at == std::string::npos)
    return {};
  return dom.substr(at, dom.find("</tr>", at) - at);
}

// tests/integration/ops/browser.py: Chromium driven over the DevTools protocol (typing,
// mouse clicks), for what --dump-dom cannot do. `steps` is its JSON list of steps.
run_result browse(const std::string& bin, const temp_dir& dir, const std::string& url,
                  const nlohmann::json& steps) {
  auto profile = dir.file("chromium-cdp-" + std::to_string(free_port()));
  return run("/usr/bin/python3 " +
                 shell_quote(std::string(kSourceDir) + "/tests/integration/ops/browser.py") + " " +
                 shell_quote(bin) + " " + shell_quote(profile) + " " + shell_quote(url) + " " +
                 shell_quote(steps.dump()) + " 2>&1",
             std::chrono::seconds(120));
}

nlohmann::json status_entry(const control_env& e, const char* kind, const std::string& name) {
  auto r =
      run("curl -sS --max-time 10 http://127.0.0.1:" + std::to_string(e.admin_port) + "/v1/status");
  auto j = nlohmann::json::parse(r.output, nullptr, false);
  if (j.is_discarded())
    return {};
  for (const auto& x : j[kind])
    if (x.value("name", "") == name)
      return x;
  return {};
}

}  // namespace

TEST_CASE("status page drains and resumes a route and a listener with the admin token",
          "[admin][status][drain]") {
  auto bin = chromium_binary();
  INFO("install it with: apt-get install chromium (scripts/install-deps.sh lists it)");
  REQUIRE_FALSE(bin.empty());
  control_env e;  // PostgreSQL 15 with TLS and SCRAM behind route "db" on listener "pg"
  e.start();
  INFO(e.gw->log());
  const std::string page = "http://127.0.0.1:" + std::to_string(e.admin_port) + "/";
  const std::string token = "ctl-token";  // control_env's admin.token_file
  // An open session: draining lets it finish.
  auto held = e.hold("select pg_sleep(20)", "held.log");
  REQUIRE(eventually([&] { return e.active_sessions() == 1; }, std::chrono::seconds(15)));

  // The page's headers: only its own inline code, only this origin, never framed.
  auto head = run("curl -sS -D - -o /dev/null --max-time 10 " + shell_quote(page)).output;
  CHECK_THAT(head, Catch::Contains("Content-Security-Policy: default-src 'none'"));
  CHECK_THAT(head, Catch::Contains("frame-ancestors 'none'"));
  CHECK_THAT(head, Catch::Contains("X-Frame-Options: DENY"));

  const std::string route_button = "tr.route-row[data-name=\"db\"] button";
  const std::string route_control = "tr.route-row[data-name=\"db\"] td.control";
  const auto dom_path = e.dir.file("drained.html");
  const auto shot = output_dir() + "/status-page-drain.png";
  // No token, then a wrong one: nothing happens and the page says why; then the right one.
  auto drain = browse(bin, e.dir, page,
                      {{"click", route_button},
                       {"wait", "#control-msg", "Enter the admin token"},
                       {"type", "#token", "not-the-token"},
                       {"click", route_button},
                       {"wait", "#control-msg", "HTTP 401"},
                       {"type", "#token", token},
                       {"click", route_button},
                       {"wait", "#control-msg",
                        "route db drained: new connections are refused, 1 "
                        "open session(s) continue"},
                       {"wait", route_control, "draining"},
                       {"screenshot", shot},
                       {"dom", dom_path}});
  INFO(drain.output);
  REQUIRE(drain.exit_code == 0);
  std::cout << "status page screenshot (route drained): " << shot << std::endl;
  auto png = read_file(shot);
  REQUIRE(png.size() > 1000);
  CHECK(png.substr(1, 3) == "PNG");

  // The gateway agrees: drained in /v1/status, new clients refused, the open one served.
  CHECK(status_entry(e, "routes", "db")["drained"] == true);
  auto refused = e.query("select 1");
  CHECK(refused.exit_code != 0);
  CHECK_THAT(refused.output, Catch::Contains("route \"db\" is drained by an operator"));
  CHECK(e.active_sessions() == 1);
  // The token went in a header only: not in the page, the log or any URL the gateway saw.
  auto dom = read_file(dom_path);
  CHECK_THAT(dom, Catch::Contains("<button type=\"button\" class=\"resume\""));
  CHECK(dom.find(token) == std::string::npos);
  CHECK(e.gw->log().find(token) == std::string::npos);

  // A new page (no token kept anywhere): resume the route, then drain the listener.
  const std::string listener_button = "tr.listener-row[data-name=\"pg\"] button";
  auto resume = browse(bin, e.dir, page,
                       {{"wait", route_control, "draining"},
                        {"click", route_button},
                        {"wait", "#control-msg", "Enter the admin token"},
                        {"type", "#token", token},
                        {"click", route_button},
                        {"wait", "#control-msg", "route db resumed"},
                        {"click", listener_button},
                        {"wait", "#control-msg", "listener pg drained"},
                        {"wait", "tr.listener-row[data-name=\"pg\"] td.control", "draining"}});
  INFO(resume.output);
  REQUIRE(resume.exit_code == 0);
  CHECK(status_entry(e, "routes", "db")["drained"] == false);
  CHECK(status_entry(e, "listeners", "pg")["drained"] == true);
  auto by_listener = e.query("select 1");
  CHECK_THAT(by_listener.output, Catch::Contains("listener \"pg\" is drained"));

  auto again = browse(bin, e.dir, page,
                      {{"type", "#token", token},
                       {"click", listener_button},
                       {"wait", "#control-msg", "listener pg resumed"}});
  INFO(again.output);
  REQUIRE(again.exit_code == 0);
  CHECK(status_entry(e, "listeners", "pg")["drained"] == false);
  CHECK(e.query("select 41 + 1").output == "42\n");
  held.stop();
}

TEST_CASE("status page renders tunnel and sync rows in headless Chromium") {
  auto bin = chromium_binary();
  INFO("install it with: apt-get install chromium (scripts/install-deps.sh lists it)");
  REQUIRE_FALSE(bin.empty());

  temp_dir dir;
  auto c = make_ops_config(dir);
  gateway_process gw(dir, c.yaml);
  // Let the tunnel fail at least once so the row carries its last error.
  REQUIRE(eventually(
      [&] {
        return curl(admin_url(c, "/v1/status")).output.find("\"last_error\": \"TCP connect") !=
               std::string::npos;
      },
      std::chrono::seconds(15)));

  auto dom = chromium(bin, dir, "--dump-dom", admin_url(c, "/"));
  INFO("chromium stderr:\n" << read_file(dir.file("chromium.err")));
  INFO(dom.output);
  REQUIRE(dom.exit_code == 0);
  CHECK_THAT(dom.output, Catch::Contains("test-region-1"));
  // Rows built by the page's script (the served HTML has empty tables).
  CHECK_THAT(dom.output, Catch::Contains("class=\"listener-row\" data-name=\"pg\""));
  CHECK_THAT(dom.output, Catch::Contains("class=\"route-row\" data-name=\"orders\""));
  CHECK_THAT(dom.output, Catch::Contains("class=\"tunnel-row\" data-name=\"bastion\""));
  CHECK_THAT(dom.output, Catch::Contains("class=\"sync-row\" data-name=\"stripe\""));
  // The tunnel is down: red dot and its last error in the row.
  auto tunnel_row = dom.output.substr(dom.output.find("data-name=\"bastion\""));
  tunnel_row = tunnel_row.substr(0, tunnel_row.find("</tr>"));
  CHECK_THAT(tunnel_row, Catch::Contains("dot bad"));
  CHECK_THAT(tunnel_row, Catch::Contains("TCP connect"));
  // The gateway is ready; the route through the dead tunnel shows its outage.
  auto route_row = dom.output.substr(dom.output.find("data-name=\"orders\""));
  route_row = route_row.substr(0, route_row.find("</tr>"));
  CHECK_THAT(route_row, Catch::Contains("dot bad"));
  CHECK_THAT(route_row, Catch::Contains("tunnel bastion is"));

  auto shot = dir.file("status-page.png");
  auto s = chromium(bin, dir, "--screenshot=" + shell_quote(shot), admin_url(c, "/"));
  INFO(s.output);
  CHECK(s.exit_code == 0);
  auto png = read_file(shot);
  REQUIRE(png.size() > 1000);
  CHECK(png.substr(1, 3) == "PNG");
  // Keep a copy next to the build for people reviewing the page.
  run("cp " + shell_quote(shot) + " ${TMPDIR:-/tmp}/sluice-status-page.png");
}

TEST_CASE("status page shows version, uptime, why not ready, the last reload and 15-minute charts",
          "[admin][status]") {
  auto bin = chromium_binary();
  INFO("install it with: apt-get install chromium (scripts/install-deps.sh lists it)");
  REQUIRE_FALSE(bin.empty());

  temp_dir dir;
  pg_cluster pg;  // scram-sha-256 on loopback
  auto c = make_ops_config(dir);
  // Samples every second; the route through the dead tunnel opts into readiness (so the
  // page has reasons to show); a route "live" reaches a real database.
  auto at = c.yaml.find("\n  token_file: ");
  REQUIRE(at != std::string::npos);
  c.yaml.insert(at, "\n  sample_interval: 1s");
  at = c.yaml.find("  - name: orders\n");
  REQUIRE(at != std::string::npos);
  c.yaml.insert(at + 17, "    affects_readiness: true\n");
  at = c.yaml.find("ingest:\n");
  REQUIRE(at != std::string::npos);
  c.yaml.insert(at,
                "  - name: live\n    match: {database: postgres}\n    upstream: {host: 127.0.0.1, "
                "port: " +
                    std::to_string(pg.port()) + ", tls: {sslmode: disable}}\n");
  gateway_process gw(dir, c.yaml);
  INFO(gw.log());
  const std::string conninfo = "host=127.0.0.1 port=" + std::to_string(c.listen_port) +
                               " user=postgres dbname=postgres sslmode=disable";

  // One session stays open (the sessions chart), others move a few MiB (throughput).
  background_process held({"psql", "-XAtq", conninfo, "-c", "select pg_sleep(30)"},
                          dir.file("held.log"), {{"PGPASSWORD", pg_cluster::password()}});
  for (int i = 0; i < 3; ++i) {
    auto r = psql(conninfo, "select repeat('x', 2000000)", pg_cluster::password());
    REQUIRE(r.exit_code == 0);
    std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  }
  // A refused reload: the page says so, with the problem.
  const auto good = c.yaml;
  gw.rewrite(good + "bogus_key: 1\n");
  gw.reload();

  nlohmann::json status;
  REQUIRE(eventually(
      [&] {
        auto r = run("curl -sS --max-time 5 " + shell_quote(admin_url(c, "/v1/status")));
        status = nlohmann::json::parse(r.output, nullptr, false);
        if (status.is_discarded() || !status["history"].is_object())
          return false;
        auto live = status["history"]["routes"]["live"];
        return status["history"]["times"].size() >= 6 && live["sessions"].back() == 1;
      },
      std::chrono::seconds(20)));
  INFO(status.dump(2));
  CHECK(status["version"] == "0.1.0");
  CHECK(status["uptime_seconds"].get<double>() > 0);
  CHECK(status["ready"] == false);
  CHECK_THAT(status["ready_reasons"][0].get<std::string>(),
             Catch::Contains("route orders (affects_readiness)"));
  CHECK(status["last_reload"]["ok"] == false);
  CHECK_THAT(status["last_reload"]["problems"].dump(), Catch::Contains("bogus_key"));
  double peak = 0;
  for (const auto& v : status["history"]["routes"]["live"]["bytes_per_second"])
    peak = std::max(peak, v.get<double>());
  CHECK(peak > 100000);  // 2 MB sessions, sampled every second
  CHECK(status["history"]["tunnels"].contains("bastion"));

  auto dom = chromium(bin, dir, "--dump-dom", admin_url(c, "/"));
  INFO("chromium stderr:\n" << read_file(dir.file("chromium.err")));
  INFO(dom.output);
  REQUIRE(dom.exit_code == 0);
  CHECK_THAT(dom.output, Catch::Contains("<b id=\"version\">0.1.0</b>"));
  CHECK(std::regex_search(dom.output, std::regex(R"(<b id="uptime">\d+[smhd])")));
  CHECK_THAT(dom.output, Catch::Contains("Not ready because:"));
  CHECK_THAT(dom.output, Catch::Contains("route orders (affects_readiness): tunnel bastion is"));
  CHECK_THAT(dom.output, Catch::Contains("FAILED, kept generation 1"));
  CHECK_THAT(dom.output, Catch::Contains("bogus_key"));
  auto live = row(dom.output, "route-row", "live");
  REQUIRE_FALSE(live.empty());
  // Bytes in human units, and both charts with one point per sample.
  CHECK(std::regex_search(
      live, std::regex(R"(<td class="bytes">[0-9.]+ (B|KiB|MiB) / [0-9.]+ MiB</td>)")));
  std::smatch m;
  REQUIRE(std::regex_search(
      live, m, std::regex(R"re(<svg class="spark sessions"[^>]*data-points="(\d+)")re")));
  CHECK(std::stoi(m[1]) >= 6);
  CHECK_THAT(live, Catch::Contains("<svg class=\"spark throughput\""));
  CHECK(std::regex_search(
      live, std::regex(R"(<polyline points="[0-9.]+,[0-9.]+( [0-9.]+,[0-9.]+){5,}")")));
  CHECK(std::regex_search(live, std::regex(R"(max [0-9.]+ (KiB|MiB)/s)")));
  auto tunnel = row(dom.output, "tunnel-row", "bastion");
  CHECK_THAT(tunnel, Catch::Contains("<svg class=\"spark sessions\""));
  CHECK_THAT(tunnel, Catch::Contains("0 B / 0 B"));
  // Nothing is fetched from elsewhere: no external script, style or image.
  auto page = curl(admin_url(c, "/")).output;
  CHECK_THAT(page, !Catch::Contains("src=\"http"));
  CHECK_THAT(page, !Catch::Contains("href=\"http"));

  auto shot = output_dir() + "/status-page-charts.png";
  auto s = chromium(bin, dir, "--screenshot=" + shell_quote(shot), admin_url(c, "/"));
  INFO(s.output);
  CHECK(s.exit_code == 0);
  auto png = read_file(shot);
  REQUIRE(png.size() > 1000);
  CHECK(png.substr(1, 3) == "PNG");
  std::cout << "status page screenshot: " << shot << std::endl;
  held.stop();
}
