// Tunnel keys: OpenSSL-generated keys and the authorized_keys line derived from them.
#include <catch2/catch.hpp>

#include "gateway/tunnel/keys.hpp"
#include "gateway/tunnel/ssh_format.hpp"

using namespace sluice::tunnel;

TEST_CASE("ed25519 keygen writes PKCS#8 PEM and an ssh-ed25519 line", "[tunnel]") {
  auto k = generate_key(key_type::ed25519, "ops@example");
  CHECK(k.private_pem.rfind("-----BEGIN PRIVATE KEY-----", 0) == 0);
  CHECK(k.public_line.rfind("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI", 0) == 0);
  CHECK(k.public_line.substr(k.public_line.size() - 12) == " ops@example");
  std::string err;
  auto info = public_key_from_private(k.private_pem, err);
  REQUIRE(err.empty());
  CHECK(info.type == "ssh-ed25519");
  CHECK(info.blob.size() == 4 + 11 + 4 + 32);
  CHECK(info.line("ops@example") == k.public_line);
  CHECK(info.fingerprint().rfind("SHA256:", 0) == 0);
  CHECK(info.fingerprint().size() == 7 + 43);
}

TEST_CASE("ecdsa keygen encodes the nistp256 point", "[tunnel]") {
  auto k = generate_key(key_type::ecdsa, "");
  CHECK(k.public_line.rfind(
            "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABB", 0) == 0);
  std::string err;
  auto info = public_key_from_private(k.private_pem, err);
  REQUIRE(err.empty());
  CHECK(info.line("") == k.public_line);
  size_t pos = 0;
  CHECK(get_ssh_string(info.blob, pos).value() == "ecdsa-sha2-nistp256");
  CHECK(get_ssh_string(info.blob, pos).value() == "nistp256");
  auto point = get_ssh_string(info.blob, pos).value();
  CHECK(point.size() == 65);
  CHECK(point[0] == '\x04');
}

TEST_CASE("unreadable private keys give a message", "[tunnel]") {
  std::string err;
  public_key_from_private("not a key", err);
  CHECK(err.find("cannot read the private key") != std::string::npos);
  public_key_from_private(
      "-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----\n", err);
  CHECK(err.find("malformed") != std::string::npos);
}

TEST_CASE("RSA is refused while libssh2 lacks rsa-sha2", "[tunnel]") {
  if (!rsa_supported())
    CHECK(rsa_refusal_message().find("ed25519") != std::string::npos);
}
