// A user's view over a synced table blocks a column's type change (issue 21, item 7):
// ALTER TYPE fails with 0A000 "cannot alter type of a column used by a view". The sync
// must go on and keep the value losslessly (in _sync_overflow, the typed column NULL),
// name the blocking views with the SQL to run, and finish the widening, moving the kept
// values back, once the views are gone. The database is hardened the way the other
// tests prepare it: ssl=on, scram-sha-256 over hostssl only, PUBLIC's CREATE and TEMP
// revoked.
#include <catch2/catch.hpp>

#include "sync/service.hpp"
#include "sync_fixture.hpp"

using namespace sluice::test;
using json = nlohmann::json;

TEST_CASE("views: a view over a column holds its widening and the value waits in _sync_overflow",
          "[sync][integration][views]") {
  tls_database db;
  sync_env env(db.opts());
  env.sslmode = "require";
  env.prepare_database();
  env.app("revoke temporary on database app from public");
  env.app("revoke create on schema public from public");
  // The analysts' own schema, as the guide suggests: views over the synced tables.
  env.app("create schema reports authorization analyst");
  auto settings = env.settings();
  auto svc = std::make_unique<sluice::sync::service>(nullptr);
  svc->start(settings);

  REQUIRE(
      env.post(ndjson({upsert("customer", "c1", 1, {{"amount", 10}, {"name", "a"}})}), 1).status ==
      200);
  auto type_of = [&](const std::string& col) {
    return env.app(
        "select format_type(atttypid, atttypmod) from pg_attribute where attrelid = "
        "'stripe.customer'::regclass and attname = '" +
        col + "' and not attisdropped");
  };
  REQUIRE(type_of("amount") == "bigint");
  env.app(
      "set role analyst; create view reports.big_customers as select id, amount from "
      "stripe.customer where amount > 5");

  // "ten" needs text, which the view forbids: kept, not lost, and the sync goes on.
  auto r = env.post(ndjson({upsert("customer", "c2", 1, {{"amount", "ten"}, {"name", "b"}}),
                            upsert("customer", "c3", 1, {{"amount", 5}, {"name", "c"}})}),
                    2);
  INFO(r.body);
  REQUIRE(r.status == 200);
  auto body = json::parse(r.body);
  CHECK(body["applied"] == 2);
  CHECK(body["overflow_values"] == 1);
  REQUIRE(body["held_widenings"].size() == 1);
  auto held = body["held_widenings"][0];
  CHECK(held["column"] == "amount");
  CHECK(held["type"] == "bigint");
  CHECK(held["wanted"] == "text");
  CHECK(held["blocked_by"] == json::array({"reports.big_customers"}));
  CHECK(held["fix"].get<std::string>().find("drop view reports.big_customers;") == 0);
  CHECK(held["fix"].get<std::string>().find("create view reports.big_customers as") !=
        std::string::npos);
  CHECK(type_of("amount") == "bigint");
  CHECK(env.app("select coalesce(amount::text, 'NULL') || ' ' || (_sync_overflow ->> 'amount') "
                "from stripe.customer where id = 'c2'") == "NULL ten");
  CHECK(env.app("select amount from stripe.customer where id = 'c3'") == "5");
  CHECK(env.app("select count(*) from stripe.customer where _sync_overflow is not null") == "1");
  auto st = env.status();
  INFO(st.dump());
  REQUIRE(st["held_widenings"].size() == 1);
  CHECK(st["held_widenings"][0]["blocked_by"] == json::array({"reports.big_customers"}));
  CHECK(st["stopped"] == false);

  // A restart remembers the held widening (the comment on _sync_overflow): the next
  // misfit is kept too, and an update of c2 with a fitting value clears its overflow.
  svc->stop();
  svc = std::make_unique<sluice::sync::service>(nullptr);
  svc->start(settings);
  auto r3 = env.post(ndjson({upsert("customer", "c4", 1, {{"amount", "lots"}}),
                             upsert("customer", "c3", 2, {{"amount", 1.5}})}),
                     3);
  INFO(r3.body);
  REQUIRE(r3.status == 200);
  CHECK(json::parse(r3.body)["overflow_values"] == 2);
  CHECK(json::parse(r3.body)["held_widenings"][0]["blocked_by"] ==
        json::array({"reports.big_customers"}));
  CHECK(type_of("amount") == "bigint");
  CHECK(env.app("select _sync_overflow ->> 'amount' from stripe.customer where id = 'c4'") ==
        "lots");
  CHECK(env.app("select _sync_overflow ->> 'amount' from stripe.customer where id = 'c3'") ==
        "1.5");

  // The view goes: the next batch widens the column and moves the kept values back.
  env.app("drop view reports.big_customers");
  auto r4 = env.post(ndjson({upsert("customer", "c5", 1, {{"amount", 7}})}), 4);
  INFO(r4.body);
  REQUIRE(r4.status == 200);
  CHECK(json::parse(r4.body).count("held_widenings") == 0);
  CHECK(type_of("amount") == "text");
  CHECK(env.app("select string_agg(id || '=' || coalesce(amount, 'NULL'), ',' order by id) from "
                "stripe.customer") == "c1=10,c2=ten,c3=1.5,c4=lots,c5=7");
  CHECK(env.app("select count(*) from stripe.customer where _sync_overflow is not null") == "0");
  CHECK(env.status()["held_widenings"].empty());
}
