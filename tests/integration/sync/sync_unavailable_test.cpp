// An ingest request is always answered in bounded time: while the writer cannot reach
// its destination (here: the sync user's password was changed on the server), a batch
// gets 503 with the reason and Retry-After instead of hanging until the client gives up.
#include <catch2/catch.hpp>

#include "sync/service.hpp"
#include "sync_fixture.hpp"

using namespace sluice::test;
using json = nlohmann::json;

TEST_CASE("unavailable: a batch for a writer that cannot connect gets 503 with the reason",
          "[sync][integration][unavailable]") {
  temp_dir pki_dir{"sluice-pki"};
  test_pki pki{pki_dir.path()};
  sync_env env(ssl_on(pki));
  env.sslmode = "require";
  env.prepare_database();
  env.pg.sql("alter user sync_user with encrypted password 'rotated-elsewhere'");
  sluice::sync::service svc(nullptr);
  svc.start(env.settings());

  auto t0 = std::chrono::steady_clock::now();
  auto r = env.post(ndjson({{{"collection", "customer"},
                             {"id", "c1"},
                             {"op", "upsert"},
                             {"version", 1},
                             {"data", {{"name", "a"}}}}}),
                    1);
  auto waited = std::chrono::steady_clock::now() - t0;
  INFO(r.body);
  CHECK(r.status == 503);
  CHECK(r.retry_after == "5");
  CHECK(r.body.find("password authentication failed") != std::string::npos);
  CHECK(waited < std::chrono::seconds(45));

  // Fixed on the server: the re-sent batch is applied.
  env.pg.sql(std::string("alter user sync_user with encrypted password '") + kSyncPassword + "'");
  svc.apply(env.settings());
  auto ok = env.post(ndjson({{{"collection", "customer"},
                              {"id", "c1"},
                              {"op", "upsert"},
                              {"version", 1},
                              {"data", {{"name", "a"}}}}}),
                     1);
  INFO(ok.body);
  CHECK(ok.status == 200);
}
