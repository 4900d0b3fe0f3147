// Values real senders send: Stripe's unix-second timestamps for fields declared
// timestamptz (in the record or in the sync's config), milliseconds where declared
// timestamptz_ms, values a declared type cannot hold (kept in _sync_overflow, never a
// silent widening), NUL characters PostgreSQL cannot store, and a value the database
// refuses, which is quarantined in _sync_rejected and named by its record.
#include <catch2/catch.hpp>

#include "sync/service.hpp"
#include "sync_fixture.hpp"

using namespace sluice::test;
using json = nlohmann::json;

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

  auto customer = upsert("customer", "c1", 1, {{"created", 1700000000}});
  customer["types"] = {{"created", "timestamptz"}};
  auto r = env.post(ndjson({customer, upsert("invoice", "i1", 1, {{"paid_at", 1700000000}})}), 1);
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
  auto r2 = env.post(ndjson({upsert("invoice", "i2", 1, {{"paid_at", "2024-01-01T00:00:00Z"}}),
                             upsert("invoice", "i3", 1, {{"paid_at", 0}})}),
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
      ndjson({upsert("customer", "c1", 1, {{"name", nul}, {"meta", {{"note", {{"deep", nul}}}}}}),
              upsert("customer", "c2", 1, {{"name", "plain"}, {"meta", {{"note", "x"}}}})}),
      1);
  INFO(r.body);
  REQUIRE(r.status == 200);
  CHECK(json::parse(r.body)["nul_stripped"] == 2);
  CHECK(env.app("select name from stripe.customer where id = 'c1'") == "ab");
  CHECK(env.app("select meta #>> '{note,deep}' from stripe.customer where id = 'c1'") == "ab");

  // A value the database refuses: quarantined in _sync_rejected, named by its record
  // (not a COPY line), and the rest of the batch commits.
  auto bad = upsert("customer", "c4", 1, {{"seen_at", "not a date"}});
  bad["types"] = {{"seen_at", "timestamptz"}};
  auto r2 = env.post(ndjson({upsert("customer", "c3", 1, {{"name", "ok"}}), bad,
                             upsert("customer", "c5", 1, {{"name", "also ok"}})}),
                     2);
  INFO(r2.body);
  REQUIRE(r2.status == 200);
  auto b2 = json::parse(r2.body);
  CHECK(b2["applied"] == 2);
  CHECK(b2["rejected"] == 1);
  REQUIRE(b2["rejected_records"].size() == 1);
  auto rj = b2["rejected_records"][0];
  CHECK(rj["index"] == 1);
  CHECK(rj["id"] == "c4");
  CHECK(rj["field"] == "seen_at");
  CHECK(rj["sqlstate"] == "22007");
  CHECK(rj["reason"].get<std::string>().find("not a date") != std::string::npos);
  CHECK(env.app("select string_agg(id, ',' order by id) from stripe.customer") == "c1,c2,c3,c5");
  CHECK(env.app("select record_index || ' ' || record_id || ' ' || field || ' ' || sqlstate || ' "
                "' || sequence from stripe._sync_rejected") == "1 c4 seen_at 22007 2");
  CHECK(env.app("select (record::jsonb) #>> '{data,seen_at}' from stripe._sync_rejected") ==
        "not a date");

  // refused_records: refuse gives the old answer: 422 naming the record, nothing applied.
  env.sync_extra = "    refused_records: refuse\n";
  svc.apply(env.settings());
  auto bad2 = upsert("customer", "c7", 1, {{"seen_at", "never"}});
  bad2["types"] = {{"seen_at", "timestamptz"}};
  auto r3 = env.post(ndjson({upsert("customer", "c6", 1, {{"name", "ok"}}), bad2}), 3);
  INFO(r3.body);
  CHECK(r3.status == 422);
  auto err = json::parse(r3.body)["error"].get<std::string>();
  CHECK(err.find("record 1 (collection customer, id c7, field seen_at)") != std::string::npos);
  CHECK(env.app("select count(*) from stripe.customer where id = 'c6'") == "0");
}

