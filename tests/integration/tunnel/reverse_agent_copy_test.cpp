// Bulk data through `sluice agent` under backpressure: large COPYs out of and into the
// database, a client that reads slowly (so the SSH channel windows run dry on every hop)
// and a database that consumes slowly. Every byte is checked against the database's own
// answer: an agent that loses, cuts or reorders data under a full window fails here.
#include <catch2/catch.hpp>
#include <string>

#include "tests/integration/tunnel/reverse_fixture.hpp"

using namespace sluice;
using namespace sluice::test;

namespace {

// 1 KiB rows, distinct per i, so a lost, repeated or reordered chunk changes the checksum.
std::string copy_rows(int rows) {
  return "copy (select i, repeat(md5(i::text), 32) from generate_series(1, " +
         std::to_string(rows) + ") i) to stdout";
}

// `cmd`'s exit code on a line, then the md5 of its stdout (md5sum prints only after the
// group, echo included, has closed the pipe).
std::string md5_of(const std::string& cmd, std::chrono::seconds timeout) {
  auto r = run("{ { " + cmd + "; echo $? >&3; } | md5sum | cut -d' ' -f1; } 3>&1", timeout);
  return r.output;
}

struct agent_route {
  reverse_gateway g;
  background_process agent{sluice_agent_argv(g, {&g}, g.fingerprint), g.dir.file("agent.log")};
  agent_route() { REQUIRE(g.log_has("reverse_forward_added", std::chrono::seconds(15))); }

  std::string through(const std::string& sql) const {
    return "PGPASSWORD=" + pg_cluster::password() + " psql -XAtq '" + g.conninfo() + "' -c \"" +
           sql + "\"";
  }
  std::string direct(const std::string& sql) const {
    return "psql -XAtq '" + g.pg.superuser_conninfo() + "' -c \"" + sql + "\"";
  }
};

}  // namespace

TEST_CASE("sluice agent: 64 MiB COPY out of the database arrives intact",
          "[reverse][agent][copy]") {
  agent_route a;
  const auto sql = copy_rows(65536);  // 65536 rows of 1030 bytes: 64.4 MiB
  const auto t0 = std::chrono::steady_clock::now();
  const auto through = md5_of(a.through(sql), std::chrono::seconds(300));
  const auto secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const auto direct = md5_of(a.direct(sql), std::chrono::seconds(300));
  INFO("through the agent: " << through << "directly: " << direct << a.g.gw->log()
                             << a.agent.log());
  WARN("64 MiB COPY out through sluice agent: " << secs << " s");
  CHECK(through.rfind("0\n", 0) == 0);  // psql's exit code, then the checksum
  CHECK(through == direct);
}

TEST_CASE("sluice agent: a slow reader fills the windows and still gets every byte",
          "[reverse][agent][copy]") {
  agent_route a;
  // Reads nothing for 2 s (every buffer on the way fills and each channel window reaches
  // zero), then reads in small bites with pauses, so the windows open and close many times.
  a.g.dir.write("slow_reader.py",
                "import hashlib, sys, time\n"
                "time.sleep(2)\n"
                "h = hashlib.md5()\n"
                "while True:\n"
                "    b = sys.stdin.buffer.read(128 * 1024)\n"
                "    if not b:\n"
                "        break\n"
                "    h.update(b)\n"
                "    time.sleep(0.02)\n"
                "print(h.hexdigest())\n");
  const auto sql = copy_rows(24576);  // 24 MiB
  // A fast COPY on a second channel of the same agent at the same time: one stalled
  // channel must not stall or corrupt another.
  background_process fast({"sh", "-c", a.through(copy_rows(16384)) + " | md5sum"},
                          a.g.dir.file("fast.log"), {});
  auto slow = run("PGPASSWORD=" + pg_cluster::password() + " psql -XAtq '" + a.g.conninfo() +
                      "' -c \"" + sql + "\" | /usr/bin/python3 " + a.g.dir.file("slow_reader.py"),
                  std::chrono::seconds(300));
  auto direct = run(a.direct(sql) + " | md5sum | cut -d' ' -f1", std::chrono::seconds(300));
  INFO(slow.output << a.g.gw->log() << a.agent.log());
  CHECK(slow.exit_code == 0);
  CHECK(slow.output == direct.output);
  REQUIRE(fast.wait(std::chrono::seconds(300)) == 0);
  auto fast_direct =
      run(a.direct(copy_rows(16384)) + " | md5sum", std::chrono::seconds(300)).output;
  CHECK(fast.log() == fast_direct);
}

TEST_CASE("sluice agent: 64 MiB COPY into a database that consumes slowly arrives intact",
          "[reverse][agent][copy]") {
  agent_route a;
  // The database pauses now and then, so the agent's socket to it fills and the channel
  // window towards the agent runs dry while the client keeps sending.
  a.g.pg.sql("create table blob(i int, t text)");
  a.g.pg.sql(
      "create function slow() returns trigger language plpgsql as $$ begin if "
      "new.i % 8192 = 0 then perform pg_sleep(0.3); end if; return new; end $$");
  a.g.pg.sql("create trigger slow before insert on blob for each row execute function slow()");
  const std::string data = a.g.dir.file("rows.tsv");
  REQUIRE(run(a.direct(copy_rows(65536)) + " > " + data, std::chrono::seconds(300)).exit_code == 0);
  auto in = run("PGPASSWORD=" + pg_cluster::password() + " psql -XAtq '" + a.g.conninfo() +
                    "' -c 'copy blob from stdin' < " + data + " 2>&1",
                std::chrono::seconds(300));
  INFO(in.output << a.g.gw->log() << a.agent.log());
  CHECK(in.exit_code == 0);
  const std::string sum = "select count(*), md5(string_agg(t, ',' order by i)) from ";
  auto stored = a.g.pg.sql(sum + "blob");
  auto expected =
      a.g.pg.sql(sum + "(select i, repeat(md5(i::text), 32) t from generate_series(1, 65536) i) s");
  CHECK(stored.rfind("65536|", 0) == 0);
  CHECK(stored == expected);
}

TEST_CASE("sluice agent: a client that quits in the middle of a COPY frees its channel",
          "[reverse][agent][copy]") {
  agent_route a;
  // head exits after 1 MiB; psql dies of SIGPIPE with the COPY still flowing, the
  // gateway closes the channel while the agent has data on the way to it.
  auto r =
      run(a.through(copy_rows(65536)) + " | head -c 1048576 | wc -c", std::chrono::seconds(120));
  CHECK(r.output.find("1048576") != std::string::npos);
  // The agent ends the relay: the backend goes away, and nothing is left open.
  CHECK(eventually(
      [&] {
        return a.g.pg.sql(
                   "select count(*) from pg_stat_activity where query like 'copy (select "
                   "i, repeat%'") == "0";
      },
      std::chrono::seconds(20)));
  CHECK(eventually([&] { return a.g.tunnel_status("acme").value("open_channels", -1) == 0; },
                   std::chrono::seconds(10)));
  INFO(a.g.gw->log() << a.agent.log());
  CHECK(a.agent.log().find("agent_channel_failed") == std::string::npos);
  // The session is unharmed: the next client is served.
  CHECK(a.g.query("select 'after'").output.find("after") != std::string::npos);
}
