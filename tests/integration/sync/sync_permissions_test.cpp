// Databases prepared the way customers really prepare them (ssl=on, scram-sha-256): a
// CIS-hardened database without PUBLIC's TEMPORARY, the writer's tables re-owned by a
// DBA, a schema someone else owns, a reader account that is gone. verify must name
// each problem with the exact SQL that fixes it, and readers must never block data.
#include <catch2/catch.hpp>
#include <set>
#include <sstream>

#include "sync/service.hpp"
#include "sync_fixture.hpp"

using namespace sluice::test;
using json = nlohmann::json;

namespace {

struct verify_out {
  run_result r;
  std::set<std::string> failed, warned;
  std::vector<std::string> fixes;  // of failed and warned lines
};

verify_out verify(const std::string& cfg) {
  verify_out v;
  v.r = run(std::string(kSluiceBin) + " sync verify acme -c " + cfg);
  std::istringstream in(v.r.output);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("[FAIL] ", 0) == 0)
      v.failed.insert(line.substr(7, line.find(" (") - 7));
    if (line.rfind("[warn] ", 0) == 0)
      v.warned.insert(line.substr(7, line.find(" (") - 7));
    auto f = line.find("fix: ");
    if (f != std::string::npos && line.find("-- ") == std::string::npos)
      v.fixes.push_back(line.substr(f + 5));
  }
  return v;
}

}  // namespace

TEST_CASE("permissions: a CIS-hardened database without PUBLIC's TEMPORARY",
          "[sync][integration][permissions]") {
  tls_database tls;
  sync_env env(tls.opts());
  env.sslmode = "require";
  env.pg.sql("create database app");
  env.app("revoke temporary on database app from public");
  env.pg.sql(std::string("create user sync_user with encrypted password '") + kSyncPassword + "'");
  env.pg.sql("grant connect, create on database app to sync_user");  // no TEMPORARY
  env.pg.sql("create role sync_read with admin sync_user");
  env.pg.sql("create user analyst with encrypted password 'analyst-pw'");
  auto cfg = env.config_path();

  auto v = verify(cfg);
  INFO(v.r.output);
  CHECK(v.r.exit_code == 1);
  REQUIRE(v.failed.count("TEMPORARY on database app"));
  REQUIRE(std::find(v.fixes.begin(), v.fixes.end(),
                    "grant temporary on database \"app\" to \"sync_user\";") != v.fixes.end());

  // Without the grant, the first merge stops the sync with that same grant as the fix,
  // not one for privileges the user already holds.
  auto svc = std::make_unique<sluice::sync::service>(nullptr);
  svc->start(env.settings());
  auto stopped = env.post(ndjson({upsert("customer", "c1", 1, {{"name", "a"}})}), 1);
  INFO(stopped.body);
  CHECK(stopped.status == 500);
  CHECK(stopped.body.find("grant temporary on database \\\"app\\\" to \\\"sync_user\\\";") !=
        std::string::npos);
  CHECK(stopped.body.find("grant connect, create on database") == std::string::npos);

  for (const auto& f : v.fixes)
    env.app(f);
  auto again = verify(cfg);
  INFO(again.r.output);
  CHECK(again.r.exit_code == 0);
  svc->apply(env.settings());
  auto ok = env.post(ndjson({upsert("customer", "c1", 1, {{"name", "a"}})}), 1);
  INFO(ok.body);
  CHECK(ok.status == 200);
  CHECK(env.app("select name from stripe.customer") == "a");
}

