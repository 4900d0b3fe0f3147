// The one "did you mean" every unknown-name message uses (keys and names referred to).
#include <catch2/catch.hpp>

#include "config/issues.hpp"

using namespace sluice::config;

TEST_CASE("did_you_mean names the nearest candidate or says what to do instead") {
  const std::vector<std::string> keys = {"allow", "listen", "name", "tls"};
  struct row {
    const char* word;
    const char* otherwise;
    const char* expected;
  };
  const row rows[] = {
      {"alow", "", "; did you mean 'allow'?"},
      {"lisen", "", "; did you mean 'listen'?"},
      {"tsl", "", "; did you mean 'tls'?"},  // a swap is two edits: still near for 3 letters
      {"nmae", "", "; did you mean 'name'?"},
      {"certificate", "", ""},  // nothing near: no guess
      {"certificate", " (known keys: allow, listen, name, tls)",
       " (known keys: allow, listen, name, tls)"},
      {"", "; define it under tunnels:", "; define it under tunnels:"},
  };
  for (const auto& r : rows) {
    INFO(r.word);
    CHECK(did_you_mean(r.word, keys, r.otherwise) == r.expected);
  }
  CHECK(did_you_mean("alow", {}, "; none") == "; none");
}

TEST_CASE("unknown_name says what kind of name is unknown, then the hint") {
  const std::vector<std::string> tunnels = {"bastion-eu", "bastion-us"};
  CHECK(unknown_name("tunnel", "bastion-eux", tunnels, "; define it under tunnels:") ==
        "unknown tunnel 'bastion-eux'; did you mean 'bastion-eu'?");
  CHECK(unknown_name("tunnel", "vpn", tunnels, "; define it under tunnels:") ==
        "unknown tunnel 'vpn'; define it under tunnels:");
  CHECK(unknown_name("route", "zzz", {}) == "unknown route 'zzz'");
}
