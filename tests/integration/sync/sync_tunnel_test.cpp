#include <atomic>
#include <thread>

#include "sync/service.hpp"
#include "sync_fixture.hpp"
#include "sync_model.hpp"
#include "tests/integration/tunnel/fixture.hpp"

using namespace sluice::test;
using json = nlohmann::json;

TEST_CASE(
    "tunnel: sshd killed mid-stream, the writer recovers when the tunnel returns and the "
    "data is complete",
    "[sync][integration]") {
  sync_env env;
  env.prepare_database();
  sshd_server sshd;
  tunnel_setup keys;
  sshd.authorize(keys.pub);
  auto base = env.settings();
  auto s = std::make_shared<sluice::config::settings>(*base);
  s->tunnels = {keys.make(sshd)};
  s->syncs[0].destination.via = "bastion";
  sluice::tunnel::manager tunnels;
  tunnels.apply(s);
  sluice::sync::service svc(
      [&tunnels](const std::string& t, const std::string& h, uint16_t p, std::string& err) {
        return tunnels.loopback_forward(t, h, p, err);
      });
  svc.start(s);

  auto stream = make_stream(16, 2'000, 3'000, 23);
  std::atomic<size_t> acked{0};
  std::string failure;
  std::thread sender([&] {
    for (size_t i = 0; i < stream.size(); ++i) {
      // The gateway keeps the batch and retries it until the tunnel is back; re-send
      // only if the request itself failed (never needed here, but safe).
      for (int attempt = 0; attempt < 5; ++attempt) {
        try {
          auto r = env.post(ndjson(stream[i]), static_cast<int64_t>(i + 1));
          if (r.status == 200) {
            acked = i + 1;
            break;
          }
          failure = "HTTP " + std::to_string(r.status) + " " + r.body;
        } catch (const std::exception& e) {
          failure = e.what();
        }
      }
      if (acked != i + 1)
        return;
    }
  });
  REQUIRE(eventually([&] { return acked >= 4; }, std::chrono::seconds(60)));
  sshd.kill_all();
  run("sleep 2");
  sshd.start();
  sender.join();
  INFO(failure);
  REQUIRE(acked == stream.size());

  sync_model model;
  for (const auto& b : stream)
    model.apply(b);
  check_matches_model(env, model, "stripe");
  svc.stop();
  tunnels.stop();
}

TEST_CASE("tunnel: sync verify and setup from the command line bring the sync's tunnel up",
          "[sync][integration]") {
  sync_env env;
  env.prepare_database();
  sshd_server sshd;
  tunnel_setup keys;
  env.top_extra =
      "tunnels:\n" + keys.yaml(sshd, "bastion", "    connect_timeout: 3s\n    wait_for_up: 3s\n");
  auto yaml = read_file(env.config_path());
  const std::string ssl_line = "      sslmode: disable\n";
  REQUIRE(yaml.find(ssl_line) != std::string::npos);
  yaml.replace(yaml.find(ssl_line), ssl_line.size(), ssl_line + "      via: bastion\n");
  auto cfg = env.dir.write("tunnelled.yaml", yaml, 0600);
  const std::string cli = std::string(kSluiceBin) + " sync ";

  // sshd does not know sluice's key yet: the checklist fails and names the tunnel.
  auto r = run(cli + "verify acme -c " + cfg);
  INFO(r.output);
  CHECK(r.exit_code == 1);
  CHECK_THAT(r.output, Catch::Contains("via bastion"));
  CHECK_THAT(r.output, Catch::Contains("[FAIL] SSH tunnel bastion to 127.0.0.1:"));
  CHECK_THAT(r.output, Catch::Contains("refused public key authentication"));

  sshd.authorize(keys.pub);
  r = run(cli + "verify acme -c " + cfg);
  INFO(r.output);
  CHECK(r.exit_code == 0);
  CHECK_THAT(r.output, Catch::Contains("all checks passed"));

  r = run(cli + "setup acme -c " + cfg);
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  CHECK(env.app("select count(*) from pg_tables where schemaname = 'stripe' and tablename in "
                "('_sync_event', '_sync_state')") == "2");
  // The tunnel's session reached sshd: the setup really went through it.
  CHECK_THAT(sshd.log(), Catch::Contains("Accepted publickey"));
}
