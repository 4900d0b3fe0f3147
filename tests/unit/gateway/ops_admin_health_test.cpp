// Pure pieces of the admin API: route health, /proc parsers, the certificate list.
#include <catch2/catch.hpp>

#include "gateway/admin/cert_expiry.hpp"
#include "gateway/admin/process_stats.hpp"
#include "gateway/admin/route_health.hpp"

using namespace sluice;
using namespace sluice::admin;

TEST_CASE("route health follows the route's tunnel only", "[admin][health]") {
  config::route direct;
  direct.name = "direct";
  config::route via;
  via.name = "acme";
  via.upstream.via = "acme-bastion";
  const auto up = nlohmann::json::array({{{"name", "acme-bastion"}, {"state", "up"}}});
  const auto down = nlohmann::json::array(
      {{{"name", "acme-bastion"}, {"state", "backoff"}, {"last_error", "TCP connect: refused"}}});
  struct row {
    const config::route* r;
    nlohmann::json tunnels;
    bool healthy;
    std::string reason;
  };
  const std::vector<row> rows = {
      {&direct, down, true, ""},
      {&via, up, true, ""},
      {&via, down, false, "tunnel acme-bastion is backoff: TCP connect: refused"},
      {&via, nlohmann::json::array(), false, "tunnel acme-bastion is not running on this gateway"},
  };
  for (const auto& r : rows) {
    auto h = check_route(*r.r, r.tunnels);
    CHECK(h.healthy == r.healthy);
    if (r.reason.empty())
      CHECK(h.reasons.empty());
    else
      CHECK(h.reasons == std::vector<std::string>{r.reason});
    auto j = to_json(*r.r, h);
    CHECK(j["route"] == r.r->name);
    CHECK(j["healthy"] == r.healthy);
  }
}

TEST_CASE("/proc/self/stat is parsed past a command name with spaces and parentheses",
          "[admin][process]") {
  // Fields 3.. after "(name)": state ppid pgrp session tty tpgid flags minflt cminflt
  // majflt cmajflt utime(14) stime(15) cutime cstime priority nice threads itreal
  // starttime(22) vsize(23) rss(24) ...
  const std::string stat =
      "4242 (sl (u) ice) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 5 0 1000 "
      "123456789 300 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n";
  auto s = parse_proc_stat(stat, 100, 4096, 1'700'000'000);
  REQUIRE(s);
  CHECK(s->cpu_seconds == Approx(3.0));
  CHECK(s->start_time_seconds == Approx(1'700'000'010.0));
  CHECK(s->virtual_bytes == 123456789u);
  CHECK(s->resident_bytes == 300u * 4096u);
  CHECK_FALSE(parse_proc_stat("4242 (cut) S 1 2 3", 100, 4096, 0));
  CHECK_FALSE(parse_proc_stat("no parenthesis", 100, 4096, 0));
  CHECK_FALSE(parse_proc_stat(stat, 0, 4096, 0));
  std::string bad = stat;
  bad.replace(bad.find(" 250 "), 5, " 2x0 ");
  CHECK_FALSE(parse_proc_stat(bad, 100, 4096, 0));

  CHECK(parse_boot_time("cpu  1 2 3\nbtime 1700000000\nprocesses 9\n") == 1'700'000'000.0);
  CHECK_FALSE(parse_boot_time("cpu 1\n"));
  CHECK_FALSE(parse_boot_time("btime x\n"));

  const std::string limits =
      "Limit                     Soft Limit           Hard Limit           Units     \n"
      "Max processes             95543                95543                processes \n"
      "Max open files            1048576              1048576              files     \n";
  CHECK(parse_max_open_files(limits) == 1048576u);
  CHECK_FALSE(parse_max_open_files("Max processes 1 1\n"));
}

TEST_CASE("every certificate file the configuration names is listed once", "[admin][certs]") {
  config::settings s;
  config::listener l;
  l.name = "pg";
  l.tls = config::listener_tls{};
  l.tls->cert = "/etc/sluice/tls/gw.crt";
  l.tls->sni.push_back({{"a.example.net"}, "/etc/sluice/tls/a.crt", "/etc/sluice/tls/a.key"});
  s.listeners.push_back(l);
  config::listener plain;
  plain.name = "plain";
  s.listeners.push_back(plain);
  config::route r;
  r.name = "acme";
  r.upstream.tls.ca = "/etc/sluice/tls/acme-ca.pem";
  r.upstream.tls.cert = "/etc/sluice/tls/client.crt";
  s.routes.push_back(r);
  s.routes.push_back(r);  // same (kind, owner, file): once
  config::sync y;
  y.name = "stripe";
  y.destination.ca = "/etc/sluice/tls/acme-ca.pem";
  s.syncs.push_back(y);
  s.admin = config::admin_settings{};
  s.admin->tls = config::cert_key{"/etc/sluice/tls/admin.crt", "/etc/sluice/tls/admin.key"};

  auto files = certificate_files(s);
  std::vector<std::string> got;
  for (const auto& f : files)
    got.push_back(f.kind + " " + f.owner + " " + f.path);
  CHECK(got == std::vector<std::string>{
                   "listener pg /etc/sluice/tls/gw.crt",
                   "listener_sni pg /etc/sluice/tls/a.crt",
                   "upstream_ca acme /etc/sluice/tls/acme-ca.pem",
                   "upstream_client acme /etc/sluice/tls/client.crt",
                   "sync_ca stripe /etc/sluice/tls/acme-ca.pem",
                   "admin admin /etc/sluice/tls/admin.crt",
               });
  CHECK_FALSE(earliest_not_after("/nonexistent/cert.pem"));
}
