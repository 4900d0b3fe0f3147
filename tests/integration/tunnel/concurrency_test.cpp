// Many channels over one SSH session, and real PostgreSQL clients (psql, pgbench) through
// a loopback forward, as the sync writer's libpq uses it.
#include "tests/integration/tunnel/fixture.hpp"
#include "tests/support/pg_cluster.hpp"

using namespace sluice;
using namespace sluice::test;
using namespace std::chrono_literals;

TEST_CASE_METHOD(echo_tunnel, "many concurrent channels over one session", "[tunnel]") {
  REQUIRE(eventually([&] { return m.all_up(); }, 5s));
  const int n = 64;
  std::atomic<int> ok{0};
  std::vector<std::string> errors(n);
  std::vector<std::thread> workers;
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < n; ++i) {
    workers.emplace_back([&, i] {
      auto r = open_channel(m, "bastion", "127.0.0.1", echo.port());
      if (r.fd < 0) {
        errors[i] = r.stage + ": " + r.error;
        return;
      }
      if (echo_roundtrip(r.fd, 256 * 1024))
        ++ok;
      ::close(r.fd);
    });
  }
  for (auto& w : workers)
    w.join();
  const auto secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  for (const auto& e : errors) {
    if (!e.empty())
      FAIL_CHECK(e);
  }
  CHECK(ok == n);
  auto st = tunnel_status(m, "bastion");
  CHECK(st["sessions_up"] == 1);
  CHECK(st["channels_opened"].get<uint64_t>() >= static_cast<uint64_t>(n));
  CHECK(st["reconnects"] == 0);
  WARN(n << " channels x 256 KiB echoed over one session in " << secs << "s");
  // Every channel is closed and freed once its client hangs up.
  CHECK(eventually([&] { return tunnel_status(m, "bastion")["open_channels"] == 0; }, 5s));
}

TEST_CASE_METHOD(echo_tunnel, "bulk throughput over one channel", "[tunnel]") {
  auto r = open_channel(m, "bastion", "127.0.0.1", echo.port());
  REQUIRE(r.fd >= 0);
  const size_t mib = 64;
  const auto start = std::chrono::steady_clock::now();
  CHECK(echo_roundtrip(r.fd, mib << 20, 60));
  const auto secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ::close(r.fd);
  WARN("echo " << mib << " MiB each way in " << secs << "s = " << (2.0 * mib / secs)
               << " MiB/s total");
}

TEST_CASE("psql and pgbench through a loopback forward", "[tunnel]") {
  pg_cluster pg;
  sshd_server sshd;
  tunnel_setup ts;
  sshd.authorize(ts.pub);
  tunnel::manager m;
  m.apply(settings_with({ts.make(sshd)}));
  std::string error;
  auto fwd = m.loopback_forward("bastion", "127.0.0.1", static_cast<uint16_t>(pg.port()), error);
  INFO(error);
  REQUIRE(fwd.has_value());
  CHECK(fwd->host == "127.0.0.1");
  auto again = m.loopback_forward("bastion", "127.0.0.1", static_cast<uint16_t>(pg.port()), error);
  REQUIRE(again.has_value());
  CHECK(again->port == fwd->port);  // one port per (tunnel, host, port)

  const std::string env =
      std::string("PGPASSWORD=") + pg_cluster::password() + " PGCONNECT_TIMEOUT=10 ";
  const std::string conn = "-h 127.0.0.1 -p " + std::to_string(fwd->port) + " -U postgres";
  auto q = run(env + "psql " + conn + " -d postgres -Atc 'select 40 + 2'");
  INFO(q.output);
  REQUIRE(q.exit_code == 0);
  CHECK(q.output.find("42") != std::string::npos);

  auto init = run(env + "pgbench -i -q -s 1 " + conn + " postgres", 120s);
  INFO(init.output);
  REQUIRE(init.exit_code == 0);
  auto bench = run(env + "pgbench -c 16 -j 4 -T 5 -n " + conn + " postgres", 120s);
  INFO(bench.output);
  CHECK(bench.exit_code == 0);
  CHECK(bench.output.find("number of failed transactions: 0") != std::string::npos);
  auto st = tunnel_status(m, "bastion");
  CHECK(st["sessions_up"] == 1);
  CHECK(st["reconnects"] == 0);
  auto tps = bench.output.substr(bench.output.find("tps"));
  WARN("pgbench -c 16 through the tunnel: " << tps.substr(0, tps.find('\n')));
}
