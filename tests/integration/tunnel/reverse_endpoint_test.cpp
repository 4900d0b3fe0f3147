// The reverse-tunnel endpoint end to end: a real `sluice run`, real OpenSSH clients as
// agents (`ssh -N -R`), real PostgreSQL with ssl=on and scram-sha-256 behind them.
#include <signal.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <thread>

#include "tests/integration/tunnel/reverse_fixture.hpp"

using namespace sluice;
using namespace sluice::test;

TEST_CASE("psql reaches a database only through an ssh -R agent", "[reverse]") {
  reverse_gateway g;
  auto agent = g.start_agent();
  auto r = g.query("select 'via-agent', current_setting('ssl'), inet_server_port()");
  INFO(r.output << g.gw->log());
  REQUIRE(r.exit_code == 0);
  CHECK(r.output.find("via-agent|on|" + std::to_string(g.pg.port())) != std::string::npos);
  // The upstream TLS is verify-full against upstream.host (localhost), through the agent.
  auto ssl = g.query("select ssl from pg_stat_ssl where pid = pg_backend_pid()");
  CHECK(ssl.output.find("t") != std::string::npos);
  auto st = g.tunnel_status("acme");
  INFO(st.dump());
  CHECK(st.value("state", "") == "up");
  REQUIRE(st["agents"].size() == 1);
  CHECK(st["agents"][0].value("key_fingerprint", "").rfind("SHA256:", 0) == 0);
  CHECK(st["agents"][0]["forwards"].dump() == "[5432]");
  CHECK(st.value("channels_opened", 0) >= 2);
  CHECK(st.value("bytes_in", 0) > 0);
}

TEST_CASE("pgbench with 16 clients, a large COPY and a cancel through a reverse tunnel",
          "[reverse][load]") {
  reverse_gateway g;
  auto agent = g.start_agent();
  const std::string ci = g.conninfo();
  auto init = run("PGPASSWORD=" + pg_cluster::password() + " pgbench -i -q -s 2 '" + ci + "' 2>&1",
                  std::chrono::seconds(120));
  INFO(init.output);
  REQUIRE(init.exit_code == 0);
  auto bench =
      run("PGPASSWORD=" + pg_cluster::password() + " pgbench -n -c 16 -j 4 -T 5 '" + ci + "' 2>&1",
          std::chrono::seconds(120));
  INFO(bench.output << g.gw->log());
  REQUIRE(bench.exit_code == 0);
  CHECK(bench.output.find("number of clients: 16") != std::string::npos);
  CHECK(bench.output.find("number of failed transactions: 0") != std::string::npos);

  // 256 MiB out of the database, checksummed against the database's own answer.
  const std::string copy =
      "copy (select repeat(md5(i::text), 32) from generate_series(1, 262144) i) to stdout";
  const auto t0 = std::chrono::steady_clock::now();
  auto through = run("PGPASSWORD=" + pg_cluster::password() + " psql -XAt '" + ci + "' -c \"" +
                         copy + "\" | md5sum",
                     std::chrono::seconds(300));
  const auto secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  auto direct =
      run("psql -XAt " + shell_quote(g.pg.superuser_conninfo()) + " -c \"" + copy + "\" | md5sum",
          std::chrono::seconds(300));
  INFO("256 MiB COPY through the agent took " << secs << " s");
  WARN("reverse tunnel COPY of 257 MB: " << secs << " s");
  CHECK(through.exit_code == 0);
  CHECK(through.output == direct.output);

  // 64 MiB into the database.
  auto in =
      run("head -c 67108864 /dev/zero | tr '\\0' 'x' | fold -w 1024 | "
          "PGPASSWORD=" +
              pg_cluster::password() + " psql -XAt '" + ci +
              "' -c 'create table blob(t text)' -c 'copy blob from stdin' -c 'select "
              "sum(length(t)) from blob'",
          std::chrono::seconds(300));
  INFO(in.output);
  CHECK(in.output.find("67108864") != std::string::npos);

  // A cancel request travels through the tunnel too.
  background_process sleeper({"env", "PGPASSWORD=" + pg_cluster::password(), "psql", "-XAt", ci,
                              "-c", "select pg_sleep(60)"},
                             g.dir.file("sleeper.log"));
  REQUIRE(eventually(
      [&] {
        return g.pg.sql(
                   "select count(*) from pg_stat_activity where query like "
                   "'select pg_sleep(60)%'") == "1";
      },
      std::chrono::seconds(10)));
  const auto c0 = std::chrono::steady_clock::now();
  sleeper.signal(SIGINT);
  sleeper.wait(std::chrono::seconds(10));
  CHECK(std::chrono::steady_clock::now() - c0 < std::chrono::seconds(5));
  CHECK(sleeper.log().find("canceling statement due to user request") != std::string::npos);
}

