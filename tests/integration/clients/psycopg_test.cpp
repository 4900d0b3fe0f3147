// psycopg2 (Debian's python3-psycopg2, libpq underneath) through each path; the client
// program is psycopg_client.py next to this file.
#include "tests/integration/clients/clients_fixture.hpp"

using namespace sluice::test;
using namespace sluice::test::clients;

namespace {

void psycopg_matrix(path p) {
  client_env e(p);
  auto r = run("PGPASSWORD=" + shell_quote(pg_cluster::password()) + " /usr/bin/python3 " +
                   shell_quote(kClientsDir + "/psycopg_client.py") + " " +
                   shell_quote(e.conninfo()) + " " + (e.db_sees_tls() ? "t" : "f"),
               std::chrono::seconds(90));
  INFO("path: " << name_of(p) << "\n" << r.output << "\n" << e.gw().log());
  check_driver_steps(r);
}

}  // namespace

TEST_CASE("psycopg2 through terminated TLS", "[clients][psycopg][terminated]") {
  psycopg_matrix(path::terminated);
}

TEST_CASE("psycopg2 through TLS passthrough", "[clients][psycopg][passthrough]") {
  psycopg_matrix(path::passthrough);
}

TEST_CASE("psycopg2 through a tunnel route", "[clients][psycopg][tunnel]") {
  psycopg_matrix(path::tunnel);
}
