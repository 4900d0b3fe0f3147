// Listener certificates: chosen by SNI, and renewed by a reload.
#include <catch2/catch.hpp>
#include <filesystem>

#include "tests/integration/gateway/fixture.hpp"

using namespace sluice::test;

TEST_CASE("a reload picks up renewed certificate files", "[gateway][tls][reload]") {
  temp_dir dir, other_dir;
  test_pki pki(dir.path());
  test_pki renewed(other_dir.path());  // a different CA, as after a re-issue
  pg_cluster pg;
  int port = free_port();
  gateway_process gw(dir, gateway_yaml(pki, port, pg.port()));
  auto verify_with = [&](const std::string& ca) {
    return psql(through(port, "sslmode=verify-full sslrootcert=" + ca), "select 'ok'",
                pg_cluster::password());
  };
  CHECK(verify_with(pki.ca_cert).output == "ok\n");
  CHECK(verify_with(renewed.ca_cert).exit_code != 0);
  std::filesystem::copy_file(renewed.server_cert, pki.server_cert,
                             std::filesystem::copy_options::overwrite_existing);
  std::filesystem::copy_file(renewed.server_key, pki.server_key,
                             std::filesystem::copy_options::overwrite_existing);
  gw.reload();
  CHECK(gw.log().find("event=reload_done") != std::string::npos);
  CHECK(verify_with(renewed.ca_cert).output == "ok\n");
  CHECK(verify_with(pki.ca_cert).exit_code != 0);
}

TEST_CASE("the certificate is chosen by the client's server name", "[gateway][tls][sni]") {
  temp_dir dir;
  test_pki pki(dir.path());
  auto [tenant_cert, tenant_key] = pki.issue("tenant", {"*.tenants.gw.test"});
  pg_cluster pg;
  int port = free_port();
  std::string yaml = gateway_yaml(pki, port, pg.port());
  // Add an SNI certificate to the listener's tls: mapping.
  const std::string tls_line =
      "    tls: {cert: " + pki.server_cert + ", key: " + pki.server_key + "}\n";
  yaml.replace(yaml.find(tls_line), tls_line.size(),
               "    tls:\n      cert: " + pki.server_cert + "\n      key: " + pki.server_key +
                   "\n      sni:\n        - names: [\"*.tenants.gw.test\"]\n          cert: " +
                   tenant_cert + "\n          key: " + tenant_key + "\n");
  gateway_process gw(dir, yaml);
  auto as = [&](const std::string& host) {
    return psql("host=" + host + " hostaddr=127.0.0.1 port=" + std::to_string(port) +
                    " user=postgres dbname=postgres sslmode=verify-full sslrootcert=" + pki.ca_cert,
                "select 'ok'", pg_cluster::password());
  };
  auto tenant = as("acme.tenants.gw.test");
  INFO(tenant.output << gw.log());
  CHECK(tenant.output == "ok\n");                   // only the SNI certificate carries this name
  CHECK(as("localhost").output == "ok\n");          // the default certificate
  CHECK(as("a.b.tenants.gw.test").exit_code != 0);  // wildcards cover one label
}