TEST_CASE("the endpoint refuses everything but reverse forwards, saying why", "[reverse]") {
  reverse_gateway g;
  agent_key stranger{g.dir, "stranger"};
  SECTION("a key nobody authorized") {
    auto r = run(g.ssh_cmd(stranger.path, "acme", {"-N", "-R", "5432:127.0.0.1:1"}),
                 std::chrono::seconds(20));
    CHECK(r.exit_code == 255);
    CHECK(g.log_has("reverse_auth_refused"));
    CHECK(g.log_has("is not in tunnel 'acme' reverse.authorized_keys"));
  }
  SECTION("the key of another tunnel") {
    auto r = run(g.ssh_cmd(g.other.path, "acme", {"-N", "-R", "5432:127.0.0.1:1"}),
                 std::chrono::seconds(20));
    CHECK(r.exit_code == 255);
    CHECK(g.log_has("this key is authorized for tunnel 'other', not 'acme'"));
  }
  SECTION("a tunnel name that does not exist") {
    auto r = run(g.ssh_cmd(g.acme.path, "nobody", {"-N"}), std::chrono::seconds(20));
    CHECK(r.exit_code == 255);
    CHECK(g.log_has("no reverse tunnel is named 'nobody'"));
  }
  SECTION("password authentication") {
    auto r = run(g.ssh_cmd(g.acme.path, "acme",
                           {"-N", "-o", "PubkeyAuthentication=no", "-o",
                            "PreferredAuthentications=password,keyboard-interactive"}),
                 std::chrono::seconds(20));
    CHECK(r.exit_code == 255);
    CHECK(r.output.find("Permission denied (publickey)") != std::string::npos);
    CHECK(g.log_has("reverse_login_failed"));
    CHECK(g.log_has("only publickey logins are accepted"));
  }
  SECTION("a shell") {
    auto r = run(g.ssh_cmd(g.acme.path, "acme", {"-T"}), std::chrono::seconds(20));
    CHECK(r.exit_code != 0);
    CHECK(g.log_has("request=shell"));
  }
  SECTION("exec") {
    auto r = run(g.ssh_cmd(g.acme.path, "acme", {"-T"}) + " id", std::chrono::seconds(20));
    INFO(r.output);
    CHECK(r.exit_code != 0);
    CHECK(r.output.find("uid=") == std::string::npos);
    CHECK(g.log_has("request=\"exec 'id'\""));
  }
  SECTION("ssh -W (the gateway as a jump host)") {
    auto r = run(g.ssh_cmd(g.acme.path, "acme", {"-W", "127.0.0.1:" + std::to_string(g.pg.port())}),
                 std::chrono::seconds(20));
    CHECK(r.exit_code != 0);
    CHECK(g.log_has("direct-tcpip to 127.0.0.1:" + std::to_string(g.pg.port())));
    CHECK(g.log_has("this endpoint is not a jump host"));
  }
  SECTION("ssh -L (a local forward into the gateway's network)") {
    const int lport = free_port();
    background_process fwd(
        g.ssh_argv(
            g.acme.path, "acme",
            {"-N", "-L", std::to_string(lport) + ":127.0.0.1:" + std::to_string(g.pg.port())}),
        g.dir.file("l.log"));
    REQUIRE(wait_for_port("127.0.0.1", lport, std::chrono::seconds(10)));
    auto r = run("psql -XAt 'host=127.0.0.1 port=" + std::to_string(lport) +
                     " user=postgres sslmode=disable connect_timeout=5' -c 'select 1' 2>&1",
                 std::chrono::seconds(20));
    CHECK(r.exit_code != 0);
    CHECK(g.log_has("this endpoint is not a jump host"));
  }
}

