// Protocol depth: TLS passthrough routed by SNI, PROXY protocol, direct TLS on both
// legs, and protocol version negotiation passed to the backend.
#include <signal.h>

#include <catch2/catch.hpp>

#include "tests/integration/gateway/fixture.hpp"
#include "tests/support/raw_client.hpp"

using namespace sluice::test;

TEST_CASE("passthrough listener routes on SNI and keeps TLS end to end with channel binding",
          "[gateway][passthrough]") {
  temp_dir dir;
  test_pki pki(dir.path(), {"db.pass.test"});
  pg_cluster pg(ssl_on(pki));
  int port = free_port();
  gateway_process gw(dir,
                     "listeners:\n  - name: pass\n    listen: 127.0.0.1:" + std::to_string(port) +
                         "\n    tls: {mode: passthrough}\n    client_tls: required\nroutes:\n"
                         "  - name: db\n    match: {sni: db.pass.test}\n    upstream: {host: "
                         "127.0.0.1, port: " +
                         std::to_string(pg.port()) + "}\n");
  const std::string conn =
      "host=db.pass.test hostaddr=127.0.0.1 port=" + std::to_string(port) +
      " user=postgres dbname=postgres sslmode=verify-full sslrootcert=" + pki.ca_cert;
  // The certificate verified is the database's own, and channel binding works.
  auto r = psql(conn + " channel_binding=require",
                "select ssl from pg_stat_ssl where pid = pg_backend_pid()", pg_cluster::password());
  INFO(r.output << gw.log());
  CHECK(r.exit_code == 0);
  CHECK(r.output == "t\n");
  CHECK(log_has(gw, "client_tls=passthrough"));

  // Ctrl-C: libpq 15 sends the backend's own key in plaintext; sluice offers it to the
  // listener's backends.
  background_process q({"psql", "-X", "-At", conn, "-c", "select pg_sleep(30)"}, dir.file("q.log"),
                       {{"PGPASSWORD", pg_cluster::password()}});
  REQUIRE(wait_for_query(pg, "select pg_sleep(30)"));
  q.signal(SIGINT);
  CHECK(q.wait(std::chrono::seconds(5)) != 0);
  CHECK(q.log().find("canceling statement due to user request") != std::string::npos);

  // A name no route serves: the client only sees the connection close.
  auto other = psql("host=localhost hostaddr=127.0.0.1 port=" + std::to_string(port) +
                        " user=postgres dbname=postgres sslmode=require",
                    "select 1", pg_cluster::password());
  CHECK(other.exit_code != 0);
  CHECK(log_has(gw, "reason=no_route"));
  // Plaintext is refused with words, since no TLS is in the way yet.
  auto plain = psql(conn.substr(0, conn.find(" sslmode")) + " sslmode=disable", "select 1",
                    pg_cluster::password());
  CHECK(plain.output.find("requires TLS") != std::string::npos);
}

TEST_CASE("PROXY protocol from trusted balancers sets the address allowlists see",
          "[gateway][proxy-protocol]") {
  temp_dir dir;
  test_pki pki(dir.path());
  pg_cluster pg;
  int port = free_port();
  gateway_process gw(dir,
                     gateway_yaml(pki, port, pg.port(), "198.51.100.0/24", "optional", "disable",
                                  "    proxy_protocol: {trusted: [127.0.0.1/32]}\n"));
  auto hello = raw_client::startup("postgres", "postgres");
  auto with = [&](const std::string& header) {
    std::vector<uint8_t> out(header.begin(), header.end());
    out.insert(out.end(), hello.begin(), hello.end());
    return out;
  };
  SECTION("v1 header with an allowed client address") {
    raw_client c(port);
    c.send(with("PROXY TCP4 198.51.100.7 127.0.0.1 40000 5432\r\n"));
    auto reply = c.recv_some();
    REQUIRE(!reply.empty());
    CHECK(reply[0] == 'R');  // the backend's authentication request: admitted
    CHECK(eventually(
        [&] {
          c.send({'X', 0, 0, 0, 4});
          return gw.log().find("peer=198.51.100.7:40000") != std::string::npos;
        },
        std::chrono::seconds(3)));
    CHECK(gw.log().find("balancer=127.0.0.1:") != std::string::npos);
  }
  SECTION("v2 header with a client address the allowlist refuses") {
    std::string v2 = std::string("\r\n\r\n\0\r\nQUIT\n", 12) + "\x21\x11" +
                     std::string("\x00\x0c", 2) +
                     std::string("\xcb\x00\x71\x09\x7f\x00\x00\x01\x9c\x40\x15\x38", 12);
    raw_client c(port);
    c.send(with(v2));
    auto reply = c.recv_all();
    CHECK(raw_client::error_message(reply) ==
          "connection from 203.0.113.9 refused: the address is not on the allowlist of listener "
          "\"pg\" (clients)");
  }
  SECTION("a trusted peer that sends no header is closed") {
    raw_client c(port);
    c.send(hello);
    CHECK(c.closed_by_peer());
    CHECK(eventually(
        [&] { return gw.log().find("reason=proxy_header_missing") != std::string::npos; },
        std::chrono::seconds(3)));
  }
  SECTION("a header from an untrusted peer is refused") {
    raw_client c(port, "127.0.0.2");
    c.send(with("PROXY TCP4 198.51.100.7 127.0.0.1 40000 5432\r\n"));
    CHECK(c.closed_by_peer());
    CHECK(eventually(
        [&] { return gw.log().find("reason=proxy_header_untrusted") != std::string::npos; },
        std::chrono::seconds(3)));
  }
}

