// The sync writer reaches a destination through tunnel::manager's loopback forward (its
// injected forwarder); for a reverse tunnel that forward opens forwarded-tcpip channels
// through the agent. Tested on the manager itself with an OpenSSH agent and an echo
// server standing in for the database.
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include "tests/integration/tunnel/fixture.hpp"
#include "tests/integration/tunnel/reverse_fixture.hpp"

using namespace sluice;
using namespace sluice::test;

TEST_CASE("a loopback forward (the sync path) works through a reverse tunnel",
          "[reverse][forwarder]") {
  temp_dir dir{"sluice-rfwd"};
  echo_server echo;
  agent_key key{dir, "agent"};
  const auto host_key = dir.file("hk");
  REQUIRE(run(std::string(kSluiceBin) + " keygen --host-key --out " + host_key).exit_code == 0);
  auto s = std::make_shared<config::settings>();
  config::ssh_server_settings ss;
  ss.listen = {"127.0.0.1", static_cast<uint16_t>(free_port())};
  ss.host_key = host_key;
  s->ssh_server = ss;
  config::tunnel t;
  t.name = "acme";
  t.reverse = config::reverse_tunnel{{key.pub}, ""};
  t.wait_for_up = std::chrono::milliseconds(1500);
  s->tunnels.push_back(t);
  tunnel::manager m;
  m.apply(s);
  REQUIRE(eventually([&] { return m.reverse_port() != 0; }, std::chrono::seconds(5)));

  // No agent yet: the forwarder's connection is closed, the channel error names the tunnel.
  auto none = open_channel(m, "acme", "db.internal", 5432);
  CHECK(none.fd < 0);
  CHECK(none.stage == "no-agent");
  CHECK(none.error.find("reverse tunnel 'acme' has no agent connected") != std::string::npos);

  // A libpq user of the forward (the sync writer) is told why, not just disconnected.
  std::string ferr;
  auto early = m.loopback_forward("acme", "db.internal", 5432, ferr);
  REQUIRE(early);
  auto told = run("psql -XAt 'host=127.0.0.1 port=" + std::to_string(early->port) +
                      " user=x dbname=x sslmode=disable connect_timeout=10' -c 'select 1' 2>&1",
                  std::chrono::seconds(20));
  INFO(told.output);
  CHECK(told.exit_code != 0);
  CHECK(told.output.find("reverse tunnel 'acme' has no agent connected") != std::string::npos);
  // During an SSLRequest libpq 15 hides the server's message by design; it still fails fast.
  auto ssl = run("psql -XAt 'host=127.0.0.1 port=" + std::to_string(early->port) +
                     " user=x dbname=x sslmode=require connect_timeout=10' -c 'select 1' 2>&1",
                 std::chrono::seconds(20));
  CHECK(ssl.output.find("error response during SSL exchange") != std::string::npos);

  auto hk = run(std::string("ssh-keygen -y -f ") + host_key);  // public half for known_hosts
  dir.write("kh", "[127.0.0.1]:" + std::to_string(ss.listen.port) + " " + hk.output);
  background_process agent({"ssh",
                            "-F",
                            "/dev/null",
                            "-p",
                            std::to_string(ss.listen.port),
                            "-i",
                            key.path,
                            "-o",
                            "IdentitiesOnly=yes",
                            "-o",
                            "BatchMode=yes",
                            "-o",
                            "StrictHostKeyChecking=yes",
                            "-o",
                            "UserKnownHostsFile=" + dir.file("kh"),
                            "-o",
                            "ExitOnForwardFailure=yes",
                            "-N",
                            "-R",
                            "5432:127.0.0.1:" + std::to_string(echo.port()),
                            "acme@127.0.0.1"},
                           dir.file("agent.log"));
  REQUIRE(eventually(
      [&] {
        auto st = m.status();
        for (const auto& x : st)
          if (x.value("name", "") == "acme" && x["forwards"].dump() == "[5432]")
            return true;
        return false;
      },
      std::chrono::seconds(10)));
  std::string err;
  auto fwd = m.loopback_forward("acme", "db.internal", 5432, err);
  INFO(err);
  REQUIRE(fwd);
  for (int i = 0; i < 3; ++i) {  // a connection per libpq connect, each its own channel
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(fwd->port);
    REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    CHECK(echo_roundtrip(fd, 8u << 20));
    ::close(fd);
  }
  auto st = m.status();
  REQUIRE(!st.empty());
  CHECK(st[0].value("channels_opened", 0) >= 3);
  // A port no agent announces.
  auto wrong = open_channel(m, "acme", "db.internal", 6543);
  CHECK(wrong.stage == "no-forward");
  CHECK(wrong.error.find("none forwards port 6543 (announced: 5432)") != std::string::npos);
  m.stop();
}
