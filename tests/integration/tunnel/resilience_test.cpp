// Tunnels survive what bastions do: sshd killed and restarted, rekeys every 256 KiB under
// load, and peers that go silent without closing.
#include <signal.h>

#include "tests/integration/tunnel/fixture.hpp"

using namespace sluice;
using namespace sluice::test;
using namespace std::chrono_literals;

TEST_CASE_METHOD(echo_tunnel,
                 "killing sshd fails open channels and the tunnel comes back after restart",
                 "[tunnel]") {
  std::vector<int> fds;
  for (int i = 0; i < 3; ++i) {
    auto r = open_channel(m, "bastion", "127.0.0.1", echo.port());
    INFO(r.error);
    REQUIRE(r.fd >= 0);
    REQUIRE(echo_roundtrip(r.fd, 1000));
    fds.push_back(r.fd);
  }
  sshd.kill_all();
  const auto killed = std::chrono::steady_clock::now();
  for (int fd : fds) {
    char b;
    CHECK(read_n(fd, &b, 1, 10) == 0);  // EOF, not a hang
    ::close(fd);
  }
  CHECK(std::chrono::steady_clock::now() - killed < 5s);
  CHECK(eventually([&] { return !m.all_up(); }, 5s));
  auto down = tunnel_status(m, "bastion");
  CHECK(down["last_error"].get<std::string>().find("lost") != std::string::npos);

  sshd.start();
  const auto restarted = std::chrono::steady_clock::now();
  // reconnect.max is 1s: back well within a few backoff periods.
  CHECK(eventually([&] { return m.all_up(); }, 5s));
  CHECK(std::chrono::steady_clock::now() - restarted < 3s);
  auto r = open_channel(m, "bastion", "127.0.0.1", echo.port());
  INFO(r.error);
  REQUIRE(r.fd >= 0);
  CHECK(echo_roundtrip(r.fd, 100000));
  ::close(r.fd);
  CHECK(tunnel_status(m, "bastion")["reconnects"].get<uint64_t>() >= 1);
}

TEST_CASE_METHOD(echo_tunnel, "new channels wait for a tunnel that is reconnecting", "[tunnel]") {
  REQUIRE(eventually([&] { return m.all_up(); }, 5s));
  sshd.kill_all();
  REQUIRE(eventually([&] { return !m.all_up(); }, 5s));
  std::thread later([&] {
    std::this_thread::sleep_for(1s);
    sshd.start();
  });
  auto r = open_channel(m, "bastion", "127.0.0.1", echo.port());  // wait_for_up is 5s
  later.join();
  INFO(r.error);
  REQUIRE(r.fd >= 0);
  CHECK(echo_roundtrip(r.fd, 1000));
  ::close(r.fd);
}

TEST_CASE("RekeyLimit 256K while moving tens of MiB: completes or recovers", "[tunnel]") {
  sshd_options o;
  o.rekey_limit = "256K";
  o.extra = {"LogLevel DEBUG1"};
  sshd_server sshd(o);
  tunnel_setup ts;
  sshd.authorize(ts.pub);
  echo_server echo;
  tunnel::manager m;
  m.apply(settings_with({ts.make(sshd)}));
  const size_t mib = 24;
  const auto start = std::chrono::steady_clock::now();
  auto r = open_channel(m, "bastion", "127.0.0.1", echo.port());
  INFO(r.error);
  REQUIRE(r.fd >= 0);
  const bool ok = echo_roundtrip(r.fd, mib << 20, 60);
  ::close(r.fd);
  const auto secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  WARN("rekey test: " << mib << " MiB each way " << (ok ? "completed" : "failed, recovering")
                      << " in " << secs
                      << "s; reconnects=" << tunnel_status(m, "bastion")["reconnects"]);
  if (!ok) {
    // The watchdog must have torn the stalled session down; the tunnel is usable again.
    REQUIRE(eventually([&] { return m.all_up(); }, 15s));
  }
  auto again = open_channel(m, "bastion", "127.0.0.1", echo.port());
  REQUIRE(again.fd >= 0);
  CHECK(echo_roundtrip(again.fd, 1 << 20));
  ::close(again.fd);
  // sshd (LogLevel DEBUG1) logs every key re-exchange it starts.
  CHECK(sshd.log().find("KEX") != std::string::npos);
}

TEST_CASE("a silent peer is detected by keepalive within interval x max_missed", "[tunnel]") {
  sshd_server sshd;
  tunnel_setup ts;
  sshd.authorize(ts.pub);
  echo_server echo;
  auto t = ts.make(sshd);  // keepalive 1s x 3
  tunnel::manager m;
  m.apply(settings_with({t}));
  auto r = open_channel(m, "bastion", "127.0.0.1", echo.port());
  REQUIRE(r.fd >= 0);
  REQUIRE(echo_roundtrip(r.fd, 1000));
  sshd.signal_sessions(SIGSTOP);  // traffic stops, nothing is closed
  const auto frozen = std::chrono::steady_clock::now();
  REQUIRE(eventually([&] { return !m.all_up(); }, 10s));
  const auto detected = std::chrono::steady_clock::now() - frozen;
  WARN("silent peer detected after " << std::chrono::duration<double>(detected).count() << "s");
  CHECK(detected <= 3s + 500ms);
  CHECK(detected >= 2s);
  auto st = tunnel_status(m, "bastion");
  CHECK(st["last_error"].get<std::string>().find("keepalives") != std::string::npos);
  char b;
  CHECK(read_n(r.fd, &b, 1, 5) == 0);  // the open channel was closed for its client
  ::close(r.fd);
  // The listener still answers: the tunnel reconnects on a fresh session.
  CHECK(eventually([&] { return m.all_up(); }, 5s));
  auto again = open_channel(m, "bastion", "127.0.0.1", echo.port());
  REQUIRE(again.fd >= 0);
  CHECK(echo_roundtrip(again.fd, 1000));
  ::close(again.fd);
  sshd.signal_sessions(SIGCONT);
}

TEST_CASE("an idle tunnel without channels also notices a silent peer", "[tunnel]") {
  sshd_server sshd;
  tunnel_setup ts;
  sshd.authorize(ts.pub);
  tunnel::manager m;
  m.apply(settings_with({ts.make(sshd)}));
  REQUIRE(eventually([&] { return m.all_up(); }, 5s));
  // Stays up across several keepalive rounds while idle (replies are drained).
  std::this_thread::sleep_for(4s);
  CHECK(m.all_up());
  CHECK(tunnel_status(m, "bastion")["reconnects"] == 0);
  sshd.signal_sessions(SIGSTOP);
  const auto frozen = std::chrono::steady_clock::now();
  REQUIRE(eventually([&] { return !m.all_up(); }, 10s));
  CHECK(std::chrono::steady_clock::now() - frozen <= 3s + 500ms);
  sshd.signal_sessions(SIGCONT);
}
