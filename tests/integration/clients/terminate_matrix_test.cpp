// The auth.mode: terminate client matrix (issue 18): each client (psql, psycopg2, asyncpg,
// pgjdbc, node-postgres) x secret source {auth query, auth_file} x upstream sslmode
// {disable, require, verify-full} x {SCRAM user alice, md5 user bob}. Each cell connects,
// queries, runs a prepared statement, COPY in and out, LISTEN/NOTIFY and a cancel; then the
// cell checks that the client leg was TLS (sluice's session line), the upstream leg was TLS
// exactly when the route asks for it (pg_stat_ssl, checked by the client) and that the
// database saw the real user (current_user, checked by the client).
// One TEST_CASE per client, each with its own cluster and gateway, so CTest runs them in
// parallel.
#include "tests/integration/clients/terminate_fixture.hpp"
#include "tests/support/paths.hpp"

using namespace sluice::test;
using namespace sluice::test::clients;

namespace {

struct cell {
  std::string db;  // the route: q_* (auth query) or f_* (auth_file)
  std::string user;
  std::string password;
  bool upstream_tls;
  std::string name() const { return db + "/" + user; }
};

std::vector<cell> all_cells() {
  std::vector<cell> cells;
  for (const char* source : {"q_", "f_"}) {
    for (const char* sslmode : {"disable", "require", "full"}) {
      for (const char* user : {"alice", "bob"}) {
        cells.push_back({std::string(source) + sslmode, user,
                         std::string(user) == "alice" ? kAlicePw : kBobPw,
                         std::string(sslmode) != "disable"});
      }
    }
  }
  return cells;
}

// The session line sluice writes when the cell's connections close.
void check_legs(terminate_env& e, const cell& c) {
  const std::string line = "route=" + c.db + " user=" + c.user + " database=" + c.db +
                           " client_tls=true upstream_tls=" + (c.upstream_tls ? "true" : "false");
  CHECK(eventually([&] { return has(e.gw().log(), line); }, std::chrono::seconds(5)));
  CHECK_FALSE(has(e.gw().log(),
                  "route=" + c.db + " user=" + c.user + " database=" + c.db + " client_tls=false"));
}

template <typename Client>
void run_matrix(const char* client, Client&& run_cell) {
  terminate_env e;
  for (const auto& c : all_cells()) {
    auto r = run_cell(e, c);
    INFO(client << " cell " << c.name() << "\n" << r.output << "\n" << e.gw().log());
    check_driver_steps(r);
    check_legs(e, c);
  }
  CHECK(has(e.gw().log(), "client_mechanism=md5 server_mechanism=md5"));
}

std::string pw_env(const cell& c) {
  return "PGPASSWORD=" + shell_quote(c.password) + " ";
}

}  // namespace

TEST_CASE("terminate matrix: psql", "[clients][terminate][matrix][psql]") {
  run_matrix("psql", [](terminate_env& e, const cell& c) {
    // alice with libpq's defaults (prefer / prefer), bob with verify-full.
    const auto conninfo = e.conninfo(c.db, c.user, c.user == "alice" ? "" : e.verify_full());
    const auto script =
        e.dir().write("psql-" + c.db + "-" + c.user + ".sql",
                      "select current_user = '" + c.user +
                          "' and s.ssl = " + (c.upstream_tls ? "true" : "false") +
                          " from pg_stat_ssl s where pid = pg_backend_pid();\n"
                          "\\echo ok query\n"
                          "prepare p(int) as select $1 + 1;\nexecute p(41);\n\\echo ok prepared\n"
                          "create temp table t(a int);\ncopy t from stdin;\n1\n2\n\\.\n"
                          "copy (select a * 10 from t order by a) to stdout;\n\\echo ok copy\n"
                          "listen ch;\nnotify ch, 'p';\n\\echo ok notify\n",
                      0600);
    auto r = run(pw_env(c) + "psql -XAt -v ON_ERROR_STOP=1 " + shell_quote(conninfo) + " -f " +
                     shell_quote(script),
                 std::chrono::seconds(30));
    const bool steps_ok = r.exit_code == 0 && has(r.output, "t\nok query\n") &&
                          has(r.output, "42\nok prepared\n") &&
                          has(r.output, "10\n20\nok copy\n") &&
                          has(r.output, "Asynchronous notification \"ch\" with payload \"p\"");
    // psql sends a CancelRequest on SIGINT.
    auto cancel = run("timeout -s INT 1.5 env " + pw_env(c) + "psql -XAt " + shell_quote(conninfo) +
                          " -c 'select pg_sleep(30)'",
                      std::chrono::seconds(20));
    run_result out{steps_ok ? 0 : 1, r.output + cancel.output};
    if (has(cancel.output, "canceling statement due to user request"))
      out.output += "ok cancel\n";
    if (steps_ok)
      out.output += "ok all\n";
    return out;
  });
}

