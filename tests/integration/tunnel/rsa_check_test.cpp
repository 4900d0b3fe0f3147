// Forward tunnels with RSA cannot work with libssh2 1.10 against OpenSSH 8.8+: the
// configuration checks say so (and name the fix) before any connect fails.
#include <catch2/catch.hpp>

#include "gateway/tunnel/keys.hpp"
#include "gateway/tunnel/rsa_check.hpp"
#include "tests/support/paths.hpp"
#include "tests/support/process.hpp"

using namespace sluice;
using namespace sluice::test;

TEST_CASE("RSA keys and RSA-only known_hosts are reported for forward tunnels", "[rsa]") {
  REQUIRE_FALSE(tunnel::rsa_supported());  // libssh2 1.10 (Debian 12); revisit on upgrade
  temp_dir dir{"sluice-rsa"};
  REQUIRE(run("ssh-keygen -q -t rsa -b 2048 -m PEM -N '' -f " + dir.file("rsa")).exit_code == 0);
  REQUIRE(run("ssh-keygen -q -t ed25519 -N '' -f " + dir.file("ed")).exit_code == 0);
  const auto rsa_pub = read_file(dir.file("rsa.pub"));
  const auto ed_pub = read_file(dir.file("ed.pub"));
  config::tunnel t;
  t.name = "b";
  t.host = "bastion.example";
  t.port = 2200;
  t.private_key = dir.file("ed");
  t.known_hosts = dir.write("kh", "[bastion.example]:2200 " + rsa_pub);
  auto p = tunnel::rsa_problems(t);
  REQUIRE(p.size() == 1);
  CHECK(p[0].find("lists only an ssh-rsa key for [bastion.example]:2200") != std::string::npos);
  CHECK(p[0].find("sluice tunnel fingerprint bastion.example:2200") != std::string::npos);
  // An ed25519 entry beside it: libssh2 verifies that one.
  dir.write("kh", "[bastion.example]:2200 " + rsa_pub + "[bastion.example]:2200 " + ed_pub);
  CHECK(tunnel::rsa_problems(t).empty());
  // An RSA client key.
  t.known_hosts.clear();
  t.host_key = "SHA256:x";
  t.private_key = dir.file("rsa");
  p = tunnel::rsa_problems(t);
  REQUIRE(p.size() == 1);
  CHECK(p[0].find("private_key") != std::string::npos);
  CHECK(p[0].find("RSA keys are not supported with libssh2") != std::string::npos);
  // Reverse tunnels (libssh) accept rsa-sha2 agent keys: nothing to report.
  config::tunnel r;
  r.name = "rev";
  r.reverse = config::reverse_tunnel{{rsa_pub}, ""};
  CHECK(tunnel::rsa_problems(r).empty());
}

TEST_CASE("keygen refuses RSA, for tunnels and for the endpoint's host key", "[rsa]") {
  temp_dir dir{"sluice-rsa"};
  auto a = run(std::string(kSluiceBin) + " keygen --type rsa --out " + dir.file("k") + " 2>&1");
  CHECK(a.exit_code == 2);
  CHECK(a.output.find("RSA keys are not supported with libssh2") != std::string::npos);
  auto b = run(std::string(kSluiceBin) + " keygen --host-key --type rsa --out " + dir.file("h") +
               " 2>&1");
  CHECK(b.exit_code == 2);
  CHECK(b.output.find("RSA host keys are refused") != std::string::npos);
  auto c = run(std::string(kSluiceBin) + " keygen --host-key --out " + dir.file("h"));
  CHECK(c.exit_code == 0);
  auto again =
      run(std::string(kSluiceBin) + " keygen --host-key --if-missing --out " + dir.file("h"));
  CHECK(again.exit_code == 0);
  CHECK(again.output.empty());
}
