// known_hosts parsing and host matching, as OpenSSH does it.
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <catch2/catch.hpp>

#include "gateway/tunnel/known_hosts.hpp"
#include "gateway/tunnel/ssh_format.hpp"

using namespace sluice::tunnel;

namespace {
const std::string kKey = "AAAAC3NzaC1lZDI1NTE5AAAAIMr5d9EYJivgrApJLgvtaSdLu51kxWosg4szrtRfbLbu";

std::string hashed(const std::string& name, const std::string& salt) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha1(), salt.data(), static_cast<int>(salt.size()),
       reinterpret_cast<const unsigned char*>(name.data()), name.size(), out, &len);
  return "|1|" + base64_encode(salt) + "|" +
         base64_encode(std::string(reinterpret_cast<char*>(out), len));
}
}  // namespace

TEST_CASE("known_hosts lines parse into host field, type and key", "[tunnel]") {
  auto e = parse_known_hosts_line(
      "bastion.example.com,10.0.0.5 ssh-ed25519 " + kKey + " comment here", 3);
  REQUIRE(e.has_value());
  CHECK(e->hosts == "bastion.example.com,10.0.0.5");
  CHECK(e->key_type == "ssh-ed25519");
  CHECK(fingerprint_of_blob(e->key_blob) == "SHA256:X54ZnodRXuPGJ9elHzSblGlOG7sdIHx6TTzGpzvADXM");
  CHECK(e->line == 3);
  CHECK_FALSE(e->revoked);

  CHECK_FALSE(parse_known_hosts_line("# a comment").has_value());
  CHECK_FALSE(parse_known_hosts_line("   ").has_value());
  CHECK_FALSE(
      parse_known_hosts_line("@cert-authority *.example.com ssh-ed25519 " + kKey).has_value());
  CHECK_FALSE(parse_known_hosts_line("host ssh-ed25519").has_value());
  // The type must agree with the type inside the blob.
  CHECK_FALSE(parse_known_hosts_line("host ssh-rsa " + kKey).has_value());
  auto r = parse_known_hosts_line("@revoked host ssh-ed25519 " + kKey);
  REQUIRE(r.has_value());
  CHECK(r->revoked);
}

TEST_CASE("known_hosts names use [host]:port off port 22", "[tunnel]") {
  CHECK(known_hosts_name("bastion", 22) == "bastion");
  CHECK(known_hosts_name("bastion", 2222) == "[bastion]:2222");
  CHECK(known_hosts_field_matches("[127.0.0.1]:2222", "127.0.0.1", 2222));
  CHECK_FALSE(known_hosts_field_matches("127.0.0.1", "127.0.0.1", 2222));
  CHECK_FALSE(known_hosts_field_matches("[127.0.0.1]:2222", "127.0.0.1", 22));
  CHECK(known_hosts_field_matches("other,bastion", "bastion", 22));
  CHECK(known_hosts_field_matches("*.example.com", "db.example.com", 22));
  CHECK(known_hosts_field_matches("BASTION", "bastion", 22));
  CHECK_FALSE(known_hosts_field_matches("*.example.com,!db.example.com", "db.example.com", 22));
  CHECK(known_hosts_field_matches(hashed("[10.1.2.3]:2200", "0123456789abcdefghij"), "10.1.2.3",
                                  2200));
  CHECK_FALSE(
      known_hosts_field_matches(hashed("[10.1.2.3]:2200", "0123456789abcdefghij"), "10.1.2.3", 22));
}

TEST_CASE("known_hosts_for picks the entries for one host and port", "[tunnel]") {
  const std::string text =
      "# header\n"
      "a.example ssh-ed25519 " +
      kKey +
      "\n"
      "[a.example]:2222 ssh-ed25519 " +
      kKey +
      "\n"
      "garbage line\n"
      "@revoked [a.example]:2222 ssh-ed25519 " +
      kKey + "\r\n";
  auto all = parse_known_hosts(text);
  CHECK(all.size() == 3);
  auto on2222 = known_hosts_for(all, "a.example", 2222);
  REQUIRE(on2222.size() == 2);
  CHECK(on2222[0].line == 3);
  CHECK(on2222[1].revoked);
  CHECK(known_hosts_for(all, "a.example", 22).size() == 1);
  CHECK(known_hosts_for(all, "b.example", 22).empty());
}
