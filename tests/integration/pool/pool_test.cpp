// routes[].pool (issue 19) against a real PostgreSQL 15 (ssl = on, scram-sha-256): a
// TLS-terminating listener, a route with auth.mode: terminate to the database over TLS,
// and session pooling. Reuse is seen from the database (same pg_backend_pid and
// backend_start), is invisible (session state does not leak), never skips the client's
// password check, keeps cancel working, skips backends killed while idle, respects size
// and wait_timeout, survives reload, and drains; pgbench -C runs through it. min_idle
// opens backends in advance once a client's credential logged in, and refills them.
#include <algorithm>
#include <catch2/catch.hpp>
#include <csignal>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "tests/integration/tunnel/fixture.hpp"
#include "tests/support/gateway_process.hpp"
#include "tests/support/pg_cluster.hpp"
#include "tests/support/process.hpp"

using namespace sluice::test;

namespace {

const std::string kAlicePw = "alice-pool-pw";

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' '))
    s.pop_back();
  return s;
}
bool has(const std::string& hay, const std::string& needle) {
  return hay.find(needle) != std::string::npos;
}

struct pool_options {
  int size = 4;
  std::string wait_timeout = "5s";
  std::string extra;    // more pool keys, "key: value, "
  bool tunnel = false;  // the route reaches the database via an OpenSSH sshd on loopback
};

class pool_env {
 public:
  explicit pool_env(pool_options o = {}) : pki_(dir_.path()), pg_(make_pg(pki_)) {
    if (o.tunnel) {
      sshd_ = std::make_unique<sshd_server>();
      keys_ = std::make_unique<tunnel_setup>();
      sshd_->authorize(keys_->pub);
    }
    pg_.sql("create role alice login password '" + kAlicePw + "'");
    pg_.sql("create database app owner alice");
    auth_pw_ = dir_.write("auth.pw", pg_cluster::password() + "\n", 0600);
    token_ = dir_.write("admin.token", "pool-token\n", 0600);
    port_ = free_port();
    admin_port_ = free_port();
    gw_ = std::make_unique<gateway_process>(dir_, yaml(o));
  }

  std::string yaml(const pool_options& o) const {
    return "region: test\nshutdown_grace: 3s\nadmin:\n  listen: 127.0.0.1:" +
           std::to_string(admin_port_) + "\n  token_file: " + token_ + "\n" +
           (keys_ ? "tunnels:\n" + keys_->yaml(*sshd_, "bastion", "    connect_timeout: 5s\n")
                  : std::string()) +
           "listeners:\n  - name: pg\n    listen: 127.0.0.1:" + std::to_string(port_) +
           "\n    tls: {cert: " + pki_.server_cert + ", key: " + pki_.server_key +
           "}\n    client_tls: optional\nroutes:\n  - name: app\n    match: {database: app}\n"
           "    upstream: {host: 127.0.0.1, port: " +
           std::to_string(pg_.port()) + (keys_ ? ", via: bastion" : "") +
           ", connect_timeout: 3s, tls: {sslmode: require}}\n"
           "    auth: {mode: terminate, query: {user: postgres, password_file: " +
           auth_pw_ + "}}\n    pool: {mode: session, " + o.extra +
           "size: " + std::to_string(o.size) + ", wait_timeout: " + o.wait_timeout + "}\n";
  }

  std::string conninfo(const std::string& extra = "") const {
    return "host=localhost hostaddr=127.0.0.1 port=" + std::to_string(port_) +
           " user=alice dbname=app sslmode=require connect_timeout=10 " + extra;
  }
  run_result sql(const std::string& q, const std::string& pw = kAlicePw,
                 const std::string& extra = "") const {
    return psql(conninfo(extra), q, pw);
  }
  // A psql running `q` in the background (it holds its pooled backend until done).
  background_process hold(const std::string& q, const std::string& name) const {
    return background_process({"sh", "-c",
                               "PGPASSWORD=" + shell_quote(kAlicePw) + " psql -XAt -c " +
                                   shell_quote(q) + " " + shell_quote(conninfo())},
                              dir_.file(name + ".log"));
  }
  std::string admin(const std::string& path) const {
    return run("curl -sS --max-time 5 -H 'Authorization: Bearer pool-token' http://127.0.0.1:" +
                   std::to_string(admin_port_) + path,
               std::chrono::seconds(10))
        .output;
  }
  nlohmann::json pool_status() const {
    auto j = nlohmann::json::parse(admin("/v1/status"), nullptr, false);
    if (j.is_discarded() || !j.contains("pools") || j["pools"].empty())
      return {};
    return j["pools"][0];
  }
  // alice's backends as the database sees them.
  int backends() const {
    return std::stoi(trim(pg_.sql(
        "select count(*) from pg_stat_activity where usename = 'alice' and datname = 'app'")));
  }

