// SSH text formats used by tunnels: base64, wire strings and OpenSSH fingerprints.
#include <catch2/catch.hpp>

#include "gateway/tunnel/ssh_format.hpp"

using namespace sluice::tunnel;

TEST_CASE("base64 round-trips with and without padding", "[tunnel]") {
  for (std::string s : {"", "f", "fo", "foo", "foob", "fooba", "foobar"}) {
    CHECK(base64_decode(base64_encode(s)).value() == s);
    CHECK(base64_decode(base64_encode(s, false)).value() == s);
  }
  CHECK(base64_encode("foobar") == "Zm9vYmFy");
  CHECK(base64_encode("fooba") == "Zm9vYmE=");
  CHECK(base64_encode("fooba", false) == "Zm9vYmE");
  CHECK_FALSE(base64_decode("Zm9v!mE=").has_value());
  CHECK_FALSE(base64_decode("Z").has_value());
}

TEST_CASE("fingerprint of a public key blob matches ssh-keygen -l", "[tunnel]") {
  // ssh-keygen -lf printed SHA256:X54Z... for this key line.
  auto blob = base64_decode("AAAAC3NzaC1lZDI1NTE5AAAAIMr5d9EYJivgrApJLgvtaSdLu51kxWosg4szrtRfbLbu");
  REQUIRE(blob.has_value());
  CHECK(blob_key_type(*blob) == "ssh-ed25519");
  CHECK(fingerprint_of_blob(*blob) == "SHA256:X54ZnodRXuPGJ9elHzSblGlOG7sdIHx6TTzGpzvADXM");
  CHECK(same_fingerprint("SHA256:X54ZnodRXuPGJ9elHzSblGlOG7sdIHx6TTzGpzvADXM=",
                         "SHA256:X54ZnodRXuPGJ9elHzSblGlOG7sdIHx6TTzGpzvADXM"));
  CHECK_FALSE(same_fingerprint("SHA256:X54ZnodRXuPGJ9elHzSblGlOG7sdIHx6TTzGpzvADXm",
                               "SHA256:X54ZnodRXuPGJ9elHzSblGlOG7sdIHx6TTzGpzvADXM"));
}

TEST_CASE("fingerprint of a raw digest is unpadded base64", "[tunnel]") {
  std::string digest(32, '\0');
  CHECK(fingerprint_of_digest(digest) == "SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
}

TEST_CASE("SSH strings encode with a big-endian length and parse back", "[tunnel]") {
  std::string out;
  put_ssh_string(out, "ssh-ed25519");
  put_ssh_string(out, std::string("\x00\x01", 2));
  CHECK(out.substr(0, 4) == std::string("\x00\x00\x00\x0b", 4));
  size_t pos = 0;
  CHECK(get_ssh_string(out, pos).value() == "ssh-ed25519");
  CHECK(get_ssh_string(out, pos).value() == std::string("\x00\x01", 2));
  CHECK_FALSE(get_ssh_string(out, pos).has_value());
  size_t bad = 0;
  CHECK_FALSE(get_ssh_string(std::string("\x00\x00\x00\x09"
                                         "abc",
                                         7),
                             bad)
                  .has_value());
}
