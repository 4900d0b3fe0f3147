// A binary upgrade on one host without downtime: a second sluice binds the same ports
// (SO_REUSEPORT on every listener) while the first drains (SIGTERM). pgbench runs
// through the gateway all along and must report no failed or aborted transaction,
// both with its connections held (-c 4) and with a new connection per transaction
// (-C), which keeps connecting through the hand-over.
#include <signal.h>

#include "tests/integration/ops/control_fixture.hpp"

using namespace sluice::test;

namespace {

background_process start_sluice(const control_env& e, const std::string& log_name) {
  background_process p({kSluiceBin, "run", "-c", e.dir.file("sluice.yaml")}, e.dir.file(log_name));
  REQUIRE(
      eventually([&] { return p.log().find("event=ready") != std::string::npos || !p.running(); },
                 std::chrono::seconds(20)));
  INFO(p.log());
  REQUIRE(p.running());
  return p;
}

background_process bench(const control_env& e, const std::string& args,
                         const std::string& log_name) {
  std::vector<std::string> argv{"pgbench", "-n", "-j", "2"};
  for (size_t i = 0, j; i < args.size(); i = j + 1) {
    j = args.find(' ', i);
    if (j == std::string::npos)
      j = args.size();
    argv.push_back(args.substr(i, j - i));
  }
  argv.push_back(e.conninfo());
  return background_process(argv, e.dir.file(log_name), {{"PGPASSWORD", pg_cluster::password()}});
}

void check_clean(background_process& b, const std::string& what) {
  int rc = b.wait(std::chrono::milliseconds(60000));
  auto out = b.log();
  INFO(what << "\n" << out);
  CHECK(rc == 0);
  CHECK_THAT(out, Catch::Contains("number of failed transactions: 0 (0.000%)"));
  CHECK(out.find("aborted") == std::string::npos);
  CHECK(out.find("error") == std::string::npos);
  const std::string key = "number of transactions actually processed: ";
  auto at = out.find(key);
  REQUIRE(at != std::string::npos);
  CHECK(std::atol(out.c_str() + at + key.size()) > 20);
}

}  // namespace

TEST_CASE("a new process takes over the ports while the old one drains, under pgbench",
          "[upgrade]") {
  control_env e;
  e.start();
  INFO(e.gw->log());
  auto init = run("pgbench -i -s 1 -q " + shell_quote(e.pg.superuser_conninfo()),
                  std::chrono::seconds(120));
  INFO(init.output);
  REQUIRE(init.exit_code == 0);

  // 1. Sessions held open: they finish on the old process, which exits once they end.
  auto held = bench(e, "-c 4 -T 8", "bench-held.log");
  run("sleep 2");
  auto next = start_sluice(e, "next.log");
  e.gw->proc().signal(SIGTERM);
  REQUIRE(eventually([&] { return e.gw->log().find("event=draining") != std::string::npos; },
                     std::chrono::seconds(5)));
  // While the old one drains, new clients reach the new process.
  for (int i = 0; i < 5; ++i) {
    auto r = e.query("select 1");
    INFO(r.output);
    CHECK(r.output == "1\n");
  }
  check_clean(held, "pgbench -c 4 across the hand-over");
  CHECK(e.gw->proc().wait(std::chrono::milliseconds(15000)) == 0);
  CHECK(e.gw->log().find("drain_timeout") == std::string::npos);
  CHECK_THAT(next.log(), Catch::Contains("route=db"));

  // 2. A connection per transaction: connects keep arriving during the hand-over.
  auto churn = bench(e, "-C -c 4 -T 6", "bench-churn.log");
  run("sleep 2");
  auto third = start_sluice(e, "third.log");
  next.signal(SIGTERM);
  check_clean(churn, "pgbench -C -c 4 across the hand-over");
  CHECK(next.wait(std::chrono::milliseconds(15000)) == 0);
  // Both processes served some of the churn's connections.
  CHECK(count_of(third.log(), "event=connection_closed") > 0);
  CHECK(e.query("select 2").output == "2\n");
}
