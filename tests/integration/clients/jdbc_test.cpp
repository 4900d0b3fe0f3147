// The PostgreSQL JDBC driver (Debian's libpostgresql-jdbc-java, /usr/share/java/postgresql.jar)
// through each path. JdbcClient.java next to this file is compiled into the test's temp dir.
// Host names resolve through -Djdk.net.hosts.file (never /etc/hosts), so the passthrough
// connection uses the route's name, which pgjdbc sends as TLS SNI.
#include "tests/integration/clients/clients_fixture.hpp"

using namespace sluice::test;
using namespace sluice::test::clients;

namespace {

const std::string kJar = "/usr/share/java/postgresql.jar";

void jdbc_matrix(path p) {
  client_env e(p);
  INFO("path: " << name_of(p));
  REQUIRE(run("test -r " + kJar).exit_code == 0);  // scripts/install-deps.sh installs it
  auto classes = e.dir().file("classes");
  auto javac = run("mkdir -p " + classes + " && javac -nowarn -d " + classes + " -cp " + kJar +
                       " " + shell_quote(kClientsDir + "/JdbcClient.java"),
                   std::chrono::seconds(120));
  INFO(javac.output);
  REQUIRE(javac.exit_code == 0);
  auto hosts = e.dir().write("java.hosts", "127.0.0.1 localhost " + kSni + "\n");

  // Full verification of the certificate the client sees (the gateway's when TLS is
  // terminated, the database's in passthrough), both signed by the test CA.
  const std::string url = "jdbc:postgresql://" + e.host() + ":" + std::to_string(e.port()) +
                          "/postgres?sslmode=verify-full&sslrootcert=" + e.pki().ca_cert;
  auto r = run("PGPASSWORD=" + shell_quote(pg_cluster::password()) +
                   " java -Djdk.net.hosts.file=" + hosts + " -cp " + classes + ":" + kJar +
                   " JdbcClient " + shell_quote(url) + " " + (e.db_sees_tls() ? "t" : "f"),
               std::chrono::seconds(120));
  INFO(r.output << "\n" << e.gw().log());
  check_driver_steps(r);
}

}  // namespace

TEST_CASE("JDBC through terminated TLS", "[clients][jdbc][terminated]") {
  jdbc_matrix(path::terminated);
}

TEST_CASE("JDBC through TLS passthrough", "[clients][jdbc][passthrough]") {
  jdbc_matrix(path::passthrough);
}

TEST_CASE("JDBC through a tunnel route", "[clients][jdbc][tunnel]") {
  jdbc_matrix(path::tunnel);
}