  pg_cluster& pg() { return pg_; }
  gateway_process& gw() { return *gw_; }
  const temp_dir& dir() const { return dir_; }

 private:
  static pg_options make_pg(const test_pki& pki) {
    auto o = ssl_on(pki);
    o.hba = {"host all all 127.0.0.1/32 scram-sha-256"};
    o.conf = {"max_connections = 100"};
    return o;
  }

  temp_dir dir_{"sluice-pool"};
  test_pki pki_;
  pg_cluster pg_;
  std::string auth_pw_, token_;
  int port_ = 0, admin_port_ = 0;
  std::unique_ptr<sshd_server> sshd_;
  std::unique_ptr<tunnel_setup> keys_;
  std::unique_ptr<gateway_process> gw_;
};

const std::string kWho =
    "select pid || ' ' || backend_start from pg_stat_activity where pid = pg_backend_pid()";

}  // namespace

TEST_CASE("pool: a second client gets the first one's backend, with nothing left behind",
          "[pool]") {
  pool_env e;
  auto first = e.sql(kWho);
  REQUIRE(first.exit_code == 0);
  // Session state of every kind the reset must clear.
  auto dirty = e.sql(
      "set search_path = pg_catalog; create temp table leak(a int); listen leak_channel; "
      "prepare leak_stmt as select 1; select pg_advisory_lock(42); "
      "set application_name = 'leaky'; " +
      kWho);
  INFO(dirty.output << e.gw().log());
  REQUIRE(dirty.exit_code == 0);
  CHECK(has(dirty.output, trim(first.output)));
  auto after = e.sql(kWho +
                     "; show search_path; select to_regclass('pg_temp.leak') is null; "
                     "select count(*) from pg_listening_channels(); "
                     "select count(*) from pg_prepared_statements; "
                     "select count(*) from pg_locks where locktype = 'advisory'; "
                     "show application_name");
  INFO(after.output << e.gw().log());
  REQUIRE(after.exit_code == 0);
  // Same pid and backend_start: the very same backend, and it looks fresh.
  CHECK(after.output == trim(first.output) + "\n\"$user\", public\nt\n0\n0\n0\npsql\n");
  CHECK(e.backends() == 1);
  const auto log = e.gw().log();
  CHECK(count_of(log, "pool_backend_reused") == 2);
  auto p = e.pool_status();
  INFO(p.dump());
  CHECK(p.value("reused", 0) == 2);
  CHECK(p.value("created", 0) == 1);
  CHECK(p.value("idle", 0) == 1);
  CHECK(p.value("in_use", 1) == 0);

  // A different application_name is set on the reused backend, and reported to the client.
  auto named = e.sql("show application_name; " + kWho, kAlicePw, "application_name=other");
  INFO(named.output);
  CHECK(named.output == "other\n" + trim(first.output) + "\n");
  // The metrics carry the pool and still pass promtool.
  const auto metrics = e.admin("/metrics");
  e.dir().write("metrics.txt", metrics);
  auto check =
      run("promtool check metrics < " + shell_quote(e.dir().file("metrics.txt")) + " 2>&1");
  INFO(check.output);
  CHECK(check.exit_code == 0);
  CHECK(has(metrics, "sluice_pool_reused_total{route=\"app\",user=\"alice\",database=\"app\"} 3"));
  CHECK(has(metrics, "sluice_pool_idle{route=\"app\",user=\"alice\",database=\"app\"} 1"));
  CHECK(has(metrics,
            "sluice_pool_wait_seconds_count{route=\"app\",user=\"alice\",database=\"app\"} 4"));
}

TEST_CASE("pool: a backend left in a transaction or mid-COPY is closed, not kept", "[pool]") {
  pool_env e;
  auto first = e.sql(kWho);
  REQUIRE(first.exit_code == 0);
  // psql quits inside an open transaction.
  auto tx = e.sql("begin; select 1");
  REQUIRE(tx.exit_code == 0);
  CHECK(eventually([&] { return has(e.gw().log(), "reason=in_transaction"); },
                   std::chrono::seconds(5)));
  auto next = e.sql(kWho);
  INFO(next.output << e.gw().log());
  CHECK(next.exit_code == 0);
  CHECK(next.output != first.output);
}

