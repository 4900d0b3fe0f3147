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
                                {"user", pg_cluster::kSuperuser}});
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
