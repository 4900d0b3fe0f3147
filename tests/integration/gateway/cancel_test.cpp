// Cancel requests: psql's Ctrl-C through the gateway, across two gateway instances,
// and unknown keys.
#include <signal.h>

#include <catch2/catch.hpp>

#include "tests/integration/gateway/fixture.hpp"
#include "tests/support/raw_client.hpp"
#include "tests/support/scram_login.hpp"

using namespace sluice::test;

namespace {

// Logs in (SCRAM); returns (pid, key) from BackendKeyData and what the login read.
std::pair<std::vector<uint8_t>, std::string> login(raw_client& c) {
  const std::string all = scram_log_in(c);
  // Walk messages to find 'K'.
  std::vector<uint8_t> key;
  size_t pos = 0;
  while (pos + 5 <= all.size()) {
    char type = all[pos];
    uint32_t len = (uint8_t(all[pos + 1]) << 24) | (uint8_t(all[pos + 2]) << 16) |
                   (uint8_t(all[pos + 3]) << 8) | uint8_t(all[pos + 4]);
    if (type == 'K')
      key.assign(all.begin() + pos + 5, all.begin() + pos + 1 + len);
    pos += 1 + len;
  }
  return {key, all};
}

std::vector<uint8_t> cancel_packet(const std::vector<uint8_t>& pid_and_key) {
  // Length (16), then the CancelRequest code 80877102, then process id and key.
  std::vector<uint8_t> out;
  out.reserve(8 + pid_and_key.size());
  for (uint8_t b : {0, 0, 0, 0, 0x04, 0xd2, 0x16, 0x2e})
    out.push_back(b);
  out.insert(out.end(), pid_and_key.begin(), pid_and_key.end());
  out[3] = static_cast<uint8_t>(out.size());
  return out;
}

}  // namespace

TEST_CASE("psql Ctrl-C through the gateway cancels the running statement", "[gateway][cancel]") {
  temp_dir dir;
  test_pki pki(dir.path());
  auto opts = ssl_on(pki);
  pg_cluster pg(opts);
  int port = free_port();
  // TLS to the client and to the backend: the cancel must travel the same way.
  gateway_process gw(dir,
                     gateway_yaml(pki, port, pg.port(), "127.0.0.1/32", "required", "require"));
  background_process q(
      {"psql", "-X", "-At", through(port, "sslmode=require channel_binding=disable"), "-c",
       "select pg_sleep(30)"},
      dir.file("q.log"), {{"PGPASSWORD", pg_cluster::password()}});
  REQUIRE(wait_for_query(pg, "select pg_sleep(30)"));
  auto sent = std::chrono::steady_clock::now();
  q.signal(SIGINT);
  int status = q.wait(std::chrono::seconds(5));
  auto took = std::chrono::steady_clock::now() - sent;
  INFO(q.log() << gw.log());
  CHECK(status != 0);
  CHECK(q.log().find("canceling statement due to user request") != std::string::npos);
  CHECK(took < std::chrono::seconds(1));
  CHECK(log_has(gw, "reason=cancel_forwarded"));
}

TEST_CASE(
    "a cancel delivered to another gateway instance is forwarded to the one that minted the key",
    "[gateway][cancel]") {
  temp_dir dir_a, dir_b;
  test_pki pki(dir_a.path());
  pg_cluster pg;
  int port_a = free_port(), port_b = free_port();
  auto with_cancel = [&](int own, int peer_id, int peer_port) {
    return gateway_yaml(pki, own, pg.port()) +
           "cancel:\n  instance_id: " + std::to_string(own == port_a ? 1 : 2) +
           "\n  peers:\n    - {instance_id: " + std::to_string(peer_id) +
           ", address: 127.0.0.1:" + std::to_string(peer_port) + "}\n";
  };
  gateway_process a(dir_a, with_cancel(port_a, 2, port_b));
  gateway_process b(dir_b, with_cancel(port_b, 1, port_a));

  raw_client session(port_a);
  auto [key, hello] = login(session);
  REQUIRE(key.size() == 8);
  CHECK((key[0] & 0x7f) == 1);  // the minted pid names instance 1
  session.send(raw_client::query("select pg_sleep(30)"));
  REQUIRE(wait_for_query(pg, "select pg_sleep(30)"));
  {
    raw_client canceller(port_b);
    canceller.send(cancel_packet(key));
    CHECK(canceller.closed_by_peer());
  }
  auto reply = session.recv_some(65536, 5000);
  CHECK(raw_client::error_message(reply) == "canceling statement due to user request");
  // Each instance writes its close line just after the cancel lands.
  CHECK(log_has(b, "reason=cancel_to_peer"));
  CHECK(log_has(a, "reason=cancel_forwarded"));

  // A made-up key is dropped silently, as PostgreSQL does.
  raw_client bogus(port_a);
  bogus.send(cancel_packet({1, 2, 3, 4, 5, 6, 7, 8}));
  CHECK(bogus.closed_by_peer());
  CHECK(log_has(a, "reason=cancel_unknown_key"));
}
