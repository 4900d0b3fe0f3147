// Reverse-tunnel test set-up: PostgreSQL (ssl=on, scram-sha-256), a real `sluice run` whose
// ssh_server endpoint serves the reverse tunnels "acme" and "other", a route "db" via
// "acme", and OpenSSH clients (`ssh -N -R ...`) as the customers' agents.
#pragma once

#include <signal.h>

#include <catch2/catch.hpp>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tests/support/gateway_process.hpp"
#include "tests/support/paths.hpp"
#include "tests/support/pg_cluster.hpp"
#include "tests/support/process.hpp"

namespace sluice::test {

// An OpenSSH key pair made with ssh-keygen.
struct agent_key {
  agent_key(const temp_dir& dir, const std::string& name, const std::string& type = "ed25519") {
    path = dir.file(name);
    auto r = run("ssh-keygen -q -t " + type + " -N '' -C " + name + " -f " + path);
    REQUIRE(r.exit_code == 0);
    pub = read_file(path + ".pub");
    while (!pub.empty() && pub.back() == '\n')
      pub.pop_back();
  }
  std::string path, pub;
};

struct reverse_gateway {
  struct options {
    std::string acme_extra;    // more keys of tunnel acme, each line indented by 4 spaces
    std::string ssh_extra;     // more keys of ssh_server, indented by 2
    std::string host_key_of;   // use this host key file (instances behind one name share one)
    std::string upstream_ca;   // the CA the route verifies the database with (default: ours)
    std::string routes_first;  // routes matched before "db", each starting "  - name: "
  };

  explicit reverse_gateway(options o = {}) : opts(std::move(o)) {
    ssh_port = free_port();
    pg_port_gw = free_port();
    admin_port = free_port();
    auto r = opts.host_key_of.empty()
                 ? run(std::string(kSluiceBin) + " keygen --host-key --out " + host_key)
                 : run("install -m 600 " + opts.host_key_of + " " + host_key);
    REQUIRE(r.exit_code == 0);
    dir.write("acme_keys", "");
    gw = std::make_unique<gateway_process>(dir, yaml());
    auto hk = run(std::string(kSluiceBin) + " tunnel host-key -c " + gw->config_path() +
                  " --host 127.0.0.1");
    REQUIRE(hk.exit_code == 0);
    for (size_t at = 0; at < hk.output.size();) {
      auto nl = hk.output.find('\n', at);
      auto line = hk.output.substr(at, nl - at);
      if (line.rfind("[127.0.0.1]:", 0) == 0)
        dir.write("known_hosts", line + "\n");
      if (line.rfind("fingerprint: ", 0) == 0)
        fingerprint = line.substr(13);
      at = nl == std::string::npos ? hk.output.size() : nl + 1;
    }
    REQUIRE(!fingerprint.empty());
  }

  std::string yaml() const {
    std::string keys_acme = "[\"" + acme.pub + "\"]";
    return "region: test\nshutdown_grace: 2s\nadmin:\n  listen: 127.0.0.1:" +
           std::to_string(admin_port) +
           "\nallowlists:\n  clients: [127.0.0.1/32]\nssh_server:\n  listen: 127.0.0.1:" +
           std::to_string(ssh_port) + "\n  host_key: " + host_key +
           "\n  login_timeout: 5s\n  allow: [clients]\n" + opts.ssh_extra +
           "tunnels:\n  - name: acme\n    reverse:\n      authorized_keys: " + keys_acme +
           "\n      authorized_keys_file: " + dir.file("acme_keys") +
           "\n    keepalive: {interval: 1s, max_missed: 3}\n    wait_for_up: 2s\n"
           "    connect_timeout: 5s\n" +
           opts.acme_extra + "  - name: other\n    reverse:\n      authorized_keys: [\"" +
           other.pub +
           "\"]\nlisteners:\n  - name: pg\n    listen: 127.0.0.1:" + std::to_string(pg_port_gw) +
           "\n    client_tls: disabled\n    allow: [clients]\nroutes:\n" + opts.routes_first +
           "  - name: db\n"
           "    upstream: {host: localhost, port: 5432, via: acme, connect_timeout: 5s, tls: "
           "{sslmode: verify-full, ca: " +
           (opts.upstream_ca.empty() ? pki.ca_cert : opts.upstream_ca) + "}}\n";
  }