TEST_CASE("no agent gives a clear error naming the tunnel and a returning agent restores service",
          "[reverse][resilience]") {
  reverse_gateway g;
  auto r = g.query("select 1");
  INFO(r.output);
  CHECK(r.exit_code != 0);
  CHECK(r.output.find("reverse tunnel 'acme' has no agent connected") != std::string::npos);
  auto st = g.tunnel_status("acme");
  CHECK(st.value("state", "") == "waiting-for-agent");
  // The route through it reports why; the gateway itself stays ready.
  auto health =
      run("curl -sS http://127.0.0.1:" + std::to_string(g.admin_port) + "/v1/routes/db/health");
  CHECK(health.output.find("tunnel acme is waiting-for-agent") != std::string::npos);

  auto agent = g.start_agent();
  REQUIRE(g.query("select 1").exit_code == 0);

  SECTION("a silent agent (frozen) is dropped within keepalive x max_missed") {
    agent->signal(SIGSTOP);
    const auto t0 = std::chrono::steady_clock::now();
    REQUIRE(g.log_has("no answer to 3 keepalives", std::chrono::seconds(8)));
    const auto took = std::chrono::steady_clock::now() - t0;
    CHECK(took < std::chrono::milliseconds(5500));  // 3 x 1s, plus a tick
    auto again = g.query("select 1");
    CHECK(again.exit_code != 0);
    CHECK(again.output.find("reverse tunnel 'acme' has no agent connected") != std::string::npos);
    agent->signal(SIGKILL);
    agent->signal(SIGCONT);
  }
  SECTION("a killed agent") {
    agent->signal(SIGKILL);
    REQUIRE(g.log_has("reverse_agent_down"));
    auto again = g.query("select 1");
    CHECK(again.output.find("reverse tunnel 'acme' has no agent connected") != std::string::npos);
  }
  agent->wait(std::chrono::seconds(5));
  auto back = g.start_agent();
  auto ok = g.query("select 'restored'");
  INFO(ok.output << g.gw->log());
  CHECK(ok.output.find("restored") != std::string::npos);
}

TEST_CASE("two agents serve one tunnel and one dying loses only its own channels",
          "[reverse][resilience]") {
  reverse_gateway g;
  auto a1 = g.start_agent();
  auto a2 = g.start_agent();
  REQUIRE(eventually([&] { return g.tunnel_status("acme")["agents"].size() == 2; },
                     std::chrono::seconds(5)));
  // Long-lived sessions spread over both agents (fewest channels first).
  std::vector<std::unique_ptr<background_process>> sleepers;
  for (int i = 0; i < 4; ++i) {
    sleepers.push_back(std::make_unique<background_process>(
        std::vector<std::string>{"env", "PGPASSWORD=" + pg_cluster::password(), "psql", "-XAt",
                                 g.conninfo(), "-c", "select pg_sleep(4), 'survived'"},
        g.dir.file("s" + std::to_string(i) + ".log")));
  }
  REQUIRE(eventually(
      [&] {
        return g.pg.sql(
                   "select count(*) from pg_stat_activity where query like "
                   "'select pg_sleep(4)%'") == "4";
      },
      std::chrono::seconds(10)));
  a1->signal(SIGKILL);
  int survived = 0;
  for (auto& s : sleepers) {
    s->wait(std::chrono::seconds(15));
    survived += s->log().find("survived") != std::string::npos ? 1 : 0;
  }
  CHECK(survived == 2);
  CHECK(g.query("select 1").exit_code == 0);
}

TEST_CASE("reload adds and removes agent keys and a removed key session is closed",
          "[reverse][reload]") {
  reverse_gateway g;
  agent_key second{g.dir, "second"};
  // Not authorized yet.
  auto r = run(g.ssh_cmd(second.path, "acme", {"-N", "-R", "5432:127.0.0.1:1"}),
               std::chrono::seconds(20));
  CHECK(r.exit_code == 255);
  // Added through authorized_keys_file, then reload.
  g.dir.write("acme_keys", "# acme's second agent\n" + second.pub + "\n");
  g.gw->reload();
  auto agent = g.start_agent(second.path);
  REQUIRE(g.query("select 1").exit_code == 0);
  // Removed again: its live session ends and its next login is refused.
  g.dir.write("acme_keys", "");
  g.gw->reload();
  CHECK(g.log_has("was removed from tunnel 'acme' by a configuration reload"));
  CHECK(agent->wait(std::chrono::seconds(10)) != -1);
  auto again = run(g.ssh_cmd(second.path, "acme", {"-N", "-R", "5432:127.0.0.1:1"}),
                   std::chrono::seconds(20));
  CHECK(again.exit_code == 255);
}

