#include <signal.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <thread>

#include "sync_fixture.hpp"
#include "sync_model.hpp"

using namespace sluice::test;
using json = nlohmann::json;

TEST_CASE("crash: SIGKILL mid-stream, re-send what was not acknowledged: nothing lost or doubled",
          "[sync][integration]") {
  sync_env env;
  env.prepare_database();
  auto cfg = env.config_path();
  auto stream = make_stream(24, 4'000, 5'000, 7);
  std::vector<std::string> bodies;
  for (const auto& b : stream)
    bodies.push_back(ndjson(b));

  auto gw = std::make_unique<background_process>(
      std::vector<std::string>{kSluiceBin, "sync", "serve", "-c", cfg}, env.dir.file("gw1.log"));
  REQUIRE(wait_for_port("127.0.0.1", env.ingest_port, std::chrono::seconds(10)));
  std::atomic<size_t> acked{0};
  std::thread sender([&] {
    for (size_t i = 0; i < bodies.size(); ++i) {
      try {
        auto r = env.post(bodies[i], static_cast<int64_t>(i + 1));
        if (r.status != 200)
          return;
        acked = i + 1;
      } catch (const std::exception&) {
        return;  // the gateway died under us: this batch is not acknowledged
      }
    }
  });
  REQUIRE(eventually([&] { return acked >= 8; }, std::chrono::seconds(60)));
  gw->signal(SIGKILL);
  sender.join();
  size_t first_unacked = acked;
  INFO("acknowledged before the kill: " << first_unacked);
  REQUIRE(first_unacked < bodies.size());
  gw->wait(std::chrono::milliseconds(5000));

  gw = std::make_unique<background_process>(
      std::vector<std::string>{kSluiceBin, "sync", "serve", "-c", cfg}, env.dir.file("gw2.log"));
  REQUIRE(wait_for_port("127.0.0.1", env.ingest_port, std::chrono::seconds(10)));
  int duplicates = 0;
  for (size_t i = first_unacked; i < bodies.size(); ++i) {
    auto r = env.post(bodies[i], static_cast<int64_t>(i + 1));
    INFO(r.body);
    REQUIRE(r.status == 200);
    if (json::parse(r.body)["duplicate"] == true)
      ++duplicates;
  }
  CHECK(duplicates <= 1);  // at most the batch in flight at the kill had committed

  sync_model model;
  for (const auto& b : stream)
    model.apply(b);
  check_matches_model(env, model, "stripe");
  CHECK(env.app("select sequence from stripe._sync_state") == std::to_string(bodies.size()));
  gw->stop();
}
