// The sync command line against a real gateway and database: what `sluice sync push`
// says when the gateway refuses a batch.
#include <catch2/catch.hpp>

#include "sync/service.hpp"
#include "sync_fixture.hpp"

using namespace sluice::test;
using json = nlohmann::json;

TEST_CASE("push: an oversized body prints the 413 reason with the limit, not Broken pipe",
          "[sync][integration][cli]") {
  sync_env env;
  env.max_batch = "64KiB";
  env.prepare_database();
  auto cfg = env.config_path();
  sluice::sync::service svc(nullptr);
  svc.start(env.settings());

  std::string body;
  for (int i = 0; body.size() < (4u << 20); ++i) {
    body += json{{"collection", "customer"},
                 {"id", "c" + std::to_string(i)},
                 {"op", "upsert"},
                 {"version", 1},
                 {"data", {{"name", std::string(200, 'x')}}}}
                .dump() +
            "\n";
  }
  auto file = env.dir.write("big.ndjson", body, 0600);
  auto r = run(std::string(kSluiceBin) + " sync push acme " + file + " -c " + cfg +
               " --sequence 1 --retries 0");
  INFO(r.output);
  CHECK(r.exit_code == 1);
  CHECK(r.output.find("HTTP 413") != std::string::npos);
  CHECK(r.output.find("65536 bytes") != std::string::npos);
  CHECK(r.output.find("max_batch_bytes") != std::string::npos);
  CHECK(r.output.find("Broken pipe") == std::string::npos);
  CHECK(r.output.find("reset by peer") == std::string::npos);
}
