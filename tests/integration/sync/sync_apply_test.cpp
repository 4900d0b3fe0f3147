#include <catch2/catch.hpp>

#include "sync/service.hpp"
#include "sync_fixture.hpp"
#include "sync_model.hpp"

using namespace sluice::test;
using json = nlohmann::json;

namespace {

std::string joined(const std::vector<std::string>& rows) {
  std::string out;
  for (const auto& r : rows)
    out += (out.empty() ? "" : "\n") + r;
  return out;
}

}  // namespace

TEST_CASE("apply: 100,000 records with updates, out-of-order versions, duplicates and deletes",
          "[sync][integration]") {
  sync_env env;
  env.prepare_database();
  sluice::sync::service svc(nullptr);
  svc.start(env.settings());
  auto stream = make_stream(10, 10'000, 6'000);
  sync_model model;
  for (size_t i = 0; i < stream.size(); ++i) {
    auto r = env.post(ndjson(stream[i]), static_cast<int64_t>(i + 1));
    INFO(r.body);
    REQUIRE(r.status == 200);
    auto body = json::parse(r.body);
    CHECK(body["duplicate"] == false);
    model.apply(stream[i]);
  }
  check_matches_model(env, model, "stripe");
  // Types: amount widened from bigint to numeric; meta is jsonb; a late field added.
  CHECK(env.app("select format_type(atttypid, atttypmod) from pg_attribute where attrelid = "
                "'stripe.customer'::regclass and attname = 'amount'") == "numeric");
  CHECK(env.app("select format_type(atttypid, atttypmod) from pg_attribute where attrelid = "
                "'stripe.customer'::regclass and attname = 'meta'") == "jsonb");
  CHECK(env.app("select format_type(atttypid, atttypmod) from pg_attribute where attrelid = "
                "'stripe.customer'::regclass and attname = 'active'") == "boolean");
  CHECK(env.app("select count(distinct event_type) from stripe._sync_event") == "3");
  CHECK(env.app("select count(*) from stripe._sync_event where event_type = 'update' and not "
                "payload ? 'changes'") == "0");

  {  // Re-sending every batch is acknowledged as a duplicate and changes nothing.
    auto events = env.app("select count(*) from stripe._sync_event");
    for (size_t i = 0; i < stream.size(); ++i) {
      auto r = env.post(ndjson(stream[i]), static_cast<int64_t>(i + 1));
      REQUIRE(r.status == 200);
      CHECK(json::parse(r.body)["duplicate"] == true);
    }
    CHECK(env.app("select count(*) from stripe._sync_event") == events);
    check_matches_model(env, model, "stripe");
  }
  {  // A gap is refused with 409 naming the expected sequence.
    auto r = env.post(ndjson(stream[0]), 13);
    CHECK(r.status == 409);
    CHECK(json::parse(r.body)["expected_sequence"] == 11);
  }
}

// Without events the writer upserts with MERGE on PostgreSQL 15 and later; with events,
// INSERT ... ON CONFLICT (it needs RETURNING). The same stream must give the same rows and
// the same applied count per batch on both paths, with hard deletes (checked against the
// model too) and soft ones (the rows kept, with whether each is marked deleted).
TEST_CASE("apply: MERGE (events off) and ON CONFLICT (events on) agree on every batch",
          "[sync][integration]") {
  const auto stream = make_stream(8, 3'000, 2'000, 7);
  sync_model model;
  for (const auto& batch : stream)
    model.apply(batch);
  for (const std::string deletes : {"hard", "soft"}) {
    INFO("deletes: " << deletes);
    std::vector<int64_t> applied[2];
    std::string rows[2];
    for (bool events : {true, false}) {
      INFO("events: " << events);
      sync_env env;
      env.events = events;
      env.deletes = deletes;
      env.prepare_database();
      REQUIRE(std::stoi(env.pg.sql("show server_version_num")) >= 150000);
      env.pg.sql("alter system set log_statement = 'all'");
      env.pg.sql("select pg_reload_conf()");
      sluice::sync::service svc(nullptr);
      svc.start(env.settings());
      for (size_t i = 0; i < stream.size(); ++i) {
        auto r = env.post(ndjson(stream[i]), static_cast<int64_t>(i + 1));
        INFO(r.body);
        REQUIRE(r.status == 200);
        applied[events].push_back(json::parse(r.body)["applied"].get<int64_t>());
      }
      if (deletes == "hard")
        check_matches_model(env, model, "stripe", events);
      for (const char* coll : {"customer", "invoice"})
        rows[events] +=
            env.app("select string_agg(id || '|' || _sync_version || '|' || " +
                    std::string(deletes == "soft" ? "(_sync_deleted_at is null)" : "''") +
                    " || '|' || name || '|' || "
                    "amount::numeric(20,1)::text, E'\\n' order by id collate \"C\") from stripe." +
                    coll);
      svc.stop();
      // The path each setting is meant to take is the one that ran.
      const std::string log = env.pg.log();
      CHECK((log.find("merge into \"stripe\".") != std::string::npos) == !events);
      CHECK((log.find("on conflict (id) do update set _sync_version") != std::string::npos) ==
            events);
      // The MERGE path's plan settings go once per transaction, not once per collection
      // (both collections merge in most batches); the events path never sends them.
      const auto occurrences = [&](const std::string& what) {
        size_t n = 0;
        for (auto at = log.find(what); at != std::string::npos; at = log.find(what, at + 1))
          ++n;
        return n;
      };
      const size_t settings = occurrences("set_config('enable_hashjoin'");
      const size_t merges = occurrences("merge into \"stripe\".");
      INFO("settings sent " << settings << " times for " << merges << " MERGE statements");
      if (events) {
        CHECK(settings == 0);
      } else {
        CHECK(settings > 0);
        CHECK(settings <= stream.size());
        CHECK(merges > settings);
      }
    }
    CHECK(applied[0] == applied[1]);
    CHECK(rows[0] == rows[1]);
    CHECK(!rows[0].empty());
  }
}