TEST_CASE("permissions: the writer's own tables re-owned by a DBA",
          "[sync][integration][permissions]") {
  tls_database tls;
  sync_env env(tls.opts());
  env.sslmode = "require";
  env.prepare_database();
  auto cfg = env.config_path();
  REQUIRE(run(std::string(kSluiceBin) + " sync setup acme -c " + cfg).exit_code == 0);
  auto svc = std::make_unique<sluice::sync::service>(nullptr);
  svc->start(env.settings());
  REQUIRE(env.post(ndjson({upsert("customer", "c1", 1, {{"name", "a"}})}), 1).status == 200);

  // A DBA takes ownership, as runbooks suggest ("alter table ... owner to current_user").
  env.app("alter table stripe._sync_event owner to postgres");
  env.app("alter table stripe.customer owner to postgres");

  auto stopped = env.post(ndjson({upsert("customer", "c1", 2, {{"name", "b"}})}), 2);
  INFO(stopped.body);
  CHECK(stopped.status == 500);
  CHECK(stopped.body.find("move or rename") == std::string::npos);
  CHECK(stopped.body.find("fix: grant select, insert, update, delete on \\\"stripe\\\".") !=
        std::string::npos);

  auto v = verify(cfg);
  INFO(v.r.output);
  CHECK(v.r.exit_code == 1);
  CHECK(v.failed.count("privileges on stripe._sync_event"));
  CHECK(v.failed.count("privileges on stripe.customer"));
  CHECK(v.failed.count("USAGE on sequence stripe._sync_event_id_seq"));
  for (int round = 0; round < 3 && v.r.exit_code != 0; ++round) {
    for (const auto& f : v.fixes) {
      if (f.rfind("alter table", 0) != 0)  // keep the DBA's ownership: grants only
        env.app(f);
    }
    v = verify(cfg);
  }
  INFO(v.r.output);
  REQUIRE(v.r.exit_code == 0);
  // Rows flow with the grants; only new columns need the ownership back (a warning).
  CHECK(v.warned.count("privileges on stripe.customer"));
  svc->apply(env.settings());
  auto ok = env.post(ndjson({upsert("customer", "c1", 2, {{"name", "b"}})}), 2);
  INFO(ok.body);
  REQUIRE(ok.status == 200);
  CHECK(env.app("select name from stripe.customer") == "b");
  CHECK(env.app("select count(*) from stripe._sync_event") == "2");

  auto new_field =
      env.post(ndjson({upsert("customer", "c1", 3, {{"name", "c"}, {"email", "e"}})}), 3);
  INFO(new_field.body);
  CHECK(new_field.status == 500);
  CHECK(new_field.body.find("fix: alter table \\\"stripe\\\".\\\"customer\\\" owner to "
                            "\\\"sync_user\\\";") != std::string::npos);
}

TEST_CASE("permissions: an existing schema owned by someone else and the read role",
          "[sync][integration][permissions]") {
  tls_database tls;
  sync_env env(tls.opts());
  env.sslmode = "require";
  env.prepare_database();
  env.app("create schema stripe");  // the DBA's, as many customers do
  env.app("grant usage, create on schema stripe to sync_user");
  auto cfg = env.config_path();

  auto v = verify(cfg);
  INFO(v.r.output);
  CHECK(v.r.exit_code == 0);  // readers are a convenience: a warning, not a failure
  REQUIRE(v.warned.count("read role sync_read has USAGE on schema stripe"));
  CHECK(std::find(v.fixes.begin(), v.fixes.end(),
                  "grant usage on schema \"stripe\" to \"sync_read\";") != v.fixes.end());

  auto setup = run(std::string(kSluiceBin) + " sync setup acme -c " + cfg);
  INFO(setup.output);
  REQUIRE(setup.exit_code == 0);
  CHECK(setup.output.find("can read it") == std::string::npos);
  CHECK(setup.output.find("grant usage on schema \"stripe\" to \"sync_read\";") !=
        std::string::npos);
  CHECK(env.pg.psql("set role analyst; select count(*) from stripe._sync_event", "app").exit_code !=
        0);

  env.app("grant usage on schema stripe to sync_read");
  CHECK(verify(cfg).warned.count("read role sync_read has USAGE on schema stripe") == 0);
  CHECK(env.app("set role analyst; select count(*) from stripe._sync_event") == "0");
}

