// The writer's second connection: while one batch merges, the next is COPYed into an
// unlogged stage table. These tests send batches from several senders at once, so the
// queue holds a successor while a batch merges, and check that the stage path is taken
// and that it changes nothing in what lands in the tables.
#include <atomic>
#include <catch2/catch.hpp>
#include <mutex>
#include <thread>

#include "sync/pg_conn.hpp"
#include "sync/service.hpp"
#include "sync_fixture.hpp"
#include "sync_model.hpp"

using namespace sluice::test;
using json = nlohmann::json;

namespace {

// Sender t posts batches t, t + n, t + 2n, ... in order, each after the previous reply,
// so up to n batches are queued at once. Every reply must be a 200 for a new batch.
void send_concurrently(sync_env& env, const std::vector<std::vector<json>>& stream, int senders) {
  std::vector<std::string> bodies;
  for (const auto& b : stream)
    bodies.push_back(ndjson(b));
  std::atomic<int> failures{0};
  std::string first_failure;
  std::mutex mu;
  std::vector<std::thread> threads;
  for (int t = 0; t < senders; ++t) {
    threads.emplace_back([&, t] {
      for (size_t i = t; i < bodies.size(); i += senders) {
        auto r = env.post(bodies[i], static_cast<int64_t>(i + 1));
        bool ok = r.status == 200 && json::parse(r.body)["duplicate"] == false;
        if (!ok && failures++ == 0) {
          std::lock_guard g(mu);
          first_failure = std::to_string(r.status) + " " + r.body;
        }
      }
    });
  }
  for (auto& th : threads)
    th.join();
  INFO(first_failure);
  REQUIRE(failures == 0);
}

sync_model model_of(const std::vector<std::vector<json>>& stream) {
  sync_model m;
  for (const auto& b : stream)
    m.apply(b);
  return m;
}

}  // namespace

TEST_CASE("pipeline: the next batch is staged on a second connection while one merges",
          "[sync][integration]") {
  const bool events = GENERATE(true, false);
  INFO("events " << events);
  sync_env env;
  env.prepare_database();
  env.events = events;
  sluice::sync::service svc(nullptr);
  svc.start(env.settings());
  // 16 batches over two collections; a field appears at batch 5 and amount widens from
  // bigint to numeric at batch 8: the stager must predict those columns, or step aside.
  auto stream = make_stream(16, 3'000, 2'000);
  send_concurrently(env, stream, 3);
  check_matches_model(env, model_of(stream), "stripe", events);
  auto st = svc.status()[0];
  INFO(st.dump());
  CHECK(st["stage_connection"] == true);
  CHECK(st["prestaged_batches"].get<int>() >= 4);
  CHECK(st["last_sequence"] == 16);
  // The stages are unlogged scratch tables: not the read role's to see.
  CHECK(env.app("select count(*) > 0 and bool_and(c.relpersistence = 'u') from pg_class c join "
                "pg_namespace n on n.oid = c.relnamespace where n.nspname = 'stripe' and "
                "c.relname like '\\_sync\\_stage\\_%'") == "t");
  CHECK(env.app("select bool_or(has_table_privilege('analyst', c.oid, 'select')) from pg_class c "
                "join pg_namespace n on n.oid = c.relnamespace where n.nspname = 'stripe' and "
                "c.relname like '\\_sync\\_stage\\_%'") == "f");
  CHECK(env.app("select has_table_privilege('analyst', 'stripe.customer', 'select')") == "t");
}

TEST_CASE("pipeline: the stage connection killed again and again mid-stream loses nothing",
          "[sync][integration]") {
  sync_env env;
  env.prepare_database();
  sluice::sync::service svc(nullptr);
  svc.start(env.settings());
  auto stream = make_stream(16, 3'000, 2'000, 7);
  std::atomic<bool> done{false};
  std::atomic<int> killed{0};
  std::thread killer([&] {
    while (!done) {
      auto n = env.app(
          "select count(pg_terminate_backend(pid)) from pg_stat_activity where "
          "application_name = 'sluice-sync-stage'");
      killed += std::stoi(n);
      std::this_thread::sleep_for(std::chrono::milliseconds(150));
    }
  });
  send_concurrently(env, stream, 3);
  done = true;
  killer.join();
  check_matches_model(env, model_of(stream), "stripe");
  // The stager reconnects at most once a minute: at least one stage connection died.
  CHECK(killed >= 1);
  CHECK(svc.status()[0]["last_sequence"] == 16);
  CHECK(svc.status()[0]["stopped"] == false);
}

