#include <catch2/catch.hpp>

#include "sync/service.hpp"
#include "sync_fixture.hpp"

using namespace sluice::test;
using json = nlohmann::json;

TEST_CASE(
    "schema: user objects survive resync and rename, the read role reads every table, "
    "rename with data present",
    "[sync][integration]") {
  sync_env env;
  env.prepare_database();
  env.pg.sql("create user other with encrypted password 'other-pw'");
  auto cfg = env.config_path();
  REQUIRE(run(std::string(kSluiceBin) + " sync setup acme -c " + cfg).exit_code == 0);

  auto svc = std::make_unique<sluice::sync::service>(nullptr);
  svc->start(env.settings());
  std::vector<json> first;
  for (int i = 0; i < 500; ++i) {
    first.push_back(
        upsert("customer", "c" + std::to_string(i), 1, {{"name", "n" + std::to_string(i)}}));
  }
  REQUIRE(env.post(ndjson(first), 1).status == 200);

  // Another user adds a table and a view (on the writer's table) to the schema.
  env.app("grant usage, create on schema stripe to other");
  env.app("grant select on stripe.customer to other");
  env.app(
      "set role other; create table stripe.notes (id int primary key, body text); "
      "insert into stripe.notes values (1, 'keep me'); "
      "create view stripe.customer_names as select id, name from stripe.customer");

  // A collection that appears after setup: the read role can read it.
  auto r2 = env.post(ndjson({upsert("invoice", "i1", 1, {{"total", 10}, {"paid", true}}),
                             upsert("customer", "c0", 2, {{"name", "renamed"}, {"extra", 1.5}})}),
                     2);
  INFO(r2.body);
  REQUIRE(r2.status == 200);
  CHECK(env.app("set role analyst; select count(*) from stripe.invoice") == "1");
  CHECK(env.app("set role analyst; select count(*) from stripe.customer") == "500");

  // Resync: setup again and re-send everything (duplicates); user objects untouched.
  REQUIRE(run(std::string(kSluiceBin) + " sync setup acme -c " + cfg).exit_code == 0);
  REQUIRE(env.post(ndjson(first), 1).status == 200);
  CHECK(env.app("select body from stripe.notes") == "keep me");
  CHECK(env.app("select name from stripe.customer_names where id = 'c0'") == "renamed");

  // A user's table in the way of a collection: the writer refuses and never touches it.
  env.app("set role other; create table stripe.payout (x int)");
  auto blocked = env.post(ndjson({upsert("payout", "p1", 1, {{"amount", 1}})}), 3);
  CHECK(blocked.status == 500);
  CHECK(blocked.body.find("not created by sluice") != std::string::npos);
  CHECK(env.app("select count(*) from stripe.payout") == "0");
  env.app("drop table stripe.payout");

  // Rename: the writer builds stripe2, backfills it and switches; stripe stays.
  env.schema = "stripe2";
  svc->apply(env.settings());  // also clears the stopped state
  auto r3 = env.post(ndjson({upsert("customer", "c1", 2, {{"name", "after-rename"}})}), 3);
  INFO(r3.body);
  REQUIRE(r3.status == 200);
  CHECK(env.app("select count(*) from stripe2.customer") == "500");
  CHECK(env.app("select count(*) from stripe2.invoice") == "1");
  CHECK(env.app("select name from stripe2.customer where id = 'c1'") == "after-rename");
  CHECK(env.app("select name from stripe2.customer where id = 'c0'") == "renamed");
  CHECK(env.app("select extra from stripe2.customer where id = 'c0'") == "1.5");
  CHECK(env.app("select sequence from stripe2._sync_state") == "3");
  // The old schema is intact (the last write went only to the new one).
  CHECK(env.app("select count(*) from stripe.customer") == "500");
  CHECK(env.app("select name from stripe.customer where id = 'c1'") == "n1");
  CHECK(env.app("select body from stripe.notes") == "keep me");
  CHECK(env.app("select count(*) from stripe.customer_names") == "500");
  CHECK(env.app("select moved_to from stripe._sync_state") == "stripe2");
  CHECK(env.app("set role analyst; select count(*) from stripe2.customer") == "500");
  CHECK(env.app("set role analyst; select count(*) from stripe2.invoice") == "1");
  CHECK(env.app("select count(*) from stripe2._sync_event") ==
        env.app("select count(*) + 1 from stripe._sync_event"));
  // A restart on the new schema does not move anything again.
  svc->stop();
  svc = std::make_unique<sluice::sync::service>(nullptr);
  svc->start(env.settings());
  auto r4 = env.post(ndjson({upsert("customer", "c2", 2, {{"name", "x"}})}), 4);
  REQUIRE(r4.status == 200);
  CHECK(env.app("select count(*) from stripe2.customer") == "500");
}
