// A tunnel through a real sshd: keys from `sluice keygen` are accepted, bytes move both
// ways, the CLI prints what an operator pastes (fingerprint, public keys, status).
#include "tests/integration/tunnel/fixture.hpp"

using namespace sluice;
using namespace sluice::test;

TEST_CASE_METHOD(echo_tunnel, "keygen key is accepted by sshd and a channel echoes bytes",
                 "[tunnel]") {
  auto r = open_channel(m, "bastion", "127.0.0.1", echo.port());
  INFO(r.stage << ": " << r.error << "\n" << sshd.log());
  REQUIRE(r.fd >= 0);
  CHECK(echo_roundtrip(r.fd, 1 << 20));
  ::close(r.fd);
  CHECK(m.all_up());
  auto st = tunnel_status(m, "bastion");
  CHECK(st["state"] == "up");
  CHECK(st["key"] == "primary");
  CHECK(st["host_key"].get<std::string>() == "ssh-ed25519 " + sshd.fingerprint());
  CHECK(st["bytes_in"].get<uint64_t>() >= (1u << 20));
  CHECK(st["bytes_out"].get<uint64_t>() >= (1u << 20));
  CHECK(eventually([&] { return tunnel_status(m, "bastion")["open_channels"] == 0; },
                   std::chrono::seconds(5)));
}

TEST_CASE("secondary key is used when only it is authorized (rotation)", "[tunnel]") {
  sshd_server sshd;
  tunnel_setup primary, secondary;
  sshd.authorize(secondary.pub);
  echo_server echo;
  auto t = primary.make(sshd);
  t.secondary_key = secondary.key;
  tunnel::manager m;
  m.apply(settings_with({t}));
  auto r = open_channel(m, "bastion", "127.0.0.1", echo.port());
  INFO(r.stage << ": " << r.error);
  REQUIRE(r.fd >= 0);
  CHECK(echo_roundtrip(r.fd, 4096));
  ::close(r.fd);
  CHECK(tunnel_status(m, "bastion")["key"] == "secondary");
}

TEST_CASE("known_hosts with a host:port entry is accepted", "[tunnel]") {
  sshd_server sshd;
  tunnel_setup ts;
  sshd.authorize(ts.pub);
  echo_server echo;
  auto scan = run("ssh-keyscan -t ed25519,ecdsa -p " + std::to_string(sshd.port()) + " 127.0.0.1");
  REQUIRE(scan.output.find("[127.0.0.1]:" + std::to_string(sshd.port())) != std::string::npos);
  auto kh = ts.dir.write("known_hosts", scan.output);
  auto t = ts.make(sshd);
  t.host_key.clear();
  t.known_hosts = kh;
  tunnel::manager m;
  m.apply(settings_with({t}));
  auto r = open_channel(m, "bastion", "127.0.0.1", echo.port());
  INFO(r.stage << ": " << r.error);
  REQUIRE(r.fd >= 0);
  CHECK(echo_roundtrip(r.fd, 4096));
  ::close(r.fd);
}

TEST_CASE("tunnel fingerprint prints the host key to pin", "[tunnel]") {
  sshd_server sshd;
  auto r =
      run(std::string(kSluiceBin) + " tunnel fingerprint 127.0.0.1:" + std::to_string(sshd.port()));
  INFO(r.output);
  CHECK(r.exit_code == 0);
  CHECK(r.output.find("ssh-ed25519 " + sshd.fingerprint()) != std::string::npos);
  CHECK(r.output.find("host_key: \"" + sshd.fingerprint() + "\"") != std::string::npos);

  auto closed =
      run(std::string(kSluiceBin) + " tunnel fingerprint 127.0.0.1:" + std::to_string(free_port()));
  CHECK(closed.exit_code == 1);
  CHECK(closed.output.find("refused") != std::string::npos);
}

TEST_CASE("tunnel pubkey and tunnel status read the config", "[tunnel]") {
  sshd_server sshd;
  tunnel_setup primary, secondary;
  sshd.authorize(primary.pub);
  // An OpenSSH-format key made by ssh-keygen works as the secondary key.
  auto sk = secondary.dir.file("id_openssh");
  REQUIRE(run("ssh-keygen -q -t ed25519 -N '' -C x -f " + sk).exit_code == 0);
  const auto cfg = primary.dir.write(
      "sluice.yaml",
      "tunnels:\n  - name: bastion\n    host: 127.0.0.1\n    port: " + std::to_string(sshd.port()) +
          "\n    user: " + current_user() + "\n    private_key: " + primary.key +
          "\n    secondary_key: " + sk + "\n    host_key: \"" + sshd.fingerprint() + "\"\n");
  auto pk = run(std::string(kSluiceBin) + " tunnel pubkey bastion -c " + cfg);
  INFO(pk.output);
  CHECK(pk.exit_code == 0);
  CHECK(pk.output.find(primary.pub.substr(0, primary.pub.rfind(' '))) != std::string::npos);
  auto sk_pub = read_file(sk + ".pub");
  CHECK(pk.output.find(sk_pub.substr(0, sk_pub.rfind(' '))) != std::string::npos);

  auto st = run(std::string(kSluiceBin) + " tunnel status -c " + cfg);
  INFO(st.output);
  CHECK(st.exit_code == 0);
  CHECK(st.output.find("bastion  up") != std::string::npos);
  CHECK(st.output.find(sshd.fingerprint()) != std::string::npos);
}