TEST_CASE("pipeline: a table of another user named like a stage is left alone",
          "[sync][integration]") {
  sync_env env;
  env.prepare_database();
  env.app("create schema stripe authorization analyst");
  env.app("grant usage, create on schema stripe to sync_user");
  for (const char* t : {"_sync_stage_0_0", "_sync_stage_1_0"}) {
    env.app(std::string("create table stripe.") + t + " (note text)");
    env.app(std::string("insert into stripe.") + t + " values ('mine')");
    env.app(std::string("alter table stripe.") + t + " owner to analyst");
  }
  sluice::sync::service svc(nullptr);
  svc.start(env.settings());
  auto stream = make_stream(10, 2'000, 1'500, 3);
  send_concurrently(env, stream, 3);
  check_matches_model(env, model_of(stream), "stripe");
  for (const char* t : {"_sync_stage_0_0", "_sync_stage_1_0"}) {
    CHECK(env.app(std::string("select string_agg(note, ',') from stripe.") + t) == "mine");
    CHECK(env.app(std::string("select pg_get_userbyid(relowner) from pg_class where oid = "
                              "'stripe.") +
                  t + "'::regclass") == "analyst");
  }
  // The stager used the second collection's stages (_sync_stage_<slot>_1) meanwhile.
  CHECK(svc.status()[0]["stage_connection"] == true);
  CHECK(svc.status()[0]["prestaged_batches"].get<int>() >= 1);
}

TEST_CASE("pipeline: without the stage lock the writer stages on its own connection",
          "[sync][integration]") {
  sync_env env;
  env.prepare_database();
  // Another session (a stale instance, say) holds this sync's stage lock.
  sluice::sync::pg_conn holder({{"host", env.pg.socket_dir()},
                                {"port", std::to_string(env.pg.port())},
                                {"dbname", "app"},
                                {"user", pg_cluster::kSuperuser},
                                {"password", pg_cluster::password()}});
  holder.exec("select pg_advisory_lock(hashtext('sluice-sync-stage'), hashtext('acme'))");
  sluice::sync::service svc(nullptr);
  svc.start(env.settings());
  auto stream = make_stream(8, 2'000, 1'500, 5);
  send_concurrently(env, stream, 3);
  check_matches_model(env, model_of(stream), "stripe");
  auto st = svc.status()[0];
  CHECK(st["stage_connection"] == false);
  CHECK(st["prestaged_batches"] == 0);
}

namespace {

// `n` customers with a declared timestamptz field, all at `version`; `bad_at` >= 0 gives
// that one an unparsable timestamp (the database refuses it: SQLSTATE 22007).
std::string customers(int n, int64_t version, int bad_at = -1) {
  std::vector<json> rs;
  for (int i = 0; i < n; ++i) {
    std::string when = i == bad_at ? "not a time" : "2026-11-24T10:00:00Z";
    rs.push_back({{"collection", "customer"},
                  {"id", "cus_" + std::to_string(i)},
                  {"op", "upsert"},
                  {"version", version},
                  {"types", {{"created_at", "timestamptz"}}},
                  {"data", {{"name", "v" + std::to_string(version)}, {"created_at", when}}}});
  }
  return ndjson(rs);
}

// Posts `a` as `seq` and, 30 ms later (while `a` merges), `b` as `seq` + 1.
std::pair<sluice::sync::http_response, sluice::sync::http_response> post_pair(sync_env& env,
                                                                              const std::string& a,
                                                                              const std::string& b,
                                                                              int64_t seq) {
  sluice::sync::http_response ra, rb;
  std::thread ta([&] { ra = env.post(a, seq); });
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  std::thread tb([&] { rb = env.post(b, seq + 1); });
  ta.join();
  tb.join();
  return {ra, rb};
}

}  // namespace

