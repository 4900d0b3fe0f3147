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
  for (const char* coll : {"customer", "invoice"}) {
    std::string want;
    for (const auto& r : model_rows(model, coll))
      want += (want.empty() ? "" : "\n") + r;
    CHECK(env.app(std::string(kRowsSql) + "stripe." + coll) == want);
  }
  CHECK(env.app("select count(*) from stripe._sync_event") == std::to_string(model.events));
  svc.stop();
  tunnels.stop();
}
