// auth.mode: terminate (issue 18) with real clients: PostgreSQL 15 (ssl = on,
// scram-sha-256, md5 for one user), a TLS-terminating listener with client_tls: optional,
// routes to the database over TLS (require, verify-full) and plaintext, secrets from the
// auth query and from an auth_file. And the passthrough downgrade, now loud.
#include "tests/integration/clients/terminate_fixture.hpp"

using namespace sluice::test;
using namespace sluice::test::clients;

TEST_CASE("terminate: psql with libpq defaults gets TLS on both legs, the real user",
          "[clients][terminate]") {
  terminate_env e;
  for (const char* db : {"q_require", "q_full"}) {
    auto r = e.sql(db, "alice", kAlicePw, kWhoAmI);
    INFO(db << "\n" << r.output << "\n" << e.gw().log());
    CHECK(r.exit_code == 0);
    CHECK(r.output == "alice|t\n");
  }
  e.check_log_has({"client_mechanism=SCRAM-SHA-256-PLUS", "server_mechanism=SCRAM-SHA-256-PLUS"});
  // The session line is written when the session closes, maybe just after psql exited.
  CHECK(eventually(
      [&] {
        return has(e.gw().log(),
                   "route=q_full user=alice database=q_full client_tls=true upstream_tls=true");
      },
      std::chrono::seconds(5)));
  // A query, a prepared statement, COPY in and out, through the main cell.
  const auto script = e.dir().write("copy.sql",
                                    "create temp table t(a int);\n"
                                    "copy t from stdin;\n1\n2\n\\.\n"
                                    "copy (select a * 10 from t order by a) to stdout;\n"
                                    "prepare p(int) as select $1 + 1;\nexecute p(41);\n",
                                    0600);
  auto r = run("PGPASSWORD=" + shell_quote(kAlicePw) + " psql -XAt -v ON_ERROR_STOP=1 " +
                   shell_quote(e.conninfo("q_require", "alice")) + " -f " + shell_quote(script),
               std::chrono::seconds(30));
  INFO(r.output);
  CHECK(r.exit_code == 0);
  CHECK(has(r.output, "10\n20\n"));
  CHECK(has(r.output, "42\n"));
  // The extended protocol's prepared statements: pgbench -M prepared.
  const auto bench = e.dir().write("bench.sql", "select :client_id + 1;\n", 0600);
  auto pb = run("PGPASSWORD=" + shell_quote(kAlicePw) + " pgbench -n -M prepared -t 20 -c 2 -f " +
                    shell_quote(bench) + " " + shell_quote(e.conninfo("q_require", "alice")),
                std::chrono::seconds(60));
  INFO(pb.output);
  CHECK(pb.exit_code == 0);
  CHECK(has(pb.output, "number of transactions actually processed: 40/40"));
}

TEST_CASE("terminate: sslmode require, verify-full and channel_binding=require work",
          "[clients][terminate]") {
  terminate_env e;
  for (const std::string& extra :
       {std::string("sslmode=require"), e.verify_full(),
        e.verify_full() + " channel_binding=require", std::string("sslmode=disable")}) {
    for (const char* db : {"q_require", "q_full", "q_disable"}) {
      auto r = e.sql(db, "alice", kAlicePw, kWhoAmI, extra);
      INFO(db << " " << extra << "\n" << r.output << "\n" << e.gw().log());
      CHECK(r.exit_code == 0);
      CHECK(r.output ==
            std::string("alice|") + (std::string(db) == "q_disable" ? "f" : "t") + "\n");
    }
  }
  CHECK(has(e.gw().log(), "client_tls=false upstream_tls=true"));  // the sslmode=disable client
}

TEST_CASE("terminate: md5 user and the auth_file source", "[clients][terminate]") {
  terminate_env e;
  auto md5 = e.sql("q_require", "bob", kBobPw, "select current_user");
  INFO(md5.output << e.gw().log());
  CHECK(md5.output == "bob\n");
  CHECK(has(e.gw().log(), "client_mechanism=md5 server_mechanism=md5 secret_source=query"));
  for (const char* user : {"alice", "bob"}) {
    auto r = e.sql("f_require", user, std::string(user) == "alice" ? kAlicePw : kBobPw, kWhoAmI);
    INFO(user << r.output << e.gw().log());
    CHECK(r.output == std::string(user) + "|t\n");
  }
  CHECK(has(e.gw().log(), "secret_source=file"));
}

