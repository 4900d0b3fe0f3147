// Crafted packets an outside probe found (issue 16): each must end only its own
// connection, never the gateway, and a listener's allowlist must be checked before a
// passthrough client's bytes are parsed.
#include <catch2/catch.hpp>

#include "tests/integration/gateway/fixture.hpp"
#include "tests/support/raw_client.hpp"

using namespace sluice::test;

namespace {
std::vector<uint8_t> from_hex(const std::string& hex) {
  std::vector<uint8_t> out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2)
    out.push_back(static_cast<uint8_t>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  return out;
}

// 61 bytes: a server_name list claiming 0xfff0 bytes inside a 5-byte extension.
std::vector<uint8_t> overlong_sni_hello() {
  std::string hex = "1603010038010000340303";
  for (int i = 0; i < 32; ++i)
    hex += "11";
  return from_hex(hex + "00000213010100000900000005ffff00fff0");
}

std::string passthrough_yaml(int port, int pg_port, const std::string& allow) {
  return "allowlists:\n  clients: [" + allow +
         "]\nlisteners:\n  - name: pass\n    listen: 127.0.0.1:" + std::to_string(port) +
         "\n    tls: {mode: passthrough}\n    client_tls: required\n    allow: [clients]\n"
         "routes:\n  - name: db\n    upstream: {host: 127.0.0.1, port: " +
         std::to_string(pg_port) + "}\n";
}
}  // namespace

TEST_CASE("a ClientHello with an overlong server_name list ends only its own connection",
          "[gateway][passthrough][regression]") {
  temp_dir dir;
  test_pki pki(dir.path(), {"db.pass.test"});
  pg_options o;
  o.ssl = true;
  o.cert = pki.server_cert;
  o.key = pki.server_key;
  pg_cluster pg(o);
  int port = free_port();
  gateway_process gw(dir, passthrough_yaml(port, pg.port(), "127.0.0.1/32"));
  for (int i = 0; i < 20; ++i) {
    raw_client c(port);
    c.send(overlong_sni_hello());
    CHECK(c.closed_by_peer());
  }
  INFO(gw.log());
  CHECK(log_has(gw, "reason=protocol_violation"));
  CHECK(log_has(gw, "server_name list length does not match its extension"));
  // The gateway is still there and still routes a real client end to end.
  auto r = psql("host=db.pass.test hostaddr=127.0.0.1 port=" + std::to_string(port) +
                    " user=postgres dbname=postgres sslmode=verify-full sslrootcert=" + pki.ca_cert,
                "select ssl from pg_stat_ssl where pid = pg_backend_pid()", pg_cluster::password());
  CHECK(r.exit_code == 0);
  CHECK(r.output == "t\n");
}

TEST_CASE("a passthrough listener checks its allowlist before parsing the ClientHello",
          "[gateway][passthrough][allowlist]") {
  temp_dir dir;
  test_pki pki(dir.path());
  int port = free_port();
  // 192.0.2.0/24 (TEST-NET-1) is only a rule here: no traffic goes there.
  gateway_process gw(dir, passthrough_yaml(port, free_port(), "192.0.2.0/24"));
  raw_client c(port);
  c.send(overlong_sni_hello());
  CHECK(c.closed_by_peer());
  INFO(gw.log());
  // Refused on the address alone: the malformed hello was never read.
  CHECK(log_has(gw, "reason=rejected_allowlist"));
  CHECK(gw.log().find("server_name list length") == std::string::npos);
  CHECK(gw.log().find("reason=protocol_violation") == std::string::npos);
}
