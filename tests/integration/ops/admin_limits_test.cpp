// The admin API against callers without the token and clients holding connections: a
// reload request is refused from its header (its body is never awaited), bodies are
// limited, connections are limited per address and in total, and a header that never
// ends is cut.
#include <catch2/catch.hpp>
#include <memory>

#include "tests/integration/ops/ops_fixture.hpp"
#include "tests/support/raw_client.hpp"

using namespace sluice::test;

namespace {

std::vector<uint8_t> bytes(const std::string& s) {
  return {s.begin(), s.end()};
}

std::string status_line(raw_client& c) {
  std::string got;
  while (got.find("\r\n") == std::string::npos) {
    auto more = c.recv_some(4096, 5000);
    if (more.empty())
      break;
    got += more;
  }
  return got.substr(0, got.find("\r\n"));
}

}  // namespace

TEST_CASE("admin limits: POST /v1/reload without the token is refused before its body") {
  temp_dir dir;
  auto c = make_ops_config(dir, false);
  gateway_process gw(dir, c.yaml);
  // Before, the server waited (30 s) for the announced body before it looked at the token.
  raw_client none(c.admin_port);
  none.send(bytes("POST /v1/reload HTTP/1.1\r\nHost: x\r\nContent-Length: 60000\r\n\r\n"));
  CHECK(status_line(none) == "HTTP/1.1 401 Unauthorized");
  raw_client wrong(c.admin_port);
  wrong.send(
      bytes("POST /v1/reload HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer nope\r\n"
            "Content-Length: 60000\r\n\r\n"));
  CHECK(status_line(wrong) == "HTTP/1.1 401 Unauthorized");
  // Bodies beyond 64 KiB are refused from the header as well.
  raw_client big(c.admin_port);
  big.send(bytes("POST /v1/reload HTTP/1.1\r\nHost: x\r\nContent-Length: 1073741824\r\n\r\n"));
  CHECK(status_line(big) == "HTTP/1.1 413 Payload Too Large");
  // With the token the reload still works.
  auto ok =
      curl("-X POST -H 'Authorization: Bearer t0ken-for-tests' " + admin_url(c, "/v1/reload"));
  CHECK_THAT(ok.output, Catch::EndsWith("HTTP 200"));
}

TEST_CASE("admin limits: 16 connections per address, 64 in total, and a slow header is cut") {
  temp_dir dir;
  auto c = make_ops_config(dir, false);
  gateway_process gw(dir, c.yaml);
  std::vector<std::unique_ptr<raw_client>> held;
  for (int i = 0; i < 16; ++i)
    held.push_back(std::make_unique<raw_client>(c.admin_port, "127.0.0.2"));
  for (auto& h : held)
    CHECK(!h->closed_by_peer(50));
  raw_client over(c.admin_port, "127.0.0.2");
  CHECK(over.closed_by_peer(2000));
  // Another address is still served.
  CHECK_THAT(curl(admin_url(c, "/healthz")).output, Catch::EndsWith("HTTP 200"));
  // Fill the total: 16 from each of 127.0.0.2 .. 127.0.0.5.
  for (int a = 3; a <= 5; ++a) {
    for (int i = 0; i < 16; ++i)
      held.push_back(std::make_unique<raw_client>(c.admin_port, "127.0.0." + std::to_string(a)));
  }
  for (auto& h : held)
    CHECK(!h->closed_by_peer(0));
  raw_client beyond(c.admin_port, "127.0.0.6");
  CHECK(beyond.closed_by_peer(2000));
  CHECK_THAT(gw.log(), Catch::Contains("admin_connection_refused"));
  // The held connections sent no header: they are cut after 10 s and the API serves again.
  REQUIRE(held.front()->closed_by_peer(12'000));
  REQUIRE(eventually(
      [&] { return curl(admin_url(c, "/healthz")).output.find("HTTP 200") != std::string::npos; },
      std::chrono::seconds(5)));
}