TEST_CASE("pool: a wrong password is refused although a warm backend is idle", "[pool]") {
  pool_env e;
  auto first = e.sql(kWho);
  REQUIRE(first.exit_code == 0);
  auto wrong = e.sql(kWho, "not-the-password");
  INFO(wrong.output);
  CHECK(wrong.exit_code != 0);
  CHECK(has(wrong.output, "password authentication failed for user \"alice\""));
  CHECK(e.pool_status().value("idle", 0) == 1);
  auto right = e.sql(kWho);
  CHECK(right.output == first.output);
}

TEST_CASE("pool: cancel after reuse reaches the reused backend", "[pool]") {
  pool_env e;
  // The same startup parameters as psycopg2's, so its connection may reuse psql's backend.
  const std::string same = "application_name=canceltest";
  auto first = e.sql("select pg_backend_pid()", kAlicePw, same);
  REQUIRE(first.exit_code == 0);
  const auto script = e.dir().write("cancel.py", R"PY(
import sys, threading, time, psycopg2
c = psycopg2.connect(sys.argv[1], password=sys.argv[2])
cur = c.cursor()
cur.execute("select pg_backend_pid()")
pid = cur.fetchone()[0]
threading.Timer(1.0, c.cancel).start()
t = time.time()
try:
    cur.execute("select pg_sleep(20)")
    print("not cancelled")
except psycopg2.errors.QueryCanceled:
    print("cancelled", pid, int(time.time() - t < 10))
)PY");
  auto r = run("/usr/bin/python3 " + shell_quote(script) + " " + shell_quote(e.conninfo(same)) +
                   " " + shell_quote(kAlicePw),
               std::chrono::seconds(40));
  INFO(r.output << e.gw().log());
  CHECK(r.output == "cancelled " + trim(first.output) + " 1\n");
  CHECK(has(e.gw().log(), "reason=cancel_forwarded"));
}

TEST_CASE("pool: a backend terminated while idle is not handed out", "[pool]") {
  pool_env e;
  auto first = e.sql("select pg_backend_pid()");
  REQUIRE(first.exit_code == 0);
  e.pg().sql("select pg_terminate_backend(" + trim(first.output) + ")");
  auto next = e.sql("select pg_backend_pid()");
  INFO(next.output << e.gw().log());
  CHECK(next.exit_code == 0);
  CHECK(next.output != first.output);
  CHECK(has(e.gw().log(),
            "pool_backend_closed route=app user=alice database=app reason=server_closed"));
}

TEST_CASE("pool: size is a hard limit and a client waits at most wait_timeout", "[pool]") {
  pool_options o;
  o.size = 1;
  o.wait_timeout = "700ms";
  pool_env e(o);
  auto holder = e.hold("select pg_sleep(3)", "holder");
  REQUIRE(eventually([&] { return e.backends() == 1; }, std::chrono::seconds(10)));
  auto refused = e.sql("select 1");
  INFO(refused.output << e.gw().log());
  CHECK(refused.exit_code != 0);
  CHECK(has(refused.output,
            "no server connection free for user \"alice\" and database \"app\" on route \"app\" "
            "within pool.wait_timeout 700ms (all 1 in use)"));
  CHECK(has(e.gw().log(), "reason=pool_wait_timeout"));
  CHECK(e.backends() == 1);
  CHECK(holder.wait(std::chrono::milliseconds(10000)) == 0);
  CHECK(e.sql("select 1").output == "1\n");
  CHECK(e.pool_status().value("wait_timeouts", 0) == 1);
}

TEST_CASE("pool: a waiting client gets the backend the moment it is given back", "[pool]") {
  pool_options o;
  o.size = 1;
  o.wait_timeout = "10s";
  pool_env e(o);
  auto holder = e.hold("select pg_sleep(1.5)", "holder");
  REQUIRE(eventually([&] { return e.backends() == 1; }, std::chrono::seconds(10)));
  auto waited = e.sql("select 'served'");
  INFO(waited.output << e.gw().log());
  CHECK(waited.output == "served\n");
  CHECK(holder.wait(std::chrono::milliseconds(10000)) == 0);
  CHECK(e.backends() == 1);
}

