// What Prometheus users get next to the metrics: the exposition passes promtool, it
// carries build, process and certificate-expiry series, and the shipped alert rules
// and Grafana dashboard use only series a running gateway really exports.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>

#include "tests/integration/ops/ops_fixture.hpp"
#include "tests/support/paths.hpp"
#include "tests/support/pg_cluster.hpp"

using namespace sluice::test;

namespace {
const std::string kMonitoring = std::string(kSourceDir) + "/docs/monitoring";

// Metric names (sluice_*, process_*) an expression or file mentions.
std::set<std::string> metric_names(const std::string& text) {
  std::set<std::string> out;
  static const std::regex name(R"(\b((sluice|process)_[a-z_]+)\b)");
  for (auto it = std::sregex_iterator(text.begin(), text.end(), name); it != std::sregex_iterator();
       ++it)
    out.insert((*it)[1]);
  return out;
}
}  // namespace

TEST_CASE("metrics carry build, process and certificate expiry series and pass promtool",
          "[admin][metrics]") {
  temp_dir dir;
  test_pki pki(dir.path());
  auto c = make_ops_config(dir);
  // The ingest endpoint gets the test certificate, so its expiry is exported.
  auto at = c.yaml.find("ingest:\n  listen: ");
  REQUIRE(at != std::string::npos);
  at = c.yaml.find('\n', at + 9);
  c.yaml.insert(at, "\n  tls: {cert: " + pki.server_cert + ", key: " + pki.server_key + "}");
  gateway_process gw(dir, c.yaml);
  INFO(gw.log());
  auto scrape = curl(admin_url(c, "/metrics"));
  REQUIRE_THAT(scrape.output, Catch::EndsWith("HTTP 200"));
  const auto text = scrape.output.substr(0, scrape.output.rfind("\nHTTP"));
  dir.write("metrics.txt", text);

  auto check = run("promtool check metrics < " + shell_quote(dir.file("metrics.txt")) + " 2>&1");
  INFO(check.output);
  CHECK(check.exit_code == 0);

  CHECK_THAT(text, Catch::Contains("sluice_build_info{version=\"0.1.0\",openssl=\"3."));
  CHECK_THAT(text, Catch::Contains("sluice_ready 1"));
  for (const char* m : {"process_cpu_seconds_total ", "process_start_time_seconds ",
                        "process_resident_memory_bytes ", "process_open_fds ", "process_max_fds "})
    CHECK_THAT(text, Catch::Contains(m));
  // The RSS is this gateway's (a few MiB at least), the start time within the last hour.
  std::smatch m;
  REQUIRE(std::regex_search(text, m, std::regex(R"(process_resident_memory_bytes (\d+))")));
  CHECK(std::stoull(m[1]) > (2u << 20));
  REQUIRE(std::regex_search(text, m, std::regex(R"(process_start_time_seconds ([0-9.e+]+))")));
  CHECK(std::abs(std::stod(m[1]) - static_cast<double>(std::time(nullptr))) < 3600);

  // notAfter of the ingest certificate, as openssl reads it.
  auto end = run("date -d \"$(openssl x509 -noout -enddate -in " + shell_quote(pki.server_cert) +
                 " | cut -d= -f2)\" +%s");
  REQUIRE(end.exit_code == 0);
  const std::string series =
      "sluice_certificate_expiry_timestamp_seconds{kind=\"ingest\","
      "owner=\"ingest\",file=\"" +
      pki.server_cert + "\"} ";
  auto pos = text.find(series);
  REQUIRE(pos != std::string::npos);
  CHECK(std::stod(text.substr(pos + series.size())) == std::stod(end.output));
}

TEST_CASE("the shipped alert rules and dashboard pass promtool and use exported series",
          "[admin][metrics]") {
  auto rules = run("cd " + shell_quote(kMonitoring) +
                   " && promtool check rules sluice-alerts.yml 2>&1 && promtool test rules "
                   "sluice-alerts.test.yml 2>&1");
  INFO(rules.output);
  CHECK(rules.exit_code == 0);
  CHECK_THAT(rules.output, Catch::Contains("SUCCESS: 12 rules found"));

  auto dash = nlohmann::json::parse(read_file(kMonitoring + "/sluice-grafana.json"));
  std::string exprs;
  for (const auto& p : dash["panels"])
    for (const auto& t : p["targets"])
      exprs += t["expr"].get<std::string>() + "\n";
  REQUIRE_FALSE(exprs.empty());

  // Every series they name is in a real scrape (histograms by their _bucket series).
  temp_dir dir;
  auto c = make_ops_config(dir);
  gateway_process gw(dir, c.yaml);
  auto text = curl(admin_url(c, "/metrics")).output;
  std::set<std::string> exported;
  for (const auto& n : metric_names(text))
    exported.insert(n);
  auto used = metric_names(read_file(kMonitoring + "/sluice-alerts.yml") + exprs);
  CHECK(used.size() > 15);
  // Present only once a certificate is configured (tested above).
  exported.insert("sluice_certificate_expiry_timestamp_seconds");
  for (const auto& n : used) {
    INFO(n);
    CHECK(exported.count(n) == 1);
  }
}
