// Listener and upstream TLS settings: min_version, ciphers, ciphersuites, client
// certificates. Errors name the key's own line.
#include <catch2/catch.hpp>

#include "config/load.hpp"
#include "config/tls_ciphers.hpp"

using namespace sluice::config;

namespace {
load_result parse(const std::string& yaml) {
  return load_string(yaml, "/etc/sluice", {false});
}

// A terminating listener whose tls: mapping gets `tls_extra` (each line indented 6),
// and a route whose upstream tls: gets `up_extra`.
std::string yaml(const std::string& tls_extra, const std::string& up_extra = "",
                 const std::string& client_tls = "required") {
  return "region: test\n"                // 1
         "listeners:\n"                  // 2
         "  - name: pg\n"                // 3
         "    listen: 127.0.0.1:6432\n"  // 4
         "    client_tls: " +
         client_tls +
         "\n"                                     // 5
         "    tls:\n"                             // 6
         "      cert: /etc/sluice/server.crt\n"   // 7
         "      key: /etc/sluice/server.key\n" +  // 8
         tls_extra +                              // 9...
         "routes:\n"
         "  - name: db\n"
         "    upstream:\n"
         "      host: 127.0.0.1\n"
         "      tls:\n"
         "        sslmode: require\n" +
         up_extra;
}

// The issue whose path ends with `path_suffix`, as "line N: message".
std::string issue_at(const load_result& r, const std::string& path_suffix) {
  for (const auto& i : r.issues.all())
    if (i.path.size() >= path_suffix.size() &&
        i.path.compare(i.path.size() - path_suffix.size(), path_suffix.size(), path_suffix) == 0)
      return "line " + std::to_string(i.line) + ": " + i.message;
  return "(none)";
}
}  // namespace

TEST_CASE("TLS defaults: 1.2 and up, no client certificates, sluice's cipher lists",
          "[config][tls]") {
  auto r = parse(yaml(""));
  INFO(r.issues.str());
  REQUIRE(r.settings);
  const auto& t = *r.settings->listeners[0].tls;
  CHECK(t.policy.min_version == tls_version::v1_2);
  CHECK(t.policy.ciphers.empty());
  CHECK(t.policy.ciphersuites.empty());
  CHECK(t.client_cert == client_cert_mode::off);
  CHECK(r.settings->routes[0].upstream.tls.policy.min_version == tls_version::v1_2);
  // The defaults pass the same check as an operator's strings.
  CHECK(cipher_list_problem(kDefaultCiphers).empty());
  CHECK(ciphersuites_problem(kDefaultCiphersuites).empty());
}

TEST_CASE("TLS settings are read on listeners and upstreams", "[config][tls]") {
  auto r =
      parse(yaml("      min_version: 1.3\n"
                 "      ciphers: ECDHE-RSA-AES256-GCM-SHA384\n"
                 "      ciphersuites: TLS_AES_256_GCM_SHA384\n"
                 "      client_ca: /etc/sluice/clients.pem\n",
                 "        min_version: \"1.3\"\n"));
  INFO(r.issues.str());
  REQUIRE(r.settings);
  const auto& t = *r.settings->listeners[0].tls;
  CHECK(t.policy.min_version == tls_version::v1_3);
  CHECK(t.policy.ciphers == "ECDHE-RSA-AES256-GCM-SHA384");
  CHECK(t.policy.ciphersuites == "TLS_AES_256_GCM_SHA384");
  CHECK(t.client_ca == "/etc/sluice/clients.pem");
  CHECK(t.client_cert == client_cert_mode::required);  // the default once a CA is given
  CHECK(r.settings->routes[0].upstream.tls.policy.min_version == tls_version::v1_3);

  auto o = parse(yaml("      client_ca: /etc/sluice/clients.pem\n      client_cert: optional\n"));
  REQUIRE(o.settings);
  CHECK(o.settings->listeners[0].tls->client_cert == client_cert_mode::optional);
}

TEST_CASE("TLS setting errors point at the key's line and say what to write", "[config][tls]") {
  struct row {
    std::string extra, path, needle;
    int line;
  };
  const std::vector<row> rows = {
      {"      min_version: 1.1\n", "tls.min_version", "TLS 1.1 is not supported", 9},
      {"      min_version: 1.4\n", "tls.min_version", "'1.4' is not one of: 1.2, 1.3", 9},
      {"      min_version: 1.2\n      ciphers: NOPE-CIPHER\n", "tls.ciphers",
       "selects no cipher OpenSSL knows", 10},
      {"      ciphers: ALL\n", "tls.ciphers", "lets in the weak cipher", 9},
      {"      ciphers: ECDHE-RSA-AES128-GCM-SHA256:AES256-SHA\n", "tls.ciphers", "weak cipher AES256-SHA",
       9},
      {"      ciphers: ECDHE-RSA-AES128-SHA\n", "tls.ciphers", "weak cipher", 9},
      {"      ciphersuites: TLS_NOT_A_SUITE\n", "tls.ciphersuites", "not a list of TLS 1.3 suites",
       9},
      {"      client_cert: required\n", "tls.client_cert", "needs tls.client_ca", 9},
      {"      client_cert: sometimes\n", "tls.client_cert", "not one of: off, optional, required",
       9},
  };
  for (const auto& r : rows) {
    auto res = parse(yaml(r.extra));
    INFO(r.extra << res.issues.str());
    CHECK_FALSE(res.settings);
    auto got = issue_at(res, r.path);
    CHECK_THAT(got, Catch::StartsWith("line " + std::to_string(r.line) + ": "));
    CHECK_THAT(got, Catch::Contains(r.needle));
  }
  // Upstream keys too, on their own line.
  auto up = parse(yaml("", "        min_version: 1.0\n"));
  CHECK_THAT(issue_at(up, "upstream.tls.min_version"), Catch::StartsWith("line 15: "));
  // A required client certificate with plaintext allowed would be a way around it.
  auto plain = parse(yaml("      client_ca: /etc/sluice/clients.pem\n", "", "optional"));
  CHECK_FALSE(plain.settings);
  CHECK_THAT(issue_at(plain, "client_tls"), Catch::StartsWith("line 5: "));
  CHECK_THAT(issue_at(plain, "client_tls"), Catch::Contains("must be required"));
}