TEST_CASE("pool: reload resizes the pool without dropping sessions", "[pool]") {
  pool_options o;
  o.size = 1;
  o.wait_timeout = "500ms";
  pool_env e(o);
  auto holder = e.hold("select pg_sleep(3); select 'held through reload'", "holder");
  REQUIRE(eventually([&] { return e.backends() == 1; }, std::chrono::seconds(10)));
  CHECK(e.sql("select 1").exit_code != 0);  // full
  o.size = 2;
  e.gw().rewrite(e.yaml(o));
  e.gw().reload();
  auto second = e.sql("select 'second'");
  INFO(second.output << e.gw().log());
  CHECK(second.output == "second\n");
  CHECK(holder.wait(std::chrono::milliseconds(10000)) == 0);
  CHECK(has(holder.log(), "held through reload"));
  CHECK(e.pool_status().value("size", 0) == 2);
}

TEST_CASE("pool: drain closes idle backends", "[pool]") {
  pool_env e;
  REQUIRE(e.sql("select 1").exit_code == 0);
  REQUIRE(e.backends() == 1);
  e.gw().proc().signal(SIGTERM);
  CHECK(eventually([&] { return e.backends() == 0; }, std::chrono::seconds(5)));
  CHECK(e.gw().proc().wait(std::chrono::milliseconds(10000)) == 0);
  CHECK(has(e.gw().log(), "reason=shutdown"));
}

TEST_CASE("pool: pgbench -C through TLS, 8 and 64 clients, no failed transaction", "[pool]") {
  pool_options o;
  o.size = 20;
  pool_env e(o);
  const auto script = e.dir().write("select.sql", "select :client_id;\n");
  for (int clients : {8, 64}) {
    auto r = run("PGPASSWORD=" + shell_quote(kAlicePw) + " pgbench -n -C -c " +
                     std::to_string(clients) + " -j " + std::to_string(clients) + " -t 25 -f " +
                     shell_quote(script) + " " + shell_quote(e.conninfo()),
                 std::chrono::seconds(180));
    INFO(clients << " clients\n" << r.output);
    CHECK(r.exit_code == 0);
    CHECK(has(r.output, "number of failed transactions: 0"));
    CHECK(has(r.output, "number of transactions actually processed: " +
                            std::to_string(clients * 25) + "/" + std::to_string(clients * 25)));
  }
  auto p = e.pool_status();
  INFO(p.dump());
  CHECK(p.value("open", 99) <= 20);
  CHECK(p.value("reused", 0) > 1000);
  CHECK(e.backends() <= 20);
}

TEST_CASE("pool: a reload that changes the route's reset retires the idle backends", "[pool]") {
  pool_options o;
  pool_env e(o);
  auto first = e.sql(kWho);
  REQUIRE(first.exit_code == 0);
  o.extra = "reset: 'RESET ALL', ";
  e.gw().rewrite(e.yaml(o));
  e.gw().reload();
  CHECK(eventually([&] { return e.backends() == 0; }, std::chrono::seconds(5)));
  auto next = e.sql(kWho);
  INFO(next.output << e.gw().log());
  CHECK(next.exit_code == 0);
  CHECK(next.output != first.output);
  CHECK(has(e.gw().log(), "pool_backend_closed route=app user=alice database=app reason=reload"));
}

TEST_CASE("pool: pgbench -C through a tunnel route reuses backends behind the tunnel",
          "[pool][tunnel]") {
  pool_options o;
  o.size = 8;
  o.tunnel = true;
  pool_env e(o);
  auto first = e.sql(kWho);
  INFO(first.output << e.gw().log());
  REQUIRE(first.exit_code == 0);
  CHECK(e.sql(kWho).output == first.output);
  const auto script = e.dir().write("select.sql", "select :client_id;\n");
  for (int clients : {8, 64}) {
    auto r = run("PGPASSWORD=" + shell_quote(kAlicePw) + " pgbench -n -C -c " +
                     std::to_string(clients) + " -j " + std::to_string(clients) + " -t 10 -f " +
                     shell_quote(script) + " " + shell_quote(e.conninfo()),
                 std::chrono::seconds(180));
    INFO(clients << " clients\n" << r.output);
    CHECK(r.exit_code == 0);
    CHECK(has(r.output, "number of failed transactions: 0"));
  }
  auto p = e.pool_status();
  INFO(p.dump());
  CHECK(p.value("open", 99) <= 8);
  CHECK(p.value("reused", 0) > 500);
}

