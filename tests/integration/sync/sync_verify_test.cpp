#include <catch2/catch.hpp>
#include <set>
#include <sstream>

#include "sync_fixture.hpp"

using namespace sluice::test;

namespace {

// Runs `sluice sync verify`; returns its output and fills the failed check names and
// their fixes.
run_result verify(const std::string& cfg, std::set<std::string>& failed,
                  std::vector<std::string>& fixes) {
  auto r = run(std::string(kSluiceBin) + " sync verify acme -c " + cfg);
  std::istringstream in(r.output);
  fixes.clear();
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("[FAIL] ", 0) == 0)
      failed.insert(line.substr(7, line.find(" (") - 7));
    auto f = line.find("fix: ");
    if (f != std::string::npos && line.find("-- ") == std::string::npos) {
      fixes.push_back(line.substr(f + 5));
    }
  }
  return r;
}

}  // namespace

TEST_CASE("verify: every wrong preparation is found and its printed fix makes it pass",
          "[sync][integration]") {
  sync_env env;
  // Everything wrong at once: no CONNECT (also revoked from PUBLIC), no CREATE, the
  // schema exists and belongs to someone else, no read role, no analyst user.
  env.pg.sql("create database app");
  env.pg.sql("revoke connect on database app from public");
  env.pg.sql(std::string("create user sync_user with encrypted password '") + kSyncPassword + "'");
  env.app("create schema stripe");
  auto cfg = env.config_path();

  std::set<std::string> failed;
  std::vector<std::string> fixes;
  run_result r;
  std::string every_round;  // the outputs of all rounds (warnings are fixed along the way)
  int rounds = 0;
  for (; rounds < 6; ++rounds) {
    r = verify(cfg, failed, fixes);
    every_round += r.output;
    INFO(r.output);
    if (r.exit_code == 0)
      break;
    REQUIRE(r.exit_code == 1);
    REQUIRE(!fixes.empty());  // every failure carries its fix
    for (const auto& f : fixes)
      env.app(f);
  }
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  CHECK(failed.count("connect to database app as sync_user"));
  CHECK(failed.count("CREATE on database app"));
  CHECK(failed.count("USAGE on schema stripe"));
  CHECK(failed.count("CREATE on schema stripe"));
  CHECK(failed.count("read role sync_read exists"));
  // A missing reader is a warning (readers never block data), with its fix.
  CHECK(every_round.find("[warn] read_role.grant_to user analyst exists") != std::string::npos);
  CHECK(every_round.find("fix: create user \"analyst\"") != std::string::npos);
  // An existing schema owned by someone else stays a warning, not a failure.
  CHECK(r.output.find("[warn] schema stripe already exists (owned by postgres") !=
        std::string::npos);
  CHECK(r.output.find("risks data loss") != std::string::npos);

  SECTION("a read role without ADMIN OPTION, and a missing CREATE on the database") {
    env.app("revoke sync_read from sync_user");
    env.app("grant sync_read to sync_user");  // member, but no admin option
    env.app("revoke create on database app from sync_user");
    failed.clear();
    for (rounds = 0; rounds < 4; ++rounds) {
      r = verify(cfg, failed, fixes);
      if (r.exit_code == 0)
        break;
      for (const auto& f : fixes)
        env.app(f);
    }
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
    CHECK(failed.count("sync_user holds sync_read WITH ADMIN OPTION"));
    CHECK(failed.count("CREATE on database app"));
  }
}

TEST_CASE("setup: creates the schema, is idempotent, and the read role can read",
          "[sync][integration]") {
  sync_env env;
  env.prepare_database();
  auto cfg = env.config_path();
  auto r1 = run(std::string(kSluiceBin) + " sync setup acme -c " + cfg);
  INFO(r1.output);
  REQUIRE(r1.exit_code == 0);
  const std::string snapshot_sql =
      "select string_agg(c.relname || ':' || coalesce(c.relacl::text, ''), ',' order by "
      "c.relname) || '|' || (select coalesce(nspacl::text, '') from pg_namespace where nspname "
      "= 'stripe') || '|' || (select count(*) from pg_default_acl) || '|' || (select count(*) "
      "from pg_auth_members) from pg_class c join pg_namespace n on n.oid = c.relnamespace "
      "where n.nspname = 'stripe'";
  auto before = env.app(snapshot_sql);
  auto r2 = run(std::string(kSluiceBin) + " sync setup acme -c " + cfg);
  REQUIRE(r2.exit_code == 0);
  CHECK(env.app(snapshot_sql) == before);
  CHECK(env.app("select count(*) from pg_tables where schemaname = 'stripe' and tablename in "
                "('_sync_state', '_sync_event', '_sync_deleted')") == "3");
  CHECK(env.app("select pg_has_role('analyst', 'sync_read', 'MEMBER')") == "t");
  CHECK(env.app("set role analyst; select count(*) from stripe._sync_event") == "0");
}