TEST_CASE("values: unix milliseconds where declared and a declared type never widens",
          "[sync][integration][values]") {
  temp_dir pki_dir{"sluice-pki"};
  test_pki pki{pki_dir.path()};
  sync_env env(ssl_on(pki));
  env.sslmode = "require";
  env.sync_extra =
      "    types:\n      invoice:\n        paid_ms: timestamptz_ms\n        amount: bigint\n";
  env.prepare_database();
  sluice::sync::service svc(nullptr);
  svc.start(env.settings());

  auto customer = upsert("customer", "c1", 1, {{"seen", int64_t{1700000000123}}, {"created", 5}});
  customer["types"] = {{"seen", "timestamptz_ms"}, {"created", "timestamptz"}};
  auto r = env.post(
      ndjson({customer, upsert("invoice", "i1", 1, {{"paid_ms", int64_t{-1}}, {"amount", 3}})}), 1);
  INFO(r.body);
  REQUIRE(r.status == 200);
  CHECK(json::parse(r.body).count("overflow_values") == 0);
  CHECK(env.app("select seen = to_timestamp(1700000000.123) from stripe.customer") == "t");
  CHECK(env.app("select created = to_timestamp(5) from stripe.customer") == "t");
  CHECK(env.app("select paid_ms = to_timestamp(-0.001) from stripe.invoice") == "t");
  // Later records without the declaration: the configured one still counts.
  REQUIRE(env.post(ndjson({upsert("invoice", "i2", 1, {{"paid_ms", int64_t{86400000}}}),
                           upsert("invoice", "i3", 1, {{"paid_ms", "2024-01-01T00:00:00.5Z"}})}),
                   2)
              .status == 200);
  CHECK(env.app("select extract(epoch from paid_ms) from stripe.invoice where id = 'i2'") ==
        "86400.000000");
  CHECK(env.app("select extract(epoch from paid_ms) from stripe.invoice where id = 'i3'") ==
        "1704067200.500000");

  auto type_of = [&](const std::string& table, const std::string& col) {
    return env.app(
        "select format_type(atttypid, atttypmod) from pg_attribute where attrelid = "
        "'stripe." +
        table + "'::regclass and attname = '" + col + "'");
  };
  // Values a declared type cannot hold: the column keeps its type, the value is kept in
  // _sync_overflow and counted; nothing silently turns into text.
  auto r3 = env.post(ndjson({upsert("invoice", "i4", 1, {{"amount", "ten"}, {"paid_ms", 1.5}}),
                             upsert("customer", "c2", 1, {{"created", true}})}),
                     3);
  INFO(r3.body);
  REQUIRE(r3.status == 200);
  CHECK(json::parse(r3.body)["overflow_values"] == 3);
  CHECK(type_of("invoice", "amount") == "bigint");
  CHECK(type_of("invoice", "paid_ms") == "timestamp with time zone");
  CHECK(type_of("customer", "created") == "timestamp with time zone");
  CHECK(env.app("select coalesce(amount::text, 'NULL') || ' ' || (_sync_overflow ->> 'amount') "
                "|| ' ' || (_sync_overflow ->> 'paid_ms') from stripe.invoice where id = 'i4'") ==
        "NULL ten 1.5");
  CHECK(env.app("select _sync_overflow ->> 'created' from stripe.customer where id = 'c2'") ==
        "true");
  // A record-level declaration that its own values contradict, on a new column.
  auto odd = upsert("customer", "c3", 1, {{"score", "high"}});
  odd["types"] = {{"score", "numeric"}};
  auto r4 = env.post(ndjson({odd}), 4);
  INFO(r4.body);
  REQUIRE(r4.status == 200);
  CHECK(type_of("customer", "score") == "numeric");
  CHECK(env.app("select _sync_overflow ->> 'score' from stripe.customer where id = 'c3'") ==
        "high");
}

TEST_CASE("values: a skipped record changes nothing, not even a column's type",
          "[sync][integration][values]") {
  sync_env env;
  env.prepare_database();
  sluice::sync::service svc(nullptr);
  svc.start(env.settings());
  auto del = json{{"collection", "customer"}, {"id", "c2"}, {"op", "delete"}, {"version", 5}};
  REQUIRE(env.post(ndjson({upsert("customer", "c1", 5, {{"amount", 10}}),
                           upsert("customer", "c2", 1, {{"amount", 1}}), del}),
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
  auto r = env.post(ndjson({upsert("customer", "c1", 4, {{"amount", "ten"}, {"extra", true}}),
                            upsert("customer", "c2", 4, {{"amount", 1.5}})}),
                    2);
  INFO(r.body);
  REQUIRE(r.status == 200);
  CHECK(json::parse(r.body)["skipped"] == 2);
  CHECK(type_of("amount") == "bigint");
  CHECK(type_of("extra") == "none");
  CHECK(env.app("select amount from stripe.customer where id = 'c1'") == "10");

  // In the same batch as a record that counts, only that one shapes the columns.
  auto r2 = env.post(ndjson({upsert("customer", "c1", 3, {{"amount", "stale"}}),
                             upsert("customer", "c3", 1, {{"amount", 2.5}})}),
                     3);
  INFO(r2.body);
  REQUIRE(r2.status == 200);
  CHECK(json::parse(r2.body)["applied"] == 1);
  CHECK(type_of("amount") == "numeric");
  CHECK(env.app("select amount from stripe.customer where id = 'c3'") == "2.5");
}