TEST_CASE("terminate: refusals look like PostgreSQL's, and say why in sluice's log",
          "[clients][terminate]") {
  terminate_env e;
  auto wrong = e.sql("q_require", "alice", "nope", "select 1");
  CHECK(wrong.exit_code != 0);
  CHECK(has(wrong.output, "password authentication failed for user \"alice\""));
  auto unknown = e.sql("q_require", "nobody", "nope", "select 1");
  CHECK(has(unknown.output, "password authentication failed for user \"nobody\""));
  auto expired = e.sql("q_require", "old", "old-pw", "select 1");
  CHECK(has(expired.output, "password authentication failed for user \"old\""));
  auto nologin = e.sql("q_require", "nologin_user", "nl-pw", "select 1");
  CHECK(has(nologin.output, "role \"nologin_user\" is not permitted to log in"));
  e.check_log_has(
      {"reason=auth_failed", "no such user (mock exchange)", "has an expired password"});
}

TEST_CASE("terminate: a changed password works at once after the failed attempt",
          "[clients][terminate]") {
  terminate_env e;
  CHECK(e.sql("q_require", "alice", kAlicePw, "select 1").output == "1\n");  // cached now
  e.pg().sql("alter role alice password 'new-pw'");
  auto first = e.sql("q_require", "alice", "new-pw", "select 1");
  auto second = e.sql("q_require", "alice", "new-pw", "select current_user");
  INFO(first.output << second.output << e.gw().log());
  CHECK(second.output == "alice\n");
  CHECK(e.sql("q_require", "alice", kAlicePw, "select 1").exit_code != 0);
}

TEST_CASE("terminate: auth query problems are clear and quick", "[clients][terminate]") {
  terminate_env e;
  auto weak = e.sql("weak_db", "alice", kAlicePw, "select 1");
  INFO(weak.output << e.gw().log());
  CHECK(weak.exit_code != 0);
  CHECK(has(weak.output, "permission denied for table pg_authid"));
  CHECK(has(weak.output, "SECURITY DEFINER function of docs/security.md"));
  const auto t0 = clock::now();
  auto down = e.sql("down", "alice", kAlicePw, "select 1");
  CHECK(down.exit_code != 0);
  CHECK(has(down.output, "auth query cannot reach the database"));
  CHECK(ms_since(t0) < 8000);
  CHECK(has(e.gw().log(), "reason=auth_lookup_failed"));
}

TEST_CASE("terminate: psycopg2 with libpq defaults", "[clients][terminate][psycopg]") {
  terminate_env e;
  auto r = run("PGPASSWORD=" + shell_quote(kAlicePw) + " /usr/bin/python3 " +
                   shell_quote(kClientsDir + "/psycopg_client.py") + " " +
                   shell_quote(e.conninfo("q_require", "alice")) + " t",
               std::chrono::seconds(90));
  INFO(r.output << "\n" << e.gw().log());
  check_driver_steps(r);
}

TEST_CASE("passthrough: the downgrade is warned about and the refused login is logged",
          "[clients][terminate][passthrough]") {
  terminate_env e;
  auto check =
      run(std::string(kSluiceBin) + " check-config -c " + shell_quote(e.gw().config_path()),
          std::chrono::seconds(20));
  INFO(check.output);
  CHECK(has(check.output, "TLS downgrade: listener 'pg'"));
  CHECK(has(check.output, "route 'pt'"));
  CHECK_FALSE(has(check.output, "route 'q_require'"));
  // libpq's defaults: the TLS attempt is refused (channel binding), then plaintext works.
  auto r = e.sql("pt", "alice", kAlicePw, kWhoAmI);
  INFO(r.output << e.gw().log());
  CHECK(r.output == "alice|t\n");
  e.check_log_has({"auth_failed", "channel binding negotiation error", "reason=auth_failed",
                   "client_tls=false upstream_tls=true"});
}

TEST_CASE("terminate: a reload that changes where secrets come from drops the cached ones",
          "[clients][terminate][reload]") {
  terminate_env e;
  // Cached from the auth query (cache_ttl 60s).
  REQUIRE(e.sql("q_require", "alice", kAlicePw, "select 1").output == "1\n");
  // A new password, and the route now takes secrets from a file that has it.
  e.pg().sql("alter role alice password 'new-pw'");
  const auto file = e.dir().write("new-users.txt", "\"alice\" \"new-pw\"\n", 0600);
  auto yaml = e.yaml();
  auto at = yaml.find("auth: ", yaml.find("name: q_require\n"));
  yaml.replace(at, yaml.find('\n', at) - at, "auth: {mode: terminate, file: " + file + "}");
  e.gw().rewrite(yaml);
  e.gw().reload();
  REQUIRE(has(e.gw().log(), "reload_done"));
  // The first attempt uses the file: the answer cached from the query is not used.
  // (sslmode=require: libpq's prefer would retry a failed login without TLS.)
  auto r = e.sql("q_require", "alice", "new-pw", "select current_user", "sslmode=require");
  INFO(r.output << e.gw().log());
  CHECK(r.output == "alice\n");
  CHECK(has(e.gw().log(), "secret_source=file"));
}