  // `ssh` with everything pinned: this test's known_hosts, no user config, no agent.
  std::vector<std::string> ssh_argv(const std::string& key, const std::string& user,
                                    std::vector<std::string> extra) const {
    std::vector<std::string> argv{"ssh",
                                  "-F",
                                  "/dev/null",
                                  "-p",
                                  std::to_string(ssh_port),
                                  "-i",
                                  key,
                                  "-o",
                                  "IdentitiesOnly=yes",
                                  "-o",
                                  "IdentityAgent=none",
                                  "-o",
                                  "BatchMode=yes",
                                  "-o",
                                  "StrictHostKeyChecking=yes",
                                  "-o",
                                  "UserKnownHostsFile=" + dir.file("known_hosts"),
                                  "-o",
                                  "ServerAliveInterval=1",
                                  "-o",
                                  "ExitOnForwardFailure=yes"};
    for (auto& e : extra)
      argv.push_back(std::move(e));
    argv.push_back(user + "@127.0.0.1");
    return argv;
  }
  std::string ssh_cmd(const std::string& key, const std::string& user,
                      std::vector<std::string> extra) const {
    std::string cmd;
    for (const auto& a : ssh_argv(key, user, std::move(extra)))
      cmd += shell_quote(a) + " ";
    return cmd + "</dev/null 2>&1";
  }

  // Starts `ssh -N -R 5432:127.0.0.1:PG acme@...` and waits for its forward to register.
  std::unique_ptr<background_process> start_agent(const std::string& key = "",
                                                  const std::string& tunnel = "acme") {
    const size_t before = count_of(gw->log(), "reverse_forward_added");
    auto p = std::make_unique<background_process>(
        ssh_argv(key.empty() ? acme.path : key, tunnel,
                 {"-N", "-R", "5432:127.0.0.1:" + std::to_string(pg.port())}),
        dir.file("agent" + std::to_string(++agents_started) + ".log"));
    REQUIRE(eventually([&] { return count_of(gw->log(), "reverse_forward_added") > before; },
                       std::chrono::seconds(10)));
    return p;
  }

  std::string conninfo(const std::string& extra = "") const {
    return "host=127.0.0.1 port=" + std::to_string(pg_port_gw) +
           " user=postgres dbname=postgres sslmode=disable connect_timeout=10 " + extra;
  }
  run_result query(const std::string& sql) const {
    return psql(conninfo(), sql, pg_cluster::password());
  }
  bool log_has(const std::string& text,
               std::chrono::milliseconds wait = std::chrono::milliseconds(5000)) const {
    return eventually([&] { return gw->log().find(text) != std::string::npos; }, wait);
  }
  nlohmann::json tunnel_status(const std::string& name) const {
    auto r =
        run("curl -sS --max-time 5 http://127.0.0.1:" + std::to_string(admin_port) + "/v1/status",
            std::chrono::seconds(10));
    auto j = nlohmann::json::parse(r.output, nullptr, false);
    if (j.is_discarded() || !j.contains("tunnels"))
      return {};
    for (const auto& t : j["tunnels"]) {
      if (t.value("name", "") == name)
        return t;
    }
    return {};
  }

  options opts;
  temp_dir dir{"sluice-reverse"};
  test_pki pki{dir.path()};
  pg_cluster pg{[this] {
    auto o = ssl_on(pki);
    o.hba = {"hostssl all all 127.0.0.1/32 scram-sha-256"};
    return o;
  }()};
  agent_key acme{dir, "acme_agent"};
  agent_key other{dir, "other_agent"};
  std::string host_key = dir.file("ssh_host_ed25519");
  std::string fingerprint;
  int ssh_port = 0, pg_port_gw = 0, admin_port = 0;
  int agents_started = 0;
  std::unique_ptr<gateway_process> gw;
};

// `sluice agent` serving tunnel acme with key_owner's key and database, dialing out to
// every gateway in `gws`, with the host key pin `pin`.
inline std::vector<std::string> sluice_agent_argv(const reverse_gateway& key_owner,
                                                  const std::vector<const reverse_gateway*>& gws,
                                                  const std::string& pin) {
  std::vector<std::string> argv{
      kSluiceBin,   "agent",     "--tunnel",
      "acme",       "--key",     key_owner.acme.path,
      "--host-key", pin,         "--keepalive",
      "1",          "--forward", "5432:127.0.0.1:" + std::to_string(key_owner.pg.port())};
  for (const auto* g : gws) {
    argv.push_back("--gateway");
    argv.push_back("127.0.0.1:" + std::to_string(g->ssh_port));
  }
  return argv;
}

}  // namespace sluice::test
