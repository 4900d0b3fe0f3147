// The status page in a real browser: headless Chromium (Debian's chromium package)
// loads / from a running gateway with a tunnel and a sync whose far ends are down,
// runs the page's script, and the DOM must show the tunnel and sync rows with their
// error state. A screenshot is saved in the test's directory. No chromium = failure.
#include <catch2/catch.hpp>

#include "tests/integration/ops/ops_fixture.hpp"

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
                 " --no-first-run --hide-scrollbars --window-size=1280,900"
                 " --virtual-time-budget=4000 --user-data-dir=" +
                 shell_quote(profile) + " " + action + " " + shell_quote(url) + " 2>" +
                 shell_quote(dir.file("chromium.err")),
             std::chrono::seconds(90));
}

}  // namespace

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