TEST_CASE("permissions: grant_to is best effort and granted once",
          "[sync][integration][permissions]") {
  tls_database tls;
  sync_env env(tls.opts());
  env.sslmode = "require";
  env.prepare_database();
  env.pg.sql("create user bob with encrypted password 'bob-pw'");
  env.pg.sql("grant sync_read to bob");    // a member before sluice ever ran
  env.grant_to = "[analyst, ghost, bob]";  // ghost: a typo, or an account dropped later
  auto cfg = env.config_path();

  auto v = verify(cfg);
  INFO(v.r.output);
  CHECK(v.r.exit_code == 0);
  CHECK(v.warned.count("read_role.grant_to user ghost exists"));
  auto setup = run(std::string(kSluiceBin) + " sync setup acme -c " + cfg);
  INFO(setup.output);
  REQUIRE(setup.exit_code == 0);
  CHECK(setup.output.find("ghost") != std::string::npos);

  // The writer connects and batches flow, with the problem in its status.
  auto svc = std::make_unique<sluice::sync::service>(nullptr);
  svc->start(env.settings());
  auto r1 = env.post(ndjson({upsert("customer", "c1", 1, {{"name", "a"}})}), 1);
  INFO(r1.body);
  REQUIRE(r1.status == 200);
  auto st = env.status();
  INFO(st.dump());
  REQUIRE(st["read_role_problems"].size() == 1);
  CHECK(st["read_role_problems"][0]["problem"].get<std::string>().find("ghost") !=
        std::string::npos);
  CHECK(env.app("select pg_has_role('analyst', 'sync_read', 'MEMBER')") == "t");

  // A manual revoke is respected on the next reconnect.
  env.app("revoke sync_read from analyst");
  svc->apply(env.settings());
  REQUIRE(env.post(ndjson({upsert("customer", "c2", 1, {{"name", "b"}})}), 2).status == 200);
  CHECK(env.app("select pg_has_role('analyst', 'sync_read', 'MEMBER')") == "f");

  // ghost appears: granted at the next connection.
  env.pg.sql("create user ghost with encrypted password 'ghost-pw'");
  svc->apply(env.settings());
  REQUIRE(env.post(ndjson({upsert("customer", "c3", 1, {{"name", "c"}})}), 3).status == 200);
  CHECK(env.app("select pg_has_role('ghost', 'sync_read', 'MEMBER')") == "t");
  CHECK(env.status()["read_role_problems"].empty());

  // Removed from grant_to: sluice revokes what it granted (ghost), not what it found (bob).
  env.grant_to = "[analyst]";
  svc->apply(env.settings());
  REQUIRE(env.post(ndjson({upsert("customer", "c4", 1, {{"name", "d"}})}), 4).status == 200);
  CHECK(env.app("select pg_has_role('ghost', 'sync_read', 'MEMBER')") == "f");
  CHECK(env.app("select pg_has_role('bob', 'sync_read', 'MEMBER')") == "t");

  // An account dropped while listed: reconnects keep working.
  env.pg.sql("drop owned by analyst; drop user analyst");
  svc->apply(env.settings());
  REQUIRE(env.post(ndjson({upsert("customer", "c5", 1, {{"name", "e"}})}), 5).status == 200);
}

TEST_CASE(
    "permissions: a missing sync user gets create user, an unreachable database "
    "points at the doctor",
    "[sync][integration][permissions]") {
  tls_database tls;
  sync_env env(tls.opts());
  env.sslmode = "require";
  env.pg.sql("create database app");
  env.pg.sql("create role sync_read");
  auto cfg = env.config_path();

  auto v = verify(cfg);
  INFO(v.r.output);
  CHECK(v.r.exit_code == 1);
  REQUIRE(!v.fixes.empty());
  CHECK(v.fixes[0].rfind("create user \"sync_user\" with encrypted password", 0) == 0);
  env.pg.sql(std::string("create user sync_user with encrypted password '") + kSyncPassword + "'");
  auto after = verify(cfg);
  INFO(after.r.output);
  CHECK(after.failed.count("connect to database app as sync_user") == 0);

  // Nothing listens on the port: no SQL fixes that; the doctor walks each stage.
  auto port = free_port();
  auto text = read_file(cfg);
  auto at = text.find("port: " + std::to_string(env.pg.port()));
  REQUIRE(at != std::string::npos);
  text.replace(at, 6 + std::to_string(env.pg.port()).size(), "port: " + std::to_string(port));
  auto cfg2 = env.dir.write("down.yaml", text, 0600);
  auto d = verify(cfg2);
  INFO(d.r.output);
  CHECK(d.r.exit_code == 1);
  CHECK(d.r.output.find("sluice doctor sync acme") != std::string::npos);
  CHECK(d.r.output.find("run each fix as a superuser") == std::string::npos);
}
