// relay: kernel (gateway/relay/): the BPF sockmap forwards plaintext legs. The tests
// tagged [relay_modes] run with the default relay, and again with relay: kernel in the
// "gateway kernel:" pass (tests/CMakeLists.txt), as do the cancel, idle, drain, reload
// and lifecycle tests; the [kernel] ones set the mode themselves.
#include <catch2/catch.hpp>
#include <regex>

#include "tests/integration/gateway/fixture.hpp"

using namespace sluice::test;

namespace {

// bytes_out= of the last connection_closed line with relay=<mode>.
uint64_t last_bytes_out(const std::string& log, const std::string& mode) {
  static const std::regex line_re("event=connection_closed[^\\n]*");
  uint64_t out = 0;
  for (std::sregex_iterator it(log.begin(), log.end(), line_re), end; it != end; ++it) {
    std::string l = it->str();
    if (l.find("relay=" + mode) == std::string::npos)
      continue;
    std::smatch m;
    if (std::regex_search(l, m, std::regex("bytes_out=([0-9]+)")))
      out = std::stoull(m[1]);
  }
  return out;
}

std::string plain(int port) {
  return through(port, "sslmode=disable");
}

// A psql run through the gateway whose output is hashed, so megabytes compare cheaply.
std::string md5_of_psql(const std::string& conninfo, const std::string& args) {
  auto r = run("PGPASSWORD=" + pg_cluster::password() + " psql -X -At " + shell_quote(conninfo) +
                   " " + args + " | md5sum",
               std::chrono::seconds(60));
  return r.output;
}

}  // namespace

TEST_CASE("1 MiB messages both ways and a client that half-closes after Terminate",
          "[gateway][relay_modes]") {
  temp_dir dir;
  test_pki pki(dir.path());
  pg_cluster pg;
  int port = free_port();
  gateway_process gw(dir, gateway_yaml(pki, port, pg.port()));
  // Server -> client: one DataRow of 1 MiB, and many rows behind it.
  const std::string big = "-c " + shell_quote("select repeat('ab', 524288)") + " -c " +
                          shell_quote("select g, md5(g::text) from generate_series(1, 50000) g");
  auto direct = md5_of_psql(pg.superuser_conninfo(), big);
  CHECK(md5_of_psql(plain(port), big) == direct);
  // Client -> server: a 1 MiB Query message (psql -f: too long for an argument).
  std::string literal(1 << 20, 'q');
  auto file = dir.write("big.sql", "select length('" + literal + "'), md5('" + literal + "');\n");
  auto r = run("PGPASSWORD=" + pg_cluster::password() + " psql -X -At " + shell_quote(plain(port)) +
                   " -f " + file,
               std::chrono::seconds(60));
  auto expect = run("head -c 1048576 /dev/zero | tr '\\0' q | md5sum | cut -d' ' -f1");
  CHECK(r.output == "1048576|" + expect.output);
  // Half-close: Terminate, then shutdown(SHUT_WR); the gateway closes, as the client ended.
  auto script = dir.write("half.py", R"py(
import socket, sys, psycopg2
c = psycopg2.connect(host="127.0.0.1", port=int(sys.argv[1]), user="postgres",
                     password=sys.argv[2], dbname="postgres", sslmode="disable")
cur = c.cursor()
cur.execute("select length(repeat('z', 1048576))")
assert cur.fetchone() == (1048576,)
s = socket.fromfd(c.fileno(), socket.AF_INET, socket.SOCK_STREAM)
s.sendall(b"X\x00\x00\x00\x04")
s.shutdown(socket.SHUT_WR)
s.settimeout(5)
while s.recv(65536):
    pass
print("closed")
)py");
  auto half =
      run("/usr/bin/python3 " + script + " " + std::to_string(port) + " " + pg_cluster::password());
  INFO(half.output << gw.log());
  CHECK(half.output == "closed\n");
  CHECK(eventually([&] { return count_of(gw.log(), "event=connection_closed") >= 3; },
                   std::chrono::seconds(5)));
  CHECK(count_of(gw.log(), "reason=server_closed") == 0);
  if (relay_under_test() == "kernel") {
    CHECK(gw.log().find("event=kernel_relay_loaded") != std::string::npos);
    CHECK(count_of(gw.log(), "relay=kernel") >= 3);
  }
}