TEST_CASE("direct TLS needs ALPN postgresql on the client leg and works on the upstream leg",
          "[gateway][direct-tls]") {
  temp_dir dir, dir_b;
  test_pki pki(dir.path());
  pg_cluster pg;
  int port_b = free_port();
  // Gateway B terminates TLS in front of PostgreSQL 15 (which has no direct TLS).
  gateway_process b(dir_b, gateway_yaml(pki, port_b, pg.port()));
  SECTION("client leg") {
    raw_client c(port_b);
    REQUIRE(c.start_direct_tls(true, "localhost"));
    c.send(raw_client::startup("postgres", "postgres"));
    auto reply = c.recv_some();
    REQUIRE(!reply.empty());
    CHECK(reply[0] == 'R');
    raw_client no_alpn(port_b);
    REQUIRE(no_alpn.start_direct_tls(false));
    CHECK(raw_client::error_message(no_alpn.recv_all()) ==
          "direct TLS connections must negotiate ALPN protocol \"postgresql\"");
  }
  SECTION("upstream leg: sslnegotiation direct with ALPN and SNI") {
    int port_a = free_port();
    std::string yaml =
        "listeners:\n  - {name: pg, listen: 127.0.0.1:" + std::to_string(port_a) +
        ", client_tls: disabled}\nroutes:\n  - name: via-b\n    upstream:\n      host: "
        "localhost\n      port: " +
        std::to_string(port_b) +
        "\n      tls: {sslmode: verify-full, sslnegotiation: direct, ca: " + pki.ca_cert + "}\n";
    gateway_process a(dir, yaml);
    auto r = psql("host=127.0.0.1 port=" + std::to_string(port_a) +
                      " user=postgres dbname=postgres "
                      "sslmode=disable",
                  "select 'direct-ok'", pg_cluster::password());
    INFO(r.output << a.log() << b.log());
    CHECK(r.output == "direct-ok\n");
    CHECK(log_has(a, "upstream_tls=true"));
  }
}

TEST_CASE("newer protocol minor versions and _pq_ options reach the backend to negotiate",
          "[gateway][negotiation]") {
  temp_dir dir;
  test_pki pki(dir.path());
  pg_cluster pg;
  int port = free_port();
  gateway_process gw(dir, gateway_yaml(pki, port, pg.port()));
  auto s = raw_client::startup("postgres", "postgres");
  s[6] = 0x27, s[7] = 0x0f;  // protocol 3.9999, as PostgreSQL 19 test builds send
  std::string opt("_pq_.fake_option\0on\0", 20);
  s.insert(s.end() - 1, opt.begin(), opt.end());
  s[3] = static_cast<uint8_t>(s.size());
  raw_client c(port);
  c.send(s);
  auto reply = c.recv_some();
  REQUIRE(!reply.empty());
  CHECK(reply[0] == 'v');  // NegotiateProtocolVersion from PostgreSQL 15, relayed
  CHECK(reply.find("_pq_.fake_option") != std::string::npos);
}
