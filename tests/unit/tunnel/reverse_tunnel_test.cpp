// Reverse tunnels, pure parts: authorized_keys lines, the ssh_server / reverse: config,
// which key may log in as which tunnel, per-address limits and agent selection.
#include <catch2/catch.hpp>

#include "config/authorized_keys.hpp"
#include "config/load.hpp"
#include "gateway/tunnel/reverse/policy.hpp"

using namespace sluice;
using namespace sluice::config;
namespace rv = sluice::tunnel::reverse;

namespace {
// Real public keys made with ssh-keygen (the blobs are what matters here).
const std::string kEd =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA6uRwobx9hlxry4ActdzOXOJPNbdXfzjKYSSPypkbN1 acme-vpc";
const std::string kEd2 =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBqLHolMnZjKPWcvOj6sW63Fy6/ajRHV2qFRJIzrJ23m other";
const std::string kEcdsa =
    "ecdsa-sha2-nistp256 "
    "AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBI395eCcPyns/gMzmhLWAn2LKfQkpk++rmp3Ym"
    "hDKm+uDv7PLZLyD/OmZE2kUSEWoe+zwm9vmHCule/KSYunE70= db";

load_result parse(const std::string& yaml) {
  return load_string(yaml, "/etc/sluice", {false});
}

std::string with_reverse(const std::string& tunnel_body, const std::string& server = "") {
  return "region: test\n" +
         (server.empty() ? std::string("ssh_server:\n  listen: 0.0.0.0:2222\n  host_key: "
                                       "/etc/sluice/ssh_host_ed25519\n")
                         : server) +
         "tunnels:\n  - name: acme\n" + tunnel_body +
         "routes:\n  - name: db\n    upstream: {host: db.internal, port: 5432, via: acme}\n";
}
}  // namespace

TEST_CASE("authorized_keys lines: type, base64 and comment, refusals with reasons",
          "[reverse][unit]") {
  std::string error;
  auto k = parse_authorized_key(kEd, error);
  REQUIRE(k);
  CHECK(error.empty());
  CHECK(k->type == "ssh-ed25519");
  CHECK(k->comment == "acme-vpc");
  CHECK(k->blob.size() == 51);  // string "ssh-ed25519" + 32-byte key
  CHECK(parse_authorized_key(kEcdsa, error));

  struct bad {
    std::string line, why;
  };
  for (const auto& b : std::vector<bad>{
           {"", "empty"},
           {"ssh-dss AAAAB3NzaC1kc3MAAACBA", "not a supported key type"},
           {"from=\"10.0.0.0/8\" ssh-ed25519 AAAA", "options"},
           {"ssh-ed25519", "missing"},
           {"ssh-ed25519 !!!notbase64", "not valid base64"},
           // ecdsa blob under an ed25519 label
           {"ssh-ed25519 " + kEcdsa.substr(20), "does not encode a ssh-ed25519 key"},
       }) {
    INFO(b.line);
    CHECK_FALSE(parse_authorized_key(b.line, error));
    CHECK(error.find(b.why) != std::string::npos);
  }
  std::vector<std::string> errors;
  auto keys =
      parse_authorized_keys("# agents\n\n" + kEd + "\nssh-ed25519 ???\n" + kEd2 + "\n", errors);
  CHECK(keys.size() == 2);
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].rfind("line 4: ", 0) == 0);
}