TEST_CASE(
    "relay: kernel forwards plaintext sessions, counts their bytes, and keeps TLS in "
    "user space",
    "[gateway][kernel]") {
  temp_dir dir;
  test_pki pki(dir.path());
  pg_cluster pg(ssl_on(pki));
  pg.sql("select 1");
  auto init = run("pgbench -i -s 1 -q " + shell_quote(pg.superuser_conninfo()));
  REQUIRE(init.exit_code == 0);
  int port = free_port();
  gateway_process gw(dir, "relay: kernel\n" + gateway_yaml(pki, port, pg.port()));
  CHECK(psql(plain(port), "select repeat('k', 1048576)", pg_cluster::password()).output.size() ==
        (1 << 20) + 1);
  CHECK(eventually([&] { return last_bytes_out(gw.log(), "kernel") > (1 << 20); },
                   std::chrono::seconds(5)));
  CHECK(gw.log().find("event=kernel_relay_loaded") != std::string::npos);
  // A TLS client leg stays in the copy relay.
  CHECK(psql(through(port, "sslmode=require"), "select 'tls'", pg_cluster::password()).output ==
        "tls\n");
  CHECK(log_has(gw, "relay=copy"));

  auto bench = run("PGPASSWORD=" + pg_cluster::password() + " pgbench -h 127.0.0.1 -p " +
                       std::to_string(port) + " -U postgres -S -c 8 -j 2 -T 3 postgres",
                   std::chrono::seconds(60));
  INFO(bench.output);
  REQUIRE(bench.exit_code == 0);
  CHECK(bench.output.find("number of failed transactions: 0 (0.000%)") != std::string::npos);

  // Backpressure: a client that stops reading a 24 MB result for a second gets it whole.
  const std::string sql =
      "copy (select repeat(md5(g::text), 30) from generate_series(1, 25000) "
      "g) to stdout";
  auto direct = run("psql -X " + shell_quote(pg.superuser_conninfo()) + " -c " + shell_quote(sql) +
                    " | md5sum");
  auto slow = run("PGPASSWORD=" + pg_cluster::password() + " psql -X " + shell_quote(plain(port)) +
                      " -c " + shell_quote(sql) + " | (sleep 1; md5sum)",
                  std::chrono::seconds(60));
  CHECK(slow.output == direct.output);
  CHECK(gw.log().find("event=kernel_relay_unavailable") == std::string::npos);
}

TEST_CASE("relay: kernel without CAP_BPF and CAP_NET_ADMIN says why once and uses the copy relay",
          "[gateway][kernel]") {
  temp_dir dir;
  test_pki pki(dir.path());
  pg_cluster pg;
  int port = free_port();
  // capsh drops the capabilities from the bounding set before exec'ing sluice.
  gateway_process gw(
      dir, "relay: kernel\n" + gateway_yaml(pki, port, pg.port()),
      {"capsh", "--drop=cap_bpf,cap_net_admin,cap_sys_admin", "--", "-c", "exec \"$@\"", "sluice"});
  for (int i = 0; i < 3; ++i)
    CHECK(psql(plain(port), "select 'fallback'", pg_cluster::password()).output == "fallback\n");
  CHECK(log_has(gw, "relay=copy"));
  auto log = gw.log();
  INFO(log);
  CHECK(count_of(log, "event=kernel_relay_unavailable") == 1);
  CHECK(log.find("Operation not permitted (needs CAP_BPF and CAP_NET_ADMIN") != std::string::npos);
  CHECK(log.find("relay=kernel") == std::string::npos);
}

TEST_CASE("relay: kernel: relayed messages wake no sluice thread", "[gateway][kernel]") {
  temp_dir dir;
  test_pki pki(dir.path());
  pg_cluster pg;
  int port = free_port();
  gateway_process gw(dir, "relay: kernel\n" + gateway_yaml(pki, port, pg.port()), {}, "info");
  // One session, 3,000 round trips once it is in the kernel relay. A socket left in the
  // workers' epoll would wake one for each message (leg_watch.hpp): 5,369
  // context switches measured on Linux 6.18. Parked, only the session's start and end wake anything.
  auto script = dir.write("loop.py", R"py(
import subprocess, sys, time, psycopg2
c = psycopg2.connect(host="127.0.0.1", port=int(sys.argv[1]), user="postgres",
                     password=sys.argv[2], dbname="postgres", sslmode="disable")
c.autocommit = True
cur = c.cursor()
cur.execute("select 1")
time.sleep(0.5)  # past the hand-over to the kernel
def switches():
    out = subprocess.run(["sh", "-c", "cat /proc/%s/task/*/status" % sys.argv[3]],
                         capture_output=True, text=True).stdout
    return sum(int(l.split()[1]) for l in out.splitlines() if "ctxt_switches" in l)
before = switches()
assert before > 0, "cannot read the gateway's context switches"
for i in range(3000):
    cur.execute("select %s", (i,))
    assert cur.fetchone() == (i,)
print(switches() - before)
c.close()
)py");
  auto r = run("/usr/bin/python3 " + script + " " + std::to_string(port) + " " +
                   pg_cluster::password() + " " + std::to_string(gw.proc().pid()),
               std::chrono::seconds(60));
  INFO(r.output << gw.log());
  REQUIRE(r.exit_code == 0);
  CHECK(std::stoull(r.output) < 600);
  CHECK(eventually([&] { return log_has(gw, "relay=kernel"); }, std::chrono::seconds(5)));
}
