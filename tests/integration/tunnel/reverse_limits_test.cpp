// The reverse-tunnel endpoint's admission limits against a real `sluice run`: connections
// that never log in are cut at ssh_server.login_timeout; ssh_server.max_sessions and
// max_unauthenticated_per_address bound what one address (or everyone) can hold open, and
// ssh_server.allow refuses other addresses before any SSH byte. Raw TCP connections stand
// in for idle or hostile peers; real `ssh -R` agents show that service goes on.
#include "tests/integration/tunnel/reverse_fixture.hpp"
#include "tests/support/raw_client.hpp"

#include <thread>

using namespace sluice::test;

namespace {

using clock_type = std::chrono::steady_clock;

long long ms_since(clock_type::time_point t0) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(clock_type::now() - t0).count();
}

// True when the endpoint closes the connection within `ms` (after its SSH banner).
bool closed_within(raw_client& c, int ms) {
  const auto t0 = clock_type::now();
  c.recv_all(ms);
  return ms_since(t0) < ms - 100;
}

}  // namespace

TEST_CASE("a connection that never logs in is closed at ssh_server.login_timeout",
          "[reverse][limits]") {
  reverse_gateway g;  // login_timeout: 5s
  raw_client idle(g.ssh_port);
  const auto t0 = clock_type::now();
  CHECK(idle.recv_some(255, 5000).rfind("SSH-2.0-", 0) == 0);  // the banner, then nothing
  CHECK(closed_within(idle, 9000));
  const auto took = ms_since(t0);
  CHECK(took >= 4500);
  CHECK(took < 8000);
  CHECK(g.log_has("no successful login within ssh_server.login_timeout"));
  // An agent that does log in stays.
  auto agent = g.start_agent();
  std::this_thread::sleep_for(std::chrono::milliseconds(5500));
  CHECK(g.query("select 1").output == "1\n");
}

TEST_CASE("max_unauthenticated_per_address bounds one address, not the others",
          "[reverse][limits]") {
  reverse_gateway::options o;
  o.ssh_extra = "  max_unauthenticated_per_address: 2\n";
  reverse_gateway g(o);
  g.gw->rewrite([&] {
    auto y = g.yaml();
    auto at = y.find("clients: [127.0.0.1/32]");
    y.replace(at, 23, "clients: [127.0.0.1/32, 127.0.0.2/32]");
    return y;
  }());
  g.gw->reload();
  raw_client a(g.ssh_port), b(g.ssh_port);
  CHECK(a.recv_some(255).rfind("SSH-2.0-", 0) == 0);
  CHECK(b.recv_some(255).rfind("SSH-2.0-", 0) == 0);
  raw_client third(g.ssh_port);
  CHECK(closed_within(third, 3000));
  CHECK(
      g.log_has("this address already has ssh_server.max_unauthenticated_per_address=2 "
                "connections that have not logged in"));
  // Another address is not affected.
  raw_client elsewhere(g.ssh_port, "127.0.0.2");
  CHECK(elsewhere.recv_some(255).rfind("SSH-2.0-", 0) == 0);
  CHECK_FALSE(closed_within(elsewhere, 500));
}

TEST_CASE("max_sessions refuses connections beyond it and frees a place when one ends",
          "[reverse][limits]") {
  reverse_gateway::options o;
  o.ssh_extra = "  max_sessions: 2\n";
  reverse_gateway g(o);
  auto agent = g.start_agent();  // one of the two places
  {
    raw_client idle(g.ssh_port);
    CHECK(idle.recv_some(255).rfind("SSH-2.0-", 0) == 0);
    raw_client over(g.ssh_port);
    CHECK(closed_within(over, 3000));
    CHECK(g.log_has("ssh_server.max_sessions=2 reached"));
    CHECK(g.query("select 1").output == "1\n");  // the agent still serves
  }
  // The idle connection ended: its place is free again.
  CHECK(eventually(
      [&] {
        raw_client again(g.ssh_port);
        return again.recv_some(255).rfind("SSH-2.0-", 0) == 0 && !closed_within(again, 300);
      },
      std::chrono::seconds(5)));
}

TEST_CASE("ssh_server.allow refuses other addresses before any SSH byte", "[reverse][limits]") {
  reverse_gateway g;  // allow: [clients] = 127.0.0.1/32
  raw_client outsider(g.ssh_port, "127.0.0.2");
  const auto t0 = clock_type::now();
  CHECK(outsider.recv_all(3000).empty());  // not even the banner
  CHECK(ms_since(t0) < 2000);
  CHECK(g.log_has("address=127.0.0.2 reason=\"address not in ssh_server.allow"));
  // A real ssh from there fails too; from 127.0.0.1 it works.
  auto r = run(g.ssh_cmd(g.acme.path, "acme", {"-b", "127.0.0.2", "-N", "-R", "5432:127.0.0.1:1"}),
               std::chrono::seconds(20));
  CHECK(r.exit_code == 255);
  auto agent = g.start_agent();
  CHECK(g.query("select 1").output == "1\n");
}
