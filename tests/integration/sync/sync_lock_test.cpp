#include <signal.h>

#include <catch2/catch.hpp>

#include "sync_fixture.hpp"

using namespace sluice::test;
using json = nlohmann::json;

TEST_CASE("lock: one writer per sync, a second instance waits and takes over when the first dies",
          "[sync][integration]") {
  sync_env env;
  env.prepare_database();
  int port_a = env.ingest_port;
  auto cfg_a = env.dir.write("sluice-a.yaml", read_file(env.config_path()), 0600);
  env.ingest_port = free_port();
  int port_b = env.ingest_port;
  auto cfg_b = env.dir.write("sluice-b.yaml", read_file(env.config_path()), 0600);

  auto rec = [](int64_t v) {
    return ndjson({{{"collection", "customer"},
                    {"id", "c1"},
                    {"op", "upsert"},
                    {"version", v},
                    {"data", {{"n", v}}}}});
  };
  auto status_b = [&] {
    sluice::sync::http_target t;
    t.port = static_cast<uint16_t>(port_b);
    auto r = sluice::sync::http_request(t, "GET", "/v1/syncs/acme", kToken, "");
    return json::parse(r.body);
  };

  background_process a({kSluiceBin, "sync", "serve", "-c", cfg_a}, env.dir.file("a.log"));
  REQUIRE(wait_for_port("127.0.0.1", port_a, std::chrono::seconds(10)));
  env.ingest_port = port_a;
  REQUIRE(env.post(rec(1), 1).status == 200);

  background_process b({kSluiceBin, "sync", "serve", "-c", cfg_b}, env.dir.file("b.log"));
  REQUIRE(wait_for_port("127.0.0.1", port_b, std::chrono::seconds(10)));
  REQUIRE(
      eventually([&] { return status_b()["waiting_for_lock"] == true; }, std::chrono::seconds(10)));
  // A still writes while B waits.
  REQUIRE(env.post(rec(2), 2).status == 200);

  a.signal(SIGKILL);
  a.wait(std::chrono::milliseconds(5000));
  env.ingest_port = port_b;
  auto r = env.post(rec(3), 3);  // queued on B until it holds the lock
  INFO(r.body << "\n" << b.log());
  REQUIRE(r.status == 200);
  CHECK(json::parse(r.body)["applied"] == 1);
  CHECK(status_b()["waiting_for_lock"] == false);
  CHECK(env.app("select n, _sync_version from stripe.customer") == "3|3");
  CHECK(b.log().find("sync_waiting_for_lock") != std::string::npos);
  b.stop();
}
