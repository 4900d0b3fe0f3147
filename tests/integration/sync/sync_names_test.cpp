// Records whose names PostgreSQL cannot store, against a real database through the
// ingest API (issue 16, defect 5): each such batch is refused with 422 naming the
// record, its id and the field, re-sending it is refused again, and the sync keeps
// running: the next good batch, with the same sequence, is applied.
#include <catch2/catch.hpp>

#include "sync/naming.hpp"
#include "sync/service.hpp"
#include "sync_fixture.hpp"

using namespace sluice::test;
using json = nlohmann::json;

namespace {

json upsert(const std::string& collection, const std::string& id, json data) {
  return {{"collection", collection}, {"id", id}, {"version", 1}, {"data", std::move(data)}};
}

json many_fields(size_t n, const std::string& prefix, json value) {
  json d = json::object();
  for (size_t i = 0; i < n; ++i)
    d[prefix + std::to_string(i)] = value;
  return d;
}

}  // namespace

TEST_CASE("ingest API: names the database cannot store get 422 and the sync goes on",
          "[sync][integration]") {
  sync_env env;
  env.prepare_database();
  sluice::sync::service svc(nullptr);
  svc.start(env.settings());
  REQUIRE(env.post(ndjson({upsert("customer", "c0", {{"name", "first"}})}), 1).status == 200);

  // Long names whose 63-byte identifiers meet (see tests/unit/sync_names_test.cpp).
  const std::string long_a = std::string(60, 'f') + "2643";
  const std::string long_b = std::string(60, 'f') + "23562";
  struct row {
    const char* what;
    json record;
    const char* expected;
  };
  const row rows[] = {
      {"NUL in a field name", upsert("customer", "x", {{std::string("a\0b", 3), 1}}),
       R"(field "a\u0000b" contains a NUL)"},
      {"NUL in a collection name", upsert(std::string("cust\0omer", 9), "x", {{"a", 1}}),
       "contains a NUL"},
      {"NUL in an id", upsert("customer", std::string("x\0y", 3), {{"a", 1}}), "id contains a NUL"},
      {"xmin", upsert("customer", "x", {{"xmin", 1}}), R"(field "xmin" is reserved)"},
      {"ctid", upsert("customer", "x", {{"ctid", "t"}}), R"(field "ctid" is reserved)"},
      {"tableoid", upsert("customer", "x", {{"tableoid", 1}}), "is reserved"},
      {"cmax", upsert("customer", "x", {{"cmax", 1}}), "is reserved"},
      {"the stage column _del", upsert("customer", "x", {{"_del", true}}), "is reserved"},
      {"a writer column", upsert("customer", "x", {{"_sync_updated_at", "now"}}), "is reserved"},
      {"_sync_state as a collection", upsert("_sync_state", "x", {{"a", 1}}),
       R"(collection "_sync_state" is reserved)"},
      {"_sync_event as a collection", upsert("_sync_event", "x", {{"a", 1}}), "is reserved"},
      {"a stage table as a collection", upsert("_sync_stage_0_0", "x", {{"a", 1}}), "is reserved"},
      // PostgreSQL: "row is too big: size 9640, maximum size 8160", and the sync stopped.
      {"1200 bigint fields", upsert("wide", "x", many_fields(1200, "f", 123456789012LL)),
       "row needs at least"},
      {"1597 fields", upsert("wide", "x", many_fields(sluice::sync::kMaxFields + 1, "f", true)),
       "has 1597 distinct fields"},
      {"colliding long field names", upsert("customer", "x", {{long_a, 1}, {long_b, 2}}),
       "both shorten to column"},
      {"a shortened-form name", upsert("customer", "x", {{std::string(53, 'f') + "_h0d702ac2", 1}}),
       "is reserved (60..63 bytes"},
      {"an id too long for an index entry",
       upsert("customer", std::string(sluice::sync::kMaxKeyBytes, 'i'), {{"a", 1}}),
       "an id may have at most 2600 bytes"},
  };
  int64_t seq = 2;
  int64_t applied = 1;
  for (const auto& r : rows) {
    INFO(r.what);
    // A good record first: the whole batch is refused, nothing of it applied.
    const std::string body =
        ndjson({upsert("customer", "g" + std::to_string(seq), {{"n", seq}}), r.record});
    for (int attempt = 0; attempt < 2; ++attempt) {  // re-sending is refused again
      auto bad = env.post(body, seq);
      INFO(bad.body);
      REQUIRE(bad.status == 422);
      auto j = json::parse(bad.body);
      CHECK(j["error"] == "records refused");
      CHECK(j["line"] == 2);
      const std::string reason = j["reason"];
      CHECK(reason.rfind("record 1 (id \"", 0) == 0);
      CHECK_THAT(reason, Catch::Contains(r.expected));
    }
    auto good =
        env.post(ndjson({upsert("customer", "g" + std::to_string(seq), {{"n", seq}})}), seq);
    INFO(good.body);
    REQUIRE(good.status == 200);
    CHECK(json::parse(good.body)["applied"] == 1);
    ++seq;
    ++applied;
  }
  CHECK(env.app("select count(*) from stripe.customer") == std::to_string(applied));
  CHECK(env.app("select count(*) from pg_class c join pg_namespace n on n.oid = c.relnamespace "
                "where n.nspname = 'stripe' and c.relname = 'wide'") == "0");
  // The sync never stopped.
  sluice::sync::http_target t;
  t.port = static_cast<uint16_t>(env.ingest_port);
  auto st = sluice::sync::http_request(t, "GET", "/v1/syncs/acme", kToken, "");
  INFO(st.body);
  REQUIRE(st.status == 200);
  CHECK(json::parse(st.body)["stopped"] == false);
  CHECK(json::parse(st.body)["last_sequence"] == seq - 1);
}

TEST_CASE("ingest API: the most fields a table holds are applied", "[sync][integration]") {
  sync_env env;
  env.prepare_database();
  sluice::sync::service svc(nullptr);
  svc.start(env.settings());
  // 1596 text fields plus the writer's four columns: exactly PostgreSQL's 1600.
  auto r =
      env.post(ndjson({upsert("wide", "w1", many_fields(sluice::sync::kMaxFields, "f", "v"))}), 1);
  INFO(r.body);
  REQUIRE(r.status == 200);
  CHECK(env.app("select count(*) from pg_attribute where attrelid = 'stripe.wide'::regclass and "
                "attnum > 0") == "1599");  // hard deletes: no _sync_deleted_at
}

// What one batch cannot show: columns that add up past PostgreSQL's 1,600 across
// batches. The database refuses the ALTER (SQLSTATE 54011): that batch gets 422, the
// sync goes on, and a batch within the limit is applied.
TEST_CASE("ingest API: a batch that would take a table past 1600 columns gets 422",
          "[sync][integration]") {
  sync_env env;
  env.prepare_database();
  sluice::sync::service svc(nullptr);
  svc.start(env.settings());
  REQUIRE(env.post(ndjson({upsert("wide", "w1", many_fields(1000, "a", true))}), 1).status == 200);
  auto over = env.post(ndjson({upsert("wide", "w2", many_fields(1000, "b", true))}), 2);
  INFO(over.body);
  CHECK(over.status == 422);
  CHECK_THAT(over.body, Catch::Contains("54011"));
  // The same sequence, within the limit, is applied: the sync did not stop.
  auto ok = env.post(ndjson({upsert("wide", "w2", many_fields(10, "b", true))}), 2);
  INFO(ok.body);
  CHECK(ok.status == 200);
  CHECK(env.app("select count(*) from stripe.wide") == "2");
}