TEST_CASE("pipeline: a value the database refuses in the next batch keeps the stager",
          "[sync][integration]") {
  sync_env env;
  env.prepare_database();
  sluice::sync::service svc(nullptr);
  svc.start(env.settings());
  const int n = 20'000;
  REQUIRE(env.post(customers(n, 1), 1).status == 200);  // first load
  REQUIRE(env.post(customers(n, 2), 2).status == 200);  // nothing queued behind it
  REQUIRE(svc.status()[0]["prestaged_batches"] == 0);
  // Batch 4 arrives while batch 3 merges: the stager COPYs it, and the database refuses
  // the timestamp there first, then on the main connection.
  auto [r3, r4] = post_pair(env, customers(n, 3), customers(n, 4, 17), 3);
  REQUIRE(r3.status == 200);
  INFO(r4.body);
  // The record is quarantined (_sync_rejected), the rest of batch 4 commits.
  REQUIRE(r4.status == 200);
  CHECK(json::parse(r4.body)["rejected"] == 1);
  CHECK(json::parse(r4.body)["rejected_records"][0]["sqlstate"] == "22007");
  CHECK(json::parse(r4.body)["rejected_records"][0]["id"] == "cus_17");
  // The stage connection is still there: the next pair is prestaged.
  auto [r4b, r5] = post_pair(env, customers(n, 5), customers(n, 6), 5);
  REQUIRE(r4b.status == 200);
  REQUIRE(r5.status == 200);
  auto st = svc.status()[0];
  INFO(st.dump());
  CHECK(st["stage_connection"] == true);
  CHECK(st["prestaged_batches"].get<int>() >= 1);
  CHECK(st["stopped"] == false);
  CHECK(env.app("select count(*) filter (where _sync_version = 6) from stripe.customer") ==
        std::to_string(n));
}

TEST_CASE(
    "pipeline: stages stay hidden from the read role across a reconnect and are "
    "never taken for another user's table",
    "[sync][integration]") {
  sync_env env;
  env.prepare_database();
  sluice::sync::service svc(nullptr);
  svc.start(env.settings());
  const int n = 20'000;
  REQUIRE(env.post(customers(n, 1), 1).status == 200);
  REQUIRE(env.post(customers(n, 2), 2).status == 200);
  int64_t seq = 3, version = 3;
  auto pair = [&] {
    auto [ra, rb] = post_pair(env, customers(n, version), customers(n, version + 1), seq);
    REQUIRE(ra.status == 200);
    REQUIRE(rb.status == 200);
    seq += 2;
    version += 2;
  };
  pair();
  pair();
  REQUIRE(svc.status()[0]["prestaged_batches"].get<int>() >= 1);
  const std::string stages =
      "from pg_class c join pg_namespace n on n.oid = c.relnamespace where n.nspname = "
      "'stripe' and c.relname like '\\_sync\\_stage\\_%'";
  REQUIRE(env.app("select count(*) " + stages) != "0");
  // The main connection drops; the writer reconnects and runs its setup (grants) again.
  env.app(
      "select pg_terminate_backend(pid) from pg_stat_activity where application_name = "
      "'sluice-sync/acme'");
  // One batch alone, so that no fill recreates the stages before they are looked at.
  REQUIRE(env.post(customers(n, version), seq).status == 200);
  ++seq;
  ++version;
  CHECK(env.app("select bool_or(has_table_privilege('analyst', c.oid, 'select')) " + stages) ==
        "f");
  pair();  // one fill per pair, alternating slots: the new stager now knows both
  pair();
  // A superuser replaces one of sluice's stages with a table of their own.
  auto taken = env.app("select min(c.relname) " + stages);
  env.app("drop table stripe." + taken);
  env.app("create table stripe." + taken + " (note text)");
  env.app("insert into stripe." + taken + " values ('mine')");
  pair();
  pair();
  CHECK(env.app("select string_agg(note, ',') from stripe." + taken) == "mine");
  auto st = svc.status()[0];
  INFO(st.dump());
  CHECK(st["stage_connection"] == true);
  CHECK(st["stopped"] == false);
  CHECK(env.app("select count(*) filter (where _sync_version = " + std::to_string(version - 1) +
                ") from stripe.customer") == std::to_string(n));
}
