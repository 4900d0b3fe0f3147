// psql (libpq 15) through each path: queries, PREPARE/EXECUTE, COPY in and out,
// LISTEN/NOTIFY to itself and between two sessions, and a Ctrl-C cancel.
#include <signal.h>

#include "tests/integration/clients/clients_fixture.hpp"

using namespace sluice::test;
using namespace sluice::test::clients;

namespace {

std::string psql_cmd(const client_env& e, const std::string& args) {
  return "PGPASSWORD=" + shell_quote(pg_cluster::password()) +
         " psql -X -q -At -v ON_ERROR_STOP=1 " + shell_quote(e.conninfo()) + " " + args;
}

void psql_matrix(path p) {
  client_env e(p);
  INFO("path: " << name_of(p));

  // Queries, and which TLS the database sees.
  auto q = run(psql_cmd(e,
                        "-c 'select count(*) from generate_series(1, 1000)' "
                        "-c 'select ssl from pg_stat_ssl where pid = pg_backend_pid()'"));
  INFO(q.output << e.gw().log());
  REQUIRE(q.exit_code == 0);
  CHECK(q.output == std::string("1000\n") + (e.db_sees_tls() ? "t\n" : "f\n"));

  // A server-side prepared statement (psql 15 has no \bind: PREPARE/EXECUTE).
  auto prep = run(psql_cmd(e,
                           "-c 'prepare twice(int) as select $1 * 2' -c 'execute twice(21)' "
                           "-c 'select count(*) from pg_prepared_statements'"));
  INFO(prep.output);
  CHECK(prep.exit_code == 0);
  CHECK(prep.output == "42\n1\n");

  // COPY FROM STDIN and COPY TO STDOUT.
  e.pg().sql("create table psql_copy(id int, name text)");
  auto rows = e.dir().write("rows.tsv", "1\tone\n2\ttwo\n3\tthree with \\\\ backslash\n");
  auto in = run(psql_cmd(e, "-c 'copy psql_copy from stdin'") + " < " + rows);
  INFO(in.output);
  CHECK(in.exit_code == 0);
  CHECK(e.pg().sql("select count(*) from psql_copy") == "3");
  CHECK(e.pg().sql("select name from psql_copy where id = 3") == "three with \\ backslash");
  auto out = run(psql_cmd(e, "-c 'copy psql_copy to stdout'"));
  CHECK(out.exit_code == 0);
  CHECK(out.output == "1\tone\n2\ttwo\n3\tthree with \\\\ backslash\n");
  // A bigger COPY in both directions (several relay buffers' worth).
  auto big_in = run("seq 1 50000 | sed 's/$/\\tpadding-padding-padding/' | " +
                    psql_cmd(e, "-c 'copy psql_copy from stdin'"));
  CHECK(big_in.exit_code == 0);
  auto big_out = run(psql_cmd(e, "-c 'copy psql_copy to stdout'") + " | wc -l");
  CHECK(trim(big_out.output) == "50003");

  // NOTIFY to itself: psql prints the notification after the command.
  auto self = run(psql_cmd(e, "-c 'listen ch_self' -c \"notify ch_self, 'to-self'\""));
  INFO(self.output);
  CHECK(self.exit_code == 0);
  CHECK(has(self.output,
            "Asynchronous notification \"ch_self\" with payload \"to-self\" received from server "
            "process with PID"));

  // Two sessions: one listens and sleeps, the other notifies.
  background_process listener(
      {"psql", "-X", "-At", e.conninfo(), "-c", "listen ch", "-c", "select pg_sleep(3)"},
      e.dir().file("listener.log"), {{"PGPASSWORD", pg_cluster::password()}});
  REQUIRE(e.running("select pg_sleep(3)"));
  auto notify = run(psql_cmd(e, "-c \"notify ch, 'from-other-session'\""));
  CHECK(notify.exit_code == 0);
  CHECK(listener.wait(std::chrono::seconds(10)) == 0);
  INFO(listener.log());
  CHECK(
      has(listener.log(), "Asynchronous notification \"ch\" with payload \"from-other-session\""));

  // Ctrl-C: libpq sends a CancelRequest on a new connection through the gateway.
  background_process sleeper({"psql", "-X", "-At", e.conninfo(), "-c", "select pg_sleep(30)"},
                             e.dir().file("sleeper.log"), {{"PGPASSWORD", pg_cluster::password()}});
  REQUIRE(e.running("select pg_sleep(30)"));
  auto t0 = clock::now();
  sleeper.signal(SIGINT);
  int rc = sleeper.wait(std::chrono::seconds(10));
  auto took = ms_since(t0);
  INFO(sleeper.log() << "cancel took " << took << " ms");
  CHECK(rc != 0);
  CHECK(has(sleeper.log(), "canceling statement due to user request"));
  CHECK(took < 1000);
  // The backend is idle again, nothing is left running.
  CHECK(e.pg().sql("select count(*) from pg_stat_activity where query = 'select pg_sleep(30)' "
                   "and state = 'active'") == "0");

  if (p == path::terminated) {
    // By design: TLS ends at sluice, so a client that demands channel binding is refused
    // (the backend offers no SCRAM-SHA-256-PLUS here).
    auto cb = run("PGPASSWORD=" + shell_quote(pg_cluster::password()) + " psql -X -At " +
                  shell_quote(e.conninfo() + " channel_binding=require") + " -c 'select 1'");
    CHECK(cb.exit_code != 0);
    CHECK(has(cb.output, "channel binding"));
  }
}

}  // namespace

TEST_CASE("psql through terminated TLS", "[clients][psql][terminated]") {
  psql_matrix(path::terminated);
}

TEST_CASE("psql through TLS passthrough", "[clients][psql][passthrough]") {
  psql_matrix(path::passthrough);
}

TEST_CASE("psql through a tunnel route", "[clients][psql][tunnel]") {
  psql_matrix(path::tunnel);
}
