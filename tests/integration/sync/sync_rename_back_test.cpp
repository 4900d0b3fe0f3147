// Renaming a sync's schema back to one it moved away from: the stale copy must never
// become live again (that would rewind the cursor and ask senders for batches they
// had acknowledged). The writer refuses with the reason and the SQL that clears it.
#include <catch2/catch.hpp>

#include "sync/service.hpp"
#include "sync_fixture.hpp"

using namespace sluice::test;
using json = nlohmann::json;

namespace {

json rec(const std::string& id, int64_t v, const std::string& name) {
  return {{"collection", "customer"},
          {"id", id},
          {"op", "upsert"},
          {"version", v},
          {"data", {{"name", name}}}};
}

}  // namespace

TEST_CASE("rename back: a schema the sync moved away from is refused, never rewound",
          "[sync][integration][rename]") {
  temp_dir pki_dir{"sluice-pki"};
  test_pki pki{pki_dir.path()};
  sync_env env(ssl_on(pki));
  env.sslmode = "require";
  env.prepare_database();
  auto svc = std::make_unique<sluice::sync::service>(nullptr);
  svc->start(env.settings());
  REQUIRE(env.post(ndjson({rec("c1", 1, "one")}), 1).status == 200);

  env.schema = "stripe2";
  svc->apply(env.settings());
  REQUIRE(env.post(ndjson({rec("c2", 1, "two")}), 2).status == 200);
  REQUIRE(env.post(ndjson({rec("c3", 1, "three")}), 3).status == 200);
  REQUIRE(env.app("select sequence from stripe2._sync_state") == "3");

  env.schema = "stripe";  // back to the first name
  svc->apply(env.settings());
  auto refused = env.post(ndjson({rec("c4", 1, "four")}), 4);
  INFO(refused.body);
  CHECK(refused.status == 503);
  auto err = json::parse(refused.body)["error"].get<std::string>();
  CHECK(err.find("stale copy") != std::string::npos);
  CHECK(err.find("moved from it to stripe2") != std::string::npos);
  // Nothing moved backwards: the old copy keeps its old cursor, the live one its own.
  CHECK(env.app("select sequence from stripe._sync_state") == "1");
  CHECK(env.app("select sequence from stripe2._sync_state") == "3");
  CHECK(env.app("select count(*) from stripe.customer") == "1");

  auto v = run(std::string(kSluiceBin) + " sync verify acme -c " + env.config_path());
  INFO(v.output);
  CHECK(v.exit_code == 1);
  CHECK(v.output.find("[FAIL] schema stripe is not a copy this sync moved away from") !=
        std::string::npos);

  // The printed way out: drop the stale copy, reload; the live schema moves into it.
  auto at = err.find("drop table");
  REQUIRE(at != std::string::npos);
  auto drops = err.substr(at);
  drops = drops.substr(0, drops.find("  --"));
  env.app(drops);
  svc->apply(env.settings());
  auto moved = env.post(ndjson({rec("c4", 1, "four")}), 4);
  INFO(moved.body);
  CHECK(moved.status == 200);
  CHECK(env.app("select sequence from stripe._sync_state") == "4");
  CHECK(env.app("select string_agg(id, ',' order by id) from stripe.customer") == "c1,c2,c3,c4");
}