TEST_CASE("ingest API: status codes", "[sync][integration]") {
  sync_env env;
  env.prepare_database();
  env.max_batch = "4KiB";
  sluice::sync::service svc(nullptr);
  svc.start(env.settings());
  json rec{{"collection", "customer"},
           {"id", "c1"},
           {"op", "upsert"},
           {"version", 1},
           {"data", {{"name", "A"}}}};
  CHECK(env.post(ndjson({rec}), 1, "wrong-token").status == 401);
  // An unknown sync is answered like a wrong token: names are not revealed.
  CHECK(env.post(ndjson({rec}), 1, kToken, "nope").status == 401);
  auto bad = env.post(ndjson({rec}) + "{\"collection\": \"x\", \"id\": }\n", 1);
  CHECK(bad.status == 400);
  CHECK(json::parse(bad.body)["line"] == 2);
  CHECK(env.post(ndjson({rec}), 0).status == 400);  // no sequence
  CHECK(env.post(std::string(8192, ' ') + ndjson({rec}), 1).status == 413);
  auto ok = env.post(ndjson({rec}), 1);
  INFO(ok.body);
  CHECK(ok.status == 200);
  CHECK(json::parse(ok.body)["applied"] == 1);
  auto gap = env.post(ndjson({rec}), 5);
  CHECK(gap.status == 409);
  CHECK(json::parse(gap.body)["expected_sequence"] == 2);
  // The same record again (next sequence, same version): skipped, no event.
  auto same = env.post(ndjson({rec}), 2);
  CHECK(json::parse(same.body)["skipped"] == 1);
  CHECK(env.app("select count(*) from stripe._sync_event") == "1");
  CHECK(svc.status()[0]["last_sequence"] == 2);
}

TEST_CASE("apply: soft deletes keep the row with _sync_deleted_at", "[sync][integration]") {
  sync_env env;
  env.prepare_database();
  env.deletes = "soft";
  sluice::sync::service svc(nullptr);
  svc.start(env.settings());
  json up{{"collection", "customer"}, {"id", "c1"}, {"version", 1}, {"data", {{"name", "A"}}}};
  json del{{"collection", "customer"}, {"id", "c1"}, {"op", "delete"}, {"version", 2}};
  REQUIRE(env.post(ndjson({up}), 1).status == 200);
  REQUIRE(env.post(ndjson({del}), 2).status == 200);
  CHECK(env.app("select name, _sync_deleted_at is not null, _sync_version from stripe.customer") ==
        "A|t|2");
  up["version"] = 3;
  REQUIRE(env.post(ndjson({up}), 3).status == 200);
  CHECK(env.app("select _sync_deleted_at is null from stripe.customer") == "t");
  CHECK(env.app("select string_agg(event_type, ',' order by id) from stripe._sync_event") ==
        "insert,delete,update");
}

TEST_CASE("apply: first loads COPY straight into the table, and fall back on a known id",
          "[sync][integration]") {
  sync_env env;
  env.prepare_database();
  env.events = false;  // the direct path is used only without events
  sluice::sync::service svc(nullptr);
  svc.start(env.settings());
  // Batch 1: only new ids (direct COPY). Batch 2 overlaps it (duplicate key: falls back
  // to the merge). Batch 3: new ids again, through the merge from then on.
  auto upserts = [](int from, int to, int64_t version) {
    std::vector<json> b;
    for (int i = from; i < to; ++i) {
      b.push_back({{"collection", "customer"},
                   {"id", "cus_" + std::to_string(i)},
                   {"op", "upsert"},
                   {"version", version},
                   {"data",
                    {{"name", "n" + std::to_string(i * version)},
                     {"active", true},
                     {"amount", i},
                     {"plan", "p"},
                     {"meta", {{"k", version}}}}}});
    }
    return b;
  };
  std::vector<std::vector<json>> stream{upserts(0, 1000, 1), upserts(500, 1500, 2),
                                        upserts(2000, 2500, 1)};
  sync_model model;
  for (size_t i = 0; i < stream.size(); ++i) {
    auto r = env.post(ndjson(stream[i]), static_cast<int64_t>(i + 1));
    INFO(r.body);
    REQUIRE(r.status == 200);
    CHECK(json::parse(r.body)["applied"] == stream[i].size());
    model.apply(stream[i]);
  }
  CHECK(env.app(std::string(kRowsSql) + "stripe.customer") ==
        joined(model_rows(model, "customer")));
  CHECK(env.app("select count(*) from stripe._sync_event") == "0");
}