TEST_CASE("ssh-audit finds no failures on the endpoint", "[reverse][audit]") {
  reverse_gateway g;
  auto r = run("ssh-audit -n -p " + std::to_string(g.ssh_port) + " 127.0.0.1 2>&1",
               std::chrono::seconds(60));
  INFO(r.output);
  CHECK(r.output.find("[fail]") == std::string::npos);
  CHECK(r.output.find("curve25519-sha256") != std::string::npos);
  CHECK(r.output.find("ssh-ed25519") != std::string::npos);
  CHECK(r.output.find("cbc") == std::string::npos);
  CHECK(r.output.find("sha1") == std::string::npos);
  CHECK(r.exit_code != 3);  // 3: could not connect / unknown
}

TEST_CASE("metrics and readiness per reverse tunnel", "[reverse][metrics]") {
  reverse_gateway g;
  auto metrics = [&] {
    return run("curl -sS http://127.0.0.1:" + std::to_string(g.admin_port) + "/metrics").output;
  };
  CHECK(metrics().find("sluice_reverse_tunnel_agents{tunnel=\"acme\"} 0") != std::string::npos);
  CHECK(metrics().find("sluice_tunnel_up{tunnel=\"acme\"} 0") != std::string::npos);
  auto agent = g.start_agent();
  REQUIRE(g.query("select 1").exit_code == 0);
  auto m = metrics();
  INFO(m);
  CHECK(m.find("sluice_reverse_tunnel_agents{tunnel=\"acme\"} 1") != std::string::npos);
  CHECK(m.find("sluice_tunnel_up{tunnel=\"acme\"} 1") != std::string::npos);
  CHECK(m.find("sluice_tunnel_bytes_total{tunnel=\"acme\",direction=\"in\"} 0\n") ==
        std::string::npos);
  // "other" still has no agent: its status says so, and the gateway stays ready (a
  // tunnel counts for /readyz only through a route with affects_readiness).
  auto status = run("curl -sS http://127.0.0.1:" + std::to_string(g.admin_port) + "/v1/status");
  CHECK(status.output.find("waiting-for-agent") != std::string::npos);
  auto ready = run("curl -sS http://127.0.0.1:" + std::to_string(g.admin_port) + "/readyz");
  CHECK(ready.output == "ready\n");
}

TEST_CASE("doctor tunnel explains a missing agent, a missing forward and a refused channel",
          "[reverse][doctor]") {
  reverse_gateway g;
  auto doctor = [&] {
    return run(std::string(kSluiceBin) + " doctor -c " + g.gw->config_path() + " tunnel acme 2>&1",
               std::chrono::seconds(30));
  };
  auto none = doctor();
  INFO(none.output);
  CHECK(none.exit_code != 0);
  CHECK(none.output.find("no agent is connected") != std::string::npos);

  SECTION("an agent forwarding another port") {
    const size_t before = count_of(g.gw->log(), "reverse_forward_added");
    background_process agent(g.ssh_argv(g.acme.path, "acme", {"-N", "-R", "6543:127.0.0.1:1"}),
                             g.dir.file("wrong-port.log"));
    REQUIRE(eventually([&] { return count_of(g.gw->log(), "reverse_forward_added") > before; },
                       std::chrono::seconds(10)));
    auto r = doctor();
    INFO(r.output);
    CHECK(r.exit_code != 0);
    CHECK(r.output.find("the agents announce [6543], not port 5432") != std::string::npos);
    auto q = g.query("select 1");
    CHECK(q.output.find("none forwards port 5432 (announced: 6543)") != std::string::npos);
  }
  SECTION("an agent whose target refuses") {
    const size_t before = count_of(g.gw->log(), "reverse_forward_added");
    background_process agent(
        g.ssh_argv(g.acme.path, "acme",
                   {"-N", "-R", "5432:127.0.0.1:" + std::to_string(free_port())}),
        g.dir.file("refusing.log"));
    REQUIRE(eventually([&] { return count_of(g.gw->log(), "reverse_forward_added") > before; },
                       std::chrono::seconds(10)));
    auto q = g.query("select 1");
    INFO(q.output);
    CHECK(q.exit_code != 0);
    CHECK(q.output.find("refused the channel for port 5432") != std::string::npos);
    CHECK(g.log_has("reverse_channel_refused"));
    auto r = doctor();
    INFO(r.output);
    CHECK(r.output.find("could not connect to its -R target") != std::string::npos);
  }
  SECTION("a healthy agent") {
    auto agent = g.start_agent();
    auto r = doctor();
    INFO(r.output);
    CHECK(r.exit_code == 0);
    CHECK(r.output.find("1 connected") != std::string::npos);
  }
}