namespace {

// alice's backends' pids, as the database lists them.
std::string alice_pids(pool_env& e) {
  return trim(
      e.pg().sql("select string_agg(pid::text, ',' order by pid) from pg_stat_activity "
                 "where usename = 'alice' and datname = 'app'"));
}

}  // namespace

TEST_CASE("pool: min_idle opens backends in advance once a login worked and refills within size",
          "[pool][min_idle]") {
  pool_options o;
  o.size = 5;
  o.extra = "min_idle: 3, ";
  pool_env e(o);
  // No client yet: sluice has no credential to log in with, so nothing is opened.
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  CHECK(e.backends() == 0);

  // The first client's own backend logs in; the pool then opens 3 more in advance.
  auto first = e.sql(kWho);
  INFO(first.output << e.gw().log());
  REQUIRE(first.exit_code == 0);
  CHECK(
      eventually([&] { return e.pool_status().value("idle", 0) == 4; }, std::chrono::seconds(10)));
  CHECK(e.backends() == 4);
  auto p = e.pool_status();
  INFO(p.dump());
  CHECK(p.value("prefilled", 0) == 3);
  CHECK(p.value("opening", 9) == 0);
  const auto metrics = e.admin("/metrics");
  CHECK(
      has(metrics, "sluice_pool_prefilled_total{route=\"app\",user=\"alice\",database=\"app\"} 3"));
  CHECK(has(metrics, "sluice_pool_opening{route=\"app\",user=\"alice\",database=\"app\"} 0"));
  CHECK(count_of(e.gw().log(), "pool_backend_prefilled route=app user=alice database=app") == 3);
  CHECK(has(e.gw().log(), "pool_prefill_enabled route=app user=alice database=app min_idle=3"));

  // Idle backends killed by the database are noticed and replaced, back to min_idle.
  const auto before = alice_pids(e);
  e.pg().sql(
      "select pg_terminate_backend(pid) from pg_stat_activity where usename = 'alice' and "
      "datname = 'app'");
  CHECK(eventually(
      [&] {
        const auto pids = alice_pids(e);
        return e.backends() == 3 && e.pool_status().value("idle", 0) == 3 &&
               pids.find(before.substr(0, before.find(','))) == std::string::npos;
      },
      std::chrono::seconds(10)));
  CHECK(count_of(e.gw().log(), "reason=server_closed") >= 4);
  // A prefilled backend serves the next client like any warm one.
  auto next = e.sql("select current_user");
  INFO(next.output << e.gw().log());
  CHECK(next.output == "alice\n");

  // Five clients at once: idle ones are taken, the pool opens more, never above size.
  std::vector<background_process> holders;
  for (int i = 0; i < 5; ++i)
    holders.push_back(e.hold("select pg_sleep(2)", "holder" + std::to_string(i)));
  int most = 0;
  const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(2500);
  while (std::chrono::steady_clock::now() < until) {
    most = std::max(most, e.backends());
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  for (auto& h : holders)
    CHECK(h.wait(std::chrono::milliseconds(10000)) == 0);
  CHECK(most <= 5);
  CHECK(most >= 3);
  CHECK(
      eventually([&] { return e.pool_status().value("idle", 0) == 5; }, std::chrono::seconds(10)));
  CHECK(e.backends() == 5);
  CHECK(e.pool_status().value("open", 0) == 5);
}

TEST_CASE("pool: min_idle stops opening when the database refuses the stored credential",
          "[pool][min_idle]") {
  pool_options o;
  o.size = 4;
  o.extra = "min_idle: 2, ";
  pool_env e(o);
  REQUIRE(e.sql("select 1").exit_code == 0);
  REQUIRE(eventually([&] { return e.backends() == 3; }, std::chrono::seconds(10)));
  // A new password: the ClientKey sluice holds no longer logs in.
  e.pg().sql("alter role alice password 'a-new-password'");
  e.pg().sql(
      "select pg_terminate_backend(pid) from pg_stat_activity where usename = 'alice' and "
      "datname = 'app'");
  CHECK(eventually([&] { return has(e.gw().log(), "pool_prefill_disabled route=app user=alice"); },
                   std::chrono::seconds(10)));
  // sluice sees the new salt and refuses to try the old key (its own SQLSTATE class 28).
  CHECK(has(e.gw().log(),
            "pool_prefill_failed route=app user=alice database=app "
            "reason=auth_failed message=\"28"));
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));
  CHECK(e.backends() == 0);
  CHECK(count_of(e.gw().log(), "pool_prefill_failed") <= 2);
}