TEST_CASE("a reverse tunnel and ssh_server load with documented defaults", "[reverse][unit]") {
  auto r = parse(with_reverse("    reverse:\n      authorized_keys: [\"" + kEd + "\"]\n"));
  INFO(r.issues.str());
  REQUIRE(r.settings);
  const auto& s = *r.settings;
  REQUIRE(s.ssh_server);
  CHECK(s.ssh_server->listen.port == 2222);
  CHECK(s.ssh_server->login_timeout == duration{10'000});
  CHECK(s.ssh_server->max_sessions == 1000);
  CHECK(s.ssh_server->max_unauthenticated_per_address == 10);
  REQUIRE(s.tunnels.size() == 1);
  REQUIRE(s.tunnels[0].reverse);
  CHECK(s.tunnels[0].reverse->authorized_keys.size() == 1);
  CHECK(s.tunnels[0].keepalive.interval == duration{15'000});
  CHECK(s.tunnels[0].host.empty());
}

TEST_CASE("reverse tunnel config errors say what to do", "[reverse][unit]") {
  auto problems = [](const std::string& yaml) { return parse(yaml).issues.str(); };
  // Forward and reverse at once.
  auto p =
      problems(with_reverse("    host: bastion\n    user: u\n    reverse:\n"
                            "      authorized_keys: [\"" +
                            kEd + "\"]\n"));
  CHECK(p.find("tunnels[0].host") != std::string::npos);
  CHECK(p.find("a tunnel is either forward") != std::string::npos);
  CHECK(p.find("tunnels[0].user") != std::string::npos);
  // No keys.
  p = problems(with_reverse("    reverse: {}\n"));
  CHECK(p.find("tunnels[0].reverse") != std::string::npos);
  CHECK(p.find("authorized_keys") != std::string::npos);
  // A bad key line, with its index.
  p = problems(with_reverse("    reverse:\n      authorized_keys: [\"ssh-ed25519 @@\"]\n"));
  CHECK(p.find("tunnels[0].reverse.authorized_keys[0]") != std::string::npos);
  // No endpoint for the agents.
  p = problems("region: t\ntunnels:\n  - name: acme\n    reverse:\n      authorized_keys: [\"" +
               kEd + "\"]\n");
  CHECK(p.find("needs the top-level ssh_server") != std::string::npos);
  // One key, two tunnels.
  p = problems(with_reverse("    reverse:\n      authorized_keys: [\"" + kEd +
                            "\"]\n  - name: beta\n    reverse:\n      authorized_keys: [\"" + kEd +
                            "\"]\n"));
  CHECK(p.find("is also authorized for tunnel 'acme'") != std::string::npos);
  // ssh_server typos and ranges.
  p = problems(with_reverse("    reverse:\n      authorized_keys: [\"" + kEd + "\"]\n",
                            "ssh_server:\n  listen: 0.0.0.0:2222\n  host_key: k\n"
                            "  login_timeuot: 5s\n  max_sessions: 0\n  allow: [nowhere]\n"));
  CHECK(p.find("login_timeuot") != std::string::npos);
  CHECK(p.find("login_timeout") != std::string::npos);
  CHECK(p.find("ssh_server.max_sessions") != std::string::npos);
  CHECK(p.find("unknown allowlist 'nowhere'") != std::string::npos);
  p = problems("region: t\nssh_server:\n  host_key: k\n");
  CHECK(p.find("ssh_server.listen") != std::string::npos);
}

TEST_CASE("a key logs in only as its own tunnel", "[reverse][unit]") {
  rv::key_index keys{{"acme", {"KEY-A", "KEY-A2"}}, {"other", {"KEY-O"}}};
  struct row {
    std::string user, key;
    bool allowed;
    std::string why;
  };
  for (const auto& r : std::vector<row>{
           {"acme", "KEY-A", true, ""},
           {"acme", "KEY-A2", true, ""},
           {"other", "KEY-O", true, ""},
           {"acme", "KEY-O", false, "authorized for tunnel 'other', not 'acme'"},
           {"other", "KEY-A", false, "authorized for tunnel 'acme', not 'other'"},
           {"acme", "KEY-X", false, "is not in tunnel 'acme' reverse.authorized_keys"},
           {"root", "KEY-A", false, "no reverse tunnel is named 'root'"},
           {"root", "KEY-X", false, "no reverse tunnel is named 'root'"},
           {"", "KEY-A", false, "no reverse tunnel is named ''"},
       }) {
    INFO(r.user << " " << r.key);
    auto v = rv::check_agent_key(keys, r.user, r.key);
    CHECK(v.allowed == r.allowed);
    CHECK(v.reason.find(r.why) != std::string::npos);
  }
}

TEST_CASE("unauthenticated connections are limited per address", "[reverse][unit]") {
  rv::address_limiter lim(2);
  CHECK(lim.try_admit("10.0.0.1"));
  CHECK(lim.try_admit("10.0.0.1"));
  CHECK_FALSE(lim.try_admit("10.0.0.1"));
  CHECK(lim.try_admit("10.0.0.2"));
  lim.release("10.0.0.1");
  CHECK(lim.count("10.0.0.1") == 1);
  CHECK(lim.try_admit("10.0.0.1"));
  lim.release("10.0.0.9");  // unknown: no effect, no underflow
  CHECK(lim.count("10.0.0.9") == 0);
  lim.set_limit(5);
  CHECK(lim.try_admit("10.0.0.1"));
}

TEST_CASE("forwards and agent choice", "[reverse][unit]") {
  CHECK(rv::forward_refusal({"localhost", 5432}).empty());
  CHECK(rv::forward_refusal({"localhost", 0}).find("port 0") != std::string::npos);
  std::vector<rv::agent_load> agents{
      {true, {{"localhost", 5432}}, 3},
      {true, {{"localhost", 5432}, {"localhost", 6543}}, 1},
      {false, {{"localhost", 5432}}, 0},  // dying: never chosen
      {true, {{"", 7000}}, 0},
  };
  CHECK(rv::pick_agent(agents, 5432) == 1);
  CHECK(rv::pick_agent(agents, 6543) == 1);
  CHECK(rv::pick_agent(agents, 7000) == 3);
  CHECK(rv::pick_agent(agents, 9999) == -1);
  CHECK(rv::pick_agent({}, 5432) == -1);
  agents[1].channels = 10;
  CHECK(rv::pick_agent(agents, 5432) == 0);
}

TEST_CASE("the endpoint offers modern algorithms only", "[reverse][unit]") {
  for (const char* list : {rv::kKeyExchange, rv::kCiphers, rv::kMacs, rv::kAgentKeyTypes}) {
    const std::string l = list;
    INFO(l);
    CHECK(l.find("sha1") == std::string::npos);
    CHECK(l.find("cbc") == std::string::npos);
    CHECK(l.find("diffie-hellman") == std::string::npos);
    CHECK(l.find("ssh-rsa") == std::string::npos);
  }
  CHECK(std::string(rv::kMacs).find("-etm@openssh.com") != std::string::npos);
  CHECK(std::string(rv::kMacs).find("hmac-sha2-256,") == std::string::npos);
}
