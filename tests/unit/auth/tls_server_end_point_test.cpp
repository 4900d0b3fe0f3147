// tls-server-end-point (RFC 5929) of real certificates made with the openssl CLI: the
// hash follows the certificate's signature algorithm; MD5/SHA-1 become SHA-256.
#include <openssl/pem.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <memory>

#include "gateway/auth/channel_binding.hpp"
#include "tests/support/process.hpp"

using namespace sluice::auth;
using sluice::test::run;
using sluice::test::temp_dir;

namespace {

using x509_ptr = std::unique_ptr<X509, decltype(&X509_free)>;

x509_ptr load(const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "r");
  REQUIRE(f != nullptr);
  x509_ptr cert(PEM_read_X509(f, nullptr, nullptr, nullptr), X509_free);
  std::fclose(f);
  REQUIRE(cert);
  return cert;
}

// A self-signed certificate: `keygen` is the genpkey algorithm options, `digest` the
// signature hash ("" for algorithms with a built-in one, such as Ed25519).
std::string make_cert(const temp_dir& dir, const std::string& name, const std::string& keygen,
                      const std::string& digest) {
  const std::string key = dir.path() + "/" + name + ".key";
  const std::string crt = dir.path() + "/" + name + ".crt";
  auto r = run("openssl genpkey " + keygen + " -out " + key + " 2>&1 && openssl req -x509 -new" +
               (digest.empty() ? "" : " -" + digest) + " -key " + key + " -out " + crt +
               " -days 2 -subj /CN=" + name + " 2>&1");
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  return crt;
}

// `openssl x509 -fingerprint` as bytes: an independent computation of the same hash.
bytes fingerprint(const std::string& crt, const std::string& digest) {
  auto r = run("openssl x509 -noout -fingerprint -" + digest + " -in " + crt);
  REQUIRE(r.exit_code == 0);
  auto hex = r.output.substr(r.output.find('=') + 1);
  bytes out;
  for (size_t i = 0; i + 1 < hex.size(); i += 3)
    out.push_back(static_cast<uint8_t>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  return out;
}

}  // namespace

TEST_CASE("tls-server-end-point: RSA and ECDSA, SHA-256 and SHA-384, SHA-1 upgraded",
          "[auth][tls]") {
  temp_dir dir("sluice-cbind");
  struct row {
    const char* name;
    const char* keygen;
    const char* sign_digest;
    const char* binding_digest;
    size_t len;
  };
  const row rows[] = {
      {"rsa-sha256", "-algorithm RSA -pkeyopt rsa_keygen_bits:2048", "sha256", "sha256", 32},
      {"rsa-sha384", "-algorithm RSA -pkeyopt rsa_keygen_bits:2048", "sha384", "sha384", 48},
      {"rsa-sha512", "-algorithm RSA -pkeyopt rsa_keygen_bits:2048", "sha512", "sha512", 64},
      {"rsa-sha1", "-algorithm RSA -pkeyopt rsa_keygen_bits:2048", "sha1", "sha256", 32},
      {"ecdsa-p256-sha256", "-algorithm EC -pkeyopt ec_paramgen_curve:P-256", "sha256", "sha256",
       32},
      {"ecdsa-p384-sha384", "-algorithm EC -pkeyopt ec_paramgen_curve:P-384", "sha384", "sha384",
       48},
      {"ecdsa-p256-sha384", "-algorithm EC -pkeyopt ec_paramgen_curve:P-256", "sha384", "sha384",
       48},
  };
  for (const auto& r : rows) {
    INFO(r.name);
    auto crt = make_cert(dir, r.name, r.keygen, r.sign_digest);
    auto cert = load(crt);
    auto hash = tls_server_end_point(cert.get());
    REQUIRE(hash);
    CHECK(hash->size() == r.len);
    CHECK(hash.value() == fingerprint(crt, r.binding_digest));
    // Same answer from the DER bytes.
    unsigned char* der = nullptr;
    int len = i2d_X509(cert.get(), &der);
    REQUIRE(len > 0);
    auto from_der = tls_server_end_point_der(byte_view(der, static_cast<size_t>(len)));
    OPENSSL_free(der);
    REQUIRE(from_der);
    CHECK(from_der.value() == hash.value());
  }
}

TEST_CASE("tls-server-end-point: no binding for Ed25519, no certificate, or junk", "[auth][tls]") {
  temp_dir dir("sluice-cbind");
  auto crt = make_cert(dir, "ed25519", "-algorithm ED25519", "");
  auto cert = load(crt);
  auto hash = tls_server_end_point(cert.get());
  REQUIRE_FALSE(hash);
  CHECK_THAT(hash.error().detail, Catch::Contains("names no hash function"));
  CHECK_FALSE(tls_server_end_point(nullptr));
  const uint8_t junk[] = {0x30, 0x03, 0x02, 0x01, 0x01};
  CHECK_FALSE(tls_server_end_point_der(junk));
  CHECK_FALSE(tls_server_end_point_der({}));
}
