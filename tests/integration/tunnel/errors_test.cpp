// Each way a tunnel can fail gives its own stage and a message that says what to fix.
#include <sys/stat.h>

#include "config/load.hpp"
#include "tests/integration/tunnel/fixture.hpp"

using namespace sluice;
using namespace sluice::test;

namespace {
bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}
}  // namespace

TEST_CASE("wrong host key pin fails at host-key naming both fingerprints", "[tunnel]") {
  sshd_server sshd;
  tunnel_setup ts;
  sshd.authorize(ts.pub);
  auto t = ts.make(sshd);
  t.host_key = "SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
  t.wait_for_up = std::chrono::milliseconds(1500);
  tunnel::manager m;
  m.apply(settings_with({t}));
  auto r = open_channel(m, "bastion", "127.0.0.1", 5432);
  INFO(r.error);
  CHECK(r.fd < 0);
  CHECK(r.stage == "host-key");
  CHECK(contains(r.error, "host key mismatch"));
  CHECK(contains(r.error, "expected SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"));
  CHECK(contains(r.error, "ssh-ed25519 " + sshd.fingerprint()));
  auto st = tunnel_status(m, "bastion");
  CHECK(st["state"] == "failed");
  CHECK(st["last_error_stage"] == "host-key");
  // Never authenticated: the key was not even offered to the impostor.
  CHECK_FALSE(contains(sshd.log(), "Accepted publickey"));
}

TEST_CASE("a key not in authorized_keys fails at auth", "[tunnel]") {
  sshd_server sshd;
  tunnel_setup ts;  // not authorized
  auto t = ts.make(sshd);
  t.wait_for_up = std::chrono::milliseconds(1500);
  tunnel::manager m;
  m.apply(settings_with({t}));
  auto r = open_channel(m, "bastion", "127.0.0.1", 5432);
  INFO(r.error);
  CHECK(r.fd < 0);
  CHECK(r.stage == "auth");
  CHECK(contains(r.error, "refused public key authentication"));
  CHECK(contains(r.error, "authorized_keys"));
  CHECK(contains(r.error, "sluice tunnel pubkey bastion"));
}

TEST_CASE("AllowTcpForwarding no fails at channel-open", "[tunnel]") {
  sshd_options no_forwarding;
  no_forwarding.allow_tcp_forwarding = false;
  sshd_server sshd(no_forwarding);
  tunnel_setup ts;
  sshd.authorize(ts.pub);
  echo_server echo;
  tunnel::manager m;
  m.apply(settings_with({ts.make(sshd)}));
  auto r = open_channel(m, "bastion", "127.0.0.1", echo.port());
  INFO(r.error);
  CHECK(r.fd < 0);
  CHECK(r.stage == "channel-open");
  CHECK(contains(r.error, "administratively prohibited"));
  CHECK(contains(r.error, "AllowTcpForwarding yes"));
  // The session itself stays up: only that channel was refused.
  CHECK(m.all_up());
}

TEST_CASE_METHOD(echo_tunnel, "an unreachable target behind the bastion fails at channel-open",
                 "[tunnel]") {
  const auto closed = static_cast<uint16_t>(free_port());
  auto r = open_channel(m, "bastion", "127.0.0.1", closed);
  INFO(r.error);
  CHECK(r.fd < 0);
  CHECK(r.stage == "channel-open");
  CHECK(contains(r.error, "could not connect to 127.0.0.1:" + std::to_string(closed)));
  CHECK(contains(r.error, "nc -vz"));
  // And the next channel on the same session works.
  auto ok = open_channel(m, "bastion", "127.0.0.1", echo.port());
  REQUIRE(ok.fd >= 0);
  CHECK(echo_roundtrip(ok.fd, 1000));
  ::close(ok.fd);
}

TEST_CASE("TCP refused and unknown tunnel have their own stages", "[tunnel]") {
  tunnel_setup ts;
  config::tunnel t;
  t.name = "nowhere";
  t.host = "127.0.0.1";
  t.port = static_cast<uint16_t>(free_port());
  t.user = current_user();
  t.private_key = ts.key;
  t.host_key = "SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
  t.wait_for_up = std::chrono::milliseconds(800);
  tunnel::manager m;
  m.apply(settings_with({t}));
  auto r = open_channel(m, "nowhere", "127.0.0.1", 5432);
  INFO(r.error);
  CHECK(r.stage == "tcp-connect");
  CHECK(contains(r.error, "refused"));
  CHECK(contains(r.error, "not up"));
  auto u = open_channel(m, "missing", "127.0.0.1", 5432);
  CHECK(u.stage == "unknown-tunnel");
  CHECK(contains(u.error, "tunnels: nowhere"));
}

TEST_CASE("a group-readable private key is refused", "[tunnel]") {
  sshd_server sshd;
  tunnel_setup ts;
  sshd.authorize(ts.pub);
  ::chmod(ts.key.c_str(), 0640);
  // By config validation...
  auto cfg =
      "tunnels:\n  - name: bastion\n    host: 127.0.0.1\n    port: " + std::to_string(sshd.port()) +
      "\n    user: " + current_user() + "\n    private_key: " + ts.key + "\n    host_key: \"" +
      sshd.fingerprint() + "\"\n";
  auto loaded = config::load_string(cfg);
  CHECK_FALSE(loaded.settings);
  bool mentioned = false;
  for (const auto& i : loaded.issues.all())
    mentioned = mentioned || contains(i.str(), "chmod 600");
  CHECK(mentioned);
  // ...and by the tunnel itself, should the mode change after loading.
  auto t = ts.make(sshd);
  t.wait_for_up = std::chrono::milliseconds(1000);
  tunnel::manager m;
  m.apply(settings_with({t}));
  auto r = open_channel(m, "bastion", "127.0.0.1", 5432);
  INFO(r.error);
  CHECK(r.stage == "auth");
  CHECK(contains(r.error, "readable by group/others"));
  CHECK_FALSE(contains(sshd.log(), "Accepted publickey"));
}