TEST_CASE("terminate matrix: psycopg2", "[clients][terminate][matrix][psycopg]") {
  run_matrix("psycopg2", [](terminate_env& e, const cell& c) {
    return run(pw_env(c) + "/usr/bin/python3 " + shell_quote(kClientsDir + "/psycopg_client.py") +
                   " " + shell_quote(e.conninfo(c.db, c.user)) + " " +
                   (c.upstream_tls ? "t" : "f") + " " + c.user,
               std::chrono::seconds(90));
  });
}

TEST_CASE("terminate matrix: asyncpg", "[clients][terminate][matrix][asyncpg]") {
  REQUIRE(run("/usr/bin/python3 -c 'import asyncpg'").exit_code == 0);  // python3-asyncpg
  run_matrix("asyncpg", [](terminate_env& e, const cell& c) {
    // alice with asyncpg's default (sslmode=prefer), bob with verify-full.
    std::string dsn =
        "postgresql://" + c.user + "@127.0.0.1:" + std::to_string(e.port()) + "/" + c.db;
    if (c.user == "bob")
      dsn += "?sslmode=verify-full&sslrootcert=" + e.pki().ca_cert;
    return run(pw_env(c) + "/usr/bin/python3 " + shell_quote(kClientsDir + "/asyncpg_client.py") +
                   " " + shell_quote(dsn) + " " + c.user + " " + (c.upstream_tls ? "t" : "f"),
               std::chrono::seconds(90));
  });
}

TEST_CASE("terminate matrix: pgjdbc", "[clients][terminate][matrix][jdbc]") {
  const std::string jar = "/usr/share/java/postgresql.jar";
  temp_dir build{"sluice-jdbc-build"};
  const auto classes = build.file("classes");
  auto javac = run("mkdir -p " + classes + " && javac -nowarn -d " + classes + " -cp " + jar + " " +
                       shell_quote(kClientsDir + "/JdbcClient.java"),
                   std::chrono::seconds(120));
  INFO(javac.output);
  REQUIRE(javac.exit_code == 0);
  run_matrix("pgjdbc", [&](terminate_env& e, const cell& c) {
    // alice with pgjdbc's default (sslmode=prefer), bob with verify-full.
    std::string url = "jdbc:postgresql://127.0.0.1:" + std::to_string(e.port()) + "/" + c.db;
    if (c.user == "bob")
      url += "?sslmode=verify-full&sslrootcert=" + e.pki().ca_cert;
    return run(pw_env(c) + "java -cp " + classes + ":" + jar + " JdbcClient " + shell_quote(url) +
                   " " + (c.upstream_tls ? "t" : "f") + " " + c.user,
               std::chrono::seconds(120));
  });
}

TEST_CASE("terminate matrix: node-postgres", "[clients][terminate][matrix][node]") {
  // scripts/test.sh installs the pinned packages
  // (tests/integration/clients/node/package-lock.json).
  const std::string modules = std::string(kBuildDir) + "/node-clients/node_modules";
  INFO("node-postgres is installed by scripts/test.sh into " << modules);
  REQUIRE(run("test -d " + shell_quote(modules + "/pg") + " && test -d " +
              shell_quote(modules + "/pg-copy-streams"))
              .exit_code == 0);
  run_matrix("node-postgres", [&](terminate_env& e, const cell& c) {
    // TLS with certificate checks; alice also with SCRAM-SHA-256-PLUS (enableChannelBinding).
    nlohmann::json config = {{"host", "127.0.0.1"},
                             {"port", e.port()},
                             {"user", c.user},
                             {"database", c.db},
                             {"connectionTimeoutMillis", 10000},
                             {"ssl", {{"ca_file", e.pki().ca_cert}}}};
    if (c.user == "alice")
      config["enableChannelBinding"] = true;
    return run(pw_env(c) + "NODE_PATH=" + shell_quote(modules) + " node " +
                   shell_quote(kClientsDir + "/node/node_client.js") + " " +
                   shell_quote(config.dump()) + " " + c.user + " " + (c.upstream_tls ? "t" : "f"),
               std::chrono::seconds(90));
  });
}
