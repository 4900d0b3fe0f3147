#include <sched.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <map>
#include <thread>

#include "sync/pg_conn.hpp"
#include "sync/service.hpp"
#include "sync_fixture.hpp"

using namespace sluice::test;
using json = nlohmann::json;

namespace {

std::string one(int64_t v) {
  return ndjson({{{"collection", "customer"},
                  {"id", "c1"},
                  {"op", "upsert"},
                  {"version", v},
                  {"data", {{"n", v}}}}});
}

// Scheduling policy of each of this process's threads, by thread name (from /proc).
std::multimap<std::string, int> thread_policies() {
  std::multimap<std::string, int> out;
  for (const auto& e : std::filesystem::directory_iterator("/proc/self/task")) {
    std::ifstream comm(e.path() / "comm");
    std::string name;
    std::getline(comm, name);
    auto f = proc_stat_fields(e.path() / "stat");
    if (f.count(41))  // policy; missing when the thread ended while we read
      out.emplace(name, std::stoi(f[41]));
  }
  return out;
}

}  // namespace

TEST_CASE(
    "ingest writer and verify threads are named and run as SCHED_BATCH but the caller does not",
    "[sync][integration]") {
  sync_env env;
  env.prepare_database();
  auto before = thread_policies();
  CHECK(before.count("sluice-ingest") == 0);
  sluice::sync::service svc(nullptr);
  svc.start(env.settings());
  REQUIRE(env.post(one(1), 1).status == 200);
  // Ask for a verify too: its thread starts from an ingest thread.
  sluice::sync::http_target t;
  t.port = static_cast<uint16_t>(env.ingest_port);
  REQUIRE(sluice::sync::http_request(t, "GET", "/v1/syncs/acme/verify", kToken, "").status == 200);
  auto after = thread_policies();
  CHECK(after.count("sluice-ingest") == 2);
  CHECK(after.count("sluice-sync") == 1);
  for (const auto& [name, policy] : after) {
    INFO(name);
    if (name.rfind("sluice-", 0) == 0)  // ingest, sync and a verify still finishing
      CHECK(policy == SCHED_BATCH);
    else
      CHECK(policy == SCHED_OTHER);
  }
  CHECK(sched_getscheduler(0) == SCHED_OTHER);
}

TEST_CASE("ingest: HTTPS with the configured certificate, and the allowlist",
          "[sync][integration]") {
  sync_env env;
  env.prepare_database();
  test_pki pki(env.dir.path());
  env.ingest_extra =
      "  tls: {cert: " + pki.server_cert + ", key: " + pki.server_key + "}\n  allow: [workers]\n";
  env.top_extra = "allowlists:\n  workers: [127.0.0.1/32]\n";
  sluice::sync::service svc(nullptr);
  svc.start(env.settings());
  sluice::sync::http_target t;
  t.port = static_cast<uint16_t>(env.ingest_port);
  t.tls = true;
  t.ca = pki.ca_cert;
  auto r =
      sluice::sync::http_request(t, "POST", "/v1/syncs/acme/batches?sequence=1", kToken, one(1));
  INFO(r.body);
  CHECK(r.status == 200);
  // Plain HTTP to the TLS listener gets no answer.
  CHECK_THROWS(env.post(one(2), 2));
  // 127.0.0.2 is not in the allowlist: the connection is closed unanswered.
  t.local_address = "127.0.0.2";
  CHECK_THROWS(
      sluice::sync::http_request(t, "POST", "/v1/syncs/acme/batches?sequence=2", kToken, one(2)));
  CHECK(env.app("select _sync_version from stripe.customer") == "1");
}

TEST_CASE(
    "ingest: a full queue answers 429 with Retry-After, nothing is acknowledged before "
    "COMMIT",
    "[sync][integration]") {
  sync_env env;
  env.prepare_database();
  env.queue_depth = 1;
  sluice::sync::service svc(nullptr);
  svc.start(env.settings());
  REQUIRE(env.post(one(1), 1).status == 200);
  // Hold the cursor row: the writer blocks inside batch 2's transaction.
  sluice::sync::pg_conn su({{"host", env.pg.socket_dir()},
                            {"port", std::to_string(env.pg.port())},
                            {"dbname", "app"},
                            {"user", "postgres"},
                            {"password", pg_cluster::password()}});
  su.exec("begin");
  su.exec("lock table stripe._sync_state in access exclusive mode");
  std::atomic<int> s2{0}, s3{0};
  std::thread t2([&] { s2 = env.post(one(2), 2).status; });
  REQUIRE(eventually([&] { return svc.status()[0]["queued"] == 0; }, std::chrono::seconds(5)));
  run("sleep 0.5");  // batch 2 is now inside the writer
  std::thread t3([&] { s3 = env.post(one(3), 3).status; });
  REQUIRE(eventually([&] { return svc.status()[0]["queued"] == 1; }, std::chrono::seconds(5)));
  auto full = env.post(one(4), 4);
  CHECK(full.status == 429);
  CHECK(full.retry_after == "1");
  CHECK(s2 == 0);  // not acknowledged while uncommitted
  su.exec("commit");
  t2.join();
  t3.join();
  CHECK(s2 == 200);
  CHECK(s3 == 200);
  CHECK(env.app("select _sync_version from stripe.customer") == "3");
}

TEST_CASE("sync push and sync status go through the ingest API with the sync's token",
          "[sync][integration]") {
  sync_env env;
  env.prepare_database();
  auto cfg = env.config_path();
  sluice::sync::service svc(nullptr);
  svc.start(env.settings());
  auto file = env.dir.write("batch.ndjson", "{\"sequence\": 1}\n" + one(1));
  auto r = run(std::string(kSluiceBin) + " sync push acme " + file + " -c " + cfg);
  INFO(r.output);
  CHECK(r.exit_code == 0);
  CHECK(r.output.find("\"applied\":1") != std::string::npos);
  auto again = run(std::string(kSluiceBin) + " sync push acme " + file + " -c " + cfg);
  CHECK(again.exit_code == 0);
  CHECK(again.output.find("\"duplicate\":true") != std::string::npos);
  auto array = env.dir.write("batch.json", "[" + one(2).substr(0, one(2).size() - 1) + "]");
  auto r2 = run(std::string(kSluiceBin) + " sync push acme " + array + " --sequence 2 -c " + cfg);
  CHECK(r2.exit_code == 0);
  auto st = run(std::string(kSluiceBin) + " sync status acme -c " + cfg);
  CHECK(st.exit_code == 0);
  CHECK(json::parse(st.output)["last_sequence"] == 2);
}
