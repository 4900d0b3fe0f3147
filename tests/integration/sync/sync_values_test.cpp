// Values real senders send: Stripe's unix-second timestamps for fields declared
// timestamptz (in the record or in the sync's config), NUL characters PostgreSQL cannot
// store, and a value the database refuses, which must be named by its record.
#include <catch2/catch.hpp>

#include "sync/service.hpp"
#include "sync_fixture.hpp"

using namespace sluice::test;
using json = nlohmann::json;

namespace {

json rec(const std::string& coll, const std::string& id, int64_t v, json data) {
  return {{"collection", coll}, {"id", id}, {"op", "upsert"}, {"version", v}, {"data", data}};
}

}  // namespace

TEST_CASE("values: unix seconds become timestamptz where declared, in records or config",
          "[sync][integration][values]") {
  temp_dir pki_dir{"sluice-pki"};
  test_pki pki{pki_dir.path()};
  sync_env env(ssl_on(pki));
  env.sslmode = "require";
  env.sync_extra = "    types:\n      invoice:\n        paid_at: timestamptz\n";
  env.prepare_database();
  sluice::sync::service svc(nullptr);
  svc.start(env.settings());

  auto customer = rec("customer", "c1", 1, {{"created", 1700000000}});
  customer["types"] = {{"created", "timestamptz"}};
  auto r = env.post(ndjson({customer, rec("invoice", "i1", 1, {{"paid_at", 1700000000}})}), 1);
  INFO(r.body);
  REQUIRE(r.status == 200);
  auto type_of = [&](const std::string& table, const std::string& col) {
    return env.app(
        "select format_type(atttypid, atttypmod) from pg_attribute where attrelid = "
        "'stripe." +
        table + "'::regclass and attname = '" + col + "'");
  };
  CHECK(type_of("customer", "created") == "timestamp with time zone");
  CHECK(type_of("invoice", "paid_at") == "timestamp with time zone");
  CHECK(env.app("select created = to_timestamp(1700000000) from stripe.customer") == "t");
  CHECK(env.app("select paid_at = to_timestamp(1700000000) from stripe.invoice") == "t");
  // Later values keep the column: ISO strings and seconds alike.
  auto r2 = env.post(ndjson({rec("invoice", "i2", 1, {{"paid_at", "2024-01-01T00:00:00Z"}}),
                             rec("invoice", "i3", 1, {{"paid_at", 0}})}),
                     2);
  INFO(r2.body);
  REQUIRE(r2.status == 200);
  CHECK(type_of("invoice", "paid_at") == "timestamp with time zone");
  CHECK(env.app("select extract(epoch from paid_at)::bigint from stripe.invoice where id = 'i3'") ==
        "0");
}

TEST_CASE("values: NUL is stripped and counted, a refused value names its record",
          "[sync][integration][values]") {
  temp_dir pki_dir{"sluice-pki"};
  test_pki pki{pki_dir.path()};
  sync_env env(ssl_on(pki));
  env.sslmode = "require";
  env.prepare_database();
  sluice::sync::service svc(nullptr);
  svc.start(env.settings());

  const std::string nul("a\0b", 3);
  auto r = env.post(
      ndjson({rec("customer", "c1", 1, {{"name", nul}, {"meta", {{"note", {{"deep", nul}}}}}}),
              rec("customer", "c2", 1, {{"name", "plain"}, {"meta", {{"note", "x"}}}})}),
      1);
  INFO(r.body);
  REQUIRE(r.status == 200);
  CHECK(json::parse(r.body)["nul_stripped"] == 2);
  CHECK(env.app("select name from stripe.customer where id = 'c1'") == "ab");
  CHECK(env.app("select meta #>> '{note,deep}' from stripe.customer where id = 'c1'") == "ab");

  // A value the database refuses: the answer names the record, not a COPY line.
  auto bad = rec("customer", "c4", 1, {{"seen_at", "not a date"}});
  bad["types"] = {{"seen_at", "timestamptz"}};
  auto r2 = env.post(ndjson({rec("customer", "c3", 1, {{"name", "ok"}}), bad}), 2);
  INFO(r2.body);
  CHECK(r2.status == 422);
  auto err = json::parse(r2.body)["error"].get<std::string>();
  CHECK(err.find("record 1 (collection customer, id c4, field seen_at)") != std::string::npos);
}

TEST_CASE("values: a skipped record changes nothing, not even a column's type",
          "[sync][integration][values]") {
  sync_env env;
  env.prepare_database();
  sluice::sync::service svc(nullptr);
  svc.start(env.settings());
  auto del = json{{"collection", "customer"}, {"id", "c2"}, {"op", "delete"}, {"version", 5}};
  REQUIRE(env.post(ndjson({rec("customer", "c1", 5, {{"amount", 10}}),
                           rec("customer", "c2", 1, {{"amount", 1}}), del}),
                   1)
              .status == 200);
  auto type_of = [&](const std::string& col) {
    return env.app(
        "select coalesce((select format_type(atttypid, atttypmod) from pg_attribute where "
        "attrelid = 'stripe.customer'::regclass and attname = '" +
        col + "' and not attisdropped), 'none')");
  };
  REQUIRE(type_of("amount") == "bigint");

  // Older than the stored row, older than the tombstone: both skipped.
  auto r = env.post(ndjson({rec("customer", "c1", 4, {{"amount", "ten"}, {"extra", true}}),
                            rec("customer", "c2", 4, {{"amount", 1.5}})}),
                    2);
  INFO(r.body);
  REQUIRE(r.status == 200);
  CHECK(json::parse(r.body)["skipped"] == 2);
  CHECK(type_of("amount") == "bigint");
  CHECK(type_of("extra") == "none");
  CHECK(env.app("select amount from stripe.customer where id = 'c1'") == "10");

  // In the same batch as a record that counts, only that one shapes the columns.
  auto r2 = env.post(ndjson({rec("customer", "c1", 3, {{"amount", "stale"}}),
                             rec("customer", "c3", 1, {{"amount", 2.5}})}),
                     3);
  INFO(r2.body);
  REQUIRE(r2.status == 200);
  CHECK(json::parse(r2.body)["applied"] == 1);
  CHECK(type_of("amount") == "numeric");
  CHECK(env.app("select amount from stripe.customer where id = 'c3'") == "2.5");
}
